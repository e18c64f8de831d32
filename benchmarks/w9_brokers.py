"""W9: broker feeds, messages/second through source -> map -> sink, per broker.

For each broker (Redis Streams, NATS JetStream, RabbitMQ), N messages are waiting in a
source (a stream, a subject, a queue); a run reads all N, maps each payload (``int`` then
``* 2``, as text), writes the result to a second stream/subject/queue, and acknowledges each
input only after its output was written (at-least-once):

* hand-written: the broker's own client in a loop, batch by batch: fetch up to 100,
  map, write the batch (Redis: one pipelined ``XADD`` round trip; NATS: JetStream
  publishes whose acks are awaited together; RabbitMQ: persistent publishes whose
  publisher confirms are awaited together), then ack the batch (``XACK``; NATS ``ack()``
  of each; AMQP one ``multiple`` ack), then fetch again;
* hosepipe: ``hp.<broker>.<source>(...).map(f).take(N).to(hp.<broker>.<sink>(...))``
  with the same batch sizes (count / batch / prefetch 100, sink batch 100).

Each call reads from the start (Redis: a new consumer group; NATS: a new durable
consumer; RabbitMQ: the queue is refilled between calls, outside the timing) and the output
is deleted between calls. The servers are the local ones (Redis 6379, NATS 4222, RabbitMQ
5672 guest/guest); a broker whose server does not answer is reported as skipped.
Target: hosepipe >= 0.9x the hand-written loop's messages/second (paired ratio).
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import Callable
from typing import Any

import hosepipe as hp
import hosepipe.amqp
import hosepipe.nats
import hosepipe.redis
from benchmarks._harness import (
    Report,
    Timings,
    Variant,
    Verdict,
    fmt_ms,
    fmt_ratio,
    markdown_table,
    measure,
    progress,
)

__all__ = ["run"]

TARGET = 0.9  # hosepipe >= 0.9x the hand-written loop's throughput
BATCH = 100
REDIS = "redis://127.0.0.1:6379/0"
NATS = "nats://127.0.0.1:4222"
AMQP = "amqp://guest:guest@127.0.0.1:5672/"


def transform(data: bytes) -> bytes:
    """The map: the payload is a number; the output is twice it, as text."""
    return str(int(data) * 2).encode()


def payloads(n: int) -> list[bytes]:
    return [str(i).encode() for i in range(n)]


# -- Redis ------------------------------------------------------------------------------------


class RedisCase:
    def __init__(self, n: int) -> None:
        import redis

        self.n = n
        self.r = redis.Redis.from_url(REDIS)
        self.r.ping()
        tag = uuid.uuid4().hex[:8]
        self.src, self.out = f"w9-in-{tag}", f"w9-out-{tag}"
        self.groups = (f"g{i}" for i in itertools.count())
        with self.r.pipeline(transaction=False) as pipe:
            for p in payloads(n):
                pipe.xadd(self.src, {"data": p})
            pipe.execute()

    def hand(self) -> int:
        import redis

        group = next(self.groups)
        client = redis.Redis.from_url(REDIS)
        client.xgroup_create(self.src, group, id="0")
        done = 0
        try:
            while done < self.n:
                reply = client.xreadgroup(
                    group, "c", {self.src: ">"}, count=min(BATCH, self.n - done), block=1000
                )
                entries = reply[0][1]
                pipe = client.pipeline(transaction=False)
                for _, fields in entries:
                    pipe.xadd(self.out, {"data": transform(fields[b"data"])})
                pipe.execute()
                client.xack(self.src, group, *(entry_id for entry_id, _ in entries))
                done += len(entries)
        finally:
            client.close()
        return done

    def hosepipe(self) -> int:
        feed = hp.redis.read_stream(REDIS, self.src, group=next(self.groups), count=BATCH)
        sink = hp.redis.write_stream(REDIS, self.out, batch=BATCH)
        return feed.map(lambda m: transform(m.data)).take(self.n).to(sink)

    def between(self) -> None:
        self.r.delete(self.out)

    def close(self) -> None:
        self.r.delete(self.src, self.out)
        self.r.close()


# -- NATS -------------------------------------------------------------------------------------


class NatsCase:
    def __init__(self, n: int) -> None:
        self.n = n
        tag = uuid.uuid4().hex[:8]
        self.stream = f"w9_{tag}"
        self.src, self.out = f"{self.stream}.in", f"{self.stream}.out"
        self.durables = (f"d{i}" for i in itertools.count())
        asyncio.run(self._setup())

    async def _setup(self) -> None:
        import nats

        nc = await nats.connect(NATS, allow_reconnect=False, connect_timeout=2)
        js = nc.jetstream()
        await js.add_stream(name=self.stream, subjects=[f"{self.stream}.>"])
        for i in range(0, self.n, 1000):
            await asyncio.gather(*(js.publish(self.src, p) for p in payloads(self.n)[i : i + 1000]))
        await nc.close()

    async def _hand(self) -> int:
        import nats

        nc = await nats.connect(NATS)
        js = nc.jetstream()
        sub = await js.pull_subscribe(self.src, durable=next(self.durables))
        done = 0
        try:
            while done < self.n:
                msgs = await sub.fetch(min(BATCH, self.n - done), timeout=1)
                await asyncio.gather(*(js.publish(self.out, transform(m.data)) for m in msgs))
                for m in msgs:
                    await m.ack()
                done += len(msgs)
            await nc.flush()
        finally:
            await nc.close()
        return done

    def hand(self) -> int:
        return asyncio.run(self._hand())

    def hosepipe(self) -> int:
        feed = hp.nats.consume(NATS, self.src, durable=next(self.durables), batch=BATCH)
        sink = hp.nats.publish(NATS, self.out, batch=BATCH)
        return feed.map(lambda m: transform(m.data)).take(self.n).to(sink)

    def between(self) -> None:
        async def purge() -> None:
            import nats

            nc = await nats.connect(NATS)
            await nc.jetstream().purge_stream(self.stream, subject=self.out)
            await nc.close()

        asyncio.run(purge())

    def close(self) -> None:
        async def delete() -> None:
            import nats

            nc = await nats.connect(NATS)
            await nc.jetstream().delete_stream(self.stream)
            await nc.close()

        asyncio.run(delete())


# -- RabbitMQ ---------------------------------------------------------------------------------


class AmqpCase:
    def __init__(self, n: int) -> None:
        self.n = n
        tag = uuid.uuid4().hex[:8]
        self.src, self.out = f"w9-in-{tag}", f"w9-out-{tag}"
        asyncio.run(self._refill(declare=True))

    async def _refill(self, declare: bool = False) -> None:
        import aio_pika

        conn = await aio_pika.connect(AMQP, timeout=2)
        channel = await conn.channel()
        for name in (self.src, self.out):
            queue = await channel.declare_queue(name)
            await queue.purge()
        ex = channel.default_exchange
        for i in range(0, self.n, 1000):
            chunk = payloads(self.n)[i : i + 1000]
            await asyncio.gather(*(ex.publish(aio_pika.Message(p), self.src) for p in chunk))
        await conn.close()

    async def _hand(self) -> int:
        import aio_pika

        conn = await aio_pika.connect(AMQP)
        channel = await conn.channel(publisher_confirms=True)
        await channel.set_qos(prefetch_count=BATCH)
        queue = await channel.declare_queue(self.src, passive=True)
        arrived: asyncio.Queue[Any] = asyncio.Queue()
        await queue.consume(arrived.put)
        ex, done = channel.default_exchange, 0
        try:
            while done < self.n:
                batch = [await arrived.get()]
                while not arrived.empty() and len(batch) < BATCH:
                    batch.append(arrived.get_nowait())
                await asyncio.gather(
                    *(
                        ex.publish(
                            aio_pika.Message(
                                transform(m.body), delivery_mode=aio_pika.DeliveryMode.PERSISTENT
                            ),
                            self.out,
                        )
                        for m in batch
                    )
                )
                await batch[-1].ack(multiple=True)
                done += len(batch)
        finally:
            await conn.close()
        return done

    def hand(self) -> int:
        return asyncio.run(self._hand())

    def hosepipe(self) -> int:
        feed = hp.amqp.consume(AMQP, self.src, prefetch=BATCH)
        sink = hp.amqp.publish(AMQP, self.out, batch=BATCH)
        return feed.map(lambda m: transform(m.data)).take(self.n).to(sink)

    def between(self) -> None:
        asyncio.run(self._refill())

    def close(self) -> None:
        async def delete() -> None:
            import aio_pika

            conn = await aio_pika.connect(AMQP)
            channel = await conn.channel()
            for name in (self.src, self.out):
                await channel.queue_delete(name)
            await conn.close()

        asyncio.run(delete())


# -- the run ----------------------------------------------------------------------------------

CASES: dict[str, tuple[str, Callable[[int], Any]]] = {
    "redis": ("Redis Streams: read_stream -> map -> write_stream", RedisCase),
    "nats": ("NATS JetStream: consume -> map -> publish", NatsCase),
    "amqp": ("RabbitMQ: consume -> map -> publish (confirms)", AmqpCase),
}


def run(*, quick: bool, rounds: int | None = None, seed: int = 0) -> Report:
    """Run W9 (quick: 5,000 messages a broker, 7 rounds; full: 50,000, 9 rounds)."""
    n = 5_000 if quick else 50_000
    rounds = rounds or (7 if quick else 9)
    progress(f"W9: {n:,} messages per broker, source -> map -> sink, acked after the write")
    rows: list[tuple[str, ...]] = []
    verdicts: list[Verdict] = []
    data: dict[str, Any] = {"messages": n, "rounds": rounds, "seed": seed, "brokers": {}}
    for key, (title, make) in CASES.items():
        try:
            case = make(n)
        except Exception as e:
            reason = f"skipped: no server ({type(e).__name__}: {str(e).splitlines()[0][:80]})"
            progress(f"  W9 {key}: {reason}")
            rows.append((title, reason, "-", "-", "-", "-"))
            verdicts.append(Verdict(f"{key}: hosepipe >= {TARGET}x hand-written", reason, None))
            continue
        try:
            variants = [
                Variant("hand", case.hand, "hand-written loop", "baseline", case.between),
                Variant("hosepipe", case.hosepipe, "hosepipe", "hosepipe", case.between),
            ]
            t: Timings = measure(variants, rounds=rounds, seed=seed, label=f"W9 {key}")
        finally:
            case.close()
        for name, result in t.results.items():
            if result != n:
                raise AssertionError(f"W9 {key} {name} moved {result} messages, not {n}")
        ratio = 1 / t.paired_median("hosepipe", "hand")  # throughput: the inverse of time
        for v in variants:
            rows.append(
                (
                    f"{title}: {v.label}",
                    fmt_ms(t.median(v.name)),
                    f"{n / t.median(v.name):,.0f}",
                    fmt_ms(t.min(v.name)),
                    fmt_ratio(1 / t.paired_median(v.name, "hand")),
                    "-" if v.name == "hand" else "paired",
                )
            )
        verdicts.append(
            Verdict(f"{key}: hosepipe >= {TARGET}x hand-written", f"{ratio:.3f}x", ratio >= TARGET)
        )
        data["brokers"][key] = {
            "variants": t.as_json(),
            "throughput_ratio": ratio,
            "paired_time_ratios": t.paired("hosepipe", "hand"),
        }
    report = Report("w9", "quick" if quick else "full", "W9: broker feeds")
    report.notes = [
        f"{n:,} messages per broker waiting in the source; each run reads them all, maps "
        "`int(payload) * 2`, writes each to a second stream/subject/queue and acks each input "
        f"after its output was written; batches of {BATCH} (fetch count, prefetch, sink batch)",
        "hand-written: the broker's own client (redis-py, nats-py, aio-pika) in a loop, batch "
        "by batch (fetch, map, write the batch and await its acks/confirms, ack the batch)",
        "each call starts from a full source (new consumer group / durable; the RabbitMQ queue "
        "refilled) with an empty output, set up between calls outside the timing; "
        f"one warm-up call each, then {rounds} interleaved rounds (seed {seed})",
        "`msgs/s`: messages / median time; `vs hand-written`: median over rounds of the "
        "per-round throughput ratio (paired)",
    ]
    headers = ("variant", "median", "msgs/s", "min", "vs hand-written", "")
    report.sections = [("Results", markdown_table(headers, rows))]
    report.verdicts = verdicts
    report.data = data
    return report
