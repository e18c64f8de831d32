"""map/flat_map with concurrency on threads: same results, bounded, prompt errors, cleanup."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hosepipe as hp
from hosepipe.testing import CountingSource, assert_no_leaks


def jitter(x: int) -> int:
    time.sleep((x % 3) * 0.0005)  # calls finish out of order
    return x * 10


class Peak:
    """Counts the calls running at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = 0
        self.peak = 0

    def __call__(self, x: int) -> int:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
        time.sleep(0.001)
        with self.lock:
            self.now -= 1
        return x


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.integers(min_value=0, max_value=1000), max_size=80),
    st.integers(min_value=1, max_value=16),
    st.booleans(),
)
def test_concurrent_map_equals_the_sequential_one(
    xs: list[int], concurrency: int, ordered: bool
) -> None:
    with assert_no_leaks():
        got = hp.Stream(xs).map(jitter, concurrency=concurrency, ordered=ordered).to_list()
    expected = [jitter(x) for x in xs]
    if ordered:
        assert got == expected
    else:
        assert Counter(got) == Counter(expected)


def spread(x: int) -> list[int]:
    time.sleep((x % 3) * 0.0005)
    return [x] * (x % 4)


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.integers(min_value=0, max_value=1000), max_size=60),
    st.integers(min_value=1, max_value=16),
    st.booleans(),
)
def test_concurrent_flat_map_equals_the_sequential_one(
    xs: list[int], concurrency: int, ordered: bool
) -> None:
    with assert_no_leaks():
        got = hp.Stream(xs).flat_map(spread, concurrency=concurrency, ordered=ordered).to_list()
    expected = [y for x in xs for y in spread(x)]
    if ordered:
        assert got == expected
    else:
        assert Counter(got) == Counter(expected)


def test_concurrent_flat_map() -> None:
    with assert_no_leaks():
        s = hp.Stream(range(20)).flat_map(lambda x: [x] * (x % 3), concurrency=4)
        assert s.to_list() == [x for x in range(20) for _ in range(x % 3)]
        unordered = hp.flat_map(lambda x: [x, -x], concurrency=4, ordered=False)
        assert sorted(range(5) | unordered) == sorted([*range(5), *(-x for x in range(5))])


def test_ordered_results_stream_before_the_last_call_ends() -> None:
    release = threading.Event()

    def slow_last(x: int) -> int:
        if x == 1:
            release.wait(10)
        return x

    with assert_no_leaks():
        it = iter(hp.Stream([0, 1]).map(slow_last, concurrency=2))
        assert next(it) == 0  # while the call for 1 is still blocked
        release.set()
        assert list(it) == [1]


def test_in_flight_calls_and_read_ahead_are_bounded() -> None:
    peak = Peak()
    source = CountingSource(range(10_000))
    with assert_no_leaks(), hp.Stream(source).map(peak, concurrency=4).iterate() as it:
        for _ in range(50):
            next(it)
        assert source.reads <= 50 + 2 * 4  # 4 running, 4 queued
    assert peak.peak <= 4
    assert source.active == 0


def test_an_error_propagates_promptly_with_its_note() -> None:
    def fail_on_3(x: int) -> int:
        time.sleep(0.001)
        if x == 3:
            raise ValueError("bad 3")
        return x

    source = CountingSource(range(10_000))
    with assert_no_leaks(), pytest.raises(ValueError, match="bad 3") as info:
        hp.Stream(source).map(fail_on_3, concurrency=4).to_list()
    assert info.value.__notes__ == [
        "hosepipe: in stage 1 map(fail_on_3, concurrency=4), item index 3"
    ]
    assert source.reads <= 3 + 2 * 4 + 4  # not the rest of the input
    assert source.active == 0


def test_catch_skips_failed_calls() -> None:
    bad: list[hp.DeadLetter] = []

    def half(x: int) -> int:
        if x % 2:
            raise ArithmeticError(x)
        return x

    s = hp.Stream(range(10)).map(half, concurrency=3).catch(ArithmeticError, dead_letter=bad)
    with assert_no_leaks():
        stats = s.run()
    assert sorted(d.item for d in bad) == [1, 3, 5, 7, 9]
    assert (stats.stages[1].items_in, stats.stages[1].items_out) == (10, 5)
    assert stats.stages[1].errors == 5
    assert s.to_list() == [0, 2, 4, 6, 8]


def test_early_close_joins_every_thread() -> None:
    with assert_no_leaks(timeout=1.0):
        it = iter(hp.Stream(range(10**6)).map(jitter, concurrency=8))
        assert [next(it) for _ in range(5)] == [0, 10, 20, 30, 40]
        it.close()  # type: ignore[attr-defined]


def test_keyboard_interrupt_in_the_consumer_ends_everything() -> None:
    with assert_no_leaks(timeout=1.0):
        it = iter(hp.Stream(range(10**6)).map(jitter, concurrency=8))
        next(it)
        with pytest.raises(KeyboardInterrupt):
            it.throw(KeyboardInterrupt)  # type: ignore[attr-defined]


def test_labels_and_validation() -> None:
    s = hp.Stream([1]).map(str, concurrency=4, ordered=False)
    assert repr(s) == "Stream([1]).map(str, concurrency=4, ordered=False)"
    assert hp.map(str, concurrency=1) == hp.map(str)  # sequential: the fused map
    with pytest.raises(ValueError, match=r"^map\(\): `concurrency` must be >= 1, got 0$"):
        hp.map(str, concurrency=0)
    with pytest.raises(
        ValueError,
        match=r"^flat_map\(\): `via` must be None, 'thread', 'process' or an hp\.ProcessPool",
    ):
        hp.flat_map(str.split, via="carrier pigeon")
    with pytest.raises(TypeError, match=r"^map\(\): `ordered` must be True or False, got 1$"):
        hp.map(str, concurrency=2, ordered=1)  # type: ignore[arg-type]


def test_a_slow_head_is_waited_for_without_spinning(monkeypatch: pytest.MonkeyPatch) -> None:
    import concurrent.futures as cf

    waits = []
    real_wait = cf.wait

    def counting_wait(*args: object, **kwargs: object) -> object:
        waits.append(1)
        return real_wait(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(cf, "wait", counting_wait)

    def head_slow(x: int) -> int:
        time.sleep(0.3 if x == 0 else 0.001)
        return x

    assert hp.Stream(range(8)).map(head_slow, concurrency=4).to_list() == list(range(8))
    # one wait per finished call at most; waiting on calls already done would loop
    # thousands of times while the head runs
    assert len(waits) <= 8
