"""W6: memory stays flat: the peak RSS of W1's pipeline over a small and a 10x larger log.

Each variant runs once in a fresh interpreter, on the small log and on the large one, and
the child reports its own peak RSS (``VmHWM``, see ``_harness.run_python``). A streaming
pipeline holds one line (plus the reader's buffer) at a time, so its peak RSS must not grow
with the input: the target is a difference under 5 MB between the two sizes.

Every child imports this module (which imports W1's, and with it every library W1 uses),
so all children start from the same interpreter state; an "imports only" child gives that
floor. The variants:

* hosepipe over ``hp.read_lines(path)`` (the target): ``.map(FIELD).filter(NOT_DASH)
  .map(int).sum()`` with W1's lambdas (``read_lines`` strips the newline; the last field
  is the same);
* hosepipe over ``open(path)``: W1's ``hosepipe_sum``;
* plain Python over ``open(path)``: W1's chained generator functions, the baseline.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable

import hosepipe as hp
from benchmarks import w1_access_log as w1
from benchmarks._data import access_log
from benchmarks._harness import (
    ChildRun,
    Report,
    Verdict,
    fmt_mb,
    markdown_table,
    measure_peak_rss,
    progress,
)

__all__ = ["VARIANTS", "run", "run_variant"]

TARGET_MB = 5.0


def hosepipe_read_lines(path: str) -> int:
    """hosepipe reading the file itself: ``hp.read_lines(path)`` ... ``.sum()``."""
    return hp.read_lines(path).map(w1.FIELD).filter(w1.NOT_DASH).map(int).sum()


# name -> (function of the path, label); the first one is the target.
VARIANTS: dict[str, tuple[Callable[[str], int], str]] = {
    "hosepipe-read-lines": (hosepipe_read_lines, "hosepipe hp.read_lines(path) ... .sum()"),
    "hosepipe-open": (w1.hosepipe_sum, "hosepipe Stream(lambda: open(path)) ... .sum()"),
    "genfuncs-open": (w1.genfuncs, "open(path): chained generator functions"),
}
TARGET = "hosepipe-read-lines"
IMPORTS = "imports"


def run_variant(name: str, path: str) -> int:
    """Run one variant once (what a memory child does); return its total."""
    return VARIANTS[name][0](path)


def _children(sizes: tuple[int, int]) -> dict[str, str]:
    children = {IMPORTS: "import benchmarks.w6_memory"}
    for size_mb in sizes:
        path = str(access_log(size_mb))
        for name in VARIANTS:
            children[f"{name}@{size_mb}"] = (
                "from benchmarks.w6_memory import run_variant\n"
                f"print(run_variant({name!r}, {path!r}))"
            )
    return children


def _median_kib(runs: list[ChildRun]) -> float:
    return statistics.median(c.peak_rss_kib for c in runs)


def _span(runs: list[ChildRun]) -> str:
    kib = sorted(c.peak_rss_kib for c in runs)
    return f"{kib[0] / 1024:.1f}-{kib[-1] / 1024:.1f}"


def run(*, quick: bool, rounds: int | None = None, seed: int = 0) -> Report:
    """Run W6 (20 and 100 MB quick, 50 and 500 MB full) and return its report."""
    small, large = (20, 100) if quick else (50, 500)
    runs = rounds or 5
    children = _children((small, large))
    progress(f"W6: peak RSS at {small} and {large} MB, {runs} fresh interpreters each")
    rss = measure_peak_rss(children, runs=runs, seed=seed, label="W6")

    totals: dict[int, str] = {}
    for key, done in rss.items():
        if key == IMPORTS:
            continue
        size = int(key.rsplit("@", 1)[1])
        for child in done:
            if totals.setdefault(size, child.stdout) != child.stdout:
                raise AssertionError(
                    f"W6 {key} printed {child.stdout!r}, another variant {totals[size]!r}"
                )

    floor = _median_kib(rss[IMPORTS])
    rows = [("imports only (no pipeline)", fmt_mb(floor), _span(rss[IMPORTS]), "", "", "")]
    growth: dict[str, float] = {}
    for name, (_, label) in VARIANTS.items():
        at_small, at_large = rss[f"{name}@{small}"], rss[f"{name}@{large}"]
        diff = statistics.median(
            b.peak_rss_kib - a.peak_rss_kib for a, b in zip(at_small, at_large, strict=True)
        )
        growth[name] = diff / 1024
        rows.append(
            (
                label,
                fmt_mb(_median_kib(at_small)),
                _span(at_small),
                fmt_mb(_median_kib(at_large)),
                _span(at_large),
                f"{round(diff / 1024, 2) + 0.0:+.2f} MB",
            )
        )
    headers = (
        "variant",
        f"peak RSS {small} MB",
        "(range)",
        f"peak RSS {large} MB",
        "(range)",
        f"{large} MB - {small} MB",
    )

    report = Report("w6", "quick" if quick else "full", "W6: memory stays flat")
    report.notes = [
        f"inputs: the W1 synthetic access logs of {small} MB and {large} MB (seed 0); "
        + (
            "quick mode uses 20 and 100 MB (full: 50 and 500 MB, as BENCHMARKS.md asks)"
            if quick
            else "full mode uses 50 and 500 MB (quick: 20 and 100 MB)"
        ),
        f"pipeline: W1's sum of the last field, skipping `-`; every variant returned the "
        f"same totals ({', '.join(f'{s} MB: {int(v):,}' for s, v in sorted(totals.items()))})",
        f"peak RSS: VmHWM of a fresh interpreter that imports this module and runs the "
        f"variant once; median of {runs} runs, all children interleaved in a shuffled order "
        f"(seed {seed}) (MB = MiB)",
        f"`{large} MB - {small} MB`: median over runs of the per-run difference",
    ]
    report.sections = [("Peak RSS", markdown_table(headers, rows))]
    report.verdicts = [
        Verdict(
            f"hosepipe read_lines: peak RSS at {large} MB - at {small} MB < {TARGET_MB:.0f} MB",
            f"{round(growth[TARGET], 2) + 0.0:+.2f} MB",
            growth[TARGET] < TARGET_MB,
        ),
        Verdict(
            "hosepipe over open(path), same difference",
            f"{round(growth['hosepipe-open'], 2) + 0.0:+.2f} MB",
            None,
        ),
        Verdict(
            f"hosepipe read_lines peak RSS above plain Python over open(path), at {large} MB",
            fmt_mb(
                _median_kib(rss[f"{TARGET}@{large}"]) - _median_kib(rss[f"genfuncs-open@{large}"])
            ),
            None,
        ),
    ]
    report.data = {
        "sizes_mb": [small, large],
        "runs": runs,
        "seed": seed,
        "totals": totals,
        "peak_rss_kib": {key: [c.peak_rss_kib for c in done] for key, done in rss.items()},
        "child_wall_s": {key: [c.wall_s for c in done] for key, done in rss.items()},
        "growth_mb": growth,
    }
    return report
