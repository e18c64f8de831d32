"""Redis Streams: read a stream through a consumer group, write entries to a stream.

``hosepipe.redis.read_stream(url, stream, group=...)`` is a source of ``Message`` objects
read with ``XREADGROUP`` (a batch of *count* entries at a time, each fetch waiting up to
*block_ms*), acknowledged with ``XACK`` once the pipeline is done with them (see
``read_stream``); entries left pending by a consumer that died are read again: its own
(``XREADGROUP`` from id 0) when it restarts under the same *consumer* name, and any other
consumer's once idle for *claim_idle_ms* (``XAUTOCLAIM``).
``hosepipe.redis.write_stream(url, stream)`` is a sink that ``XADD``-s each item.

Like ``hp.read_sql`` and ``hp.http.paginate``, the source has an async form, chosen by a
``redis.asyncio.Redis`` as *client* or by ``async_=True``. It needs the ``redis`` extra
(``pip install 'hosepipe[redis]'``); redis-py is imported when a function is called.

Errors: ``BrokerError`` (a ``HosepipeError``) when the server cannot be reached or the
stream does not exist, naming the URL with its password hidden.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Generator, Iterator

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
    ctrl_c_held,
    ended_well,
    flush_sinks,
    flushed_at_end,
)
from hosepipe.brokers._batch import BatchWriter
from hosepipe.sinks._base import Sink
from hosepipe.sources._base import Reader
from hosepipe.sources._sql import hide_password

if TYPE_CHECKING:
    import redis as redis_py
    import redis.asyncio as aredis

    from hosepipe._stream import Stream
    from hosepipe.brokers._ack import AckMode

    # a command to run on the client (method, args, kwargs), or messages to give
    Step = tuple[str, tuple[Any, ...], dict[str, Any]] | list[Message]

__all__ = ["BrokerError", "Message", "ack", "read_stream", "write_stream"]

_WHAT = "hosepipe.redis"
_ASK_EVERY = 1.0  # seconds between two questions for the group's backlog (XINFO GROUPS)


def _client_module() -> Any:
    return require("redis", "redis", f"{_WHAT}.read_stream()")


def _check_url(op: str, url: object) -> str:
    return check_url(op, url, ("redis://", "rediss://", "unix://"))


class _Spec:
    """What ``read_stream()`` reads, checked; ``run()`` is one run's logic, without I/O."""

    def __init__(
        self,
        url: str,
        stream: str,
        group: str,
        consumer: str,
        block_ms: int,
        count: int,
        claim_idle_ms: int,
        field: str,
        create: bool,
        max_idle: float | None,
        ack: AckMode,
        max_unacked: int,
        ack_after: str | None = None,
    ) -> None:
        self.url = url
        self.shown = hide_password(url)
        self.stream = stream
        self.group = group
        self.consumer = consumer
        self.block_ms = block_ms
        self.count = count
        self.claim_idle_ms = claim_idle_ms
        self.field = field.encode()
        self.create = create
        self.max_idle = max_idle
        self.ack = ack
        self.max_unacked = max_unacked
        self.op = f"{_WHAT}.read_stream()"
        self.ack_rule = AckRule(self.op, ack, ack_after)

    def error(self, e: BaseException) -> BrokerError:
        """*e* (a redis-py error) as a BrokerError naming the URL, password hidden."""
        text = str(e)
        if "requires the key to exist" in text:
            return BrokerError(
                f"{self.op}: stream {self.stream!r} does not exist at {self.shown} "
                "(pass create=True to create it with the group)"
            )
        return BrokerError(
            f"{self.op}: Redis at {self.shown} failed: {type(e).__name__}: {hide_password(text)}"
        )

    def ack_later(self, messages: list[Message]) -> None:
        """Ack *messages* after the run's connection closed (``ack="manual"``)."""
        _client_module()
        import redis

        with redis.Redis.from_url(self.url) as client:
            client.xack(self.stream, self.group, *(m.id for m in messages))

    def messages(self, entries: list[Any], redelivered: bool, unacked: Unacked) -> list[Message]:
        field = self.field
        return [
            Message(
                fields.get(field, b""),
                entry_id.decode(),
                self.stream,
                redelivered,
                fields,
                unacked,
            )
            for entry_id, fields in entries
            if fields is not None  # an entry deleted while pending: acked below
        ]

    def run(self, unacked: Unacked, idle: Idle) -> Generator[Step, Any, None]:
        """One run: create the group, read own pending entries, claim others', read new."""
        import redis

        stream, group, consumer = self.stream, self.group, self.consumer
        try:
            yield ("xgroup_create", (stream, group), {"id": "0", "mkstream": self.create})
        except redis.ResponseError as e:
            if "BUSYGROUP" not in str(e):
                raise
        phase, cursor = "own", "0-0"  # own pending entries first (a restart after a crash)
        started = False  # the idle clock starts at the first read of new entries
        ask = 0.0  # when to ask the group's backlog next (for the stats: once a second)
        while True:
            due = unacked.due()
            if due:
                yield ("xack", (stream, group, *(m.id for m in due)), {})
            if time.monotonic() >= ask:
                ask = time.monotonic() + _ASK_EVERY
                groups = yield ("xinfo_groups", (stream,), {})
                for info in groups:
                    if info["name"] in (group, group.encode()) and info.get("lag") is not None:
                        # not yet delivered to the group, or pending but not with this run
                        unacked.left(info["lag"] + info["pending"] - unacked.holding)
            if phase == "own":
                reply = yield (
                    "xreadgroup",
                    (group, consumer, {stream: cursor}),
                    {"count": self.count},
                )
                entries = reply[0][1] if reply else []
                if not entries:
                    phase, cursor = "claim", "0-0"
                    continue
                cursor = entries[-1][0]
                redelivered = True
            elif phase == "claim":
                reply = yield (
                    "xautoclaim",
                    (stream, group, consumer, self.claim_idle_ms),
                    {"start_id": cursor, "count": self.count},
                )
                cursor, entries = reply[0], reply[1]
                if cursor in (b"0-0", "0-0"):
                    phase = "new"
                redelivered = True
            else:
                if not started:  # what came before (a slow start, pending entries) is not idle
                    started = True
                    idle.reset()
                if idle.expired():
                    return
                wait = idle.wait(self.block_ms / 1000)
                reply = yield (
                    "xreadgroup",
                    (group, consumer, {stream: ">"}),
                    {"count": self.count, "block": max(1, int(wait * 1000))},
                )
                entries = reply[0][1] if reply else []
                if not entries:  # idle: look for entries a dead consumer left
                    phase, cursor = "claim", "0-0"
                    if idle.expired():
                        return
                    continue
                redelivered = False
            gone = [entry_id for entry_id, fields in entries if fields is None]
            if gone:
                yield ("xack", (stream, group, *gone), {})
            batch = self.messages(entries, redelivered, unacked)
            if batch:
                idle.reset()
                yield batch


class _StreamReader(Backlog, Reader[Message]):
    """``read_stream()``'s sync form: each run opens a client (unless one was given)."""

    def __init__(self, spec: _Spec, client: redis_py.Redis | None) -> None:
        self.spec = spec
        self.client = client
        self.ack_rule = spec.ack_rule
        self.label = f"redis.read_stream({spec.shown!r}, {spec.stream!r})"

    def open(self, report: Callable[[BaseException], None]) -> Iterator[Message]:
        _client_module()
        import redis

        spec = self.spec
        client = self.client or redis.Redis.from_url(spec.url)
        unacked = self._unacked = Unacked(spec.op, spec.ack, spec.max_unacked, spec.count)
        steps = spec.run(unacked, Idle(spec.max_idle))
        manual = unacked.manual
        ok = False
        try:
            reply: Any = None
            error: BaseException | None = None
            while True:
                try:
                    step = steps.send(reply) if error is None else steps.throw(error)
                except StopIteration:
                    ok = True
                    return
                except redis.RedisError as e:
                    raise spec.error(e) from e
                reply = error = None
                if isinstance(step, list):
                    unacked.fetched(len(step))
                    for at, message in enumerate(step):
                        if manual:
                            unacked.deliver(message)
                        try:
                            yield message
                        except GeneratorExit as e:
                            ok = ended_well(e)
                            unacked.stopped(step, at)
                            raise
                    unacked.passed(step)
                    continue
                name, args, kwargs = step
                if name != "xack":
                    try:
                        reply = getattr(client, name)(*args, **kwargs)
                    except redis.RedisError as e:
                        error = e
                    continue
                with ctrl_c_held():  # what the sinks were given is written, then acked
                    flush_sinks()
                    try:
                        reply = client.xack(*args, **kwargs)
                    except redis.RedisError as e:
                        error = e
                    else:
                        unacked.sent()
        finally:
            steps.close()
            unacked.after_end = spec.ack_later
            try:
                due = unacked.end(ok)
                with ctrl_c_held():
                    if due and flushed_at_end():
                        client.xack(spec.stream, spec.group, *(m.id for m in due))
            finally:
                if self.client is None:
                    client.close()


class _StreamReaderAsync(Backlog):
    """``read_stream()``'s async form, an async iterable: each ``async for`` is a run."""

    def __init__(self, spec: _Spec, client: aredis.Redis | None) -> None:
        self.spec = spec
        self.client = client
        self.ack_rule = spec.ack_rule
        self.label = f"redis.read_stream({spec.shown!r}, {spec.stream!r}, async_=True)"

    def __repr__(self) -> str:
        return self.label

    async def __aiter__(self) -> AsyncIterator[Message]:
        # Twice on purpose: the sync reader's twin with awaits; both only carry out the steps
        # of the one sans-I/O ``spec.run`` (as http.paginate's two readers do).
        _client_module()
        import redis
        import redis.asyncio

        spec = self.spec
        client = self.client or redis.asyncio.Redis.from_url(spec.url)
        unacked = self._unacked = Unacked(spec.op, spec.ack, spec.max_unacked, spec.count)
        steps = spec.run(unacked, Idle(spec.max_idle))
        manual = unacked.manual
        ok = False
        try:
            reply: Any = None
            error: BaseException | None = None
            while True:
                try:
                    step = steps.send(reply) if error is None else steps.throw(error)
                except StopIteration:
                    ok = True
                    return
                except redis.RedisError as e:
                    raise spec.error(e) from e
                reply = error = None
                if isinstance(step, list):
                    unacked.fetched(len(step))
                    for at, message in enumerate(step):
                        if manual:
                            unacked.deliver(message)
                        try:
                            yield message
                        except GeneratorExit:
                            unacked.stopped(step, at)
                            raise
                    unacked.passed(step)
                    continue
                name, args, kwargs = step
                if name == "xack":
                    await aflush_sinks()
                try:
                    reply = await getattr(client, name)(*args, **kwargs)
                except redis.RedisError as e:
                    error = e
                else:
                    if name == "xack":
                        unacked.sent()
        finally:
            steps.close()
            unacked.after_end = spec.ack_later
            try:
                due = unacked.end(ok)  # an async run's end cannot tell an error from done
                if due and await aflushed_at_end():
                    await client.xack(spec.stream, spec.group, *(m.id for m in due))
            finally:
                if self.client is None:
                    await client.aclose()


def read_stream(
    url: str,
    stream: str,
    *,
    group: str,
    consumer: str = "hosepipe",
    block_ms: int = 1000,
    count: int = 100,
    claim_idle_ms: int = 60_000,
    field: str = "data",
    create: bool = False,
    max_idle: float | None = None,
    ack: AckMode = "auto",
    ack_after: str | None = None,
    max_unacked: int = 10_000,
    client: redis_py.Redis | aredis.Redis | None = None,
    async_: bool = False,
) -> Stream[Message]:
    """A stream of the entries of Redis stream *stream*, read by consumer group *group*.

    Each item is a ``Message``: *data* is the entry's *field* (``b""`` if it has none),
    *meta* all its fields (as redis-py gives them: bytes to bytes), *id* the entry id.
    The group is created (from the stream's start) if it does not exist; *create* also
    creates a missing stream, which is otherwise a ``BrokerError``. Entries are fetched
    *count* at a time (``XREADGROUP``, waiting up to *block_ms* for new ones): the next
    batch is asked for only when the pipeline has taken the last, so at most *count*
    messages are unacked at any time. The feed never ends by itself, unless *max_idle*
    seconds pass without a message.

    Acknowledgement, ``ack="auto"`` (at-least-once): a message is acked (``XACK``, in
    batches) once the pipeline pulls the message after it, that is after the sink took it
    (or ``catch`` dead-lettered it, or a filter dropped it), with a chain of plain stages;
    the broker sinks (``write_stream``, ...) are flushed before. A sync run ended by
    ``take(n)`` or by its terminal acks the last message too; after an error, ``Ctrl-C``,
    a ``break`` or the end of an async run, that message stays pending and is read again.
    A consumer that is killed leaves its pending entries to its next start (same
    *consumer*), or to another consumer once they are *claim_idle_ms* old (``XAUTOCLAIM``).
    *ack_after* names the stage after which a message counts as done instead of the sink:
    its label as the stats table shows it (``"map(store)"``) or an ``observe(name)``'s
    name; stages after it may then hold messages (``batch``, ``buffer``, concurrent
    ``map``), which are acked once through that stage. A stage that holds messages before
    the ack point (the sink, or the *ack_after* stage, included) is refused when the run
    starts (auto mode would ack what it holds): for such pipelines use ``ack="manual"`` and
    ack each message (``hosepipe.redis.ack``) after writing it; more than *max_unacked*
    messages delivered and not acked is then an error.

    >>> import hosepipe as hp, hosepipe.redis
    >>> hp.redis.read_stream("redis://:s3cret@127.0.0.1:6379/0", "events", group="g")
    Stream(redis.read_stream('redis://:***@127.0.0.1:6379/0', 'events'))
    >>> hp.redis.read_stream("http://127.0.0.1", "events", group="g")
    Traceback (most recent call last):
    ...
    ValueError: hosepipe.redis.read_stream(): `url` must be a redis://, rediss:// or unix:// URL,
    got 'http://127.0.0.1'
    """
    op = f"{_WHAT}.read_stream()"
    _check_url(op, url)
    check_name(op, "stream", stream)
    check_name(op, "group", group)
    check_name(op, "consumer", consumer)
    check_name(op, "field", field)
    name = op.removesuffix("()")
    _check_int(name, "block_ms", block_ms, 1)
    _check_int(name, "count", count, 1)
    _check_int(name, "claim_idle_ms", claim_idle_ms, 0)
    check_max_idle(op, max_idle)
    check_ack(op, ack, max_unacked, ack_after)
    if not isinstance(async_, bool):
        raise TypeError(f"{op}: `async_` must be a bool, got {async_!r}")
    _client_module()
    import redis
    import redis.asyncio

    from hosepipe._stream import Stream

    if client is not None and not isinstance(client, redis.Redis | redis.asyncio.Redis):
        raise TypeError(
            f"{op}: `client` must be None, a redis.Redis or a redis.asyncio.Redis, "
            f"got {client!r} ({type(client).__name__})"
        )
    if async_ and isinstance(client, redis.Redis):
        raise ValueError(f"{op}: `async_=True` needs a redis.asyncio.Redis or no `client`")
    spec = _Spec(
        url,
        stream,
        group,
        consumer,
        block_ms,
        count,
        claim_idle_ms,
        field,
        create,
        max_idle,
        ack,
        max_unacked,
        ack_after,
    )
    if async_ or isinstance(client, redis.asyncio.Redis):
        return Stream(_StreamReaderAsync(spec, client))  # type: ignore[arg-type]
    return Stream(_StreamReader(spec, client))


# -- the sink ------------------------------------------------------------------------------


class _StreamWriter(BatchWriter):
    """One run of ``write_stream()``: XADD in pipelined batches, flushed before any ack."""

    def __init__(self, sink: _StreamSink) -> None:
        _client_module()
        import redis

        self.sink = sink
        self.client = redis.Redis.from_url(sink.url)
        super().__init__(sink.label, sink.batch)

    def write(self, item: Any) -> None:
        buffer = self.buffer  # (BatchWriter.write, with bytes, the usual item, inline)
        buffer.append((self.sink.field, item) if type(item) is bytes else self.encode(item))
        if len(buffer) >= self.batch:
            self.flush()

    def encode(self, item: Any) -> tuple[Any, ...]:
        """*item* as the field-value pairs of its entry, flat (``XADD``'s arguments)."""
        field = self.sink.field
        if isinstance(item, bytes):
            return (field, item)
        if isinstance(item, Message):
            return (field, item.data)
        if isinstance(item, str | int | float) and not isinstance(item, bool):
            return (field, item)
        if isinstance(item, dict):  # a dead letter's dict has None values: left out
            pairs = tuple(x for k, v in item.items() if v is not None for x in (k, _field(v)))
            if not pairs:
                raise ValueError(f"{self.label}: an entry needs a field, got {item!r}")
            return pairs
        raise TypeError(
            f"{self.label}: an item must be bytes, str, a number, a dict of fields or a "
            f"Message, got {item!r} ({type(item).__name__})"
        )

    def send(self, batch: list[Any]) -> None:
        import redis

        stream, maxlen = self.sink.stream, self.sink.maxlen
        # XADD through execute_command: the command xadd() builds, without its argument
        # checks per entry (the pairs are made by encode)
        head = (
            ("XADD", stream, "*")
            if maxlen is None
            else ("XADD", stream, "MAXLEN", "~", maxlen, "*")
        )
        try:
            with self.client.pipeline(transaction=False) as pipe:
                command: Any = pipe.execute_command
                for fields in batch:
                    command(*head, *fields)
                pipe.execute()
        except redis.RedisError as e:
            raise BrokerError(
                f"{self.label}: Redis failed: {type(e).__name__}: {hide_password(str(e))}"
            ) from e

    def close_client(self) -> None:
        self.client.close()


def _field(value: Any) -> Any:
    """A field value as Redis takes it: bytes, str and numbers as they are, others as str."""
    if isinstance(value, bytes | str | int | float) and not isinstance(value, bool):
        return value
    return str(value)


class _StreamSink(Sink[Any, int]):
    def __init__(self, url: str, stream: str, field: str, maxlen: int | None, batch: int) -> None:
        self.url = url
        self.stream = stream
        self.field = field
        self.maxlen = maxlen
        self.batch = batch
        self.label = f"redis.write_stream({hide_password(url)!r}, {stream!r})"

    def open(self) -> _StreamWriter:
        return _StreamWriter(self)


def write_stream(
    url: str, stream: str, *, field: str = "data", maxlen: int | None = None, batch: int = 100
) -> Sink[Any, int]:
    """A sink that adds each item to Redis stream *stream* (``XADD``); returns the count.

    An item is bytes, str or a number (written as the entry's *field*), a dict (the
    entry's fields) or a ``Message`` (its data). Entries are sent *batch* at a time in one
    round trip, and always before a broker source in the same run acks the messages they
    came from. *maxlen* trims the stream to about that many entries.

    >>> import hosepipe as hp, hosepipe.redis
    >>> hp.redis.write_stream("redis://127.0.0.1:6379", "out", batch=0)
    Traceback (most recent call last):
    ...
    ValueError: hosepipe.redis.write_stream(): `batch` must be >= 1, got 0
    """
    op = f"{_WHAT}.write_stream()"
    _check_url(op, url)
    check_name(op, "stream", stream)
    check_name(op, "field", field)
    _check_int(op.removesuffix("()"), "batch", batch, 1)
    if maxlen is not None:
        _check_int(op.removesuffix("()"), "maxlen", maxlen, 1)
    return _StreamSink(url, stream, field, maxlen, batch)
