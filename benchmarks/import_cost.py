"""Import cost: what ``import hosepipe`` adds to a fresh interpreter, in time and memory.

Three kinds of fresh subprocess run interleaved, *runs* times each:

* ``python -c pass`` and ``python -c "import hosepipe"``: wall time (spawn to exit) and peak
  RSS; the extra cost of the import is the median of the per-run differences. The peak RSS
  is the child's own ``VmHWM``, printed by the child as it ends (the same epilogue in both;
  see ``_harness.run_python``).
* ``python -X importtime -c "import hosepipe"``: the cumulative time CPython reports for the
  ``hosepipe`` import itself (importtime adds its own overhead, so this reads high), and
  which modules it pulls in that a bare interpreter does not load.

The children run in a scratch directory so nothing from the working tree shadows an import.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

from benchmarks._harness import Report, Verdict, markdown_table, progress, run_python

__all__ = ["run"]

WALL_TARGET_MS = 30.0
RSS_TARGET_MB = 3.0
IMPORT = "import hosepipe"


def _importtime(code: str, cwd: str) -> dict[str, tuple[int, int]]:
    """``-X importtime`` for *code*: module -> (self us, cumulative us)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    modules: dict[str, tuple[int, int]] = {}
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "[us]" in line:
            continue
        self_us, cumulative_us, name = line[len("import time:") :].split("|", 2)
        modules[name.strip()] = (int(self_us), int(cumulative_us))
    return modules


def run(*, quick: bool, rounds: int | None = None, seed: int = 0) -> Report:
    """Measure the import's wall time and extra RSS over fresh interpreters."""
    del seed  # the order within a run is fixed: pass, import, importtime
    runs = rounds or (10 if quick else 20)
    progress(f"import: {runs} runs of each subprocess")
    wall: dict[str, list[float]] = {"pass": [], "import": []}
    rss: dict[str, list[int]] = {"pass": [], "import": []}
    cumulative: list[int] = []
    extra_self: dict[str, list[int]] = defaultdict(list)
    with tempfile.TemporaryDirectory() as cwd:
        # Byte-compile the package first: with PYTHONDONTWRITEBYTECODE set (as in some shells
        # and CI images) no import writes .pyc files, and every child would compile the
        # sources, which is not what an installed package costs.
        import compileall

        import hosepipe

        compileall.compile_dir(Path(hosepipe.__file__).parent, quiet=1)
        run_python(IMPORT, cwd=cwd)  # warm the OS caches
        bare = set(_importtime("pass", cwd))
        for _ in range(runs):
            for key, code in (("pass", "pass"), ("import", IMPORT)):
                child = run_python(code, cwd=cwd)
                wall[key].append(child.wall_s)
                rss[key].append(child.peak_rss_kib)
            modules = _importtime(IMPORT, cwd)
            cumulative.append(modules["hosepipe"][1])
            for name, (self_us, _) in modules.items():
                if name not in bare:
                    extra_self[name].append(self_us)

    wall_ms = statistics.median(a - b for a, b in zip(wall["import"], wall["pass"])) * 1e3
    rss_mb = statistics.median(a - b for a, b in zip(rss["import"], rss["pass"])) / 1024
    importtime_ms = statistics.median(cumulative) / 1e3
    top = sorted(
        ((statistics.median(v) / 1e3, name) for name, v in extra_self.items()), reverse=True
    )[:10]

    summary = markdown_table(
        ("measure", "python -c pass", "python -c 'import hosepipe'", "import adds"),
        [
            (
                "wall time, median",
                f"{statistics.median(wall['pass']) * 1e3:.1f} ms",
                f"{statistics.median(wall['import']) * 1e3:.1f} ms",
                f"{wall_ms:.1f} ms",
            ),
            (
                "peak RSS, median",
                f"{statistics.median(rss['pass']) / 1024:.1f} MB",
                f"{statistics.median(rss['import']) / 1024:.1f} MB",
                f"{rss_mb:.2f} MB",
            ),
            ("-X importtime cumulative 'hosepipe'", "", "", f"{importtime_ms:.1f} ms"),
        ],
    )
    modules_table = markdown_table(
        ("module (not loaded by a bare interpreter)", "self time, median"),
        [(name, f"{ms:.2f} ms") for ms, name in top],
    )
    report = Report("import", "quick" if quick else "full", "Import cost")
    report.notes = [
        f"{runs} interleaved runs of each fresh subprocess ({sys.executable})",
        "`import adds`: median of per-run differences (import - pass); peak RSS is the "
        "child's own VmHWM (/proc/self/status, printed by the child as it exits)",
        f"{len(extra_self)} modules are loaded by `import hosepipe` beyond a bare interpreter",
    ]
    report.sections = [
        ("Summary", summary),
        ("Slowest modules the import loads (-X importtime self time)", modules_table),
    ]
    report.verdicts = [
        Verdict(
            f"import wall time < {WALL_TARGET_MS:.0f} ms",
            f"{wall_ms:.1f} ms",
            wall_ms < WALL_TARGET_MS,
        ),
        Verdict(
            f"import extra RSS < {RSS_TARGET_MB:.0f} MB", f"{rss_mb:.2f} MB", rss_mb < RSS_TARGET_MB
        ),
    ]
    data: dict[str, Any] = {
        "runs": runs,
        "wall_s": wall,
        "maxrss_kib": rss,
        "importtime_cumulative_us": cumulative,
        "import_wall_ms": wall_ms,
        "import_rss_mb": rss_mb,
        "importtime_ms": importtime_ms,
        "extra_modules_self_ms": {name: ms for ms, name in top},
        "extra_modules_count": len(extra_self),
    }
    report.data = data
    return report
