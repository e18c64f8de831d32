"""Deterministic benchmark inputs, generated on first use into ``benchmarks/data/``."""

from __future__ import annotations

import io
import os
import sys
import time
from pathlib import Path

from hosepipe._demo import write_access_log

__all__ = ["DATA_DIR", "access_log"]

DATA_DIR = Path(__file__).resolve().parent / "data"


def access_log(size_mb: int, *, seed: int = 0) -> Path:
    """The path of a *size_mb* MB synthetic access log, written only if it is missing.

    The file is built by ``hosepipe._demo.write_access_log`` (seeded, so byte-identical on
    every machine) into a temporary file that is renamed into place, so an interrupted run
    never leaves a truncated log behind to be reused. A file left by an earlier run is
    reused only if it starts with what the generator writes now, so a changed generator
    does not leave a stale log in use.
    """
    path = DATA_DIR / f"access-{size_mb}mb-seed{seed}.log"
    if path.exists() and _current(path, seed):
        return path
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    print(f"generating {path.name} ...", file=sys.stderr, flush=True)
    started = time.perf_counter()
    tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "w", encoding="ascii") as out:
            write_access_log(out, size_mb * 1_000_000, seed=seed)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    print(f"  done in {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
    return path


def _current(path: Path, seed: int) -> bool:
    """Whether *path* begins with the generator's current output (its first ~64 kB).

    The generator's lines depend only on the seed and their position, so a small run of it
    is a prefix of any larger one.
    """
    head = io.StringIO()
    write_access_log(head, 64_000, seed=seed)
    expected = head.getvalue()
    with open(path, encoding="ascii", errors="replace") as f:
        return f.read(len(expected)) == expected
