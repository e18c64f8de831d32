"""The demo's data and jobs: a synthetic web-server access log and Beazley's pipeline.

The log is deterministic (seeded), so the demo prints the same figures on every machine and
the benchmarks (``benchmarks/``) can build the same input at any size.
"""

from __future__ import annotations

import importlib.util
import os
import random
import sys
import time
from collections import Counter
from pathlib import Path

from hosepipe._typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import TextIO

__all__ = ["cache_dir", "ensure_access_log", "run_demo", "write_access_log"]

_STATUSES = (200,) * 85 + (304,) * 6 + (404,) * 5 + (301,) * 2 + (500,) + (503,)
_METHODS = ("GET",) * 9 + ("POST",)


def cache_dir() -> Path:
    """Where hosepipe keeps generated demo data: ``$XDG_CACHE_HOME/hosepipe`` or
    ``~/.cache/hosepipe``.

    >>> cache_dir().name
    'hosepipe'
    """
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "hosepipe"


def write_access_log(out: TextIO, size_bytes: int, *, seed: int = 0) -> int:
    """Write about *size_bytes* of access-log lines to *out*; return the number of lines.

    About 2% of byte fields are ``-``, as in Beazley's "Generator Tricks" logs.

    >>> import io
    >>> buf = io.StringIO()
    >>> write_access_log(buf, 300)
    4
    >>> buf.getvalue().splitlines()[0]
    '10.20.132.248 - - [21/Nov/2026:10:00:00 +0000] "GET /p/940.html HTTP/1.1" 200 55325'
    """
    rnd = random.Random(seed)
    written = lines = 0
    chunk: list[str] = []
    second = 0
    while written < size_bytes:
        second += rnd.random() < 0.3
        hh, rest = divmod(second, 3600)
        mm, ss = divmod(rest, 60)
        nbytes = "-" if rnd.random() < 0.02 else str(rnd.randrange(200, 100_000))
        line = (
            f"10.{rnd.randrange(256)}.{rnd.randrange(256)}.{rnd.randrange(256)} - - "
            f"[21/Nov/2026:{10 + hh % 14:02d}:{mm:02d}:{ss:02d} +0000] "
            f'"{rnd.choice(_METHODS)} /p/{rnd.randrange(1000)}.html HTTP/1.1" '
            f"{rnd.choice(_STATUSES)} {nbytes}\n"
        )
        chunk.append(line)
        written += len(line)
        lines += 1
        if len(chunk) >= 10_000:
            out.write("".join(chunk))
            chunk.clear()
    out.write("".join(chunk))
    return lines


def ensure_access_log(size_mb: int, directory: Path | None = None) -> tuple[Path, float | None]:
    """The path of a *size_mb* MB demo log, generated (atomically) only if missing.

    Returns the path and the seconds spent generating it (None when it was reused).

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> path, seconds = ensure_access_log(1, folder)
    >>> path.name, seconds is None, ensure_access_log(1, folder) == (path, None)
    ('access-1mb.log', False, True)
    """
    directory = directory or cache_dir()
    path = directory / f"access-{size_mb}mb.log"
    if path.exists():
        return path, None
    directory.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    try:
        with open(tmp, "w", encoding="ascii") as f:
            write_access_log(f, size_mb * 1_000_000)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path, time.perf_counter() - started


def run_demo(
    size_mb: int = 50,
    directory: Path | None = None,
    out: TextIO = sys.stdout,
    *,
    progress: bool | None = None,
) -> None:
    """Run the demo: Beazley's byte sum and a per-status summary over the demo log.

    Progress bars of the byte sum (bytes read of the log) and of the ``observe`` point go
    to standard error: when *progress* is None, if it is a terminal and tqdm (the extra
    ``progress``) is installed; always if True; never if False.

    >>> import io, tempfile
    >>> report = io.StringIO()
    >>> run_demo(1, Path(tempfile.mkdtemp()), report, progress=False)
    >>> print(report.getvalue())  # doctest: +ELLIPSIS
    hosepipe demo: 1 MB access log at .../access-1mb.log (generated in ... s)
    <BLANKLINE>
    Total bytes sent: 585,316,993
    <BLANKLINE>
    stage ...
    3 observe('byte counts') ...
    Requests by status code:
      200     10,236   85.5%
    ...
    wall time: ... s
    """
    import hosepipe as hp

    path, generated = ensure_access_log(size_mb, directory)
    how = f"generated in {generated:.1f} s" if generated is not None else "reused"
    print(f"hosepipe demo: {size_mb} MB access log at {path} ({how})\n", file=out)

    started = time.perf_counter()
    log = hp.read_lines(path, encoding="ascii")
    # Beazley, "Generator Tricks for Systems Programmers": sum the last field, skipping '-'.
    sent = (
        log.map(lambda line: line.rsplit(None, 1)[1])
        .filter(lambda field: field != "-")
        .observe("byte counts")
        .map(int)
    )
    if progress or (
        progress is None and sys.stderr.isatty() and importlib.util.find_spec("tqdm") is not None
    ):
        sent = sent.progress(desc="byte sum", force=progress)
    with sent.iterate() as it:
        total = sum(it)
    stats = it.stats()
    print(f"Total bytes sent: {total:,}\n", file=out)
    print(stats, end="\n\n", file=out)

    statuses = log.map(lambda line: line.rsplit(None, 2)[1]).to(Counter)
    requests = sum(statuses.values())
    print("Requests by status code:", file=out)
    for code, n in sorted(statuses.items()):
        print(f"  {code}  {n:>9,}  {n / requests:6.1%}", file=out)
    print(f"\nwall time: {time.perf_counter() - started:.2f} s", file=out)
