"""The bridge from sync code to the async driver: ``for item in stream`` and the sync
terminals of a stream with async stages or an async source.

A ``BridgeRun`` is an ``ARun`` driven step by step on an event loop of its own, made at the
first ``next()`` and closed with the run (its async generators shut down, its default
executor's threads joined). Inside a running loop it refuses with a message that says what
to write instead.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from hosepipe._drive._async import ARun
from hosepipe._errors import HosepipeError
from hosepipe._typing import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncio
    from typing import Any

__all__ = ["BridgeRun"]


class BridgeRun(ARun):
    """An ``ARun`` driven from synchronous code, on an event loop of its own."""

    __slots__ = ()
    DUAL = False  # the private loop lives for this run only: fan-out/in uses its threads

    def iterator(self) -> Iterator[Any]:
        return _drive(self)

    def execute(
        self, terminal: str, fn: Any = None, init: Any = None, label: str | None = None
    ) -> Any:
        loop = _private_loop()
        try:
            return _step(loop, self.aexecute(terminal, fn, init, label))
        finally:
            _close_loop(loop)


def _private_loop() -> asyncio.AbstractEventLoop:
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.new_event_loop()
    raise HosepipeError(
        "this stream has async stages or an async source, and a synchronous `for` or "
        "terminal would need an event loop of its own, but one is already running in this "
        "thread: use `async for item in stream`, `async with stream.aiterate()` or the async "
        "terminals (`await stream.ato_list()`, `await stream.arun()`, ...)"
    )


def _close_loop(loop: asyncio.AbstractEventLoop) -> None:
    try:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())  # to_thread's threads
    finally:
        loop.close()


def _step(loop: asyncio.AbstractEventLoop, coro: Any) -> Any:
    """Run *coro* on *loop* as a task; if this thread is interrupted (Ctrl-C), cancel the
    task and let it finish its cleanup before the interruption goes on (as asyncio.run)."""

    task = loop.create_task(coro)
    try:
        return loop.run_until_complete(task)
    except BaseException:
        if not task.done():
            task.cancel()
            with contextlib.suppress(BaseException):
                loop.run_until_complete(task)
        raise


def _drive(run: ARun) -> Iterator[Any]:
    """A sync generator over the run's items, each step run on a private event loop that
    opens at the first ``next()``; closing the generator closes the run and the loop."""
    loop = _private_loop()
    agen = run.aiterator()
    try:
        while True:
            try:
                item = _step(loop, agen.__anext__())
            except StopAsyncIteration:
                return
            yield item
    finally:
        try:
            _step(loop, agen.aclose())  # type: ignore[attr-defined]
        finally:
            _close_loop(loop)
