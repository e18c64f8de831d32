"""What the drivers need of a stream's two ends: the ``Reader`` base of hosepipe's sources
and the ``SinkBase``/``SinkWriter`` protocol of its sinks; and what the terminals need of
an engine (``engine=``), the ``Engine`` base.

Both are inert descriptions, like stage nodes: a reader is opened afresh for each run, a
sink opens a fresh writer. The sources and sinks themselves (files, SQL, HTTP) are
integrations above the public face; they derive from these classes, and the drivers,
which sit below, see only what is here.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

from hosepipe._typing import TYPE_CHECKING, Generic, Protocol, TypeVar

if TYPE_CHECKING:
    from typing import Any

    from hosepipe.metrics._latency import Latency
    from hosepipe.metrics._stats import RunStats

__all__ = [
    "BytesRead",
    "Engine",
    "Reader",
    "RunView",
    "SinkBase",
    "SinkWriter",
    "before_ack",
    "check_stages",
    "commit_all",
    "aflush_sinks",
    "flush_before_acks",
    "flush_sinks",
]

T = TypeVar("T", covariant=True)
In = TypeVar("In", contravariant=True)
R = TypeVar("R", covariant=True)

BytesRead = Callable[[], tuple[int, int]]
"""A function giving (bytes read so far, total bytes) of a source: for progress bars."""


def _ignore(_: BaseException) -> None:
    pass


class Reader(Generic[T]):
    """Base class of hosepipe's sources.

    A reader is re-iterable: each run calls ``open`` with a *report* callback, through which
    it counts the bad records it skipped on the source's row of ``RunStats``.

    >>> import hosepipe as hp
    >>> class Countdown(hp.Reader):
    ...     label = "countdown()"
    ...     def open(self, report):
    ...         return iter(range(3, 0, -1))
    >>> hp.Stream(Countdown()).to_list()
    [3, 2, 1]
    """

    label: str = "reader()"

    def open(self, report: Callable[[BaseException], None]) -> Iterator[T]:
        """An iterator over the records, for one run; *report* counts skipped bad records."""
        raise NotImplementedError

    def bytes_read(self) -> BytesRead | None:
        """For a source read from files, a function giving (bytes read, total bytes) for
        progress bars; None (the default) where bytes mean nothing."""
        return None

    def __iter__(self) -> Iterator[T]:
        return self.open(_ignore)

    def __repr__(self) -> str:
        return self.label


def check_stages(source: object, stages: tuple[Any, ...]) -> None:
    """Before a run: a source that must know what it feeds (a broker source, whose
    acknowledgement rule depends on the stages) may refuse the stages, by raising from its
    ``_check_stages(stages)``; other sources are not asked."""
    check = getattr(source, "_check_stages", None)
    if check is not None:
        check(stages)


class SinkWriter(Protocol[In, R]):
    """One run's open sink: ``write`` each item, then ``commit`` (or ``abort``).

    Any object with these three methods is one; ``Sink.open()`` returns a fresh one per run.
    A writer that holds what it took (a buffer, an open transaction) may also have a
    ``flush()``: make what was written so far durable for the run's source. While
    ``stream.to(sink)`` runs, a broker source calls it before it acks messages
    (``flush_before_acks``), so no message is acked while its output is only in a buffer.

    >>> import hosepipe as hp
    >>> class Joined:
    ...     def __init__(self): self.parts = []
    ...     def write(self, item): self.parts.append(str(item))
    ...     def commit(self): return ",".join(self.parts)
    ...     def abort(self): self.parts.clear()
    >>> class Join(hp.Sink):
    ...     label = "join()"
    ...     def open(self): return Joined()
    >>> hp.Stream(range(3)).to(Join())
    '0,1,2'
    """

    def write(self, item: In, /) -> None:
        """Take one item."""

    def commit(self) -> R:
        """The stream ended: make the output visible and return the sink's result."""

    def abort(self) -> None:
        """The stream failed or was stopped: discard the output, leave the target as it was."""


# -- sinks that must flush before a source acks (broker feeds) ------------------------------

_flushers = threading.local()


@contextmanager
def before_ack(flush: Callable[[], object]) -> Iterator[None]:
    """While open, *flush* runs before a broker source in this thread sends acks; a flush
    already registered is not added twice (and stays until its first registration ends).

    >>> done = []
    >>> with before_ack(lambda: done.append("flushed")):
    ...     flush_sinks()
    >>> flush_sinks(); done
    ['flushed']
    """
    hooks: list[Callable[[], object]] = _flushers.__dict__.setdefault("hooks", [])
    if flush in hooks:
        yield
        return
    hooks.append(flush)
    try:
        yield
    finally:
        hooks.remove(flush)


def flush_before_acks(writer: object) -> Any:
    """``before_ack(writer.flush)`` for a sink writer with a ``flush()``, else a context
    that does nothing: what ``to()`` wraps a run in, for every sink."""
    from contextlib import nullcontext

    flush = getattr(writer, "flush", None)
    return before_ack(flush) if callable(flush) else nullcontext()


def commit_all(writers: Iterable[Any]) -> BaseException | None:
    """Commit every writer (aborting one whose commit fails) and return the first failure,
    or None: how a run keeps its dead-letter sinks however it ended.

    >>> class W:
    ...     def commit(self): print("committed")
    >>> commit_all([W(), W()])
    committed
    committed
    """
    first: BaseException | None = None
    for writer in writers:
        try:
            writer.commit()
        except BaseException as e:
            with contextlib.suppress(Exception):
                writer.abort()
            first = first or e
    return first


def flush_sinks() -> None:
    """Flush every sink open in this thread (a broker source calls this before it acks)."""
    for flush in tuple(_flushers.__dict__.get("hooks", ())):
        got = flush()
        if hasattr(got, "__await__"):  # an async writer's flush, on a loop of this thread
            got.close()
            raise RuntimeError(
                "a sink writing on this thread's event loop can only be flushed by an "
                "async source (aflush_sinks)"
            )


async def aflush_sinks() -> None:
    """``flush_sinks`` for an async source: it awaits the flush of a sink that writes on
    the same event loop (``SinkBase.aopen``), and calls the others.

    >>> import asyncio
    >>> done = []
    >>> async def aflush(): done.append("async")
    >>> with before_ack(aflush), before_ack(lambda: done.append("sync")):
    ...     asyncio.run(aflush_sinks())
    >>> done
    ['async', 'sync']
    """
    for flush in tuple(_flushers.__dict__.get("hooks", ())):
        got = flush()
        if hasattr(got, "__await__"):
            await got


class SinkBase(Generic[In, R]):
    """What a driver runs a stream into: ``open()`` gives one run's ``SinkWriter``.

    The public base class is ``hosepipe.Sink``, which adds ``source | sink``.
    """

    label: str = "sink()"

    # A sink whose client is async may also have ``async def aopen()``: a writer made on
    # the running loop, with ``awrite``, ``aflush``, ``acommit`` and ``aabort``, which
    # ``to()`` of a stream that runs on the async driver (and ``ato``) use instead of
    # ``open()``: its writes are awaited on the loop that runs the source, with no hop to
    # a thread of its own, and its ``aflush`` is what an async source awaits before acks.

    def open(self) -> SinkWriter[In, R]:
        """A fresh writer for one run."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return self.label


class RunView(Protocol):
    """What ``Stream.stats()`` and the exporters read of a stream's latest run: a local
    ``Run`` or a run on an engine, which sets itself as the stream's ``_last``."""

    latency: Latency | None  # sampled latency histograms, when the stream is exported

    def stats(self) -> RunStats:
        """The run's counters: live while it runs, final after."""
        ...


class Engine:
    """Base of the engines a terminal can run a stream on (``engine=``), such as
    ``hp.engines.Dask()``: the terminal hands it the stream, its own name and arguments."""

    def execute(self, stream: Any, terminal: str, args: tuple[Any, ...]) -> Any:
        """``stream.<terminal>(*args)``, computed on this engine."""
        raise NotImplementedError
