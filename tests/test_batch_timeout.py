"""batch(size, timeout=...): a partial batch leaves when the source goes quiet."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

import hosepipe as hp
from hosepipe.testing import assert_no_leaks


def test_a_partial_batch_is_flushed_when_the_source_pauses() -> None:
    release = threading.Event()

    def trickle() -> Iterator[int]:
        yield 1
        yield 2
        release.wait(10)  # the source goes quiet until the first batch has come out
        yield 3
        yield 4
        yield 5

    with assert_no_leaks():
        it = iter(hp.Stream(trickle).batch(10, timeout=0.02))
        assert next(it) == [1, 2]  # did not wait for 10 items, nor for the pause to end
        release.set()
        assert list(it) == [[3, 4, 5]]


def test_full_batches_and_the_last_one_without_pauses() -> None:
    with assert_no_leaks():
        s = hp.Stream(range(7)).batch(3, timeout=5.0)
        assert s.to_list() == [[0, 1, 2], [3, 4, 5], [6]]
        assert repr(s) == "Stream(range(0, 7)).batch(3, timeout=5)"
        stats = s.run()
    assert (stats.stages[1].items_in, stats.stages[1].items_out) == (7, 3)


def test_early_close_and_errors() -> None:
    def check(x: int) -> int:
        if x == 20:
            raise LookupError(x)
        return x

    with assert_no_leaks():
        it = iter(hp.Stream(range(10**6)).batch(4, timeout=1.0))
        assert next(it) == [0, 1, 2, 3]
        it.close()  # type: ignore[attr-defined]
        with pytest.raises(LookupError) as info:
            hp.Stream(range(100)).map(check).batch(8, timeout=1.0).to_list()
    assert info.value.__notes__ == ["hosepipe: in stage 1 map(check), item index 20"]


def test_timeout_validation() -> None:
    with pytest.raises(ValueError, match=r"^batch\(\): `timeout` must be None or seconds > 0"):
        hp.batch(3, timeout=0)
    assert hp.batch(3, timeout=None) == hp.batch(3)
