"""What a worker runs: one partition through the local sync driver, and the combine step.

These functions are what the engine submits; they import no engine library, so any worker
with hosepipe installed can run them. Every result is materialised (a list, a number,
``RunStats``) inside the task: a generator returned as a task result would never finish.
The job and the partition arrive as bytes pickled by the client (cloudpickle), so user
functions defined in a script or a notebook travel by value.
"""

from __future__ import annotations

import operator
import pickle
import sys

from hosepipe._typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

    from hosepipe.metrics._stats import RunStats

    Done = tuple[Any, list[tuple[str, RunStats]]]  # a value; (worker, stats) per partition

__all__ = ["EMPTY", "combine", "run_partition"]


class _Empty:
    """The partial result of a partition with no items (``reduce`` and ``sum``)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "EMPTY"

    def __reduce__(self) -> str:
        return "EMPTY"  # unpickles as this module's EMPTY: one object everywhere


EMPTY: Any = _Empty()


def worker_address() -> str:
    """The address of the Dask worker running this task (``"?"`` outside a worker)."""
    distributed = sys.modules.get("distributed")  # imported by the worker: not by hosepipe
    try:
        return str(distributed.get_worker().address)  # type: ignore[union-attr]
    except (AttributeError, ValueError):
        return "?"


def run_partition(job: bytes, part: bytes) -> Done:
    """Run one partition: ``hp.Stream(source)`` with the job's stages, into its terminal.

    *job* pickles ``(stages, terminal, fn)``; *part* pickles ``(source, sink)``. Terminals:
    ``list``, ``count``, ``drain`` (value ``EMPTY``), ``reduce1`` (fold with *fn*; ``EMPTY``
    if no item), ``sink`` (``stream.to(sink)``, the partition's own file). Returns the value and the
    partition's ``RunStats`` with the worker that ran it (in a list, so that ``combine``
    can concatenate them).
    """
    from hosepipe._drive._sync import END
    from hosepipe._source import Source
    from hosepipe._stream import Stream

    stages, terminal, fn = pickle.loads(job)
    source, sink = pickle.loads(part)
    stream: Stream[Any] = Stream._make(Source(source), stages)
    value: Any = None
    if terminal == "list":
        value = stream.to_list()
    elif terminal == "count":
        value = stream.count()
    elif terminal == "drain":
        stream.run()
        value = EMPTY
    elif terminal == "reduce1":
        value = stream._run().execute("reduce1", fn, END)
        if value is END:
            value = EMPTY
    elif terminal == "sink":
        value = stream.to(sink)
    else:  # pragma: no cover - the engine sends only the terminals above
        raise ValueError(f"unknown terminal {terminal!r}")
    return value, [(worker_address(), stream.stats())]


def combine(fn: bytes | None, left: Done, right: Done) -> Done:
    """Two adjacent partial results as one: ``fn(left, right)`` (``+`` when *fn* is None),
    ``EMPTY`` being the identity; their stats, in order."""
    add = operator.add if fn is None else pickle.loads(fn)
    a, b = left[0], right[0]
    value = b if a is EMPTY else a if b is EMPTY else add(a, b)
    return value, left[1] + right[1]
