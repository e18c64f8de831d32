"""RunStats: per-stage counts, totals, the table, live stats of an open iteration."""

from __future__ import annotations

import json

import hosepipe as hp


def words(line: str) -> list[str]:
    return line.split()


def test_counts_per_stage() -> None:
    stats = (
        hp.Stream(["a b", "", "c d e", "f"])
        .flat_map(words)
        .filter(lambda w: w != "d")
        .observe("kept")
        .map(str.upper)
        .batch(2)
        .run()
    )
    rows = [(s.position, s.label, s.items_in, s.items_out, s.errors) for s in stats.stages]
    assert rows == [
        (0, "['a b', '', 'c d e', 'f']", 0, 4, 0),
        (1, "flat_map(words)", 4, 6, 0),
        (2, "filter(<lambda>)", 6, 5, 0),
        (3, "observe('kept')", 5, 5, 0),
        (4, "map(upper)", 5, 5, 0),
        (5, "batch(2)", 5, 3, 0),
    ]
    assert (stats.items_in, stats.items_out, stats.errors) == (4, 3, 0)
    assert stats.stage("kept").items_out == 5
    assert stats.stage("filter(<lambda>)").dropped == 1
    assert all(s.time >= 0 for s in stats.stages)
    assert stats.wall_time > 0


def test_counts_across_every_kind_of_runner() -> None:
    stats = (
        hp.Stream(range(100))
        .skip(10)
        .map(lambda x: x * 3)
        .filter(lambda x: x % 2 == 0)
        .chain([1000, 1001])
        .enumerate()
        .take(30)
        .run()
    )
    # 10..68 pass skip(10); x * 3 is even for the 30 even ones; take(30) then stops the run.
    assert [(s.items_in, s.items_out) for s in stats.stages[1:]] == [
        (69, 59),
        (59, 59),
        (59, 30),
        (30, 30),
        (30, 30),
        (30, 30),
    ]
    assert stats.items_in == 69
    assert stats.stages[4].label == "chain([1000, 1001])"


def test_stats_table_and_dict() -> None:
    stats = hp.Stream(range(1000)).map(str).filter(lambda s: "7" in s).run()
    table = str(stats)
    lines = table.splitlines()
    assert lines[0].split() == ["stage", "in", "out", "errors", "time*", "items/s"]
    assert lines[1].startswith("0 source range(0, 1000)")
    assert lines[2].split()[:5] == ["1", "map(str)", "1,000", "1,000", "0"]
    assert lines[3].split()[:5] == ["2", "filter(<lambda>)", "1,000", "271", "0"]
    assert lines[-1].startswith("total: 1,000 in, 271 out, 0 errors; wall time ")
    d = json.loads(json.dumps(stats.to_dict()))
    assert d["items_out"] == 271
    assert [s["label"] for s in d["stages"]] == ["range(0, 1000)", "map(str)", "filter(<lambda>)"]


def test_stats_of_an_iteration_closed_early() -> None:
    with hp.Stream(range(10**6)).map(lambda x: x + 1).filter(lambda x: x % 3 == 0).iterate() as it:
        got = [next(it) for _ in range(5)]
    assert got == [3, 6, 9, 12, 15]
    stats = it.stats()
    assert stats.items_in == 15
    assert stats.stages[2].items_out == 5


def test_stats_after_an_error_count_the_failed_item_in_not_out() -> None:
    def check(x: int) -> int:
        if x == 4:
            raise ValueError
        return x

    it = hp.Stream(range(10)).map(check).iterate()
    try:
        list(it)
    except ValueError:
        pass
    else:  # pragma: no cover
        raise AssertionError("expected ValueError")
    stats = it.stats()
    assert (stats.stages[1].items_in, stats.stages[1].items_out) == (5, 4)


def test_each_run_has_its_own_counters() -> None:
    s = hp.Stream(range(10)).filter(lambda x: x < 5)
    assert s.run().items_out == 5
    assert s.run().items_out == 5


def test_direct_joins_count_live_and_at_the_end() -> None:
    """chain/zip of bare ranges and tuples run as C iterators: their counts come from the
    inputs' length hints, live while iterating and final after, the joined streams' too."""
    other = hp.Stream(range(5))
    stream = hp.Stream(range(10)).chain(other, (7, 8)).zip(range(100, 116))
    flows = [(0, 10), (10, 17), (17, 16)]  # the zip's range ends first: 16 pairs
    with stream.iterate() as it:
        got = [next(it) for _ in range(12)]
        live = it.stats()
        assert [(s.items_in, s.items_out) for s in live.stages] == [(0, 10), (10, 12), (12, 12)]
        assert other.stats().stages[0].items_out == 2
        rest = list(it)
    assert got + rest == list(zip([*range(10), *range(5), 7, 8], range(100, 116)))
    assert [(s.items_in, s.items_out) for s in it.stats().stages] == flows
    assert other.stats().stages[0].items_out == 5
    stats = stream.run()
    assert [(s.items_in, s.items_out) for s in stats.stages] == flows
    assert stream.count() == 16
    stats = stream.take(3).run()  # stopped early: what was read so far
    assert [(s.items_in, s.items_out) for s in stats.stages] == [(0, 3), (3, 3), (3, 3), (3, 3)]


def test_a_slow_sampled_item_does_not_make_the_stage_times_exceed_the_wall_time() -> None:
    """Item 0 is always one of the timed samples; one slow call there would count for
    every item after it. The times of a single-threaded run are scaled to its wall time."""
    import time

    def slow_first(x: int) -> int:
        if x == 0:
            time.sleep(0.05)
        return x

    stats = hp.Stream(range(1000)).map(slow_first).filter(bool).run()
    total = sum(s.time for s in stats.stages)
    assert stats.stage("map(slow_first)").time >= 0.03  # the slow call is in its estimate
    assert total <= stats.wall_time
    assert stats.stage("map(slow_first)").time > 10 * stats.stage("filter(bool)").time
