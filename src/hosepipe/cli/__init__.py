"""The ``hosepipe`` command (also ``python -m hosepipe``).

Commands:

* ``hosepipe run FILE.py[:NAME]``: load a pipeline from a Python file and run it, with a
  progress bar and the per-stage statistics (``RunStats``) on standard error.
* ``hosepipe stats FILE.json``: show statistics saved by ``run --stats-file`` (or by
  ``json.dump(stats.to_dict(), f)``) as the same table.
* ``hosepipe demo``: generate a synthetic access log (cached) and run Beazley's pipeline over
  it, printing the results and the per-stage statistics.

``hosepipe run`` in short (``hosepipe run --help`` and ``hosepipe.cli._run`` say more):

* *FILE.py* is imported as a module named after the file (its ``if __name__ ==
  "__main__":`` block does not run), its folder first on ``sys.path``.
* *NAME* defaults to ``pipeline``, else ``main``, else the only ``Stream`` or ``Pipeline``
  in the file; several is a usage error that lists them.
* A ``Pipeline`` is fed the lines of the ``--input`` files in order (line endings removed),
  or of standard input without ``--input``. A ``Stream`` runs on its own source, so
  ``--input`` is refused. A factory (a function returning a Stream or a Pipeline) is called
  with the keyword arguments it accepts among ``inputs`` (the ``--input`` values, or
  ``["-"]``) and ``output`` (the ``--output`` path or ``None``).
* Every item that comes out is written as a line, ``str(item)``, to ``--output`` (atomically:
  the file is replaced only when the run succeeds) or to standard output; ``--discard``
  drops them. Progress, statistics and errors go to standard error.
* Statistics are printed however the run ends; after a failure or Ctrl-C they are the counts
  so far.

Exit status:

* 0: the run completed.
* 1: the pipeline raised an exception (or the file did while loading, or the factory): the
  command prints ``hosepipe: error: <type>: <message>`` and the exception's notes, which name
  the stage and the item index (``hosepipe: in stage 2 map(parse), item index 5``); the
  Python traceback only with ``--traceback``.
* 2: a usage error: bad options, a file that does not exist, a NAME the file lacks, an
  object that is not a Stream, a Pipeline or a factory, a stats file of the wrong shape.
* 130: interrupted (Ctrl-C): the run is closed (files closed, workers stopped, no
  ``--output`` file written) and the statistics so far are printed.
* 141: standard output was closed by its reader (``hosepipe run job.py | head``): the run
  is stopped and closed, as for Ctrl-C.

Importing this package is cheap: the commands import what they need when they run.
"""

from __future__ import annotations

import sys

from hosepipe._typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence

__all__ = ["main"]

_EXIT_CODES = """\
exit status:
  0    the run completed
  1    the pipeline raised an exception (or FILE.py did while loading): its type,
       message and notes (the stage and item index) are printed, the traceback only
       with --traceback
  2    usage error: bad options, a missing file, NAME not in FILE.py, an object that
       is not a Stream, a Pipeline or a function returning one
  130  interrupted (Ctrl-C): the run is closed, no --output file is written, and the
       statistics so far are printed
  141  standard output was closed by its reader (| head): the run is stopped
"""

_RUN_DESCRIPTION = """\
Load a pipeline from a Python file and run it: a progress bar and the per-stage
statistics go to standard error, the items to --output or standard output.

FILE.py is imported as a module named after the file (its `if __name__ ==
"__main__":` block does not run), with its folder first on sys.path. NAME is the
object to run; without it: `pipeline`, else `main`, else the only Stream or
Pipeline in the file. NAME may be:

  a Pipeline  fed the lines of the --input files, in order (line endings
              removed), or of standard input when there is no --input
  a Stream    run on its own source (--input is refused)
  a function  returning a Stream or a Pipeline: called with the keyword
              arguments it accepts among `inputs` (the --input values as a list,
              ["-"] when there are none) and `output` (the --output path or None)

Each item that comes out is written as one line, str(item).
"""

_STATS_DESCRIPTION = """\
Show a saved RunStats as the table `hosepipe run` prints: the file is JSON as written by
`hosepipe run --stats-file FILE.json` or by json.dump(stats.to_dict(), f).
A file that is not JSON, or not of that shape, is a usage error (exit status 2).
"""


def _megabytes(text: str) -> int:
    """The whole number of megabytes in a ``--size`` such as ``50MB``, ``1GB`` or ``50``.

    >>> _megabytes("1MB"), _megabytes("2gb"), _megabytes("50")
    (1, 2000, 50)
    """
    import argparse
    import re

    match = re.fullmatch(r"\s*(\d+)\s*(MB|GB)?\s*", text, flags=re.IGNORECASE)
    if match is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a size in whole megabytes or gigabytes, such as 50MB or 1GB"
        )
    number, unit = match.groups()
    return int(number) * (1000 if unit and unit.upper() == "GB" else 1)


def _parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    import argparse

    from hosepipe import __version__

    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="hosepipe",
        description="Lazy, typed, constant-memory streaming pipelines for Python.",
        epilog=_EXIT_CODES,
        formatter_class=raw,
    )
    parser.add_argument("--version", action="version", version=f"hosepipe {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = commands.add_parser(
        "run",
        help="run a Stream or Pipeline from a Python file, with progress and statistics",
        description=_RUN_DESCRIPTION,
        epilog=_EXIT_CODES,
        formatter_class=raw,
    )
    run.add_argument(
        "target",
        metavar="FILE.py[:NAME]",
        help="the Python file, and the name of the Stream, Pipeline or function in it",
    )
    run.add_argument(
        "-i",
        "--input",
        action="append",
        metavar="PATH",
        help=(
            "a file of lines to feed a Pipeline (repeat for several, read in order; also a "
            "folder, a glob, or - for standard input; compressed .gz/.bz2/.xz/.zst are "
            "decompressed). Default: standard input"
        ),
    )
    out = run.add_mutually_exclusive_group()
    out.add_argument(
        "-o",
        "--output",
        metavar="PATH",
        help=(
            "write the items, one line each, to PATH, atomically: it is replaced only when the "
            "run succeeds (.gz/.bz2/.xz/.zst compress). Default: standard output"
        ),
    )
    out.add_argument(
        "--discard",
        action="store_true",
        help="drop the items instead of writing them (for runs kept for their side effects)",
    )
    run.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help=(
            "show a progress bar on standard error (needs the extra hosepipe[progress]): bytes "
            "read of the --input files, or items; one more bar per observe() point. "
            "--no-progress shows none. Default: bars when standard error is a terminal. A "
            "stream with a progress() stage of its own keeps it and gets no other"
        ),
    )
    run.add_argument(
        "--checkpoint",
        metavar="PATH",
        help=(
            "make the run resumable: record its progress in PATH every --every items, with "
            "--output (or --discard); run the same command again to resume where it stopped"
        ),
    )
    run.add_argument(
        "--every",
        type=int,
        metavar="N",
        help="with --checkpoint: commit every N source items (default 10000)",
    )
    run.add_argument(
        "--restart",
        action="store_true",
        help="with --checkpoint: forget the checkpoint and start over",
    )
    run.add_argument(
        "--force",
        action="store_true",
        help="with --checkpoint: resume even though the pipeline changed since the checkpoint",
    )
    run.add_argument(
        "--stats",
        choices=("table", "json", "none"),
        default="table",
        help=(
            "how to print the statistics on standard error: a table (as str(RunStats)), JSON "
            "(as RunStats.to_dict()), or not at all. Default: table"
        ),
    )
    run.add_argument(
        "--stats-file",
        metavar="PATH",
        help="also save the statistics as JSON to PATH (show them with `hosepipe stats PATH`)",
    )
    run.add_argument(
        "--log-level",
        type=str.upper,
        choices=("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"),
        metavar="LEVEL",
        help=(
            "log to standard error at LEVEL: DEBUG, INFO (observe() throughput lines), "
            "WARNING, ERROR or CRITICAL. Default: logging is left as FILE.py sets it"
        ),
    )
    run.add_argument(
        "--engine",
        choices=("local", "dask"),
        default="local",
        help=(
            "where to run: here (local), or on Dask (needs hosepipe[dask]): the partitions of "
            "the stream's files on the --scheduler's workers, or on a LocalCluster of 2 "
            "worker processes; its statistics show each worker's share under each stage. "
            "Default: local"
        ),
    )
    run.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="with --engine dask: the Dask scheduler, such as tcp://10.0.0.5:8786",
    )
    run.add_argument(
        "--traceback",
        action="store_true",
        help="when the pipeline fails, print the full Python traceback",
    )

    stats = commands.add_parser(
        "stats",
        help="show statistics saved by `hosepipe run --stats-file` as a table",
        description=_STATS_DESCRIPTION,
        formatter_class=raw,
    )
    stats.add_argument(
        "file", metavar="FILE.json", help="the saved statistics (- for standard input)"
    )

    demo = commands.add_parser(
        "demo",
        help="run Beazley's access-log pipeline over a generated log",
        description=(
            "Generate a deterministic synthetic web-server access log (cached, reused on the "
            "next run), sum its bytes field skipping '-', count requests per status code, "
            "and print the results with the per-stage statistics and the wall time. A "
            "progress bar is shown on standard error when it is a terminal."
        ),
    )
    demo.add_argument(
        "--size",
        type=_megabytes,
        default=50,
        dest="size_mb",
        metavar="SIZE",
        help="size of the generated log: 50MB, 1GB, or a number of megabytes (default: 50MB)",
    )
    demo.add_argument(
        "--size-mb",
        type=int,
        dest="size_mb",
        metavar="MB",
        help="the same, in megabytes",
    )
    demo.add_argument(
        "--cache-dir",
        default=None,
        metavar="DIR",
        help="where to keep the generated log (default: $XDG_CACHE_HOME/hosepipe)",
    )
    demo.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="show a progress bar on standard error (default: when it is a terminal)",
    )
    return parser, {"run": run, "stats": stats, "demo": demo}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``hosepipe`` command line with *argv* (default: ``sys.argv[1:]``); return
    its exit status (see the module docstring).

    >>> import hosepipe as hp, json, os, tempfile
    >>> name = os.path.join(tempfile.mkdtemp(), "stats.json")
    >>> with open(name, "w") as f:
    ...     json.dump(hp.Stream(range(3)).map(str).run().to_dict(), f)
    >>> main(["stats", name])  # doctest: +ELLIPSIS
    stage ...
    0 source range(0, 3) ...
    1 map(str) ...
    total: 3 in, 3 out, 0 errors; wall time ... ms; time*: each stage's own time, ...
    0
    """
    parser, commands = _parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "run":
            from hosepipe.cli._run import UsageError, run_command

            try:
                return run_command(args)
            except UsageError as e:
                commands["run"].error(str(e))
        if args.command == "stats":
            from hosepipe.cli._stats import StatsFileError, load_run_stats

            try:
                print(load_run_stats(args.file))
            except StatsFileError as e:
                commands["stats"].error(str(e))
            return 0
        if args.command == "demo":
            if args.size_mb < 1:
                parser.error("demo: --size must be at least 1MB")
            from pathlib import Path

            from hosepipe._demo import run_demo

            cache = Path(args.cache_dir) if args.cache_dir is not None else None
            run_demo(args.size_mb, cache, progress=args.progress)
            return 0
    except KeyboardInterrupt:
        print("hosepipe: interrupted", file=sys.stderr)
        return 130
    parser.print_help(sys.stderr)
    return 2
