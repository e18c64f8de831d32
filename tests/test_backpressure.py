"""Queues stay within their documented bounds, read from their channel statistics."""

from __future__ import annotations

import time

import hosepipe as hp
from hosepipe._drive._procpool import window_size
from hosepipe.testing import CountingSource, assert_no_leaks


def ident(x: int) -> int:
    return x


def slow_consumer(it: hp.Iteration[int], src: CountingSource[int], bound: int) -> int:
    """Read everything, pausing now and then; check the read-ahead at every pause."""
    n = 0
    for n, _ in enumerate(it, start=1):
        if n % 20_000 == 0:
            time.sleep(0.01)  # the producers run ahead as far as they may
            assert src.reads - n <= bound, (src.reads, n, bound)
    return n


def test_a_million_items_through_a_process_map_stay_within_the_window() -> None:
    src = CountingSource(range(1_000_000))
    workers = 2
    bound = window_size(workers)  # 2 chunks in flight and one read ahead per worker
    with (
        assert_no_leaks(),
        hp.Stream(src).map(ident, concurrency=workers, via="process").iterate() as it,
    ):
        assert slow_consumer(it, src, bound) == 1_000_000
        queue = it.stats().stages[1].queue
    assert queue is not None
    assert queue.capacity == bound
    assert 0 < queue.peak <= bound
    assert (queue.sent, queue.received, queue.depth) == (1_000_000, 1_000_000, 0)


def test_a_thread_map_with_a_slow_consumer_keeps_at_most_twice_concurrency_items() -> None:
    src = CountingSource(range(1_000_000))
    s = hp.Stream(src).map(ident, concurrency=4)
    with assert_no_leaks(), s.iterate() as it:
        assert slow_consumer(it, src, 2 * 4) == 1_000_000
        queue = it.stats().stages[1].queue
    assert queue is not None
    assert queue.peak == queue.capacity == 2 * 4  # the window filled, and never went past it
    assert queue.send_wait > 0  # the reader waited on a full window: backpressure


def test_a_million_items_through_a_buffer_keep_its_size() -> None:
    src = CountingSource(range(1_000_000))
    with assert_no_leaks(), hp.Stream(src).buffer(64).iterate() as it:
        assert slow_consumer(it, src, 64 + 1) == 1_000_000  # + the item the thread holds
        queue = it.stats().stages[1].queue
    assert queue is not None
    assert queue.peak == queue.capacity == 64
    assert queue.sent == queue.received == 1_000_000


def test_queue_statistics_in_run_stats_and_to_dict() -> None:
    stats = hp.Stream(range(50)).map(ident, concurrency=3).filter(bool).run()
    queue = stats.stages[1].queue
    assert queue is not None
    assert queue.sent == 50
    assert stats.stages[2].queue is None  # a fused stage has no queue
    d = stats.to_dict()["stages"][1]["queue"]
    assert d["capacity"] == 2 * 3  # 3 running, 3 queued
    assert d["sent"] == d["received"] == 50
    assert set(d) == {"capacity", "depth", "peak", "sent", "received", "send_wait"}


def test_live_stats_show_the_current_depth() -> None:
    with hp.Stream(range(1000)).buffer(10).iterate() as it:
        next(it)
        deadline = time.monotonic() + 10
        while it.stats().stages[1].queue.depth < 10 and time.monotonic() < deadline:  # type: ignore[union-attr]
            time.sleep(0.01)
        assert it.stats().stages[1].queue.depth == 10  # type: ignore[union-attr]
