"""The bounded channel: bounds, close rules, error propagation, statistics, real threads."""

from __future__ import annotations

import asyncio
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hosepipe._channel import Channel, ChannelClosed, EndOfChannel
from hosepipe.testing import assert_no_leaks


def run(target: object, *args: object) -> threading.Thread:
    thread = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
    thread.start()
    return thread


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(), max_size=300), st.integers(min_value=1, max_value=8))
def test_items_arrive_in_order_and_the_bound_holds(items: list[int], capacity: int) -> None:
    ch: Channel[int] = Channel(capacity)

    def produce() -> None:
        for item in items:
            ch.send(item)
        ch.close_send()

    with assert_no_leaks():
        producer = run(produce)
        got = list(ch)
        producer.join(5)
    assert got == items
    stats = ch.statistics()
    assert stats.peak <= capacity
    assert (stats.sent, stats.received, stats.depth) == (len(items), len(items), 0)


def test_a_full_channel_makes_the_producer_wait() -> None:
    ch: Channel[int] = Channel(2)
    ch.send(1)
    ch.send(2)
    with pytest.raises(TimeoutError, match=r"^send\(\) waited 0.05 s on a full channel$"):
        ch.send(3, timeout=0.05)
    assert ch.statistics().send_wait >= 0.04
    assert ch.receive() == 1
    ch.send(3, timeout=1)
    assert [ch.receive(), ch.receive()] == [2, 3]
    with pytest.raises(TimeoutError, match=r"^receive\(\) waited 0.01 s on an empty channel$"):
        ch.receive(timeout=0.01)


def test_close_send_drains_then_ends() -> None:
    ch: Channel[str] = Channel(3)
    ch.send("a")
    ch.close_send()
    assert ch.receive() == "a"
    with pytest.raises(EndOfChannel):
        ch.receive()
    with pytest.raises(ChannelClosed, match=r"^send\(\) after close_send\(\)$"):
        ch.send("b")


def test_a_producer_error_reaches_the_consumer_after_the_buffered_items() -> None:
    ch: Channel[int] = Channel(3)
    boom = ValueError("producer failed")
    ch.send(1)
    ch.close_send(boom)
    assert ch.receive() == 1
    with pytest.raises(ValueError, match="producer failed") as info:
        ch.receive()
    assert info.value is boom


def test_close_receive_stops_a_waiting_producer_at_once() -> None:
    ch: Channel[int] = Channel(1)
    ch.send(0)
    outcome: list[BaseException] = []

    def produce() -> None:
        try:
            ch.send(1)  # waits: the channel is full
        except BaseException as e:
            outcome.append(e)

    with assert_no_leaks():
        producer = run(produce)
        # Give it time to start waiting; the outcome is the same if it has not yet sent.
        threading.Event().wait(0.05)
        ch.close_receive()
        producer.join(5)
    assert len(outcome) == 1
    assert isinstance(outcome[0], ChannelClosed)
    assert str(outcome[0]) == "the channel's consumer has closed it: stop sending"
    assert ch.statistics().depth == 0
    with pytest.raises(EndOfChannel):
        ch.receive()


def test_close_send_wakes_a_waiting_consumer() -> None:
    ch: Channel[int] = Channel(1)
    got: list[object] = []

    def consume() -> None:
        got.extend(ch)

    with assert_no_leaks():
        consumer = run(consume)
        ch.send(7)
        ch.close_send()
        consumer.join(5)
    assert got == [7]


def test_validation_and_repr() -> None:
    with pytest.raises(ValueError, match=r"^Channel\(\): `capacity` must be an int >= 1, got 0$"):
        Channel(0)
    ch: Channel[int] = Channel(4)
    ch.send(1)
    assert repr(ch) == "Channel(capacity=4, depth=1)"
    assert repr(ch.statistics()).startswith("ChannelStats(depth=1/4, peak=1, sent=1")


def test_handoff_close_rules() -> None:
    import threading

    from hosepipe._channel import ChannelClosed, EndOfChannel, Handoff

    h: Handoff[int] = Handoff()
    for i in range(3):
        h.send(i)
    h.close_send()
    assert [h.receive() for _ in range(3)] == [0, 1, 2]
    for _ in range(2):  # every receiver sees the end, again and again
        with pytest.raises(EndOfChannel):
            h.receive()
    with pytest.raises(ChannelClosed):
        h.send(9)

    h2: Handoff[int] = Handoff()
    ended: list[str] = []

    def receiver() -> None:
        try:
            h2.receive()
        except EndOfChannel:
            ended.append("end")

    threads = [threading.Thread(target=receiver) for _ in range(3)]
    for t in threads:
        t.start()
    h2.close_receive()  # wakes every waiting receiver
    for t in threads:
        t.join(10)
    assert ended == ["end"] * 3
    with pytest.raises(ChannelClosed, match="consumer has closed"):
        h2.send(1)


# -- the async forms: the same rules, awaited -------------------------------------------------


@settings(max_examples=20, deadline=None)
@given(
    st.lists(st.integers(), max_size=200),
    st.integers(min_value=1, max_value=8),
    st.sampled_from(["task->task", "thread->task", "task->thread"]),
)
def test_async_sides_keep_order_and_bound(items: list[int], capacity: int, how: str) -> None:
    ch: Channel[int] = Channel(capacity)
    got: list[int] = []

    def send_all() -> None:
        for x in items:
            ch.send(x)
        ch.close_send()

    def receive_all() -> None:
        got.extend(ch)

    async def main() -> None:
        if how == "thread->task":
            t = run(send_all)
            got.extend([x async for x in ch])
        else:
            t = run(receive_all) if how == "task->thread" else None
            consumer = None if t else asyncio.create_task(_collect(ch, got))
            for x in items:
                await ch.asend(x)
                assert ch.statistics().depth <= capacity
            ch.close_send()
            if consumer is not None:
                await consumer
        if t is not None:
            while t.is_alive():
                await asyncio.sleep(0.001)

    with assert_no_leaks():
        asyncio.run(main())
    assert got == items
    s = ch.statistics()
    assert (s.sent, s.received, s.depth) == (len(items), len(items), 0)
    assert s.peak <= capacity


async def _collect(ch: Channel[int], out: list[int]) -> None:
    async for x in ch:
        out.append(x)


def test_asend_waits_on_a_full_channel_and_counts_the_wait() -> None:
    async def main() -> float:
        ch: Channel[int] = Channel(1)
        await ch.asend(1)
        waiting = asyncio.create_task(ch.asend(2))
        await asyncio.sleep(0.02)
        assert not waiting.done()  # full: it waits, and the loop runs on
        assert await ch.areceive() == 1
        await waiting
        assert await ch.areceive() == 2
        return ch.statistics().send_wait

    assert asyncio.run(main()) > 0


def test_async_close_rules() -> None:
    async def main() -> None:
        ch: Channel[int] = Channel(1)
        await ch.asend(1)
        waiting = asyncio.create_task(ch.asend(2))
        await asyncio.sleep(0)
        ch.close_receive()  # the consumer goes: a waiting producer stops at once
        with pytest.raises(ChannelClosed, match="consumer has closed it"):
            await waiting
        with pytest.raises(EndOfChannel):
            await ch.areceive()

        ch2: Channel[int] = Channel(2)
        await ch2.asend(7)
        ch2.close_send(KeyError("producer failed"))
        assert await ch2.areceive() == 7  # what was sent first arrives first
        with pytest.raises(KeyError, match="producer failed"):
            await ch2.areceive()
        with pytest.raises(ChannelClosed, match="after close_send"):
            await ch2.asend(8)

        ch3: Channel[int] = Channel(2)
        with pytest.raises(TimeoutError, match=r"waited 0\.02 s"):
            await ch3.areceive(timeout=0.02)
        waiter = asyncio.create_task(ch3.areceive())
        await asyncio.sleep(0)
        waiter.cancel()  # a cancelled receiver leaves no waiter behind
        await asyncio.gather(waiter, return_exceptions=True)
        assert ch3._async_waiters == []
        ch3.send(5)  # a thread's send after that wakes no one and keeps the item
        assert await ch3.areceive() == 5

    asyncio.run(main())
