"""NATS JetStream: consume a subject with a durable pull consumer, publish to a subject.

``hosepipe.nats.consume(url, subject, durable=...)`` is a source of ``Message`` objects
fetched *batch* at a time from a JetStream pull consumer (created if it does not exist),
acknowledged once the pipeline is done with them (the rule is ``read_stream``'s in
``hosepipe.redis``: see ``consume``). ``hosepipe.nats.publish(url, subject)`` is a sink
that publishes to JetStream and awaits the acks of each batch.

nats-py is an asyncio client, so the source is an async source: read it with ``async for``
and the async terminals, or from sync code (``for``, ``to()``, ``run()``), which runs it on
an event loop of its own. It needs the ``nats`` extra (``pip install 'hosepipe[nats]'``).

Errors: ``BrokerError`` (a ``HosepipeError``) when the server cannot be reached or no
JetStream stream holds the subject, naming the URL with its password hidden.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

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
    cancel_requested,
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
    from nats.aio.client import Client as NATSClient

    from hosepipe._stream import Stream
    from hosepipe.brokers._ack import AckMode

__all__ = ["BrokerError", "Message", "ack", "consume", "publish"]

_WHAT = "hosepipe.nats"
_SCHEMES = ("nats://", "tls://")


async def _connect(op: str, url: str) -> NATSClient:
    """A connection to *url*, or a BrokerError that names it (password hidden)."""
    require("nats", "nats", op)
    import nats

    errors: list[BaseException] = []

    async def on_error(e: Exception) -> None:
        errors.append(e)

    try:
        return await nats.connect(
            url,
            connect_timeout=2,
            allow_reconnect=False,
            max_reconnect_attempts=1,
            reconnect_time_wait=0.05,
            error_cb=on_error,
        )
    except Exception as e:
        why = errors[-1] if errors else e
        raise BrokerError(
            f"{op}: NATS at {hide_password(url)} failed: {type(why).__name__}: "
            f"{hide_password(str(why))}"
        ) from e


class _Consumer(Backlog):
    """``consume()``'s source, an async iterable: each ``async for`` over it is a run."""

    def __init__(
        self,
        url: str,
        subject: str,
        durable: str,
        stream: str | None,
        batch: int,
        block_ms: int,
        ack_wait: float,
        max_idle: float | None,
        ack: AckMode,
        max_unacked: int,
        ack_after: str | None = None,
    ) -> None:
        self.url = url
        self.subject = subject
        self.durable = durable
        self.stream = stream
        self.batch = batch
        self.block_ms = block_ms
        self.ack_wait = ack_wait
        self.max_idle = max_idle
        self.ack = ack
        self.max_unacked = max_unacked
        self.op = f"{_WHAT}.consume()"
        self.ack_rule = AckRule(self.op, ack, ack_after)
        self.shown = hide_password(url)
        self.label = f"nats.consume({self.shown!r}, {subject!r})"

    def __repr__(self) -> str:
        return self.label

    async def __aiter__(self) -> AsyncIterator[Message]:
        import nats.errors
        import nats.js.api
        import nats.js.errors

        nc = await _connect(self.op, self.url)
        unacked = self._unacked = Unacked(self.op, self.ack, self.max_unacked, self.batch)
        idle = Idle(self.max_idle)
        waiting: list[Message] = []  # fetched, not given to the pipeline when closed
        manual = unacked.manual
        ok = False
        try:
            js = nc.jetstream()
            config = nats.js.api.ConsumerConfig(
                ack_wait=self.ack_wait, max_ack_pending=max(self.batch, self.max_unacked)
            )
            try:
                sub = await js.pull_subscribe(
                    self.subject, durable=self.durable, stream=self.stream, config=config
                )
            except nats.js.errors.NotFoundError as e:
                raise BrokerError(
                    f"{self.op}: no JetStream stream holds subject {self.subject!r} at "
                    f"{self.shown} (add a stream for it, or pass the right `stream`)"
                ) from e
            while True:
                if unacked.due_count:
                    await aflush_sinks()  # first: a flush cut short leaves the acks due, not lost
                    for m in unacked.due():
                        await m.raw.ack()
                    unacked.sent()
                if idle.expired():
                    ok = True
                    return
                try:
                    fetched = await sub.fetch(
                        self.batch, timeout=max(0.001, idle.wait(self.block_ms / 1000))
                    )
                except (nats.errors.TimeoutError, TimeoutError):  # nothing came
                    continue
                idle.reset()
                batch = [self._message(raw, unacked) for raw in fetched]
                unacked.fetched(len(batch))
                if cancel_requested():  # a Ctrl-C that the fetch's wait_for swallowed
                    waiting = batch
                    raise asyncio.CancelledError
                if fetched:  # (a fetch may come back empty, as a status message)
                    unacked.left(_pending(fetched[-1]))  # the consumer's backlog, for stats
                for at, message in enumerate(batch):
                    if manual:
                        unacked.deliver(message)
                    try:
                        yield message
                    except GeneratorExit:
                        unacked.stopped(batch, at)
                        waiting = batch[at + 1 :]
                        raise
                unacked.passed(batch)
        except nats.errors.Error as e:
            raise BrokerError(
                f"{self.op}: NATS at {self.shown} failed: {type(e).__name__}: {e}"
            ) from e
        finally:
            try:
                if not nc.is_closed:
                    # acks for what was done, naks for the rest: delivered again at once
                    held = unacked.in_flight
                    due = unacked.end(ok)
                    back = [*([held] if held is not None and not ok else []), *waiting]
                    # what they produced is written before they are acked; if a sink
                    # failed, they are nak-ed with the rest: delivered again at once
                    if due and not await aflushed_at_end():
                        due, back = [], [*due, *back]
                    for m in due:
                        await m.raw.ack()
                    for m in back:
                        await m.raw.nak()
                    await nc.flush()
            finally:
                await nc.close()

    def _message(self, raw: Any, unacked: Unacked) -> Message:
        # The stream sequence and delivery count are tokens of the ack subject
        # ($JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>...; 9 tokens, or the
        # newer form with a domain and an account first); reading the two is much cheaper
        # than nats-py's Msg.metadata, which parses all of it (and makes a datetime).
        tokens = (raw.reply or "").split(".")
        if len(tokens) == 9 and tokens[0] == "$JS":
            delivered, sequence = tokens[4], tokens[5]
        else:
            meta = raw.metadata
            delivered, sequence = str(meta.num_delivered), str(meta.sequence.stream)
        return Message(
            raw.data,
            sequence,
            raw.subject,
            delivered != "1",
            dict(raw.headers) if raw.headers else {},
            unacked,
            raw,
        )


def _pending(raw: Any) -> int:
    """How many messages the consumer has not yet delivered, as of *raw*'s delivery: the
    last token of its ack subject (``metadata.num_pending`` in the newer form)."""
    tokens = (raw.reply or "").split(".")
    if len(tokens) == 9 and tokens[0] == "$JS":
        return int(tokens[8])
    return int(raw.metadata.num_pending)


def consume(
    url: str,
    subject: str,
    *,
    durable: str,
    stream: str | None = None,
    batch: int = 100,
    block_ms: int = 1000,
    ack_wait: float = 30.0,
    max_idle: float | None = None,
    ack: AckMode = "auto",
    ack_after: str | None = None,
    max_unacked: int = 10_000,
) -> Stream[Message]:
    """A stream of the messages of JetStream *subject*, read by durable consumer *durable*.

    Each item is a ``Message``: *data* the payload, *id* the stream sequence, *source*
    the subject, *meta* the headers. The pull consumer *durable* is created (on the stream
    that holds *subject*, or *stream*) if it does not exist, with *ack_wait* seconds before
    an unacked message is delivered again. Messages are fetched *batch* at a time, waiting
    up to *block_ms* for them: the next fetch happens only when the pipeline has taken the
    batch before, so at most *batch* messages are unacked at any time. The feed ends after
    *max_idle* seconds without a message, or never.

    Acknowledgement is ``hosepipe.redis.read_stream``'s: with ``ack="auto"``, a message
    is acked once the pipeline pulls the next (at-least-once); when the run ends, the
    fetched messages the pipeline did not take, and after an error or any end that is not
    known to be complete, the one in flight, are *nak*-ed so JetStream delivers them again
    at once; a killed consumer's (and those of a fetch that ``Ctrl-C`` cut short) are
    delivered again after *ack_wait*. Since the source is
    async, even a sync run's end cannot be told from an error: the last message of a
    ``take(n)`` is delivered again. *ack_after* names the stage after which a message
    counts as done (the rule and its checks are ``read_stream``'s). ``ack="manual"``: ack
    each message yourself (``hosepipe.nats.ack``), before the stream ends.

    Exactly-once output: ``publish(..., msg_id=...)`` gives each published message a
    ``Nats-Msg-Id``, and JetStream drops a message whose id it has seen in its duplicate
    window (2 minutes by default): a message delivered again publishes nothing new.

    >>> import hosepipe as hp, hosepipe.nats
    >>> hp.nats.consume("nats://app:s3cret@127.0.0.1:4222", "orders.new", durable="billing")
    Stream(nats.consume('nats://app:***@127.0.0.1:4222', 'orders.new'))
    >>> hp.nats.consume("nats://127.0.0.1:4222", "orders.new", durable="")
    Traceback (most recent call last):
    ...
    ValueError: hosepipe.nats.consume(): `durable` must be a non-empty string, got ''
    """
    op = f"{_WHAT}.consume()"
    check_url(op, url, _SCHEMES)
    check_name(op, "subject", subject)
    check_name(op, "durable", durable)
    if stream is not None:
        check_name(op, "stream", stream)
    name = op.removesuffix("()")
    _check_int(name, "batch", batch, 1)
    _check_int(name, "block_ms", block_ms, 1)
    if not isinstance(ack_wait, int | float) or isinstance(ack_wait, bool) or ack_wait <= 0:
        raise ValueError(f"{op}: `ack_wait` must be seconds > 0, got {ack_wait!r}")
    check_max_idle(op, max_idle)
    check_ack(op, ack, max_unacked, ack_after)
    require("nats", "nats", op)
    from hosepipe._stream import Stream

    return Stream(
        _Consumer(
            url,
            subject,
            durable,
            stream,
            batch,
            block_ms,
            ack_wait,
            max_idle,
            ack,
            max_unacked,
            ack_after,
        )
    )


# -- the sink ------------------------------------------------------------------------------


class _Publisher(LoopSinkWriter):
    """One run of ``publish()``: JetStream publishes of a batch, their acks awaited."""

    def __init__(self, sink: _PublishSink, on_loop: bool = False) -> None:
        self.sink = sink
        super().__init__(sink.label, sink.batch, on_loop)

    async def connect(self) -> None:
        self.nc = await _connect(f"{_WHAT}.publish()", self.sink.url)
        self.js = self.nc.jetstream()

    def encode(self, item: Any) -> tuple[bytes, dict[str, str] | None]:
        msg_id = self.sink.msg_id
        headers = None if msg_id is None else {"Nats-Msg-Id": str(msg_id(item))}
        return to_payload(self.label, item), headers

    async def asend(self, batch: list[tuple[bytes, dict[str, str] | None]]) -> None:
        import asyncio

        import nats.errors

        subject = self.sink.subject
        try:
            await asyncio.gather(*(self.js.publish(subject, p, headers=h) for p, h in batch))
        except nats.errors.Error as e:
            raise BrokerError(f"{self.label}: publishing failed: {type(e).__name__}: {e}") from e

    async def disconnect(self) -> None:
        await self.nc.close()


class _PublishSink(Sink[Any, int]):
    def __init__(
        self, url: str, subject: str, batch: int, msg_id: Callable[[Any], object] | None
    ) -> None:
        self.url = url
        self.subject = subject
        self.batch = batch
        self.msg_id = msg_id
        self.label = f"nats.publish({hide_password(url)!r}, {subject!r})"

    def open(self) -> _Publisher:
        return _Publisher(self)

    async def aopen(self) -> _Publisher:
        """A writer on the running loop (a run on the async driver: ``SinkBase.aopen``)."""
        writer = _Publisher(self, on_loop=True)
        await writer.aconnect()
        return writer


def publish(
    url: str,
    subject: str,
    *,
    batch: int = 100,
    msg_id: Callable[[Any], object] | None = None,
) -> Sink[Any, int]:
    """A sink that publishes each item to JetStream *subject*; returns the count.

    An item is bytes, str, a dict (sent as JSON) or a ``Message`` (its data). Messages are
    published *batch* at a time and their acks awaited together, always before a broker
    source in the same run acks the messages they came from. *msg_id*, a function of the
    item, sets its ``Nats-Msg-Id`` header: JetStream stores a message only once per id
    (within the stream's duplicate window), which makes a redelivered input harmless.

    >>> import hosepipe as hp, hosepipe.nats
    >>> hp.nats.publish("nats://127.0.0.1:4222", "out", msg_id="id")
    Traceback (most recent call last):
    ...
    TypeError: hosepipe.nats.publish(): `msg_id` must be None or a function of the item, got 'id'
    """
    op = f"{_WHAT}.publish()"
    check_url(op, url, _SCHEMES)
    check_name(op, "subject", subject)
    _check_int(op.removesuffix("()"), "batch", batch, 1)
    if msg_id is not None and not callable(msg_id):
        raise TypeError(f"{op}: `msg_id` must be None or a function of the item, got {msg_id!r}")
    return _PublishSink(url, subject, batch, msg_id)
