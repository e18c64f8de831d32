"""The ``hosepipe`` command.

Commands:

* ``hosepipe demo``: generate a synthetic access log (cached) and run Beazley's pipeline
  over it, printing the results and the per-stage statistics.

Exit codes: 0 success, 1 a pipeline error, 2 a usage error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    from hosepipe import __version__

    parser = argparse.ArgumentParser(
        prog="hosepipe",
        description="Lazy, typed, constant-memory streaming pipelines for Python.",
    )
    parser.add_argument("--version", action="version", version=f"hosepipe {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = commands.add_parser(
        "demo",
        help="run Beazley's access-log pipeline over a generated log",
        description=(
            "Generate a deterministic synthetic web-server access log (cached, reused on the "
            "next run), sum its bytes field skipping '-', count requests per status code, "
            "and print the results with the per-stage statistics and the wall time."
        ),
    )
    demo.add_argument(
        "--size-mb",
        type=int,
        default=50,
        metavar="MB",
        help="size of the generated log in megabytes (default: 50)",
    )
    demo.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="where to keep the generated log (default: $XDG_CACHE_HOME/hosepipe)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``hosepipe`` command line; return its exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "demo":
        if args.size_mb < 1:
            parser.error("demo: --size-mb must be >= 1")
        from hosepipe._demo import run_demo

        run_demo(args.size_mb, args.cache_dir)
        return 0
    parser.print_help(sys.stderr)
    return 2
