"""Async streams: async sources and stages, async terminals, bridges, concurrency, cleanup.

Warnings are errors (pytest config), so a task destroyed while pending or a coroutine
never awaited fails the test that caused it.
"""

from __future__ import annotations

import asyncio
import functools
import operator
import threading
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hosepipe as hp
from hosepipe.testing import CountingSource, assert_no_leaks


async def agen(xs: list[int], reads: list[int] | None = None) -> AsyncIterator[int]:
    for x in xs:
        await asyncio.sleep(0)
        if reads is not None:
            reads.append(x)
        yield x


async def adouble(x: int) -> int:
    await asyncio.sleep(0)
    return x * 2


async def is_odd(x: int) -> bool:
    await asyncio.sleep(0)
    return x % 2 == 1


async def arepeat(x: int) -> list[int]:
    await asyncio.sleep(0)
    return [x] * (x % 3)


def run(coro: object) -> object:
    return asyncio.run(coro)  # type: ignore[arg-type]


# -- the same operators over async sources and async functions --------------------------------

CHAINS = {
    "map": lambda s: s.map(lambda x: x + 1),
    "amap": lambda s: s.map(adouble),
    "afilter": lambda s: s.filter(is_odd),
    "aflat_map": lambda s: s.flat_map(arepeat),
    "tap": lambda s: s.tap(lambda x: None),
    "take": lambda s: s.take(3),
    "skip": lambda s: s.skip(2),
    "batch": lambda s: s.batch(2),
    "window": lambda s: s.window(2),
    "enumerate": lambda s: s.enumerate(),
    "scan": lambda s: s.scan(operator.add, 0),
    "distinct": lambda s: s.map(lambda x: x % 3).distinct(),
    "take_while": lambda s: s.take_while(lambda x: x < 5),
    "drop_while": lambda s: s.drop_while(lambda x: x < 5),
    "group_by": lambda s: s.group_by(lambda x: x // 3),
    "chain": lambda s: s.chain([100, 101]),
    "zip": lambda s: s.zip(range(100, 200)),
    "amap_concurrent": lambda s: s.map(adouble, concurrency=3),
}


def sync_equivalent(name: str, xs: list[int]) -> list[object]:
    """The same chain with plain functions over a list: the reference."""
    plain = {
        "amap": lambda s: s.map(lambda x: x * 2),
        "afilter": lambda s: s.filter(lambda x: x % 2 == 1),
        "aflat_map": lambda s: s.flat_map(lambda x: [x] * (x % 3)),
        "amap_concurrent": lambda s: s.map(lambda x: x * 2),
    }
    return plain.get(name, CHAINS[name])(hp.Stream(xs)).to_list()  # type: ignore[no-any-return]


@settings(max_examples=20, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=20), max_size=15))
@pytest.mark.parametrize("name", sorted(CHAINS))
def test_async_source_gives_what_the_sync_stream_gives(name: str, xs: list[int]) -> None:
    s = CHAINS[name](hp.Stream(functools.partial(agen, xs)))
    assert run(s.ato_list()) == sync_equivalent(name, xs)
    assert s.to_list() == sync_equivalent(name, xs)  # the bridge: an event loop of its own


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.integers(min_value=0, max_value=50), max_size=40),
    st.integers(min_value=1, max_value=16),
    st.booleans(),
)
def test_async_concurrent_map_equals_the_sequential_one(
    xs: list[int], concurrency: int, ordered: bool
) -> None:
    async def jitter(x: int) -> int:
        await asyncio.sleep((x % 3) * 0.0005)
        return x * 10

    got = run(hp.Stream(xs).map(jitter, concurrency=concurrency, ordered=ordered).ato_list())
    expected = [x * 10 for x in xs]
    if ordered:
        assert got == expected
    else:
        assert Counter(got) == Counter(expected)  # type: ignore[arg-type]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.integers(min_value=0, max_value=30), max_size=60),
    st.integers(min_value=1, max_value=9),
    st.booleans(),
    st.booleans(),
)
def test_async_concurrent_flat_map_with_skipped_failures_equals_a_plain_loop(
    xs: list[int], concurrency: int, ordered: bool, flat: bool
) -> None:
    async def work(x: int) -> Any:
        await asyncio.sleep((x % 4) * 0.0003)
        if x % 7 == 3:
            raise ValueError(x)
        return [x] * (x % 3) if flat else x + 1

    s = hp.Stream(xs)
    s = (
        s.flat_map(work, concurrency=concurrency, ordered=ordered)
        if flat
        else s.map(work, concurrency=concurrency, ordered=ordered)
    )
    s = s.catch(ValueError)
    got = run(s.ato_list())
    expected: list[int] = []
    for x in xs:  # the reference: a plain loop that skips the failures
        if x % 7 == 3:
            continue
        expected += [x] * (x % 3) if flat else [x + 1]
    if ordered:
        assert got == expected
    else:
        assert Counter(got) == Counter(expected)  # type: ignore[arg-type]
    stage = s.stats().stages[1]
    assert (stage.items_in, stage.errors) == (len(xs), sum(1 for x in xs if x % 7 == 3))


def test_at_most_concurrency_awaits_at_once_and_read_ahead_is_bounded() -> None:
    now = peak = 0
    reads: list[int] = []

    async def probe(x: int) -> int:
        nonlocal now, peak
        now += 1
        peak = max(peak, now)
        await asyncio.sleep(0.001)
        now -= 1
        return x

    async def main() -> list[int]:
        out = []
        async for x in hp.Stream(functools.partial(agen, list(range(100)), reads)).map(
            probe, concurrency=5
        ):
            out.append(x)
            assert len(reads) <= len(out) + 2 * 5  # 5 running, 5 finished ahead
        return out

    assert run(main()) == list(range(100))
    assert peak == 5


def test_a_concurrent_map_runs_its_calls_on_at_most_concurrency_tasks_and_reads_in_one() -> None:
    """No task per item: up to N workers go from one call to the next; the upstream is
    always resumed by one task (an upstream holding a context across yields needs that)."""
    created = 0
    readers: set[asyncio.Task[object] | None] = set()

    async def source() -> AsyncIterator[int]:
        for i in range(200):
            readers.add(asyncio.current_task())
            await asyncio.sleep(0)
            yield i

    async def main() -> list[int]:
        nonlocal created
        loop = asyncio.get_running_loop()

        def counting(loop: asyncio.AbstractEventLoop, coro: object, **kw: object) -> object:
            nonlocal created
            created += 1
            return asyncio.Task(coro, loop=loop, **kw)  # type: ignore[arg-type]

        loop.set_task_factory(counting)  # type: ignore[arg-type]
        return await hp.Stream(source).map(adouble, concurrency=4).ato_list()

    assert run(main()) == [x * 2 for x in range(200)]
    assert 4 <= created <= 4 + 2  # the workers, and at most the run's own tasks
    assert len(readers) == 1


def test_a_concurrent_map_skips_failures_in_order_and_keeps_the_others() -> None:
    async def flaky(x: int) -> int:
        await asyncio.sleep((x % 4) * 0.0005)
        if x % 5 == 0:
            raise ValueError(x)
        return x

    got = run(hp.Stream(range(60)).map(flaky, concurrency=7).catch(ValueError).ato_list())
    assert got == [x for x in range(60) if x % 5]


# -- terminals and bridges ---------------------------------------------------------------------


def test_async_terminals() -> None:
    s = hp.Stream(functools.partial(agen, [1, 2, 3, 4])).map(adouble)
    assert run(s.ato_list()) == [2, 4, 6, 8]
    assert run(s.acount()) == 4
    assert run(s.afirst()) == 2
    assert run(hp.Stream(functools.partial(agen, [])).afirst("none")) == "none"
    with pytest.raises(hp.EmptyStreamError):
        run(hp.Stream(functools.partial(agen, [])).afirst())
    assert run(s.areduce(operator.add)) == 20
    assert run(s.areduce(operator.add, 100)) == 120
    seen: list[int] = []

    async def record(x: int) -> None:
        seen.append(x)

    run(s.afor_each(record))
    run(hp.Stream([5]).afor_each(record))  # an async terminal function over a sync stream
    assert seen == [2, 4, 6, 8, 5]
    stats = run(s.arun())
    assert isinstance(stats, hp.RunStats)
    assert [(st.items_in, st.items_out) for st in stats.stages[1:]] == [(4, 4)]
    assert stats.stages[0].label == "agen()" or "partial" in stats.stages[0].label


def test_async_for_over_a_sync_stream_runs_its_stages_inline() -> None:
    src = CountingSource(range(10))

    async def main() -> list[int]:
        out = []
        async for x in hp.Stream(src).map(lambda x: x * 3):
            out.append(x)
            if len(out) == 3:
                break
        return out

    assert run(main()) == [0, 3, 6]
    assert src.active == 0  # closed when the async for loop's iterator was dropped...


def test_aiterate_closes_at_the_end_of_the_block() -> None:
    src = CountingSource(range(10))

    async def main() -> tuple[list[int], int]:
        async with hp.Stream(src).map(adouble).aiterate() as it:
            got = [await it.__anext__(), await it.__anext__()]
        return got, it.stats().stages[1].items_out

    assert run(main()) == ([0, 2], 2)
    assert src.active == 0


def test_sync_for_over_an_async_stream_refuses_inside_a_running_loop() -> None:
    s = hp.Stream(functools.partial(agen, [1, 2]))

    async def main() -> None:
        with pytest.raises(hp.HosepipeError, match=r"use `async for item in stream`"):
            s.to_list()
        with pytest.raises(hp.HosepipeError, match="already running"):
            list(s)

    run(main())
    assert list(s) == [1, 2]  # outside a loop: fine


def test_a_one_shot_async_generator_runs_once() -> None:
    s = hp.Stream(agen([1, 2]))
    assert s.to_list() == [1, 2]
    with pytest.raises(hp.StreamConsumedError, match="give the async generator function"):
        s.to_list()
    assert repr(s).startswith("Stream(<async_generator agen>")


# -- errors ----------------------------------------------------------------------------------


def test_an_async_stage_error_keeps_its_type_and_note() -> None:
    async def fail_on_3(x: int) -> int:
        if x == 3:
            raise ValueError("bad 3")
        return x

    s = hp.Stream(functools.partial(agen, list(range(6)))).map(fail_on_3)
    with pytest.raises(ValueError, match="bad 3") as info:
        run(s.ato_list())
    assert info.value.__notes__ == ["hosepipe: in stage 1 map(fail_on_3), item index 3"]


def test_catch_skips_async_failures_and_counts_them() -> None:
    async def fail_odd(x: int) -> int:
        if x % 2:
            raise KeyError(x)
        return x

    dead: list[hp.DeadLetter] = []
    for concurrency in (1, 4):
        dead.clear()
        s = (
            hp.Stream(functools.partial(agen, list(range(8))))
            .map(fail_odd, concurrency=concurrency)
            .catch(KeyError, dead_letter=dead)
        )
        assert sorted(run(s.ato_list())) == [0, 2, 4, 6]  # type: ignore[type-var]
        assert sorted(d.item for d in dead) == [1, 3, 5, 7]


def test_a_concurrent_failure_cancels_the_others_promptly() -> None:
    started: list[int] = []
    cancelled: list[int] = []

    async def work(x: int) -> int:
        started.append(x)
        if x == 0:
            await asyncio.sleep(0.01)
            raise ConnectionError("boom")
        try:
            await asyncio.sleep(1000)
        except asyncio.CancelledError:
            cancelled.append(x)
            raise
        return x

    with pytest.raises(ConnectionError, match="boom") as info:
        run(hp.Stream(range(100)).map(work, concurrency=4).ato_list())
    assert "item index 0" in info.value.__notes__[0]
    assert sorted(cancelled) == [1, 2, 3]  # every sibling cancelled, none left running
    assert len(started) == 4  # and the rest of the input was not started


def test_several_failing_at_once_make_an_exception_group() -> None:
    async def fail(x: int) -> int:
        await asyncio.sleep(0)
        raise ValueError(x)

    with pytest.raises(BaseExceptionGroup) as info:
        run(hp.Stream(range(3)).map(fail, concurrency=3).ato_list())
    assert len(info.value.exceptions) >= 2
    assert all(isinstance(e, ValueError) for e in info.value.exceptions)


# -- cleanup -----------------------------------------------------------------------------------


def test_aclose_cancels_every_task_and_closes_the_source() -> None:
    cancelled: list[int] = []
    finalized: list[str] = []

    async def source() -> AsyncIterator[int]:
        try:
            for i in range(1000):
                yield i
        finally:
            finalized.append("source")

    async def slow(x: int) -> int:
        if x == 0:
            return 0
        try:
            await asyncio.sleep(1000)
        except asyncio.CancelledError:
            cancelled.append(x)
            raise
        return x

    async def main() -> int:
        it = hp.Stream(source).map(slow, concurrency=5).aiterate()
        first = await it.__anext__()
        await it.aclose()
        assert len(asyncio.all_tasks()) == 1  # only this one: no task outlives the run
        return first

    with assert_no_leaks():
        assert run(main()) == 0
    assert sorted(cancelled) == [1, 2, 3, 4]  # the window held items 0-4; 0 was yielded
    assert finalized == ["source"]


def test_breaking_a_sync_for_over_an_async_stream_closes_everything() -> None:
    finalized: list[str] = []

    async def source() -> AsyncIterator[int]:
        try:
            for i in range(1000):
                await asyncio.sleep(0)
                yield i
        finally:
            finalized.append("source")

    with assert_no_leaks():
        it = iter(hp.Stream(source).map(adouble, concurrency=3))
        assert [next(it), next(it)] == [0, 2]
        it.close()  # type: ignore[attr-defined]
    assert finalized == ["source"]


def test_keyboard_interrupt_in_an_async_consumer_leaves_nothing_running() -> None:
    async def main() -> None:
        async for x in hp.Stream(range(100)).map(adouble, concurrency=4):
            if x == 4:
                raise KeyboardInterrupt

    with assert_no_leaks(), pytest.raises(KeyboardInterrupt):
        run(main())
    assert threading.active_count() >= 1


# -- more ------------------------------------------------------------------------------------


def test_async_retry_and_throttle() -> None:
    calls: Counter[int] = Counter()

    async def flaky(x: int) -> int:
        calls[x] += 1
        if calls[x] == 1:
            raise ConnectionError(x)
        return x

    s = hp.Stream(range(4)).map(flaky).retry(ConnectionError, backoff=hp.backoff.none())
    stats = run(s.arun())
    assert stats.stages[1].retries == 4  # type: ignore[attr-defined]
    loop_times: list[float] = []

    async def main() -> list[int]:
        loop = asyncio.get_running_loop()
        out = []
        async for x in hp.Stream(functools.partial(agen, [1, 2, 3])).throttle(50):
            loop_times.append(loop.time())
            out.append(x)
        return out

    assert run(main()) == [1, 2, 3]
    assert loop_times[2] - loop_times[0] >= 2 / 50 - 0.002


def test_sync_functions_with_concurrency_run_in_threads_in_an_async_stream() -> None:
    names: set[str] = set()

    def blocking(x: int) -> int:
        names.add(threading.current_thread().name)
        return x + 1

    got = run(hp.Stream(functools.partial(agen, [1, 2, 3])).map(blocking, concurrency=2).ato_list())
    assert got == [2, 3, 4]
    assert threading.main_thread().name not in names


def test_what_async_streams_do_not_do_is_refused_clearly() -> None:
    async def key(x: int) -> int:
        return x

    for via in ("thread", "process"):  # when the stage is written
        with pytest.raises(TypeError, match=r"key is an `async def` function: its calls are"):
            hp.Stream([1]).map(key, concurrency=2, via=via)  # type: ignore[arg-type]

    with pytest.raises(hp.HosepipeError, match=r"an `async def` function is accepted by map"):
        run(hp.Stream([1]).take_while(key).ato_list())  # type: ignore[arg-type]


def test_fused_async_stages_count_and_locate_errors() -> None:
    async def fail_on_5(x: int) -> int:
        if x == 5:
            raise ValueError("bad 5")
        return x

    s = (
        hp.Stream(functools.partial(agen, list(range(10))))
        .filter(lambda x: x % 2 == 1)  # 1 3 5 7 9
        .map(fail_on_5)
        .tap(lambda x: None)
    )
    with pytest.raises(ValueError, match="bad 5") as info:
        run(s.ato_list())
    # item index counts what reached the stage: 1, 3, then 5 is its third item
    assert info.value.__notes__ == ["hosepipe: in stage 2 map(fail_on_5), item index 2"]
    stats = run(s.catch(ValueError).arun())
    rows = [(st.items_in, st.items_out, st.errors) for st in stats.stages]  # type: ignore[attr-defined]
    assert rows == [(0, 10, 0), (10, 5, 0), (5, 4, 1), (4, 4, 0), (4, 4, 0)]


def test_an_async_source_error_gets_the_source_note() -> None:
    async def broken() -> AsyncIterator[int]:
        yield 1
        yield 2
        raise OSError("connection lost")

    with pytest.raises(OSError, match="connection lost") as info:
        run(hp.Stream(broken).map(lambda x: x).ato_list())
    assert info.value.__notes__ == ["hosepipe: in the source broken(), item index 2"]


def test_async_buffer_reads_ahead_in_a_task_boundedly() -> None:
    reads: list[int] = []
    finalized: list[str] = []

    async def source() -> AsyncIterator[int]:
        try:
            for i in range(1000):
                await asyncio.sleep(0)
                reads.append(i)
                yield i
        finally:
            finalized.append("source")

    async def main() -> tuple[list[int], object]:
        async with hp.Stream(source).buffer(5).aiterate() as it:
            got = [await it.__anext__() for _ in range(3)]
            for _ in range(50):
                await asyncio.sleep(0)  # the producer task runs ahead while we wait
            ahead = len(reads)
            queue = it.stats().stages[1].queue
        assert len(asyncio.all_tasks()) == 1  # the producer task was cancelled and awaited
        return [*got, ahead], queue

    got, queue = run(main())  # type: ignore[misc]
    assert got[:3] == [0, 1, 2]
    assert 3 + 5 <= got[3] <= 3 + 5 + 1  # it read ahead, and no further than the buffer
    assert queue.capacity == 5  # type: ignore[attr-defined]
    assert finalized == ["source"]


def test_async_buffer_passes_errors_after_the_items_before_them() -> None:
    async def broken() -> AsyncIterator[int]:
        yield 1
        yield 2
        raise OSError("gone")

    out: list[int] = []

    async def main() -> None:
        async for x in hp.Stream(broken).buffer(10):
            out.append(x)

    with pytest.raises(OSError, match="gone") as info:
        run(main())
    assert info.value.__notes__ == ["hosepipe: in the source broken(), item index 2"]
    assert out == [1, 2]


def test_async_timed_batch_flushes_when_the_source_goes_quiet() -> None:
    async def trickle() -> AsyncIterator[int]:
        for i in range(5):
            if i == 3:
                await asyncio.sleep(0.2)  # a pause: the partial batch [0, 1, 2] leaves
            yield i

    got = run(hp.Stream(trickle).batch(10, timeout=0.05).ato_list())
    assert got == [[0, 1, 2], [3, 4]]


# -- regressions from review --------------------------------------------------------------------


def test_ctrl_c_while_sync_code_reads_an_async_stream_cancels_every_task(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import signal

    async def slow(x: int) -> int:
        await asyncio.sleep(5)
        return x

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGALRM, interrupt)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.2)
        with pytest.raises(KeyboardInterrupt):
            for _ in hp.Stream(functools.partial(agen, list(range(10)))).map(slow, concurrency=3):
                pass
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert not [r for r in caplog.records if "destroyed but it is pending" in r.getMessage()]


def test_ctrl_c_in_a_sync_terminal_cancels_the_run_instead_of_landing_in_another_task() -> None:
    """A Ctrl-C while a sync terminal runs an async stream cancels the run's task (as
    asyncio.run does): a client's own task on the loop (here: `bystander`) never gets the
    KeyboardInterrupt, the source sees a cancellation and cleans up, the caller gets the
    KeyboardInterrupt once it has."""
    import signal

    seen: list[str] = []

    async def bystander() -> None:  # a client's reader task, say
        try:
            while True:
                await asyncio.sleep(0.001)
        except BaseException as e:
            seen.append(f"bystander {type(e).__name__}")
            raise

    async def source() -> AsyncIterator[int]:
        side = asyncio.ensure_future(bystander())
        try:
            for i in range(1000):
                if i == 5:
                    signal.raise_signal(signal.SIGINT)  # Ctrl-C, while the loop runs
                await asyncio.sleep(0.002)
                yield i
        except BaseException as e:
            seen.append(f"source {type(e).__name__}")
            raise
        finally:
            side.cancel()
            await asyncio.gather(side, return_exceptions=True)

    with pytest.raises(KeyboardInterrupt):
        hp.Stream(source).map(lambda x: x).run()
    assert seen == ["source CancelledError", "bystander CancelledError"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # put back


def test_a_dead_letter_sink_works_with_an_async_source(tmp_path: object) -> None:
    import json
    from pathlib import Path

    path = Path(str(tmp_path)) / "bad.jsonl"

    async def lines() -> AsyncIterator[str]:
        for line in ["1", "x", "3"]:
            yield line

    s = hp.Stream(lines).map(int).catch(ValueError, dead_letter=hp.write_jsonl(path))
    assert run(s.ato_list()) == [1, 3]
    assert [json.loads(x)["item"] for x in path.read_text().splitlines()] == ["x"]


def test_closing_stops_a_retry_waiting_upstream_of_a_buffer() -> None:
    def fails_after_0(x: int) -> int:
        if x:
            raise ConnectionError(x)
        return x

    s = (
        hp.Stream(range(5))
        .map(fails_after_0)
        .retry(ConnectionError, attempts=3, backoff=hp.backoff.constant(1000))
        .buffer(2)
    )
    with assert_no_leaks():
        it = iter(s)
        assert next(it) == 0
        it.close()  # without stopping the retry this would wait 1000 s


def test_threads_of_a_sync_concurrent_map_in_an_async_stream_end_with_the_run() -> None:
    import time

    def blocking(x: int) -> int:
        time.sleep(0.05)
        return x

    with assert_no_leaks():
        for x in hp.Stream(functools.partial(agen, list(range(20)))).map(blocking, concurrency=4):
            if x == 2:
                break


def test_retry_of_an_async_generator_flat_map() -> None:
    calls: Counter[int] = Counter()

    async def expand(x: int) -> AsyncIterator[int]:
        calls[x] += 1
        yield x
        if calls[x] == 1:
            raise ConnectionError("half way")
        yield x * 10

    s = (
        hp.Stream(functools.partial(agen, [1, 2]))
        .flat_map(expand)
        .retry(ConnectionError, backoff=hp.backoff.none())
    )
    assert run(s.ato_list()) == [1, 10, 2, 20]  # type: ignore[arg-type]


def test_counts_after_an_error_and_for_chain_match_the_sync_driver() -> None:
    def boom(x: int) -> int:
        if x == 3:
            raise ValueError(x)
        return x

    def rows(stats: hp.RunStats) -> list[tuple[int, int]]:
        return [(st.items_in, st.items_out) for st in stats.stages[1:]]

    for src in (list(range(10)), functools.partial(agen, list(range(10)))):
        it = hp.Stream(src).map(boom).map(str).iterate()  # type: ignore[arg-type]
        with it, pytest.raises(ValueError):
            list(it)
        assert rows(it.stats()) == [(4, 3), (3, 3)], src
    chained = hp.Stream(functools.partial(agen, [0, 1, 2])).chain([10, 11])
    assert run(chained.ato_list()) == [0, 1, 2, 10, 11]
    assert rows(run(chained.arun())) == [(3, 5)]  # type: ignore[arg-type]


def test_an_error_in_a_catch_handler_is_not_blamed_on_the_source() -> None:
    def handler(exc: BaseException, item: object) -> None:
        raise RuntimeError("handler broke")

    s = (
        hp.Stream(functools.partial(agen, [1, 0, 2]))
        .map(lambda x: 1 // x)
        .catch(ZeroDivisionError, handler=handler)
    )
    with pytest.raises(RuntimeError, match="handler broke") as info:
        run(s.ato_list())
    assert not any("the source" in n for n in getattr(info.value, "__notes__", []))
