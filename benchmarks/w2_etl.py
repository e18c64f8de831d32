"""W2: ETL, CSV to JSON Lines (seed 001's ``run_etl``).

Read a CSV of orders as dicts, keep the rows whose ``status`` is ``active``, add a field
(``amount_cents``), batch 500, write JSON Lines. Every writing variant reads the same file,
writes its own output file in ``benchmarks/data/`` (removed after every call, untimed) and
must write the same bytes as the hand-written chain: one JSON object per line, in the
input's order, encoded by ``orjson.dumps`` with its default options (what
``hp.write_jsonl`` uses when orjson is installed), then a newline.

The batch step is present in every variant. A JSON Lines sink takes records, not lists, so
hosepipe runs ``.batch(500).flatten()`` before ``hp.write_jsonl``; the hand-written chain
and the libraries collect 500 records and then write them: the main hand-written chain
(and PyFunctional and streamable) with one ``write(b"".join(...))`` per batch, a second
hand-written chain with one ``write`` per record of the batch.

The filter and the new field are module-level lambdas that every function-taking variant
gets (hosepipe may inline them into its fused loop: that is part of what is measured); the
hand-written chain spells the same expressions out in its generator functions.

Peak RSS is measured per variant in fresh interpreters (``_harness.measure_peak_rss``): each
child imports this module (so all children load the same libraries), runs one variant once,
and reports its own ``VmHWM``.
"""

from __future__ import annotations

import csv
import hashlib
import os
import statistics
import tempfile
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import orjson
from functional import seq
from streamable import stream

import hosepipe as hp
from benchmarks._data import DATA_DIR, orders_csv
from benchmarks._harness import (
    ChildRun,
    Report,
    Timings,
    Variant,
    Verdict,
    fmt_mb,
    fmt_ms,
    fmt_ratio,
    markdown_table,
    measure,
    measure_peak_rss,
    progress,
)

__all__ = ["ADD_CENTS", "BATCH", "IS_ACTIVE", "WRITERS", "run", "run_variant", "variants"]

Record = dict[str, Any]

# The stages every function-taking variant gets: the same objects for all of them.
IS_ACTIVE = lambda rec: rec["status"] == "active"  # noqa: E731 - a lambda is what users write
ADD_CENTS = lambda rec: {**rec, "amount_cents": round(float(rec["amount"]) * 100)}  # noqa: E731

BATCH = 500
BASELINE = "hand"  # the paired ratios' main reference: the hand-written generator chain
PER_RECORD = "hand-per-record"  # the same chain writing each batch record by record
ATOMIC = "hand-atomic"  # the chain with hosepipe's guarantee: temp file, fsync, rename
LIBRARIES = ("pyfunctional", "streamable")
TIME_TARGET = 1.05  # hosepipe <= 1.05x hand-written
RSS_TARGET_MB = 5.0  # "RSS flat": hosepipe's peak RSS at most this much above hand-written's

_dumps = orjson.dumps
_NEWLINE = orjson.OPT_APPEND_NEWLINE


def write_batch(write: Callable[[bytes], object], batch: list[Record]) -> int:
    """Write *batch* as JSON Lines with one ``write`` call; return its length."""
    write(b"".join([_dumps(rec, option=_NEWLINE) for rec in batch]))
    return len(batch)


def write_records(write: Callable[[bytes], object], batch: list[Record]) -> int:
    """Write *batch* as JSON Lines with one ``write`` call per record; return its length."""
    for rec in batch:
        write(_dumps(rec, option=_NEWLINE))
    return len(batch)


def _open_csv(path: str) -> Any:
    """The CSV file opened as the ``csv`` module asks: UTF-8, ``newline=""``."""
    return open(path, encoding="utf-8", newline="")


# -- hand-written Python ---------------------------------------------------------------------


def _active(records: Iterable[Record]) -> Iterator[Record]:
    for rec in records:
        if rec["status"] == "active":
            yield rec


def _with_cents(records: Iterable[Record]) -> Iterator[Record]:
    for rec in records:
        yield {**rec, "amount_cents": round(float(rec["amount"]) * 100)}


def _batches(records: Iterable[Record], size: int) -> Iterator[list[Record]]:
    batch: list[Record] = []
    for rec in records:
        batch.append(rec)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _hand(
    path: str, out: str, write: Callable[[Callable[[bytes], object], list[Record]], int]
) -> int:
    n = 0
    with _open_csv(path) as f, open(out, "wb") as sink:
        for batch in _batches(_with_cents(_active(csv.DictReader(f))), BATCH):
            n += write(sink.write, batch)
    return n


def hand(path: str, out: str) -> int:
    """Chained generator functions over ``csv.DictReader``, one ``write`` per batch."""
    return _hand(path, out, write_batch)


def hand_per_record(path: str, out: str) -> int:
    """The same chain, writing each batch record by record (through the file's buffer)."""
    return _hand(path, out, write_records)


def hand_atomic(path: str, out: str) -> int:
    """The same chain with the guarantee hosepipe's file sinks give: write a temporary file
    in the target's folder, fsync it, rename it over the target (a failed run leaves no
    partial file)."""
    folder = os.path.dirname(os.path.abspath(out))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".w2.", suffix=".tmp")
    try:
        n = 0
        with _open_csv(path) as f, os.fdopen(fd, "wb") as sink:
            for batch in _batches(_with_cents(_active(csv.DictReader(f))), BATCH):
                n += write_batch(sink.write, batch)
            sink.flush()
            os.fsync(sink.fileno())
        os.replace(tmp, out)
        return n
    except BaseException:
        os.unlink(tmp)
        raise


# -- libraries -------------------------------------------------------------------------------


def hosepipe_etl(path: str, out: str) -> int:
    """hosepipe: ``read_csv`` ... ``batch(500).flatten()`` into ``write_jsonl`` (atomic)."""
    return (
        hp.read_csv(path)
        .filter(IS_ACTIVE)
        .map(ADD_CENTS)
        .batch(BATCH)
        .flatten()
        .to(hp.write_jsonl(out))
    )


def pyfunctional(path: str, out: str) -> int:
    """PyFunctional over a lazy ``csv.DictReader``, ``grouped(500)``, a write per batch."""
    with _open_csv(path) as f, open(out, "wb") as sink:
        return (  # type: ignore[no-any-return]
            seq(csv.DictReader(f))
            .filter(IS_ACTIVE)
            .map(ADD_CENTS)
            .grouped(BATCH)
            .map(partial(write_batch, sink.write))
            .sum()
        )


def pyfunctional_reader(path: str, out: str) -> int:
    """PyFunctional's own ``seq.csv_dict_reader``, which caches every row before the filter."""
    with _open_csv(path) as f, open(out, "wb") as sink:
        return (  # type: ignore[no-any-return]
            seq.csv_dict_reader(f)
            .filter(IS_ACTIVE)
            .map(ADD_CENTS)
            .grouped(BATCH)
            .map(partial(write_batch, sink.write))
            .sum()
        )


def streamable_etl(path: str, out: str) -> int:
    """streamable 2.0: ``stream(DictReader)``, ``group(500)``, a write per batch, summed."""
    with _open_csv(path) as f, open(out, "wb") as sink:
        return sum(
            stream(csv.DictReader(f))
            .filter(IS_ACTIVE)
            .map(ADD_CENTS)
            .group(BATCH)
            .map(partial(write_batch, sink.write))
        )


# -- stages, for reference (no output) --------------------------------------------------------


def read_dictreader(path: str) -> int:
    """Reading alone: drain ``csv.DictReader`` (returns the row count)."""
    with _open_csv(path) as f:
        return sum(1 for _ in csv.DictReader(f))


def read_hosepipe(path: str) -> int:
    """Reading alone: ``hp.read_csv(path).count()``."""
    return hp.read_csv(path).count()


# name -> (function, label, group); the writing variants take (path, out).
WRITERS: dict[str, tuple[Callable[[str, str], int], str, str]] = {
    "hand": (hand, "hand-written gen fns, a write per batch", "baseline"),
    "hand-per-record": (hand_per_record, "hand-written gen fns, a write per record", "baseline"),
    "hand-atomic": (
        hand_atomic,
        "hand-written, atomic like hosepipe (tmp+fsync+rename)",
        "baseline",
    ),
    "hosepipe": (hosepipe_etl, "hosepipe read_csv ... write_jsonl", "hosepipe"),
    "pyfunctional": (pyfunctional, "PyFunctional seq(DictReader)", "library"),
    "pyfunctional-reader": (
        pyfunctional_reader,
        "PyFunctional seq.csv_dict_reader (caches)",
        "library",
    ),
    "streamable": (streamable_etl, "streamable 2.0 stream(DictReader)", "library"),
}
READERS: dict[str, tuple[Callable[[str], int], str]] = {
    "read-dictreader": (read_dictreader, "stage: read only, csv.DictReader"),
    "read-hosepipe": (read_hosepipe, "stage: read only, hp.read_csv().count()"),
}


def output_path(name: str) -> Path:
    """Where the variant *name* writes its JSON Lines."""
    return DATA_DIR / f"w2-out-{name}.jsonl"


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)


def variants(path: str) -> list[Variant]:
    """Every W2 contender bound to *path*: the writers (with their cleanup), then the stages."""
    out = [
        Variant(
            name,
            partial(fn, path, str(output_path(name))),
            label,
            group,
            cleanup=partial(_remove, output_path(name)),
        )
        for name, (fn, label, group) in WRITERS.items()
    ]
    out += [
        Variant(name, partial(fn, path), label, "stage") for name, (fn, label) in READERS.items()
    ]
    return out


def run_variant(name: str, path: str) -> int:
    """Run one writing variant once and remove its output (what a memory child does)."""
    fn = WRITERS[name][0]
    target = output_path(name)
    try:
        return fn(path, str(target))
    finally:
        _remove(target)


def _sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def check_outputs(path: str) -> tuple[int, str, int]:
    """Run every writer once; each must write the hand-written chain's bytes.

    Returns the record count, the output's SHA-256 and its size in bytes.
    """
    expected: tuple[int, str, int] | None = None
    for name, (fn, _, _) in WRITERS.items():
        target = output_path(name)
        try:
            count = fn(path, str(target))
            got = (count, _sha256(target), target.stat().st_size)
        finally:
            _remove(target)
        if expected is None:
            expected = got
        elif got != expected:
            raise AssertionError(
                f"W2 {name} wrote {got[0]} records, sha256 {got[1]}, {got[2]} bytes; "
                f"the hand-written chain {expected[0]}, {expected[1]}, {expected[2]} bytes"
            )
    assert expected is not None
    return expected


# -- report ----------------------------------------------------------------------------------


def _time_table(t: Timings) -> str:
    rows = []
    for v in t.variants:
        rows.append(
            (
                *t.time_cells(v.title, v.name, BASELINE),
                fmt_ratio(t.paired_median(v.name, PER_RECORD)),
                fmt_ratio(t.paired_median(v.name, ATOMIC)),
                f"{statistics.median(t.faults[v.name]):,.0f}",
            )
        )
    headers = (
        "variant",
        "median",
        "min",
        "vs hand-written",
        "(range)",
        "vs hand per-record",
        "vs hand atomic",
        "page faults",
    )
    return markdown_table(headers, rows)


def _rss_table(rss: dict[str, list[ChildRun]]) -> str:
    base = statistics.median(c.peak_rss_kib for c in rss["imports"])
    rows = []
    for name, runs in rss.items():
        kib = sorted(c.peak_rss_kib for c in runs)
        peak = statistics.median(kib)
        label = "imports only (no pipeline)" if name == "imports" else WRITERS[name][1]
        rows.append(
            (
                label,
                fmt_mb(peak),
                f"{kib[0] / 1024:.1f}-{kib[-1] / 1024:.1f}",
                fmt_mb(peak - base),
                fmt_ms(statistics.median(c.wall_s for c in runs)),
            )
        )
    headers = ("variant", "peak RSS", "(range)", "above imports only", "child wall")
    return markdown_table(headers, rows)


def _peak_mb(rss: dict[str, list[ChildRun]], name: str) -> float:
    return statistics.median(c.peak_rss_kib for c in rss[name]) / 1024


def _verdicts(t: Timings, rss: dict[str, list[ChildRun]]) -> list[Verdict]:
    vs_hand = t.paired_median("hosepipe", BASELINE)
    vs_faster = t.paired_median("hosepipe", PER_RECORD)
    vs_atomic = t.paired_median("hosepipe", ATOMIC)
    extra_mb = _peak_mb(rss, "hosepipe") - _peak_mb(rss, BASELINE)
    verdicts = [
        Verdict(
            f"hosepipe <= {TIME_TARGET:.2f}x hand-written (a write per batch)",
            fmt_ratio(vs_hand),
            vs_hand <= TIME_TARGET,
        ),
        Verdict(
            f"hosepipe <= {TIME_TARGET:.2f}x hand-written (a write per record)",
            fmt_ratio(vs_faster),
            vs_faster <= TIME_TARGET,
        ),
        Verdict(
            f"hosepipe <= {TIME_TARGET:.2f}x hand-written with the same guarantee (atomic)",
            fmt_ratio(vs_atomic),
            vs_atomic <= TIME_TARGET,
        ),
        Verdict(
            f"RSS flat: hosepipe peak <= hand-written peak + {RSS_TARGET_MB:.0f} MB",
            f"{extra_mb:+.1f} MB",
            extra_mb <= RSS_TARGET_MB,
        ),
    ]
    for lib in LIBRARIES:
        verdicts.append(
            Verdict(f"hosepipe vs {lib}", fmt_ratio(t.paired_median("hosepipe", lib)), None)
        )
    return verdicts


def run(*, quick: bool, rounds: int | None = None, seed: int = 0) -> Report:
    """Run W2 (20 MB quick, 100 MB full) and return its report."""
    size_mb = 20 if quick else 100
    rounds = rounds or (7 if quick else 5)
    rss_runs = 3
    path = str(orders_csv(size_mb))
    progress(f"W2: {size_mb} MB CSV; checking that every variant writes the same bytes")
    count, digest, out_bytes = check_outputs(path)

    progress(f"W2: {rounds} timed rounds")
    t = measure(variants(path), rounds=rounds, seed=seed, label="W2")
    rows = t.results["read-dictreader"]
    for v in t.variants:
        want = rows if v.group == "stage" else count
        if t.results[v.name] != want:
            raise AssertionError(f"W2 {v.name} returned {t.results[v.name]!r}, not {want!r}")

    progress(f"W2: peak RSS, {rss_runs} fresh interpreters per variant")
    children = {"imports": "import benchmarks.w2_etl"}
    for name in WRITERS:
        children[name] = (
            f"from benchmarks.w2_etl import run_variant\nprint(run_variant({name!r}, {path!r}))"
        )
    rss = measure_peak_rss(children, runs=rss_runs, seed=seed, label="W2")
    for name, runs in rss.items():
        if name != "imports" and any(c.stdout != str(count) for c in runs):
            raise AssertionError(f"W2 memory child {name} printed {runs[0].stdout!r}")

    report = Report("w2", "quick" if quick else "full", "W2: ETL, CSV to JSON Lines")
    report.notes = [
        f"input: {size_mb} MB CSV `id,name,email,status,amount` ({rows:,} rows, "
        f"{os.path.getsize(path):,} bytes, seed 0); quick mode uses 20 MB, full 100 MB",
        f"pipeline: read CSV as dicts -> keep status == active -> add `amount_cents` -> batch "
        f"{BATCH} -> write JSON Lines: {count:,} records, {out_bytes:,} bytes",
        f"batching: hosepipe `.batch({BATCH}).flatten()` into `hp.write_jsonl` (a JSONL sink "
        "takes records; it writes to a temporary file, fsyncs and renames it); the others "
        f"collect {BATCH} records and write them, with one `write(b''.join(...))` per batch, or "
        "(hand-written, per record) one `write` per record",
        f"every writer's output is byte-identical to the hand-written one's (sha256 "
        f"{digest[:16]}...: orjson.dumps, default options, one object per line); outputs "
        "are written to benchmarks/data/ and removed after every call (untimed)",
        f"{rounds} interleaved rounds (order shuffled per round, seed {seed}) after one "
        "warm-up call of each variant; GC paused during each call",
        "`vs ...`: median over rounds of the per-round ratio to that variant (paired); "
        "`(range)`: lowest-highest per-round ratio to the hand-written chain; `page faults`: "
        "median minor page faults of a call (glibc can return the heap freed after each "
        "batch to the OS and fault it in again for the next: when that happens, a write per "
        "batch pays about 1.6 us per record in system time)",
        f"peak RSS: VmHWM of a fresh interpreter that imports this module and runs the "
        f"variant once; median of {rss_runs} interleaved runs (MB = MiB)",
    ]
    report.sections = [("Time", _time_table(t)), ("Peak RSS", _rss_table(rss))]
    report.verdicts = _verdicts(t, rss)
    report.data = {
        "size_mb": size_mb,
        "input_bytes": os.path.getsize(path),
        "rows": rows,
        "records_written": count,
        "output_bytes": out_bytes,
        "output_sha256": digest,
        "batch": BATCH,
        "rounds": rounds,
        "seed": seed,
        "baseline": BASELINE,
        "variants": t.as_json(),
        "paired_ratios": {
            ref: {v.name: t.paired(v.name, ref) for v in t.variants}
            for ref in (BASELINE, PER_RECORD, ATOMIC)
        },
        "paired_median": {
            ref: {v.name: t.paired_median(v.name, ref) for v in t.variants}
            for ref in (BASELINE, PER_RECORD, ATOMIC)
        },
        "peak_rss_kib": {name: [c.peak_rss_kib for c in runs] for name, runs in rss.items()},
        "peak_rss_child_wall_s": {name: [c.wall_s for c in runs] for name, runs in rss.items()},
    }
    return report
