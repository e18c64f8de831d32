"""The Dask engine on a real cluster: ``dask scheduler`` and ``dask worker`` processes.

The module's fixture starts a scheduler and a worker with two worker processes (one thread
each) on 127.0.0.1 with random ports, and stops them at the end, checking that no process
is left. Without dask installed the cluster tests are skipped, unless ``CI`` is set: then
they fail. The partition boundary tests need no cluster.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import operator
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hosepipe as hp
import test_sql  # the PostgreSQL fixture: skips (or fails, on CI) without a server
from hosepipe.sources._partition import (
    count_newlines,
    line_ranges,
    newline_jobs,
    set_first_lines,
    split,
)


def _need_dask() -> None:
    try:
        import distributed  # noqa: F401
    except ImportError as e:
        message = f"dask.distributed is not installed: pip install 'hosepipe[dask]' ({e})"
        if os.environ.get("CI"):
            pytest.fail(f"CI is set, so the Dask tests must run: {message}")
        pytest.skip(message)


pg_url = test_sql.pg_url


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (exited, not yet reaped by its parent) is not running
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"
    except OSError:
        return False


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A scheduler and two worker processes; yields the scheduler's address."""
    _need_dask()
    from distributed import Client

    folder = tmp_path_factory.mktemp("dask")
    file = folder / "scheduler.json"
    dask = [str(Path(sys.executable).with_name("dask"))]
    common = {"cwd": folder, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    procs: list[subprocess.Popen[bytes]] = []
    pids: set[int] = set()
    address: str | None = None
    try:
        args = ["scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard"]
        args += ["--scheduler-file", str(file)]
        procs.append(subprocess.Popen([*dask, *args], **common))  # type: ignore[call-overload]
        deadline = time.monotonic() + 60
        while not file.exists() or not file.read_text().strip():
            assert procs[0].poll() is None, "the scheduler exited"
            assert time.monotonic() < deadline, "the scheduler did not start"
            time.sleep(0.1)
        address = json.loads(file.read_text())["address"]
        args = ["worker", "--scheduler-file", str(file), "--nworkers", "2", "--nthreads", "1"]
        args += ["--host", "127.0.0.1", "--no-dashboard"]
        procs.append(subprocess.Popen([*dask, *args], **common))  # type: ignore[call-overload]
        with Client(address, timeout=30) as client:
            client.wait_for_workers(2, timeout=60)
        yield address
    finally:
        if address is not None and procs[0].poll() is None:  # the workers and their nannies
            with contextlib.suppress(Exception), Client(address, timeout=10) as c:
                pids |= set(c.run(os.getpid).values()) | set(c.run(os.getppid).values())
        for proc in reversed(procs):
            pids.add(proc.pid)
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:  # pragma: no cover - shown by the assert below
                proc.kill()
                proc.wait()
        deadline = time.monotonic() + 10
        while any(_alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [p for p in pids if _alive(p)], "cluster processes were left running"


@pytest.fixture(scope="module")
def engine(cluster: str) -> Iterator[hp.engines.Dask]:
    with hp.engines.Dask(cluster) as dask:
        yield dask


@pytest.fixture
def logs(tmp_path: Path) -> list[str]:
    """Three small access-log-like files; their paths."""
    paths = []
    for i in range(3):
        p = tmp_path / f"part{i}.log"
        p.write_text("".join(f"{i} /p/{j}.html {j * 10 if j % 4 else '-'}\n" for j in range(9)))
        paths.append(str(p))
    return paths


def _size(line: str) -> int:
    field = line.rsplit(" ", 1)[1]
    return 0 if field == "-" else int(field)


# -- results equal the local run ---------------------------------------------------------------


def test_every_terminal_gives_the_local_result(engine: hp.engines.Dask, logs: list[str]) -> None:
    s = hp.read_lines(logs).map(_size).filter(bool)
    assert s.to_list(engine=engine) == s.to_list() == [10, 20, 30, 50, 60, 70] * 3
    assert s.count(engine=engine) == s.count() == 18
    assert s.sum(engine=engine) == s.sum() == 720
    assert s.sum(1000, engine=engine) == 1720
    assert s.reduce(max, engine=engine) == 70
    assert s.reduce(operator.add, 5, engine=engine) == s.reduce(operator.add, 5) == 725
    seen: list[int] = []
    assert s.for_each(seen.append, engine=engine) is None
    assert seen == s.to_list()
    assert s.to(sorted, engine=engine) == sorted(s.to_list())
    stats = s.run(engine=engine)
    local = s.run()
    assert [(x.label, x.items_in, x.items_out) for x in stats.stages] == [
        (x.label, x.items_in, x.items_out) for x in local.stages
    ]
    assert engine.stats() is stats


def test_client_stages_after_the_workers_keep_the_local_order(
    engine: hp.engines.Dask, logs: list[str]
) -> None:
    s = hp.read_lines(logs).map(_size).batch(4).enumerate().take(3)
    assert s.to_list(engine=engine) == s.to_list()
    stats = s.run(engine=engine)
    assert [x.label for x in stats.stages] == [x.label for x in s.run().stages]
    # the client stops gathering once take(3) has its items, as the local run stops reading
    assert stats.stage("batch(4)").items_in == s.run().stage("batch(4)").items_in == 12
    assert stats.items_out == 3


def test_stats_per_stage_and_per_worker(engine: hp.engines.Dask) -> None:
    parts = [list(range(i * 10, i * 10 + 7 + i)) for i in range(6)]
    s = hp.partitioned(parts).map(lambda x: 10 // (x % 4)).catch(ZeroDivisionError)
    s = s.filter(lambda x: x > 3).batch(2)  # batch onwards: on the client
    local = s.run()
    remote = s.run(engine=engine)
    counts = [(x.position, x.label, x.items_in, x.items_out, x.errors) for x in remote.stages]
    assert counts == [
        (x.position, x.label, x.items_in, x.items_out, x.errors) for x in local.stages
    ]
    assert remote.stage("map(<lambda>)").errors_by_type == {"ZeroDivisionError": 15}
    assert str(s.stats()) == str(engine.stats()) == str(remote)  # stream.stats(): as locally
    by_worker = engine.stats(by="worker")
    assert sorted(by_worker.workers) == sorted(engine.client.scheduler_info()["workers"])
    for position in range(4):  # the source, map, catch, filter: on the workers
        shares = [rows[position] for rows in by_worker.workers.values()]
        total = by_worker.stages[position]
        assert sum(r.items_in for r in shares) == total.items_in
        assert sum(r.items_out for r in shares) == total.items_out
        assert sum(r.errors for r in shares) == total.errors
    assert all(len(rows) == 4 for rows in by_worker.workers.values())  # not the client's
    table = str(by_worker)
    for worker in by_worker.workers:
        assert table.count(f"  on {worker}") == 4
    back = hp.RunStats.from_dict(json.loads(json.dumps(by_worker.to_dict())))
    assert str(back) == table
    assert "workers" not in remote.to_dict()  # per-worker rows only when asked for
    with pytest.raises(ValueError, match=r"^stats\(\): `by` must be None or 'worker', got 'w'$"):
        engine.stats(by="w")


def test_prometheus_sees_a_run_on_the_engine(engine: hp.engines.Dask) -> None:
    pytest.importorskip("prometheus_client")
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry()
    s = hp.partitioned([range(10), range(10, 25)]).filter(lambda x: x % 2)
    exporter = hp.metrics.prometheus(s, registry=registry, pipeline="odd")
    try:
        assert s.count(engine=engine) == 12
        text = generate_latest(registry).decode()
        out = [line for line in text.splitlines() if line.startswith("hosepipe_items_out_total")]
        assert out == [
            'hosepipe_items_out_total{pipeline="odd",position="0",'
            'stage="partitioned([... 2 sources])"} 25.0',
            'hosepipe_items_out_total{pipeline="odd",position="1",stage="filter(<lambda>)"} 12.0',
        ]
    finally:
        exporter.close()


def _series(text: str, family: str) -> dict[tuple[tuple[str, str], ...], float]:
    """The samples of *family* in an exposition *text*: labels -> value."""
    from prometheus_client.parser import text_string_to_metric_families

    out = {}
    for fam in text_string_to_metric_families(text):
        for sample in fam.samples:
            if sample.name == family:
                out[tuple(sorted(sample.labels.items()))] = sample.value
    return out


def test_prometheus_has_a_row_per_worker(engine: hp.engines.Dask) -> None:
    pytest.importorskip("prometheus_client")
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry()
    parts = [list(range(i * 10, i * 10 + 5 + i)) for i in range(6)]
    s = hp.partitioned(parts).map(lambda x: 10 // (x % 4)).catch(ZeroDivisionError)
    s = s.filter(lambda x: x > 3).enumerate()  # enumerate: on the client, no worker rows
    exporter = hp.metrics.prometheus(s, registry=registry, pipeline="p")
    try:
        before = generate_latest(registry).decode()  # no run yet: no worker series
        assert not _series(before, "hosepipe_worker_items_out_total")
        stats = s.run(engine=engine)
        text = generate_latest(registry).decode()
    finally:
        exporter.close()
    workers = sorted(engine.stats(by="worker").workers)  # those that ran a partition
    assert workers
    assert set(workers) <= set(engine.client.scheduler_info()["workers"])
    for family in ("items_in", "items_out", "errors", "stage_seconds"):
        totals = _series(text, f"hosepipe_{family}_total")
        rows = _series(text, f"hosepipe_worker_{family}_total")
        assert {dict(k)["worker"] for k in rows} == set(workers)
        positions = {"1"} if family == "errors" else {"0", "1", "2", "3"}  # not enumerate's
        assert {dict(k)["position"] for k in rows} == positions
        for key, total in totals.items():
            shares = [v for k, v in rows.items() if tuple(x for x in k if x[0] != "worker") == key]
            if dict(key)["position"] == "4":
                assert shares == []
            else:
                assert len(shares) == len(workers)
                assert sum(shares) == pytest.approx(total)
    errors = _series(text, "hosepipe_worker_errors_total")
    assert sum(errors.values()) == stats.stage("map(<lambda>)").errors > 0
    assert {dict(k)["type"] for k in errors} == {"ZeroDivisionError"}
    # a local run of the same stream has no workers: the worker series go away
    exporter = hp.metrics.prometheus(s, registry=registry, pipeline="p")
    try:
        s.run()
        assert not _series(generate_latest(registry).decode(), "hosepipe_worker_items_out_total")
    finally:
        exporter.close()


async def _async_double(x: int) -> int:
    await asyncio.sleep(0)
    return x * 2


def test_async_stages_and_threads_run_inside_each_worker(engine: hp.engines.Dask) -> None:
    s = hp.partitioned([[1, 2], [3], [4, 5, 6]]).map(_async_double, concurrency=2)
    s = s.map(lambda x: x + 1, concurrency=2)
    assert s.to_list(engine=engine) == s.to_list() == [3, 5, 7, 9, 11, 13]
    per = engine.partition_stats()
    assert [p.items_out for p in per] == [2, 1, 3]
    assert engine.stats().items_out == 6


def test_empty_partitions_and_empty_streams(engine: hp.engines.Dask) -> None:
    s = hp.partitioned([[], [1, 2], [], [3]])
    assert s.to_list(engine=engine) == [1, 2, 3]
    assert s.reduce(operator.mul, engine=engine) == 6
    empty = hp.partitioned([[], []])
    assert empty.sum(engine=engine) == 0
    assert empty.reduce(operator.add, 7, engine=engine) == 7
    with pytest.raises(
        hp.EmptyStreamError,
        match=r"^reduce\(\) was called on an empty stream, and no initial value was provided$",
    ):
        empty.reduce(operator.add, engine=engine)


def test_reductions_over_many_partitions_keep_their_order(engine: hp.engines.Dask) -> None:
    # 8 at a time on the cluster (2 levels for 70), then the last ones on the client
    parts = [[] if i % 9 == 4 else [str(i), "."] for i in range(70)]
    s = hp.partitioned(parts)
    assert s.reduce(operator.add, engine=engine) == s.reduce(operator.add)  # not commutative
    assert s.sum("", engine=engine) == s.sum("") == "".join(x for p in parts for x in p)
    assert s.count(engine=engine) == s.count() == sum(map(len, parts))
    assert [p.items_out for p in engine.partition_stats()] == [len(p) for p in parts]


_STAGES = {
    "map": lambda s: s.map(lambda x: x * 3 - 1),
    "filter": lambda s: s.filter(lambda x: x % 3 != 0),
    "flat_map": lambda s: s.flat_map(lambda x: [x] * (x % 3)),
    "catch": lambda s: s.map(lambda x: 10 // (x % 5)).catch(ZeroDivisionError),
    "map_threads": lambda s: s.map(lambda x: x + 1, concurrency=2),
    "batch_sum": lambda s: s.batch(3).map(sum),
    "take": lambda s: s.take(7),
    "skip": lambda s: s.skip(2),
    "enumerate_sum": lambda s: s.enumerate().map(lambda p: p[0] * p[1]),
    "window_sum": lambda s: s.window(2).map(sum),
    "scan": lambda s: s.scan(operator.add, 0),
    "distinct": lambda s: s.distinct(key=lambda x: x % 4),
}


# The client's and cluster's threads use the `random` module while hypothesis draws a test
# case; hypothesis takes that for a strategy using it (a deprecation warning, an error here).
_THREADS_USE_RANDOM = pytest.mark.filterwarnings(
    "ignore:Do not use the `random` module inside strategies"
)


@_THREADS_USE_RANDOM
@settings(max_examples=20, deadline=None)
@given(
    parts=st.lists(st.lists(st.integers(-20, 20), max_size=8), min_size=1, max_size=5),
    stages=st.lists(st.sampled_from(sorted(_STAGES)), max_size=4),
    terminal=st.sampled_from(["to_list", "count", "sum"]),
)
def test_dask_result_equals_the_local_result(
    engine: hp.engines.Dask, parts: list[list[int]], stages: list[str], terminal: str
) -> None:
    s = hp.partitioned(parts)
    for name in stages:
        s = _STAGES[name](s)
    assert getattr(s, terminal)(engine=engine) == getattr(s, terminal)()


# -- partitions of files ------------------------------------------------------------------------


def test_byte_ranges_of_one_file_on_the_cluster(cluster: str, tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    path.write_bytes(b"".join(b'{"n": %d}\n' % i for i in range(500)) + b"{bad\n" + b'{"n": 1}\n')
    with hp.engines.Dask(cluster, partition_size="1KB") as dask:
        s = hp.read_jsonl(str(path)).map(lambda d: d["n"])
        assert len(split(s._source, dask.partition_size)) > 4
        with pytest.raises(hp.DataError) as info:
            s.to_list(engine=dask)
        assert (info.value.path, info.value.line) == (str(path), 501)
        good = s.catch(hp.DataError)
        assert good.to_list(engine=dask) == good.to_list() == [*range(500), 1]


@_THREADS_USE_RANDOM
@settings(max_examples=10, deadline=None)
@given(
    lines=st.lists(st.text(alphabet=st.sampled_from("ab\r é"), max_size=20), max_size=60),
    size=st.integers(1, 200),
)
def test_byte_ranges_on_the_cluster_give_the_local_lines(
    cluster: str, tmp_path_factory: pytest.TempPathFactory, lines: list[str], size: int
) -> None:
    path = tmp_path_factory.mktemp("cluster-ranges") / "f.txt"
    path.write_bytes("".join(f"{line}\n" for line in lines).encode())
    with hp.engines.Dask(cluster, partition_size=size) as dask:
        s = hp.read_lines(str(path)).map(lambda line: line.upper())
        assert s.to_list(engine=dask) == s.to_list()
        assert s.count(engine=dask) == len(lines)


def test_compressed_and_csv_files_are_one_partition_each(tmp_path: Path) -> None:
    import gzip

    gz = tmp_path / "a.log.gz"
    gz.write_bytes(gzip.compress(b"x\n" * 5000))
    csv = tmp_path / "b.csv"
    csv.write_text("a,b\n" + "1,2\n" * 5000)
    assert len(split(hp.read_lines(str(gz))._source, 100)) == 1
    assert len(split(hp.read_csv(str(csv))._source, 100)) == 1
    assert len(split(hp.read_lines(str(csv))._source, 100)) > 100


def _read_ranges(path: str, size: int, **options: object) -> list[object]:
    parts = split(hp.read_lines(path, **options)._source, size)  # type: ignore[arg-type]
    set_first_lines(parts, {i: count_newlines(*job) for i, job in newline_jobs(parts).items()})
    return [item for p in parts for item in hp.Stream(p)]


@settings(max_examples=200, deadline=None)
@given(
    lines=st.lists(
        st.text(alphabet=st.sampled_from("ab\r é\u2028"), max_size=12), min_size=0, max_size=30
    ),
    last_end=st.booleans(),
    size=st.integers(1, 40),
)
def test_byte_ranges_lose_or_double_no_line(
    tmp_path_factory: pytest.TempPathFactory, lines: list[str], last_end: bool, size: int
) -> None:
    path = tmp_path_factory.mktemp("ranges") / "f.txt"
    text = "\n".join(lines) + ("\n" if last_end and lines else "")
    path.write_bytes(text.encode())
    ranges = line_ranges(str(path), size)
    assert ranges[0][0] == 0
    assert ranges[-1][1] == len(text.encode())
    assert all(a[1] == b[0] for a, b in itertools.pairwise(ranges))
    assert _read_ranges(str(path), size) == hp.read_lines(str(path)).to_list()
    assert (
        _read_ranges(str(path), size, keep_ends=True)
        == hp.read_lines(str(path), keep_ends=True).to_list()
    )


@settings(max_examples=60, deadline=None)
@given(good=st.integers(0, 60), size=st.integers(5, 60))
def test_byte_ranges_number_bad_lines_as_the_file_does(
    tmp_path_factory: pytest.TempPathFactory, good: int, size: int
) -> None:
    path = tmp_path_factory.mktemp("bad") / "f.txt"
    path.write_bytes(b"line\n" * good + b"bad \xff\n" + b"line\n" * 3)
    seen: list[int | None] = []
    local = hp.read_lines(str(path), on_error=lambda e: seen.append(e.line)).to_list()
    ranged: list[int | None] = []
    assert _read_ranges(str(path), size, on_error=lambda e: ranged.append(e.line)) == local
    assert ranged == seen == [good + 1]


def test_partitioned_checks_its_argument() -> None:
    with pytest.raises(TypeError, match=r"^partitioned\(\): `sources` must be a list of sources"):
        hp.partitioned(3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^partitioned\(\): `sources` is empty; give at least"):
        hp.partitioned([])
    with pytest.raises(TypeError, match=r"^partitioned\(\): every source must be an iterable"):
        hp.partitioned([[1], 2])


# -- dead letters ----------------------------------------------------------------------------------


def _letters(bad: list[hp.DeadLetter]) -> list[tuple[object, str, str, str]]:
    return [(d.item, d.stage, type(d.error).__name__, str(d.error)) for d in bad]


def _both(make: object, run: object) -> tuple[object, list[object], object, list[object]]:
    """*run(stream)* on the engine and locally, each with a fresh dead-letter list."""
    out = []
    for where in ("engine", "local"):
        bad: list[hp.DeadLetter] = []
        stream = make(bad)  # type: ignore[operator]
        try:
            value: object = run(stream, where)  # type: ignore[operator]
        except Exception as e:
            value = (type(e).__name__, str(e))
        out += [value, _letters(bad)]
    return tuple(out)  # type: ignore[return-value]


_RAW = [["1", "x", "3"], ["y", "z"], [], ["4", "5", "w", "6"]]


@pytest.mark.parametrize(
    "terminal", ["to_list", "count", "sum", "run_out", "take_2", "take_4", "first"]
)
def test_dead_letters_reach_the_client_in_the_local_order(
    engine: hp.engines.Dask, terminal: str
) -> None:
    def make(bad: list[hp.DeadLetter]) -> hp.Stream[int]:
        return hp.partitioned(_RAW).map(int).catch(ValueError, dead_letter=bad).map(abs)

    def run(stream: hp.Stream[int], where: str) -> object:
        on = {"engine": engine} if where == "engine" else {}
        if terminal.startswith("take_"):
            return stream.take(int(terminal[5:])).to_list(**on)
        if terminal == "first":
            return stream.take(1).to_list(**on)
        if terminal == "run_out":
            return stream.run(**on).items_out
        return getattr(stream, terminal)(**on)

    remote, remote_bad, local, local_bad = _both(make, run)
    assert remote == local
    assert remote_bad == local_bad
    if terminal in ("to_list", "count"):
        assert [item for item, *_ in remote_bad] == ["x", "y", "z", "w"]


def test_dead_letters_into_a_sink_a_callable_and_two_catches(
    engine: hp.engines.Dask, tmp_path: Path
) -> None:
    def inverse(n: int) -> int:
        if n == 6:
            raise KeyError(n)
        return 12 // (n - 4)

    got = {}
    for where in ("engine", "local"):
        path = tmp_path / f"bad-{where}.jsonl"
        path.write_text("left from an earlier run\n")
        seen: list[hp.DeadLetter] = []
        s = hp.partitioned(_RAW).map(int).catch(ValueError, dead_letter=hp.write_jsonl(str(path)))
        s = s.map(inverse).catch(ZeroDivisionError, KeyError, dead_letter=seen.append)
        value = s.to_list(**({"engine": engine} if where == "engine" else {}))
        got[where] = (value, path.read_text(), _letters(seen))
    assert got["engine"] == got["local"]
    assert [json.loads(line)["item"] for line in got["local"][1].splitlines()] == list("xyzw")
    assert [item for item, *_ in got["local"][2]] == [4, 6]
    # the sink is replaced by a run with no bad item, as locally
    path = tmp_path / "bad-engine.jsonl"
    clean = hp.partitioned([["1"], ["2"]]).map(int)
    clean.catch(ValueError, dead_letter=hp.write_jsonl(str(path))).count(engine=engine)
    assert path.read_text() == ""


@pytest.mark.parametrize("terminal", ["to_list", "count", "files"])
def test_dead_letters_of_a_failing_run_are_the_local_ones(
    engine: hp.engines.Dask, terminal: str, tmp_path: Path
) -> None:
    raw = [["1", "x"], ["y", "2", "boom", "z"], ["q", "3"], ["boom"]]

    def check(x: str) -> str:
        if x == "boom":
            raise RuntimeError("boom")
        return x

    def make(bad: list[hp.DeadLetter]) -> hp.Stream[int]:
        s = hp.partitioned(raw).map(check).map(int).catch(ValueError, dead_letter=bad)
        return s.map(str)

    def run(stream: hp.Stream[str], where: str) -> object:
        on = {"engine": engine} if where == "engine" else {}
        if terminal == "files":
            return stream.to(hp.write_lines(str(tmp_path / f"{where}-*.txt")), **on)
        return getattr(stream, terminal)(**on)

    remote, remote_bad, local, local_bad = _both(make, run)
    assert remote == local == ("RuntimeError", "boom")
    assert remote_bad == local_bad
    assert [item for item, *_ in local_bad] == ["x", "y"]


class _TwoArgs(Exception):
    """An error that pickles but does not unpickle (its __init__ wants two arguments)."""

    def __init__(self, a: object, b: object) -> None:
        super().__init__(f"{a}/{b}")


def _two_args(x: int) -> int:
    if x == 2:
        raise _TwoArgs(x, 0)
    return x


def test_a_dead_letter_that_cannot_travel_is_a_clear_error(engine: hp.engines.Dask) -> None:
    bad: list[hp.DeadLetter] = []
    s = hp.partitioned([[1], [2, 3]]).map(_two_args).catch(_TwoArgs, dead_letter=bad)
    assert s.to_list() == [1, 3]  # locally, nothing travels
    with pytest.raises(hp.HosepipeError) as info:
        s.to_list(engine=engine)
    assert str(info.value) == (
        "catch(dead_letter=) on Dask: the dead letter of map(_two_args) for the item 2 cannot "
        "travel back to the client, as its _TwoArgs error or its item does not pickle "
        "(TypeError: _TwoArgs.__init__() missing 1 required positional argument: 'b'); make "
        "them picklable, or run locally"
    )
    assert info.value.__notes__[-1].startswith("hosepipe: on Dask, in partition 2 of 2")


@_THREADS_USE_RANDOM
@settings(max_examples=15, deadline=None)
@given(
    parts=st.lists(st.lists(st.integers(-6, 6), max_size=6), min_size=1, max_size=4),
    after=st.lists(st.sampled_from(["take", "batch", "map"]), max_size=2),
    terminal=st.sampled_from(["to_list", "count", "sum"]),
)
def test_dead_letters_equal_the_local_ones(
    engine: hp.engines.Dask, parts: list[list[int]], after: list[str], terminal: str
) -> None:
    def make(bad: list[hp.DeadLetter]) -> hp.Stream[object]:
        s: hp.Stream[object] = hp.partitioned(parts).map(lambda x: 12 // x)
        s = s.catch(ZeroDivisionError, dead_letter=bad).filter(lambda x: x != 3)
        for name in after:
            s = {"take": s.take(3), "batch": s.batch(2).map(len), "map": s.map(abs)}[name]
        return s

    def run(stream: hp.Stream[object], where: str) -> object:
        return getattr(stream, terminal)(**({"engine": engine} if where == "engine" else {}))

    remote, remote_bad, local, local_bad = _both(make, run)
    assert remote == local
    assert remote_bad == local_bad


# -- SQL by key ranges ----------------------------------------------------------------------------


@pytest.fixture
def pg(pg_url: str) -> Iterator[test_sql.PG]:
    db = test_sql.PG(pg_url)
    yield db
    db.close()


def _fill(pg: test_sql.PG, keys: list[int]) -> None:
    with pg.conn.cursor() as cur:
        cur.execute(f"TRUNCATE {pg.events}")
        cur.executemany(f"INSERT INTO {pg.events} VALUES (%s, %s)", [(k, f"k{k}") for k in keys])


def test_sql_key_ranges_on_the_cluster(engine: hp.engines.Dask, pg: test_sql.PG) -> None:
    _fill(pg, [k * 7 - 300 for k in range(200)])
    query = f"SELECT id, kind FROM {pg.events} WHERE id % 3 <> 0"
    rows = hp.read_sql(pg.url, query, key="id", partitions=4)
    parts = split(rows._source)
    assert [p.label.rsplit(", ", 1)[1] for p in parts] == [
        "id < 53)",  # min -293, max 1093: 1387 keys, 346 or 347 per range
        "53 <= id < 400)",
        "400 <= id < 747)",
        "747 <= id)",
    ]
    s = rows.map(lambda r: f"{r['id']}:{r['kind']}")
    local = s.to_list()
    assert local == [f"{k}:k{k}" for k in sorted(k * 7 - 300 for k in range(200)) if k % 3]
    assert s.to_list(engine=engine) == local  # in the local (key) order
    assert [p.items_out for p in engine.partition_stats()] == [
        sum(1 for k in range(200) if (k * 7 - 300) % 3 and lo <= k * 7 - 300 < hi)
        for lo, hi in ((-300, 53), (53, 400), (400, 747), (747, 10**6))
    ]
    ids = rows.map(lambda r: r["id"])
    assert ids.sum(engine=engine) == ids.sum()
    assert ids.count(engine=engine) == len(local)
    assert ids.take(5).to_list(engine=engine) == ids.take(5).to_list()
    # the statistics name the source as the local run does
    assert engine.stats().stages[0].label == ids.run().stages[0].label


@_THREADS_USE_RANDOM
@settings(max_examples=15, deadline=None)
@given(
    keys=st.sets(st.integers(-50, 50), max_size=40),
    partitions=st.integers(1, 12),
    rows=st.sampled_from(["dict", "tuple"]),
    bounds=st.sampled_from(["equal", "quantiles"]),
)
def test_sql_key_ranges_give_the_local_rows(
    engine: hp.engines.Dask, pg_url: str, keys: set[int], partitions: int, rows: str, bounds: str
) -> None:
    pg = test_sql.PG(pg_url)
    try:
        _fill(pg, sorted(keys, key=lambda k: (k % 7, k)))  # not inserted in key order
        s = hp.read_sql(
            pg.url,
            f"SELECT * FROM {pg.events}",
            key="id",
            partitions=partitions,
            rows=rows,
            bounds=bounds if partitions > 1 else "equal",
        )  # type: ignore[call-overload]
        local = s.to_list()
        assert [r["id"] if rows == "dict" else r[0] for r in local] == sorted(keys)
        assert s.to_list(engine=engine) == local
        most = _width(keys) if bounds == "equal" else max(1, len(keys))
        assert len(engine.partition_stats()) == max(1, min(partitions, most))
        assert s.count(engine=engine) == len(keys)
    finally:
        pg.close()


def _width(keys: set[int]) -> int:
    return max(keys) - min(keys) + 1 if keys else 1


def test_sql_key_ranges_from_a_sqlite_file(engine: hp.engines.Dask, tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "t.db"
    with contextlib.closing(sqlite3.connect(path)) as c:
        c.execute("CREATE TABLE t (id INTEGER, v TEXT)")
        c.executemany("INSERT INTO t VALUES (?, ?)", [(i * i, str(i)) for i in range(30)])
        c.commit()
    s = hp.read_sql(path, "SELECT v, id FROM t WHERE id > ?", (3,), key="id", partitions=5)
    assert len(split(s._source)) == 5
    assert (
        s.to_list(engine=engine)
        == s.to_list()
        == [{"v": str(i), "id": i * i} for i in range(2, 30)]
    )


# a skewed key: 900 ids packed at the bottom, 100 spread up to 10**7
_SKEWED = [*range(1, 901), *(i * 100_000 for i in range(1, 101))]


def _part_sizes(source: object) -> list[int]:
    """How many rows each partition of *source* reads (each read here, on its own)."""
    return [hp.Stream(part).count() for part in split(source)]  # type: ignore[arg-type]


def test_sql_quantile_bounds_balance_a_skewed_key(engine: hp.engines.Dask, pg: test_sql.PG) -> None:
    _fill(pg, sorted(_SKEWED, key=lambda k: (k % 7, k)))
    query = f"SELECT id, kind FROM {pg.events}"
    equal = hp.read_sql(pg.url, query, key="id", partitions=4)
    sizes = _part_sizes(equal._source)
    assert sizes == [925, 25, 25, 25]  # equal widths: nearly every row in the first range
    rows = hp.read_sql(pg.url, query, key="id", partitions=4, bounds="quantiles")
    parts = split(rows._source)
    assert [p.label.rsplit(", ", 1)[1] for p in parts] == [
        "id < 251)",
        "251 <= id < 501)",
        "501 <= id < 751)",
        "751 <= id)",
    ]
    assert _part_sizes(rows._source) == [250] * 4
    ids = rows.map(lambda r: r["id"])
    assert ids.to_list(engine=engine) == ids.to_list() == sorted(_SKEWED)  # none lost or doubled
    assert [p.items_out for p in engine.partition_stats()] == [250] * 4
    assert ids.sum(engine=engine) == sum(_SKEWED)
    # a query with parameters and a key spread otherwise: balanced within a row
    odd = hp.read_sql(
        pg.url, f"{query} WHERE id %% %s = 1", (2,), key="id", partitions=3, bounds="quantiles"
    )
    got = _part_sizes(odd._source)
    assert sum(got) == sum(1 for k in _SKEWED if k % 2 == 1) == 450
    assert max(got) - min(got) <= 1
    assert odd.to_list(engine=engine) == odd.to_list()


def test_sql_quantile_bounds_from_a_sqlite_file(engine: hp.engines.Dask, tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "t.db"
    with contextlib.closing(sqlite3.connect(path)) as c:
        c.execute("CREATE TABLE t (id INTEGER, v TEXT)")
        c.executemany("INSERT INTO t VALUES (?, ?)", [(k, str(k)) for k in reversed(_SKEWED)])
        c.execute("CREATE TABLE d (id INTEGER)")  # a key that is not unique
        c.executemany("INSERT INTO d VALUES (?)", [(1,)] * 50 + [(2,)] * 30 + [(3,)] * 20)
        c.commit()
    s = hp.read_sql(path, "SELECT v, id FROM t", key="id", partitions=5, bounds="quantiles")
    assert _part_sizes(s._source) == [200] * 5
    assert s.to_list(engine=engine) == s.to_list() == [{"v": str(k), "id": k} for k in _SKEWED]
    # repeated keys: a tile may start inside a run of one key; the cut is at that key, so
    # the run stays whole in one range (the ranges are fewer, never a row lost or doubled)
    d = hp.read_sql(path, "SELECT id FROM d", key="id", partitions=4, bounds="quantiles")
    # tiles of 25 rows: keys 1 | 1 | 2 | 2..3: cuts at 2 only, so two ranges
    assert _part_sizes(d._source) == [50, 50]
    assert d.count(engine=engine) == 100
    assert d.to_list(engine=engine) == d.to_list()
    empty = hp.read_sql(
        path, "SELECT id FROM d WHERE id > 9", key="id", partitions=4, bounds="quantiles"
    )
    assert _part_sizes(empty._source) == [0]
    assert empty.to_list(engine=engine) == []


def test_sql_quantile_bounds_refuse_what_they_cannot_cut(pg: test_sql.PG) -> None:
    _fill(pg, [1, 2, 3])
    table = pg.events
    quantiles = {"partitions": 2, "bounds": "quantiles"}
    with pytest.raises(
        hp.HosepipeError,
        match=r"into partitions: partitions are ranges of an integer `key`, and 'kind' holds "
        r"str values \('k1'\); key the rows by",
    ):
        split(hp.read_sql(pg.url, f"SELECT * FROM {table}", key="kind", **quantiles)._source)
    pg.conn.execute(f"INSERT INTO {table} VALUES (NULL, 'none'), (NULL, 'again')")
    with pytest.raises(
        hp.HosepipeError,
        match=r"into partitions: `key` 'id' is NULL in 2 row\(s\), which no key range holds",
    ):
        split(hp.read_sql(pg.url, f"SELECT * FROM {table}", key="id", **quantiles)._source)
    with pytest.raises(
        ValueError, match=r"^read_sql\(\): `bounds` must be 'equal' or 'quantiles', got 'ntile'$"
    ):
        hp.read_sql(pg.url, "SELECT 1 AS id", key="id", partitions=2, bounds="ntile")  # type: ignore[call-overload]
    with pytest.raises(
        ValueError,
        match=r"^read_sql\(\): `bounds` says how `partitions` cuts the key: give `partitions` too$",
    ):
        hp.read_sql(pg.url, "SELECT 1 AS id", key="id", bounds="quantiles")


def test_sql_key_ranges_refuse_what_they_cannot_cut(pg: test_sql.PG) -> None:
    _fill(pg, [1, 2, 3])
    table = pg.events
    with pytest.raises(
        ValueError,
        match=r"^read_sql\(\): `key` 'nope' is not a column of the query's rows \(they have "
        r"'id', 'kind'\)$",
    ):
        split(hp.read_sql(pg.url, f"SELECT * FROM {table}", key="nope", partitions=2)._source)
    with pytest.raises(
        hp.HosepipeError,
        match=r"into partitions: partitions are ranges of an integer `key`, and 'kind' holds "
        r"str values \('k1'\); key the rows by an integer column \(an id\), or cut them with "
        r"hp.partitioned\(\[...\]\)$",
    ):
        split(hp.read_sql(pg.url, f"SELECT * FROM {table}", key="kind", partitions=2)._source)
    pg.conn.execute(f"INSERT INTO {table} VALUES (NULL, 'none')")
    with pytest.raises(
        hp.HosepipeError,
        match=r"into partitions: `key` 'id' is NULL in 1 row\(s\), which no key range holds; "
        r"use a key column without NULLs$",
    ):
        split(hp.read_sql(pg.url, f"SELECT * FROM {table}", key="id", partitions=2)._source)
    with pytest.raises(
        hp.HosepipeError,
        match=r"into partitions: a connection object cannot travel to the workers; give "
        r"read_sql\(\) a 'postgresql://...' URL or a SQLite path, which each worker opens$",
    ):
        split(hp.read_sql(pg.conn, f"SELECT * FROM {table}", key="id", partitions=2)._source)
    with pytest.raises(
        hp.HosepipeError,
        match=r"into partitions: give read_sql\(\) a `key` \(a unique integer column\) and "
        r"`partitions=N`, to read ranges of the key on the workers$",
    ):
        split(hp.read_sql(pg.url, f"SELECT * FROM {table}")._source)
    with pytest.raises(
        ValueError,
        match=r"^read_sql\(\): `partitions` cuts the rows into ranges of a key: give `key` "
        r"too, the name of a unique integer column$",
    ):
        hp.read_sql(pg.url, "SELECT 1", partitions=3)
    with pytest.raises(
        ValueError, match=r"^read_sql\(\): `partitions` must be an int >= 1, got 0$"
    ):
        hp.read_sql(pg.url, "SELECT 1 AS id", key="id", partitions=0)


# -- sinks ----------------------------------------------------------------------------------------


def test_one_file_per_partition_and_a_manifest(
    engine: hp.engines.Dask, logs: list[str], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    s = hp.read_lines(logs).map(_size)
    assert s.to(hp.write_jsonl(str(out / "part-*.jsonl")), engine=engine) == 27
    manifest = json.loads((out / "part-manifest.json").read_text())
    assert (manifest["items"], manifest["partitions"]) == (27, 3)
    names = [f["path"] for f in manifest["files"]]
    assert names == ["part-00000.jsonl", "part-00001.jsonl", "part-00002.jsonl"]
    assert sorted(os.listdir(out)) == sorted([*names, "part-manifest.json"])
    back = hp.read_jsonl([str(out / n) for n in names]).to_list()
    assert back == s.to_list()


def test_one_file_assembled_in_order(
    engine: hp.engines.Dask, logs: list[str], tmp_path: Path
) -> None:
    target = tmp_path / "all.txt"
    s = hp.read_lines(logs).map(str.upper)
    assert s.to(hp.write_lines(str(target)), engine=engine) == 27
    assert target.read_text().splitlines() == s.to_list()


def test_a_failing_partition_leaves_no_output(
    engine: hp.engines.Dask, logs: list[str], tmp_path: Path
) -> None:
    target = tmp_path / "all.txt"
    s = hp.read_lines(logs).map(lambda line: 1 // int(line.split()[0]))  # file 0: 1 // 0
    with pytest.raises(ZeroDivisionError):
        s.to(hp.write_lines(str(target)), engine=engine)
    with pytest.raises(ZeroDivisionError):
        s.to(hp.write_lines(str(tmp_path / "p-*.txt")), engine=engine)
    # nothing: not the file, not the partitions' files that were written, no temporary file
    assert sorted(p.name for p in tmp_path.iterdir()) == ["part0.log", "part1.log", "part2.log"]


# -- errors ---------------------------------------------------------------------------------------


def _parse(line: str) -> int:
    if "/p/5." in line and line.startswith("1 "):
        raise KeyError(line)
    return 1


def test_a_worker_error_keeps_its_type_and_notes(engine: hp.engines.Dask, logs: list[str]) -> None:
    s = hp.read_lines(logs).map(_parse)
    with pytest.raises(KeyError) as info:
        s.to_list(engine=engine)
    assert info.value.__notes__ == [
        "hosepipe: in stage 1 map(_parse), item index 5",
        f"hosepipe: on Dask, in partition 2 of 3 (read_lines({logs[1]!r})); item indexes "
        "count from its start",
    ]
    with pytest.raises(KeyError):
        s.count(engine=engine)


def test_a_sum_adds_in_the_loop_on_the_workers_and_names_itself_in_an_error(
    engine: hp.engines.Dask,
) -> None:
    """Each partition runs the local ``sum`` terminal (from ``EMPTY``, which adds as
    nothing), so that what ``+`` accepts (lists) sums as locally, and a failing ``+`` names
    ``sum()``."""
    lists = hp.partitioned([[[1], [2]], [], [[3]]])
    assert lists.sum([0], engine=engine) == lists.sum([0]) == [0, 1, 2, 3]
    bad = hp.partitioned([[1, 2], [3, "a", 4]])
    with pytest.raises(TypeError) as info:
        bad.sum(engine=engine)
    assert info.value.__notes__[0] == "hosepipe: in the terminal sum(), item index 1"
    assert info.value.__notes__[1].startswith("hosepipe: on Dask, in partition 2 of 2 ")


def _inlined_on_the_workers() -> list[str]:
    import linecache

    return sorted(k for k in linecache.cache if k.startswith("<hosepipe by value: "))


def test_simple_functions_sent_by_value_are_inlined_on_the_workers(
    engine: hp.engines.Dask,
) -> None:
    s = hp.partitioned([["1", "2"], ["x", "4"]]).map(lambda t: t.strip()).map(int)
    with pytest.raises(ValueError, match=r"^invalid literal for int\(\) with base 10: 'x'") as e:
        s.to_list(engine=engine)
    assert e.value.__notes__[0] == "hosepipe: in stage 2 map(int), item index 0"
    assert e.value.__notes__[1].startswith("hosepipe: on Dask, in partition 2 of 2 ")
    ok = hp.partitioned([[1, 2], [3]]).map(lambda n: n * 10).filter(lambda n: n != 20)
    assert ok.to_list(engine=engine) == ok.to_list() == [10, 30]
    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the workers cannot import it
    try:
        seen = engine.client.run(_inlined_on_the_workers)
    finally:
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    assert [f"<hosepipe by value: {__file__}>"] in seen.values()


def test_a_client_stage_error_is_numbered_as_in_the_local_run(engine: hp.engines.Dask) -> None:
    s = hp.partitioned([[1, 2], [3, 0]]).map(abs).scan(lambda acc, x: acc + 12 // x, 0)
    with pytest.raises(ZeroDivisionError) as local:
        s.to_list()
    with pytest.raises(ZeroDivisionError) as remote:
        s.to_list(engine=engine)
    assert remote.value.__notes__ == local.value.__notes__
    assert local.value.__notes__ == ["hosepipe: in stage 2 scan(<lambda>), item index 3"]


def test_unordered_gathers_every_item(cluster: str) -> None:
    with hp.engines.Dask(cluster, ordered=False) as dask:
        s = hp.partitioned([range(i * 10, i * 10 + 10) for i in range(5)]).map(str)
        got = s.enumerate().to_list(engine=dask)
        assert sorted(x for _, x in got) == sorted(s.to_list())
        assert [i for i, _ in got] == list(range(50))
        assert s.sum("", engine=dask) == s.sum("")  # a reduction keeps the order anyway


def test_stages_that_cannot_run_on_workers_are_refused(engine: hp.engines.Dask) -> None:
    s = hp.partitioned([[1], [2]])
    with pytest.raises(
        hp.HosepipeError,
        match=r"^stage 1 map\(abs, concurrency=2, via='process'\) cannot run on Dask: worker "
        r"processes cannot start processes of their own; use via='thread' there, or more "
        r"Dask workers$",
    ):
        s.map(abs, concurrency=2, via="process").to_list(engine=engine)
    with pytest.raises(
        hp.HosepipeError,
        match=r"^cannot cut the source \[1, 2, 3\] into partitions: read files with "
        r"hp.read_lines, hp.read_jsonl, hp.read_csv or hp.read_bytes, rows with "
        r"hp.read_sql\(..., key=, partitions=\), or give the parts with "
        r"hp.partitioned\(\[...\]\)$",
    ):
        hp.Stream([1, 2, 3]).to_list(engine=engine)
    with pytest.raises(
        TypeError,
        match=r"^count\(\): `engine` must be an engine such as hp.engines.Dask\(\), got 'dask'$",
    ):
        s.count(engine="dask")  # type: ignore[arg-type]


def test_the_engine_checks_its_arguments() -> None:
    with pytest.raises(ValueError, match=r"^Dask\(\): `workers` must be an integer >= 1, got 0$"):
        hp.engines.Dask(workers=0)
    with pytest.raises(
        ValueError,
        match=r"^Dask\(\): `partition_size` must be a number of bytes >= 1 or a size such as "
        r"'64MB', got '-3MB'$",
    ):
        hp.engines.Dask(partition_size="-3MB")
    with pytest.raises(TypeError, match=r"^Dask\(\): `ordered` must be True or False, got 1$"):
        hp.engines.Dask(ordered=1)  # type: ignore[arg-type]


def test_the_workers_are_warmed_when_the_engine_connects() -> None:
    _need_dask()
    import dask as dask_

    wanted = ("hosepipe.engines._tasks", "hosepipe._drive._fuse", "hosepipe.sources._files")
    from hosepipe.engines._dask import OWN_CLUSTER_CONFIG as quiet

    mine = {name: dask_.config.get(name) for name in quiet}
    with hp.engines.Dask(workers=1) as dask:  # fresh worker processes: nothing imported yet
        imported = dask.client.run(lambda: [m for m in wanted if m in sys.modules])
        assert list(imported.values()) == [list(wanted)]
        # the engine's own cluster runs with less in the background (no profiler, ...)
        got = dask.client.run(lambda: {name: dask_.config.get(name) for name in quiet})
        assert list(got.values()) == [quiet]
        assert quiet["distributed.worker.profile.enabled"] is False
        worker = next(iter(dask._cluster.workers.values()))  # its nanny, in this process
        assert worker.periodic_callbacks["tick"].callback_time == 1000  # ms
        assert {name: dask_.config.get(name) for name in quiet} == mine  # this process's
        squares = hp.partitioned([range(3), range(3, 5)]).map(lambda x: x * x)
        assert squares.to_list(engine=dask) == [0, 1, 4, 9, 16]


def test_importing_hosepipe_engines_does_not_import_dask() -> None:
    code = (
        "import sys, hosepipe as hp\n"
        "assert hp.engines.Dask.__name__ == 'Dask'\n"
        "assert 'distributed' not in sys.modules and 'dask' not in sys.modules\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_without_dask_the_error_names_the_extra() -> None:
    code = (
        "import sys; sys.modules['distributed'] = None\n"
        "import hosepipe as hp\n"
        "try:\n    hp.engines.Dask()\n"
        "except ImportError as e:\n    print(type(e).__name__, e)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == (
        "MissingExtraError hp.engines.Dask needs the distributed package: "
        "pip install 'hosepipe[dask]'"
    )


# -- faults ---------------------------------------------------------------------------------------


class _KillOnce:
    """Kills the worker process it runs in, the first time it sees item 4 of any run."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __call__(self, x: int) -> int:
        if x == 4 and not os.path.exists(self.marker):
            Path(self.marker).touch()
            os.kill(os.getpid(), signal.SIGKILL)
        return x * 2


def test_a_worker_killed_mid_run_changes_nothing(engine: hp.engines.Dask, tmp_path: Path) -> None:
    parts = [list(range(i * 5, i * 5 + 5)) for i in range(4)]
    s = hp.partitioned(parts).map(_KillOnce(str(tmp_path / "killed"))).map(str)
    out = tmp_path / "out"
    out.mkdir()
    assert s.to(hp.write_lines(str(out / "p-*.txt")), engine=engine) == 20
    assert (tmp_path / "killed").exists()  # a worker did die
    files = sorted(os.listdir(out))
    assert files == ["p-00000.txt", "p-00001.txt", "p-00002.txt", "p-00003.txt", "p-manifest.json"]
    lines = [line for name in files[:4] for line in (out / name).read_text().splitlines()]
    assert lines == [str(x * 2) for x in range(20)]
    (tmp_path / "killed").unlink()
    assert s.to_list(engine=engine) == [str(x * 2) for x in range(20)]


def test_ctrl_c_cancels_the_tasks(cluster: str, tmp_path: Path) -> None:
    script = tmp_path / "job.py"
    script.write_text(
        "import sys, time, hosepipe as hp\n"
        "def slow(x):\n    time.sleep(4)\n    return x\n"
        "with hp.engines.Dask(sys.argv[1]) as dask:\n"
        "    print('started', flush=True)\n"
        "    try:\n"
        "        hp.partitioned([[1], [2], [3]]).map(slow).to_list(engine=dask)\n"
        "    except KeyboardInterrupt:\n"
        "        print('interrupted', flush=True)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, str(script), cluster], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "started"
        from distributed import Client

        with Client(cluster, timeout=10) as client:
            deadline = time.monotonic() + 30
            while not any(client.processing().values()):  # the tasks have started
                assert time.monotonic() < deadline
                time.sleep(0.05)
            proc.send_signal(signal.SIGINT)
            assert proc.wait(30) == 0
            assert proc.stdout.read().strip() == "interrupted"
            deadline = time.monotonic() + 30
            while any(client.processing().values()):  # the scheduler let them go
                assert time.monotonic() < deadline, client.processing()
                time.sleep(0.05)
    finally:
        if proc.poll() is None:  # pragma: no cover - shown by the asserts above
            proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


# -- the command line -------------------------------------------------------------------------


def test_hosepipe_run_on_the_cluster(cluster: str, logs: list[str], tmp_path: Path) -> None:
    job = tmp_path / "job.py"
    job.write_text(
        "import hosepipe as hp\n"
        "def size(line):\n"
        "    field = line.rsplit(' ', 1)[1]\n"
        "    return 0 if field == '-' else int(field)\n"
        f"pipeline = hp.read_lines({logs!r}).map(size).filter(bool)\n"
    )
    out = tmp_path / "out.txt"
    hosepipe = str(Path(sys.executable).with_name("hosepipe"))
    args = [hosepipe, "run", str(job), "--engine", "dask", "--scheduler", cluster]
    done = subprocess.run(
        [*args, "-o", str(out), "--stats", "json"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert out.read_text().split() == [str(x) for x in [10, 20, 30, 50, 60, 70] * 3]
    stats = json.loads(done.stderr[done.stderr.index("{") :])
    assert [s["items_out"] for s in stats["stages"]] == [27, 27, 18]
    shares = list(stats["workers"].values())  # each worker's share of each stage
    assert [sum(w[i]["items_out"] for w in shares) for i in range(3)] == [27, 27, 18]
    saved = tmp_path / "stats.json"
    saved.write_text(json.dumps(stats))
    shown = subprocess.run(
        [hosepipe, "stats", str(saved)], capture_output=True, text=True, check=True
    ).stdout
    assert shown == str(hp.RunStats.from_dict(stats)) + "\n"
    assert sum(line.startswith("  on tcp://127.0.0.1:") for line in shown.splitlines()) == 3 * len(
        shares
    )
    wrong = subprocess.run(
        [hosepipe, "run", str(job), "--scheduler", cluster], capture_output=True, text=True
    )
    assert wrong.returncode == 2
    assert wrong.stderr.strip().endswith("error: --scheduler goes with --engine dask")
