"""W7: scale-out on Dask: W1's access-log sum over 8 files, here and on 2 workers.

Every variant sums the last field of every line of 8 access logs (W1's files, seeds 0-7;
5 MB each quick, 50 MB full), skipping ``-``, and must return the loop's total. The
contenders: the plain loop over the files; hosepipe in this process; hosepipe with
``map(file_sum, concurrency=2, via="process")`` over the paths; ``multiprocessing.Pool(2)``
with one file per task (the pool made inside the timed call, as a program pays for it);
hosepipe with ``engine=hp.engines.Dask()`` on a ``LocalCluster`` of 2 worker processes of
one thread each; the loop itself on that cluster, a file per task (``client.map``: what
Dask costs whatever runs in the tasks); and raw
``dask.bag.read_text(paths).map(...).filter(...).map(int).sum()`` on the same cluster.
The cluster is started once, before the rounds: its start-up time is reported apart, not
in the per-call times.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from functools import partial

import dask.bag

import hosepipe as hp
from benchmarks._data import access_log
from benchmarks._harness import (
    Report,
    Timings,
    Variant,
    Verdict,
    cpu_snapshot,
    cpu_use,
    fmt_ms,
    fmt_ratio,
    markdown_table,
    measure,
    progress,
)
from benchmarks.w1_access_log import FIELD, NOT_DASH, hosepipe_sum, loop

__all__ = ["FILES", "run", "variants"]

FILES = 8
WORKERS = 2
BASELINE = "pool"  # multiprocessing.Pool(2), a file per task: the target's reference


def plain_loop(paths: list[str]) -> int:
    """W1's imperative loop, one file after the other."""
    return sum(loop(p) for p in paths)


def hosepipe_local(paths: list[str]) -> int:
    """hosepipe over every file, in this process."""
    return hp.read_lines(paths).map(FIELD).filter(NOT_DASH).map(int).sum()


def hosepipe_process(paths: list[str]) -> int:
    """hosepipe: each file summed by W1's hosepipe pipeline on 2 worker processes."""
    return hp.Stream(paths).map(hosepipe_sum, concurrency=WORKERS, via="process").sum()


def pool(paths: list[str]) -> int:
    """``multiprocessing.Pool(2).map(loop, paths)``: the loop, one file per task."""
    with multiprocessing.Pool(WORKERS) as p:
        return sum(p.map(loop, paths, chunksize=1))


def hosepipe_dask(engine: hp.engines.Dask, paths: list[str]) -> int:
    """hosepipe on Dask: the local pipeline, ``.sum(engine=...)``: a partition per file."""
    return hp.read_lines(paths).map(FIELD).filter(NOT_DASH).map(int).sum(engine=engine)


def dask_loop(engine: hp.engines.Dask, paths: list[str]) -> int:
    """The loop on the same cluster, a file per task (``client.map``): Dask's floor."""
    client = engine.client
    return sum(client.gather(client.map(loop, paths, pure=False)))


def dask_bag(engine: hp.engines.Dask, paths: list[str]) -> int:
    """Raw dask.bag on the same cluster: ``read_text(paths)`` (a partition per file)."""
    bag = dask.bag.read_text(paths, linedelimiter="\n").map(FIELD).filter(NOT_DASH).map(int)
    return int(engine.client.compute(bag.sum()).result())


def variants(engine: hp.engines.Dask, paths: list[str]) -> list[Variant]:
    """Every W7 contender, bound to *paths* (and the cluster)."""
    spec = [
        ("loop", plain_loop, "plain loop, file after file", "baseline"),
        ("hosepipe-local", hosepipe_local, "hosepipe, this process", "hosepipe"),
        ("hosepipe-process", hosepipe_process, "hosepipe map(file_sum, 2, process)", "hosepipe"),
        ("pool", pool, "multiprocessing.Pool(2), a file per task", "baseline"),
        ("hosepipe-dask", partial(hosepipe_dask, engine), "hosepipe on Dask (2 workers)", "dask"),
        ("dask-loop", partial(dask_loop, engine), "the loop on the same cluster", "dask"),
        ("dask-bag", partial(dask_bag, engine), "raw dask.bag on the same cluster", "dask"),
    ]
    return [Variant(name, partial(fn, paths), label, group) for name, fn, label, group in spec]


def _table(t: Timings) -> str:
    rows = [
        (
            *t.time_cells(v.title, v.name, BASELINE),
            fmt_ratio(t.paired_median(v.name, "dask-bag")),
            fmt_ratio(t.paired_median(v.name, "loop")),
        )
        for v in t.variants
    ]
    headers = ("variant", "median", "min", "vs Pool(2)", "(range)", "vs dask.bag", "vs loop")
    return markdown_table(headers, rows)


def run(*, quick: bool, rounds: int | None = None, seed: int = 0) -> Report:
    """Run W7 (8 x 5 MB quick, 8 x 50 MB full) and return its report."""
    size_mb = 5 if quick else 50
    rounds = rounds or 5  # quick and full: a per-round ratio moves by 20% on a shared machine
    paths = [str(access_log(size_mb, seed=i)) for i in range(FILES)]
    progress(f"W7: {FILES} x {size_mb} MB access logs, {rounds} rounds")
    started = time.perf_counter()
    engine = hp.engines.Dask(workers=WORKERS, threads_per_worker=1)
    startup = time.perf_counter() - started
    try:
        before = cpu_snapshot()
        t = measure(variants(engine, paths), rounds=rounds, seed=seed, label="W7")
        cpu = cpu_use(before)
        started = time.perf_counter()
        engine.close()
        teardown = time.perf_counter() - started
    finally:
        engine.close()
    expected = t.results["loop"]
    for v in t.variants:
        if t.results[v.name] != expected:
            raise AssertionError(f"W7 {v.name} summed {t.results[v.name]!r}, not {expected!r}")

    vs_pool = t.paired_median("hosepipe-dask", BASELINE)
    vs_bag = t.paired_median("hosepipe-dask", "dask-bag")
    vs_floor = t.paired_median("hosepipe-dask", "dask-loop")
    floor = t.paired_median("dask-loop", BASELINE)
    report = Report("w7", "quick" if quick else "full", "W7: scale-out on Dask")
    report.notes = [
        f"input: {FILES} synthetic access logs of {size_mb} MB (seeds 0-{FILES - 1}), "
        f"total {expected:,}",
        f"Dask: LocalCluster of {WORKERS} worker processes, 1 thread each; start-up "
        f"{fmt_ms(startup)} and close {fmt_ms(teardown)}, not in the times below",
        f"{rounds} interleaved rounds (order shuffled per round, seed {seed}) after one "
        "warm-up call of each variant; the Pool and hosepipe's process pool start inside "
        "each call",
        "`vs ...`: median over rounds of the per-round ratio to that variant (paired)",
        f"CPU use during the rounds, in CPUs on average out of {os.cpu_count()}: this "
        f"benchmark (with the cluster's processes) {cpu.own:.2f}, other processes "
        f"{cpu.others:.2f}, steal {cpu.steal:.2f} (other processes take cores from the "
        "workers: the ratios only mean something when that figure is small)",
    ]
    report.sections = [("Results", _table(t))]
    report.verdicts = [
        Verdict(
            "hosepipe on Dask <= 1.2x multiprocessing.Pool(2)", fmt_ratio(vs_pool), vs_pool <= 1.2
        ),
        Verdict("hosepipe on Dask no slower than raw dask.bag", fmt_ratio(vs_bag), vs_bag <= 1.0),
        Verdict(
            "Dask's floor: the loop on the same cluster vs multiprocessing.Pool(2)",
            fmt_ratio(floor),
            None,
        ),
        Verdict("hosepipe on Dask vs the loop on the same cluster", fmt_ratio(vs_floor), None),
    ]
    report.data = {
        "files": FILES,
        "size_mb": size_mb,
        "total": expected,
        "rounds": rounds,
        "seed": seed,
        "baseline": BASELINE,
        "startup_s": startup,
        "teardown_s": teardown,
        "cpu": {"own": cpu.own, "others": cpu.others, "machine": cpu.machine, "steal": cpu.steal},
        "variants": t.as_json(),
        "paired_median": {
            ref: {v.name: t.paired_median(v.name, ref) for v in t.variants}
            for ref in (BASELINE, "dask-bag", "loop", "dask-loop")
        },
    }
    return report
