"""Fan-out and fan-in over bounded channels: ``Stream.broadcast`` and ``hp.merge``.

``broadcast(n, buffer=)`` runs its stream once, in a producer thread that sends every item
to *n* channels of *buffer* items, one per consumer. The producer waits on the fullest
channel, so the fastest consumer is never more than ``buffer + 1`` items ahead of the
slowest (the one more is the item the producer holds), and memory holds at most
``n * buffer + 1`` items (``itertools.tee`` keeps everything the
slowest has not read). A consumer that is closed (``break``, ``close()``) closes its
channel for receiving: the producer drops it at its next send and goes on for the others;
when the last one is gone the producer stops and closes the run.

``merge(*streams, buffer=)`` runs each stream in a producer thread of its own, all sending
into one channel of *buffer* items; the consumer takes items as they arrive. The last
producer to finish ends the channel; the first that fails ends it with its error (after
the items already sent), and closing the merged stream stops and joins every producer.

Both have an async form, used when a consumer is read from async code (``async for``, the
``a*`` terminals): the consumer awaits its channel (``Channel.areceive``) instead of
blocking the event loop, and a producer whose stream is async (an async source or stage,
or a stage that waits) is a task on that loop rather than a thread, so it shares the
loop's clients and connections. A plain stream's producer stays a thread, so a blocking
source does not hold up the loop. Channels, bounds and close rules are the same in both
forms; a task producer waits on a full channel with ``Channel.asend``.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable, Iterable, Iterator

from hosepipe._callables import short_label
from hosepipe._channel import Channel, ChannelClosed, ChannelStats, EndOfChannel
from hosepipe._drive._async import join_thread, reads_async
from hosepipe._ends import Reader
from hosepipe._errors import HosepipeError, StreamConsumedError
from hosepipe._source import Source
from hosepipe._typing import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncio
    from typing import Any

__all__ = ["Hub", "Merge"]

_POLL = 0.1  # how often a waiting consumer looks for a wait that can never end


def _check(op: str, name: str, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{op}(): `{name}` must be an int, got {value!r} ({type(value).__name__})")
    if value < 1:
        raise ValueError(f"{op}(): `{name}` must be >= 1, got {value}")


class Hub:
    """One run of *stream* shared by *n* consumers (``Stream.broadcast``)."""

    def __init__(self, stream: Iterable[Any], n: int, buffer: int) -> None:
        _check("broadcast", "n", n)
        _check("broadcast", "buffer", buffer)
        self.stream = stream
        self.channels: list[Channel[Any]] = [Channel(buffer) for _ in range(n)]
        # who reads each consumer: a thread's ident, or an asyncio task
        self.owners: list[object] = [None] * n
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._task: asyncio.Task[None] | None = None
        self._open = n

    def consumer(self, k: int) -> Reader[Any]:
        """The source of consumer *k*'s stream (it can be run once)."""
        return _ConsumerSource(self, k)

    def statistics(self) -> list[ChannelStats]:
        """Each consumer's channel: depth now, peak, items sent and received, waits."""
        return [c.statistics() for c in self.channels]

    def _start(self, in_loop: bool = False) -> None:
        """Start the producer, once: a task on the running loop when a consumer read in it
        (*in_loop*) starts it and the stream is async; else a thread."""
        with self._lock:
            if self._thread is not None or self._task is not None:
                return
            if in_loop and _is_async(self.stream):
                import asyncio

                self._task = asyncio.ensure_future(self._aproduce())
                return
            self._thread = threading.Thread(
                target=self._produce, name="hosepipe broadcast", daemon=True
            )
            self._thread.start()

    async def _aproduce(self) -> None:
        attached = list(self.channels)
        it: Any = self.stream.__aiter__()  # type: ignore[attr-defined]
        try:
            async for item in it:
                for channel in list(attached):
                    try:
                        await channel.asend(item)
                    except ChannelClosed:  # that consumer was closed: the others go on
                        attached.remove(channel)
                if not attached:
                    return
            for channel in attached:
                channel.close_send()
        except Exception as e:  # each consumer re-raises it
            for channel in attached:
                channel.close_send(e)
        finally:
            await it.aclose()

    def _produce(self) -> None:
        # _aproduce's sync twin on purpose: one awaits each send, this one blocks in it.
        attached = list(self.channels)
        it: Iterator[Any] | None = None
        try:
            it = iter(self.stream)
            for item in it:
                for channel in list(attached):
                    try:
                        channel.send(item)
                    except ChannelClosed:  # that consumer was closed: the others go on
                        attached.remove(channel)
                if not attached:
                    return
            for channel in attached:
                channel.close_send()
        except BaseException as e:  # each consumer re-raises it
            for channel in attached:
                channel.close_send(e)
        finally:
            close = getattr(it, "close", None)
            if close is not None:
                close()

    def _release(self, k: int) -> bool:
        """Close consumer *k*'s channel; True if it was the last one attached."""
        self.channels[k].close_receive()
        with self._lock:
            self._open -= 1
            return self._open == 0

    def _detach(self, k: int) -> None:
        last = self._release(k)
        thread = self._thread
        if last and thread is not None and thread is not threading.current_thread():
            thread.join()  # every consumer is gone: the producer stops at its next send

    async def _adetach(self, k: int) -> None:
        """``_detach`` from async code: the producer is awaited, not waited for."""
        if not self._release(k):
            return
        if self._task is not None:  # it may be waiting for its upstream: stop it now
            import asyncio

            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._thread is not None:
            await join_thread(self._thread)

    def _stuck(self, k: int) -> str | None:
        """Why consumer *k* would wait for ever, if it would: a sibling that this same
        thread reads is *buffer* items behind, so the producer cannot send."""
        me = _reader()
        for j, channel in enumerate(self.channels):
            if j == k or self.owners[j] != me:
                continue
            s = channel.statistics()
            if s.depth >= s.capacity:
                return (
                    f"broadcast(): consumer {k} waits for an item that cannot come: consumer "
                    f"{j} is {s.capacity} items (`buffer`) behind and is read by this same "
                    f"{'thread' if isinstance(me, int) else 'task'}. Read the consumers in "
                    f"separate threads or tasks (asyncio.gather), or interleave them (zip), "
                    f"or give a larger `buffer`"
                )
        return None


class _Consumer:
    """One consumer's one-shot iterator over its channel; closing it detaches it."""

    def __init__(self, hub: Hub, k: int) -> None:
        self.hub = hub
        self.k = k
        self.closed = False

    def __iter__(self) -> _Consumer:
        return self

    def __next__(self) -> Any:
        hub, k = self.hub, self.k
        if self.closed:
            raise StopIteration
        hub.owners[k] = threading.get_ident()
        hub._start()
        channel = hub.channels[k]
        while True:
            try:
                return channel.receive(timeout=_POLL)
            except TimeoutError:
                why = hub._stuck(k)
                if why is not None:
                    self.close()
                    raise HosepipeError(why) from None
            except EndOfChannel:
                self.close()
                raise StopIteration from None
            except BaseException:
                self.close()
                raise

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.hub._detach(self.k)


async def _aconsume(hub: Hub, k: int) -> AsyncIterator[Any]:
    """Consumer *k* read from async code: its channel awaited; closing it detaches it."""
    import asyncio

    channel = hub.channels[k]
    try:
        hub.owners[k] = asyncio.current_task()
        hub._start(in_loop=True)
        while True:
            try:
                item = await channel.areceive(timeout=_POLL)
            except TimeoutError:
                why = hub._stuck(k)
                if why is not None:
                    raise HosepipeError(why) from None
                continue
            except EndOfChannel:
                return
            yield item
    finally:
        await hub._adetach(k)


class _ConsumerSource(Reader[object]):
    def __init__(self, hub: Hub, k: int) -> None:
        self.hub = hub
        self.k = k
        self.used = False
        self.label = f"broadcast[{k}]({short_label(hub.stream)})"

    def open(self, report: Callable[[BaseException], None]) -> Iterator[Any]:
        self._claim()
        return _Consumer(self.hub, self.k)

    def aopen(self) -> AsyncIterator[Any]:
        """The async form (read from async code): see the module documentation."""
        self._claim()
        return _aconsume(self.hub, self.k)

    def _claim(self) -> None:
        if self.used:
            raise StreamConsumedError(
                f"{self.label}: a broadcast consumer runs once (it shares one run of the "
                "source with the other consumers); call broadcast() again for another run"
            )
        self.used = True


class Merge(Reader[object]):
    """The source of ``hp.merge``: each stream in a thread (or, read from async code, an
    async stream in a task), all sending into one channel; items as they arrive."""

    def __init__(
        self, streams: tuple[Iterable[Any], ...], buffer: int, wrap: Callable[[Any], Any]
    ) -> None:
        """*wrap* makes a raw async iterable a stream that sync code can read too (the
        public ``hp.merge`` passes ``Stream``)."""
        _check("merge", "buffer", buffer)
        for s in streams:
            if not hasattr(s, "__iter__") and not hasattr(s, "__aiter__"):
                raise TypeError(f"merge(): every argument must be iterable, got {s!r}")
        names = ", ".join(short_label(s) for s in streams)
        self.label = f"merge({names})"
        self.streams = tuple(s if hasattr(s, "__iter__") else wrap(s) for s in streams)
        self.buffer = buffer

    def open(self, report: Callable[[BaseException], None]) -> Iterator[Any]:
        return self._run()

    def aopen(self) -> AsyncIterator[Any]:
        """The async form (read from async code): see the module documentation."""
        return self._arun()

    def _start(self, channel: Channel[Any], in_loop: bool) -> tuple[list[Any], list[Any]]:
        """Start a producer per stream: (threads, tasks)."""
        left = [len(self.streams)]
        lock = threading.Lock()

        def ended() -> None:  # the last producer to end closes the channel
            with lock:
                left[0] -= 1
                if left[0] == 0:
                    channel.close_send()

        def produce(stream: Iterable[Any]) -> None:
            it: Iterator[Any] | None = None
            try:
                it = iter(stream)
                for item in it:
                    channel.send(item)
                ended()
            except ChannelClosed:
                pass  # the consumer has gone, or another producer failed
            except BaseException as e:
                channel.close_send(e)
            finally:
                close = getattr(it, "close", None)
                if close is not None:
                    close()

        async def aproduce(stream: Any) -> None:
            it = aiter(stream)
            try:
                async for item in it:
                    await channel.asend(item)
                ended()
            except ChannelClosed:
                pass
            except Exception as e:
                channel.close_send(e)
            finally:
                await it.aclose()

        threads, tasks = [], []
        for i, stream in enumerate(self.streams):
            if in_loop and _is_async(stream):
                import asyncio  # only here: a sync merge need not load it

                tasks.append(asyncio.ensure_future(aproduce(stream)))
                continue
            t = threading.Thread(
                target=produce, args=(stream,), name=f"hosepipe merge[{i}]", daemon=True
            )
            t.start()
            threads.append(t)
        return threads, tasks

    def _run(self) -> Iterator[Any]:
        if not self.streams:
            return
        channel: Channel[Any] = Channel(self.buffer)
        threads, _ = self._start(channel, in_loop=False)
        try:
            yield from channel
        finally:
            channel.close_receive()
            for t in threads:
                t.join()

    async def _arun(self) -> AsyncIterator[Any]:
        import asyncio

        if not self.streams:
            return
        channel: Channel[Any] = Channel(self.buffer)
        threads, tasks = self._start(channel, in_loop=True)
        try:
            async for item in channel:
                yield item
        finally:
            channel.close_receive()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for t in threads:
                await join_thread(t)


def _is_async(stream: object) -> bool:
    """Whether *stream*, read from async code, is read with the async driver (then its
    producer is a task): an async iterable, or a Stream that ``async for`` runs async."""
    source = getattr(stream, "_source", None)
    if isinstance(source, Source):
        return reads_async(source, stream._stages)  # type: ignore[attr-defined]
    return not hasattr(stream, "__iter__")


def _reader() -> object:
    """Who is reading: the running asyncio task, else this thread's ident."""
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return threading.get_ident()
    return asyncio.current_task()
