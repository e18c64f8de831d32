"""hosepipe.testing: the helpers users test their own pipelines with."""

from __future__ import annotations

import threading

import pytest

import hosepipe as hp
from hosepipe.testing import CountingSource, assert_no_leaks, run_pipeline


def test_counting_source_counts_reads_and_open_iterations() -> None:
    src = CountingSource(range(10))
    it = iter(src)
    assert (next(it), next(it)) == (0, 1)
    assert (src.reads, src.opened, src.active, src.finalized) == (2, 1, 1, False)
    it.close()  # type: ignore[attr-defined]
    assert (src.active, src.finalized) == (0, True)
    assert list(src) == list(range(10))
    assert (src.reads, src.opened, src.closed) == (12, 2, 2)


def test_run_pipeline() -> None:
    assert run_pipeline(hp.map(str) | hp.filter(lambda s: s != "1"), [1, 2]) == ["2"]


def test_assert_no_leaks_passes_when_nothing_is_left() -> None:
    with assert_no_leaks():
        t = threading.Thread(target=lambda: None)
        t.start()
        t.join()


def test_assert_no_leaks_names_a_leaked_thread() -> None:
    stop = threading.Event()
    with pytest.raises(AssertionError, match=r"threads \['leaky'\]"), assert_no_leaks(timeout=0.05):
        threading.Thread(target=stop.wait, name="leaky", daemon=True).start()
    stop.set()
