"""Per-operator overhead: nanoseconds per item that one stage adds, hosepipe vs builtins.

For every operator, a stream ``Stream(range(n)).<op>`` is drained and compared with the
closest builtin/``itertools`` pipeline over ``range(n)`` drained by
``collections.deque(..., maxlen=0)``. A stage's overhead is the time of *source + stage*
minus the time of the *bare source* consumed the same way, per input item:

* hosepipe ``run()``:  ``Stream(range(n)).<op>.run()``  minus ``Stream(range(n)).run()``
* hosepipe ``iter``:   ``deque(iter(stream), maxlen=0)`` minus the same for the bare stream
* reference:           ``deque(<ref>(range(n)), maxlen=0)`` minus ``deque(range(n), maxlen=0)``

Differences are taken per round (paired) and their median reported. Functions handed to
the operators are C callables (``abs``, ``bool``, bound ``int`` methods, ``partial``) so
that the table shows the machinery, not the user's function; the two ``[lambda]`` rows use
a Python lambda instead, which hosepipe inlines into its fused loop and builtins must call.
"""

from __future__ import annotations

import operator
import statistics
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from itertools import (
    accumulate,
    chain,
    dropwhile,
    groupby,
    islice,
    repeat,
    takewhile,
)
from typing import Any

from more_itertools import sliding_window

import hosepipe as hp
from benchmarks._harness import (
    Report,
    Timings,
    Variant,
    Verdict,
    instructions_per_call,
    markdown_table,
    measure,
    progress,
)

__all__ = ["CASES", "OpCase", "run"]

INC = lambda x: x + 1  # noqa: E731 - a lambda hosepipe can inline
NONNEG = lambda x: x >= 0  # noqa: E731
TWICE = partial(repeat, times=2)  # x -> (x, x), in C
TENS = (10).__rfloordiv__  # x -> x // 10, in C
BATCH = 100
WINDOW = 3


def batched(iterable: Iterable[Any], n: int) -> Iterator[list[Any]]:
    """Lists of *n* items (the ``itertools`` recipe; ``itertools.batched`` is 3.12+)."""
    it = iter(iterable)
    while batch := list(islice(it, n)):
        yield batch


def unique(iterable: Iterable[Any]) -> Iterator[Any]:
    """Items not seen before: the seen-set generator."""
    seen: set[Any] = set()
    add = seen.add
    for x in iterable:
        if x not in seen:
            add(x)
            yield x


def group_lists(iterable: Iterable[Any], key: Callable[[Any], Any]) -> Iterator[Any]:
    """``itertools.groupby`` with each group materialised, as hosepipe's group_by yields."""
    return ((k, list(g)) for k, g in groupby(iterable, key))


@dataclass(frozen=True)
class OpCase:
    """One operator: how to build the hosepipe stream and the reference iterator for *n*."""

    name: str
    ref_label: str
    stream: Callable[[int], hp.Stream[Any]]
    ref: Callable[[int], Iterable[Any]]


def _src(n: int) -> hp.Stream[int]:
    return hp.Stream(range(n))


CASES: tuple[OpCase, ...] = (
    OpCase("map(abs)", "map(abs, it)", lambda n: _src(n).map(abs), lambda n: map(abs, range(n))),
    OpCase(
        "map[lambda]",
        "map(lambda, it)",
        lambda n: _src(n).map(INC),
        lambda n: map(INC, range(n)),
    ),
    OpCase(
        "filter(bool)",
        "filter(bool, it)",
        lambda n: _src(n).filter(bool),
        lambda n: filter(bool, range(n)),
    ),
    OpCase(
        "filter[lambda]",
        "filter(lambda, it)",
        lambda n: _src(n).filter(NONNEG),
        lambda n: filter(NONNEG, range(n)),
    ),
    OpCase("take(n)", "islice(it, n)", lambda n: _src(n).take(n), lambda n: islice(range(n), n)),
    OpCase(
        "skip(n/2)",
        "islice(it, n/2, None)",
        lambda n: _src(n).skip(n // 2),
        lambda n: islice(range(n), n // 2, None),
    ),
    OpCase(
        "take_while",
        "takewhile",
        lambda n: _src(n).take_while(n.__gt__),
        lambda n: takewhile(n.__gt__, range(n)),
    ),
    OpCase(
        "drop_while",
        "dropwhile",
        lambda n: _src(n).drop_while((n // 2).__gt__),
        lambda n: dropwhile((n // 2).__gt__, range(n)),
    ),
    OpCase(
        f"batch({BATCH})",
        "batched-style loop",
        lambda n: _src(n).batch(BATCH),
        lambda n: batched(range(n), BATCH),
    ),
    OpCase(
        f"window({WINDOW})",
        "more_itertools.sliding_window",
        lambda n: _src(n).window(WINDOW),
        lambda n: sliding_window(range(n), WINDOW),
    ),
    OpCase(
        "enumerate",
        "enumerate",
        lambda n: _src(n).enumerate(),
        lambda n: enumerate(range(n)),
    ),
    OpCase(
        "scan(add, 0)",
        "accumulate(it, add)",
        lambda n: _src(n).scan(operator.add, 0),
        lambda n: accumulate(range(n), operator.add),
    ),
    OpCase(
        "flat_map (2 out)",
        "chain.from_iterable(map)",
        lambda n: _src(n).flat_map(TWICE),
        lambda n: chain.from_iterable(map(TWICE, range(n))),
    ),
    OpCase(
        "distinct", "seen-set generator", lambda n: _src(n).distinct(), lambda n: unique(range(n))
    ),
    OpCase(
        "group_by (10s)",
        "groupby + list(g)",
        lambda n: _src(n).group_by(TENS),
        lambda n: group_lists(range(n), TENS),
    ),
    OpCase("tap(abs)", "map(abs, it)", lambda n: _src(n).tap(abs), lambda n: map(abs, range(n))),
    OpCase(
        "chain (n/2 + n/2)",
        "itertools.chain",
        lambda n: hp.Stream(range(n // 2)).chain(range(n - n // 2)),
        lambda n: chain(range(n // 2), range(n - n // 2)),
    ),
    OpCase(
        "zip(range(n))",
        "zip",
        lambda n: _src(n).zip(range(n)),
        lambda n: zip(range(n), range(n)),
    ),
)


def plain_generator(n: int) -> Iterator[int]:
    """The least a Python generator can do per item: the floor of any iteration that
    passes items through Python code (``iter(stream)`` among them)."""
    for x in range(n):  # noqa: UP028 - the loop is the point: Python code per item
        yield x


def _drain_run(build: Callable[[int], hp.Stream[Any]], n: int) -> None:
    build(n).run()


def _drain_iter(build: Callable[[int], hp.Stream[Any]], n: int) -> None:
    deque(iter(build(n)), maxlen=0)


def _drain_ref(build: Callable[[int], Iterable[Any]], n: int) -> None:
    deque(build(n), maxlen=0)


# hosepipe's two ways of consuming a stream, and the reference: variant name prefixes.
MODES = ("hp-run", "hp-iter", "ref")


def _variants(n: int) -> list[Variant]:
    out = [
        Variant("base:hp-run", partial(_drain_run, _src, n)),
        Variant("base:hp-iter", partial(_drain_iter, _src, n)),
        Variant("base:ref", partial(_drain_ref, range, n)),
    ]
    for case in CASES:
        out += [
            Variant(f"hp-run:{case.name}", partial(_drain_run, case.stream, n)),
            Variant(f"hp-iter:{case.name}", partial(_drain_iter, case.stream, n)),
            Variant(f"ref:{case.name}", partial(_drain_ref, case.ref, n)),
        ]
    return out


def _check(n: int) -> None:
    """Every hosepipe stream must yield what its reference yields (checked once, untimed)."""
    for case in CASES:
        got, want = list(case.stream(n)), list(case.ref(n))
        if got != want:
            raise AssertionError(f"ops: {case.name} differs from {case.ref_label}")


def _ns(t: Timings, prefix: str, case: str, n: int) -> float:
    """Median per-round overhead of *case* over the bare source, in ns per input item."""
    return statistics.median(t.paired_diff(f"{prefix}:{case}", f"base:{prefix}")) / n * 1e9


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.1f}x" if b > 0.5 else "n/a"  # under 0.5 ns the reference is noise


COUNTED_N = 10**5  # items of each call counted with callgrind (full runs)
_DRAIN = {"hp-run": "_drain_run", "hp-iter": "_drain_iter", "ref": "_drain_ref"}


def count_instructions(n: int = COUNTED_N) -> dict[str, dict[str, float]] | None:
    """Instructions per input item each stage adds over the bare source, for every mode
    (None where valgrind is missing): one callgrind run of every drain, each call counted
    alone. Unlike the timed table, the same on every run of the same code."""
    calls = ["o._drain_run(o._src, n)", "o._drain_iter(o._src, n)", "o._drain_ref(range, n)"]
    calls.append("o._drain_ref(o.plain_generator, n)")
    for i in range(len(CASES)):
        calls += [
            f"o.{_DRAIN[p]}(o.CASES[{i}].{'ref' if p == 'ref' else 'stream'}, n)" for p in MODES
        ]
    progress(f"  ops: counting instructions with callgrind ({len(calls)} calls)")
    got = instructions_per_call(f"from benchmarks import operators as o\nn = {n}", calls)
    if got is None:
        return None
    base = dict(zip(MODES, got[:3], strict=True))
    out = {"(bare source)": {p: base[p] / n for p in MODES}}
    out["(a plain generator)"] = {"hp-run": 0.0, "hp-iter": 0.0, "ref": got[3] / n}
    for i, case in enumerate(CASES):
        counts = got[4 + 3 * i : 7 + 3 * i]
        out[case.name] = {p: (c - base[p]) / n for p, c in zip(MODES, counts, strict=True)}
    return out


def _instr_ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b >= 2 else "n/a"  # under 2 instructions the reference is ~free


def _instructions_table(counts: dict[str, dict[str, float]]) -> str:
    rows = []
    for name, c in counts.items():
        if name == "(a plain generator)":  # a reference only: the floor of iteration
            rows.append((name + ", absolute", "-", "-", f"{c['ref']:.1f}", "-", "-"))
            continue
        rows.append(
            (
                name,
                f"{c['hp-run']:.1f}",
                f"{c['hp-iter']:.1f}",
                f"{c['ref']:.1f}",
                _instr_ratio(c["hp-run"], c["ref"]),
                _instr_ratio(c["hp-iter"], c["ref"]),
            )
        )
    return markdown_table(
        ("operator", "hp run() instr/item", "hp iter", "ref", "run()/ref", "iter/ref"), rows
    )


def run(*, quick: bool, rounds: int | None = None, seed: int = 0) -> Report:
    """Measure every operator's per-item overhead and return the report."""
    n = 2 * 10**5 if quick else 10**6
    rounds = rounds or (7 if quick else 5)
    progress(f"ops: {len(CASES)} operators over range({n:,}), {rounds} rounds")
    _check(n)
    t = measure(_variants(n), rounds=rounds, seed=seed, label="ops")

    rows: list[tuple[str, ...]] = []
    data: dict[str, dict[str, Any]] = {}
    base = {p: t.median(f"base:{p}") / n * 1e9 for p in MODES}
    rows.append(
        (
            "(bare source, absolute)",
            "deque(range(n))",
            f"{base['hp-run']:.1f}",
            f"{base['hp-iter']:.1f}",
            f"{base['ref']:.1f}",
            _ratio(base["hp-run"], base["ref"]),
            _ratio(base["hp-iter"], base["ref"]),
        )
    )
    data["(bare source)"] = {"ns_per_item_absolute": base}
    for case in CASES:
        ns = {p: _ns(t, p, case.name, n) for p in MODES}
        rows.append(
            (
                case.name,
                case.ref_label,
                f"{ns['hp-run']:.1f}",
                f"{ns['hp-iter']:.1f}",
                f"{ns['ref']:.1f}",
                _ratio(ns["hp-run"], ns["ref"]),
                _ratio(ns["hp-iter"], ns["ref"]),
            )
        )
        data[case.name] = {"reference": case.ref_label, "ns_per_item": ns}
    headers = (
        "operator",
        "reference",
        "hp run() ns/item",
        "hp iter ns/item",
        "ref ns/item",
        "run()/ref",
        "iter/ref",
    )
    report = Report("ops", "quick" if quick else "full", "Per-operator overhead")
    report.notes = [
        f"source range({n:,}); ns per *input* item that the stage adds over the bare source, "
        "median of per-round differences",
        "hosepipe consumed two ways: `stream.run()` (the drain is compiled into the last "
        "loop) and `deque(iter(stream), maxlen=0)`; references with `deque(..., maxlen=0)`",
        "ratios are hosepipe/reference overheads ('n/a' when the reference adds < 0.5 ns); "
        "the first row is the absolute cost of draining the bare source",
        f"{rounds} interleaved rounds (seed {seed}) after one warm-up; GC paused during calls",
    ]
    report.sections = [("Overhead per item per stage", markdown_table(headers, rows))]
    counts = None if quick else count_instructions()
    if counts is not None:
        report.sections.append(
            (
                f"Instructions per item per stage (callgrind, range({COUNTED_N:,}); the first "
                "two rows absolute: the bare source, and a plain `for x in range(n): yield x` "
                "generator drained by a deque, the floor of any iteration through Python "
                "code; the others over the bare source)",
                _instructions_table(counts),
            )
        )
        over = [
            f"{name} {c['hp-run'] / c['ref']:.2f}x"
            for name, c in counts.items()
            if not name.startswith("(") and c["ref"] >= 2 and c["hp-run"] > 1.5 * c["ref"]
        ]
        bare = counts["(bare source)"]
        report.verdicts = [
            Verdict(
                "instructions: every operator <= 1.5x its reference under run()",
                ", ".join(over) or "all",
                None,
            ),
            Verdict(
                "instructions: the bare source <= 1.5x deque(range(n)) under run()",
                f"{bare['hp-run'] / bare['ref']:.2f}x",
                None,
            ),
        ]
    report.data = {
        "instructions_per_item": counts,
        "n": n,
        "rounds": rounds,
        "seed": seed,
        "operators": data,
        "variants": t.as_json(),
    }
    return report
