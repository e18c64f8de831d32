"""W8: the cost of checkpoints, on W2's ETL job (CSV to JSON Lines).

The same pipeline as W2's hosepipe variant (``read_csv`` -> ``filter`` -> ``map`` ->
``batch(500).flatten()`` -> ``write_jsonl``, on W2's generated CSV), run three ways: as it
is; with ``checkpoint=..., every=10_000`` (a commit every 10,000 source rows: the partial
output flushed and ``fsync``-ed, the checkpoint file written, ``fsync``-ed and renamed);
and with ``every_seconds=1``. Each call starts from no checkpoint and removes its output
and checkpoint afterwards (untimed); all three must write the same bytes.
"""

from __future__ import annotations

import hashlib
import os
from functools import partial
from pathlib import Path

import hosepipe as hp
from benchmarks._data import DATA_DIR, orders_csv
from benchmarks._harness import (
    Report,
    Timings,
    Variant,
    Verdict,
    fmt_ratio,
    markdown_table,
    measure,
    progress,
)
from benchmarks.w2_etl import ADD_CENTS, BATCH, IS_ACTIVE

__all__ = ["run", "variants"]

BASELINE = "plain"
TIME_TARGET = 1.05  # a checkpointed run <= 1.05x the same run without
CHECKPOINTS: dict[str, tuple[dict[str, int | float], str]] = {
    "every-10k": ({"every": 10_000}, "checkpoint, every=10_000"),
    "every-1s": ({"every_seconds": 1}, "checkpoint, every_seconds=1"),
}


def etl(path: str, out: str, **checkpoint: object) -> int:
    """W2's hosepipe pipeline, into *out*; with *checkpoint* keywords, checkpointed."""
    stream = hp.read_csv(path).filter(IS_ACTIVE).map(ADD_CENTS).batch(BATCH).flatten()
    return stream.to(hp.write_jsonl(out), **checkpoint)  # type: ignore[arg-type]


def _out(name: str) -> Path:
    return DATA_DIR / f"w8-out-{name}.jsonl"


def _ckpt(name: str) -> Path:
    return DATA_DIR / f"w8-{name}.ckpt"


def _remove(name: str) -> None:
    _out(name).unlink(missing_ok=True)
    _ckpt(name).unlink(missing_ok=True)


def variants(path: str) -> list[Variant]:
    """The run without checkpoints and the checkpointed ones, each with its cleanup."""
    out = [
        Variant(
            BASELINE,
            partial(etl, path, str(_out(BASELINE))),
            "no checkpoint",
            "baseline",
            cleanup=partial(_remove, BASELINE),
        )
    ]
    for name, (options, label) in CHECKPOINTS.items():
        fn = partial(etl, path, str(_out(name)), checkpoint=str(_ckpt(name)), **options)
        out.append(Variant(name, fn, label, "checkpoint", cleanup=partial(_remove, name)))
    return out


def _digest(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def check_outputs(path: str) -> tuple[int, str]:
    """Run every variant once; they must return the same count and write the same bytes."""
    seen = set()
    count = 0
    for v in variants(path):
        count = int(v.fn())  # type: ignore[call-overload]
        seen.add((count, _digest(_out(v.name))))
        assert v.cleanup is not None
        v.cleanup()
    if len(seen) != 1:
        raise AssertionError(f"W8 variants wrote different outputs: {seen}")
    return seen.pop()


def _time_table(t: Timings) -> str:
    rows = [t.time_cells(v.title, v.name, BASELINE) for v in t.variants]
    return markdown_table(("variant", "median", "min", "vs no checkpoint", "(range)"), rows)


def run(*, quick: bool, rounds: int | None = None, seed: int = 0) -> Report:
    """Run W8 (W2's 20 MB CSV quick, 100 MB full) and return its report."""
    size_mb = 20 if quick else 100
    rounds = rounds or (7 if quick else 5)
    path = str(orders_csv(size_mb))
    progress(f"W8: {size_mb} MB CSV; checking that every variant writes the same bytes")
    count, digest = check_outputs(path)
    progress(f"W8: {rounds} timed rounds")
    t = measure(variants(path), rounds=rounds, seed=seed, label="W8")
    report = Report("w8", "quick" if quick else "full", "W8: checkpoint overhead on W2")
    report.notes = [
        f"input: W2's {size_mb} MB CSV ({os.path.getsize(path):,} bytes, seed 0); pipeline: "
        f"read CSV -> keep active -> add amount_cents -> batch {BATCH} -> flatten -> "
        f"write_jsonl: {count:,} records (sha256 {digest[:16]}..., the same for every variant)",
        "checkpointed runs commit every 10,000 source rows or every second: flush and fsync "
        "the partial output, write the checkpoint (batch state included) to a temporary "
        "file, fsync, rename (the folder is fsynced at the first and the finished record "
        "only); each call starts without a checkpoint",
        f"{rounds} interleaved rounds (order shuffled per round, seed {seed}) after one "
        "warm-up call of each variant; GC paused during each call; `vs no checkpoint`: "
        "median of the per-round ratios",
    ]
    report.sections = [("Time", _time_table(t))]
    report.verdicts = [
        Verdict(
            f"{v.title} <= {TIME_TARGET:.2f}x no checkpoint",
            fmt_ratio(t.paired_median(v.name, BASELINE)),
            t.paired_median(v.name, BASELINE) <= TIME_TARGET,
        )
        for v in t.variants
        if v.name != BASELINE
    ]
    report.data = {
        "size_mb": size_mb,
        "records_written": count,
        "output_sha256": digest,
        "rounds": rounds,
        "seed": seed,
        "baseline": BASELINE,
        "variants": t.as_json(),
        "paired_median": {v.name: t.paired_median(v.name, BASELINE) for v in t.variants},
        "paired_ratios": {v.name: t.paired(v.name, BASELINE) for v in t.variants},
    }
    return report
