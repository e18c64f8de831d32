"""Stream.broadcast (bounded fan-out) and hp.merge (fan-in as items arrive)."""

from __future__ import annotations

import asyncio
import functools
import itertools
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hosepipe as hp
from hosepipe.testing import CountingSource, assert_no_leaks


def read_in_threads(streams: tuple[hp.Stream[int], ...], delays: list[float]) -> list[list[int]]:
    out: list[list[int]] = [[] for _ in streams]
    errors: list[BaseException] = []

    def consume(k: int) -> None:
        try:
            for x in streams[k]:
                out[k].append(x)
                if delays[k]:
                    time.sleep(delays[k])
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=consume, args=(k,)) for k in range(len(streams))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return out


# -- broadcast --------------------------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.integers(), max_size=60),
    st.integers(min_value=1, max_value=4),
    st.integers(min_value=1, max_value=5),
    st.lists(st.sampled_from([0.0, 0.0, 0.0005]), min_size=4, max_size=4),
)
def test_every_consumer_gets_every_item(
    xs: list[int], n: int, buffer: int, delays: list[float]
) -> None:
    src = CountingSource(xs)
    with assert_no_leaks():
        outs = read_in_threads(hp.Stream(src).broadcast(n, buffer=buffer), delays)
    assert outs == [xs] * n
    assert src.opened == 1  # one run of the source for all of them
    assert src.active == 0


def test_the_fast_consumer_waits_buffer_items_ahead_of_the_slowest() -> None:
    src = CountingSource(range(1000))
    fast, slow = hp.Stream(src).broadcast(2, buffer=5)
    slow_it = iter(slow)
    assert next(slow_it) == 0  # the slow consumer has started, and stops reading
    got: list[int] = []
    t = threading.Thread(target=lambda: got.extend(fast))
    with assert_no_leaks():
        t.start()
        deadline = time.monotonic() + 10
        while len(got) < 7 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.1)  # the fast one has had time to run ahead, if it could
        # the slow one has read item 0 and has 5 more buffered; the producer sent item 6
        # to the fast one and waits to send it to the slow one: buffer + 1 ahead
        assert got == list(range(7))
        assert src.reads <= 1 + 5 + 1
        for _ in range(10):  # the slow one moves on: the fast one follows
            next(slow_it)
        deadline = time.monotonic() + 10
        while len(got) < 17 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.05)
        assert got == list(range(17))
        slow_it.close()  # detaches the slow one: the fast one runs to the end
        t.join()
    assert got == list(range(1000))
    assert src.active == 0


def test_closing_one_consumer_lets_the_others_finish() -> None:
    a, b, c = hp.Stream(range(500)).broadcast(3, buffer=3)
    results: dict[str, object] = {}
    with assert_no_leaks():
        ta = threading.Thread(target=lambda: results.update(a=a.take(4).to_list()))
        tb = threading.Thread(target=lambda: results.update(b=b.sum()))
        tc = threading.Thread(target=lambda: results.update(c=c.count()))
        for t in (ta, tb, tc):
            t.start()
        for t in (ta, tb, tc):
            t.join()
    assert results == {"a": [0, 1, 2, 3], "b": sum(range(500)), "c": 500}


def test_an_error_in_the_run_reaches_every_consumer() -> None:
    def boom(x: int) -> int:
        if x == 7:
            raise ValueError("bad 7")
        return x

    streams = hp.Stream(range(20)).map(boom).broadcast(2, buffer=4)
    errors: list[BaseException] = []
    with assert_no_leaks():

        def consume(s: hp.Stream[int]) -> None:
            try:
                s.to_list()
            except ValueError as e:
                errors.append(e)

        threads = [threading.Thread(target=consume, args=(s,)) for s in streams]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert len(errors) == 2
    assert "stage 1 map(boom), item index 7" in "\n".join(errors[0].__notes__)


def test_reading_both_consumers_in_one_thread_one_after_the_other_is_refused() -> None:
    a, b = hp.Stream(range(100)).broadcast(2, buffer=3)
    b_it = iter(b)
    assert next(b_it) == 0  # b is read by this thread, and then left behind
    with assert_no_leaks():
        with pytest.raises(hp.HosepipeError, match=r"consumer 1 is 3 items \(`buffer`\) behind"):
            a.to_list()
        b_it.close()


def test_interleaved_consumers_in_one_thread_work() -> None:
    a, b = hp.Stream(range(50)).broadcast(2, buffer=1)
    with assert_no_leaks():
        assert list(zip(a, b.map(lambda x: -x))) == [(x, -x) for x in range(50)]


def test_a_consumer_runs_once_and_arguments_are_checked() -> None:
    a, b = hp.Stream(range(3)).broadcast(2)
    assert list(zip(a, b)) == [(0, 0), (1, 1), (2, 2)]
    with pytest.raises(hp.StreamConsumedError, match="a broadcast consumer runs once"):
        a.to_list()
    assert repr(a) == "Stream(broadcast[0](range(0, 3)))"
    with pytest.raises(ValueError, match=r"broadcast\(\): `n` must be >= 1, got 0"):
        hp.Stream(range(3)).broadcast(0)
    with pytest.raises(TypeError, match=r"`buffer` must be an int"):
        hp.Stream(range(3)).broadcast(2, buffer=2.5)  # type: ignore[arg-type]


def test_an_endless_source_is_read_only_buffer_ahead_unlike_tee() -> None:
    src = CountingSource(itertools.count())
    fast, slow = hp.Stream(src).broadcast(2, buffer=10)
    slow_it = iter(slow)
    next(slow_it)
    got: list[int] = []
    with assert_no_leaks():
        t = threading.Thread(target=lambda: got.extend(fast.take(1000)))
        t.start()
        time.sleep(0.2)  # the fast one runs ahead as far as it may
        assert len(got) <= 1 + 10 + 1  # tee would let it read all 1000, keeping them for slow
        assert src.reads <= 1 + 10 + 1
        slow_it.close()
        t.join()
    assert got == list(range(1000))
    assert src.active == 0


# -- merge ------------------------------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(st.lists(st.lists(st.integers(), max_size=30), max_size=5), st.integers(1, 8))
def test_merge_gives_every_item_keeping_each_streams_order(
    parts: list[list[int]], buffer: int
) -> None:
    tagged = [[(k, x) for x in part] for k, part in enumerate(parts)]
    with assert_no_leaks():
        got = hp.merge(*tagged, buffer=buffer).to_list()
    assert Counter(got) == Counter(item for part in tagged for item in part)
    for k, part in enumerate(tagged):
        assert [item for item in got if item[0] == k] == part


def test_merge_interleaves_as_items_arrive() -> None:
    def slow_letters() -> object:
        for c in "abc":
            time.sleep(0.05)
            yield c

    got = hp.merge(hp.Stream(slow_letters), range(3), buffer=10).to_list()
    assert got[:3] == [0, 1, 2]  # the quick stream did not wait for the slow one
    assert got[3:] == ["a", "b", "c"]


def test_merge_raises_a_producers_error_and_stops_the_others() -> None:
    def boom(x: int) -> int:
        if x == 3:
            raise KeyError(x)
        return x

    endless = CountingSource(itertools.count())
    with assert_no_leaks(), pytest.raises(KeyError) as info:
        hp.merge(hp.Stream(range(10)).map(boom), endless, buffer=4).to_list()
    assert "stage 1 map(boom), item index 3" in "\n".join(info.value.__notes__)
    assert endless.active == 0  # the endless producer was stopped and its run closed


def test_closing_a_merge_stops_and_joins_every_producer() -> None:
    srcs = [CountingSource(itertools.count()) for _ in range(3)]
    with assert_no_leaks():
        assert len(hp.merge(*srcs, buffer=5).take(20).to_list()) == 20
    assert all(s.active == 0 for s in srcs)
    # bounded: the producers read at most the buffer plus one item each in hand
    assert sum(s.reads for s in srcs) <= 20 + 5 + 3


def test_merge_runs_again_and_validates() -> None:
    m = hp.merge(range(3), [10])
    assert sorted(m.to_list()) == sorted(m.to_list()) == [0, 1, 2, 10]
    assert hp.merge().to_list() == []
    assert repr(hp.merge(range(2), [1])) == "Stream(merge(range(0, 2), [1]))"
    with pytest.raises(TypeError, match=r"merge\(\): every argument must be iterable"):
        hp.merge(3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"merge\(\): `buffer` must be >= 1"):
        hp.merge(range(2), buffer=0)


# -- read from async code: consumers await, producers are tasks or threads --------------------


async def _aitems(n: int) -> AsyncIterator[int]:
    for i in range(n):
        await asyncio.sleep(0)
        yield i


def _wait_for_file(path: Path) -> Iterator[str]:
    """A blocking sync source: its one item comes when another task writes *path*."""
    deadline = time.monotonic() + 20
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} never appeared: the event loop was blocked")
        time.sleep(0.005)
    yield path.read_text()


async def _write_soon(path: Path) -> None:
    await asyncio.sleep(0.05)
    path.write_text("go")


UPSTREAMS = {
    "sync": lambda n: hp.Stream(range(n)),
    "async": lambda n: hp.Stream(functools.partial(_aitems, n)),
}


@pytest.mark.parametrize("upstream", sorted(UPSTREAMS))
@settings(max_examples=15, deadline=None)
@given(
    st.integers(min_value=0, max_value=60),
    st.integers(min_value=1, max_value=3),
    st.integers(min_value=1, max_value=5),
)
def test_async_consumers_each_get_every_item(upstream: str, n: int, k: int, buffer: int) -> None:
    streams = UPSTREAMS[upstream](n).broadcast(k, buffer=buffer)

    async def main() -> list[list[int]]:
        return list(await asyncio.gather(*(s.ato_list() for s in streams)))

    with assert_no_leaks():
        assert asyncio.run(main()) == [list(range(n))] * k


def test_an_async_upstream_is_run_by_a_task_on_the_consumers_loop() -> None:
    seen: list[str] = []

    async def source() -> AsyncIterator[int]:
        for i in range(5):
            seen.append(threading.current_thread().name)
            yield i

    a, b = hp.Stream(source).broadcast(2, buffer=2)

    async def main() -> list[list[int]]:
        return list(await asyncio.gather(a.ato_list(), b.map(lambda x: -x).ato_list()))

    with assert_no_leaks():
        assert asyncio.run(main()) == [[0, 1, 2, 3, 4], [0, -1, -2, -3, -4]]
    assert set(seen) == {threading.main_thread().name}  # no thread, no second loop


def test_the_fast_async_consumer_stays_within_buffer_plus_one_of_the_slowest() -> None:
    fast, slow = hp.Stream(functools.partial(_aitems, 300)).broadcast(2, buffer=4)
    taken = {"fast": 0, "slow": 0}
    gaps: list[int] = []

    async def read(s: hp.Stream[int], name: str, pause: float) -> None:
        async with s.aiterate() as it:
            async for _ in it:
                taken[name] += 1
                gaps.append(taken["fast"] - taken["slow"])
                await asyncio.sleep(pause)

    async def main() -> None:
        await asyncio.gather(read(fast, "fast", 0), read(slow, "slow", 0.001))

    with assert_no_leaks():
        asyncio.run(main())
    assert taken == {"fast": 300, "slow": 300}
    assert max(gaps) <= 4 + 1  # the producer waited on the slow one's full channel
    assert max(gaps) >= 4  # and the fast one did run ahead as far as allowed


def test_an_async_consumer_that_stops_early_lets_the_others_finish() -> None:
    src = CountingSource(range(500))
    a, b = hp.Stream(src).broadcast(2, buffer=3)

    async def main() -> tuple[list[int], int]:
        first: list[int] = []
        async with a.aiterate() as it:
            async for x in it:
                first.append(x)
                if x == 3:
                    break  # leaving the block detaches a
        return first, sum(await b.ato_list())

    with assert_no_leaks():
        assert asyncio.run(main()) == ([0, 1, 2, 3], sum(range(500)))
    assert src.active == 0


@pytest.mark.parametrize("upstream", sorted(UPSTREAMS))
def test_an_error_in_the_run_reaches_every_async_consumer(upstream: str) -> None:
    def boom(x: int) -> int:
        if x == 7:
            raise ValueError("bad 7")
        return x

    streams = UPSTREAMS[upstream](20).map(boom).broadcast(2, buffer=4)

    async def main() -> list[object]:
        return list(await asyncio.gather(*(s.ato_list() for s in streams), return_exceptions=True))

    with assert_no_leaks():
        errors = asyncio.run(main())
    assert all(isinstance(e, ValueError) for e in errors)
    assert "stage 1 map(boom), item index 7" in "\n".join(errors[0].__notes__)  # type: ignore[attr-defined]


def test_reading_both_async_consumers_in_one_task_one_after_the_other_is_refused() -> None:
    a, b = hp.Stream(functools.partial(_aitems, 100)).broadcast(2, buffer=3)

    async def main() -> None:
        async with b.aiterate() as b_it:
            assert await b_it.__anext__() == 0  # b is read by this task, and left behind
            with pytest.raises(hp.HosepipeError, match=r"consumer 1 is 3 items .* same task"):
                await a.ato_list()

    with assert_no_leaks():
        asyncio.run(main())


def test_consumers_of_an_async_stream_can_still_be_read_by_threads() -> None:
    streams = hp.Stream(functools.partial(_aitems, 50)).broadcast(2, buffer=3)
    with assert_no_leaks():
        assert read_in_threads(streams, [0.0, 0.0005]) == [list(range(50))] * 2


def test_async_merge_mixes_async_and_sync_streams_keeping_each_order() -> None:
    parts = {
        "async": hp.Stream(functools.partial(_aitems, 30)).map(lambda x: ("a", x)),
        "sync": hp.Stream(range(30)).map(lambda x: ("s", x)),
        "list": [("l", x) for x in range(5)],
    }
    merged = hp.merge(*parts.values(), buffer=4)
    with assert_no_leaks():
        got = asyncio.run(merged.ato_list())
    for tag, n in (("a", 30), ("s", 30), ("l", 5)):
        assert [x for t, x in got if t == tag] == list(range(n))
    assert len(got) == 65


def test_async_merge_reads_a_blocking_sync_stream_in_a_thread(tmp_path: Path) -> None:
    flag = tmp_path / "go"

    async def main() -> list[object]:
        writer = asyncio.create_task(_write_soon(flag))
        got = await hp.merge(hp.Stream(lambda: _wait_for_file(flag)), range(3)).ato_list()
        await writer
        return got

    with assert_no_leaks():
        got = asyncio.run(main())
    assert sorted(map(str, got)) == ["0", "1", "2", "go"]


def test_an_async_merge_raises_a_producers_error_and_stops_the_others() -> None:
    async def boom() -> AsyncIterator[int]:
        yield 1
        raise KeyError("async producer")

    endless = CountingSource(itertools.count())
    with assert_no_leaks(), pytest.raises(KeyError, match="async producer"):
        asyncio.run(hp.merge(hp.Stream(boom), endless, buffer=4).ato_list())
    assert endless.active == 0


def test_leaving_an_async_merge_early_stops_every_producer() -> None:
    srcs = [CountingSource(itertools.count()) for _ in range(2)]
    started: list[int] = []

    async def endless() -> AsyncIterator[int]:
        try:
            while True:
                started.append(1)
                await asyncio.sleep(0)
                yield -1
        finally:
            started.append(0)  # closed

    async def main() -> int:
        async with hp.merge(*srcs, hp.Stream(endless), buffer=5).aiterate() as it:
            n = 0
            async for _ in it:
                n += 1
                if n == 20:
                    break
            return n

    with assert_no_leaks():
        assert asyncio.run(main()) == 20
    assert all(s.active == 0 for s in srcs)
    assert started[-1] == 0  # the task's stream was closed too
    assert sum(s.reads for s in srcs) <= 20 + 5 + 2


def test_merge_takes_raw_async_iterables_in_both_forms() -> None:
    m = hp.merge(hp.Stream(range(3)), functools.partial(_aitems, 3)(), buffer=2)
    assert sorted(asyncio.run(m.ato_list())) == [0, 0, 1, 1, 2, 2]
    m2 = hp.merge(range(3), hp.Stream(functools.partial(_aitems, 2)))
    assert sorted(m2.to_list()) == [0, 0, 1, 1, 2]  # read from sync code: threads
