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
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator

from hosepipe._channel import Channel, ChannelClosed, ChannelStats, EndOfChannel
from hosepipe._errors import HosepipeError, StreamConsumedError
from hosepipe._typing import TYPE_CHECKING
from hosepipe.sources._base import Reader

if TYPE_CHECKING:
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
        self.owners: list[int | None] = [None] * n  # the thread that reads each consumer
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._open = n

    def consumer(self, k: int) -> Reader[Any]:
        """The source of consumer *k*'s stream (it can be run once)."""
        return _ConsumerSource(self, k)

    def statistics(self) -> list[ChannelStats]:
        """Each consumer's channel: depth now, peak, items sent and received, waits."""
        return [c.statistics() for c in self.channels]

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._produce, name="hosepipe broadcast", daemon=True
                )
                self._thread.start()

    def _produce(self) -> None:
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

    def _detach(self, k: int) -> None:
        self.channels[k].close_receive()
        with self._lock:
            self._open -= 1
            last = self._open == 0
        thread = self._thread
        if last and thread is not None and thread is not threading.current_thread():
            thread.join()  # every consumer is gone: the producer stops at its next send

    def _stuck(self, k: int) -> str | None:
        """Why consumer *k* would wait for ever, if it would: a sibling that this same
        thread reads is *buffer* items behind, so the producer cannot send."""
        me = threading.get_ident()
        for j, channel in enumerate(self.channels):
            if j == k or self.owners[j] != me:
                continue
            s = channel.statistics()
            if s.depth >= s.capacity:
                return (
                    f"broadcast(): consumer {k} waits for an item that cannot come: consumer "
                    f"{j} is {s.capacity} items (`buffer`) behind and is read by this same "
                    f"thread. Read the consumers in separate threads, or interleave them "
                    f"(zip), or give a larger `buffer`"
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


class _ConsumerSource(Reader[object]):
    def __init__(self, hub: Hub, k: int) -> None:
        self.hub = hub
        self.k = k
        self.used = False
        self.label = f"broadcast[{k}]({_label(hub.stream)})"

    def open(self, report: Callable[[BaseException], None]) -> Iterator[Any]:
        if self.used:
            raise StreamConsumedError(
                f"{self.label}: a broadcast consumer runs once (it shares one run of the "
                "source with the other consumers); call broadcast() again for another run"
            )
        self.used = True
        return _Consumer(self.hub, self.k)


class Merge(Reader[object]):
    """The source of ``hp.merge``: each stream in a thread, items as they arrive."""

    def __init__(self, streams: tuple[Iterable[Any], ...], buffer: int) -> None:
        _check("merge", "buffer", buffer)
        for s in streams:
            if not hasattr(s, "__iter__"):
                raise TypeError(f"merge(): every argument must be iterable, got {s!r}")
        self.streams = streams
        self.buffer = buffer
        names = ", ".join(_label(s) for s in streams)
        self.label = f"merge({names})"

    def open(self, report: Callable[[BaseException], None]) -> Iterator[Any]:
        return self._run()

    def _run(self) -> Iterator[Any]:
        channel: Channel[Any] = Channel(self.buffer)
        left = [len(self.streams)]
        lock = threading.Lock()

        def produce(stream: Iterable[Any]) -> None:
            it: Iterator[Any] | None = None
            try:
                it = iter(stream)
                for item in it:
                    channel.send(item)
                with lock:
                    left[0] -= 1
                    if left[0] == 0:
                        channel.close_send()
            except ChannelClosed:
                pass  # the consumer has gone, or another producer failed
            except BaseException as e:
                channel.close_send(e)
            finally:
                close = getattr(it, "close", None)
                if close is not None:
                    close()

        threads = [
            threading.Thread(target=produce, args=(s,), name=f"hosepipe merge[{i}]", daemon=True)
            for i, s in enumerate(self.streams)
        ]
        if not threads:
            return
        for t in threads:
            t.start()
        try:
            yield from channel
        finally:
            channel.close_receive()
            for t in threads:
                t.join()


def _label(obj: object) -> str:
    from hosepipe._nodes import _short

    return _short(obj)
