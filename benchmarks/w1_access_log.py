"""W1: Beazley's access-log sum ("Generator Tricks for Systems Programmers").

Sum the last whitespace-separated field of every line of a synthetic web-server access log
as an int, skipping the ``-`` fields. Every variant opens the file itself with the same
``open(path)`` call (default text mode) and must return the same total as the loop.

The three stage functions are module-level objects, so the builtins ``map``/``filter``
variant and every library get the very same lambdas (hosepipe may inline them into its
fused loop: that is part of what is measured).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from functools import partial

import cytoolz
import cytoolz.curried
import pipe
import toolz
import toolz.curried
from functional import seq
from streamable import stream

import hosepipe as hp
from benchmarks._data import access_log
from benchmarks._harness import (
    Report,
    Timings,
    Variant,
    Verdict,
    fmt_ratio,
    instructions_per_call,
    markdown_table,
    measure,
    progress,
)

__all__ = ["FIELD", "NOT_DASH", "run", "variants"]

# The stages every function-taking variant gets: the same objects for all of them.
FIELD = lambda line: line.rsplit(None, 1)[1]  # noqa: E731 - a lambda is what users write
NOT_DASH = lambda field: field != "-"  # noqa: E731

BASELINE = "genfuncs"  # the paired ratios' main reference: chained generator functions
FLOOR = "builtins"  # builtins map/filter over the same lambdas
LIBRARIES = ("toolz", "cytoolz", "pipe", "pyfunctional", "streamable")
CHUNK = 1 << 20


# -- hand-written Python ---------------------------------------------------------------------


def loop(path: str) -> int:
    """An imperative loop inside a function (a module-level loop would pay for globals)."""
    total = 0
    with open(path) as f:
        for line in f:
            field = line.rsplit(None, 1)[1]
            if field != "-":
                total += int(field)
    return total


def genexp(path: str) -> int:
    """Beazley's generator expressions."""
    with open(path) as f:
        bytecolumn = (line.rsplit(None, 1)[1] for line in f)
        bytes_sent = (int(x) for x in bytecolumn if x != "-")
        return sum(bytes_sent)


def _fields(lines: Iterable[str]) -> Iterator[str]:
    for line in lines:
        yield line.rsplit(None, 1)[1]


def _not_dashes(fields: Iterable[str]) -> Iterator[str]:
    for field in fields:
        if field != "-":
            yield field


def _ints(fields: Iterable[str]) -> Iterator[int]:
    for field in fields:
        yield int(field)


def genfuncs(path: str) -> int:
    """Chained generator functions, one ``def`` per stage."""
    with open(path) as f:
        return sum(_ints(_not_dashes(_fields(f))))


def builtins_map_filter(path: str) -> int:
    """Builtin ``map``/``filter`` over the same lambdas the libraries get."""
    with open(path) as f:
        return sum(map(int, filter(NOT_DASH, map(FIELD, f))))


# -- libraries -------------------------------------------------------------------------------


def hosepipe_sum(path: str) -> int:
    """hosepipe with its ``sum()`` terminal (default: metrics on); the stream opens the file."""
    return hp.Stream(lambda: open(path)).map(FIELD).filter(NOT_DASH).map(int).sum()


def hosepipe_iter(path: str) -> int:
    """hosepipe iterated by the builtin ``sum``."""
    return sum(hp.Stream(lambda: open(path)).map(FIELD).filter(NOT_DASH).map(int))


def hosepipe_progress(path: str) -> int:
    """hosepipe ``.sum()`` with a progress bar drawn on stderr (forced, terminal or not)."""
    stream = hp.Stream(lambda: open(path)).map(FIELD).filter(NOT_DASH).map(int)  # noqa: SIM115
    return stream.progress(desc="W1", force=True).sum()


def hosepipe_observe(path: str) -> int:
    """hosepipe ``.sum()`` with ``observe(every=1.0 s)`` logging throughput once a second."""
    stream = hp.Stream(lambda: open(path)).map(FIELD).filter(NOT_DASH).map(int)  # noqa: SIM115
    return stream.observe("ints", every=1.0, log=_no_log).sum()


def _no_log(line: str) -> None:
    pass


def toolz_pipe(path: str) -> int:
    """``toolz.pipe`` with ``toolz.curried.map``/``filter``."""
    m, f_ = toolz.curried.map, toolz.curried.filter
    with open(path) as f:
        return toolz.pipe(f, m(FIELD), f_(NOT_DASH), m(int), sum)  # type: ignore[no-any-return]


def cytoolz_pipe(path: str) -> int:
    """``cytoolz.pipe`` with ``cytoolz.curried.map``/``filter``."""
    m, f_ = cytoolz.curried.map, cytoolz.curried.filter
    with open(path) as f:
        return cytoolz.pipe(f, m(FIELD), f_(NOT_DASH), m(int), sum)  # type: ignore[no-any-return]


def pipe_lib(path: str) -> int:
    """The ``pipe`` library: ``f | pipe.map(...) | pipe.filter(...)``, then ``sum``."""
    with open(path) as f:
        return sum(f | pipe.map(FIELD) | pipe.filter(NOT_DASH) | pipe.map(int))


def pyfunctional(path: str) -> int:
    """PyFunctional: ``seq(f).map(...).filter(...).map(int).sum()``."""
    with open(path) as f:
        return seq(f).map(FIELD).filter(NOT_DASH).map(int).sum()  # type: ignore[no-any-return]


def streamable_lib(path: str) -> int:
    """streamable 2.0: ``stream(f).map(...).filter(...).map(int)``, summed.

    In 2.0 a callable source is called once per *element*, so the open file itself is
    the source (an iterable: iterated once per run).
    """
    with open(path) as f:
        return sum(stream(f).map(FIELD).filter(NOT_DASH).map(int))


# -- reference limits ------------------------------------------------------------------------


def read_lines(path: str) -> int:
    """Limit: read every line and do nothing (returns the line count)."""
    n = 0
    with open(path) as f:
        for n, _ in enumerate(f, 1):  # noqa: B007 - the count is the point
            pass
    return n


def count_newlines(path: str) -> int:
    """Limit: count ``b"\\n"`` in 1 MB binary chunks (no decoding, no line objects)."""
    n = 0
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            n += chunk.count(b"\n")
    return n


def variants(path: str) -> list[Variant]:
    """Every W1 contender, bound to *path*."""
    spec = [
        ("loop", loop, "imperative loop (in a function)", "baseline"),
        ("genexp", genexp, "generator expressions (Beazley)", "baseline"),
        ("genfuncs", genfuncs, "chained generator functions", "baseline"),
        ("builtins", builtins_map_filter, "builtins map/filter, same lambdas", "baseline"),
        ("hosepipe", hosepipe_sum, "hosepipe .sum() (metrics on)", "hosepipe"),
        ("hosepipe-iter", hosepipe_iter, "hosepipe, builtin sum(stream)", "hosepipe"),
        ("hosepipe-progress", hosepipe_progress, "hosepipe .sum() + progress bar", "hosepipe"),
        ("hosepipe-observe", hosepipe_observe, "hosepipe .sum() + observe(every=1 s)", "hosepipe"),
        ("toolz", toolz_pipe, "toolz.pipe + curried map/filter", "library"),
        ("cytoolz", cytoolz_pipe, "cytoolz.pipe + curried map/filter", "library"),
        ("pipe", pipe_lib, "pipe library: pipe.map/filter, sum", "library"),
        ("pyfunctional", pyfunctional, "PyFunctional seq(...).sum()", "library"),
        ("streamable", streamable_lib, "streamable 2.0 stream(f), sum", "library"),
        ("read-lines", read_lines, "limit: for line in f: pass", "limit"),
        ("count-newlines", count_newlines, 'limit: count b"\\n", 1 MB chunks', "limit"),
    ]
    return [Variant(name, partial(fn, path), label, group) for name, fn, label, group in spec]


def _table(t: Timings) -> str:
    rows = []
    for v in t.variants:
        rows.append(
            (
                *t.time_cells(v.title, v.name, BASELINE),
                fmt_ratio(t.paired_median(v.name, FLOOR)),
                fmt_ratio(t.paired_median(v.name, "loop")),
            )
        )
    headers = (
        "variant",
        "median",
        "min",
        "vs gen fns",
        "(range)",
        "vs builtins",
        "vs loop",
    )
    return markdown_table(headers, rows)


def _verdicts(t: Timings) -> list[Verdict]:
    vs_gen = t.paired_median("hosepipe", BASELINE)
    vs_floor = t.paired_median("hosepipe", FLOOR)
    vs_libs = {lib: t.paired_median("hosepipe", lib) for lib in LIBRARIES}
    # hosepipe/library is largest for the fastest other library: the one to beat.
    rival = max(vs_libs, key=lambda lib: vs_libs[lib])
    return [
        Verdict("hosepipe <= 1.00x chained generator functions", fmt_ratio(vs_gen), vs_gen <= 1.0),
        Verdict("aim: hosepipe <= 0.88x chained generator functions", fmt_ratio(vs_gen), None),
        Verdict(
            "hosepipe fastest library",
            f"{fmt_ratio(vs_libs[rival])} the fastest other ({rival})",
            vs_libs[rival] < 1.0,
        ),
        Verdict("end goal: hosepipe <= 1.00x builtins map/filter", fmt_ratio(vs_floor), None),
        Verdict(
            "with a progress bar <= 1.05x without",
            fmt_ratio(with_bar := t.paired_median("hosepipe-progress", "hosepipe")),
            with_bar <= 1.05,
        ),
        Verdict(
            "with observe(every=1 s) <= 1.05x without",
            fmt_ratio(with_log := t.paired_median("hosepipe-observe", "hosepipe")),
            with_log <= 1.05,
        ),
        Verdict(
            "CPU time of this process (all its threads): hosepipe vs gen fns"
            " / with a progress bar vs without / with observe vs without",
            f"{fmt_ratio(t.cpu_paired_median('hosepipe', BASELINE))} / "
            f"{fmt_ratio(t.cpu_paired_median('hosepipe-progress', 'hosepipe'))} / "
            f"{fmt_ratio(t.cpu_paired_median('hosepipe-observe', 'hosepipe'))}",
            None,
        ),
    ]


# Counted with callgrind (full runs only: about a minute), on a 10 MB log.
COUNTED = (
    "loop",
    "genfuncs",
    "builtins",
    "hosepipe",
    "hosepipe-iter",
    "hosepipe-progress",
    "hosepipe-observe",
    *LIBRARIES,
)
COUNTED_MB = 10


def count_instructions() -> dict[str, int] | None:
    """Instructions per call of the COUNTED variants on a COUNTED_MB log (None: no valgrind).

    Counts are deterministic: they show the per-item cost (and a watcher's) to a per cent,
    which wall times on a shared two-core machine cannot. They do not weigh instructions
    (a cache miss costs more than an add), so the timed table stays the verdict's basis.
    """
    path = str(access_log(COUNTED_MB))
    fns = {v.name: v.fn for v in variants(path)}
    calls = []
    for name in COUNTED:
        fn = fns[name]
        assert isinstance(fn, partial)
        calls.append(f"w.{fn.func.__name__}(path)")
    progress(f"  W1: counting instructions with callgrind ({', '.join(COUNTED)})")
    got = instructions_per_call(
        f"from benchmarks import w1_access_log as w\npath = {path!r}", calls
    )
    return None if got is None else dict(zip(COUNTED, got, strict=True))


def _counted_table(counts: dict[str, int], lines: int) -> str:
    rows = [
        (
            name,
            f"{counts[name] / 1e6:,.1f} M",
            f"{counts[name] / lines:,.0f}",
            fmt_ratio(counts[name] / counts[BASELINE]),
            fmt_ratio(counts[name] / counts["hosepipe"]),
        )
        for name in COUNTED
    ]
    return markdown_table(
        ("variant", "instructions a call", "a line", "vs gen fns", "vs hosepipe"), rows
    )


def run(*, quick: bool, rounds: int | None = None, seed: int = 0) -> Report:
    """Run W1 (50 MB quick, 500 MB full) and return its report."""
    size_mb = 50 if quick else 500
    rounds = rounds or (7 if quick else 5)
    path = str(access_log(size_mb))
    progress(f"W1: {size_mb} MB access log, {rounds} rounds")
    t = measure(variants(path), rounds=rounds, seed=seed, label="W1")

    expected = t.results["loop"]
    lines = t.results["count-newlines"]
    for v in t.variants:
        if v.group != "limit" and t.results[v.name] != expected:
            raise AssertionError(f"W1 {v.name} summed {t.results[v.name]!r}, not {expected!r}")
    if t.results["read-lines"] != lines:
        raise AssertionError("W1: read-lines and count-newlines disagree on the line count")

    report = Report("w1", "quick" if quick else "full", "W1: Beazley's access-log sum")
    report.notes = [
        f"input: {size_mb} MB synthetic access log ({lines:,} lines, seed 0), total {expected:,}",
        f"{rounds} interleaved rounds (order shuffled per round, seed {seed}) after one "
        "warm-up call of each variant; GC paused during each call",
        "median/min: wall time of one call; `vs ...`: median over rounds of the per-round "
        "ratio to that variant (paired), `(range)`: lowest-highest per-round ratio to the "
        "generator functions",
    ]
    report.sections = [("Results", _table(t))]
    report.verdicts = _verdicts(t)
    counts = None if quick else count_instructions()
    if counts is not None:
        with open(access_log(COUNTED_MB), "rb") as counted:
            counted_lines = sum(1 for _ in counted)
        report.sections.append(
            (
                f"Instructions (callgrind, {COUNTED_MB} MB log, {counted_lines:,} lines; "
                "one call each, after an uncounted first call)",
                _counted_table(counts, counted_lines),
            )
        )
        for name, ref, what in (
            ("hosepipe", BASELINE, "hosepipe <= 1.00x chained generator functions"),
            ("hosepipe", "builtins", "hosepipe <= 1.00x builtins map/filter"),
            ("hosepipe-progress", "hosepipe", "with a progress bar <= 1.05x without"),
            ("hosepipe-observe", "hosepipe", "with observe(every=1 s) <= 1.05x without"),
        ):
            ratio = counts[name] / counts[ref]
            report.verdicts.append(Verdict(f"instructions: {what}", fmt_ratio(ratio), None))
        fewest = min(LIBRARIES, key=counts.__getitem__)
        report.verdicts.append(
            Verdict(
                "instructions: hosepipe fewer than every other library",
                f"{fmt_ratio(counts['hosepipe'] / counts[fewest])} the fewest other ({fewest})",
                None,
            )
        )
    report.data = {
        "instructions": counts,
        "size_mb": size_mb,
        "lines": lines,
        "total": expected,
        "rounds": rounds,
        "seed": seed,
        "baseline": BASELINE,
        "variants": t.as_json(),
        "paired_ratios": {
            ref: {v.name: t.paired(v.name, ref) for v in t.variants}
            for ref in (BASELINE, FLOOR, "loop")
        },
        "paired_median": {
            ref: {v.name: t.paired_median(v.name, ref) for v in t.variants}
            for ref in (BASELINE, FLOOR, "loop")
        },
    }
    return report
