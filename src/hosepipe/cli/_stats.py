"""``hosepipe stats``: show a saved ``RunStats`` (JSON) as the table ``str(RunStats)`` gives.

The JSON is what ``hosepipe run --stats-file`` writes, and what
``json.dump(stats.to_dict(), f)`` writes from a program. The functions here rebuild the
records from it, checking every field: a file of another shape is reported with the path of
the first bad field (``stages[1].items_in``), never shown half-read.

The totals (``items_in``, ``items_out``, ``errors``) in the JSON are derived from the stages,
and the rates of each stage (``dropped``, ``drop_rate``, ``items_per_second``), are derived
from the counters, so they are recomputed rather than read.
"""

from __future__ import annotations

import sys

from hosepipe._typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from hosepipe._channel import ChannelStats
    from hosepipe.metrics import RunStats, StageStats

__all__ = [
    "StatsFileError",
    "channel_stats_from_dict",
    "load_run_stats",
    "run_stats_from_dict",
    "stage_stats_from_dict",
]


class StatsFileError(ValueError):
    """A stats file that cannot be read, or is not ``RunStats.to_dict()`` JSON.

    >>> raise StatsFileError("stats.json: not JSON")
    Traceback (most recent call last):
    ...
    hosepipe.cli._stats.StatsFileError: stats.json: not JSON
    """


def _mapping(d: object, where: str) -> Mapping[str, Any]:
    if not isinstance(d, dict):
        raise ValueError(f"{where} must be a JSON object, got {_kind(d)}")
    return d


def _count(d: Mapping[str, Any], key: str, where: str) -> int:
    if key not in d:
        raise ValueError(f"{where}.{key} is missing")
    v = d[key]
    if not isinstance(v, int) or isinstance(v, bool) or v < 0:
        raise ValueError(f"{where}.{key} must be an integer >= 0, got {v!r}")
    return v


def _seconds(d: Mapping[str, Any], key: str, where: str) -> float:
    if key not in d:
        raise ValueError(f"{where}.{key} is missing")
    v = d[key]
    if not isinstance(v, int | float) or isinstance(v, bool) or not v >= 0:
        raise ValueError(f"{where}.{key} must be a number of seconds >= 0, got {v!r}")
    return float(v)


def _kind(v: object) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    if v is None:
        return "null"
    return names.get(type(v), f"a number ({v!r})" if isinstance(v, int | float) else repr(v))


def channel_stats_from_dict(d: object, where: str = "queue") -> ChannelStats:
    """The ``ChannelStats`` whose ``to_dict()`` gave *d*; ``ValueError`` names a bad field.

    >>> channel_stats_from_dict({"capacity": 8, "depth": 0, "peak": 8, "sent": 100,
    ...                          "received": 100, "send_wait": 0.25})
    ChannelStats(depth=0/8, peak=8, sent=100, received=100, send_wait=0.250000)
    >>> channel_stats_from_dict({"capacity": 8})
    Traceback (most recent call last):
    ...
    ValueError: queue.depth is missing
    """
    from hosepipe._channel import ChannelStats

    d = _mapping(d, where)
    return ChannelStats(
        capacity=_count(d, "capacity", where),
        depth=_count(d, "depth", where),
        peak=_count(d, "peak", where),
        sent=_count(d, "sent", where),
        received=_count(d, "received", where),
        send_wait=_seconds(d, "send_wait", where),
    )


def stage_stats_from_dict(
    d: object, where: str = "stage", run_wall_time: float = 0.0
) -> StageStats:
    """The ``StageStats`` whose ``to_dict()`` gave *d*; ``ValueError`` names a bad field.

    The derived figures (``dropped``, ``drop_rate``, ``items_per_second``) are recomputed;
    a stage without ``wall_time`` (saved before it existed) gets *run_wall_time*.

    >>> import hosepipe as hp
    >>> s = hp.Stream(range(4)).map(str).run().stages[1]
    >>> stage_stats_from_dict(s.to_dict())  # doctest: +ELLIPSIS
    StageStats(1, 'map(str)', in=4, out=4, errors=0, time=...)
    >>> stage_stats_from_dict({**s.to_dict(), "label": 3})
    Traceback (most recent call last):
    ...
    ValueError: stage.label must be a string, got a number (3)
    """
    from hosepipe.metrics import StageStats

    d = _mapping(d, where)
    label = d.get("label")
    if not isinstance(label, str):
        raise ValueError(f"{where}.label must be a string, got {_kind(label)}")
    by_type = d.get("errors_by_type", {})
    if not isinstance(by_type, dict) or not all(
        isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in by_type.values()
    ):
        raise ValueError(
            f"{where}.errors_by_type must map exception names to counts, got {by_type!r}"
        )
    queue = d.get("queue")
    return StageStats(
        _count(d, "position", where),
        label,
        _count(d, "items_in", where),
        _count(d, "items_out", where),
        _count(d, "errors", where),
        _seconds(d, "time", where),
        dict(by_type),
        _count(d, "retries", where) if "retries" in d else 0,
        None if queue is None else channel_stats_from_dict(queue, f"{where}.queue"),
        wall_time=_seconds(d, "wall_time", where) if "wall_time" in d else run_wall_time,
    )


def run_stats_from_dict(d: object) -> RunStats:
    """The ``RunStats`` whose ``to_dict()`` gave *d* (read back from JSON, say).

    ``ValueError`` names the first bad field.

    >>> import hosepipe as hp, json
    >>> stats = hp.Stream(range(5)).filter(lambda x: x % 2).run()
    >>> again = run_stats_from_dict(json.loads(json.dumps(stats.to_dict())))
    >>> str(again) == str(stats)
    True
    >>> run_stats_from_dict({"stages": [], "wall_time": -1})
    Traceback (most recent call last):
    ...
    ValueError: stats.wall_time must be a number of seconds >= 0, got -1
    """
    from hosepipe.metrics import RunStats

    d = _mapping(d, "stats")
    stages = d.get("stages")
    if not isinstance(stages, list):
        raise ValueError(f"stats.stages must be an array of stages, got {_kind(stages)}")
    wall = _seconds(d, "wall_time", "stats")
    return RunStats(
        tuple(stage_stats_from_dict(s, f"stages[{i}]", wall) for i, s in enumerate(stages)),
        wall,
    )


def load_run_stats(path: str) -> RunStats:
    """Read a ``RunStats`` from the JSON file *path* (``-``: standard input).

    Raises ``StatsFileError`` saying what is wrong with the file.

    >>> import os, tempfile
    >>> name = os.path.join(tempfile.mkdtemp(), "stats.json")
    >>> with open(name, "w") as f:
    ...     _ = f.write('{"stages": [')
    >>> load_run_stats(name)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    hosepipe.cli._stats.StatsFileError: .../stats.json is not valid JSON: ...
    """
    import json

    try:
        if path == "-":
            data = json.load(sys.stdin)
        else:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
    except FileNotFoundError:
        raise StatsFileError(f"no such file: {path!r}") from None
    except IsADirectoryError:
        raise StatsFileError(f"{path} is a folder, not a stats file") from None
    except OSError as e:
        raise StatsFileError(f"cannot read {path}: {e.strerror or e}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise StatsFileError(f"{path} is not valid JSON: {e}") from None
    try:
        return run_stats_from_dict(data)
    except ValueError as e:
        raise StatsFileError(
            f"{path} does not hold RunStats JSON (as `hosepipe run --stats-file` writes): {e}"
        ) from None
