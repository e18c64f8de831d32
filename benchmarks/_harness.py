"""The shared benchmark machinery: interleaved timing rounds, paired ratios, tables, results.

Every workload describes its contenders as ``Variant`` objects and hands them to
``measure``, which times them all in *rounds*: one warm-up call of each, then in every round
each variant once, in an order shuffled with a fixed seed. Because all contenders of a
round run within seconds of each other, the ratio of two variants' times *in the same
round* cancels most of the drift of a shared, noisy machine; ``Timings.paired`` gives those
per-round ratios and the reports quote their median (the "paired ratio").

Memory is measured in fresh interpreters: ``run_python`` runs one and reads its own peak RSS
(``VmHWM``), and ``measure_peak_rss`` runs several children interleaved, as ``measure`` does.

A workload returns a ``Report``; ``publish`` prints it and saves it to
``benchmarks/results/<name>-<mode>.json`` and ``.md`` with the environment it ran in.
"""

from __future__ import annotations

import gc
import json
import os
import platform
import random
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = [
    "RESULTS_DIR",
    "ROOT",
    "ChildRun",
    "CpuUse",
    "Report",
    "Timings",
    "Variant",
    "Verdict",
    "cpu_snapshot",
    "cpu_use",
    "environment",
    "fmt_ms",
    "fmt_ratio",
    "fmt_mb",
    "markdown_table",
    "measure",
    "measure_peak_rss",
    "progress",
    "publish",
    "run_python",
    "time_call",
]

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = Path(__file__).resolve().parent / "results"

# Distributions whose versions every result file records.
LIBRARIES = (
    "hosepipe",
    "toolz",
    "cytoolz",
    "pipe",
    "PyFunctional",
    "streamable",
    "more-itertools",
)


# -- timing ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    """One contender: a zero-argument callable that does the whole job and returns its result.

    *name* is the short key used in JSON, *label* what tables show, *group* a free-form kind
    ("baseline", "library", "limit", ...). *cleanup*, if given, runs after every call, outside
    the timed region (e.g. to remove the file the call wrote).
    """

    name: str
    fn: Callable[[], object]
    label: str = ""
    group: str = ""
    cleanup: Callable[[], object] | None = None

    @property
    def title(self) -> str:
        """The label, or the name when there is no label."""
        return self.label or self.name


@dataclass
class Timings:
    """Wall times of each variant, one per round (seconds), and each variant's result.

    *faults* holds the minor page faults of each timed call (``ru_minflt``): the cost a
    call pays when memory it frees goes back to the OS and is faulted in again.
    """

    variants: list[Variant]
    times: dict[str, list[float]]
    results: dict[str, object]
    rounds: int
    seed: int
    faults: dict[str, list[int]] = field(default_factory=dict)
    cpu: dict[str, list[float]] = field(default_factory=dict)  # CPU seconds of each call

    def cpu_paired_median(self, name: str, baseline: str) -> float:
        """The median per-round ratio of CPU times: the cost of *name* over *baseline* that
        other processes on the machine hardly change (wall times they do)."""
        return statistics.median(
            a / b for a, b in zip(self.cpu[name], self.cpu[baseline], strict=True)
        )

    def median(self, name: str) -> float:
        """The median time of *name* over the rounds."""
        return statistics.median(self.times[name])

    def min(self, name: str) -> float:
        """The fastest time of *name*."""
        return min(self.times[name])

    def paired(self, name: str, baseline: str) -> list[float]:
        """Per-round ratios ``time(name) / time(baseline)``."""
        return [a / b for a, b in zip(self.times[name], self.times[baseline], strict=True)]

    def paired_median(self, name: str, baseline: str) -> float:
        """The median of the per-round ratios: the figure the reports quote."""
        return statistics.median(self.paired(name, baseline))

    def time_cells(self, title: str, name: str, baseline: str) -> tuple[str, ...]:
        """The leading cells of a timing row: title, median, min, paired ratio, range."""
        ratios = sorted(self.paired(name, baseline))
        return (
            title,
            fmt_ms(self.median(name)),
            fmt_ms(self.min(name)),
            fmt_ratio(self.paired_median(name, baseline)),
            f"{ratios[0]:.2f}-{ratios[-1]:.2f}",
        )

    def paired_diff(self, name: str, baseline: str) -> list[float]:
        """Per-round differences ``time(name) - time(baseline)`` (seconds)."""
        return [a - b for a, b in zip(self.times[name], self.times[baseline], strict=True)]

    def as_json(self) -> dict[str, Any]:
        """Every variant's per-round times, median and minimum."""
        return {
            v.name: {
                "label": v.title,
                "group": v.group,
                "times_s": self.times[v.name],
                "median_s": self.median(v.name),
                "min_s": self.min(v.name),
                "minor_faults": self.faults.get(v.name, []),
                "cpu_s": self.cpu.get(v.name, []),
            }
            for v in self.variants
        }


def time_call(fn: Callable[[], object]) -> tuple[float, object]:
    """Call *fn* once; return the wall time it took and its result.

    Like ``timeit``, garbage is collected before the call and the cyclic collector is
    paused during it, so no variant pays for another's garbage.
    """
    elapsed, _, result = time_call_cpu(fn)
    return elapsed, result


def time_call_cpu(fn: Callable[[], object]) -> tuple[float, float, object]:
    """``time_call``, with the CPU time the call took in this process (every thread of
    it; child processes not included) between the wall time and the result."""
    gc.collect()
    enabled = gc.isenabled()
    gc.disable()
    try:
        cpu_started = time.process_time()
        started = time.perf_counter()
        result = fn()
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
    finally:
        if enabled:
            gc.enable()
    return elapsed, cpu, result


def progress(message: str) -> None:
    """A progress line on stderr (stdout carries only the result tables)."""
    print(message, file=sys.stderr, flush=True)


def measure(
    variants: Sequence[Variant],
    *,
    rounds: int,
    seed: int = 0,
    warmup: int = 1,
    label: str = "",
) -> Timings:
    """Time *variants* interleaved: *warmup* calls of each, then *rounds* shuffled rounds.

    Each round calls every variant once, in an order drawn from ``random.Random(seed)``, so
    no variant always runs first or right after the same neighbour. A timed call must return
    what the variant's warm-up call returned (an ``AssertionError`` otherwise), which keeps a
    caching library from being timed on a job it did not do.
    """
    names = [v.name for v in variants]
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate variant names in {names}")
    rng = random.Random(seed)
    results: dict[str, object] = {}
    times: dict[str, list[float]] = {v.name: [] for v in variants}
    cpu: dict[str, list[float]] = {v.name: [] for v in variants}
    faults: dict[str, list[int]] = {v.name: [] for v in variants}
    for _ in range(warmup):
        for v in variants:
            _, _, results[v.name] = _call(v)
    for r in range(rounds):
        started = time.perf_counter()
        order = list(variants)
        rng.shuffle(order)
        for v in order:
            before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            elapsed, cpu_time, result = _call(v)
            faults[v.name].append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
            if v.name in results and result != results[v.name]:
                raise AssertionError(
                    f"{v.name}: round {r + 1} returned {result!r}, warm-up {results[v.name]!r}"
                )
            results.setdefault(v.name, result)
            times[v.name].append(elapsed)
            cpu[v.name].append(cpu_time)
        spent = time.perf_counter() - started
        progress(f"  {label} round {r + 1}/{rounds} ({spent:.1f} s)")
    return Timings(list(variants), times, results, rounds, seed, faults, cpu)


def _call(v: Variant) -> tuple[float, float, object]:
    """One timed call of *v* (wall and CPU time, result), then its (untimed) cleanup."""
    try:
        return time_call_cpu(v.fn)
    finally:
        if v.cleanup is not None:
            v.cleanup()


# -- instruction counts (callgrind) ----------------------------------------------------------


def instructions_per_call(
    setup: str, calls: Sequence[str], *, cwd: str | os.PathLike[str] = ROOT
) -> list[int] | None:
    """Instructions each of *calls* (Python expressions) executes, counted by ``valgrind
    --tool=callgrind`` in one fresh interpreter that first runs *setup*; None where valgrind
    is missing. A count, not a time: the same for the same code and input whatever else the
    machine runs, so it shows a few per cent that wall times on a shared machine cannot.

    Each expression is evaluated once untimed (first-call costs: imports, code generation),
    then once through ``operator.call``, whose C function ``_operator_call`` brackets the
    count: callgrind dumps its counters as that function is entered and again as it is
    left, so every second dump is one call exactly, start-up excluded.
    """
    import shutil

    valgrind = shutil.which("valgrind")
    if valgrind is None:
        return None
    body = "".join(
        f"_fn_{i} = lambda: ({call})\n_fn_{i}()\n_operator_call(_fn_{i})\n"
        for i, call in enumerate(calls)
    )
    code = f"{setup}\nfrom operator import call as _operator_call\n{body}"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        proc = subprocess.run(
            [
                valgrind,
                "--tool=callgrind",
                "--dump-before=_operator_call",
                "--dump-after=_operator_call",
                f"--callgrind-out-file={out}",
                sys.executable,
                "-c",
                code,
            ],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"callgrind run failed ({proc.returncode}): {proc.stderr[-2000:]}")
        counts = []
        for part in range(1, 2 * len(calls) + 1):
            text = Path(f"{out}.{part}").read_text()
            if part % 2 == 0:  # dumped as operator.call returned: that call's count
                if "--dump-after=_operator_call" not in text:
                    raise RuntimeError(f"callgrind dump {part} is not the end of a call")
                found = re.search(r"^totals:\s*(\d+)", text, re.MULTILINE)
                if found is None:
                    raise RuntimeError(f"no totals in callgrind dump {part}")
                counts.append(int(found.group(1)))
    return counts


# -- peak memory of fresh interpreters --------------------------------------------------------

# Appended to every child's code: print the process's own peak RSS if /proc has it.
_PEAK_RSS_EPILOGUE = (
    "\ntry:\n"
    "    import sys\n"
    "    with open('/proc/self/status') as _status:\n"
    "        _hwm = [_l for _l in _status if _l.startswith('VmHWM:')]\n"
    "    sys.stdout.write('\\n' + ''.join(_hwm))\n"
    "except OSError:\n"
    "    pass\n"
)


@dataclass(frozen=True)
class ChildRun:
    """One fresh interpreter: its wall time (spawn to exit), own peak RSS and output."""

    wall_s: float
    peak_rss_kib: int
    stdout: str

    @property
    def peak_rss_mb(self) -> float:
        """The peak RSS in MiB."""
        return self.peak_rss_kib / 1024


def run_python(code: str, *, cwd: str | os.PathLike[str]) -> ChildRun:
    """Run ``python -c code`` in *cwd*; return its wall time, own peak RSS and stdout.

    The peak RSS is the child's ``VmHWM`` from ``/proc/self/status``, printed by the child
    as it ends: ``ru_maxrss`` from ``wait4``/``RUSAGE_CHILDREN`` would report this (large)
    benchmark process's RSS, which Linux carries over the fork and exec. Where there is no
    ``/proc``, ``ru_maxrss`` of the children is used anyway. A child that fails raises
    ``RuntimeError`` with its stderr.
    """
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", code + _PEAK_RSS_EPILOGUE],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = proc.communicate()
    elapsed = time.perf_counter() - started
    if proc.returncode:
        raise RuntimeError(f"python -c {code!r} exited with {proc.returncode}:\n{err}")
    lines = out.splitlines()
    if lines and lines[-1].startswith("VmHWM:"):
        kib = int(lines[-1].split()[1])
        lines = lines[:-1]
    else:
        kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return ChildRun(elapsed, kib, "\n".join(lines).strip())


def measure_peak_rss(
    children: dict[str, str],
    *,
    runs: int,
    cwd: str | os.PathLike[str] = ROOT,
    seed: int = 0,
    label: str = "",
) -> dict[str, list[ChildRun]]:
    """Run each child's code *runs* times in fresh interpreters, interleaved as ``measure`` does.

    *children* maps a name to the code of ``python -c``. In every run each child runs once,
    in an order drawn from ``random.Random(seed)``. Returns every run of every child.
    """
    rng = random.Random(seed)
    done: dict[str, list[ChildRun]] = {name: [] for name in children}
    for r in range(runs):
        started = time.perf_counter()
        order = list(children)
        rng.shuffle(order)
        for name in order:
            done[name].append(run_python(children[name], cwd=cwd))
        spent = time.perf_counter() - started
        progress(f"  {label} memory run {r + 1}/{runs} ({spent:.1f} s)")
    return done


# -- formatting ------------------------------------------------------------------------------


def fmt_ms(seconds: float) -> str:
    """Seconds as milliseconds, e.g. ``"123.4 ms"``."""
    return f"{seconds * 1e3:.1f} ms"


def fmt_mb(kib: float) -> str:
    """KiB as MiB, e.g. ``"12.3 MB"`` (MB meaning MiB, as ``free -m`` and ``/proc`` do)."""
    return f"{kib / 1024:.1f} MB"


def fmt_ratio(ratio: float | None) -> str:
    """A ratio as ``"0.93x"`` (``"n/a"`` for None)."""
    return "n/a" if ratio is None else f"{ratio:.2f}x"


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A padded Markdown table (readable as plain text too); the first column left-aligned."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        parts = [
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        return "| " + " | ".join(parts) + " |"

    rule = "|" + "|".join(
        ":" + "-" * (w + 1) if i == 0 else "-" * (w + 1) + ":" for i, w in enumerate(widths)
    )
    return "\n".join([line(cells[0]), rule + "|", *(line(row) for row in cells[1:])])


# -- reports ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """A target and whether this run met it (None: informational, no pass/fail)."""

    target: str
    measured: str
    ok: bool | None

    @property
    def status(self) -> str:
        """``PASS``, ``FAIL`` or ``info``."""
        return "info" if self.ok is None else ("PASS" if self.ok else "FAIL")


@dataclass
class Report:
    """What a workload hands back: tables to print, verdicts, and data for the JSON file."""

    name: str
    mode: str
    title: str
    notes: list[str] = field(default_factory=list)
    sections: list[tuple[str, str]] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def stem(self) -> str:
        """The results file name without extension, e.g. ``w1-quick``."""
        return f"{self.name}-{self.mode}"

    def body(self) -> str:
        """The notes, tables and verdicts as Markdown (also what is printed)."""
        parts = [f"## {self.title} ({self.mode})", ""]
        parts += [f"- {note}" for note in self.notes]
        for heading, text in self.sections:
            parts += ["", f"### {heading}", "", text]
        if self.verdicts:
            rows = [(v.target, v.measured, v.status) for v in self.verdicts]
            parts += ["", "### Targets", "", markdown_table(("target", "measured", ""), rows)]
        return "\n".join(parts) + "\n"


def _git_revision() -> dict[str, Any]:
    """The commit of the measured checkout, and whether ``src/`` had uncommitted changes."""

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", "-C", str(ROOT), *args],
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    status = git("status", "--porcelain", "--", "src")
    return {"commit": git("rev-parse", "--short", "HEAD"), "src_dirty": bool(status)}


def environment() -> dict[str, Any]:
    """Python, platform, CPUs, library versions and the hosepipe revision of this run."""
    versions: dict[str, str | None] = {}
    for dist in LIBRARIES:
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    usable: int | None
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        usable = os.cpu_count()
    return {
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": usable,
        "libraries": versions,
        "hosepipe_revision": _git_revision(),
    }


def _environment_md(env: dict[str, Any]) -> str:
    libs = ", ".join(f"{k} {v}" for k, v in env["libraries"].items() if v is not None)
    rev = env["hosepipe_revision"]
    dirty = " (src/ modified)" if rev["src_dirty"] else ""
    return (
        f"Run {env['timestamp']}: {env['implementation']} {env['python']} on "
        f"{env['platform']}, {env['cpu_count']} CPUs ({env['cpus_usable']} usable); "
        f"hosepipe at {rev['commit']}{dirty}.\n\nLibraries: {libs}.\n"
    )


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def publish(report: Report, env: dict[str, Any] | None = None) -> tuple[Path, Path]:
    """Print *report* and save it as ``results/<stem>.json`` and ``.md``; return both paths."""
    env = env or environment()
    body = report.body()
    print(body, flush=True)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    json_path = RESULTS_DIR / f"{report.stem}.json"
    md_path = RESULTS_DIR / f"{report.stem}.md"
    payload = {
        "benchmark": report.name,
        "mode": report.mode,
        "title": report.title,
        "environment": env,
        "notes": report.notes,
        "verdicts": [
            {"target": v.target, "measured": v.measured, "ok": v.ok} for v in report.verdicts
        ],
        **report.data,
    }
    _write_atomic(json_path, json.dumps(payload, indent=2, default=str) + "\n")
    md = body.replace(f"## {report.title}", f"# {report.title}", 1)
    _write_atomic(md_path, md + "\n" + _environment_md(env))
    return json_path, md_path


# -- how busy the machine was ------------------------------------------------------------------


@dataclass(frozen=True)
class CpuUse:
    """CPU time used during an interval, in CPUs on average (2.0: both cores all along).

    *machine* is every process's CPU time (``/proc/stat``), *own* this process's, its
    reaped children's (``getrusage``) and its live descendants' (a Dask cluster's
    processes, with psutil): the difference is what other tenants used. *steal* is time
    the hypervisor gave to other virtual machines.
    """

    machine: float
    own: float
    steal: float

    @property
    def others(self) -> float:
        """CPUs used by processes other than the benchmark's (at least 0)."""
        return max(0.0, self.machine - self.own)


def cpu_snapshot() -> tuple[float, float, float, float]:
    """(wall time, machine busy seconds, steal seconds, own CPU seconds) now."""
    busy = steal = 0.0
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
        tick = os.sysconf("SC_CLK_TCK")
        # user nice system idle iowait irq softirq steal ...
        busy = (fields[0] + fields[1] + fields[2] + fields[5] + fields[6]) / tick
        steal = fields[7] / tick if len(fields) > 7 else 0.0
    except (OSError, ValueError, IndexError):
        pass
    own = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        own += usage.ru_utime + usage.ru_stime
    try:
        import psutil
    except ImportError:
        return time.perf_counter(), busy, steal, own
    for child in psutil.Process().children(recursive=True):  # not reaped yet: still running
        try:
            times = child.cpu_times()
        except psutil.Error:  # gone meanwhile: counted by RUSAGE_CHILDREN once reaped
            continue
        own += times.user + times.system
    return time.perf_counter(), busy, steal, own


def cpu_use(before: tuple[float, float, float, float]) -> CpuUse:
    after = cpu_snapshot()
    wall, busy, steal, own = (a - b for a, b in zip(after, before, strict=True))
    return CpuUse(machine=busy / wall, own=own / wall, steal=steal / wall)
