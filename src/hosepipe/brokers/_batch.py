"""What every broker sink's writer does: buffer items, send them in batches, flush before
a broker source acks, drop the buffer on abort.

Subclasses implement ``encode`` (an item as the client sends it), ``send`` (one batch,
waiting for the broker's acks or confirms) and ``close_client``. A writer made on a running
event loop (``on_loop=True``, for ``SinkBase.aopen``) is written with ``awrite`` and
registers ``aflush`` as its flush before acks; its subclass implements ``asend`` and
``aclose_client`` instead.
"""

from __future__ import annotations

from collections.abc import Coroutine, Iterator
from contextlib import ExitStack, contextmanager

from hosepipe._typing import TYPE_CHECKING
from hosepipe.brokers._ack import BrokerError, before_ack, sigint_held

if TYPE_CHECKING:
    from typing import Any

__all__ = ["BatchWriter"]


@contextmanager
def _ctrl_c_after(writer: BatchWriter) -> Iterator[None]:
    """Hold a Ctrl-C (SIGINT, main thread only) that comes while a batch is on its way
    until the call is done, as ``writer.interrupted``: a ``KeyboardInterrupt`` in the
    middle of a client's reply would leave it unknown whether the batch was written (it
    may well be), so the source could neither ack its messages nor know it must not."""
    held: list[int] = []
    try:
        with sigint_held() as held:
            yield
    finally:
        if held and writer.interrupted is None:
            writer.interrupted = KeyboardInterrupt()


class BatchWriter:
    """One run of a broker sink: ``write`` buffers, every *batch* items ``send`` them."""

    def __init__(self, label: str, batch: int, on_loop: bool = False) -> None:
        self.label = label
        self.batch = batch
        self.buffer: list[Any] = []
        self.written = 0
        self.failed: BaseException | None = None  # a batch that could not be sent
        # a Ctrl-C that came while a batch was on its way, which it finished first
        self.interrupted: BaseException | None = None
        self._hook = ExitStack()
        self._hook.enter_context(before_ack(self.aflush if on_loop else self.flush))

    def encode(self, item: Any) -> Any:
        raise NotImplementedError

    def send(self, batch: list[Any]) -> None:
        raise NotImplementedError

    def close_client(self) -> None:
        raise NotImplementedError

    def write(self, item: Any) -> None:
        self.buffer.append(self.encode(item))
        if len(self.buffer) >= self.batch:
            self.flush()

    def flush(self) -> None:
        """Send what is buffered (a source calls this before it acks)."""
        if self.failed is not None:  # what it held is lost: no source may ack it
            raise BrokerError(f"{self.label}: an earlier batch failed") from self.failed
        if self.buffer:
            batch, self.buffer = self.buffer, []
            try:
                with _ctrl_c_after(self):  # a batch is sent whole, or known to have failed
                    self.send(batch)
            except BaseException as e:
                self.failed = e
                raise
            self.written += len(batch)
            interrupt, self.interrupted = self.interrupted, None
            if interrupt is not None:
                raise interrupt

    def commit(self) -> int:
        try:
            self.flush()
        finally:
            self._close()
        return self.written

    def abort(self) -> None:
        # What is still buffered belongs to messages not acked: the broker delivers them
        # again, so it is dropped rather than written twice.
        self.buffer = []
        self._close()

    def _close(self) -> None:
        self._hook.close()
        self.close_client()

    # -- on the running loop (SinkBase.aopen): the same, awaited -----------------------

    async def asend(self, batch: list[Any]) -> None:
        raise NotImplementedError

    async def aclose_client(self) -> None:
        raise NotImplementedError

    def awrite(self, item: Any) -> Coroutine[Any, Any, None] | None:
        """Buffer *item*; when the batch is full, the flush to await (else None: no
        coroutine per item)."""
        buffer = self.buffer
        buffer.append(self.encode(item))
        return self.aflush() if len(buffer) >= self.batch else None

    async def aflush(self) -> None:
        """Send what is buffered (an async source awaits this before it acks). A Ctrl-C
        while the batch is on its way is held until it is sent (as ``flush`` does), then
        raised; a batch cut short anyhow (its task cancelled) counts as failed: no source
        acks its messages."""
        if self.failed is not None:
            raise BrokerError(f"{self.label}: an earlier batch failed") from self.failed
        if self.buffer:
            batch, self.buffer = self.buffer, []
            try:
                with sigint_held() as held:
                    await self.asend(batch)
            except BaseException as e:
                self.failed = e
                raise
            self.written += len(batch)
            if held:
                raise KeyboardInterrupt

    async def acommit(self) -> int:
        try:
            await self.aflush()
        finally:
            self._hook.close()
            await self.aclose_client()
        return self.written

    async def aabort(self) -> None:
        self.buffer = []
        self._hook.close()
        await self.aclose_client()
