"""The operator functions: ``hp.map(f)`` and friends, each a one-stage ``Pipeline``.

They are the ``|`` spelling of the ``Stream`` methods of the same names and build the same
nodes; ``tests/test_api.py`` keeps the two spellings in step. Their typed signatures repeat
``Pipeline``'s (typing cannot derive one from the other); each body is one node builder call.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Iterable

from hosepipe import _nodes
from hosepipe._stream import Pipeline, Stream, _as_stream
from hosepipe._typing import TYPE_CHECKING, TypeVar, overload

if TYPE_CHECKING:
    import logging
    from datetime import timedelta
    from typing import Any, TypeGuard

    from hosepipe._drive._procpool import ProcessPool
    from hosepipe._stream import DeadLetterTarget
    from hosepipe.backoff import Backoff

__all__ = [
    "batch",
    "buffer",
    "catch",
    "chain",
    "distinct",
    "drop_while",
    "enumerate",
    "filter",
    "flat_map",
    "flatten",
    "group_by",
    "map",
    "merge",
    "observe",
    "progress",
    "retry",
    "scan",
    "skip",
    "take",
    "take_while",
    "tap",
    "throttle",
    "window",
    "zip",
]

T = TypeVar("T")
U = TypeVar("U")
V = TypeVar("V")
K = TypeVar("K")
A = TypeVar("A")


@overload
def map(
    fn: Callable[[T], Awaitable[U]],
    *,
    concurrency: int = 1,
    ordered: bool = True,
    via: str | ProcessPool | None = None,
    initializer: Callable[[], object] | None = None,
) -> Pipeline[T, U]: ...
@overload
def map(
    fn: Callable[[T], U],
    *,
    concurrency: int = 1,
    ordered: bool = True,
    via: str | ProcessPool | None = None,
    initializer: Callable[[], object] | None = None,
) -> Pipeline[T, U]: ...
def map(
    fn: Callable[[T], Any],
    *,
    concurrency: int = 1,
    ordered: bool = True,
    via: str | ProcessPool | None = None,
    initializer: Callable[[], object] | None = None,
) -> Pipeline[T, Any]:
    """A stage applying *fn* to each item (see ``Stream.map`` for the concurrency options).

    >>> import hosepipe as hp
    >>> list([1, 2] | hp.map(str))
    ['1', '2']
    """
    return Pipeline._of(_nodes.map_node("map", fn, concurrency, ordered, via, initializer))


@overload
def filter(pred: Callable[[T], TypeGuard[U]]) -> Pipeline[T, U]: ...
@overload
def filter(pred: Callable[[T], object]) -> Pipeline[T, T]: ...
def filter(pred: Callable[[T], object]) -> Pipeline[T, Any]:
    """A stage keeping the items for which *pred* is true.

    >>> import hosepipe as hp
    >>> list(range(5) | hp.filter(lambda x: x % 2 == 0))
    [0, 2, 4]
    """
    return Pipeline._of(_nodes.Filter(pred))


@overload
def flat_map(
    fn: Callable[[T], Awaitable[Iterable[U]]],
    *,
    concurrency: int = 1,
    ordered: bool = True,
    via: str | ProcessPool | None = None,
    initializer: Callable[[], object] | None = None,
) -> Pipeline[T, U]: ...
@overload
def flat_map(
    fn: Callable[[T], Iterable[U]],
    *,
    concurrency: int = 1,
    ordered: bool = True,
    via: str | ProcessPool | None = None,
    initializer: Callable[[], object] | None = None,
) -> Pipeline[T, U]: ...
def flat_map(
    fn: Callable[[T], Any],
    *,
    concurrency: int = 1,
    ordered: bool = True,
    via: str | ProcessPool | None = None,
    initializer: Callable[[], object] | None = None,
) -> Pipeline[T, Any]:
    """A stage yielding every item of ``fn(item)`` (concurrency options as for ``map``).

    >>> import hosepipe as hp
    >>> list(["a b", "c"] | hp.flat_map(str.split))
    ['a', 'b', 'c']
    """
    return Pipeline._of(_nodes.map_node("flat_map", fn, concurrency, ordered, via, initializer))


def flatten() -> Pipeline[Iterable[T], T]:
    """A stage yielding the items of each item.

    >>> import hosepipe as hp
    >>> list([[1], [2, 3]] | hp.flatten())
    [1, 2, 3]
    """
    return Pipeline._of(_nodes.Flatten())


def tap(fn: Callable[[T], object]) -> Pipeline[T, T]:
    """A stage calling *fn* on each item and passing the item on.

    >>> import hosepipe as hp
    >>> seen = []
    >>> list([1, 2] | hp.tap(seen.append)), seen
    ([1, 2], [1, 2])
    """
    return Pipeline._of(_nodes.Tap(fn))


def observe(
    name: str,
    *,
    every: int | float | timedelta | None = None,
    log: logging.Logger | Callable[[str], object] | None = None,
) -> Pipeline[T, T]:
    """A named point whose count ``run()`` reports, logging throughput *every* items or
    seconds when asked (see ``Stream.observe``).

    >>> import hosepipe as hp
    >>> hp.Stream(range(3)).pipe(hp.observe("all")).run().stage("all").items_out
    3
    """
    return Pipeline._of(_nodes.observe_node(name, every, log))


def progress(
    *, total: int | None = None, desc: str | None = None, force: bool | None = None
) -> Pipeline[T, T]:
    """Progress bars on stderr while the stream runs (see ``Stream.progress``).

    >>> import hosepipe as hp
    >>> hp.Stream(range(3)).pipe(hp.progress(force=False)).count()
    3
    """
    return Pipeline._of(_nodes.Progress(total, desc, force))


def catch(
    *exc_types: type[Exception],
    handler: Callable[[Exception, Any], object] | None = None,
    dead_letter: DeadLetterTarget | None = None,
) -> Pipeline[T, T]:
    """A stage skipping items whose processing raised one of *exc_types* (see ``Stream.catch``).

    >>> import hosepipe as hp
    >>> list(["1", "x"] | hp.map(int) | hp.catch(ValueError))
    [1]
    """
    return Pipeline._of(_nodes.Catch(exc_types, handler, dead_letter))


def take(n: int) -> Pipeline[T, T]:
    """A stage passing the first *n* items.

    >>> import hosepipe as hp
    >>> list(range(10) | hp.take(2))
    [0, 1]
    """
    return Pipeline._of(_nodes.Take(n))


def skip(n: int) -> Pipeline[T, T]:
    """A stage dropping the first *n* items.

    >>> import hosepipe as hp
    >>> list(range(4) | hp.skip(2))
    [2, 3]
    """
    return Pipeline._of(_nodes.Skip(n))


def take_while(pred: Callable[[T], object]) -> Pipeline[T, T]:
    """A stage passing items while *pred* holds.

    >>> import hosepipe as hp
    >>> list([1, 2, 9, 1] | hp.take_while(lambda x: x < 5))
    [1, 2]
    """
    return Pipeline._of(_nodes.TakeWhile(pred))


def drop_while(pred: Callable[[T], object]) -> Pipeline[T, T]:
    """A stage dropping items while *pred* holds.

    >>> import hosepipe as hp
    >>> list([1, 2, 9, 1] | hp.drop_while(lambda x: x < 5))
    [9, 1]
    """
    return Pipeline._of(_nodes.DropWhile(pred))


def batch(size: int, *, timeout: float | None = None) -> Pipeline[T, list[T]]:
    """A stage grouping items into lists of *size* (see ``Stream.batch`` for *timeout*).

    >>> import hosepipe as hp
    >>> list(range(3) | hp.batch(2))
    [[0, 1], [2]]
    """
    return Pipeline._of(_nodes.batch_node(size, timeout))


def window(size: int, *, step: int = 1) -> Pipeline[T, tuple[T, ...]]:
    """A stage yielding full sliding windows of *size*.

    >>> import hosepipe as hp
    >>> list(range(4) | hp.window(2))
    [(0, 1), (1, 2), (2, 3)]
    """
    return Pipeline._of(_nodes.Window(size, step))


def group_by(key: Callable[[T], K]) -> Pipeline[T, tuple[K, list[T]]]:
    """A stage grouping runs of consecutive items with equal keys.

    >>> import hosepipe as hp
    >>> list([1, 3, 2, 4, 5] | hp.group_by(lambda x: x % 2))
    [(1, [1, 3]), (0, [2, 4]), (1, [5])]
    """
    return Pipeline._of(_nodes.GroupBy(key))


def distinct(*, key: Callable[[T], Hashable] | None = None) -> Pipeline[T, T]:
    """A stage passing items not seen before.

    >>> import hosepipe as hp
    >>> list(["a", "B", "b"] | hp.distinct(key=str.lower))
    ['a', 'B']
    """
    return Pipeline._of(_nodes.Distinct(key))


def enumerate(start: int = 0) -> Pipeline[T, tuple[int, T]]:
    """A stage pairing each item with its index.

    >>> import hosepipe as hp
    >>> list("ab" | hp.enumerate())
    [(0, 'a'), (1, 'b')]
    """
    return Pipeline._of(_nodes.Enumerate(start))


def scan(fn: Callable[[A, T], A], initial: A) -> Pipeline[T, A]:
    """A stage yielding running accumulations.

    >>> import hosepipe as hp
    >>> list([1, 2, 3] | hp.scan(lambda acc, x: acc + x, 10))
    [11, 13, 16]
    """
    return Pipeline._of(_nodes.Scan(fn, initial))


def buffer(size: int) -> Pipeline[T, T]:
    """A stage running everything before it in a background thread, *size* items ahead.

    >>> import hosepipe as hp
    >>> list(range(3) | hp.buffer(2))
    [0, 1, 2]
    """
    return Pipeline._of(_nodes.Buffer(size))


def throttle(rate: float, *, per: float = 1.0) -> Pipeline[T, T]:
    """A stage letting at most *rate* items through per *per* seconds (``Stream.throttle``).

    >>> import hosepipe as hp
    >>> list(range(3) | hp.throttle(100))
    [0, 1, 2]
    """
    return Pipeline._of(_nodes.Throttle(rate, per))


def retry(
    *exc_types: type[Exception], attempts: int = 3, backoff: Backoff | None = None
) -> Pipeline[T, T]:
    """Make the stage before it call its function again on failure (``Stream.retry``).

    >>> import hosepipe as hp
    >>> seen = []
    >>> def once_bad(x):
    ...     seen.append(x)
    ...     if len(seen) == 1:
    ...         raise TimeoutError
    ...     return x
    >>> list([7] | hp.map(once_bad) | hp.retry(TimeoutError, backoff=hp.backoff.none()))
    [7]
    """
    return Pipeline._of(_nodes.Retry(exc_types, attempts, backoff))


def chain(*others: Iterable[U]) -> Pipeline[T, T | U]:
    """A stage appending the items of *others*.

    >>> import hosepipe as hp
    >>> list([1] | hp.chain([2], [3]))
    [1, 2, 3]
    """
    return Pipeline._of(_nodes.Chain(tuple(_as_stream(o, "chain") for o in others)))


@overload
def zip(other: Iterable[U], /) -> Pipeline[T, tuple[T, U]]: ...
@overload
def zip(o1: Iterable[U], o2: Iterable[V], /) -> Pipeline[T, tuple[T, U, V]]: ...
@overload
def zip(*others: Iterable[Any]) -> Pipeline[T, tuple[Any, ...]]: ...
def zip(*others: Iterable[Any]) -> Pipeline[Any, Any]:
    """A stage pairing each item with the next item of each of *others*.

    >>> import hosepipe as hp
    >>> list("ab" | hp.zip([1, 2, 3]))
    [('a', 1), ('b', 2)]
    """
    return Pipeline._of(_nodes.Zip(tuple(_as_stream(o, "zip") for o in others)))


def merge(*streams: Iterable[T], buffer: int = 100) -> Stream[T]:
    """Interleave several streams, each run in a thread of its own, items as they arrive.

    The producers share one channel of *buffer* items (a producer waits while it is full);
    the merged stream ends when all of them have ended. An error in one is raised here
    (after the items that came before it) and stops the others; closing the merged stream
    stops and joins every producer. Order between streams is arrival order; within one
    stream it is kept. ``zip`` is the lock-step alternative.

    Read from async code, the merged stream awaits its channel instead of blocking the event
    loop, and each async stream (or async iterable) runs as a task on that loop; plain
    streams keep their threads.

    >>> import hosepipe as hp
    >>> sorted(hp.merge(range(3), hp.Stream(["a", "b"]).map(str.upper)).to_list(), key=str)
    [0, 1, 2, 'A', 'B']
    """
    from hosepipe._fanout import Merge

    merged: Stream[Any] = Stream(Merge(streams, buffer, Stream))
    return merged
