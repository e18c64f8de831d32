"""``Stream`` and ``Pipeline``: fluent methods that validate and return new descriptions.

Both are immutable. A method builds a node (``_nodes``), checking its arguments there, and
returns a new object with the node appended; nothing runs until a stream is iterated or a
terminal is called, and then a driver (``_drive``) interprets the nodes. The running half
of ``Stream`` (iteration and terminals) is ``_terminals.Terminals``.

Why this module is longer than most: ``Stream`` and ``Pipeline`` are one description seen
with and without a source, and each refers to the other (``stream | pipeline``,
``pipeline(source)``), so they live together. Written twice on purpose: each operator's
typed signature, once returning ``Stream[U]`` and once ``Pipeline[In, U]``, because Python's
typing has no higher-kinded types to say "the same container with another item type"; both
bodies are one call to the same node builder in ``_nodes``, where the logic is.
"""

from __future__ import annotations

from collections.abc import (
    AsyncIterable,
    Awaitable,
    Callable,
    Hashable,
    Iterable,
)

from hosepipe import _nodes
from hosepipe._drive._sync import END
from hosepipe._ends import SinkBase
from hosepipe._source import Source
from hosepipe._steps._catch import DeadLetter
from hosepipe._terminals import Terminals
from hosepipe._typing import TYPE_CHECKING, Generic, TypeVar, overload

if TYPE_CHECKING:
    import logging
    from datetime import timedelta
    from typing import Any, TypeGuard

    from hosepipe._drive._procpool import ProcessPool
    from hosepipe._push import PushTarget, Target
    from hosepipe.backoff import Backoff

    DeadLetterTarget = Callable[[DeadLetter], object] | Any

__all__ = ["Pipeline", "Stream"]

T = TypeVar("T", covariant=True)
U = TypeVar("U")
V = TypeVar("V")
W = TypeVar("W")
K = TypeVar("K")
A = TypeVar("A")
D = TypeVar("D")
R = TypeVar("R")
In = TypeVar("In", contravariant=True)

_MISSING: Any = END


def _as_stream(obj: object, op: str) -> Stream[Any]:
    if isinstance(obj, Stream):
        return obj
    if isinstance(obj, Pipeline):
        raise TypeError(f"{op}(): got a Pipeline, which has no source; apply it to one first")
    if not hasattr(obj, "__iter__"):
        raise TypeError(f"{op}(): every argument must be iterable, got {obj!r}")
    return Stream(obj)


def _stream_stages(
    stages: tuple[_nodes.Node, ...], more: tuple[_nodes.Node, ...]
) -> tuple[_nodes.Node, ...]:
    out = _nodes.append(stages, more)
    if out and isinstance(out[0], _nodes.Retry):
        raise TypeError(
            "retry(): must follow map, flat_map, filter or tap (the stage whose function it "
            "calls again); here no stage comes before it"
        )
    return out


class Stream(Terminals[T]):
    """A lazy, re-runnable sequence of items: a source and a chain of stages.

    The *source* is an iterable (run again from the start on each iteration), a
    zero-argument callable returning one (called on each iteration), or a one-shot iterator
    (which can be run once). Stages are added with methods that return new streams; nothing
    runs until the stream is iterated or a terminal such as ``to_list()`` is called.

    >>> import hosepipe as hp
    >>> def double(x):
    ...     return x * 2
    >>> s = hp.Stream(range(10)).map(double).filter(lambda x: x > 10)
    >>> s
    Stream(range(0, 10)).map(double).filter(<lambda>)
    >>> s.to_list()
    [12, 14, 16, 18]
    >>> s.sum()  # a stream over a re-iterable source runs again
    60
    """

    __slots__ = ()

    def __init__(
        self,
        source: Iterable[T]
        | AsyncIterable[T]
        | Callable[[], Iterable[T]]
        | Callable[[], AsyncIterable[T]],
    ) -> None:
        if isinstance(source, Stream):
            self._source, self._stages = source._source, source._stages
        elif isinstance(source, Pipeline):
            raise TypeError(
                "Stream(): `source` is a Pipeline, which has no source of its own; "
                "apply it to one: `pipeline(source)` or `source | pipeline`"
            )
        else:
            self._source, self._stages = Source(source), ()

    @classmethod
    def _make(cls, source: Source, nodes: tuple[_nodes.Node, ...]) -> Stream[Any]:
        s: Stream[Any] = object.__new__(cls)
        s._source, s._stages = source, nodes
        return s

    def _then(self, node: _nodes.Node) -> Stream[Any]:
        return Stream._make(self._source, _stream_stages(self._stages, (node,)))

    def __repr__(self) -> str:
        return f"Stream({self._source.label})" + "".join(f".{n.label}" for n in self._stages)

    # -- element-wise stages ---------------------------------------------------------------

    @overload
    def map(
        self,
        fn: Callable[[T], Awaitable[U]],
        *,
        concurrency: int = 1,
        ordered: bool = True,
        via: str | ProcessPool | None = None,
        initializer: Callable[[], object] | None = None,
    ) -> Stream[U]: ...
    @overload
    def map(
        self,
        fn: Callable[[T], U],
        *,
        concurrency: int = 1,
        ordered: bool = True,
        via: str | ProcessPool | None = None,
        initializer: Callable[[], object] | None = None,
    ) -> Stream[U]: ...
    def map(
        self,
        fn: Callable[[T], Any],
        *,
        concurrency: int = 1,
        ordered: bool = True,
        via: str | ProcessPool | None = None,
        initializer: Callable[[], object] | None = None,
    ) -> Stream[Any]:
        """Apply *fn* (a plain or ``async def`` function) to each item.

        With ``concurrency=N`` (> 1) up to *N* calls run at once on a thread pool (``via``
        ``"thread"``, the default then) and *N* more wait for a free worker: the stage holds
        at most ``2 * N`` items, and the source is read no further ahead than that. With
        ``via="process"``, *N* worker processes (started at the first item, stopped when the
        run ends) take the items in chunks sized to about 0.1 s of work each, at most
        ``2 * N`` chunks in flight; *fn* must be picklable (lambdas and closures need the
        ``process`` extra). Results keep the input order unless ``ordered=False`` (then they
        come as calls finish). A failing call is raised at once with its note, or skipped by
        a ``catch`` after it. *initializer* runs once in each worker, before its first call
        (open a connection, load a model into a module global).

        >>> Stream([1, 2, 3]).map(str).to_list()
        ['1', '2', '3']
        >>> Stream(range(6)).map(lambda x: x * x, concurrency=3).to_list()
        [0, 1, 4, 9, 16, 25]
        >>> Stream(range(6)).map(abs, concurrency=2, via="process").to_list()
        [0, 1, 2, 3, 4, 5]
        """
        return self._then(_nodes.map_node("map", fn, concurrency, ordered, via, initializer))

    @overload
    def filter(self, pred: Callable[[T], TypeGuard[U]]) -> Stream[U]: ...
    @overload
    def filter(self, pred: Callable[[T], object]) -> Stream[T]: ...
    def filter(self, pred: Callable[[T], object]) -> Stream[Any]:
        """Keep the items for which *pred* is true (a ``TypeGuard`` narrows the item type).

        >>> Stream(range(6)).filter(lambda x: x % 2).to_list()
        [1, 3, 5]
        """
        return self._then(_nodes.Filter(pred))

    @overload
    def flat_map(
        self,
        fn: Callable[[T], Awaitable[Iterable[U]]],
        *,
        concurrency: int = 1,
        ordered: bool = True,
        via: str | ProcessPool | None = None,
        initializer: Callable[[], object] | None = None,
    ) -> Stream[U]: ...
    @overload
    def flat_map(
        self,
        fn: Callable[[T], Iterable[U]],
        *,
        concurrency: int = 1,
        ordered: bool = True,
        via: str | ProcessPool | None = None,
        initializer: Callable[[], object] | None = None,
    ) -> Stream[U]: ...
    def flat_map(
        self,
        fn: Callable[[T], Any],
        *,
        concurrency: int = 1,
        ordered: bool = True,
        via: str | ProcessPool | None = None,
        initializer: Callable[[], object] | None = None,
    ) -> Stream[Any]:
        """Apply *fn* to each item and yield every item of the iterable it returns.

        *concurrency*, *ordered*, *via* and *initializer* as for ``map``; concurrent calls
        build their iterable in the worker.

        >>> Stream(["a b", "c"]).flat_map(str.split).to_list()
        ['a', 'b', 'c']
        """
        return self._then(_nodes.map_node("flat_map", fn, concurrency, ordered, via, initializer))

    def flatten(self: Stream[Iterable[U]]) -> Stream[U]:
        """Yield the items of each item (one level).

        >>> Stream([[1, 2], [], [3]]).flatten().to_list()
        [1, 2, 3]
        """
        return self._then(_nodes.Flatten())

    def tap(self, fn: Callable[[T], object]) -> Stream[T]:
        """Call *fn* on each item for its side effect and pass the item on unchanged.

        >>> seen = []
        >>> Stream([1, 2]).tap(seen.append).map(lambda x: x * 10).to_list(), seen
        ([10, 20], [1, 2])
        """
        return self._then(_nodes.Tap(fn))

    def observe(
        self,
        name: str,
        *,
        every: int | float | timedelta | None = None,
        log: logging.Logger | Callable[[str], object] | None = None,
    ) -> Stream[T]:
        """Name this point of the chain; ``run()`` reports its count under *name*.

        With *every*, the point also logs its throughput: an ``int`` logs a line at every
        *every*-th item (counted in the loop, so exact), a ``float`` or ``timedelta`` every
        so many seconds (by the run's thread between blocks while items flow, and by a
        watch thread when the stream stalls, so a stalled stream still reports).
        The lines go to *log*: a ``logging.Logger`` (its ``info``), any callable taking
        a str (``print``), or by default the ``"hosepipe"`` logger. The run's end logs a
        last line with the total. Without *every* it costs nothing per item.

        >>> stats = Stream(range(5)).filter(lambda x: x > 1).observe("big").run()
        >>> stats.stage("big").items_out
        3
        >>> Stream(range(5)).observe("n", every=2, log=print).run().stage("n").items_out
        observe 'n': 2 items, ... (overall ...)
        observe 'n': 4 items, ... (overall ...)
        5
        """
        return self._then(_nodes.observe_node(name, every, log))

    def progress(
        self, *, total: int | None = None, desc: str | None = None, force: bool | None = None
    ) -> Stream[T]:
        """Show progress bars on stderr while the stream runs (tqdm: the ``progress`` extra).

        One bar counts the items passing this point, out of *total* when given; with no
        *total*, a stream read from files (``read_lines``, ``read_csv``, ``read_jsonl``,
        ``read_bytes``) shows the bytes read of the files' size instead. Every ``observe``
        point of the stream gets a bar of its own. Bars are drawn ten times a second from
        the live counters, between blocks of items (or by a watch thread when the stream
        stalls), so the items' own path pays nothing.
        *desc* labels the bar (default ``"progress"``). By default the bars show only when
        stderr is a terminal; ``force=True`` shows them anyway, ``force=False`` never.

        >>> Stream(range(3)).progress(force=False).to_list()
        [0, 1, 2]
        """
        return self._then(_nodes.Progress(total, desc, force))

    def catch(
        self,
        *exc_types: type[Exception],
        handler: Callable[[Exception, Any], object] | None = None,
        dead_letter: DeadLetterTarget | None = None,
    ) -> Stream[T]:
        """Skip items whose processing raised one of *exc_types* (default: ``Exception``).

        ``catch`` guards the stages since the previous ``catch`` (consecutive catches act
        together). For each skipped item it calls ``handler(exc, item)``, sends a
        ``DeadLetter(item, error, stage)`` to *dead_letter* (a callable, or a list or
        anything with ``append``) and counts the error against the failing stage. Errors of
        the source itself cannot be skipped: the source is finished once it raises.

        >>> bad = []
        >>> Stream(["1", "2", "x"]).map(int).catch(ValueError, dead_letter=bad).to_list()
        [1, 2]
        >>> bad  # doctest: +ELLIPSIS
        [DeadLetter(item='x', error=ValueError(...), stage='map(int)')]
        """
        return self._then(_nodes.Catch(exc_types, handler, dead_letter))

    # -- stateful stages -------------------------------------------------------------------

    def take(self, n: int) -> Stream[T]:
        """The first *n* items; reads no item past the *n*-th from upstream.

        >>> Stream(range(100)).take(3).to_list()
        [0, 1, 2]
        """
        return self._then(_nodes.Take(n))

    def skip(self, n: int) -> Stream[T]:
        """All items but the first *n*.

        >>> Stream(range(5)).skip(3).to_list()
        [3, 4]
        """
        return self._then(_nodes.Skip(n))

    def take_while(self, pred: Callable[[T], object]) -> Stream[T]:
        """Items while *pred* holds; stops at the first item for which it does not.

        >>> Stream([1, 2, 5, 1]).take_while(lambda x: x < 3).to_list()
        [1, 2]
        """
        return self._then(_nodes.TakeWhile(pred))

    def drop_while(self, pred: Callable[[T], object]) -> Stream[T]:
        """Drop items while *pred* holds, then pass every item.

        >>> Stream([1, 2, 5, 1]).drop_while(lambda x: x < 3).to_list()
        [5, 1]
        """
        return self._then(_nodes.DropWhile(pred))

    def batch(self, size: int, *, timeout: float | None = None) -> Stream[list[T]]:
        """Lists of *size* items; the last may be shorter.

        With *timeout*, a partial batch is also emitted when no new item came for *timeout*
        seconds (for sources that trickle); the upstream then runs in a background thread,
        at most *size* items ahead.

        >>> Stream(range(5)).batch(2).to_list()
        [[0, 1], [2, 3], [4]]
        >>> Stream(range(5)).batch(2, timeout=1.0).to_list()
        [[0, 1], [2, 3], [4]]
        """
        return self._then(_nodes.batch_node(size, timeout))

    def window(self, size: int, *, step: int = 1) -> Stream[tuple[T, ...]]:
        """Full sliding windows of *size* items as tuples, one every *step* items.

        >>> Stream(range(5)).window(3).to_list()
        [(0, 1, 2), (1, 2, 3), (2, 3, 4)]
        >>> Stream(range(6)).window(2, step=2).to_list()
        [(0, 1), (2, 3), (4, 5)]
        """
        return self._then(_nodes.Window(size, step))

    def group_by(self, key: Callable[[T], K]) -> Stream[tuple[K, list[T]]]:
        """Runs of consecutive items with equal ``key(item)``, as ``(key, [items])``.

        Like ``itertools.groupby``: only *consecutive* items are grouped; each group is
        held in memory until it ends.

        >>> Stream("aabca").group_by(str.upper).to_list()
        [('A', ['a', 'a']), ('B', ['b']), ('C', ['c']), ('A', ['a'])]
        """
        return self._then(_nodes.GroupBy(key))

    def distinct(self, *, key: Callable[[T], Hashable] | None = None) -> Stream[T]:
        """Items whose ``key(item)`` (or the item) was not seen before; memory grows with them.

        >>> Stream([3, 1, 3, 2, 1]).distinct().to_list()
        [3, 1, 2]
        """
        return self._then(_nodes.Distinct(key))

    def enumerate(self, start: int = 0) -> Stream[tuple[int, T]]:
        """Pairs ``(index, item)``, counting from *start*.

        >>> Stream("ab").enumerate(1).to_list()
        [(1, 'a'), (2, 'b')]
        """
        return self._then(_nodes.Enumerate(start))

    def scan(self, fn: Callable[[A, T], A], initial: A) -> Stream[A]:
        """Running accumulations: ``acc = fn(acc, item)`` from *initial*, each one yielded.

        >>> import operator
        >>> Stream([1, 2, 3]).scan(operator.add, 0).to_list()
        [1, 3, 6]
        """
        return self._then(_nodes.Scan(fn, initial))

    def buffer(self, size: int) -> Stream[T]:
        """Run everything before this point in a background thread, up to *size* items ahead.

        A slow source and a slow stage then work at the same time. The upstream reads at
        most *size* + 1 items ahead of what was taken; closing the stream stops and joins
        the thread, and an upstream error is raised here with its type and note.

        >>> Stream(range(5)).map(lambda x: x * 10).buffer(2).to_list()
        [0, 10, 20, 30, 40]
        """
        return self._then(_nodes.Buffer(size))

    def throttle(self, rate: float, *, per: float = 1.0) -> Stream[T]:
        """Let at most *rate* items through per *per* seconds.

        Items leave evenly spaced, at least ``per / rate`` seconds apart (a token bucket of
        one token), so no window of *per* seconds holds more than *rate*; the stage waits
        in the consumer's thread, before passing the item on.

        >>> import time
        >>> start = time.monotonic()
        >>> Stream(range(3)).throttle(20).to_list()
        [0, 1, 2]
        >>> time.monotonic() - start >= 0.1   # two waits of 1/20 s
        True
        """
        return self._then(_nodes.Throttle(rate, per))

    def retry(
        self,
        *exc_types: type[Exception],
        attempts: int = 3,
        backoff: Backoff | None = None,
    ) -> Stream[T]:
        """Call the previous stage's function again when it raises one of *exc_types*.

        ``retry`` adds no stage: it changes the one before it (``map``, ``flat_map``,
        ``filter`` or ``tap``, sequential or concurrent), whose function is called up to
        *attempts* times on the same item, in the same worker, waiting
        ``backoff.delay(k)`` before retry *k* (default ``hp.backoff.exponential()``). The
        last failure propagates as usual (or goes to a ``catch``); retries are counted in
        that stage's ``RunStats`` row. With no *exc_types*, any ``Exception`` is retried.

        >>> import hosepipe as hp
        >>> tries = []
        >>> def fetch(x):
        ...     tries.append(x)
        ...     if tries.count(x) < 2:
        ...         raise ConnectionError(x)
        ...     return x * 10
        >>> s = Stream([1, 2]).map(fetch).retry(ConnectionError, backoff=hp.backoff.none())
        >>> s.to_list(), tries
        ([10, 20], [1, 1, 2, 2])
        >>> s
        Stream([1, 2]).map(fetch).retry(ConnectionError, attempts=3)
        """
        return self._then(_nodes.Retry(exc_types, attempts, backoff))

    def broadcast(self, n: int, *, buffer: int = 100) -> tuple[Stream[T], ...]:
        """*n* streams that each get every item of one run of this stream.

        The run happens once, in a thread of its own, when the first consumer asks for an
        item; each consumer has a channel of *buffer* items, so the fastest is at most
        ``buffer + 1`` items ahead of the slowest (then it waits for it) and memory holds
        at most ``n * buffer + 1`` items. Read the consumers at the same time, each in its own
        thread or interleaved (``zip``): reading one to its end before starting another
        waits for ever once it is *buffer* items ahead (when both are read by one thread
        this is detected and raised as a ``HosepipeError``). Closing a consumer detaches it;
        the others go on. A consumer that is never read holds the others back once they are
        *buffer* items ahead, so start every one (it may then be closed at once). An error
        in the run reaches every consumer still reading.

        Read from async code (``async for``, ``await c.ato_list()``, consumers gathered
        with ``asyncio.gather``), a consumer awaits its channel instead of blocking the event
        loop, and the run is a task on that loop when this stream is async (else a thread):
        same bounds, same rules.

        >>> import threading
        >>> evens, squares = Stream(range(6)).broadcast(2, buffer=2)
        >>> out = {}
        >>> def read_squares():
        ...     out["sq"] = squares.map(lambda x: x * x).to_list()
        >>> t = threading.Thread(target=read_squares)
        >>> t.start()
        >>> evens.filter(lambda x: x % 2 == 0).to_list()
        [0, 2, 4]
        >>> t.join(); out["sq"]
        [0, 1, 4, 9, 16, 25]
        """
        from hosepipe._fanout import Hub

        hub = Hub(self, n, buffer)
        return tuple(Stream(hub.consumer(k)) for k in range(n))

    def chain(self, *others: Iterable[U]) -> Stream[T | U]:
        """This stream's items, then each of *others*' in turn.

        >>> Stream([1, 2]).chain([3], range(4, 6)).to_list()
        [1, 2, 3, 4, 5]
        """
        return self._then(_nodes.Chain(tuple(_as_stream(o, "chain") for o in others)))

    @overload
    def zip(self, other: Iterable[U], /) -> Stream[tuple[T, U]]: ...
    @overload
    def zip(self, o1: Iterable[U], o2: Iterable[V], /) -> Stream[tuple[T, U, V]]: ...
    @overload
    def zip(
        self, o1: Iterable[U], o2: Iterable[V], o3: Iterable[W], /
    ) -> Stream[tuple[T, U, V, W]]: ...
    @overload
    def zip(self, *others: Iterable[Any]) -> Stream[tuple[Any, ...]]: ...
    def zip(self, *others: Iterable[Any]) -> Stream[Any]:
        """Tuples of this stream's item and the next item of each of *others*, in lock-step.

        Ends with the shortest, like the builtin ``zip``.

        >>> Stream("abc").zip(range(10)).to_list()
        [('a', 0), ('b', 1), ('c', 2)]
        """
        return self._then(_nodes.Zip(tuple(_as_stream(o, "zip") for o in others)))

    # -- composition -----------------------------------------------------------------------

    def pipe(self, pipeline: Pipeline[T, U]) -> Stream[U]:
        """Apply a ``Pipeline``'s stages to this stream (the same as ``stream | pipeline``).

        >>> import hosepipe as hp
        >>> hp.Stream(range(4)).pipe(hp.map(lambda x: x + 1)).to_list()
        [1, 2, 3, 4]
        """
        if not isinstance(pipeline, Pipeline):
            raise TypeError(
                f"pipe(): `pipeline` must be a hosepipe Pipeline, got {pipeline!r}; "
                "build one with operators such as hp.map(f) | hp.filter(p)"
            )
        return Stream._make(self._source, _stream_stages(self._stages, pipeline._stages))

    @overload
    def __or__(self, other: Pipeline[T, U]) -> Stream[U]: ...
    @overload
    def __or__(self, other: SinkBase[T, R]) -> R: ...
    def __or__(self, other: Any) -> Any:
        if isinstance(other, Pipeline):
            return self.pipe(other)
        if isinstance(other, SinkBase):
            return self.to(other)
        return NotImplemented


class Pipeline(Generic[In, T]):
    """A chain of stages without a source: ``Pipeline[In, Out]`` turns ``In`` items into ``Out``.

    Build one from the operator functions and ``|``; apply it with ``pipeline(source)``,
    ``source | pipeline`` or ``stream.pipe(pipeline)``. Pipelines are immutable, compare by
    value and pickle when their functions do.

    >>> import hosepipe as hp
    >>> p = hp.map(lambda x: x * 2) | hp.filter(lambda x: x > 4)
    >>> p
    map(<lambda>) | filter(<lambda>)
    >>> list(range(5) | p), p(range(5)).to_list()
    ([6, 8], [6, 8])
    """

    __slots__ = ("_stages",)

    _stages: tuple[_nodes.Node, ...]

    def __init__(self) -> None:
        self._stages = ()

    @classmethod
    def _of(cls, node: _nodes.Node) -> Pipeline[Any, Any]:
        p: Pipeline[Any, Any] = object.__new__(cls)
        p._stages = (node,)
        return p

    def _then(self, node: _nodes.Node) -> Pipeline[In, Any]:
        p: Pipeline[In, Any] = object.__new__(Pipeline)
        p._stages = _nodes.append(self._stages, (node,))
        return p

    def __repr__(self) -> str:
        return " | ".join(n.label for n in self._stages) or "Pipeline()"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Pipeline) and other._stages == self._stages

    def __hash__(self) -> int:
        return hash(self._stages)

    def __getstate__(self) -> tuple[_nodes.Node, ...]:
        return self._stages

    def __setstate__(self, state: tuple[_nodes.Node, ...]) -> None:
        self._stages = state

    def __or__(self, other: Pipeline[T, U]) -> Pipeline[In, U]:
        if isinstance(other, Pipeline):
            p: Pipeline[In, U] = object.__new__(Pipeline)
            p._stages = _nodes.append(self._stages, other._stages)
            return p
        return NotImplemented

    def __ror__(self, source: Iterable[In]) -> Stream[T]:
        if isinstance(source, Pipeline):  # pragma: no cover - __or__ handles it
            return NotImplemented
        return self(source)

    def __call__(self, source: Iterable[In] | Callable[[], Iterable[In]]) -> Stream[T]:
        """Apply the pipeline to *source*, giving a ``Stream``."""
        return Stream(source).pipe(self)

    def as_target(self, sink: Target[T]) -> PushTarget[In]:
        """A target that runs the stages on each item sent and sends what comes out to *sink*.

        The same description serves pull and push: ``list(pipeline(items))`` gives what
        *sink* receives when each item is sent. The target is ready for ``send()``;
        ``close()`` flushes what stateful stages hold back (a short last ``batch``) into
        *sink* and closes it. When a stage is done (``take``), the target closes *sink* and
        its ``send()`` raises ``StopIteration``, as a generator that returned. Stages that
        need a thread, a clock or other iterables (``map(concurrency=)``, ``buffer``,
        ``batch(timeout=)``, ``throttle``, ``chain``, ``zip``) raise ``TypeError`` here.

        >>> import hosepipe as hp
        >>> @hp.coroutine
        ... def printer():
        ...     while True:
        ...         print((yield))
        >>> t = (hp.map(lambda x: x * 10) | hp.batch(2)).as_target(printer())
        >>> for x in range(3):
        ...     t.send(x)
        [0, 10]
        >>> t.close()
        [20]
        """
        from hosepipe._push import as_target  # push mode: imported on first use

        return as_target(self, sink)

    # The same operators as Stream's, returning pipelines (see the Stream methods' docs).

    @overload
    def map(
        self,
        fn: Callable[[T], Awaitable[U]],
        *,
        concurrency: int = 1,
        ordered: bool = True,
        via: str | ProcessPool | None = None,
        initializer: Callable[[], object] | None = None,
    ) -> Pipeline[In, U]: ...
    @overload
    def map(
        self,
        fn: Callable[[T], U],
        *,
        concurrency: int = 1,
        ordered: bool = True,
        via: str | ProcessPool | None = None,
        initializer: Callable[[], object] | None = None,
    ) -> Pipeline[In, U]: ...
    def map(
        self,
        fn: Callable[[T], Any],
        *,
        concurrency: int = 1,
        ordered: bool = True,
        via: str | ProcessPool | None = None,
        initializer: Callable[[], object] | None = None,
    ) -> Pipeline[In, Any]:
        """Pipeline form of ``Stream.map``."""
        return self._then(_nodes.map_node("map", fn, concurrency, ordered, via, initializer))

    @overload
    def filter(self, pred: Callable[[T], TypeGuard[U]]) -> Pipeline[In, U]: ...
    @overload
    def filter(self, pred: Callable[[T], object]) -> Pipeline[In, T]: ...
    def filter(self, pred: Callable[[T], object]) -> Pipeline[In, Any]:
        """Pipeline form of ``Stream.filter``."""
        return self._then(_nodes.Filter(pred))

    @overload
    def flat_map(
        self,
        fn: Callable[[T], Awaitable[Iterable[U]]],
        *,
        concurrency: int = 1,
        ordered: bool = True,
        via: str | ProcessPool | None = None,
        initializer: Callable[[], object] | None = None,
    ) -> Pipeline[In, U]: ...
    @overload
    def flat_map(
        self,
        fn: Callable[[T], Iterable[U]],
        *,
        concurrency: int = 1,
        ordered: bool = True,
        via: str | ProcessPool | None = None,
        initializer: Callable[[], object] | None = None,
    ) -> Pipeline[In, U]: ...
    def flat_map(
        self,
        fn: Callable[[T], Any],
        *,
        concurrency: int = 1,
        ordered: bool = True,
        via: str | ProcessPool | None = None,
        initializer: Callable[[], object] | None = None,
    ) -> Pipeline[In, Any]:
        """Pipeline form of ``Stream.flat_map``."""
        return self._then(_nodes.map_node("flat_map", fn, concurrency, ordered, via, initializer))

    def flatten(self: Pipeline[In, Iterable[U]]) -> Pipeline[In, U]:
        """Pipeline form of ``Stream.flatten``."""
        return self._then(_nodes.Flatten())

    def tap(self, fn: Callable[[T], object]) -> Pipeline[In, T]:
        """Pipeline form of ``Stream.tap``."""
        return self._then(_nodes.Tap(fn))

    def observe(
        self,
        name: str,
        *,
        every: int | float | timedelta | None = None,
        log: logging.Logger | Callable[[str], object] | None = None,
    ) -> Pipeline[In, T]:
        """Pipeline form of ``Stream.observe``."""
        return self._then(_nodes.observe_node(name, every, log))

    def progress(
        self, *, total: int | None = None, desc: str | None = None, force: bool | None = None
    ) -> Pipeline[In, T]:
        """Pipeline form of ``Stream.progress``."""
        return self._then(_nodes.Progress(total, desc, force))

    def catch(
        self,
        *exc_types: type[Exception],
        handler: Callable[[Exception, Any], object] | None = None,
        dead_letter: DeadLetterTarget | None = None,
    ) -> Pipeline[In, T]:
        """Pipeline form of ``Stream.catch``."""
        return self._then(_nodes.Catch(exc_types, handler, dead_letter))

    def take(self, n: int) -> Pipeline[In, T]:
        """Pipeline form of ``Stream.take``."""
        return self._then(_nodes.Take(n))

    def skip(self, n: int) -> Pipeline[In, T]:
        """Pipeline form of ``Stream.skip``."""
        return self._then(_nodes.Skip(n))

    def take_while(self, pred: Callable[[T], object]) -> Pipeline[In, T]:
        """Pipeline form of ``Stream.take_while``."""
        return self._then(_nodes.TakeWhile(pred))

    def drop_while(self, pred: Callable[[T], object]) -> Pipeline[In, T]:
        """Pipeline form of ``Stream.drop_while``."""
        return self._then(_nodes.DropWhile(pred))

    def batch(self, size: int, *, timeout: float | None = None) -> Pipeline[In, list[T]]:
        """Pipeline form of ``Stream.batch``."""
        return self._then(_nodes.batch_node(size, timeout))

    def window(self, size: int, *, step: int = 1) -> Pipeline[In, tuple[T, ...]]:
        """Pipeline form of ``Stream.window``."""
        return self._then(_nodes.Window(size, step))

    def group_by(self, key: Callable[[T], K]) -> Pipeline[In, tuple[K, list[T]]]:
        """Pipeline form of ``Stream.group_by``."""
        return self._then(_nodes.GroupBy(key))

    def distinct(self, *, key: Callable[[T], Hashable] | None = None) -> Pipeline[In, T]:
        """Pipeline form of ``Stream.distinct``."""
        return self._then(_nodes.Distinct(key))

    def enumerate(self, start: int = 0) -> Pipeline[In, tuple[int, T]]:
        """Pipeline form of ``Stream.enumerate``."""
        return self._then(_nodes.Enumerate(start))

    def scan(self, fn: Callable[[A, T], A], initial: A) -> Pipeline[In, A]:
        """Pipeline form of ``Stream.scan``."""
        return self._then(_nodes.Scan(fn, initial))

    def buffer(self, size: int) -> Pipeline[In, T]:
        """Pipeline form of ``Stream.buffer``."""
        return self._then(_nodes.Buffer(size))

    def throttle(self, rate: float, *, per: float = 1.0) -> Pipeline[In, T]:
        """Pipeline form of ``Stream.throttle``."""
        return self._then(_nodes.Throttle(rate, per))

    def retry(
        self,
        *exc_types: type[Exception],
        attempts: int = 3,
        backoff: Backoff | None = None,
    ) -> Pipeline[In, T]:
        """Pipeline form of ``Stream.retry``."""
        return self._then(_nodes.Retry(exc_types, attempts, backoff))

    def chain(self, *others: Iterable[U]) -> Pipeline[In, T | U]:
        """Pipeline form of ``Stream.chain``."""
        return self._then(_nodes.Chain(tuple(_as_stream(o, "chain") for o in others)))

    @overload
    def zip(self, other: Iterable[U], /) -> Pipeline[In, tuple[T, U]]: ...
    @overload
    def zip(self, o1: Iterable[U], o2: Iterable[V], /) -> Pipeline[In, tuple[T, U, V]]: ...
    @overload
    def zip(self, *others: Iterable[Any]) -> Pipeline[In, tuple[Any, ...]]: ...
    def zip(self, *others: Iterable[Any]) -> Pipeline[In, Any]:
        """Pipeline form of ``Stream.zip``."""
        return self._then(_nodes.Zip(tuple(_as_stream(o, "zip") for o in others)))
