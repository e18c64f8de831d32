"""buffer(size): the upstream runs in a thread, bounded, and stops with the consumer."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import hosepipe as hp
from hosepipe.testing import CountingSource, assert_no_leaks


def wait_until(condition: object, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            return False
        time.sleep(0.001)
    return True


@pytest.mark.parametrize("size", [1, 3, 64])
def test_buffer_keeps_order_and_counts(size: int) -> None:
    with assert_no_leaks():
        s = hp.Stream(range(500)).map(lambda x: x * 2).buffer(size).filter(lambda x: x % 3)
        assert s.to_list() == [x * 2 for x in range(500) if (x * 2) % 3]
        stats = s.run()
    assert [(st.items_in, st.items_out) for st in stats.stages[1:3]] == [(500, 500), (500, 500)]


def test_the_upstream_reads_ahead_in_the_background_but_boundedly() -> None:
    source = CountingSource(range(1000))
    with assert_no_leaks(), hp.Stream(source).buffer(5).iterate() as it:
        assert next(it) == 0
        # the thread fills the channel (5) and holds one more item waiting to be sent
        assert wait_until(lambda: source.reads == 7)
        time.sleep(0.05)
        assert source.reads == 7
    assert source.active == 0


def test_closing_early_stops_the_thread_and_closes_the_source() -> None:
    closed = threading.Event()

    def endless() -> Iterator[int]:
        try:
            n = 0
            while True:
                yield n
                n += 1
        finally:
            closed.set()

    with assert_no_leaks(timeout=1.0):
        it = iter(hp.Stream(endless).buffer(10).map(str))
        assert [next(it) for _ in range(3)] == ["0", "1", "2"]
        it.close()  # type: ignore[attr-defined]
        assert closed.is_set()


def test_an_upstream_error_reaches_the_consumer_with_its_note() -> None:
    def check(x: int) -> int:
        if x == 50:
            raise KeyError(x)
        return x

    with assert_no_leaks(), pytest.raises(KeyError) as info:
        hp.Stream(range(100)).map(check).buffer(4).to_list()
    assert info.value.__notes__ == ["hosepipe: in stage 1 map(check), item index 50"]


def test_keyboard_interrupt_in_the_consumer_ends_everything() -> None:
    with assert_no_leaks():
        it = iter(hp.Stream(range(10**6)).buffer(8))
        next(it)
        with pytest.raises(KeyboardInterrupt):
            it.throw(KeyboardInterrupt)  # type: ignore[attr-defined]


def test_stages_overlap() -> None:
    # The consumer holds item 0 until the producer has produced item 3 on its own: only
    # possible if the upstream runs while the consumer is busy.
    produced = CountingSource(range(10))
    with assert_no_leaks(), hp.Stream(produced).buffer(3).iterate() as it:
        first = next(it)
        assert wait_until(lambda: produced.reads >= 4)
        assert [first, *it] == list(range(10))


def test_validation() -> None:
    with pytest.raises(ValueError, match=r"^buffer\(\): `size` must be >= 1, got 0$"):
        hp.buffer(0)


# -- read from async code: the sync upstream of a buffer runs in its thread -------------------


def _blocking_until(path: Path) -> Iterator[str]:
    """A sync source that blocks until another task on the event loop writes *path*."""
    deadline = time.monotonic() + 20
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} never appeared: the event loop was blocked")
        time.sleep(0.005)
    yield from ("a", "b")


@pytest.mark.parametrize("timed", [False, True])
def test_async_for_moves_a_blocking_source_to_the_buffers_thread(
    tmp_path: Path, timed: bool
) -> None:
    flag = tmp_path / "go"
    s = hp.Stream(lambda: _blocking_until(flag)).map(str.upper)
    s2: hp.Stream[Any] = s.batch(2, timeout=0.5) if timed else s.buffer(4)

    async def main() -> list[Any]:
        async def release() -> None:
            await asyncio.sleep(0.05)
            flag.write_text("go")

        task = asyncio.create_task(release())
        got = [x async for x in s2]
        await task
        return got

    with assert_no_leaks():
        got = asyncio.run(main())
    assert got == ([["A", "B"]] if timed else ["A", "B"])
    stats = s2.stats()
    assert [(st.items_in, st.items_out) for st in stats.stages] == [
        (0, 2),
        (2, 2),
        (2, 1 if timed else 2),
    ]


def test_a_catch_after_an_async_read_buffer_guards_the_stages_in_its_thread() -> None:
    names: list[str] = []

    def check(x: int) -> int:
        names.append(threading.current_thread().name)
        if x == 3:
            raise ValueError(x)
        return x

    dead: list[hp.DeadLetter] = []
    s = hp.Stream(range(6)).map(check).buffer(2).catch(dead_letter=dead)
    with assert_no_leaks():
        assert asyncio.run(s.ato_list()) == [0, 1, 2, 4, 5]
    assert [d.item for d in dead] == [3]
    assert set(names) == {"hosepipe buffer(2)"}  # the map ran in the buffer's thread
    assert s.stats().stages[1].errors == 1


def test_leaving_an_async_read_buffer_early_stops_its_thread() -> None:
    src = CountingSource(range(10_000))

    async def main() -> list[int]:
        got = []
        async with hp.Stream(src).buffer(8).aiterate() as it:
            async for x in it:
                got.append(x)
                if x == 5:
                    break
        return got

    with assert_no_leaks():
        assert asyncio.run(main()) == list(range(6))
    assert src.active == 0
    assert src.reads <= 6 + 8 + 1  # read ahead no further than the buffer
