"""An event loop in a thread of its own, for sinks whose client is async (NATS, AMQP).

A sink's ``write`` is a plain call, made by the sync driver or from inside the async
driver's loop; it runs the client's coroutines on this loop and waits for them. The thread
lives as long as the sink's writer: ``close()`` stops and joins it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine

from hosepipe._typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from typing import Any

__all__ = ["LoopThread"]

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


class LoopSinkWriter:
    """One run of a sink whose client is async: items are buffered, published *batch* at
    a time on a loop thread (``send``, awaiting the broker's acks or confirms), flushed
    before any broker source in the thread acks, and dropped on abort (their messages were
    not acked, so they come again). Subclasses implement ``connect``, ``send``,
    ``disconnect`` and ``encode``."""

    def __init__(self, label: str, batch: int) -> None:
        from contextlib import ExitStack

        from hosepipe.brokers._ack import before_ack

        self.label = label
        self.batch = batch
        self.buffer: list[Any] = []
        self.written = 0
        self.loop = LoopThread(f"hosepipe-{label.split('(')[0]}")
        try:
            self.loop.run(self.connect())
        except BaseException:
            self.loop.close()
            raise
        self._hook = ExitStack()
        self._hook.enter_context(before_ack(self.flush))

    async def connect(self) -> None:
        raise NotImplementedError

    async def send(self, batch: list[Any]) -> None:
        raise NotImplementedError

    async def disconnect(self) -> None:
        raise NotImplementedError

    def encode(self, item: Any) -> Any:
        raise NotImplementedError

    def write(self, item: Any) -> None:
        self.buffer.append(self.encode(item))
        if len(self.buffer) >= self.batch:
            self.flush()

    def flush(self) -> None:
        if self.buffer:
            batch, self.buffer = self.buffer, []
            self.loop.run(self.send(batch))
            self.written += len(batch)

    def commit(self) -> int:
        try:
            self.flush()
        finally:
            self._close()
        return self.written

    def abort(self) -> None:
        self.buffer = []
        self._close()

    def _close(self) -> None:
        self._hook.close()
        try:
            self.loop.run(self.disconnect())
        finally:
            self.loop.close()
