"""A zero-argument factory returning an async iterable is an async source (issue 16)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator

import pytest

import hosepipe as hp


async def agen(n: int, calls: list[int] | None = None) -> AsyncIterator[int]:
    for i in range(n):
        await asyncio.sleep(0)
        if calls is not None:
            calls.append(i)
        yield i


async def double(x: int) -> int:
    return 2 * x


def test_sync_terminals_read_it_on_every_run() -> None:
    made: list[int] = []

    def factory() -> AsyncIterator[int]:
        made.append(1)
        return agen(5)

    s = hp.Stream(factory)
    assert s.map(lambda x: x + 1).to_list() == [1, 2, 3, 4, 5]
    assert s.to_list() == [0, 1, 2, 3, 4]
    assert s.run().items_out == 5
    assert len(made) == 3  # once per run


def test_async_consumers_and_async_stages() -> None:
    made: list[int] = []

    def factory() -> AsyncIterator[int]:
        made.append(1)
        return agen(4)

    s = hp.Stream(factory)

    async def main() -> tuple[list[int], list[int], list[int]]:
        a = [x async for x in s]
        b = await s.ato_list()
        c = await s.map(double).ato_list()
        return a, b, c

    assert asyncio.run(main()) == ([0, 1, 2, 3], [0, 1, 2, 3], [0, 2, 4, 6])
    assert len(made) == 3


def test_a_sync_factory_is_still_called_once_per_run_from_async_code() -> None:
    made: list[int] = []

    def factory() -> list[int]:
        made.append(1)
        return [1, 2, 3]

    s = hp.Stream(factory)

    async def main() -> list[int]:
        return [x async for x in s] + await s.map(double).ato_list()

    assert asyncio.run(main()) == [1, 2, 3, 2, 4, 6]
    assert len(made) == 2


def test_early_stop_reads_no_further_and_leaves_no_thread() -> None:
    calls: list[int] = []
    before = threading.active_count()
    assert hp.Stream(lambda: agen(1000, calls)).take(3).to_list() == [0, 1, 2]
    assert calls == [0, 1, 2]
    assert threading.active_count() == before


def test_an_error_in_the_async_iterable_reaches_the_caller() -> None:
    async def broken() -> AsyncIterator[int]:
        yield 1
        raise ValueError("boom")

    with pytest.raises(ValueError, match=r"^boom") as info:
        hp.Stream(lambda: broken()).to_list()
    # read from sync code it runs on the async driver too: the same note as below
    assert info.value.__notes__ == ["hosepipe: in the source <lambda>(), item index 1"]

    async def main() -> list[int]:
        return await hp.Stream(lambda: broken()).ato_list()

    with pytest.raises(ValueError, match=r"^boom") as info:
        asyncio.run(main())
    assert info.value.__notes__ == ["hosepipe: in the source <lambda>(), item index 1"]


def test_a_factory_returning_neither_is_refused() -> None:
    with pytest.raises(
        TypeError,
        match=r"^the source factory <lambda>\(\) must return an iterable or an async iterable, "
        r"got 3 \(int\)\n",
    ):
        hp.Stream(lambda: 3).to_list()
