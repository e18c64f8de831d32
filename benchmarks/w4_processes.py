"""W4: CPU-bound work on processes (seed 000: ProcessPoolExecutor, chunksize).

A pure-Python CPU task, ``spin(iterations, x)``, runs over a list of items on every core:
(a) 200 items of about 5 ms each, (b) 20,000 items of about 0.1 ms each (quick mode: 100
and 5,000). The iteration counts that give 5 ms and 0.1 ms are calibrated once, at the
start of the run, and recorded in the report. The plain loop ``[task(x) for x in items]``
is the reference: each variant's *speedup* is the loop's time over its own.

Every variant gets the same task object, ``functools.partial(spin, iterations)`` (a
module-level function, so plain ``pickle`` takes it), and must return the loop's list, in
order. Every variant creates its pool inside the timed call and shuts it down before
returning: that is what one run of a user's program pays (hosepipe starts its pool lazily,
per run), so process start-up is part of every parallel variant's time. Two more variants
reuse workers made once before the rounds (``hp.ProcessPool`` and a
``ProcessPoolExecutor``, tuned chunksize): what a program that runs many streams pays.

Each variant is called once first under ``w3_threads.screen``'s watchdog: one that fails,
or has not returned after a time limit, is reported as ``failed: <reason>``; one whose
first call takes more than ``SLOW_LIMIT`` times the loop's is reported with that one call
and not timed in rounds (pypeln's process stage is that slow on (b)).
"""

from __future__ import annotations

import math
import multiprocessing
import os
import pickle
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any

import pypeln as pl
from mpire.pool import WorkerPool

import hosepipe as hp
from benchmarks._harness import (
    CpuUse,
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
from benchmarks.w3_threads import Screened, peer_versions, screen
from hosepipe._drive import _procpool

__all__ = ["WORKERS", "calibrate", "run", "spin", "variants"]

WORKERS = os.cpu_count() or 1
LOOP = "loop"  # the reference: the plain loop in this process
PPE_ONE = "ppe-1"  # ProcessPoolExecutor.map, chunksize=1
PPE_TUNED = "ppe-tuned"  # ProcessPoolExecutor.map, chunksize=ceil(n / (4 * workers))
FLOOR = "floor"  # os.fork per worker over static shares: what the machine allows
SLOW_LIMIT = 5.0  # a first call slower than this many loops is not timed in rounds
TIMEOUT_LOOPS = 20.0  # a first call must return within this many loops (and >= 60 s)

# name -> (items, seconds per item) of each part, per mode.
PARTS = {
    "quick": {"a": (100, 5e-3), "b": (5_000, 1e-4)},
    "full": {"a": (200, 5e-3), "b": (20_000, 1e-4)},
}
TARGETS = {"a": 1.8, "b": 1.5}  # hosepipe's speedup over the loop, at least


def spin(iterations: int, x: int) -> int:
    """The CPU-bound task: *iterations* steps of integer arithmetic seeded by *x*."""
    acc = x
    for i in range(iterations):
        acc = (acc * 31 + i) % 1_000_003
    return acc


# -- calibration -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Calibration:
    """How many iterations give one call of *target_s*, and what one call then took."""

    target_s: float
    iterations: int
    measured_s: float


def _per_call(iterations: int, calls: int) -> float:
    started = time.perf_counter()
    for x in range(calls):
        spin(iterations, x)
    return (time.perf_counter() - started) / calls


def calibrate(targets: list[float]) -> list[Calibration]:
    """Iteration counts for calls of each target duration, as medians of repeated probes.

    A first estimate comes from the median of 7 probes of 20,000 iterations; each count is
    then corrected once by the median time of 5 batches of about 20 ms of calls at that
    count, and measured again the same way for the record. Medians, not minimums: the
    speed of this machine's cores varies by tens of percent from one second to the next,
    and the median is what the timed rounds will mostly see.
    """
    probe = 20_000
    per_iteration = statistics.median(_per_call(probe, 3) for _ in range(7)) / probe
    out = []
    for target in targets:
        calls = max(1, round(0.02 / target))
        iterations = max(1, round(target / per_iteration))
        first = statistics.median(_per_call(iterations, calls) for _ in range(5))
        iterations = max(1, round(iterations * target / first))
        measured = statistics.median(_per_call(iterations, calls) for _ in range(5))
        out.append(Calibration(target, iterations, measured))
    return out


# -- the contenders ----------------------------------------------------------------------------

Task = Callable[[int], int]


def tuned_chunksize(n: int) -> int:
    """``ceil(n / (4 * workers))``: what ``multiprocessing.Pool.map`` picks by default."""
    return max(1, math.ceil(n / (4 * WORKERS)))


def plain_loop(task: Task, items: list[int]) -> list[int]:
    """The reference: a list comprehension in this process."""
    return [task(x) for x in items]


def hosepipe_process(task: Task, items: list[int]) -> list[int]:
    """hosepipe: ``map(task, concurrency=cpu_count, via="process")`` (ordered), ``to_list()``."""
    return hp.Stream(items).map(task, concurrency=WORKERS, via="process").to_list()


def ppe_map(task: Task, items: list[int], chunksize: int) -> list[int]:
    """``ProcessPoolExecutor(cpu_count).map(task, items, chunksize=...)``, pool shut down."""
    with ProcessPoolExecutor(max_workers=WORKERS) as ex:
        return list(ex.map(task, items, chunksize=chunksize))


def ppe_tuned(task: Task, items: list[int]) -> list[int]:
    """``ProcessPoolExecutor.map`` with ``chunksize=ceil(n / (4 * workers))``."""
    return ppe_map(task, items, tuned_chunksize(len(items)))


def mpire_map(task: Task, items: list[int]) -> list[int]:
    """mpire: ``WorkerPool(n_jobs=cpu_count).map(task, items)`` (its default chunking)."""
    with WorkerPool(n_jobs=WORKERS) as pool:
        return pool.map(task, items)  # type: ignore[no-any-return]


def pypeln_process(task: Task, items: list[int]) -> list[int]:
    """pypeln: ``pl.process.map(task, items, workers=cpu_count)``, put back in order.

    Sorting the indexed elements (``return_index=True``) in this process is cheaper than
    pypeln's ``ordered`` stage, which is one more process for every element to pass through.
    """
    stage = pl.process.map(task, items, workers=WORKERS)
    elements = pl.process.to_iterable(stage, return_index=True)
    return [e.value for e in sorted(elements, key=lambda e: e.index)]


def forked_halves(task: Task, items: list[int]) -> list[int]:
    """The floor of any process pool: ``os.fork`` one child per worker, child *k* runs items
    ``k::workers`` (equal tasks: a perfect static balance) and sends back one pickled list;
    no pool, no per-item or per-chunk message. Start-up (the forks) is in its time too."""
    readers = []
    for k in range(WORKERS):
        r, w = os.pipe()
        if os.fork() == 0:  # the child: compute its share, write it, leave at once
            try:
                os.close(r)
                with os.fdopen(w, "wb") as out:
                    pickle.dump([task(x) for x in items[k::WORKERS]], out)
            finally:
                os._exit(0)  # never back into the parent's code (the parent sees EOF)
        os.close(w)
        readers.append(r)
    out: list[int] = [0] * len(items)
    for k, r in enumerate(readers):  # each child's whole list, in turn (EOF: it is done)
        with os.fdopen(r, "rb") as f:
            out[k::WORKERS] = pickle.load(f)
    for _ in readers:
        os.wait()
    return out


def hosepipe_shared(pool: hp.ProcessPool, task: Task, items: list[int]) -> list[int]:
    """hosepipe on an ``hp.ProcessPool`` made once, before the rounds: ``map(via=pool)``."""
    return hp.Stream(items).map(task, via=pool).to_list()


def ppe_shared(ex: ProcessPoolExecutor, task: Task, items: list[int]) -> list[int]:
    """``ProcessPoolExecutor.map`` (tuned chunksize) on an executor made once, before."""
    return list(ex.map(task, items, chunksize=tuned_chunksize(len(items))))


REUSED = ("hosepipe-reused", "ppe-tuned-reused")  # pools made once, outside the timed calls


def variants(
    task: Task,
    items: list[int],
    pool: hp.ProcessPool | None = None,
    ex: ProcessPoolExecutor | None = None,
) -> list[Variant]:
    """Every W4 contender over *items*; the loop first. With *pool* and *ex* (made by the
    caller, who closes them), also the two whose workers are reused across calls."""
    chunk = tuned_chunksize(len(items))
    spec: list[tuple[str, Callable[[Task, list[int]], list[int]], str, str]] = [
        (LOOP, plain_loop, "plain loop (one process)", "baseline"),
        ("hosepipe", hosepipe_process, "hosepipe map(via='process')", "hosepipe"),
        (PPE_ONE, partial(ppe_map, chunksize=1), "ProcessPoolExecutor.map, chunksize=1", "pool"),
        (PPE_TUNED, ppe_tuned, f"ProcessPoolExecutor.map, chunksize={chunk}", "pool"),
        ("mpire", mpire_map, "mpire WorkerPool.map (default chunks)", "library"),
        ("pypeln", pypeln_process, "pypeln process.map, sorted", "library"),
        (FLOOR, forked_halves, "floor: a fork per worker, static shares, no pool", "baseline"),
    ]
    out = [Variant(name, partial(fn, task, items), label, group) for name, fn, label, group in spec]
    if pool is not None and ex is not None:
        out += [
            Variant(
                REUSED[0],
                partial(hosepipe_shared, pool, task, items),
                "hosepipe map(via=hp.ProcessPool), workers reused",
                "hosepipe",
            ),
            Variant(
                REUSED[1],
                partial(ppe_shared, ex, task, items),
                f"ProcessPoolExecutor.map, chunksize={chunk}, workers reused",
                "pool",
            ),
        ]
    return out


# -- one part ----------------------------------------------------------------------------------


@dataclass
class Part:
    """One part's outcome: its size, the screening and the timed rounds."""

    key: str
    items: int
    calibration: Calibration
    variants: list[Variant]
    screened: Screened
    timings: Timings | None
    cpu: CpuUse

    def timed(self, name: str) -> bool:
        """Whether *name* ran in the timed rounds."""
        return self.timings is not None and name in self.timings.times

    def speedups(self, name: str) -> list[float]:
        """Per-round ``time(loop) / time(name)``."""
        assert self.timings is not None
        return self.timings.paired(LOOP, name)

    def speedup(self, name: str) -> float:
        """The median per-round speedup of *name* over the loop."""
        return statistics.median(self.speedups(name))


def _run_part(key: str, n: int, cal: Calibration, *, rounds: int, seed: int, label: str) -> Part:
    task = partial(spin, cal.iterations)
    items = list(range(n))
    with hp.ProcessPool(WORKERS) as pool, ProcessPoolExecutor(max_workers=WORKERS) as ex:
        return _run_variants(key, n, cal, variants(task, items, pool, ex), rounds, seed, label)


def _run_variants(
    key: str,
    n: int,
    cal: Calibration,
    all_variants: list[Variant],
    rounds: int,
    seed: int,
    label: str,
) -> Part:
    progress(f"{label}: {n:,} items x {cal.measured_s * 1e3:.2f} ms, {WORKERS} workers")
    first = screen(all_variants[:1], timeout_s=600.0, label=label)
    if LOOP not in first.results:
        raise RuntimeError(f"{label}: the plain loop failed: {first.failed[LOOP]}")
    expected = first.results[LOOP]
    loop_s = first.seconds[LOOP]
    rest = screen(
        all_variants[1:],
        timeout_s=max(60.0, TIMEOUT_LOOPS * loop_s),
        too_slow_s=SLOW_LIMIT * loop_s,
        label=label,
    )
    s = Screened(
        kept=first.kept + rest.kept,
        results={**first.results, **rest.results},
        seconds={**first.seconds, **rest.seconds},
        failed=rest.failed,
        too_slow=rest.too_slow,
    )
    for name, result in s.results.items():
        if result != expected:
            raise AssertionError(f"{label} {name} returned another list than the loop")
    before = cpu_snapshot()
    t = measure(s.kept, rounds=rounds, seed=seed, warmup=0, label=label)
    cpu = cpu_use(before)
    for name, result in t.results.items():
        if result != expected:
            raise AssertionError(f"{label} {name}: a timed call returned another list")
    return Part(key, n, cal, all_variants, s, t, cpu)


# -- report ------------------------------------------------------------------------------------


def _vs(p: Part, name: str, ref: str) -> str:
    if not (p.timed(name) and p.timed(ref)):
        return "-"
    assert p.timings is not None
    return fmt_ratio(p.timings.paired_median(name, ref))


def _table(p: Part) -> str:
    rows: list[tuple[str, ...]] = []
    loop_first = p.screened.seconds[LOOP]
    for v in p.variants:
        if v.name in p.screened.failed:
            rows.append((v.title, p.screened.failed[v.name], "-", "-", "-", "-", "-"))
        elif not p.timed(v.name):
            one = p.screened.seconds[v.name]
            speedup = f"{loop_first / one:.2f}x (one call)"
            rows.append((v.title, f"one call: {one:.2f} s", "-", speedup, "-", "-", "-"))
        else:
            assert p.timings is not None
            speedups = sorted(p.speedups(v.name))
            rows.append(
                (
                    v.title,
                    fmt_ms(p.timings.median(v.name)),
                    fmt_ms(p.timings.min(v.name)),
                    f"{p.speedup(v.name):.2f}x",
                    f"{speedups[0]:.2f}-{speedups[-1]:.2f}",
                    _vs(p, v.name, PPE_ONE),
                    _vs(p, v.name, PPE_TUNED),
                )
            )
    headers = (
        "variant",
        "median",
        "min",
        "speedup vs loop",
        "(range)",
        "vs PPE chunksize=1",
        "vs PPE tuned",
    )
    return markdown_table(headers, rows)


def _verdicts(p: Part) -> list[Verdict]:
    what = f"({p.key}) {p.items:,} x {p.calibration.target_s * 1e3:g} ms"
    target = TARGETS[p.key]
    speed_target = f"{what}: hosepipe >= {target:.1f}x the loop"
    ppe_target = f"{what}: hosepipe ahead of ProcessPoolExecutor.map (chunksize 1 and tuned)"
    if not p.timed("hosepipe"):
        reason = p.screened.failed.get("hosepipe", "not timed in rounds")
        return [Verdict(speed_target, reason, False), Verdict(ppe_target, reason, False)]
    assert p.timings is not None
    t = p.timings
    speedup = p.speedup("hosepipe")
    vs_ppe = {ref: t.paired_median("hosepipe", ref) for ref in (PPE_ONE, PPE_TUNED) if p.timed(ref)}
    # three decimals: the verdict is strict, and 0.998x must not read as 1.00x
    measured = " / ".join(f"{r:.3f}x vs {ref}" for ref, r in vs_ppe.items()) or "no PPE"
    verdicts = [
        Verdict(speed_target, f"{speedup:.2f}x", speedup >= target),
        Verdict(ppe_target, measured, len(vs_ppe) == 2 and max(vs_ppe.values()) < 1.0),
    ]
    if vs_ppe:
        best = min(vs_ppe, key=lambda ref: t.median(ref))
        verdicts.append(
            Verdict(
                f"{what}: hosepipe vs the faster PPE ({best})",
                fmt_ratio(vs_ppe[best]),
                None,
            )
        )
    for name in ("mpire", "pypeln"):
        if p.timed(name):
            verdicts.append(Verdict(f"{what}: hosepipe vs {name}", _vs(p, "hosepipe", name), None))
    if p.timed(FLOOR):
        verdicts += [
            Verdict(
                f"{what}: the floor (a fork per worker, static shares, no pool): its speedup",
                f"{p.speedup(FLOOR):.2f}x",
                None,
            ),
            Verdict(
                f"{what}: where the machine allows it: hosepipe <= 1.05x the floor (paired)",
                fmt_ratio(vs_floor := t.paired_median("hosepipe", FLOOR)),
                vs_floor <= 1.05,
            ),
        ]
    if p.timed(REUSED[0]) and p.timed(REUSED[1]):
        reused = t.paired_median(*REUSED)
        verdicts += [
            Verdict(
                f"{what}, workers reused: hosepipe (hp.ProcessPool) ahead of PPE tuned",
                f"{reused:.3f}x",
                reused < 1.0,
            ),
            Verdict(
                f"{what}, workers reused: hosepipe's speedup over the loop",
                f"{p.speedup(REUSED[0]):.2f}x",
                None,
            ),
        ]
    return verdicts


def _part_json(p: Part) -> dict[str, Any]:
    t = p.timings
    refs = [r for r in (LOOP, PPE_ONE, PPE_TUNED) if p.timed(r)]
    return {
        "items": p.items,
        "target_s_per_item": p.calibration.target_s,
        "iterations": p.calibration.iterations,
        "calibrated_s_per_item": p.calibration.measured_s,
        "tuned_chunksize": tuned_chunksize(p.items),
        "cpu_use": {
            "own": p.cpu.own,
            "others": p.cpu.others,
            "machine": p.cpu.machine,
            "steal": p.cpu.steal,
        },
        "failed": p.screened.failed,
        "too_slow": p.screened.too_slow,
        "first_call_s": p.screened.seconds,
        "variants": t.as_json() if t else {},
        "speedup_vs_loop": {v.name: p.speedups(v.name) for v in t.variants} if t else {},
        "paired_ratios": {ref: {v.name: t.paired(v.name, ref) for v in t.variants} for ref in refs}
        if t
        else {},
        "paired_median": {
            ref: {v.name: t.paired_median(v.name, ref) for v in t.variants} for ref in refs
        }
        if t
        else {},
    }


def run(*, quick: bool, rounds: int | None = None, seed: int = 0) -> Report:
    """Run W4 ((a) 200 x 5 ms and (b) 20,000 x 0.1 ms; quick: 100 and 5,000) and report."""
    mode = "quick" if quick else "full"
    rounds = rounds or (5 if quick else 7)
    parts = PARTS[mode]
    progress(f"W4: calibrating the task ({WORKERS} CPUs)")
    cals = dict(zip(parts, calibrate([secs for _, secs in parts.values()]), strict=True))
    done = [
        _run_part(key, n, cals[key], rounds=rounds, seed=seed, label=f"W4{key}")
        for key, (n, _) in parts.items()
    ]

    report = Report("w4", mode, "W4: CPU-bound work on processes")
    cal_text = "; ".join(
        f"({p.key}) {p.calibration.iterations:,} iterations = "
        f"{p.calibration.measured_s * 1e3:.3f} ms a call "
        f"(target {p.calibration.target_s * 1e3:g} ms)"
        for p in done
    )
    in_loop = "; ".join(
        f"({p.key}) {p.timings.median(LOOP) / p.items * 1e3:.3f} ms"
        for p in done
        if p.timings is not None
    )
    report.notes = [
        f"task: `partial(spin, iterations)`, a pure-Python loop of integer arithmetic; "
        f"calibrated at start-up: {cal_text}; per item inside the timed loop: {in_loop}",
        f"{WORKERS} worker processes for every parallel variant (os.cpu_count()); every "
        "variant creates its pool inside the timed call and shuts it down before returning, "
        "so process start-up and shutdown are in the times, except the two marked `workers "
        "reused`, whose pool (hp.ProcessPool, ProcessPoolExecutor) is made once per part "
        "before the rounds",
        "chunks: PPE tuned uses chunksize = ceil(n / (4 x workers)) (multiprocessing.Pool's "
        f"default rule): {', '.join(f'({p.key}) {tuned_chunksize(p.items)}' for p in done)}; "
        "mpire's default is n / (64 x workers) items a chunk, at least 1: "
        f"{', '.join(f'({p.key}) {max(1.0, p.items / (64 * WORKERS)):.3g}' for p in done)}; "
        "hosepipe sizes its chunks itself (one item at first, then about "
        f"{_procpool.TARGET_SECONDS * 1e3:g} ms of work a chunk from the measured time per "
        "item, and shrinking shares of what is left once the input ends)",
        "every variant must return the loop's list, in order (checked); pypeln's results "
        "are sorted by their source index in the parent",
        f"one guarded first call of each variant (the warm-up; a variant that fails or hangs "
        f"is reported as failed, one slower than {SLOW_LIMIT:g}x the loop's first call is "
        f"reported with that one call and not timed), then {rounds} interleaved rounds "
        f"(order shuffled per round, seed {seed}); GC paused in the parent during each call",
        "`speedup vs loop`: median over rounds of the per-round loop time / variant time "
        "(paired), `(range)`: lowest-highest; `vs PPE ...`: median per-round ratio variant "
        "time / ProcessPoolExecutor time (below 1.00x: faster than PPE)",
        f"peers: {peer_versions('mpire', 'pypeln')}; process start method: "
        f"{multiprocessing.get_start_method()} (the default, for every pool)",
        "CPU use during the timed rounds, in CPUs on average out of "
        f"{os.cpu_count()}: "
        + "; ".join(
            f"({p.key}) this benchmark {p.cpu.own:.2f}, other processes {p.cpu.others:.2f}, "
            f"steal {p.cpu.steal:.2f}"
            for p in done
        )
        + " (other processes compete with the workers for the cores: the speedups "
        "only mean something when that figure is small)",
    ]
    report.sections = [
        (
            f"({p.key}) {p.items:,} items x {p.calibration.target_s * 1e3:g} ms",
            _table(p),
        )
        for p in done
    ]
    report.verdicts = [v for p in done for v in _verdicts(p)]
    report.data = {
        "workers": WORKERS,
        "rounds": rounds,
        "seed": seed,
        "slow_limit": SLOW_LIMIT,
        "parts": {p.key: _part_json(p) for p in done},
    }
    return report
