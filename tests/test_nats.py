"""hosepipe.nats against the NATS server (JetStream) on 127.0.0.1:4222 (skipped without
it, unless CI). Each test has a JetStream stream of its own, deleted at the end."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

import hosepipe as hp
import hosepipe.nats
import hosepipe.redis
from _brokers import (
    ack_after_script,
    kill_when,
    need_server,
    run_async,
    run_to_end,
    stored_lines,
    unique,
)
from hosepipe.testing import assert_no_leaks

nats = pytest.importorskip("nats")

URL = "nats://127.0.0.1:4222"


class JS:
    """A JetStream stream for one test, on subjects ``<name>.>``, with a few helpers."""

    def __init__(self) -> None:
        self.name = unique("s").replace("-", "_")
        self.run(self._add())

    def run(self, coro):  # type: ignore[no-untyped-def]
        return run_async(coro)

    async def _conn(self):  # type: ignore[no-untyped-def]
        return await nats.connect(URL, allow_reconnect=False, connect_timeout=2)

    async def _add(self) -> None:
        nc = await self._conn()
        await nc.jetstream().add_stream(name=self.name, subjects=[f"{self.name}.>"])
        await nc.close()

    def subject(self, part: str) -> str:
        return f"{self.name}.{part}"

    def fill(self, part: str, payloads: list[bytes]) -> str:
        async def go() -> None:
            nc = await self._conn()
            js = nc.jetstream()
            await asyncio.gather(*(js.publish(self.subject(part), p) for p in payloads))
            await nc.close()

        self.run(go())
        return self.subject(part)

    def ack_pending(self, durable: str) -> int:
        async def go() -> int:
            nc = await self._conn()
            info = await nc.jetstream().consumer_info(self.name, durable)
            await nc.close()
            return int(info.num_ack_pending)

        return int(self.run(go()))

    def count(self, part: str) -> int:
        async def go() -> int:
            nc = await self._conn()
            info = await nc.jetstream().stream_info(self.name, subjects_filter=self.subject(part))
            await nc.close()
            return int((info.state.subjects or {}).get(self.subject(part), 0))

        return int(self.run(go()))

    def delete(self) -> None:
        async def go() -> None:
            nc = await self._conn()
            await nc.jetstream().delete_stream(self.name)
            await nc.close()

        self.run(go())


@pytest.fixture
def js() -> Iterator[JS]:
    async def ping() -> None:
        nc = await nats.connect(URL, allow_reconnect=False, connect_timeout=2)
        await nc.jetstream().account_info()
        await nc.close()

    need_server("NATS JetStream server", lambda: asyncio.run(ping()))
    stream = JS()
    yield stream
    stream.delete()


def numbers(n: int) -> list[bytes]:
    return [str(i).encode() for i in range(n)]


def test_source_map_sink_delivers_every_message_and_acks_it(js: JS) -> None:
    subject = js.fill("in", numbers(250))
    feed = hp.nats.consume(URL, subject, durable="d", batch=30, max_idle=0.3)
    out = hp.nats.publish(URL, js.subject("out"), batch=7)
    assert feed.map(lambda m: int(m.data) * 2).to(out) == 250
    assert js.count("out") == 250
    assert js.ack_pending("d") == 0
    check = hp.nats.consume(URL, js.subject("out"), durable="check", max_idle=0.3)
    assert check.map(lambda m: int(m.data)).to_list() == [2 * i for i in range(250)]
    assert hp.nats.consume(URL, subject, durable="d", max_idle=0.2).to_list() == []


def test_messages_carry_payload_sequence_subject(js: JS) -> None:
    subject = js.fill("in", [b"\x00a", b"b"])
    got = hp.nats.consume(URL, subject, durable="d", max_idle=0.2).to_list()
    assert [(m.data, m.id, m.source, m.redelivered) for m in got] == [
        (b"\x00a", "1", subject, False),
        (b"b", "2", subject, False),
    ]


def test_async_iteration(js: JS) -> None:
    subject = js.fill("in", numbers(40))

    async def main() -> list[int]:
        feed = hp.nats.consume(URL, subject, durable="d", batch=8, max_idle=0.3)
        async with feed.map(lambda m: int(m.data)).aiterate() as it:
            return [n async for n in it]

    assert asyncio.run(main()) == list(range(40))
    assert js.ack_pending("d") == 0


def test_killed_consumer_restarted_publishes_every_message_exactly_once(
    js: JS, tmp_path: Path
) -> None:
    """SIGKILL mid-batch, restart: the unacked batch is delivered again after ack_wait, and
    the sink's Nats-Msg-Id (the input's sequence) makes JetStream drop the doubles."""
    n, batch = 300, 20
    subject = js.fill("in", numbers(n))
    script = (
        "import json, sys, time, hosepipe as hp, hosepipe.nats\n"
        "url, subject, out = sys.argv[1:4]\n"
        "def work(m):\n"
        "    time.sleep(0.005)\n"
        "    return {'id': m.id, 'n': int(m.data)}\n"
        f"feed = hp.nats.consume(url, subject, durable='d', batch={batch}, ack_wait=1,"
        " max_idle=2.5)\n"
        "feed.map(work).to(hp.nats.publish(url, out, batch=10, msg_id=lambda d: d['id']))\n"
    )
    args = [URL, subject, js.subject("out")]
    kill_when(script, args, tmp_path, lambda: js.count("out") >= 80)
    assert js.ack_pending("d") <= batch  # at most the batch in flight
    assert js.count("out") < n
    run_to_end(script, args, tmp_path)
    check = hp.nats.consume(URL, js.subject("out"), durable="check", max_idle=0.5)
    got = [json.loads(m.data)["n"] for m in check.to_list()]
    assert sorted(got) == list(range(n))  # every one, once
    assert js.ack_pending("d") == 0


def test_slow_sink_keeps_unacked_messages_bounded_by_batch(js: JS) -> None:
    subject, seen, depths = js.fill("in", numbers(60)), [], []

    def sink(m: hp.nats.Message) -> None:
        seen.append(js.ack_pending("d"))
        depths.append(feed.stats().stages[0].queue.depth)  # type: ignore[union-attr]

    feed = hp.nats.consume(URL, subject, durable="d", batch=12, max_idle=0.3).tap(sink)
    backlog = feed.run().stages[0].queue
    assert backlog is not None
    assert (backlog.depth, backlog.peak, backlog.capacity) == (0, 60, 12)
    assert backlog.sent == backlog.received == 60
    assert len(seen) == 60
    assert max(seen) <= 12
    assert js.ack_pending("d") == 0
    # the live depth is the consumer's backlog: all 60 at first, less each batch acked
    assert depths == [60 - 12 * (i // 12) for i in range(60)]


def test_bad_messages_go_to_a_dead_letter_subject_and_are_acked(js: JS) -> None:
    subject = js.fill("in", [b"1", b"x", b"3"])
    good = (
        hp.nats.consume(URL, subject, durable="d", max_idle=0.3)
        .map(lambda m: int(m.data))
        .catch(ValueError, dead_letter=hp.nats.publish(URL, js.subject("dead")))
        .to_list()
    )
    assert good == [1, 3]
    check = hp.nats.consume(URL, js.subject("dead"), durable="check", max_idle=0.3)
    [letter] = [json.loads(m.data) for m in check.to_list()]
    assert letter["stage"] == "map(<lambda>)"
    assert letter["error"] == "ValueError: invalid literal for int() with base 10: b'x'"
    assert js.ack_pending("d") == 0


def test_a_cancellation_swallowed_mid_run_still_stops_the_feed(js: JS) -> None:
    """A cancellation that something swallows (as ``asyncio.wait_for`` may, inside the
    client's fetch) still stops the source at its next fetch: that batch is nak-ed, the
    one handed out is acked, nothing is lost; without the check the feed ran to its end."""
    subject = js.fill("in", numbers(40))
    seen: list[int] = []

    async def swallow(m: hp.nats.Message) -> int:
        n = int(m.data)
        seen.append(n)
        if n == 5:
            task = asyncio.current_task()
            assert task is not None
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):  # as a client's wait_for may
                await asyncio.sleep(0.05)
        return n

    async def main() -> list[int]:
        feed = hp.nats.consume(URL, subject, durable="d", batch=8, max_idle=0.5)
        return await feed.map(swallow).ato_list()

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(main())
    assert seen == list(range(8))  # the first batch, then the next fetch stopped it
    rest = hp.nats.consume(URL, subject, durable="d", batch=8, max_idle=0.3).to_list()
    assert sorted(int(m.data) for m in rest) == list(range(8, 40))


def test_take_closes_cleanly_and_naks_what_it_did_not_take(js: JS) -> None:
    subject = js.fill("in", numbers(20))
    with assert_no_leaks():
        got = hp.nats.consume(URL, subject, durable="d", batch=5).take(3).to_list()
    assert [m.data for m in got] == [b"0", b"1", b"2"]
    # 0 and 1 were acked; 2 (in flight: an async source cannot tell take's end from an
    # error) and 3, 4 (fetched, not taken) were nak-ed: delivered again at once
    again = hp.nats.consume(URL, subject, durable="d", batch=5).take(1).to_list()
    assert [(m.data, m.redelivered) for m in again] == [(b"2", True)]


def test_refused_connection_names_the_url_without_password(js: JS) -> None:
    feed = hp.nats.consume("nats://app:s3cret@127.0.0.1:1", "x", durable="d")
    with pytest.raises(hp.nats.BrokerError) as e:
        feed.to_list()
    assert str(e.value) == (
        "hosepipe.nats.consume(): NATS at nats://app:***@127.0.0.1:1 failed: "
        "ConnectionRefusedError: [Errno 111] Connect call failed ('127.0.0.1', 1)"
    )
    with (
        assert_no_leaks(),
        pytest.raises(hp.nats.BrokerError, match=r"^hosepipe\.nats\.publish\(\): NATS at "),
    ):
        hp.Stream([b"x"]).to(hp.nats.publish("nats://app:s3cret@127.0.0.1:1", "x"))


def test_missing_stream_is_an_error(js: JS) -> None:
    with pytest.raises(
        hp.nats.BrokerError,
        match=r"^hosepipe\.nats\.consume\(\): no JetStream stream holds subject 'nowhere\.x' "
        r"at nats://127\.0\.0\.1:4222 \(add a stream for it, or pass the right `stream`\)\n",
    ):
        hp.nats.consume(URL, "nowhere.x", durable="d").to_list()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"durable": "d", "batch": 0}, "`batch` must be >= 1, got 0"),
        ({"durable": "d", "ack_wait": 0}, "`ack_wait` must be seconds > 0, got 0"),
        ({"durable": "d", "ack": "x"}, "`ack` must be 'auto' or 'manual', got 'x'"),
    ],
)
def test_arguments_are_checked_when_the_stream_is_built(
    kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError) as e:
        hp.nats.consume(URL, "s", **kwargs)  # type: ignore[arg-type]
    assert str(e.value) == f"hosepipe.nats.consume(): {message}"
    with pytest.raises(ValueError) as e:
        hp.nats.consume("redis://127.0.0.1", "s", durable="d")
    assert str(e.value) == (
        "hosepipe.nats.consume(): `url` must be a nats:// or tls:// URL, got 'redis://127.0.0.1'"
    )


def test_ctrl_c_flushes_the_sink_and_acks_what_it_wrote(js: JS, tmp_path: Path) -> None:
    """SIGINT (Ctrl-C) mid-batch, with no Nats-Msg-Id: the sink's buffer is published and
    the passed messages acked before the process ends, the rest nak-ed (those of a fetch
    the interrupt cut short come again after ack_wait): a restart doubles at most the
    message in flight."""
    n = 300
    subject = js.fill("in", numbers(n))
    script = (
        "import sys, time, hosepipe as hp, hosepipe.nats\n"
        "url, subject, out = sys.argv[1:4]\n"
        "def work(m):\n"
        "    time.sleep(0.005)\n"
        "    return m.data\n"
        "feed = hp.nats.consume(url, subject, durable='d', batch=20, ack_wait=1,"
        " max_idle=2.5)\n"
        "feed.map(work).to(hp.nats.publish(url, out, batch=50))\n"
    )
    args = [URL, subject, js.subject("out")]
    kill_when(script, args, tmp_path, lambda: js.count("out") >= 100, signal.SIGINT)
    assert js.count("out") < n
    run_to_end(script, args, tmp_path)
    check = hp.nats.consume(URL, js.subject("out"), durable="check", max_idle=0.5)
    got = sorted(int(m.data) for m in check.to_list())
    assert sorted(set(got)) == list(range(n))  # none lost
    assert len(got) - n <= 1  # at most the message in flight (the sink had taken it)


def test_killed_after_the_ack_after_stage_leaves_those_messages_acked(
    js: JS, tmp_path: Path
) -> None:
    """SIGKILL while messages wait in a batch after the ``ack_after`` stage (the sink never
    saw them): a restart gets again only the fetch that was not yet acked."""
    n, batch = 300, 20
    subject, stored = js.fill("in", numbers(n)), tmp_path / "stored"
    script = ack_after_script(
        "nats",
        f"hp.nats.consume(url, name, durable='d', batch={batch}, ack_wait=1, max_idle=2.5,"
        " ack_after='map(store)')",
    )
    args = [URL, subject, str(stored)]
    kill_when(script, args, tmp_path, lambda: len(stored_lines(stored)) >= 150)
    first = stored_lines(stored)
    assert b"sink" not in first  # the sink took nothing
    assert js.ack_pending("d") <= batch  # what the stage took is acked, but the latest fetch
    run_to_end(script, args, tmp_path)
    got = stored_lines(stored)
    assert got[-1] == b"sink"
    values = [int(v) for v in got[:-1]]
    assert sorted(set(values)) == list(range(n))  # none lost
    assert len(values) - n <= batch  # stored twice: only the fetch unacked at the kill
    assert js.ack_pending("d") == 0


def _sink_threads() -> list[str]:
    import threading

    return [t.name for t in threading.enumerate() if t.name.startswith("hosepipe-nats")]


@pytest.mark.parametrize("form", ["to", "ato"])
def test_a_nats_sink_of_an_async_run_publishes_on_the_runs_loop(js: JS, form: str) -> None:
    """``to()`` (on the bridge's loop) and ``ato()`` (on the caller's loop) of a NATS feed
    write through the sink's ``aopen`` writer: no loop thread of its own, every message
    published before its input is acked, and the sink's flush hook gone after the run."""
    from hosepipe._ends import _flushers

    subject = js.fill("in", numbers(45))
    threads: list[list[str]] = []

    def work(m: hp.nats.Message) -> bytes:
        threads.append(_sink_threads())
        return m.data

    feed = hp.nats.consume(URL, subject, durable="d", batch=10, max_idle=0.3).map(work)
    sink = hp.nats.publish(URL, js.subject("out"), batch=4)
    written = feed.to(sink) if form == "to" else asyncio.run(feed.ato(sink))
    assert written == 45
    assert js.count("out") == 45
    assert threads == [[]] * 45  # no hosepipe-nats thread while the run wrote
    assert js.ack_pending("d") == 0
    assert not getattr(_flushers, "hooks", [])
    # the sync driver's path (a sync source) still writes through the loop thread
    assert hp.Stream([b"x"]).map(lambda b: (_sink_threads(), b)[1]).to(sink) == 1


def test_a_failed_async_run_aborts_the_sink_and_acks_only_what_was_published(js: JS) -> None:
    """A stage fails at message 25 of 40: as the source ends it flushes the sink's writer
    on the run's loop (24, buffered after the batches of 4) and then acks 0-24, whose
    output is published; 25 comes again; the writer is closed, its hook gone."""
    from hosepipe._ends import _flushers

    subject = js.fill("in", numbers(40))

    def work(m: hp.nats.Message) -> bytes:
        if m.data == b"25":
            raise RuntimeError("boom")
        return m.data

    feed = hp.nats.consume(URL, subject, durable="d", batch=10, max_idle=0.3).map(work)
    with assert_no_leaks(), pytest.raises(RuntimeError, match="boom"):
        feed.to(hp.nats.publish(URL, js.subject("out"), batch=4))
    assert not getattr(_flushers, "hooks", [])
    assert js.count("out") == 25
    again = hp.nats.consume(URL, subject, durable="d", max_idle=0.3).to_list()
    assert [int(m.data) for m in again] == list(range(25, 40))


def test_a_refused_nats_sink_of_an_async_run_reads_nothing(js: JS) -> None:
    subject = js.fill("in", numbers(3))
    feed = hp.nats.consume(URL, subject, durable="d", max_idle=0.3)
    with pytest.raises(hp.nats.BrokerError, match=r"nats://127\.0\.0\.1:1 failed"):
        feed.to(hp.nats.publish("nats://127.0.0.1:1", js.subject("out")))
    assert [m.data for m in feed.to_list()] == [b"0", b"1", b"2"]


def test_a_sync_broker_source_with_async_stages_flushes_a_nats_sink_before_acks(
    js: JS,
) -> None:
    """A sync Redis source with an ``async def`` stage runs on the async driver but flushes
    its sinks with a plain call before each XACK: the NATS sink then keeps its own loop
    thread (its flush is a plain call too), and every entry is published, then acked."""
    redis = pytest.importorskip("redis")
    r = redis.Redis.from_url("redis://127.0.0.1:6379/0")
    need_server("Redis server", r.ping)
    stream = unique("s")
    try:
        for n in range(30):
            r.xadd(stream, {"data": str(n)})

        async def double(m: hp.redis.Message) -> bytes:
            return str(2 * int(m.data)).encode()

        feed = hp.redis.read_stream(
            "redis://127.0.0.1:6379/0", stream, group="g", count=7, max_idle=0.3
        )
        assert feed.map(double).to(hp.nats.publish(URL, js.subject("out"), batch=5)) == 30
        assert js.count("out") == 30
        assert r.xpending(stream, "g")["pending"] == 0
    finally:
        r.delete(stream)
        r.close()
