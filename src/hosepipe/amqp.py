"""RabbitMQ (AMQP 0-9-1): consume a queue with a prefetch window, publish with confirms.

``hosepipe.amqp.consume(url, queue, prefetch=...)`` is a source of ``Message`` objects
delivered by the broker at most *prefetch* unacked at a time (``basic.qos``: the broker's
own backpressure), acknowledged once the pipeline is done with them (the rule is
``hosepipe.redis.read_stream``'s: see ``consume``). ``hosepipe.amqp.publish(url,
routing_key)`` is a sink that publishes persistent messages and awaits the publisher
confirms of each batch.

aio-pika is an asyncio client, so the source is an async source: read it with ``async
for`` and the async terminals, or from sync code (``for``, ``to()``, ``run()``), which
runs it on an event loop of its own. It needs the ``amqp`` extra
(``pip install 'hosepipe[amqp]'``).

Errors: ``BrokerError`` (a ``HosepipeError``) when the server cannot be reached or the
queue does not exist, naming the URL with its password hidden.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

from hosepipe._extras import require
from hosepipe._nodes import _check_int
from hosepipe._typing import TYPE_CHECKING, Any
from hosepipe.brokers._ack import (
    AckRule,
    Backlog,
    BrokerError,
    Idle,
    Message,
    Unacked,
    ack,
    aflush_sinks,
    aflushed_at_end,
    check_ack,
    check_max_idle,
    check_name,
    check_url,
    to_payload,
)
from hosepipe.brokers._loop import LoopSinkWriter
from hosepipe.sinks._base import Sink
from hosepipe.sources._sql import hide_password

if TYPE_CHECKING:
    import aio_pika.abc

    from hosepipe._stream import Stream
    from hosepipe.brokers._ack import AckMode

__all__ = ["BrokerError", "Message", "ack", "consume", "publish"]

_WHAT = "hosepipe.amqp"
_SCHEMES = ("amqp://", "amqps://")
_ACK_AFTER = 0.05  # seconds without a delivery after which the passed messages are acked
_ASK_EVERY = 1.0  # seconds between two questions for the queue's length (for the stats)


async def _connect(op: str, url: str) -> aio_pika.abc.AbstractConnection:
    """A connection to *url*, or a BrokerError that names it (password hidden)."""
    require("aio_pika", "amqp", op)
    import aio_pika

    try:
        return await aio_pika.connect(url, timeout=5)
    except Exception as e:
        raise BrokerError(
            f"{op}: RabbitMQ at {hide_password(url)} failed: {type(e).__name__}: "
            f"{hide_password(str(e))}"
        ) from e


class _Consumer(Backlog):
    """``consume()``'s source, an async iterable: each ``async for`` over it is a run."""

    def __init__(
        self,
        url: str,
        queue: str,
        prefetch: int,
        max_idle: float | None,
        ack: AckMode,
        max_unacked: int,
        ack_after: str | None = None,
    ) -> None:
        self.url = url
        self.queue = queue
        self.prefetch = prefetch
        self.max_idle = max_idle
        self.ack = ack
        self.max_unacked = max_unacked
        self.op = f"{_WHAT}.consume()"
        self.ack_rule = AckRule(self.op, ack, ack_after)
        self.shown = hide_password(url)
        self.label = f"amqp.consume({self.shown!r}, {queue!r})"

    def __repr__(self) -> str:
        return self.label

    async def __aiter__(self) -> AsyncIterator[Message]:
        import aio_pika.exceptions

        conn = await _connect(self.op, self.url)
        unacked = self._unacked = Unacked(self.op, self.ack, self.max_unacked, self.prefetch)
        idle = Idle(self.max_idle)
        # what the broker delivered and the pipeline has not taken (at most `prefetch`)
        arrived: asyncio.Queue[Any] = asyncio.Queue()
        manual = unacked.manual
        acked_to = [0]  # every delivery tag up to this one is acked (a `multiple` ack)
        ok = False
        try:
            channel = await conn.channel()
            await channel.set_qos(prefetch_count=self.prefetch)
            try:
                queue = await channel.declare_queue(self.queue, passive=True)
            except aio_pika.exceptions.ChannelNotFoundEntity as e:
                raise BrokerError(
                    f"{self.op}: queue {self.queue!r} does not exist at {self.shown}"
                ) from e

            async def on_message(raw: Any) -> None:
                unacked.fetched(1)
                await arrived.put(raw)

            unacked.left(queue.declaration_result.message_count or 0)  # for the stats
            ask = time.monotonic() + _ASK_EVERY  # when to ask again
            await queue.consume(on_message)
            while True:
                # acks go in one frame when the whole window is due (the broker sends no
                # more before), or when nothing came for a moment
                if unacked.due_count >= self.prefetch:
                    if time.monotonic() >= ask:  # the queue's length, for the stats: asked
                        # while the window is full, so no delivery races the answer
                        ask = await self._ask(channel, unacked)
                    await aflush_sinks()
                    await self._ack(unacked.due(), acked_to)
                if idle.expired():
                    ok = True
                    await self._ask(channel, unacked)  # the backlog as the feed ends
                    return
                if arrived.empty():
                    try:  # (asyncio.timeout: wait_for can swallow a cancellation)
                        async with asyncio.timeout(idle.wait(_ACK_AFTER)):
                            raw = await arrived.get()
                    except TimeoutError:
                        if unacked.due_count:
                            await aflush_sinks()
                            await self._ack(unacked.due(), acked_to)
                        if time.monotonic() >= ask:
                            ask = await self._ask(channel, unacked)
                        continue
                else:
                    raw = arrived.get_nowait()
                idle.reset()
                message = Message(
                    raw.body,
                    str(raw.delivery_tag),
                    self.queue,
                    bool(raw.redelivered),
                    dict(raw.headers or {}),
                    unacked,
                    raw,
                )
                if manual:
                    unacked.deliver(message)
                try:
                    yield message
                except GeneratorExit:
                    unacked.stopped([message], 0)
                    raise
                unacked.passed([message])
        except aio_pika.exceptions.AMQPError as e:
            raise BrokerError(
                f"{self.op}: RabbitMQ at {self.shown} failed: {type(e).__name__}: {e}"
            ) from e
        finally:
            try:
                if not conn.is_closed:
                    due = unacked.end(ok)
                    # what they produced is written before they are acked
                    if due and await aflushed_at_end():
                        await self._ack(due, acked_to)
            finally:
                # closing the channel gives every unacked delivery back to the queue
                await conn.close()

    async def _ask(self, channel: Any, unacked: Unacked) -> float:
        """Note the queue's ready messages in *unacked* (the backlog in the stats: with
        what this run holds unacked); return when to ask again.

        The broker answers on the channel that delivers, after the deliveries it made
        before it counted (a queue's replies and deliveries keep their order), so what this
        run holds when the answer comes is what the count left out. The source asks while
        the prefetch window is full (the broker delivers nothing then), or when nothing
        came for a while, so no delivery races the question."""
        again = await channel.declare_queue(self.queue, passive=True)
        unacked.left(again.declaration_result.message_count or 0)
        return time.monotonic() + _ASK_EVERY

    async def _ack(self, due: list[Message], acked_to: list[int]) -> None:
        # said sent before the frame goes: a `multiple` ack sent twice would be refused by
        # the broker, while one not sent only delivers those messages again
        if self._unacked is not None:
            self._unacked.sent()
        first = acked_to[0] + 1
        tags = [m.raw.delivery_tag for m in due]
        if self.ack == "auto" and tags == list(range(first, first + len(tags))):
            # the due messages are every delivery up to the last one: one frame acks all
            await due[-1].raw.ack(multiple=True)
            acked_to[0] = tags[-1]
            return
        # A gap: a delivery the pipeline never got (seen under load: a message aio-pika
        # took off the wire and never handed to the consumer), which `multiple` would ack
        # unseen. One ack each leaves it unacked: it goes back to the queue at the end.
        for m in due:
            await m.raw.ack()


def consume(
    url: str,
    queue: str,
    *,
    prefetch: int = 100,
    max_idle: float | None = None,
    ack: AckMode = "auto",
    ack_after: str | None = None,
    max_unacked: int = 10_000,
) -> Stream[Message]:
    """A stream of the messages of RabbitMQ queue *queue*, which must exist.

    Each item is a ``Message``: *data* the body, *id* the delivery tag, *source* the
    queue, *redelivered* the broker's flag, *meta* the headers. The broker sends at most
    *prefetch* messages that are not yet acked (the backpressure: a slow pipeline keeps
    the rest in the queue). The feed ends after *max_idle* seconds without a message, or
    never.

    Acknowledgement is ``hosepipe.redis.read_stream``'s: with ``ack="auto"``, a message
    is acked once the pipeline pulls the next (at-least-once; acks are sent as one
    ``multiple`` ack); when the run ends the connection is closed and every delivery not
    acked goes back to the queue, including the one in flight (an async source cannot tell
    ``take(n)``'s end from an error); a killed consumer's deliveries go back at once.
    *ack_after* names the stage after which a message counts as done (the rule and its
    checks are ``read_stream``'s). ``ack="manual"``: ack each message yourself
    (``hosepipe.amqp.ack``) before the stream ends.

    >>> import hosepipe as hp, hosepipe.amqp
    >>> hp.amqp.consume("amqp://guest:guest@127.0.0.1:5672/", "jobs")
    Stream(amqp.consume('amqp://guest:***@127.0.0.1:5672/', 'jobs'))
    >>> hp.amqp.consume("amqp://127.0.0.1/", "jobs", prefetch=0)
    Traceback (most recent call last):
    ...
    ValueError: hosepipe.amqp.consume(): `prefetch` must be >= 1, got 0
    """
    op = f"{_WHAT}.consume()"
    check_url(op, url, _SCHEMES)
    check_name(op, "queue", queue)
    _check_int(op.removesuffix("()"), "prefetch", prefetch, 1)
    check_max_idle(op, max_idle)
    check_ack(op, ack, max_unacked, ack_after)
    require("aio_pika", "amqp", op)
    from hosepipe._stream import Stream

    return Stream(_Consumer(url, queue, prefetch, max_idle, ack, max_unacked, ack_after))


# -- the sink ------------------------------------------------------------------------------


class _Publisher(LoopSinkWriter):
    """One run of ``publish()``: persistent messages, the batch's confirms awaited."""

    def __init__(self, sink: _PublishSink, on_loop: bool = False) -> None:
        self.sink = sink
        super().__init__(sink.label, sink.batch, on_loop)

    async def connect(self) -> None:
        self.conn = await _connect(f"{_WHAT}.publish()", self.sink.url)
        channel = await self.conn.channel(publisher_confirms=True)
        if self.sink.exchange:
            self.exchange = await channel.get_exchange(self.sink.exchange)
        else:
            self.exchange = channel.default_exchange

    def encode(self, item: Any) -> Any:
        import aio_pika

        return aio_pika.Message(
            to_payload(self.label, item), delivery_mode=aio_pika.DeliveryMode.PERSISTENT
        )

    async def asend(self, batch: list[Any]) -> None:
        import aio_pika.exceptions
        from pamqp.commands import Basic

        key, publish = self.sink.routing_key, self.exchange.publish
        try:
            confirms = await asyncio.gather(*(publish(m, key, mandatory=True) for m in batch))
        except aio_pika.exceptions.AMQPError as e:
            raise BrokerError(f"{self.label}: publishing failed: {type(e).__name__}: {e}") from e
        for confirm in confirms:
            if not isinstance(confirm, Basic.Ack):  # returned (unroutable) or nacked
                what = getattr(getattr(confirm, "delivery", None), "reply_text", confirm)
                raise BrokerError(
                    f"{self.label}: a message could not be routed to a queue "
                    f"(routing key {key!r}): {what}"
                )

    async def disconnect(self) -> None:
        await self.conn.close()


class _PublishSink(Sink[Any, int]):
    def __init__(self, url: str, routing_key: str, exchange: str, batch: int) -> None:
        self.url = url
        self.routing_key = routing_key
        self.exchange = exchange
        self.batch = batch
        self.label = f"amqp.publish({hide_password(url)!r}, {routing_key!r})"

    def open(self) -> _Publisher:
        return _Publisher(self)

    async def aopen(self) -> _Publisher:
        """A writer on the running loop (a run on the async driver: ``SinkBase.aopen``)."""
        writer = _Publisher(self, on_loop=True)
        await writer.aconnect()
        return writer


def publish(url: str, routing_key: str, *, exchange: str = "", batch: int = 100) -> Sink[Any, int]:
    """A sink that publishes each item to RabbitMQ with *routing_key*; returns the count.

    With the default *exchange* ``""`` the routing key is the name of a queue. An item is
    bytes, str, a number, a dict (sent as JSON) or a ``Message`` (its data). Messages are
    persistent and published *batch* at a time on a channel with publisher confirms; the
    confirms are awaited before the batch counts as written, and always before a broker
    source in the same run acks the messages they came from. A message no queue takes
    (``mandatory``) is a ``BrokerError``.

    >>> import hosepipe as hp, hosepipe.amqp
    >>> hp.amqp.publish("amqp://guest:guest@127.0.0.1/", "")
    Traceback (most recent call last):
    ...
    ValueError: hosepipe.amqp.publish(): `routing_key` must be a non-empty string, got ''
    """
    op = f"{_WHAT}.publish()"
    check_url(op, url, _SCHEMES)
    check_name(op, "routing_key", routing_key)
    if not isinstance(exchange, str):
        raise TypeError(f"{op}: `exchange` must be a str, got {exchange!r}")
    _check_int(op.removesuffix("()"), "batch", batch, 1)
    return _PublishSink(url, routing_key, exchange, batch)
