"""Command line: ``python -m benchmarks [--quick] [--only NAME] [--rounds N]``.

NAME is one of W1, W2, W3, W4, W5, W6, W7, W8, W9, ops, import; repeat ``--only`` for several.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence

from benchmarks import (
    import_cost,
    operators,
    w1_access_log,
    w2_etl,
    w3_threads,
    w4_processes,
    w5_async,
    w6_memory,
    w7_dask,
    w8_checkpoint,
    w9_brokers,
)
from benchmarks._harness import Report, environment, progress, publish

# Workloads in the order they run; each module's run(quick=, rounds=) returns a Report.
WORKLOADS: dict[str, Callable[..., Report]] = {
    "W1": w1_access_log.run,
    "W2": w2_etl.run,
    "W3": w3_threads.run,
    "W4": w4_processes.run,
    "W5": w5_async.run,
    "W6": w6_memory.run,
    "W7": w7_dask.run,
    "W8": w8_checkpoint.run,
    "W9": w9_brokers.run,
    "ops": operators.run,
    "import": import_cost.run,
}


def _workload(text: str) -> str:
    for name in WORKLOADS:
        if text.lower() == name.lower():
            return name
    raise argparse.ArgumentTypeError(f"unknown workload {text!r}; choose from {list(WORKLOADS)}")


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the arguments, run the chosen workloads, print and save their reports."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="hosepipe benchmarks: medians and paired ratios against hand-written "
        "Python and peer libraries; results saved to benchmarks/results/.",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="small inputs (W1 50 MB, W2 20 MB, W4 100 x 5 ms and 5,000 x 0.1 ms, "
        "W6 20 and 100 MB, W7 8 x 5 MB, ops 2*10**5 items; W3 keeps its 2,000 items, fewer rounds)",
    )
    parser.add_argument(
        "--only",
        action="append",
        type=_workload,
        metavar="{" + ",".join(WORKLOADS) + "}",
        help="run only this workload (repeat for several; default: all)",
    )
    parser.add_argument(
        "--rounds",
        type=_positive,
        help="timed rounds (fresh-interpreter runs, for import and W6) instead of the default",
    )
    args = parser.parse_args(argv)
    chosen = [name for name in WORKLOADS if name in (args.only or WORKLOADS)]
    env = environment()
    started = time.perf_counter()
    for name in chosen:
        report = WORKLOADS[name](quick=args.quick, rounds=args.rounds)
        json_path, md_path = publish(report, env)
        progress(f"saved {json_path.name} and {md_path.name}\n")
    progress(f"benchmarks done in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
