"""hosepipe.amqp against the RabbitMQ server on 127.0.0.1:5672, guest/guest (skipped
without it, unless CI). Each test has queues of its own, deleted at the end."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

import hosepipe as hp
import hosepipe.amqp
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

aio_pika = pytest.importorskip("aio_pika")

URL = "amqp://guest:guest@127.0.0.1:5672/"


class Queues:
    """The queues one test declares, with a few helpers; all deleted at the end."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def declare(self, payloads: list[bytes] = []) -> str:  # noqa: B006
        name = unique("q")
        self.names.append(name)

        async def go() -> None:
            conn = await aio_pika.connect(URL)
            channel = await conn.channel()
            await channel.declare_queue(name)
            for p in payloads:
                await channel.default_exchange.publish(aio_pika.Message(p), name)
            await conn.close()

        run_async(go())
        return name

    def publish(self, name: str, payloads: list[bytes]) -> None:
        async def go() -> None:
            conn = await aio_pika.connect(URL)
            channel = await conn.channel(publisher_confirms=True)
            for p in payloads:
                await channel.default_exchange.publish(aio_pika.Message(p), name)
            await conn.close()

        run_async(go())

    def ready(self, name: str) -> int:
        """Messages in *name* waiting to be delivered (neither delivered nor acked)."""

        async def go() -> int:
            conn = await aio_pika.connect(URL)
            queue = await (await conn.channel()).declare_queue(name, passive=True)
            await conn.close()
            return int(queue.declaration_result.message_count or 0)

        return run_async(go())

    def delete(self) -> None:
        async def go() -> None:
            conn = await aio_pika.connect(URL)
            channel = await conn.channel()
            for name in self.names:
                await channel.queue_delete(name)
            await conn.close()

        run_async(go())


@pytest.fixture
def q() -> Iterator[Queues]:
    async def ping() -> None:
        await (await aio_pika.connect(URL, timeout=2)).close()

    need_server("RabbitMQ server", lambda: run_async(ping()))
    queues = Queues()
    yield queues
    queues.delete()


def numbers(n: int) -> list[bytes]:
    return [str(i).encode() for i in range(n)]


def read_all(name: str) -> list[bytes]:
    return [m.data for m in hp.amqp.consume(URL, name, max_idle=0.3).to_list()]


def test_source_map_sink_delivers_every_message_and_acks_it(q: Queues) -> None:
    src, out = q.declare(numbers(250)), q.declare()
    feed = hp.amqp.consume(URL, src, prefetch=30, max_idle=0.3)
    assert feed.map(lambda m: int(m.data) * 2).to(hp.amqp.publish(URL, out, batch=7)) == 250
    assert [int(d) for d in read_all(out)] == [2 * i for i in range(250)]
    assert q.ready(src) == 0
    assert read_all(src) == []  # all acked: nothing came back to the queue


def test_messages_carry_body_tag_queue(q: Queues) -> None:
    src = q.declare([b"\x00a", b"b"])
    got = hp.amqp.consume(URL, src, max_idle=0.2).to_list()
    assert [(m.data, m.id, m.source, m.redelivered) for m in got] == [
        (b"\x00a", "1", src, False),
        (b"b", "2", src, False),
    ]


def test_async_iteration(q: Queues) -> None:
    src = q.declare(numbers(40))

    async def main() -> list[int]:
        feed = hp.amqp.consume(URL, src, prefetch=8, max_idle=0.3)
        return await feed.map(lambda m: int(m.data)).ato_list()

    assert asyncio.run(main()) == list(range(40))
    assert read_all(src) == []


def test_killed_consumer_restarted_delivers_every_message_at_least_once(
    q: Queues, tmp_path: Path
) -> None:
    """SIGKILL mid-batch, restart: the broker gives the unacked deliveries back; the
    doubles are at most the prefetch window that was unacked when the consumer died."""
    n, prefetch = 300, 20
    src, out = q.declare(numbers(n)), q.declare()
    script = (
        "import sys, time, hosepipe as hp, hosepipe.amqp\n"
        "url, src, out = sys.argv[1:4]\n"
        "def work(m):\n"
        "    time.sleep(0.005)\n"
        "    return m.data\n"
        f"feed = hp.amqp.consume(url, src, prefetch={prefetch}, max_idle=1.0)\n"
        "feed.map(work).to(hp.amqp.publish(url, out, batch=10))\n"
    )
    args = [URL, src, out]
    kill_when(script, args, tmp_path, lambda: q.ready(out) >= 80)
    assert q.ready(src) < n
    run_to_end(script, args, tmp_path)
    got = [int(d) for d in read_all(out)]
    assert sorted(set(got)) == list(range(n))  # none lost
    assert len(got) - n <= prefetch  # doubles: only what was unacked at the kill
    assert q.ready(src) == 0


def test_slow_sink_keeps_deliveries_bounded_by_prefetch(q: Queues) -> None:
    n, prefetch, out_of_queue, depths = 60, 10, [], []
    src = q.declare(numbers(n))

    def sink(m: hp.amqp.Message) -> None:  # taken from the queue, less what was passed
        out_of_queue.append(n - q.ready(src) - int(m.data))
        live = feed.stats().stages[0].queue
        assert live is not None
        depths.append((live.depth, live.received))

    feed = hp.amqp.consume(URL, src, prefetch=prefetch, max_idle=0.3).tap(sink)
    backlog = feed.run().stages[0].queue
    assert backlog is not None
    assert (backlog.depth, backlog.peak, backlog.capacity) == (0, n, prefetch)
    assert backlog.sent == backlog.received == n
    assert len(out_of_queue) == n
    assert max(out_of_queue) <= prefetch
    assert read_all(src) == []
    # the live depth is the queue's backlog: every message not yet acked (ready in the
    # queue, or delivered to this run), exactly
    assert depths[0] == (n, 0)
    assert all(d == n - acked for d, acked in depths), depths
    assert [acked for _, acked in depths] == [prefetch * (i // prefetch) for i in range(n)]


def test_the_backlog_counts_messages_published_while_the_feed_runs(
    q: Queues, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The queue's length is asked again while messages flow (here at every full window):
    40 messages published at message 25 are in the backlog from the next question on,
    exactly (ready messages plus this run's unacked deliveries, nothing counted twice or
    left out while deliveries go on)."""
    monkeypatch.setattr(hp.amqp, "_ASK_EVERY", 0.0)
    n, extra, prefetch, samples = 100, 40, 10, []
    src = q.declare(numbers(n))

    def sink(m: hp.amqp.Message) -> None:
        if m.data == b"25":
            q.publish(src, [b"x"] * extra)
        live = feed.stats().stages[0].queue
        assert live is not None
        samples.append((live.depth, live.received))

    feed = hp.amqp.consume(URL, src, prefetch=prefetch, max_idle=0.3).tap(sink)
    backlog = feed.run().stages[0].queue
    assert backlog is not None
    assert (backlog.depth, backlog.sent, backlog.received) == (0, n + extra, n + extra)
    assert len(samples) == n + extra
    # before the window after message 25 is asked about, the broker's count is the old one
    assert all(d == n - acked for d, acked in samples[:30]), samples[:30]
    assert all(d == n + extra - acked for d, acked in samples[30:]), samples[30:]
    # asked as the window of 20-29 was full, before its ack: 0-19 acked then
    assert backlog.peak == n + extra - 20


def test_bad_messages_go_to_a_dead_letter_queue_and_are_acked(q: Queues) -> None:
    src, dead = q.declare([b"1", b"x", b"3"]), q.declare()
    good = (
        hp.amqp.consume(URL, src, max_idle=0.3)
        .map(lambda m: int(m.data))
        .catch(ValueError, dead_letter=hp.amqp.publish(URL, dead))
        .to_list()
    )
    assert good == [1, 3]
    [letter] = [json.loads(d) for d in read_all(dead)]
    assert letter["stage"] == "map(<lambda>)"
    assert letter["error"] == "ValueError: invalid literal for int() with base 10: b'x'"
    assert read_all(src) == []


def test_take_closes_cleanly_and_gives_back_what_it_did_not_take(q: Queues) -> None:
    src = q.declare(numbers(20))
    with assert_no_leaks():
        got = hp.amqp.consume(URL, src, prefetch=5).take(3).to_list()
    assert [m.data for m in got] == [b"0", b"1", b"2"]
    # 0 and 1 were acked; 2 (in flight: an async source cannot tell take's end from an
    # error) and the rest of the window went back to the queue
    assert q.ready(src) == 18
    assert read_all(src)[0] == b"2"


def test_publish_to_no_queue_is_an_error(q: Queues) -> None:
    missing = unique("nowhere")
    with (
        assert_no_leaks(),
        pytest.raises(
            hp.amqp.BrokerError,
            match=rf"^amqp\.publish\('amqp://guest:\*\*\*@127\.0\.0\.1:5672/', '{missing}'\): "
            rf"a message could not be routed to a queue \(routing key '{missing}'\): ",
        ),
    ):
        hp.Stream([b"x"]).to(hp.amqp.publish(URL, missing))


def test_refused_connection_names_the_url_without_password(q: Queues) -> None:
    feed = hp.amqp.consume("amqp://app:s3cret@127.0.0.1:1/", "x")
    with pytest.raises(hp.amqp.BrokerError) as e:
        feed.to_list()
    assert str(e.value) == (
        "hosepipe.amqp.consume(): RabbitMQ at amqp://app:***@127.0.0.1:1/ failed: "
        "AMQPConnectionError: [Errno 111] Connect call failed ('127.0.0.1', 1)"
    )


def test_missing_queue_is_an_error(q: Queues) -> None:
    missing = unique("nowhere")
    with (
        assert_no_leaks(),
        pytest.raises(
            hp.amqp.BrokerError,
            match=rf"^hosepipe\.amqp\.consume\(\): queue '{missing}' does not exist at "
            r"amqp://guest:\*\*\*@127\.0\.0\.1:5672/\n",
        ),
    ):
        hp.amqp.consume(URL, missing).to_list()


def test_arguments_are_checked_when_the_stream_is_built() -> None:
    with pytest.raises(ValueError) as e:
        hp.amqp.consume(URL, "q", max_idle=-1)
    assert str(e.value) == "hosepipe.amqp.consume(): `max_idle` must be None or seconds > 0, got -1"
    with pytest.raises(ValueError) as e:
        hp.amqp.consume("http://x", "q")
    assert str(e.value) == (
        "hosepipe.amqp.consume(): `url` must be a amqp:// or amqps:// URL, got 'http://x'"
    )


def test_ctrl_c_flushes_the_sink_and_acks_what_it_wrote(q: Queues, tmp_path: Path) -> None:
    """SIGINT (Ctrl-C) mid-window: the sink's buffer is published and the passed messages
    acked before the process ends, the rest given back: a restart doubles at most the
    message in flight."""
    n = 300
    src, out = q.declare(numbers(n)), q.declare()
    script = (
        "import sys, time, hosepipe as hp, hosepipe.amqp\n"
        "url, src, out = sys.argv[1:4]\n"
        "def work(m):\n"
        "    time.sleep(0.005)\n"
        "    return m.data\n"
        "feed = hp.amqp.consume(url, src, prefetch=20, max_idle=3.0)\n"
        "feed.map(work).to(hp.amqp.publish(url, out, batch=50))\n"
    )
    args = [URL, src, out]
    kill_when(script, args, tmp_path, lambda: q.ready(out) >= 100, signal.SIGINT)
    assert q.ready(out) < n
    run_to_end(script, args, tmp_path)
    got = sorted(int(d) for d in read_all(out))
    assert sorted(set(got)) == list(range(n))  # none lost
    assert len(got) - n <= 1  # at most the message in flight (the sink had taken it)


def test_killed_after_the_ack_after_stage_leaves_those_messages_acked(
    q: Queues, tmp_path: Path
) -> None:
    """SIGKILL while messages wait in a batch after the ``ack_after`` stage (the sink never
    saw them): the broker gives back only the window that was not yet acked."""
    n, prefetch = 300, 20
    src, stored = q.declare(numbers(n)), tmp_path / "stored"
    script = ack_after_script(
        "amqp",
        f"hp.amqp.consume(url, name, prefetch={prefetch}, max_idle=1.0, ack_after='map(store)')",
    )
    args = [URL, src, str(stored)]
    kill_when(script, args, tmp_path, lambda: len(stored_lines(stored)) >= 150)
    first = stored_lines(stored)
    assert b"sink" not in first  # the sink took nothing
    assert q.ready(src) <= n - len(first) + prefetch  # the stored ones acked, but a window
    run_to_end(script, args, tmp_path)
    got = stored_lines(stored)
    assert got[-1] == b"sink"
    values = [int(v) for v in got[:-1]]
    assert sorted(set(values)) == list(range(n))  # none lost
    assert len(values) - n <= prefetch  # stored twice: only the window unacked at the kill
    assert q.ready(src) == 0


def test_ctrl_c_at_full_speed_loses_nothing(q: Queues, tmp_path: Path) -> None:
    """SIGINT a consumer that runs as fast as it can (no sleep, many windows acked while the
    interrupt lands), restart: every message comes out at least once."""
    n = 3000
    src, out = q.declare(numbers(n)), q.declare()
    script = (
        "import sys, hosepipe as hp, hosepipe.amqp\n"
        "url, src, out = sys.argv[1:4]\n"
        "feed = hp.amqp.consume(url, src, prefetch=50, max_idle=3.0)\n"
        "feed.map(lambda m: m.data).to(hp.amqp.publish(url, out, batch=100))\n"
    )
    args = [URL, src, out]
    kill_when(script, args, tmp_path, lambda: q.ready(out) >= 500, signal.SIGINT)
    run_to_end(script, args, tmp_path)
    got = [int(d) for d in read_all(out)]
    assert sorted(set(got)) == list(range(n))  # none lost
    assert q.ready(src) == 0
