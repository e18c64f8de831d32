"""When a broker source acknowledges a message: written once, used by every broker.

A broker source delivers messages one at a time and keeps, per run, an ``Unacked`` record
of those not yet acknowledged. It does no I/O: the source asks it which messages to ack
now and sends those acks in one call to the broker, before each fetch, when the feed is
idle, and when the run ends.

The rule (``ack="auto"``, the default) is the *pull-past* watermark: a message is done when
the pipeline pulls the next one. In a chain of plain stages (map, filter, tap, catch, ...),
the driver only pulls again once the message before has gone all the way: written by the
sink, dropped by a filter, or skipped by ``catch`` after its dead letter was written. So a
killed consumer leaves at most the message in flight (and what a sink has not yet made
durable, see below) unacked, and the broker delivers it again: at-least-once. When the run
ends, the message in flight is acked only if the run is known to have ended well (a sync
run stopped by ``take(n)`` or its terminal finishing); after an error, ``Ctrl-C``, a
``break`` or any end of an async run it goes back to the broker.

``ack_after="<stage>"`` moves the point where a message counts as done from the sink to
that stage (named by its label as the stats table shows it, ``"map(store)"``, or by an
``observe(name)``'s name). *Pull-past* still decides, so it is right only if no stage up to
the ack point holds messages (``batch``, ``window``, ``group_by``, ``buffer``,
``batch(timeout=)``, a concurrent ``map``/``flat_map``): those would let the source be
pulled while a message waits in them. Stages after the ack point may hold them. Before each
run the source checks its stages (``AckRule``, asked through ``_ends.check_stages``) and
refuses a run that breaks this, naming the stage; the sink is the ack point when
*ack_after* is None, so with ``ack="auto"`` a holding stage anywhere is refused.

``ack="manual"``: nothing is acked until the user calls ``Message.ack()`` (or
``hosepipe.<broker>.ack(messages)``), for pipelines that hold messages before the point
where they are done.

Sinks that buffer their writes register a *flush* with ``before_ack`` (``hosepipe._ends``):
the source flushes every sink open in its thread before it sends acks, so a message is
never acked before what it produced is in the target. ``to()`` registers the ``flush()``
of every sink writer that has one: the broker sinks publish their batch, ``to_sql``
commits, a file sink writes what it holds to its temporary file (which an abort then
keeps: the final file appears only when the run ends well).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from hosepipe import _nodes
from hosepipe._ends import aflush_sinks, before_ack, flush_sinks
from hosepipe._errors import HosepipeError
from hosepipe._typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any, Literal

    from hosepipe._channel import ChannelStats

    AckMode = Literal["auto", "manual"]

__all__ = [
    "AckRule",
    "Backlog",
    "BrokerError",
    "Idle",
    "Message",
    "Unacked",
    "ack",
    "aflush_sinks",
    "aflushed_at_end",
    "before_ack",
    "check_ack",
    "check_max_idle",
    "cancel_requested",
    "ctrl_c_held",
    "sigint_held",
    "ended_well",
    "flush_sinks",
    "flushed_at_end",
]


class BrokerError(HosepipeError):
    """A broker could not be reached, or a stream, subject or queue is missing.

    The message names the URL with its password hidden.

    >>> import hosepipe as hp
    >>> issubclass(BrokerError, hp.HosepipeError)
    True
    """


class Message:
    """One message of a broker feed: its payload, its id and where it came from.

    *data* is the payload (bytes), *id* the broker's id for it (a Redis entry id, a NATS
    stream sequence, an AMQP delivery tag), *source* the stream, subject or queue it was
    read from, *redelivered* whether the broker delivered it before, and *meta* a dict of
    the broker's other fields (a Redis entry's fields, NATS or AMQP headers). ``ack()``
    acknowledges it when the source reads with ``ack="manual"``.

    >>> m = Message(b'{"n": 1}', "1-0", "events", False, {})
    >>> m
    Message(id='1-0', source='events', data=b'{"n": 1}')
    >>> import json
    >>> json.loads(m.data)
    {'n': 1}
    """

    __slots__ = ("_unacked", "data", "id", "meta", "raw", "redelivered", "source")

    def __init__(
        self,
        data: bytes,
        id: str,
        source: str,
        redelivered: bool,
        meta: dict[str, Any],
        unacked: Unacked | None = None,
        raw: Any = None,
    ) -> None:
        self.raw = raw  # the broker client's own message object (NATS, AMQP), or None
        self.data = data
        self.id = id
        self.source = source
        self.redelivered = redelivered
        self.meta = meta
        self._unacked = unacked

    def ack(self) -> None:
        """Acknowledge this message (``ack="manual"``): sent with the source's next acks."""
        if self._unacked is None:
            raise HosepipeError(f"{self!r} does not belong to a running broker source")
        self._unacked.done(self)

    def __repr__(self) -> str:
        return f"Message(id={self.id!r}, source={self.source!r}, data={self.data[:60]!r})"


def ack(messages: Message | list[Message] | tuple[Message, ...]) -> None:
    """Acknowledge a message, or each message of a batch (``ack="manual"``): a ``tap``.

    >>> ack(Message(b"x", "1-0", "events", False, {}))
    Traceback (most recent call last):
    ...
    hosepipe.HosepipeError: Message(id='1-0', ...) does not belong to a running broker source
    """
    if isinstance(messages, Message):
        messages.ack()
        return
    for m in messages:
        if not isinstance(m, Message):
            raise TypeError(f"ack(): expected broker messages, got {m!r} ({type(m).__name__})")
        m.ack()


class Unacked:
    """One run's delivered-but-unacked messages and the acks due (no I/O).

    A source gives the pipeline a batch of messages, one at a time. In auto mode it tells
    this record only about whole batches (``passed``: the pipeline pulled past the last
    of them) or, when the run is closed while it waits at message *i*, ``stopped(batch,
    i)``: the messages before *i* were passed, *i* is in flight. In manual mode every
    message is counted as it is given (``deliver``) and acked by the user (``done``).

    >>> u = Unacked("demo()", "auto", 10)
    >>> batch = [Message(b"", str(i), "s", False, {}, u) for i in range(3)]
    >>> u.stopped(batch, 1)  # closed while the pipeline held message 1
    >>> [m.id for m in u.due()], u.in_flight
    (['0'], Message(id='1', source='s', data=b''))
    >>> u.sent()  # the source has sent the ack of 0
    >>> [m.id for m in u.end(ok=False)]  # 1 may not have reached the sink: not acked
    []
    >>> v = Unacked("demo()", "auto", 10)
    >>> v.passed([Message(b"", "7", "s", False, {}, v)])
    >>> [m.id for m in v.due()]  # its ack was cut short (no sent()): the end sends it
    ['7']
    >>> [m.id for m in v.end(ok=False)]
    ['7']
    """

    __slots__ = (
        "_acked",
        "_due",
        "_fetched",
        "_held",
        "_left",
        "_lock",
        "_out",
        "_peak",
        "_sending",
        "after_end",
        "capacity",
        "ended",
        "limit",
        "manual",
        "op",
    )

    def __init__(self, op: str, mode: AckMode, limit: int, capacity: int = 0) -> None:
        self.op = op
        self.capacity = capacity  # the fetch size or prefetch window, for backlog()
        self._fetched = self._acked = self._peak = 0
        # the broker's backlog when last asked, and the acks sent by then (see left())
        self._left: tuple[int, int] | None = None
        self.manual = mode == "manual"
        self.limit = limit
        self._held: Message | None = None  # auto: the message in flight when closed
        self._out: dict[int, Message] = {}  # manual: delivered, not yet acked by the user
        self._due: list[Message] = []  # acks to send
        # acks taken by due() and not yet known to be sent (sent()): a run interrupted
        # between the two (Ctrl-C while the sinks flush) sends them at its end
        self._sending: list[Message] = []
        self._lock = threading.Lock()  # manual acks may come from another thread
        self.ended = False
        # how a broker acks a manual message acked after its feed ended (a stage after the
        # source still held it: the last short batch); None when the broker cannot
        self.after_end: Callable[[list[Message]], None] | None = None

    def fetched(self, n: int) -> None:
        """The broker delivered *n* more messages to this run."""
        self._fetched += n
        self._peak = max(self._peak, self._depth())

    def left(self, waiting: int, holding: int | None = None) -> None:
        """The broker says *waiting* messages are not yet delivered (a stream's lag, a
        consumer's pending count, a queue's ready messages): with the ones this run holds
        unacked (*holding*, as it was when the broker was asked; now by default), that is
        the backlog, which each ack sent from now on makes one smaller."""
        acked = self._acked
        held = self._fetched - acked if holding is None else holding
        self._left = (max(0, waiting) + held, acked)
        self._peak = max(self._peak, self._depth())

    def _depth(self) -> int:
        left, acked = self._left, self._acked
        if left is None:  # the broker was not asked: what this run holds
            return self._fetched - acked
        return max(0, left[0] - (acked - left[1]), self._fetched - acked)

    def backlog(self) -> ChannelStats:
        """The broker's backlog as a queue's statistics: *depth*, the messages not yet
        acked (waiting in the broker, as it last said, and delivered to this run), its
        *peak*, *capacity* (the fetch size or prefetch), *sent* (delivered to this run)
        and *received* (acked).

        >>> u = Unacked("demo()", "auto", 10, capacity=5)
        >>> u.left(100)  # the broker holds 100 for us
        >>> u.fetched(5); u.backlog().depth  # delivered, not acked: still to do
        100
        >>> u.passed([Message(b"", str(i), "s", False, {}) for i in range(5)])
        >>> _ = u.due(); u.backlog()  # their acks went out
        ChannelStats(depth=95/5, peak=100, sent=5, received=5, send_wait=0.000000)
        """
        from hosepipe._channel import ChannelStats

        fetched, acked = self._fetched, self._acked
        return ChannelStats(self.capacity, self._depth(), self._peak, fetched, acked, 0.0)

    @property
    def holding(self) -> int:
        """Messages delivered to this run whose acks were not sent."""
        return self._fetched - self._acked

    @property
    def due_count(self) -> int:
        """How many acks are due (``due()`` would return that many)."""
        return len(self._due)

    @property
    def in_flight(self) -> Message | None:
        """The message the pipeline held when the run was closed (auto mode), if any."""
        return self._held

    def passed(self, messages: list[Message]) -> None:
        """Auto mode: the pipeline pulled past each of *messages* (the whole batch)."""
        if not self.manual:
            self._due.extend(messages)

    def stopped(self, messages: list[Message], at: int) -> None:
        """Auto mode: the run was closed while the pipeline held ``messages[at]``."""
        if not self.manual:
            self._due.extend(messages[:at])
            self._held = messages[at]

    def deliver(self, message: Message) -> None:
        """Manual mode: *message* is about to be given to the pipeline."""
        with self._lock:
            if len(self._out) >= self.limit:
                raise HosepipeError(
                    f"{self.op}: {len(self._out)} messages were delivered and not acked "
                    f"(`max_unacked`={self.limit}) with ack='manual': ack them with "
                    "Message.ack() after the sink took them, or raise `max_unacked`"
                )
            self._out[id(message)] = message

    def done(self, message: Message) -> None:
        """The user acked *message*: due with the next acks (manual mode; else ignored)."""
        if not self.manual:
            return
        with self._lock:
            if self._out.pop(id(message), None) is None:
                return
            if not self.ended:
                self._due.append(message)
                return
        if self.after_end is None:
            raise HosepipeError(
                f"{self.op}: {message!r} was acked after its feed ended: it goes back to "
                "the broker (ack messages before the stream ends)"
            )
        self.after_end([message])

    def due(self) -> list[Message]:
        """The messages to ack now, in delivery order; the source says ``sent()`` once it
        has sent their acks (until then ``end`` gives them again)."""
        with self._lock:
            due, self._due = self._due, []
            self._acked += len(due)
            self._sending += due
        return due

    def sent(self) -> None:
        """The acks of the messages ``due()`` gave have gone out."""
        with self._lock:
            self._sending = []

    def end(self, ok: bool) -> list[Message]:
        """The run ends: the acks to send last (the one in flight too when *ok*)."""
        held = self._held
        if ok and held is not None:
            self._due.append(held)
            self._held = None
        self.ended = True
        if held is not None:
            held._unacked = None
        with self._lock:
            unsent, self._sending = self._sending, []
        return [*unsent, *self.due()]


class Backlog:
    """Mixed into a broker source: ``backlog()`` is its latest run's unacked messages,
    which the driver shows as the source row's queue in ``RunStats`` (and Prometheus);
    ``_check_stages`` refuses a run whose stages break its ``ack_rule`` (``AckRule``)."""

    _unacked: Unacked | None = None
    ack_rule: AckRule

    def _check_stages(self, stages: tuple[Any, ...]) -> None:
        self.ack_rule.check(stages)

    def backlog(self) -> ChannelStats:
        from hosepipe._channel import ChannelStats

        unacked = self._unacked
        return ChannelStats(0, 0, 0, 0, 0, 0.0) if unacked is None else unacked.backlog()


def ended_well(exit: GeneratorExit) -> bool:
    """Whether a sync source closed with *exit* was closed by a run that ended well.

    The sync driver closes the source from the code that ends the run; when that code is
    handling an error (the sink raised, ``Ctrl-C``, a ``break`` closing the outer
    iterator), the ``GeneratorExit`` is raised in its context. No context: the run ended
    because it was done (``take(n)``, ``first()``). A wrong guess only ever redelivers.
    """
    return exit.__context__ is None


# -- sinks that must flush before a source acks (the registry is _ends') ---------------------


def cancel_requested() -> bool:
    """Whether the running task was asked to cancel and has not been let off: a
    cancellation that a client swallowed (``asyncio.wait_for`` returns its result when it
    completes as the cancellation comes, on Python 3.11) must still stop the source.

    >>> import asyncio
    >>> async def swallowed() -> bool:
    ...     asyncio.current_task().cancel()
    ...     try:
    ...         await asyncio.sleep(1)
    ...     except asyncio.CancelledError:
    ...         pass  # as a client that swallows it would
    ...     return cancel_requested()
    >>> asyncio.run(swallowed())
    True
    """
    import asyncio

    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


@contextmanager
def sigint_held() -> Iterator[list[int]]:
    """Hold a Ctrl-C (SIGINT, main thread only) while the block runs: yields the list the
    held signals are added to, for the caller to act on once the block is done."""
    import signal

    held: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield held
        return
    before = signal.signal(signal.SIGINT, lambda signum, frame: held.append(signum))
    try:
        yield held
    finally:
        signal.signal(signal.SIGINT, signal.SIG_DFL if before is None else before)


@contextmanager
def ctrl_c_held() -> Iterator[None]:
    """Hold a Ctrl-C until the block is done, then raise it (``sigint_held``).

    A sync source wraps "flush the sinks, then send the acks" in it: a ``KeyboardInterrupt``
    between the two (or inside the ack's reply) would leave messages written but not
    acked, so the broker would deliver them again after a restart.
    """
    with sigint_held() as held:
        yield
    if held:
        raise KeyboardInterrupt


def flushed_at_end() -> bool:
    """Flush the sinks as a source's run ends: False (send no acks) if one fails. The sink
    reports its own failure (its ``write`` or ``commit`` raises it)."""
    try:
        flush_sinks()
    except Exception:
        return False
    return True


async def aflushed_at_end() -> bool:
    """``flushed_at_end`` for an async source (``aflush_sinks``)."""
    try:
        await aflush_sinks()
    except Exception:
        return False
    return True


# -- validation and the idle clock ---------------------------------------------------------


def check_ack(op: str, ack: object, max_unacked: object, ack_after: object = None) -> None:
    if ack not in ("auto", "manual"):
        raise ValueError(f"{op}: `ack` must be 'auto' or 'manual', got {ack!r}")
    if isinstance(max_unacked, bool) or not isinstance(max_unacked, int) or max_unacked < 1:
        raise ValueError(f"{op}: `max_unacked` must be an int >= 1, got {max_unacked!r}")
    if ack_after is not None and (not isinstance(ack_after, str) or not ack_after):
        raise ValueError(
            f"{op}: `ack_after` must be None or a stage's label or observe name "
            f"(as in the stats table, e.g. 'map(store)'), got {ack_after!r}"
        )
    if ack_after is not None and ack == "manual":
        raise ValueError(
            f"{op}: `ack_after` applies to ack='auto' only; with ack='manual' ack each "
            f"message yourself (got ack_after={ack_after!r})"
        )


# what holds messages between the stage before it and the stage after (reads ahead): the
# pull-past rule does not hold across them
_HOLDING = (
    _nodes.Batch,
    _nodes.TimedBatch,
    _nodes.Window,
    _nodes.GroupBy,
    _nodes.Buffer,
    _nodes.ConcurrentMap,
)


class AckRule:
    """When a broker source's run acks (``ack=``, ``ack_after=``), checked against the
    stages it feeds before each run.

    With ``ack="auto"`` a message is acked once the pipeline pulls the next one (*pull-
    past*). That means "done at the ack point" only if no stage from the source up to
    the ack point holds messages (``batch``, ``window``, ``group_by``, ``buffer``,
    ``batch(timeout=)``, a concurrent ``map``/``flat_map``): the ack point is the stage
    that *ack_after* names (its label as the stats table shows it, ``"map(store)"``, or an
    ``observe(name)``'s name), or the sink when it is None. Stages after the ack point may
    hold messages: those messages are already done. A run whose stages break the rule is
    refused before it reads anything.

    >>> import hosepipe as hp
    >>> stages = (hp.map(str) | hp.observe("stored") | hp.batch(10))._stages
    >>> AckRule("demo()", "auto", "stored").check(stages)  # batch after the ack point: ok
    >>> AckRule("demo()", "auto", None).check(stages)
    Traceback (most recent call last):
    ...
    hosepipe.HosepipeError: demo(): batch(10) (stage 3) holds messages between the source and
    the sink, so ack='auto' would ack them before the sink took them: pass `ack_after=` the
    stage after which a message counts as done (one before batch(10)), or use ack='manual'
    and ack each message after writing it
    >>> AckRule("demo()", "auto", "map(repr)").check(stages)
    Traceback (most recent call last):
    ...
    hosepipe.HosepipeError: demo(): `ack_after`='map(repr)' names no stage of this stream;
    its stages: ['map(str)', "observe('stored')", 'batch(10)']
    """

    __slots__ = ("after", "mode", "op")

    def __init__(self, op: str, mode: AckMode, after: str | None) -> None:
        self.op = op
        self.mode = mode
        self.after = after

    def check(self, stages: tuple[Any, ...]) -> None:
        """Raise ``HosepipeError`` if acking by this rule could ack a message before the
        ack point took it."""
        if self.mode == "manual":
            return
        after, op = self.after, self.op
        end = len(stages)
        if after is not None:
            names = (after, f"observe({after!r})")
            named = [p for p, n in enumerate(stages, 1) if n.label in names]
            if not named:
                labels = [n.label for n in stages]
                raise HosepipeError(
                    f"{op}: `ack_after`={after!r} names no stage of this stream; "
                    f"its stages: {labels}"
                )
            end = named[0]
        for position, node in enumerate(stages[:end], 1):
            if not isinstance(node, _HOLDING):
                continue
            if after is None:
                raise HosepipeError(
                    f"{op}: {node.label} (stage {position}) holds messages between the "
                    "source and the sink, so ack='auto' would ack them before the sink took "
                    "them: pass `ack_after=` the stage after which a message counts as done "
                    f"(one before {node.label}), or use ack='manual' and ack each message "
                    "after writing it"
                )
            where = "is" if position == end else "is before"
            raise HosepipeError(
                f"{op}: `ack_after`={after!r}: {node.label} (stage {position}) {where} that "
                "stage and holds messages, so ack='auto' would ack them before that stage "
                f"took them: name a stage before {node.label}, or use ack='manual'"
            )


def check_max_idle(op: str, max_idle: object) -> None:
    ok = isinstance(max_idle, int | float) and not isinstance(max_idle, bool) and max_idle > 0
    if not (max_idle is None or ok):
        raise ValueError(f"{op}: `max_idle` must be None or seconds > 0, got {max_idle!r}")


class Idle:
    """How long a feed may stay without messages (*max_idle* seconds, or forever)."""

    __slots__ = ("deadline", "max_idle")

    def __init__(self, max_idle: float | None) -> None:
        self.max_idle = max_idle
        self.deadline = 0.0
        self.reset()

    def reset(self) -> None:
        if self.max_idle is not None:
            self.deadline = time.monotonic() + self.max_idle

    def wait(self, block: float) -> float:
        """Seconds the next fetch may wait: *block*, less when the idle time is nearly up."""
        if self.max_idle is None:
            return block
        return max(0.0, min(block, self.deadline - time.monotonic()))

    def expired(self) -> bool:
        return self.max_idle is not None and time.monotonic() >= self.deadline


def check_url(op: str, url: object, schemes: tuple[str, ...]) -> str:
    """*url* if it is a str starting with one of *schemes* (``"redis://"``, ...)."""
    if not isinstance(url, str) or not url.startswith(schemes):
        from hosepipe.sources._sql import hide_password

        shown = hide_password(url) if isinstance(url, str) else url
        names = ", ".join(schemes[:-1]) + f" or {schemes[-1]}" if len(schemes) > 1 else schemes[0]
        raise ValueError(f"{op}: `url` must be a {names} URL, got {shown!r}")
    return url


def check_name(op: str, param: str, value: object) -> None:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{op}: `{param}` must be a non-empty string, got {value!r}")


def to_payload(label: str, item: object) -> bytes:
    """What a broker sink publishes for *item*: bytes, str (UTF-8), a number (as text), a
    Message's data, or a dict as JSON (a dead letter's ``to_dict()``)."""
    if isinstance(item, bytes):
        return item
    if isinstance(item, str):
        return item.encode()
    if isinstance(item, int | float) and not isinstance(item, bool):
        return str(item).encode()
    if isinstance(item, Message):
        return item.data
    if isinstance(item, dict):
        import json

        return json.dumps(item, default=repr).encode()
    raise TypeError(
        f"{label}: an item must be bytes, str, a number, a dict (sent as JSON) or a Message, "
        f"got {item!r} ({type(item).__name__})"
    )
