"""retry (folded into the stage before it) and throttle (evenly spaced items), hp.backoff."""

from __future__ import annotations

import threading
import time
from collections import Counter
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hosepipe as hp
from hosepipe._steps import Throttle
from hosepipe.testing import assert_no_leaks

NO_WAIT = hp.backoff.none()


class Flaky:
    """Fails the first *failures* calls for each item with *exc*, then returns x * 10."""

    def __init__(self, failures: int, exc: type[Exception] = ConnectionError) -> None:
        self.failures = failures
        self.exc = exc
        self.calls: Counter[int] = Counter()
        self.lock = threading.Lock()

    def __call__(self, x: int) -> int:
        with self.lock:
            self.calls[x] += 1
            n = self.calls[x]
        if n <= self.failures:
            raise self.exc(f"{x} failed (call {n})")
        return x * 10


# -- retry ------------------------------------------------------------------------------------


@pytest.mark.parametrize("concurrency", [1, 4])
def test_retry_calls_again_on_the_same_item_and_counts(concurrency: int) -> None:
    flaky = Flaky(failures=2)
    s = (
        hp.Stream(range(6))
        .map(flaky, concurrency=concurrency)
        .retry(ConnectionError, backoff=NO_WAIT)
    )
    stats = s.run()
    assert flaky.calls == Counter(dict.fromkeys(range(6), 3))
    assert stats.stages[1].retries == 12
    assert stats.stages[1].to_dict()["retries"] == 12
    assert "retries" in str(stats)  # the table grows a column when a stage retried
    flaky.calls.clear()
    assert s.to_list() == [x * 10 for x in range(6)]
    flaky.calls.clear()
    assert s.run().stages[1].retries == 12  # each run counts its own
    assert s.run().stages[1].retries == 0  # no failures left


def test_the_last_failure_propagates_with_its_notes() -> None:
    flaky = Flaky(failures=5)
    s = hp.Stream([1, 2]).map(flaky).retry(ConnectionError, attempts=3, backoff=NO_WAIT)
    with pytest.raises(ConnectionError, match=r"1 failed \(call 3\)") as info:
        s.to_list()
    notes = "\n".join(info.value.__notes__)
    assert "failed 3 time(s) on this item (retry attempts=3)" in notes
    assert "stage 1 map(Flaky).retry(ConnectionError, attempts=3), item index 0" in notes
    assert flaky.calls[1] == 3
    assert flaky.calls[2] == 0


def test_other_exceptions_are_not_retried() -> None:
    flaky = Flaky(failures=1, exc=ValueError)
    with pytest.raises(ValueError, match="call 1"):
        hp.Stream([1]).map(flaky).retry(ConnectionError, backoff=NO_WAIT).to_list()
    assert flaky.calls[1] == 1


def test_a_catch_after_a_retry_gets_the_last_failure() -> None:
    flaky = Flaky(failures=9)
    dead: list[hp.DeadLetter] = []
    s = hp.Stream([1, 2]).map(flaky).retry(attempts=2, backoff=NO_WAIT).catch(dead_letter=dead)
    stats = s.run()
    assert [d.item for d in dead] == [1, 2]
    assert (stats.stages[1].errors, stats.stages[1].retries) == (2, 2)


def test_retry_waits_the_backoff_delays() -> None:
    class Recorder:
        max = 1.0

        def __init__(self) -> None:
            self.asked: list[int] = []

        def delay(self, attempt: int) -> float:
            self.asked.append(attempt)
            return 0.0

    rec = Recorder()
    hp.Stream([1]).map(Flaky(failures=3)).retry(attempts=4, backoff=rec).to_list()
    assert rec.asked == [1, 2, 3]


def test_retry_of_flat_map_filter_and_tap() -> None:
    calls: Counter[int] = Counter()

    def gen(x: int) -> object:
        calls[x] += 1
        yield x
        if calls[x] == 1:
            raise OSError("broke while iterating")
        yield x

    got = hp.Stream([1, 2]).flat_map(gen).retry(OSError, backoff=NO_WAIT).to_list()
    assert got == [1, 1, 2, 2]  # the half-made first attempt was thrown away
    keep = Flaky(failures=1)
    assert hp.Stream([0, 1]).filter(keep).retry(backoff=NO_WAIT).to_list() == [1]
    seen = Flaky(failures=1)
    assert hp.Stream([3]).tap(seen).retry(backoff=NO_WAIT).to_list() == [3]


def test_retry_in_pipelines_folds_into_the_stage_before() -> None:
    flaky = Flaky(failures=1)
    p = hp.map(flaky) | hp.retry(ConnectionError, backoff=NO_WAIT)
    assert repr(p) == "map(Flaky).retry(ConnectionError, attempts=3)"
    assert list(range(3) | p) == [0, 10, 20]
    # a pipeline that starts with retry changes the stage it is applied after
    tail = hp.retry(ConnectionError, backoff=NO_WAIT) | hp.map(str)
    flaky.calls.clear()
    assert hp.Stream(range(2)).map(flaky).pipe(tail).to_list() == ["0", "10"]


def test_retry_needs_a_stage_that_calls_a_function() -> None:
    with pytest.raises(TypeError, match=r"the stage before it, take\(2\), calls no function"):
        hp.Stream(range(5)).take(2).retry()
    with pytest.raises(TypeError, match=r"scan\(max\), is not one that retry\(\) can repeat"):
        hp.Stream(range(5)).scan(max, 0).retry()
    with pytest.raises(TypeError, match=r"here no stage comes before it"):
        hp.Stream(range(5)).retry()
    with pytest.raises(TypeError, match=r"here no stage comes before it"):
        range(5) | hp.retry()  # type: ignore[operator]
    with pytest.raises(TypeError, match=r"retries already"):
        hp.Stream(range(5)).map(str).retry().retry()
    with pytest.raises(TypeError, match=r"subclass of Exception"):
        hp.retry(KeyboardInterrupt)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"`attempts` must be >= 1, got 0"):
        hp.retry(attempts=0)
    with pytest.raises(TypeError, match=r"`backoff` must be a backoff policy"):
        hp.retry(backoff=0.5)  # type: ignore[arg-type]


def test_closing_a_run_stops_a_worker_waiting_to_retry() -> None:
    waiting = threading.Event()

    def fails_after_0(x: int) -> int:
        if x == 0:
            return x
        waiting.set()
        raise ConnectionError(x)

    s = (
        hp.Stream(range(10))
        .map(fails_after_0, concurrency=2)
        .retry(attempts=5, backoff=hp.backoff.constant(1000.0))
    )
    with assert_no_leaks():
        it = iter(s)
        assert next(it) == 0
        assert waiting.wait(10)  # a pool thread now waits 1000 s before its next attempt
        it.close()  # without the stop switch, joining that thread would take 1000 s


def test_backoff_module() -> None:
    assert hp.backoff.exponential(0.1, 1.0, jitter=False).delay(5) == 1.0
    assert 0.05 <= hp.backoff.exponential(0.1, 1.0).delay(1) <= 0.1
    assert hp.backoff.constant(0.3).delay(9) == 0.3
    assert hp.backoff.none().delay(1) == 0.0
    with pytest.raises(ValueError, match="`base` must be a number >= 0"):
        hp.backoff.constant(-1)


# -- throttle ---------------------------------------------------------------------------------


@settings(max_examples=200)
@given(
    st.integers(min_value=1, max_value=50),
    st.floats(min_value=0.01, max_value=10.0),
    st.lists(st.floats(min_value=0.0, max_value=2.0), max_size=60),
)
def test_throttle_step_never_lets_more_than_rate_through_in_any_window(
    rate: int, per: float, gaps: list[float]
) -> None:
    step = Throttle(rate, per)
    now, times = 0.0, []
    for gap in gaps:  # items arrive after *gap*, wait as told, then leave
        now += gap * per
        now += step.wait(now)
        step.passed(now)
        times.append(now)
    for i, t in enumerate(times):  # any window [t, t + per) holds at most `rate` items
        in_window = [u for u in times[i:] if u < t + per - 1e-9]
        assert len(in_window) <= rate
    for a, b in pairwise(times):
        assert b - a >= per / rate - 1e-9


def test_throttle_paces_a_real_stream() -> None:
    stamps: list[float] = []
    got = hp.Stream(range(5)).throttle(50).tap(lambda _: stamps.append(time.monotonic())).to_list()
    assert got == list(range(5))
    gaps = [b - a for a, b in pairwise(stamps)]
    assert min(gaps) >= 0.02 - 0.001  # never sooner than 1/50 s apart (later is allowed)


def test_throttle_stats_and_pipeline() -> None:
    s = hp.Stream(range(4)).throttle(1000, per=0.5).filter(lambda x: x % 2)
    stats = s.run()
    assert (stats.stages[1].label, stats.stages[1].items_in, stats.stages[1].items_out) == (
        "throttle(1000, per=0.5)",
        4,
        4,
    )
    assert list(range(3) | hp.throttle(1000)) == [0, 1, 2]


def test_throttle_validates() -> None:
    with pytest.raises(ValueError, match=r"throttle\(\): `rate` must be > 0 and finite, got 0"):
        hp.throttle(0)
    with pytest.raises(TypeError, match=r"`per` must be a number"):
        hp.throttle(1, per="1")  # type: ignore[arg-type]
