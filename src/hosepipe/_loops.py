"""Private event loops for sync code that reads async code: each run of a stream with async
parts read with ``for`` (``_drive._bridge``), or an async iterable that a sync source's
factory returned (``_source``), steps its coroutines on a loop of its own, opened at the
first item and closed with the iteration. Inside a running loop that is refused, with a
message that says what to write instead.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterator

from hosepipe._errors import HosepipeError
from hosepipe._typing import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncio
    from typing import Any

__all__ = ["close_loop", "iterate_async", "private_loop", "step"]


def private_loop() -> asyncio.AbstractEventLoop:
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


def close_loop(loop: asyncio.AbstractEventLoop) -> None:
    try:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())  # to_thread's threads
    finally:
        loop.close()


def step(loop: asyncio.AbstractEventLoop, coro: Any) -> Any:
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


def iterate_async(make: Callable[[], AsyncIterator[Any]]) -> Iterator[Any]:
    """A sync generator over the async iterator that *make* returns, each step run on a
    private event loop; the loop opens, and *make* is called, at the first ``next()``, and
    closing the generator closes the async iterator and the loop."""
    loop = private_loop()
    agen = make()
    try:
        while True:
            try:
                item = step(loop, agen.__anext__())
            except StopAsyncIteration:
                return
            yield item
    finally:
        try:
            aclose = getattr(agen, "aclose", None)
            if aclose is not None:
                step(loop, aclose())
        finally:
            close_loop(loop)
