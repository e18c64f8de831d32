"""The async side of ``Stream``: ``async for``, ``aiterate()`` and the ``a*`` terminals.

``Stream``'s async methods call these functions. A stream with an async source or an ``async def``
stage runs on the async driver (``_drive/_async.py``); a plain stream read with
``async for`` or an async terminal runs its (sync, compiled) stages inline, in the event
loop's thread, as any sync code in a coroutine does: move a blocking source off the loop
with ``asyncio.to_thread`` or read it in a sync stream.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from types import TracebackType

from hosepipe._ends import check_stages
from hosepipe._typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from typing import Any

    from hosepipe._drive._async import ARun
    from hosepipe._drive._sync import Run
    from hosepipe._terminals import Terminals as Stream
    from hosepipe.metrics._stats import RunStats

__all__ = [
    "AIteration",
    "aexecute",
    "ainto",
    "aiter_of",
    "arun_of",
    "arun_stats",
    "is_async",
    "reads_async",
]

T = TypeVar("T")


def is_async(stream: Stream[Any]) -> bool:
    """Whether *stream* needs the async driver (an async source or ``async def`` stage)."""
    from hosepipe._drive._async import is_async_stream

    return is_async_stream(stream._source.obj, stream._stages)


def reads_async(stream: Stream[Any]) -> bool:
    """Whether *stream*, read from async code, runs on the async driver (``_drive._async``)."""
    from hosepipe._drive._async import reads_async as reads

    return reads(stream._source, stream._stages)


def arun_of(stream: Stream[Any]) -> ARun:
    from hosepipe._drive._async import ARun

    check_stages(stream._source.obj, stream._stages)  # a broker source's ack rule
    run = stream._last = ARun(stream._source, stream._stages)
    return run


def aiter_of(stream: Stream[T]) -> AsyncIterator[T]:
    """``async for item in stream``: closing the async iterator closes the run."""
    if reads_async(stream):
        return arun_of(stream).aiterator()
    return _inline(stream._run())


async def aexecute(
    stream: Stream[Any], terminal: str, fn: Any, init: Any, label: str | None = None
) -> Any:
    """Run *stream* into a terminal from async code (``Run.execute``'s terminal names;
    *label* names it in error notes)."""
    if reads_async(stream):
        return await arun_of(stream).aexecute(terminal, fn, init, label)
    from hosepipe._callables import is_async_fn

    if terminal == "call" and is_async_fn(fn):  # an async terminal function needs the loop
        return await arun_of(stream).aexecute(terminal, fn, init, label)
    return stream._run().execute(terminal, fn, init, label)  # sync stages run inline


async def ainto(stream: Stream[Any], sink: Any, label: str) -> Any:
    """Run *stream* (which reads async) into *sink*'s writer on this loop (``aopen``)."""
    return await arun_of(stream).ainto(sink, label)


async def arun_stats(stream: Stream[Any]) -> RunStats:
    """Drain *stream* from async code and return its ``RunStats``."""
    if reads_async(stream):
        run = arun_of(stream)
        await run.aexecute("drain")
        return run.stats()
    sync_run = stream._run()
    sync_run.execute("drain")
    return sync_run.stats()


async def _inline(run: Run) -> AsyncIterator[Any]:
    """A sync run read from async code, its stages run inline; closing it closes the run."""
    it: Iterator[Any] = run.iterator()
    try:
        for item in it:
            yield item
    finally:
        it.close()  # type: ignore[attr-defined]


class AIteration(Generic[T]):
    """An open async iteration of a stream: ``async for`` it, ``await aclose()`` it, or
    leave its ``async with`` block; ``stats()`` gives the counters so far."""

    __slots__ = ("_agen", "_run")

    def __init__(self, stream: Stream[T]) -> None:
        if reads_async(stream):
            self._run: Any = arun_of(stream)
            self._agen: AsyncIterator[T] = self._run.aiterator()
        else:
            self._run = stream._run()
            self._agen = _inline(self._run)

    def __aiter__(self) -> AsyncIterator[T]:
        return self._agen

    async def __anext__(self) -> T:
        return await self._agen.__anext__()

    async def aclose(self) -> None:
        """Close every stage and the source now, cancelling the stage's tasks."""
        await self._agen.aclose()  # type: ignore[attr-defined]

    def stats(self) -> RunStats:
        """The run's counters: complete after the iteration ended or was closed."""
        return self._run.stats()  # type: ignore[no-any-return]

    async def __aenter__(self) -> AIteration[T]:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
