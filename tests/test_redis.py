"""hosepipe.redis against the Redis server on 127.0.0.1:6379 (skipped without it, unless CI).

Each test uses streams of its own (random names), deleted at the end.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import hosepipe as hp
import hosepipe.redis
from _brokers import RUN, kill_when, need_server, run_to_end, unique
from hosepipe.testing import assert_no_leaks

redis = pytest.importorskip("redis")

URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def r() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(URL)
    need_server("Redis server", client.ping)
    yield client
    for key in client.scan_iter(f"{RUN}-*"):
        client.delete(key)
    client.close()


def fill(r: redis.Redis, n: int) -> str:
    stream = unique("in")
    with r.pipeline(transaction=False) as pipe:
        for i in range(n):
            pipe.xadd(stream, {"data": str(i)})
        pipe.execute()
    return stream


def pending(r: redis.Redis, stream: str, group: str = "g") -> int:
    return int(r.xpending(stream, group)["pending"])


def values(r: redis.Redis, stream: str) -> list[int]:
    return [int(fields[b"data"]) for _, fields in r.xrange(stream)]


def test_source_map_sink_delivers_every_entry_once_and_acks_it(r: redis.Redis) -> None:
    stream, out = fill(r, 250), unique("out")
    feed = hp.redis.read_stream(URL, stream, group="g", count=30, max_idle=0.2)
    written = feed.map(lambda m: int(m.data) * 2).to(hp.redis.write_stream(URL, out, batch=7))
    assert written == 250
    assert values(r, out) == [2 * i for i in range(250)]
    assert pending(r, stream) == 0
    again = hp.redis.read_stream(URL, stream, group="g", max_idle=0.1).to_list()
    assert again == []  # all acked: a new run of the group has nothing to read


def test_messages_carry_payload_id_fields_and_source(r: redis.Redis) -> None:
    stream = unique("in")
    entry = r.xadd(stream, {"data": b"\x00payload", "kind": "x"}).decode()
    [m] = hp.redis.read_stream(URL, stream, group="g", max_idle=0.1).to_list()
    assert (m.data, m.id, m.source, m.redelivered) == (b"\x00payload", entry, stream, False)
    assert m.meta == {b"data": b"\x00payload", b"kind": b"x"}


def test_async_form_reads_and_acks(r: redis.Redis) -> None:
    stream = fill(r, 120)

    async def main() -> list[int]:
        feed = hp.redis.read_stream(URL, stream, group="g", count=25, max_idle=0.2, async_=True)
        return await feed.map(lambda m: int(m.data)).ato_list()

    assert asyncio.run(main()) == list(range(120))
    assert pending(r, stream) == 0


def test_async_form_with_a_client_of_yours_leaves_it_open(r: redis.Redis) -> None:
    import redis.asyncio

    stream = fill(r, 5)

    async def main() -> int:
        async with redis.asyncio.Redis.from_url(URL) as client:
            feed = hp.redis.read_stream(URL, stream, group="g", max_idle=0.1, client=client)
            n = await feed.acount()
            assert await client.ping()
            return n

    assert asyncio.run(main()) == 5


def test_killed_consumer_restarted_delivers_every_message_at_least_once(
    r: redis.Redis, tmp_path: Path
) -> None:
    """SIGKILL mid-batch, restart: every entry reaches the sink; the doubles are at most the
    batch that was unacked when the consumer died."""
    n, count = 400, 20
    stream, out = fill(r, n), unique("out")
    script = (
        "import sys, time, hosepipe as hp, hosepipe.redis\n"
        "url, stream, out = sys.argv[1:4]\n"
        "def work(m):\n"
        "    time.sleep(0.002)\n"
        "    return m.data\n"
        f"feed = hp.redis.read_stream(url, stream, group='g', consumer='c1', count={count},"
        " max_idle=1.0)\n"
        "feed.map(work).to(hp.redis.write_stream(url, out, batch=10))\n"
    )
    args = [URL, stream, out]
    kill_when(script, args, tmp_path, lambda: r.xlen(out) >= 100)
    assert pending(r, stream) <= count  # at most the batch in flight
    assert r.xlen(out) < n
    run_to_end(script, args, tmp_path)
    got = values(r, out)
    assert sorted(set(got)) == list(range(n))  # none lost
    assert len(got) - n <= count  # doubles: only what was unacked at the kill
    assert pending(r, stream) == 0


def test_slow_sink_keeps_unacked_messages_bounded_by_count(r: redis.Redis) -> None:
    stream, seen, depths = fill(r, 200), [], []

    def slow_sink(m: hp.redis.Message) -> None:
        seen.append(pending(r, stream))
        depths.append(feed.stats().stages[0].queue.depth)  # type: ignore[union-attr]

    feed = hp.redis.read_stream(URL, stream, group="g", count=16, max_idle=0.2).tap(slow_sink)
    backlog = feed.run().stages[0].queue  # the source row's queue
    assert backlog is not None
    assert (backlog.depth, backlog.peak, backlog.capacity) == (0, 200, 16)
    assert backlog.sent == backlog.received == 200  # delivered, acked
    assert len(seen) == 200
    assert max(seen) == 16  # a whole batch is out, never more
    assert pending(r, stream) == 0
    # the live depth is the group's backlog: all 200 at first, less each batch acked
    assert depths == [200 - 16 * (i // 16) for i in range(200)]


def test_bad_messages_go_to_a_dead_letter_stream_and_are_acked(r: redis.Redis) -> None:
    stream, dead = unique("in"), unique("dead")
    for data in ("1", "x", "3", "y"):
        r.xadd(stream, {"data": data})
    good = (
        hp.redis.read_stream(URL, stream, group="g", max_idle=0.2)
        .map(lambda m: int(m.data))
        .catch(ValueError, dead_letter=hp.redis.write_stream(URL, dead))
        .to_list()
    )
    assert good == [1, 3]
    letters = [fields for _, fields in r.xrange(dead)]
    assert [f[b"stage"] for f in letters] == [b"map(<lambda>)"] * 2
    assert letters[0][b"error"] == b"ValueError: invalid literal for int() with base 10: b'x'"
    assert letters[0][b"item"].startswith(b"Message(id=")
    assert pending(r, stream) == 0


def test_take_acks_what_it_took_closes_and_leaves_no_thread(r: redis.Redis) -> None:
    stream = fill(r, 50)
    clients = len(r.client_list())
    with assert_no_leaks():
        got = hp.redis.read_stream(URL, stream, group="g", count=5).take(5).to_list()
    assert [int(m.data) for m in got] == [0, 1, 2, 3, 4]
    assert pending(r, stream) == 0
    assert len(r.client_list()) == clients  # the run's connection is closed
    rest = hp.redis.read_stream(URL, stream, group="g", max_idle=0.1).map(lambda m: m.data)
    assert rest.first() == b"5"


def test_an_error_or_a_break_leaves_the_message_in_flight_pending(r: redis.Redis) -> None:
    stream = fill(r, 10)
    feed = hp.redis.read_stream(URL, stream, group="g", count=4)

    def fail_on_2(m: hp.redis.Message) -> None:
        if m.data == b"2":
            raise RuntimeError("sink down")

    with pytest.raises(RuntimeError, match=r"^sink down\n"):
        feed.for_each(fail_on_2)
    assert pending(r, stream) == 2  # 0 and 1 acked; 2 (in flight) and 3 (fetched) not
    with feed.iterate() as it:
        first = next(it)
    assert (first.data, first.redelivered) == (b"2", True)  # read again, first
    assert pending(r, stream) == 2


def test_manual_ack_after_a_batch(r: redis.Redis) -> None:
    stream, stored = fill(r, 95), []

    def store(batch: list[hp.redis.Message]) -> None:
        stored.extend(int(m.data) for m in batch)
        hp.redis.ack(batch)

    feed = hp.redis.read_stream(URL, stream, group="g", count=10, ack="manual", max_idle=0.2)
    feed.batch(20).for_each(store)
    assert stored == list(range(95))
    assert pending(r, stream) == 0


def test_manual_ack_with_too_many_unacked_is_an_error(r: redis.Redis) -> None:
    stream = fill(r, 10)
    feed = hp.redis.read_stream(URL, stream, group="g", ack="manual", max_unacked=3)
    with pytest.raises(
        hp.HosepipeError,
        match=r"^hosepipe\.redis\.read_stream\(\): 3 messages were delivered and not acked "
        r"\(`max_unacked`=3\) with ack='manual': ack them with Message\.ack\(\) after the sink "
        r"took them, or raise `max_unacked`\n",
    ):
        feed.to_list()


def test_refused_connection_names_the_url_without_password(r: redis.Redis) -> None:
    feed = hp.redis.read_stream("redis://app:s3cret@127.0.0.1:1/0", "s", group="g")
    with pytest.raises(hp.redis.BrokerError) as e:
        feed.to_list()
    assert str(e.value) == (
        "hosepipe.redis.read_stream(): Redis at redis://app:***@127.0.0.1:1/0 failed: "
        "ConnectionError: Error 111 connecting to 127.0.0.1:1. Connection refused."
    )
    assert "s3cret" not in repr(feed)


def test_missing_stream_is_an_error_unless_create(r: redis.Redis) -> None:
    stream = unique("missing")
    with pytest.raises(
        hp.redis.BrokerError,
        match=rf"^hosepipe\.redis\.read_stream\(\): stream '{stream}' does not exist at "
        r"redis://127\.0\.0\.1:6379/0 \(pass create=True to create it with the group\)\n",
    ):
        hp.redis.read_stream(URL, stream, group="g").to_list()
    feed = hp.redis.read_stream(URL, stream, group="g", create=True, max_idle=0.05)
    assert feed.to_list() == []
    assert r.exists(stream)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"group": ""}, ValueError, "`group` must be a non-empty string, got ''"),
        ({"group": "g", "count": 0}, ValueError, "`count` must be >= 1, got 0"),
        ({"group": "g", "max_idle": 0}, ValueError,
         "`max_idle` must be None or seconds > 0, got 0"),
        ({"group": "g", "ack": "never"}, ValueError,
         "`ack` must be 'auto' or 'manual', got 'never'"),
        ({"group": "g", "ack_after": 2}, ValueError, "`ack_after` must be None or a stage's "
         "label or observe name (as in the stats table, e.g. 'map(store)'), got 2"),
        ({"group": "g", "ack": "manual", "ack_after": "map(f)"}, ValueError, "`ack_after` "
         "applies to ack='auto' only; with ack='manual' ack each message yourself (got "
         "ack_after='map(f)')"),
        ({"group": "g", "client": 3}, TypeError, "`client` must be None, a redis.Redis or a "
         "redis.asyncio.Redis, got 3 (int)"),
    ],
)  # fmt: skip
def test_arguments_are_checked_when_the_stream_is_built(
    kwargs: dict[str, object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error) as e:
        hp.redis.read_stream(URL, "s", **kwargs)  # type: ignore[arg-type]
    assert str(e.value) == f"hosepipe.redis.read_stream(): {message}"


def test_write_stream_refuses_an_item_it_cannot_write(r: redis.Redis) -> None:
    out = unique("out")
    with pytest.raises(TypeError) as e:
        hp.Stream([b"a", [1]]).to(hp.redis.write_stream(URL, out))
    assert str(e.value).startswith(
        f"redis.write_stream('{URL}', '{out}'): an item must be bytes, str, a number, a dict "
        "of fields or a Message, got [1] (list)"
    )
    assert not r.exists(out)  # aborted: the buffered item was not sent


def test_ctrl_c_flushes_the_sink_and_acks_what_it_wrote(r: redis.Redis, tmp_path: Path) -> None:
    """SIGINT (Ctrl-C) mid-batch: the sink's buffer is written and the passed messages are
    acked before the process ends, so a restart doubles at most the message in flight."""
    n = 300
    stream, out = fill(r, n), unique("out")
    script = (
        "import sys, time, hosepipe as hp, hosepipe.redis\n"
        "url, stream, out = sys.argv[1:4]\n"
        "def work(m):\n"
        "    time.sleep(0.002)\n"
        "    return m.data\n"
        "feed = hp.redis.read_stream(url, stream, group='g', consumer='c1', count=20,"
        " max_idle=1.0)\n"
        "feed.map(work).to(hp.redis.write_stream(url, out, batch=50))\n"
    )
    args = [URL, stream, out]
    kill_when(script, args, tmp_path, lambda: r.xlen(out) >= 100, signal.SIGINT)
    assert r.xlen(out) < n
    run_to_end(script, args, tmp_path)
    got = values(r, out)
    assert sorted(set(got)) == list(range(n))  # none lost
    assert len(got) - n <= 1  # at most the message in flight (the sink had taken it)
    assert pending(r, stream) == 0


@pytest.mark.parametrize(
    ("call", "package", "extra"),
    [
        ("hp.redis.read_stream('redis://127.0.0.1', 's', group='g')", "redis", "redis"),
        ("hp.nats.consume('nats://127.0.0.1', 's', durable='d')", "nats", "nats"),
        ("hp.amqp.consume('amqp://127.0.0.1/', 'q')", "aio_pika", "amqp"),
    ],
)
def test_a_broker_without_its_client_names_the_extra(call: str, package: str, extra: str) -> None:
    """The broker modules import their client only when used; without it, the error says
    what to install. (Run in a child whose import of the client fails.)"""
    import subprocess
    import sys

    code = (
        "import sys\n"
        f"sys.modules[{package!r}] = None  # as if not installed\n"
        "import hosepipe as hp, hosepipe.redis, hosepipe.nats, hosepipe.amqp\n"
        "try:\n"
        f"    {call}\n"
        "except ImportError as e:\n"
        "    print(e)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    op = call.split("(")[0].replace("hp.", "hosepipe.")
    assert done.stdout == (f"{op}() needs the {package} package: pip install 'hosepipe[{extra}]'\n")


def test_broker_modules_import_their_clients_only_when_used() -> None:
    import subprocess
    import sys

    code = (
        "import sys, hosepipe as hp, hosepipe.redis, hosepipe.nats, hosepipe.amqp\n"
        "clients = ['redis', 'nats', 'aio_pika']\n"
        "assert not [m for m in clients if m in sys.modules], clients\n"
        "hp.redis.write_stream('redis://127.0.0.1', 's')  # a sink connects when opened\n"
        "assert 'redis' not in sys.modules\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_a_failed_sink_batch_leaves_its_messages_unacked(r: redis.Redis) -> None:
    """The sink's batch fails (the target key is not a stream): the messages it held were
    passed by the pipeline, but must not be acked, since their output is lost."""
    stream, target = fill(r, 10), unique("not-a-stream")
    r.set(target, "a string")
    feed = hp.redis.read_stream(URL, stream, group="g", count=5)
    with pytest.raises(hp.redis.BrokerError, match=r"^redis\.write_stream\(.*WRONGTYPE"):
        feed.map(lambda m: m.data).to(hp.redis.write_stream(URL, target, batch=3))
    assert pending(r, stream) == 5  # the whole fetched batch: nothing acked


def test_auto_ack_refuses_a_stage_that_holds_messages_before_the_sink(r: redis.Redis) -> None:
    stream = fill(r, 5)
    feed = hp.redis.read_stream(URL, stream, group="g", max_idle=0.1)
    with pytest.raises(
        hp.HosepipeError,
        match=r"^hosepipe\.redis\.read_stream\(\): batch\(2\) \(stage 2\) holds messages between "
        r"the source and the sink, so ack='auto' would ack them before the sink took them: "
        r"pass `ack_after=` the stage after which a message counts as done \(one before "
        r"batch\(2\)\), or use ack='manual' and ack each message after writing it$",
    ):
        feed.map(bytes).batch(2).to_list()
    assert r.xinfo_groups(stream) == []  # refused before it read (or made) anything


@pytest.mark.parametrize(
    ("ack_after", "message"),
    [
        ("map(keep)", "`ack_after`='map(keep)' names no stage of this stream; its stages: "
         "['map(bytes)', 'buffer(4)', 'map(store)']"),
        ("map(store)", "`ack_after`='map(store)': buffer(4) (stage 2) is before that stage and "
         "holds messages, so ack='auto' would ack them before that stage took them: name a "
         "stage before buffer(4), or use ack='manual'"),
    ],
)  # fmt: skip
def test_ack_after_must_name_a_stage_with_nothing_holding_before_it(
    r: redis.Redis, ack_after: str, message: str
) -> None:
    def store(b: bytes) -> bytes:
        return b

    feed = hp.redis.read_stream(URL, "s", group="g", ack_after=ack_after)
    with pytest.raises(hp.HosepipeError) as e:
        feed.map(bytes).buffer(4).map(store).to_list()
    assert str(e.value) == f"hosepipe.redis.read_stream(): {message}"


def test_ack_after_acks_at_that_stage_with_a_batch_after_it(r: redis.Redis) -> None:
    """With ``ack_after`` naming a stage, a ``batch`` after it is allowed: a message is acked
    once it went through that stage, while the sink has not seen it yet."""
    stream, seen = fill(r, 25), []

    def sink(batch: list[bytes]) -> None:
        seen.append(pending(r, stream))

    feed = hp.redis.read_stream(
        URL, stream, group="g", count=5, max_idle=0.2, ack_after="observe('stored')"
    )
    feed.map(lambda m: m.data).observe("stored").batch(10).for_each(sink)
    # when a batch of 10 reaches the sink, at most one fetch (5) is unacked: the others
    # were acked although the sink had not taken them
    assert seen == [5, 5, 0]  # the last (short) batch comes after the feed's end and acks
    assert pending(r, stream) == 0
    by_name = hp.redis.read_stream(URL, stream, group="h", max_idle=0.2, ack_after="stored")
    assert by_name.observe("stored").batch(7).count() == 4  # an observe point by its name


def test_killed_after_the_ack_after_stage_leaves_those_messages_acked(
    r: redis.Redis, tmp_path: Path
) -> None:
    """SIGKILL while messages wait in a batch after the ``ack_after`` stage (they never
    reached the sink): a restart reads again only the fetch that was not yet acked."""
    n, count = 300, 20
    stream, stored = fill(r, n), unique("stored")
    script = (
        "import sys, time, redis, hosepipe as hp, hosepipe.redis\n"
        "url, stream, stored = sys.argv[1:4]\n"
        "r = redis.Redis.from_url(url)\n"
        "def store(m):\n"
        "    time.sleep(0.002)\n"
        "    r.rpush(stored, m.data)\n"
        "    return m\n"
        f"feed = hp.redis.read_stream(url, stream, group='g', consumer='c1', count={count},"
        " max_idle=1.0, ack_after='map(store)')\n"
        "feed.map(store).batch(100_000).for_each(lambda b: r.rpush(stored + '-sink', len(b)))\n"
    )
    args = [URL, stream, stored]
    kill_when(script, args, tmp_path, lambda: r.llen(stored) >= 150)
    first = r.llen(stored)
    assert not r.exists(stored + "-sink")  # the sink took nothing
    assert pending(r, stream) <= count  # all stored ones acked, but the latest fetch
    acked = r.xinfo_groups(stream)[0]["entries-read"] - pending(r, stream)
    assert acked >= first - count  # what the stage took was acked, but the latest fetch
    run_to_end(script, args, tmp_path)
    got = [int(v) for v in r.lrange(stored, 0, -1)]
    assert sorted(set(got)) == list(range(n))  # none lost
    assert len(got) - n <= count  # stored twice: only the fetch unacked at the kill
    assert [int(v) for v in r.lrange(stored + "-sink", 0, -1)] == [n - first + (len(got) - n)]
    assert pending(r, stream) == 0


def acked_ids(r: redis.Redis, stream: str, group: str = "g") -> list[int]:
    """The values of the entries the group has acked: delivered, no longer pending."""
    groups = r.xinfo_groups(stream)
    if not groups:  # the consumer has not started yet
        return []
    last = groups[0]["last-delivered-id"]
    pending_ids = {p["message_id"] for p in r.xpending_range(stream, group, "-", "+", 10_000)}
    return [
        int(fields[b"data"])
        for entry_id, fields in r.xrange(stream, "-", last)
        if entry_id not in pending_ids
    ]


def test_a_file_sink_is_flushed_before_acks_and_keeps_its_file(
    r: redis.Redis, tmp_path: Path
) -> None:
    """SIGKILL mid-run into ``write_jsonl``: the target never appears (it is renamed into
    place at the end), but every acked message's line is already in its temporary file,
    which was written before the acks; a restart writes the rest."""
    n = 400
    stream, out = fill(r, n), tmp_path / "out.jsonl"
    script = (
        "import sys, time, hosepipe as hp, hosepipe.redis\n"
        "url, stream, out = sys.argv[1:4]\n"
        "def work(m):\n"
        "    time.sleep(0.002)\n"
        "    return {'n': int(m.data)}\n"
        "feed = hp.redis.read_stream(url, stream, group='g', consumer='c1', count=20,"
        " max_idle=1.0)\n"
        "feed.map(work).to(hp.write_jsonl(out))\n"
    )
    args = [URL, stream, str(out)]
    kill_when(script, args, tmp_path, lambda: len(acked_ids(r, stream)) >= 150)
    assert not out.exists()
    [partial] = tmp_path.glob(".out.jsonl.*.tmp")
    written = [json.loads(line)["n"] for line in partial.read_text().splitlines()]
    acked = acked_ids(r, stream)
    assert len(acked) >= 150
    assert set(acked) <= set(written)  # no message acked before its line was written
    run_to_end(script, args, tmp_path)
    rest = [json.loads(line)["n"] for line in out.read_text().splitlines()]
    assert sorted(set(written) | set(rest)) == list(range(n))  # none lost
    assert not set(acked) & set(rest)  # what was acked did not come again
    assert pending(r, stream) == 0


def _bad_number(letter: dict[str, Any]) -> int:
    """The message's number, from a dead letter's error text (``ValueError: 35``)."""
    kind, _, text = letter["error"].partition(": ")
    assert kind == "ValueError"
    return int(text)


def test_a_dead_letter_file_is_flushed_before_its_message_is_acked(
    r: redis.Redis, tmp_path: Path
) -> None:
    """SIGKILL mid-run with a ``write_jsonl`` dead-letter sink: every bad message that was
    acked has its dead letter in the sink's temporary file already; none comes again."""
    n = 400
    stream, out, dead = fill(r, n), tmp_path / "out.jsonl", tmp_path / "dead.jsonl"
    script = (
        "import sys, time, hosepipe as hp, hosepipe.redis\n"
        "url, stream, out, dead = sys.argv[1:5]\n"
        "def work(m):\n"
        "    time.sleep(0.002)\n"
        "    if int(m.data) % 5 == 0:\n"
        "        raise ValueError(int(m.data))\n"
        "    return {'n': int(m.data)}\n"
        "feed = hp.redis.read_stream(url, stream, group='g', consumer='c1', count=20,"
        " max_idle=1.0)\n"
        "bad = hp.write_jsonl(dead)\n"
        "feed.map(work).catch(ValueError, dead_letter=bad).to(hp.write_jsonl(out))\n"
    )
    args = [URL, stream, str(out), str(dead)]
    kill_when(script, args, tmp_path, lambda: len(acked_ids(r, stream)) >= 150)
    assert not dead.exists()  # renamed into place only when a run ends
    [partial] = tmp_path.glob(".dead.jsonl.*.tmp")
    letters = [json.loads(line) for line in partial.read_text().splitlines()]
    bad_written = {_bad_number(letter) for letter in letters}
    acked_bad = {i for i in acked_ids(r, stream) if i % 5 == 0}
    assert len(acked_bad) >= 25
    assert acked_bad <= bad_written  # no bad message acked before its dead letter was written
    run_to_end(script, args, tmp_path)
    again = {_bad_number(json.loads(line)) for line in dead.read_text().splitlines()}
    assert sorted(bad_written | again) == list(range(0, n, 5))  # none lost
    assert not acked_bad & again  # what was acked did not come again
    assert pending(r, stream) == 0


def test_ctrl_c_into_a_file_sink_keeps_the_file_of_the_acked_messages(
    r: redis.Redis, tmp_path: Path
) -> None:
    """Ctrl-C: the run is aborted, so the target is not replaced; but the messages the
    source acked on its way out have their lines in the temporary file, which is kept."""
    stream, out = fill(r, 300), tmp_path / "out.txt"
    script = (
        "import sys, time, hosepipe as hp, hosepipe.redis\n"
        "url, stream, out = sys.argv[1:4]\n"
        "def work(m):\n"
        "    time.sleep(0.002)\n"
        "    return m.data.decode()\n"
        "feed = hp.redis.read_stream(url, stream, group='g', count=20, max_idle=1.0)\n"
        "feed.map(work).to(hp.write_lines(out))\n"
    )
    kill_when(
        script,
        [URL, stream, str(out)],
        tmp_path,
        lambda: len(acked_ids(r, stream)) >= 100,
        signal.SIGINT,
    )
    assert not out.exists()
    [partial] = tmp_path.glob(".out.txt.*.tmp")
    written = {int(line) for line in partial.read_text().splitlines()}
    acked = acked_ids(r, stream)
    assert len(acked) >= 100
    assert set(acked) <= written


@pytest.mark.parametrize("commit", ["batch", "run"])
def test_to_sql_commits_before_acks(r: redis.Redis, tmp_path: Path, commit: str) -> None:
    """SIGKILL mid-run into ``to_sql`` on PostgreSQL: every acked message's row was
    committed before its ack (with commit='run' too), and a restart inserts the rest."""
    psycopg = pytest.importorskip("psycopg")
    pg_url = os.environ.get("HOSEPIPE_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
    need_server("PostgreSQL server", lambda: psycopg.connect(pg_url).close())
    db = psycopg.connect(pg_url, autocommit=True)
    table = unique("rows").replace("-", "_")
    db.execute(f'CREATE TABLE "{table}" (n integer)')
    try:
        n = 400
        stream = fill(r, n)
        script = (
            "import sys, time, hosepipe as hp, hosepipe.redis\n"
            "url, stream, pg, table, commit = sys.argv[1:6]\n"
            "def work(m):\n"
            "    time.sleep(0.002)\n"
            "    return {'n': int(m.data)}\n"
            "feed = hp.redis.read_stream(url, stream, group='g', consumer='c1', count=20,"
            " max_idle=1.0)\n"
            "feed.map(work).to(hp.to_sql(pg, table, batch_size=1000, commit=commit))\n"
        )
        args = [URL, stream, pg_url, table, commit]
        kill_when(script, args, tmp_path, lambda: len(acked_ids(r, stream)) >= 150)

        def rows() -> list[int]:
            return [n for (n,) in db.execute(f'SELECT n FROM "{table}"').fetchall()]

        committed, acked = rows(), acked_ids(r, stream)
        assert len(acked) >= 150
        assert set(acked) <= set(committed)  # no message acked before its row committed
        run_to_end(script, args, tmp_path)
        got = rows()
        assert sorted(set(got)) == list(range(n))  # none lost
        assert len(got) - n <= 20  # doubles: the fetch unacked at the kill
        assert pending(r, stream) == 0
    finally:
        db.execute(f'DROP TABLE "{table}"')
        db.close()


def test_the_backlog_is_the_source_rows_queue_depth_in_prometheus(r: redis.Redis) -> None:
    prometheus_client = pytest.importorskip("prometheus_client")
    stream, scraped = fill(r, 50), []
    registry = prometheus_client.CollectorRegistry()

    def scrape(m: hp.redis.Message) -> None:
        if not scraped:  # while the first message is in the pipeline: nothing acked yet
            scraped.append(prometheus_client.generate_latest(registry).decode())

    feed = hp.redis.read_stream(URL, stream, group="g", count=10, max_idle=0.2).tap(scrape)
    exporter = hp.metrics.prometheus(feed, registry=registry, pipeline="orders")
    try:
        feed.run()
        after = prometheus_client.generate_latest(registry).decode()
    finally:
        exporter.close()
    label = f"redis.read_stream('{URL}', '{stream}')"
    line = f'hosepipe_queue_depth{{pipeline="orders",position="0",stage="{label}"}}'
    assert f"{line} 50.0" in scraped[0].splitlines()
    assert f"{line} 0.0" in after.splitlines()


@pytest.mark.parametrize("durable", [True, False])
def test_a_file_sink_fsyncs_its_temporary_file_before_each_ack(
    r: redis.Redis, tmp_path: Path, durable: bool
) -> None:
    """The flush before acks of a file sink ``fsync``s the temporary file (and, once, its
    folder) before each ``XACK`` goes out, so an acked message's line survives a machine
    crash; ``durable=False`` only writes it (the final file is synced at the end either
    way). Seen in the system calls of a real consumer (strace)."""
    import shutil
    import subprocess
    import sys

    if shutil.which("strace") is None:
        pytest.skip("strace is not installed")
    n = 60
    stream, out, log = fill(r, n), tmp_path / "out.jsonl", tmp_path / "strace.log"
    script = tmp_path / "consumer.py"
    script.write_text(
        "import sys, hosepipe as hp, hosepipe.redis\n"
        "url, stream, out, durable = sys.argv[1:5]\n"
        "feed = hp.redis.read_stream(url, stream, group='g', count=20, max_idle=0.3)\n"
        "feed.map(lambda m: {'n': int(m.data)}).to(hp.write_jsonl(out, durable=durable == '1'))\n"
    )
    args = [URL, stream, str(out), "1" if durable else "0"]
    cmd = ["strace", "-f", "-y", "-s", "40", "-e", "trace=fsync,sendto", "-o", str(log)]
    done = subprocess.run(
        [*cmd, sys.executable, str(script), *args], capture_output=True, text=True, timeout=100
    )
    assert done.returncode == 0, done.stderr
    assert len(out.read_text().splitlines()) == n
    events = []  # in order: "tmp" (the temporary file synced), "dir", "xack"
    for line in log.read_text().splitlines():
        if "fsync(" in line and ".out.jsonl." in line and ".tmp>" in line:
            events.append("tmp")
        elif "fsync(" in line and f"<{tmp_path}>" in line:
            events.append("dir")
        elif "sendto(" in line and "XACK" in line:
            events.append("xack")
    acks = [i for i, e in enumerate(events) if e == "xack"]
    assert len(acks) == n // 20  # one XACK a fetch (the last one as the feed ends)
    synced_before = [
        "tmp" in events[(acks[k - 1] + 1 if k else 0) : at] for k, at in enumerate(acks)
    ]
    if durable:
        assert all(synced_before)  # every XACK after an fsync of what it acks
        assert events.index("dir") < acks[0]  # the temporary file's name is durable too
    else:
        assert not any(synced_before)
        assert events[acks[-1] + 1 :].count("tmp") == 1  # the commit's fsync
    assert pending(r, stream) == 0
