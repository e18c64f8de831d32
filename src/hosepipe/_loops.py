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


def step(loop: asyncio.AbstractEventLoop, coro: Any, *, whole_run: bool = False) -> Any:
    """Run *coro* on *loop* as a task; if this thread is interrupted (Ctrl-C), cancel the
    task and let it finish its cleanup before the interruption goes on (as asyncio.run).

    With *whole_run* (a terminal's run, not one item of an iteration), a Ctrl-C in the main
    thread does not raise ``KeyboardInterrupt`` wherever the loop happens to be, which may
    be inside a client's own task (aiormq's reader, say: the client then breaks, and its
    error replaces the interrupt): it cancels the run's task, as ``asyncio.run`` does, and
    ``KeyboardInterrupt`` is raised once the task has cleaned up. A second Ctrl-C raises at
    once. Only Python's default handler is replaced, for the run's duration.
    """
    import signal
    import threading

    task = loop.create_task(coro)
    interrupted = False

    def on_sigint(signum: int, frame: Any) -> None:
        nonlocal interrupted
        if interrupted or task.done():
            raise KeyboardInterrupt
        interrupted = True
        task.cancel()
        loop.call_soon_threadsafe(lambda: None)  # wake the loop if it waits

    replaced = (
        whole_run
        and threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGINT) is signal.default_int_handler
    )
    if replaced:
        signal.signal(signal.SIGINT, on_sigint)
    try:
        try:
            result = loop.run_until_complete(task)
        except BaseException:
            if not task.done():
                task.cancel()
                with contextlib.suppress(BaseException):
                    loop.run_until_complete(task)
            if interrupted:
                raise KeyboardInterrupt from None
            raise
    finally:
        if replaced:
            signal.signal(signal.SIGINT, signal.default_int_handler)
    if interrupted:  # the task caught the cancellation and ended anyway
        raise KeyboardInterrupt
    return result


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
