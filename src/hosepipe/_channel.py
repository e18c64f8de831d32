"""A bounded channel between threads: the one queue under every concurrent stage.

A ``Channel`` holds at most *capacity* items. ``send`` waits while it is full (that wait is
the backpressure a fast producer feels), ``receive`` waits while it is empty. The close
rules are explicit, one per side:

* the producer calls ``close_send()`` when it has no more items, or ``close_send(error)``
  when it failed: the consumer receives what is buffered, then ``EndOfChannel`` (or the
  error, re-raised as it was);
* the consumer calls ``close_receive()`` when it wants no more items: the buffer is dropped
  and every ``send`` from then on, including one already waiting, raises
  ``ChannelClosed``, so producers stop at once instead of filling a queue no one reads.

Both sides also have async forms, ``asend`` and ``areceive``, with the same rules: they
wait without blocking the event loop, and either side may be a thread or a task (a thread
that sends or receives wakes a waiting task through its loop's ``call_soon_threadsafe``),
so one channel serves threads, tasks, and a thread feeding a task.

``statistics()`` returns a frozen snapshot (depth, peak depth, counts, time producers
waited on a full channel) that metrics read while the channel is in use.

>>> ch = Channel(2)
>>> ch.send("a"); ch.send("b")
>>> ch.statistics().depth
2
>>> ch.close_send()
>>> list(ch)
['a', 'b']
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Iterator

from hosepipe._errors import HosepipeError
from hosepipe._typing import TYPE_CHECKING, Generic, TypeVar
from hosepipe.metrics._stats import ChannelStats

if TYPE_CHECKING:
    import asyncio
    from typing import Any

__all__ = ["Channel", "ChannelClosed", "ChannelStats", "EndOfChannel", "Handoff", "Window"]

T = TypeVar("T")


class ChannelClosed(HosepipeError):
    """``send`` on a channel whose consumer has gone (``close_receive``), or after
    ``close_send``: the producer should stop."""


class EndOfChannel(Exception):
    """``receive`` on a channel whose producer closed it and that is empty."""


class Channel(Generic[T]):
    """A bounded FIFO channel between threads (see the module documentation)."""

    def __init__(self, capacity: int) -> None:
        if not isinstance(capacity, int) or isinstance(capacity, bool) or capacity < 1:
            raise ValueError(f"Channel(): `capacity` must be an int >= 1, got {capacity!r}")
        self.capacity = capacity
        self._items: deque[Any] = deque()
        # an RLock: Condition.notify() checks ownership in C with one (with a plain Lock it
        # probes by acquiring), and notify runs on every send and receive
        self._lock = threading.RLock()
        self._not_full = threading.Condition(self._lock)
        self._not_empty = threading.Condition(self._lock)
        self._send_closed = False
        self._receive_closed = False
        self._error: BaseException | None = None
        self._peak = 0
        self._sent = 0
        self._received = 0
        self._send_wait = 0.0
        self._async_waiters: list[asyncio.Future[None]] = []  # tasks waiting on either side

    # -- the producer's side -----------------------------------------------------------

    def send(self, item: T, timeout: float | None = None) -> None:
        """Put *item* in, waiting while the channel is full.

        Raises ``ChannelClosed`` if the consumer has gone (also while waiting) or the
        producer side was closed, and ``TimeoutError`` after *timeout* seconds.
        """
        with self._lock:
            if len(self._items) >= self.capacity and not self._closed_for_send():
                started = time.perf_counter()
                try:
                    ok = self._not_full.wait_for(
                        lambda: len(self._items) < self.capacity or self._closed_for_send(),
                        timeout,
                    )
                finally:
                    self._send_wait += time.perf_counter() - started
                if not ok:
                    raise TimeoutError(f"send() waited {timeout} s on a full channel")
            if self._receive_closed:
                raise ChannelClosed("the channel's consumer has closed it: stop sending")
            if self._send_closed:
                raise ChannelClosed("send() after close_send()")
            self._append(item)

    def _append(self, item: T) -> None:
        self._items.append(item)
        self._sent += 1
        if len(self._items) > self._peak:
            self._peak = len(self._items)
        self._not_empty.notify()
        if self._async_waiters:
            self._wake()

    async def asend(self, item: T) -> None:
        """``send`` from a coroutine: waits on a full channel without blocking the loop."""
        started = 0.0
        while True:
            with self._lock:
                if self._receive_closed:
                    raise ChannelClosed("the channel's consumer has closed it: stop sending")
                if self._send_closed:
                    raise ChannelClosed("send() after close_send()")
                if len(self._items) < self.capacity:
                    if started:
                        self._send_wait += time.perf_counter() - started
                    self._append(item)
                    return
                waiter = self._waiter()
            started = started or time.perf_counter()
            await self._wait(waiter, None)

    def close_send(self, error: BaseException | None = None) -> None:
        """No more items will come; with *error*, the producer failed with it."""
        with self._lock:
            if self._send_closed:
                return
            self._send_closed = True
            self._error = error
            self._not_empty.notify_all()
            self._not_full.notify_all()
            self._wake()

    # -- the consumer's side -----------------------------------------------------------

    def receive(self, timeout: float | None = None) -> T:
        """Take the oldest item, waiting while the channel is empty.

        When the producer has closed the channel and it is empty: raises ``EndOfChannel``,
        or re-raises the producer's error. Raises ``TimeoutError`` after *timeout* seconds.
        """
        with self._lock:
            if self._receive_closed:
                raise EndOfChannel("receive() after close_receive()")
            if not self._items and not self._send_closed:
                ok = self._not_empty.wait_for(
                    lambda: self._items or self._send_closed or self._receive_closed, timeout
                )
                if not ok:
                    raise TimeoutError(f"receive() waited {timeout} s on an empty channel")
                if self._receive_closed:  # closed while waiting (by another receiver)
                    raise EndOfChannel("the channel was closed for receiving")
            return self._take()

    def _take(self) -> T:
        """The oldest item; or, once the channel is closed and empty, its end or error."""
        if self._items:
            item = self._items.popleft()
            self._received += 1
            self._not_full.notify()
            if self._async_waiters:
                self._wake()
            return item  # type: ignore[no-any-return]
        if self._error is not None:
            raise self._error
        raise EndOfChannel("the channel was closed by its producer")

    async def areceive(self, timeout: float | None = None) -> T:
        """``receive`` from a coroutine: waits on an empty channel without blocking the loop."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._lock:
                if self._receive_closed:
                    raise EndOfChannel("receive() after close_receive()")
                if self._items or self._send_closed:
                    return self._take()
                waiter = self._waiter()
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                self._forget(waiter)
                raise TimeoutError(f"receive() waited {timeout} s on an empty channel")
            await self._wait(waiter, left)

    def close_receive(self) -> None:
        """The consumer wants no more items: drop the buffer and stop every producer."""
        with self._lock:
            self._receive_closed = True
            self._items.clear()
            self._not_full.notify_all()
            self._not_empty.notify_all()
            self._wake()

    async def __aiter__(self) -> AsyncIterator[T]:
        """``areceive`` until the end of the channel (re-raising the producer's error)."""
        while True:
            try:
                yield await self.areceive()
            except EndOfChannel:
                return

    def __iter__(self) -> Iterator[T]:
        """Receive until the end of the channel (re-raising the producer's error)."""
        while True:
            try:
                yield self.receive()
            except EndOfChannel:
                return

    # -- both --------------------------------------------------------------------------

    def _waiter(self) -> asyncio.Future[None]:
        """A future of the running loop, resolved at the channel's next change (under the
        lock: the change cannot come before the waiter is registered)."""
        import asyncio

        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._async_waiters.append(waiter)
        return waiter

    async def _wait(self, waiter: asyncio.Future[None], timeout: float | None) -> None:
        import asyncio

        try:
            if timeout is None:
                await waiter
            else:
                await asyncio.wait_for(waiter, timeout)
        except TimeoutError:
            self._forget(waiter)  # the caller checks its deadline
        except BaseException:
            self._forget(waiter)  # cancelled: no longer waiting
            raise

    def _forget(self, waiter: asyncio.Future[None]) -> None:
        with self._lock:
            if waiter in self._async_waiters:
                self._async_waiters.remove(waiter)

    def _wake(self) -> None:
        """Wake every task waiting on the channel (under the lock); each checks again."""
        if not self._async_waiters:
            return
        import asyncio

        waiters, self._async_waiters = self._async_waiters, []
        running = asyncio._get_running_loop()
        for waiter in waiters:
            loop = waiter.get_loop()
            if loop is running:
                if not waiter.done():
                    waiter.set_result(None)
                continue
            with contextlib.suppress(RuntimeError):  # that loop has closed: no one waits
                loop.call_soon_threadsafe(_resolve, waiter)

    def _closed_for_send(self) -> bool:
        return self._receive_closed or self._send_closed

    def statistics(self) -> ChannelStats:
        """A consistent snapshot of the channel's counters."""
        with self._lock:
            return ChannelStats(
                self.capacity,
                len(self._items),
                self._peak,
                self._sent,
                self._received,
                self._send_wait,
            )

    def __repr__(self) -> str:
        s = self.statistics()
        return f"Channel(capacity={s.capacity}, depth={s.depth})"


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class Window:
    """The items a concurrent stage holds (sent to workers and not yet passed on), counted
    in channel terms, so its depth shows in metrics like a channel's.

    A concurrent ``map`` keeps at most *capacity* items in flight: it reads the next item
    only when one has left. ``enter``/``leave`` count items in and out; ``waited`` adds the
    time the stage waited with the window full (its backpressure on the upstream). The
    counters are written by the stage's one consumer thread and read by anyone.

    >>> w = Window(4)
    >>> w.enter(); w.enter(); w.leave()
    >>> w.statistics()
    ChannelStats(depth=1/4, peak=2, sent=2, received=1, send_wait=0.000000)
    """

    __slots__ = ("capacity", "peak", "received", "sent", "wait")

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.sent = 0
        self.received = 0
        self.peak = 0
        self.wait = 0.0

    def enter(self, n: int = 1) -> None:
        self.sent += n
        depth = self.sent - self.received
        if depth > self.peak:
            self.peak = depth

    def leave(self, n: int = 1) -> None:
        self.received += n

    def waited(self, seconds: float) -> None:
        self.wait += seconds

    def statistics(self) -> ChannelStats:
        """A snapshot, like ``Channel.statistics()``."""
        sent, received = self.sent, self.received
        return ChannelStats(self.capacity, sent - received, self.peak, sent, received, self.wait)


class Handoff(Generic[T]):
    """A channel's send/receive/close rules with no bound of its own, at C speed.

    For the hand-off queues inside a stage whose ``Window`` already bounds what it holds (a
    concurrent ``map`` never has more than ``2 * concurrency`` items between its tasks and its
    results, so a bound here could never be reached). Built on ``queue.SimpleQueue``, whose
    blocking ``get`` is written in C: a thread map moves an item through two of these for
    a third less CPU than through two ``Channel`` objects, whose waits are Python
    conditions. The close rules are ``Channel``'s: after ``close_send`` receivers get
    ``EndOfChannel`` once the queue is empty; after ``close_receive`` the queue is dropped,
    every receiver ends and every ``send`` raises ``ChannelClosed``.

    >>> h = Handoff()
    >>> h.send(1); h.close_send()
    >>> h.receive()
    1
    >>> h.receive()
    Traceback (most recent call last):
    ...
    hosepipe._channel.EndOfChannel: the hand-off was closed by its producer
    """

    __slots__ = ("_q", "_receive_closed", "_send_closed")

    def __init__(self) -> None:
        import queue

        self._q: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._send_closed = False
        self._receive_closed = False

    def send(self, item: T) -> None:
        """Put *item* in (never waits); ``ChannelClosed`` once either side has closed."""
        if self._receive_closed:
            raise ChannelClosed("the hand-off's consumer has closed it: stop sending")
        if self._send_closed:
            raise ChannelClosed("send() after close_send()")
        self._q.put(item)

    def receive(self) -> T:
        """Take the oldest item, waiting while there is none; ``EndOfChannel`` at the end."""
        item = self._q.get()
        if item is _END:
            self._q.put(_END)  # for the other receivers
            raise EndOfChannel("the hand-off was closed by its producer")
        return item  # type: ignore[no-any-return]

    def close_send(self) -> None:
        """No more items will come."""
        if not self._send_closed:
            self._send_closed = True
            self._q.put(_END)

    def close_receive(self) -> None:
        """Drop what is queued, end every receiver and make every ``send`` fail."""
        import queue

        self._receive_closed = True
        while True:
            try:
                self._q.get_nowait()
            except queue.Empty:
                break
        self._q.put(_END)


_END: Any = object()  # the end marker a Handoff queues behind the last item
