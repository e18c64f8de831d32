"""An event loop in a thread of its own, for sinks whose client is async (NATS, AMQP).

A sink's ``write`` is a plain call, made by the sync driver or from inside the async
driver's loop; it runs the client's coroutines on this loop and waits for them. The thread
lives as long as the sink's writer: ``close()`` stops and joins it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from concurrent.futures import wait

from hosepipe._typing import TYPE_CHECKING, TypeVar
from hosepipe.brokers._batch import BatchWriter

if TYPE_CHECKING:
    from typing import Any

__all__ = ["LoopSinkWriter", "LoopThread"]

T = TypeVar("T")


class LoopThread:
    """Run coroutines on a private event loop in a thread; ``close()`` joins the thread."""

    __slots__ = ("loop", "thread")

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run *coro* on the loop and wait for its result (or its exception)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()


class LoopSinkWriter(BatchWriter):
    """A broker sink's writer whose client is async: its coroutines (``connect``,
    ``asend``, ``disconnect``) run on a loop thread that lives as long as the writer.

    With *on_loop* it is made for the running loop instead (``SinkBase.aopen``, then
    ``await writer.aconnect()``): no thread, its batches awaited there (``awrite``), as the
    async source's are.
    """

    loop: LoopThread | None

    def __init__(self, label: str, batch: int, on_loop: bool = False) -> None:
        if on_loop:
            self.loop = None
        else:
            self.loop = LoopThread(f"hosepipe-{label.split('(')[0]}")
            try:
                self.loop.run(self.connect())
            except BaseException:
                self.loop.close()
                raise
        super().__init__(label, batch, on_loop)

    async def aconnect(self) -> None:
        """Connect a writer made with *on_loop* on the running loop."""
        try:
            await self.connect()
        except BaseException:
            self._hook.close()
            raise

    async def aclose_client(self) -> None:
        await self.disconnect()

    async def connect(self) -> None:
        raise NotImplementedError

    async def asend(self, batch: list[Any]) -> None:
        raise NotImplementedError

    async def disconnect(self) -> None:
        raise NotImplementedError

    def send(self, batch: list[Any]) -> None:
        assert self.loop is not None  # a writer on the running loop is written with awrite
        future = asyncio.run_coroutine_threadsafe(self.asend(batch), self.loop.loop)
        try:
            future.result()
        except Exception:
            raise
        except BaseException as e:  # Ctrl-C while the batch is on its way: let it arrive,
            wait([future])  # so that it is either sent (and written) or failed, not unknown
            if future.exception() is not None:
                raise future.exception() from e  # type: ignore[misc]
            self.interrupted = e

    def close_client(self) -> None:
        assert self.loop is not None
        try:
            self.loop.run(self.disconnect())
        finally:
            self.loop.close()
