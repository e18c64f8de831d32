"""map/flat_map(via="process"): real worker processes, chunked, bounded, cleaned up."""

from __future__ import annotations

import asyncio
import functools
import itertools
import multiprocessing
import os
import re
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hosepipe as hp
from hosepipe._drive import _procpool
from hosepipe._drive._procpool import RemoteTraceback, chunk_size
from hosepipe.testing import CountingSource, assert_no_leaks

# -- functions the workers run (module level, so plain pickle sends them) ---------------------


def square(x: int) -> int:
    return x * x


def jitter(x: int) -> int:
    time.sleep((x % 3) * 0.0005)  # calls finish out of order
    return x * 10


def repeat(x: int) -> list[int]:
    return [x] * (x % 3)


def pid_of(_: object) -> int:
    return os.getpid()


def fail_on_5(x: int) -> int:
    if x == 5:
        raise ValueError(f"bad item {x}")
    return x


def slow_unless_0(x: int) -> int:
    if x == 0:
        raise KeyError("first")
    time.sleep(0.05)
    return x


def sleep_long_after_1(x: int) -> int:
    if x > 1:
        time.sleep(1000)  # only ends if the run terminates the worker
    return x


def kill_myself_on_3(x: int) -> int:
    if x == 3:
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(0.01)
    return x


def unpicklable_result(x: int) -> object:
    return threading.Lock()


class Unpicklable(Exception):
    def __init__(self, lock: object) -> None:
        super().__init__("holds a lock")
        self.lock = lock


def raise_unpicklable(x: int) -> int:
    raise Unpicklable(threading.Lock())


_STATE: dict[str, int] = {}


def setup_worker() -> None:
    _STATE["inits"] = _STATE.get("inits", 0) + 1
    _STATE["pid"] = os.getpid()


def use_state(x: int) -> tuple[int, int, int]:
    return (x, _STATE["inits"], _STATE["pid"])


_ATTEMPTS: Counter[int] = Counter()


def fail_first_attempt(x: int) -> int:
    _ATTEMPTS[x] += 1  # per worker: the retry runs in the same worker
    if _ATTEMPTS[x] == 1:
        raise ConnectionError(f"flaky {x}")
    return x * 2


def slow(x: int) -> int:
    time.sleep(0.02)
    return x


def wait_for(path: str, x: int) -> int:
    deadline = time.monotonic() + 20
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} never appeared")
        time.sleep(0.005)
    return x


def lock_on_4(x: int) -> object:
    return threading.Lock() if x == 4 else x


# -- results ----------------------------------------------------------------------------------


@settings(max_examples=15, deadline=None)
@given(
    st.lists(st.integers(min_value=0, max_value=1000), max_size=60),
    st.integers(min_value=1, max_value=16),
    st.booleans(),
)
def test_process_map_equals_the_sequential_one(
    xs: list[int], concurrency: int, ordered: bool
) -> None:
    with assert_no_leaks():
        got = hp.Stream(xs).map(jitter, concurrency=concurrency, ordered=ordered, via="process")
        result = got.to_list()
    expected = [jitter(x) for x in xs]
    if ordered:
        assert result == expected
    else:
        assert Counter(result) == Counter(expected)


def test_process_flat_map_and_pipeline_spelling() -> None:
    expected = [y for x in range(30) for y in repeat(x)]
    with assert_no_leaks():
        assert hp.Stream(range(30)).flat_map(repeat, concurrency=3, via="process").to_list() == (
            expected
        )
        assert list(range(30) | hp.flat_map(repeat, concurrency=3, via="process")) == expected


def test_work_is_spread_over_the_workers() -> None:
    pids = hp.Stream(range(40)).map(slow, concurrency=2, via="process").map(lambda _: 0)
    assert pids.count() == 40
    seen = set(hp.Stream(range(40)).map(pid_of, concurrency=2, via="process").to_list())
    assert len(seen) <= 2
    assert os.getpid() not in seen  # the calls ran in other processes


def test_lambdas_and_closures_go_by_cloudpickle() -> None:
    offset = 7
    got = hp.Stream(range(5)).map(lambda x: x + offset, concurrency=2, via="process").to_list()
    assert got == [7, 8, 9, 10, 11]


def test_without_cloudpickle_a_lambda_is_refused_naming_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "cloudpickle", None)  # import now fails
    s = hp.Stream(range(5)).map(lambda x: x, concurrency=2, via="process")
    with assert_no_leaks(), pytest.raises(hp.HosepipeError, match=r"hosepipe\[process\]"):
        s.to_list()
    assert s.map(str).count  # the stream itself is still usable
    assert hp.Stream(range(3)).map(square, concurrency=2, via="process").to_list() == [0, 1, 4]


def test_initializer_runs_once_per_worker_before_its_calls() -> None:
    rows = (
        hp.Stream(range(50))
        .map(use_state, concurrency=3, via="process", initializer=setup_worker)
        .to_list()
    )
    assert [x for x, _, _ in rows] == list(range(50))
    assert {inits for _, inits, _ in rows} == {1}  # each worker ran it exactly once
    assert all(pid != os.getpid() for _, _, pid in rows)
    assert "inits" not in _STATE  # and not in this process


def test_initializer_on_threads_runs_in_each_pool_thread() -> None:
    names: list[str] = []
    lock = threading.Lock()

    def init() -> None:
        with lock:
            names.append(threading.current_thread().name)

    hp.Stream(range(20)).map(slow, concurrency=3, initializer=init).to_list()
    assert 1 <= len(names) <= 3
    assert len(set(names)) == len(names)


def test_initializer_needs_a_pool() -> None:
    with pytest.raises(ValueError, match=r"`initializer` runs once in each pool worker"):
        hp.map(square, initializer=setup_worker)
    with pytest.raises(TypeError, match=r"`initializer` must be callable"):
        hp.map(square, concurrency=2, initializer=3)  # type: ignore[arg-type]


# -- bounds -----------------------------------------------------------------------------------


def test_slow_tasks_go_one_by_one_and_the_source_is_read_at_most_two_chunks_per_worker(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_procpool, "TARGET_SECONDS", 0.01)  # 20 ms tasks: one a chunk
    src = CountingSource(range(200))
    with assert_no_leaks():
        it = hp.Stream(src).map(slow, concurrency=2, via="process").iterate()
        with it:
            for taken, _ in enumerate(it, start=1):
                # 20 ms a task: chunks stay at one item, 2 per worker in flight, 1 ahead
                assert src.reads <= taken + 2 * 2 + 2
                if taken == 12:
                    break
    assert src.active == 0


def test_chunk_size_rule() -> None:
    assert chunk_size(0.005) == 20  # 5 ms tasks: 0.1 s of work a chunk
    assert chunk_size(0.0005) == 200
    assert chunk_size(1e-9) == _procpool.MAX_CHUNK
    assert chunk_size(0.5) == 1
    assert chunk_size(0.0) == _procpool.MAX_CHUNK


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_the_last_chunks_shrink_so_the_workers_finish_together(
    mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    sizes: list[int] = []
    submit = _procpool.ChunkPool._submit

    def record(pool: _procpool.ChunkPool, items: list[Any]) -> None:
        sizes.append(len(items))
        submit(pool, items)

    monkeypatch.setattr(_procpool.ChunkPool, "_submit", record)
    monkeypatch.setattr(_procpool, "chunk_size", lambda seconds: 25)  # 25 a chunk after one
    s = hp.Stream(range(300)).map(square, concurrency=2, via="process")
    with assert_no_leaks():
        out = s.to_list() if mode == "sync" else asyncio.run(s.ato_list())
    assert out == [x * x for x in range(300)]  # every item once, in order
    assert sum(sizes) == 300
    assert sizes[:4] == [1, 1, 1, 1]  # the first chunks, before any time per item is known
    tail = sizes[sizes.index(25) :]
    full = [n for n in tail if n == 25]
    rest = tail[len(full) :]
    assert full
    assert tail[: len(full)] == full
    assert len(rest) >= 4
    assert rest == sorted(rest, reverse=True)
    assert rest[-1] == 1
    assert max(rest) < 25


def test_tiny_tasks_are_chunked() -> None:
    src = CountingSource(range(20_000))
    with hp.Stream(src).map(square, concurrency=2, via="process").iterate() as it:
        for _ in zip(range(5000), it):
            pass
        # chunks grew past one item: far more was read ahead than 2 per worker
        assert src.reads > 5000 + 2 * 2
        assert src.reads <= 5000 + _procpool.window_size(2)


# -- errors -----------------------------------------------------------------------------------


def test_a_worker_error_keeps_its_type_note_and_remote_traceback() -> None:
    with assert_no_leaks(), pytest.raises(ValueError, match="bad item 5") as info:
        hp.Stream(range(20)).map(fail_on_5, concurrency=2, via="process").to_list()
    notes = "\n".join(info.value.__notes__)
    assert "stage 1 map(fail_on_5, concurrency=2, via='process'), item index 5" in notes
    assert isinstance(info.value.__cause__, RemoteTraceback)
    assert "fail_on_5" in str(info.value.__cause__)
    assert "in worker process" in str(info.value.__cause__)


def test_a_worker_error_is_raised_promptly() -> None:
    src = CountingSource(range(10_000))
    with assert_no_leaks(), pytest.raises(KeyError):
        hp.Stream(src).map(slow_unless_0, concurrency=2, via="process").to_list()
    assert src.reads <= 2 * 2 + 2  # one-item chunks: 2 per worker in flight, 1 ahead
    assert src.active == 0


def test_catch_skips_failed_items_in_workers() -> None:
    dead: list[hp.DeadLetter] = []
    s = hp.Stream(range(12)).map(fail_on_5, concurrency=3, via="process").catch(dead_letter=dead)
    assert s.to_list() == [x for x in range(12) if x != 5]
    assert [d.item for d in dead] == [5]
    stats = s.run()
    assert (stats.stages[1].items_in, stats.stages[1].items_out, stats.stages[1].errors) == (
        12,
        11,
        1,
    )


def test_an_unpicklable_result_is_reported_with_the_stage() -> None:
    with assert_no_leaks(), pytest.raises(Exception, match="pickle") as info:
        hp.Stream(range(3)).map(unpicklable_result, concurrency=2, via="process").to_list()
    assert any("map(unpicklable_result" in n for n in info.value.__notes__)


def test_an_unpicklable_exception_arrives_as_a_hosepipe_error() -> None:
    with assert_no_leaks(), pytest.raises(hp.HosepipeError, match=r"Unpicklable: holds a lock"):
        hp.Stream(range(3)).map(raise_unpicklable, concurrency=2, via="process").to_list()


def test_a_killed_worker_raises_a_hosepipe_error_naming_the_stage() -> None:
    s = hp.Stream(range(50)).map(kill_myself_on_3, concurrency=2, via="process")
    with assert_no_leaks(), pytest.raises(hp.HosepipeError, match="a worker process died") as e:
        s.to_list()
    assert "map(kill_myself_on_3, concurrency=2, via='process')" in str(e.value)
    assert any("stage 1" in n for n in e.value.__notes__)


def test_an_outside_sigkill_does_not_hang_the_stream() -> None:
    before = {p.pid for p in multiprocessing.active_children()}
    killed = []

    def consume() -> None:
        for x in hp.Stream(range(10_000)).map(slow, concurrency=2, via="process"):
            if x == 3:
                workers = [p for p in multiprocessing.active_children() if p.pid not in before]
                os.kill(workers[0].pid, signal.SIGKILL)  # type: ignore[arg-type]
                killed.append(workers[0].pid)

    with assert_no_leaks(), pytest.raises(hp.HosepipeError, match="a worker process died"):
        consume()
    assert len(killed) == 1


# -- cleanup ----------------------------------------------------------------------------------


def test_early_break_terminates_busy_workers() -> None:
    src = CountingSource(range(100))
    s = hp.Stream(src).map(sleep_long_after_1, concurrency=2, via="process")
    with assert_no_leaks(), s.iterate() as it:
        assert next(it) == 0
        assert next(it) == 1
        assert multiprocessing.active_children()  # the pool is up, two workers asleep
    # leaving the block closed the run: the sleeping workers were stopped, not awaited
    assert src.active == 0


def test_keyboard_interrupt_in_the_consumer_stops_the_workers() -> None:
    def consume() -> None:
        for x in hp.Stream(range(100)).map(sleep_long_after_1, concurrency=2, via="process"):
            if x == 1:
                raise KeyboardInterrupt

    with assert_no_leaks(), pytest.raises(KeyboardInterrupt):
        consume()


def test_the_pool_starts_at_the_first_item_and_ends_with_the_run() -> None:
    before = set(multiprocessing.active_children())
    s = hp.Stream(range(10)).map(square, concurrency=2, via="process")
    it = iter(s)
    assert set(multiprocessing.active_children()) == before  # nothing started yet
    assert next(it) == 0
    assert set(multiprocessing.active_children()) - before  # started
    assert list(it) == [square(x) for x in range(1, 10)]
    assert set(multiprocessing.active_children()) == before  # shut down at the end


# -- retry ------------------------------------------------------------------------------------


def test_retry_recalls_the_function_inside_the_worker_and_counts() -> None:
    _ATTEMPTS.clear()
    s = (
        hp.Stream(range(10))
        .map(fail_first_attempt, concurrency=2, via="process")
        .retry(ConnectionError, backoff=hp.backoff.none())
    )
    assert s.to_list() == [x * 2 for x in range(10)]
    stats = s.run()
    assert stats.stages[1].retries == 10
    assert stats.stages[1].label.endswith(".retry(ConnectionError, attempts=3)")
    assert not _ATTEMPTS  # the attempts were counted in the workers, not here


def slow_head_then_flaky(x: int) -> int:
    if x == 0:
        time.sleep(0.3)  # the head chunk finishes last: later chunks wait, done, in order
        return 0
    return fail_first_attempt(x)


def test_retries_of_chunks_that_finish_before_the_head_are_counted_once() -> None:
    _ATTEMPTS.clear()
    s = (
        hp.Stream(range(8))
        .map(slow_head_then_flaky, concurrency=2, via="process")
        .retry(ConnectionError, backoff=hp.backoff.none())
    )
    stats = s.run()
    assert (stats.stages[1].items_out, stats.stages[1].retries) == (8, 7)


def head_slow(x: int) -> int:
    time.sleep(0.3 if x == 0 else 0.001)
    return x


def test_a_slow_head_chunk_is_waited_for_without_spinning(monkeypatch: pytest.MonkeyPatch) -> None:
    import concurrent.futures as cf

    waits = []
    real_wait = cf.wait

    def counting_wait(*args: object, **kwargs: object) -> object:
        waits.append(1)
        return real_wait(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(cf, "wait", counting_wait)
    assert hp.Stream(range(8)).map(head_slow, concurrency=2, via="process").to_list() == list(
        range(8)
    )
    assert len(waits) <= 8


def broken_setup() -> None:
    raise RuntimeError("no model file")


@pytest.mark.parametrize("via", ["thread", "process"])
def test_a_failing_initializer_is_raised_with_its_type_and_notes(via: str) -> None:
    s = hp.Stream(range(10)).map(square, concurrency=2, via=via, initializer=broken_setup)
    with assert_no_leaks(), pytest.raises(RuntimeError, match="no model file") as info:
        s.to_list()
    notes = "\n".join(info.value.__notes__)
    assert "raised by the `initializer`" in notes


@pytest.mark.parametrize("via", ["thread", "process"])
def test_a_failing_initializer_names_the_stage(via: str) -> None:
    s = hp.Stream(range(10)).map(square, concurrency=2, via=via, initializer=broken_setup)
    with assert_no_leaks(), pytest.raises(RuntimeError) as info:
        s.to_list()
    assert any(n.startswith("hosepipe: in stage 1 map(square") for n in info.value.__notes__)


# -- in async streams: the same pool, the upstream and the waits awaited ----------------------

MODES = ["sync", "async"]


async def _agen(xs: list[int], reads: list[int] | None = None) -> AsyncIterator[int]:
    for x in xs:
        if reads is not None:
            reads.append(x)
        yield x


def _stream(mode: str, xs: list[int], reads: list[int] | None = None) -> hp.Stream[int]:
    """A stream over *xs*: a plain one, or one with an async source (the async driver)."""
    if mode == "sync":
        return hp.Stream(xs)
    return hp.Stream(functools.partial(_agen, xs, reads))


def _collect(stream: hp.Stream[Any], mode: str) -> list[Any]:
    if mode == "sync":
        return stream.to_list()
    return asyncio.run(stream.ato_list())


@pytest.mark.parametrize("mode", MODES)
@settings(max_examples=8, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=1000), max_size=40), st.booleans())
def test_process_map_equals_the_sequential_one_in_both_drivers(
    mode: str, xs: list[int], ordered: bool
) -> None:
    with assert_no_leaks():
        s = _stream(mode, xs).map(jitter, concurrency=2, ordered=ordered, via="process")
        result = _collect(s, mode)
    expected = [jitter(x) for x in xs]
    assert result == expected if ordered else Counter(result) == Counter(expected)


def test_async_process_map_runs_in_other_processes_and_flat_maps() -> None:
    xs = list(range(30))
    s = _stream("async", xs).flat_map(repeat, concurrency=3, via="process")
    assert _collect(s, "async") == [y for x in xs for y in repeat(x)]
    pids = set(_collect(_stream("async", xs).map(pid_of, concurrency=2, via="process"), "async"))
    assert os.getpid() not in pids
    assert 1 <= len(pids) <= 2


def test_async_process_map_does_not_block_the_event_loop(tmp_path: Path) -> None:
    """The workers wait for a file that another task on the loop writes: a driver that
    blocked the loop while waiting for their chunks would never let that task run."""
    flag = tmp_path / "go"

    async def main() -> list[int]:
        async def release() -> None:
            await asyncio.sleep(0.05)
            flag.write_text("go")

        task = asyncio.create_task(release())
        s = _stream("async", list(range(6)))
        waiting = s.map(functools.partial(wait_for, str(flag)), concurrency=2, via="process")
        got = await waiting.ato_list()
        await task
        return got

    with assert_no_leaks():
        assert asyncio.run(main()) == list(range(6))


@pytest.mark.parametrize("mode", MODES)
def test_catch_skips_failed_items_and_the_counts_agree(mode: str) -> None:
    dead: list[hp.DeadLetter] = []
    s = _stream(mode, list(range(12))).map(fail_on_5, concurrency=3, via="process")
    s = s.catch(dead_letter=dead)
    assert _collect(s, mode) == [x for x in range(12) if x != 5]
    assert [d.item for d in dead] == [5]
    stage = s.stats().stages[1]
    assert (stage.items_in, stage.items_out, stage.errors) == (12, 11, 1)
    assert stage.queue is not None
    assert stage.queue.sent == 12


@pytest.mark.parametrize("mode", MODES)
def test_a_worker_error_is_raised_with_its_type_note_and_traceback(mode: str) -> None:
    s = _stream(mode, list(range(20))).map(fail_on_5, concurrency=2, via="process")
    with assert_no_leaks(), pytest.raises(ValueError, match="bad item 5") as info:
        _collect(s, mode)
    assert "hosepipe: in stage 1 map(fail_on_5, concurrency=2, via='process'), item index 5" in (
        info.value.__notes__
    )
    assert isinstance(info.value.__cause__, RemoteTraceback)


@pytest.mark.parametrize("mode", MODES)
def test_an_unpicklable_result_fails_only_its_own_item(mode: str) -> None:
    dead: list[hp.DeadLetter] = []
    s = _stream(mode, list(range(10))).map(lock_on_4, concurrency=2, via="process")
    got = _collect(s.catch(dead_letter=dead), mode)
    assert got == [x for x in range(10) if x != 4]  # the rest of its chunk came through
    assert [d.item for d in dead] == [4]
    assert isinstance(dead[0].error, TypeError)
    assert "cannot be pickled" in "\n".join(dead[0].error.__notes__)
    with pytest.raises(TypeError, match="pickle") as info:
        _collect(s, mode)  # not caught: raised, naming the stage and the item
    assert any("map(lock_on_4" in n and "item index 4" in n for n in info.value.__notes__)


@pytest.mark.parametrize("mode", MODES)
def test_a_dead_worker_names_the_items_in_flight(mode: str) -> None:
    s = _stream(mode, list(range(50))).map(kill_myself_on_3, concurrency=2, via="process")
    with assert_no_leaks(), pytest.raises(hp.HosepipeError, match="a worker process died") as e:
        _collect(s, mode)
    held = re.search(r"items? (\d+)(?: to (\d+))? were in flight", str(e.value))
    assert held is not None, str(e.value)
    first, last = int(held[1]), int(held[2] or held[1])
    assert first <= 3 <= last  # the item that killed its worker is among them
    assert any(n.startswith("hosepipe: in stage 1 map(kill_myself_on_3") for n in e.value.__notes__)


def test_leaving_aiterate_early_terminates_busy_workers_at_once() -> None:
    reads: list[int] = []

    async def main() -> None:
        s = _stream("async", list(range(100)), reads)
        async with s.map(sleep_long_after_1, concurrency=2, via="process").aiterate() as it:
            assert [await it.__anext__(), await it.__anext__()] == [0, 1]
            assert multiprocessing.active_children()  # the pool is up, two workers asleep

    started = time.monotonic()
    with assert_no_leaks():
        asyncio.run(main())
    assert time.monotonic() - started < 100  # the sleeping calls were not waited for
    assert reads[:2] == [0, 1]


@pytest.mark.parametrize("mode", MODES)
def test_the_upstream_is_read_at_most_three_chunks_per_worker_ahead(
    mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_procpool, "TARGET_SECONDS", 0.01)  # 20 ms tasks: one a chunk
    reads: list[int] = []
    xs = list(range(200))
    if mode == "sync":
        src = CountingSource(xs)
        s: hp.Stream[int] = hp.Stream(src)
    else:
        s = _stream(mode, xs, reads)
    s = s.map(slow, concurrency=2, via="process").take(12)

    def read() -> int:
        return src.reads if mode == "sync" else len(reads)

    with assert_no_leaks():
        assert _collect(s, mode) == list(range(12))
    assert 12 <= read() <= 12 + 2 * 2 + 2  # per worker: 2 chunks in flight, 1 read ahead


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("via", ["thread", "process"])
def test_a_failing_initializer_is_raised_naming_the_stage_in_both_drivers(
    mode: str, via: str
) -> None:
    s = _stream(mode, list(range(10)))
    s = s.map(square, concurrency=2, via=via, initializer=broken_setup)
    with assert_no_leaks(), pytest.raises(RuntimeError, match="no model file") as info:
        _collect(s.catch(), mode)  # a catch does not skip it: no item failed
    notes = "\n".join(info.value.__notes__)
    assert "raised by the `initializer`" in notes
    assert "hosepipe: in stage 1 map(square" in notes


def test_a_plain_function_in_an_async_map_gets_its_own_threads_and_initializer() -> None:
    """concurrency=16 means 16 threads at once (the default executor has only
    min(32, cpus + 4)), each set up by the initializer."""
    barrier = threading.Barrier(16, timeout=10)
    names: list[str] = []
    lock = threading.Lock()

    def init() -> None:
        with lock:
            names.append(threading.current_thread().name)

    def meet(x: int) -> int:
        barrier.wait()  # only passes when 16 calls run at once
        return x

    s = _stream("async", list(range(32))).map(meet, concurrency=16, initializer=init)
    with assert_no_leaks():
        assert _collect(s, "async") == list(range(32))
    assert len(names) == len(set(names)) == 16
    assert all(n.startswith("hosepipe map(meet, concurrency=16)") for n in names)


# -- hp.ProcessPool: workers that several runs share -------------------------------------------

_inits = 0  # in a worker: how many times the pool's initializer ran there


def count_init() -> None:
    global _inits
    _inits += 1


def pid_and_inits(x: int) -> tuple[int, int, int]:
    return x, os.getpid(), _inits


def negate(x: int) -> int:
    return -x


@pytest.mark.parametrize("mode", MODES)
def test_a_process_pool_serves_several_runs_with_the_same_workers(mode: str) -> None:
    with assert_no_leaks(), hp.ProcessPool(2, initializer=count_init) as pool:
        first = _collect(_stream(mode, list(range(40))).map(pid_and_inits, via=pool), mode)
        second = _collect(_stream(mode, list(range(40))).map(pid_and_inits, via=pool), mode)
        other = _collect(_stream(mode, [1, 2, 3]).map(negate, via=pool), mode)  # another fn
        workers = {p.pid for p in multiprocessing.active_children()}
    assert [x for x, _, _ in first] == [x for x, _, _ in second] == list(range(40))
    pids = {pid for _, pid, _ in first + second}
    assert pids <= workers  # the pool's own processes, and no new ones for the second run
    assert len(workers) == 2
    assert {inits for _, _, inits in first + second} == {1}  # once per worker, not per run
    assert other == [-1, -2, -3]
    assert pool.closed


def test_a_process_pool_takes_its_size_as_the_concurrency_and_names_itself() -> None:
    with hp.ProcessPool(3) as pool:
        s = hp.Stream(range(10)).map(negate, via=pool)
        stats = s.run()
    stage = stats.stages[1]
    assert "concurrency=3, via=ProcessPool(workers=3" in stage.label
    assert stage.items_out == 10
    with hp.ProcessPool(2) as pool:  # an explicit concurrency: 2 chunks in flight for each
        assert hp.Stream(range(7)).map(negate, concurrency=4, via=pool).to_list() == [
            -x for x in range(7)
        ]


def test_a_run_stopped_early_leaves_the_pool_working_for_the_next() -> None:
    with assert_no_leaks(), hp.ProcessPool(2) as pool:
        with hp.Stream(range(10_000)).map(square, via=pool).iterate() as it:
            for n, _ in enumerate(it, start=1):
                if n == 3:
                    break
        alive = multiprocessing.active_children()
        assert len(alive) == 2  # the caller's pool: not stopped by the run's end
        # the abandoned run's results do not leak into the next one
        assert hp.Stream(range(100)).map(negate, via=pool).to_list() == [-x for x in range(100)]
    assert not multiprocessing.active_children()


def test_a_dead_worker_fails_its_run_and_the_next_run_gets_fresh_workers() -> None:
    with assert_no_leaks(), hp.ProcessPool(2) as pool:
        with pytest.raises(hp.HosepipeError, match="a worker process died"):
            hp.Stream(range(10)).map(kill_myself_on_3, via=pool).to_list()
        assert hp.Stream(range(5)).map(negate, via=pool).to_list() == [0, -1, -2, -3, -4]


def test_process_pool_errors() -> None:
    with pytest.raises(ValueError, match="`workers` must be an int >= 1"):
        hp.ProcessPool(0)
    with pytest.raises(TypeError, match="`initializer` must be callable"):
        hp.ProcessPool(2, initializer=3)  # type: ignore[arg-type]
    pool = hp.ProcessPool(2)
    with pytest.raises(ValueError, match=r"give it to hp.ProcessPool\(initializer=...\)"):
        hp.Stream(range(3)).map(negate, via=pool, initializer=count_init)
    with pytest.raises(ValueError, match=r"or an hp\.ProcessPool, got 'processes'"):
        hp.Stream(range(3)).map(negate, via="processes")  # type: ignore[arg-type]
    pool.close()
    with pytest.raises(hp.HosepipeError, match=r"ProcessPool\(workers=2, closed\) is closed"):
        hp.Stream(range(3)).map(negate, via=pool).to_list()
    import pickle

    with pytest.raises(TypeError, match="cannot be sent to another process"):
        pickle.dumps(pool)


def test_items_out_counts_what_was_passed_on_not_the_chunk_received() -> None:
    """A chunk's results are counted one by one as they leave: a consumer that stops
    after 3,000 sees 3,000 out, though whole chunks (up to 1,024 items) came back."""
    s = hp.Stream(range(10_000)).map(negate, concurrency=2, via="process")
    with s.iterate() as it:
        assert list(itertools.islice(it, 3000)) == [-x for x in range(3000)]
        assert s.stats().stages[1].items_out == 3000
    assert s.stats().stages[1].items_out == 3000
