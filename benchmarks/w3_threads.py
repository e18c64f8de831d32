"""W3: I/O-bound concurrency with threads (seed 000: ThreadPoolExecutor, bounded queues).

2,000 items; each call sleeps ``time.sleep(0.01)`` (a stand-in for a blocking request) and
returns ``x * 2``; 50 calls at once; results in input order. With perfect scheduling the
run takes 2,000 x 10 ms / 50 = 0.4 s: the *ideal*.

Every variant gets the same module-level function, creates its pool (or threads) inside the
call and shuts it down before returning, as a user's run does. Every variant must return
the list ``[0, 2, 4, ...]`` in order (the ``.sum()`` variant its sum): a variant that returns
anything else fails the benchmark.

``screen`` (also used by W4) calls each variant once before the timed rounds, under a
watchdog: a variant that raises, or that has not returned after a time limit, is reported
as ``failed: <reason>`` and left out of the rounds instead of stopping the benchmark.
"""

from __future__ import annotations

import resource
import signal
import statistics
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from importlib import metadata
from types import FrameType

import pypeln as pl
from streamable import stream

import hosepipe as hp
from benchmarks._harness import (
    Report,
    Timings,
    Variant,
    Verdict,
    fmt_ms,
    fmt_ratio,
    markdown_table,
    measure,
    progress,
    time_call,
)

__all__ = [
    "CONCURRENCY",
    "SLEEP_S",
    "Screened",
    "io_task",
    "peer_versions",
    "run",
    "screen",
    "variants",
]

SLEEP_S = 0.01
CONCURRENCY = 50
ITEMS = 2_000
BASELINE = "tpe"  # the paired ratios' reference: ThreadPoolExecutor.map
IDEAL_TARGET = 1.10  # hosepipe <= 1.10x the ideal
TIMEOUT_S = 60.0  # a variant's first call must return within this


def io_task(x: int) -> int:
    """The I/O-bound call: block for 10 ms, then return something checkable."""
    time.sleep(SLEEP_S)
    return x * 2


# -- screening: one guarded call of each variant -----------------------------------------------


class _Timeout(Exception):
    """Raised in the main thread by ``screen``'s watchdog."""


@dataclass
class Screened:
    """What ``screen`` found: the variants fit for the timed rounds, and the others.

    *results* and *seconds* hold each successful first call's result and wall time;
    *failed* maps a variant to why it failed; *too_slow* lists the variants that worked
    but took longer than the limit for timed rounds (their one call is in *seconds*).
    """

    kept: list[Variant] = field(default_factory=list)
    results: dict[str, object] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    too_slow: list[str] = field(default_factory=list)


def _guarded_call(v: Variant, timeout_s: float) -> tuple[float, object] | str:
    """Call *v* once (timed, as ``measure`` does); a failure or a hang gives a reason string.

    A watchdog thread sends SIGUSR1 to the main thread after *timeout_s*; its handler raises
    ``_Timeout`` there, which interrupts a blocking wait. Must run in the main thread.
    """
    state = {"done": False}
    main = threading.main_thread().ident
    assert main is not None

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if not state["done"]:
            raise _Timeout

    previous = signal.signal(signal.SIGUSR1, on_signal)
    timer = threading.Timer(timeout_s, signal.pthread_kill, (main, signal.SIGUSR1))
    timer.daemon = True
    timer.start()
    try:
        try:
            outcome: tuple[float, object] | str = time_call(v.fn)
        except _Timeout:
            outcome = f"failed: no result within {timeout_s:.0f} s (interrupted)"
        except Exception as exc:  # any failure is reported, not raised
            reason = str(exc).splitlines()[0] if str(exc) else ""
            outcome = f"failed: {type(exc).__name__}: {reason}".rstrip(": ")
    finally:
        state["done"] = True
        timer.cancel()
        timer.join()
        signal.signal(signal.SIGUSR1, previous)
        if v.cleanup is not None:
            v.cleanup()
    return outcome


def screen(
    variants: Sequence[Variant],
    *,
    timeout_s: float,
    too_slow_s: float | None = None,
    label: str = "",
) -> Screened:
    """Call every variant once, guarded; sort them into kept, failed and too slow.

    The first call doubles as the warm-up of the timed rounds. A variant whose call took
    more than *too_slow_s* is not timed in rounds (its one call is reported instead).
    """
    out = Screened()
    for v in variants:
        outcome = _guarded_call(v, timeout_s)
        if isinstance(outcome, str):
            out.failed[v.name] = outcome
            progress(f"  {label} {v.name}: {outcome}")
            continue
        elapsed, result = outcome
        out.seconds[v.name] = elapsed
        out.results[v.name] = result
        if too_slow_s is not None and elapsed > too_slow_s:
            out.too_slow.append(v.name)
            progress(f"  {label} {v.name}: one call took {elapsed:.1f} s, not timed in rounds")
        else:
            out.kept.append(v)
    return out


# -- the contenders ----------------------------------------------------------------------------


def thread_pool_map(n: int) -> list[int]:
    """``ThreadPoolExecutor(50).map``: the reference (it submits every item at once)."""
    with ThreadPoolExecutor(max_workers=CONCURRENCY) as ex:
        return list(ex.map(io_task, range(n)))


def hosepipe_list(n: int) -> list[int]:
    """hosepipe: ``map(fn, concurrency=50)`` (ordered by default), ``to_list()``."""
    return hp.Stream(range(n)).map(io_task, concurrency=CONCURRENCY).to_list()


def hosepipe_sum(n: int) -> int:
    """hosepipe: the same stream ending in ``.sum()``."""
    return hp.Stream(range(n)).map(io_task, concurrency=CONCURRENCY).sum()


def pypeln_thread(n: int) -> list[int]:
    """pypeln: ``pl.thread.map(fn, range(n), workers=50, maxsize=50)``, put back in order.

    pypeln yields results as they finish. Its ``ordered`` stage sorts them in one more
    stage; sorting the indexed elements (``return_index=True``) here does the same work
    without the extra stage (and is the cheaper of the two in W4's processes).
    """
    stage = pl.thread.map(io_task, range(n), workers=CONCURRENCY, maxsize=CONCURRENCY)
    elements = pl.thread.to_iterable(stage, return_index=True)
    return [e.value for e in sorted(elements, key=lambda e: e.index)]


def streamable_map(n: int) -> list[int]:
    """streamable 2.0: ``stream(range(n)).map(fn, concurrency=50)`` (ordered by default)."""
    return list(stream(range(n)).map(io_task, concurrency=CONCURRENCY))


def static_threads(n: int) -> list[int]:
    """Limit: 50 plain threads, each running every 50th item in turn; no queue at all.

    The floor for this machine: the time of ``n / 50`` sleeps in a row, plus starting and
    joining 50 threads.
    """
    out: list[int] = [0] * n

    def work(start: int) -> None:
        for i in range(start, n, CONCURRENCY):
            out[i] = io_task(i)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(CONCURRENCY)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def _cpu_seconds() -> float:
    """CPU time of this process so far, all threads, user and system."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _metered(fn: Callable[[], object], into: list[float]) -> Callable[[], object]:
    """*fn*, appending the CPU time of each call to *into* (two ``getrusage`` calls)."""

    def call() -> object:
        started = _cpu_seconds()
        try:
            return fn()
        finally:
            into.append(_cpu_seconds() - started)

    return call


def variants(n: int, cpu: dict[str, list[float]] | None = None) -> list[Variant]:
    """Every W3 contender over *n* items; with *cpu*, each call's CPU time goes there."""
    spec = [
        ("tpe", thread_pool_map, "ThreadPoolExecutor(50).map", "baseline"),
        ("hosepipe", hosepipe_list, "hosepipe map(concurrency=50).to_list()", "hosepipe"),
        ("hosepipe-sum", hosepipe_sum, "hosepipe map(concurrency=50).sum()", "hosepipe"),
        ("pypeln", pypeln_thread, "pypeln thread.map(workers=50), sorted", "library"),
        ("streamable", streamable_map, "streamable 2.0 map(concurrency=50)", "library"),
        ("limit", static_threads, "limit: 50 threads, static split", "limit"),
    ]
    out = []
    for name, fn, label, group in spec:
        call: Callable[[], object] = partial(fn, n)
        if cpu is not None:
            call = _metered(call, cpu.setdefault(name, []))
        out.append(Variant(name, call, label, group))
    return out


# -- report ------------------------------------------------------------------------------------


def peer_versions(*dists: str) -> str:
    """``"pypeln 0.4.9, mpire 2.10.2"``: peers the shared environment record leaves out."""
    found = []
    for dist in dists:
        try:
            found.append(f"{dist} {metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            found.append(f"{dist} (not installed)")
    return ", ".join(found)


def sleep_cost(samples: int = 50) -> float:
    """The median wall time of one ``time.sleep(SLEEP_S)`` here (it always oversleeps a bit)."""
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        time.sleep(SLEEP_S)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _table(
    t: Timings | None,
    s: Screened,
    variants: list[Variant],
    ideal: float,
    cpu: dict[str, list[float]],
) -> str:
    rows: list[tuple[str, ...]] = []
    for v in variants:
        cpu_ms = fmt_ms(statistics.median(cpu[v.name])) if cpu.get(v.name) else "-"
        if v.name in s.failed:
            rows.append((v.title, s.failed[v.name], "-", "-", "-", "-", cpu_ms))
        elif t is None or v.name not in t.times or BASELINE not in t.times:
            one = s.seconds[v.name]
            rows.append(
                (
                    v.title,
                    f"one call: {fmt_ms(one)}",
                    "-",
                    fmt_ratio(one / ideal),
                    "-",
                    "-",
                    cpu_ms,
                )
            )
        else:
            ratios = sorted(t.paired(v.name, BASELINE))
            rows.append(
                (
                    v.title,
                    fmt_ms(t.median(v.name)),
                    fmt_ms(t.min(v.name)),
                    fmt_ratio(t.median(v.name) / ideal),
                    fmt_ratio(t.paired_median(v.name, BASELINE)),
                    f"{ratios[0]:.2f}-{ratios[-1]:.2f}",
                    cpu_ms,
                )
            )
    headers = (
        "variant",
        "median",
        "min",
        "vs ideal",
        "vs ThreadPoolExecutor",
        "(range)",
        "CPU time",
    )
    return markdown_table(headers, rows)


def _verdicts(t: Timings | None, s: Screened, ideal: float) -> list[Verdict]:
    ideal_target = f"hosepipe <= {IDEAL_TARGET:.2f}x ideal ({fmt_ms(ideal)})"
    tpe_target = "hosepipe no slower than ThreadPoolExecutor.map (paired <= 1.00x)"
    if t is None or "hosepipe" not in t.times or BASELINE not in t.times:
        reason = s.failed.get("hosepipe") or s.failed.get(BASELINE) or "not timed"
        return [Verdict(ideal_target, reason, False), Verdict(tpe_target, reason, False)]
    vs_ideal = t.median("hosepipe") / ideal
    vs_tpe = t.paired_median("hosepipe", BASELINE)
    verdicts = [
        Verdict(ideal_target, fmt_ratio(vs_ideal), vs_ideal <= IDEAL_TARGET),
        Verdict(tpe_target, f"{vs_tpe:.3f}x", vs_tpe <= 1.0),
    ]
    for name in ("hosepipe-sum", "pypeln", "streamable"):
        if name in t.times:
            verdicts.append(
                Verdict(
                    f"{name} vs ideal / vs ThreadPoolExecutor",
                    f"{fmt_ratio(t.median(name) / ideal)} / "
                    f"{fmt_ratio(t.paired_median(name, BASELINE))}",
                    None,
                )
            )
    return verdicts


def run(*, quick: bool, rounds: int | None = None, seed: int = 0) -> Report:
    """Run W3 (2,000 items in both modes; 7 rounds quick, 15 full) and return its report."""
    n = ITEMS
    rounds = rounds or (7 if quick else 15)
    ideal = n * SLEEP_S / CONCURRENCY
    expected = [x * 2 for x in range(n)]
    slept = sleep_cost()
    progress(f"W3: {n:,} items x time.sleep({SLEEP_S}), concurrency {CONCURRENCY}")

    cpu: dict[str, list[float]] = {}
    all_variants = variants(n, cpu)
    s = screen(all_variants, timeout_s=TIMEOUT_S, label="W3")
    for name, result in s.results.items():
        want: object = sum(expected) if name == "hosepipe-sum" else expected
        if result != want:
            raise AssertionError(f"W3 {name} returned a wrong result ({str(result)[:80]}...)")
    t = None
    for times in cpu.values():  # keep the timed rounds' CPU times only
        times.clear()
    if s.kept:
        t = measure(s.kept, rounds=rounds, seed=seed, warmup=0, label="W3")
        for name, result in t.results.items():
            if result != s.results[name]:
                raise AssertionError(f"W3 {name}: a timed call returned another result")

    report = Report("w3", "quick" if quick else "full", "W3: I/O-bound concurrency with threads")
    report.notes = [
        f"{n:,} items, each `time.sleep({SLEEP_S})` then `x * 2`; concurrency "
        f"{CONCURRENCY}; ordered results; ideal = {n:,} x {SLEEP_S * 1e3:.0f} ms / "
        f"{CONCURRENCY} = {fmt_ms(ideal)}",
        f"`time.sleep({SLEEP_S})` takes {slept * 1e3:.2f} ms here (median of 50), so "
        f"{n // CONCURRENCY} sleeps in a row take at least {fmt_ms(slept * n / CONCURRENCY)}: "
        "the `limit` row (50 plain threads, each running every 50th item) is the practical "
        "floor",
        "every variant creates its pool inside the call and shuts it down before returning; "
        f"each returns `[0, 2, 4, ...]` in input order (hosepipe `.sum()`: {sum(expected):,}), "
        "checked",
        f"one guarded first call of each variant (limit {TIMEOUT_S:.0f} s; doubles as the "
        f"warm-up), then {rounds} interleaved rounds (order shuffled per round, seed {seed}); "
        "GC paused during each call",
        "`vs ideal`: median / ideal; `vs ThreadPoolExecutor`: median over rounds of the "
        "per-round ratio (paired), `(range)`: lowest-highest per-round ratio; `CPU time`: "
        "median CPU time of a call, all threads of the process, user + system (sleeping "
        "threads use none: the rest is the runner's own work)",
        f"peers: {peer_versions('pypeln', 'streamable')}; "
        f"sys.getswitchinterval() = {sys.getswitchinterval() * 1e3:g} ms",
    ]
    report.sections = [("Results", _table(t, s, all_variants, ideal, cpu))]
    report.verdicts = _verdicts(t, s, ideal)
    report.data = {
        "items": n,
        "sleep_s": SLEEP_S,
        "sleep_measured_s": slept,
        "concurrency": CONCURRENCY,
        "ideal_s": ideal,
        "rounds": rounds,
        "seed": seed,
        "baseline": BASELINE,
        "failed": s.failed,
        "first_call_s": s.seconds,
        "cpu_s": cpu,
        "variants": t.as_json() if t else {},
        "paired_ratios": {v.name: t.paired(v.name, BASELINE) for v in t.variants}
        if t and BASELINE in t.times
        else {},
        "paired_median": {v.name: t.paired_median(v.name, BASELINE) for v in t.variants}
        if t and BASELINE in t.times
        else {},
    }
    return report
