"""Deterministic benchmark inputs, generated on first use into ``benchmarks/data/``.

Every input is written by a seeded generator whose lines depend only on the seed and their
position, so the file is byte-identical on every machine and a small run of a generator is
a prefix of any larger one. ``_ensure`` holds the one copy of the write-then-rename and
reuse logic that every input goes through.
"""

from __future__ import annotations

import io
import os
import random
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TextIO

from hosepipe._demo import write_access_log

__all__ = ["DATA_DIR", "ORDER_STATUSES", "access_log", "orders_csv", "write_orders_csv"]

DATA_DIR = Path(__file__).resolve().parent / "data"

# How many characters of a generator's output a reused file must start with.
_CHECK_CHARS = 64_000

# A writer: (text file, about how many bytes) -> whatever; seeded already.
Writer = Callable[[TextIO, int], object]


def access_log(size_mb: int, *, seed: int = 0) -> Path:
    """The path of a *size_mb* MB synthetic access log, written only if it is missing.

    The file is built by ``hosepipe._demo.write_access_log`` (seeded, so byte-identical on
    every machine).
    """
    path = DATA_DIR / f"access-{size_mb}mb-seed{seed}.log"
    return _ensure(path, partial(write_access_log, seed=seed), size_mb)


def orders_csv(size_mb: int, *, seed: int = 0) -> Path:
    """The path of a *size_mb* MB CSV of orders (``write_orders_csv``), written if missing."""
    path = DATA_DIR / f"orders-{size_mb}mb-seed{seed}.csv"
    return _ensure(path, partial(write_orders_csv, seed=seed), size_mb)


def _ensure(path: Path, write: Writer, size_mb: int) -> Path:
    """*path*, first written by *write* (about *size_mb* MB) unless a current copy exists.

    The file is written to a temporary file that is renamed into place, so an interrupted
    run never leaves a truncated input behind to be reused. A file left by an earlier run
    is reused only if it starts with what the generator writes now, so a changed generator
    does not leave a stale input in use.
    """
    if path.exists() and _current(path, write):
        return path
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    print(f"generating {path.name} ...", file=sys.stderr, flush=True)
    started = time.perf_counter()
    tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "w", encoding="utf-8", newline="") as out:
            write(out, size_mb * 1_000_000)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    print(f"  done in {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
    return path


def _current(path: Path, write: Writer) -> bool:
    """Whether *path* begins with the generator's current output (its first ~64 kB)."""
    head = io.StringIO(newline="")
    write(head, _CHECK_CHARS)
    expected = head.getvalue()
    with open(path, encoding="utf-8", errors="replace", newline="") as f:
        return f.read(len(expected)) == expected


# -- W2's orders -----------------------------------------------------------------------------

# 12 of 20 are "active": about 60% of the rows pass W2's filter.
ORDER_STATUSES = ("active",) * 12 + ("inactive",) * 4 + ("pending",) * 2 + ("suspended", "closed")
_FIRST = (
    "Ada", "Alan", "Barbara", "Claude", "Dennis", "Edsger", "Frances", "Grace", "Guido",
    "Hedy", "Ken", "Linus", "Margaret", "Niklaus", "Radia", "Tim", "José", "Zoë", "Łukasz",
    "Søren",
)  # fmt: skip
_LAST = (
    "Lovelace", "Turing", "Liskov", "Shannon", "Ritchie", "Dijkstra", "Allen", "Hopper",
    "van Rossum", "Lamarr", "Thompson", "Torvalds", "Hamilton", "Wirth", "Perlman",
    "Berners-Lee", "García", "Müller", "Kowalski", "Kierkegaard",
)  # fmt: skip
_DOMAINS = ("example.com", "example.org", "mail.example.net", "corp.example")


def write_orders_csv(out: TextIO, size_bytes: int, *, seed: int = 0) -> int:
    """Write a header and about *size_bytes* characters of order rows; return the row count.

    Columns ``id,name,email,status,amount``: sequential ids, names (a few non-ASCII, about
    3% with a quoted ``", Jr."``), emails, a status from ``ORDER_STATUSES`` (about 60%
    ``active``) and an amount with two decimals.

    >>> buf = io.StringIO()
    >>> write_orders_csv(buf, 200)
    3
    >>> buf.getvalue().splitlines()[:2]  # doctest: +NORMALIZE_WHITESPACE
    ['id,name,email,status,amount',
     '1,Margaret Wirth,margaret.wirth1@corp.example,inactive,9629.38']
    """
    rnd = random.Random(seed)
    header = "id,name,email,status,amount\n"
    out.write(header)
    written, rows = len(header), 0
    chunk: list[str] = []
    while written < size_bytes:
        rows += 1
        first, last = rnd.choice(_FIRST), rnd.choice(_LAST)
        name = f"{first} {last}"
        if rnd.random() < 0.03:
            name = f'"{name}, Jr."'
        email = f"{first.lower()}.{last.lower().replace(' ', '')}{rows}@{rnd.choice(_DOMAINS)}"
        status = rnd.choice(ORDER_STATUSES)
        cents = rnd.randrange(100, 1_000_000)
        line = f"{rows},{name},{email},{status},{cents // 100}.{cents % 100:02d}\n"
        chunk.append(line)
        written += len(line)
        if len(chunk) >= 10_000:
            out.write("".join(chunk))
            chunk.clear()
    out.write("".join(chunk))
    return rows
