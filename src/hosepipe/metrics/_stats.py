"""Per-stage counters kept by every run, and the ``RunStats`` record ``run()`` returns."""

from __future__ import annotations

from hosepipe._typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from typing import Any

__all__ = ["ChannelStats", "RunStats", "StageCounter", "StageStats"]


class ChannelStats:
    """A snapshot of a channel: *depth* now, *peak* depth so far, *capacity*, items *sent*
    and *received*, and *send_wait* (seconds producers spent waiting on a full channel)."""

    __slots__ = ("capacity", "depth", "peak", "received", "send_wait", "sent")

    def __init__(
        self, capacity: int, depth: int, peak: int, sent: int, received: int, send_wait: float
    ) -> None:
        self.capacity = capacity
        self.depth = depth
        self.peak = peak
        self.sent = sent
        self.received = received
        self.send_wait = send_wait

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the snapshot."""
        return {
            "capacity": self.capacity,
            "depth": self.depth,
            "peak": self.peak,
            "sent": self.sent,
            "received": self.received,
            "send_wait": self.send_wait,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, where: str = "queue") -> ChannelStats:
        """The snapshot whose ``to_dict()`` gave *d*; ``ValueError`` names a bad field.

        >>> ChannelStats.from_dict({"capacity": 8})
        Traceback (most recent call last):
        ...
        ValueError: queue.depth is missing
        """
        d = _mapping(d, where)
        return cls(
            _count(d, "capacity", where),
            _count(d, "depth", where),
            _count(d, "peak", where),
            _count(d, "sent", where),
            _count(d, "received", where),
            _seconds(d, "send_wait", where),
        )

    def __repr__(self) -> str:
        return (
            f"ChannelStats(depth={self.depth}/{self.capacity}, peak={self.peak}, "
            f"sent={self.sent}, received={self.received}, send_wait={self.send_wait:.6f})"
        )


class StageCounter:
    """The live, mutable counters of one stage during one run (drivers write them)."""

    __slots__ = (
        "errors",
        "errors_by_type",
        "items_in",
        "items_out",
        "label",
        "position",
        "queue",
        "retries",
        "time",
    )

    def __init__(self, position: int, label: str) -> None:
        self.position = position
        self.label = label
        self.items_in = 0
        self.items_out = 0
        self.errors = 0
        self.errors_by_type: dict[str, int] = {}
        self.time = 0.0
        self.retries = 0
        # a concurrent stage's queue: a function giving a ChannelStats snapshot
        self.queue: Callable[[], ChannelStats] | None = None

    def count_error(self, exc: BaseException) -> None:
        self.errors += 1
        name = type(exc).__name__
        self.errors_by_type[name] = self.errors_by_type.get(name, 0) + 1

    def freeze(self, wall_time: float = 0.0) -> StageStats:
        return StageStats(
            self.position,
            self.label,
            self.items_in,
            self.items_out,
            self.errors,
            self.time,
            dict(self.errors_by_type),
            self.retries,
            self.queue() if self.queue is not None else None,
            wall_time=wall_time,
        )


class StageStats:
    """What one stage did in a run: items in and out, errors skipped, time spent.

    *time* is the stage's own (self) time in seconds: its function calls, or for the source
    its reads, not the time spent upstream. It is an estimate from a timed sample of about
    one item in every 256, in wall-clock time, so a sample the OS paused (a busy machine)
    counts whole and the stages' times can add up to more than the run's wall time; for a
    stage on several threads or processes it adds up their times. *errors_by_type* counts
    the skipped errors by exception class name.
    *retries* counts the calls made again by a ``retry``. *queue* is, for a stage with a
    queue of its own (``buffer``, ``batch(timeout=)``, a concurrent ``map``), a
    ``ChannelStats``: items held now (``depth``) and at most (``peak``), its ``capacity``,
    and ``send_wait``, the seconds its producer waited on a full queue (backpressure);
    ``None`` for other stages. A broker source's queue is its backlog: the messages the
    broker still holds for it, delivered or not, whose acks were not sent (``depth``).
    *wall_time* is the run's wall time when the counters were
    read, which gives ``items_per_second``.

    >>> import hosepipe as hp
    >>> stats = hp.Stream(range(10)).filter(lambda x: x % 3 == 0).run()
    >>> s = stats.stages[1]
    >>> (s.label, s.items_in, s.items_out, s.dropped, s.drop_rate)
    ('filter(<lambda>)', 10, 4, 6, 0.6)
    """

    __slots__ = (*StageCounter.__slots__, "wall_time")

    def __init__(
        self,
        position: int,
        label: str,
        items_in: int,
        items_out: int,
        errors: int,
        time: float,
        errors_by_type: dict[str, int] | None = None,
        retries: int = 0,
        queue: ChannelStats | None = None,
        *,
        wall_time: float = 0.0,
    ) -> None:
        self.position = position
        self.label = label
        self.items_in = items_in
        self.items_out = items_out
        self.errors = errors
        self.time = time
        self.errors_by_type = errors_by_type or {}
        self.retries = retries
        self.queue = queue
        self.wall_time = wall_time

    @property
    def dropped(self) -> int:
        """Items that came in and did not go out, errors included (a filter's drops)."""
        return max(0, self.items_in - self.items_out)

    @property
    def drop_rate(self) -> float:
        """``dropped / items_in`` (0.0 before any item came in); the source's is 0.0."""
        return self.dropped / self.items_in if self.items_in else 0.0

    @property
    def items_per_second(self) -> float:
        """Items out per second of the run's wall time (0.0 before the run started)."""
        return self.items_out / self.wall_time if self.wall_time > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the counters (and the rates derived from them)."""
        return {
            "position": self.position,
            "label": self.label,
            "items_in": self.items_in,
            "items_out": self.items_out,
            "errors": self.errors,
            "errors_by_type": dict(self.errors_by_type),
            "retries": self.retries,
            "time": self.time,
            "wall_time": self.wall_time,
            "dropped": self.dropped,
            "drop_rate": self.drop_rate,
            "items_per_second": self.items_per_second,
            "queue": None if self.queue is None else self.queue.to_dict(),
        }

    @classmethod
    def from_dict(
        cls, d: Mapping[str, Any], *, where: str = "stage", run_wall_time: float = 0.0
    ) -> StageStats:
        """The ``StageStats`` whose ``to_dict()`` gave *d*; ``ValueError`` names a bad field.

        The derived figures (``dropped``, ``drop_rate``, ``items_per_second``) are
        recomputed; a stage saved without ``wall_time`` gets *run_wall_time*.

        >>> import hosepipe as hp
        >>> s = hp.Stream(range(3)).run().stages[0]
        >>> hp.StageStats.from_dict(s.to_dict()).to_dict() == s.to_dict()
        True
        >>> hp.StageStats.from_dict({**s.to_dict(), "label": 3})
        Traceback (most recent call last):
        ...
        ValueError: stage.label must be a string, got a number (3)
        """
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
        return cls(
            _count(d, "position", where),
            label,
            _count(d, "items_in", where),
            _count(d, "items_out", where),
            _count(d, "errors", where),
            _seconds(d, "time", where),
            dict(by_type),
            _count(d, "retries", where) if "retries" in d else 0,
            None if queue is None else ChannelStats.from_dict(queue, where=f"{where}.queue"),
            wall_time=_seconds(d, "wall_time", where) if "wall_time" in d else run_wall_time,
        )

    def __repr__(self) -> str:
        return (
            f"StageStats({self.position}, {self.label!r}, in={self.items_in}, "
            f"out={self.items_out}, errors={self.errors}, time={self.time:.6f})"
        )


class RunStats:
    """The record of one run: a ``StageStats`` per stage (the source first), and wall time.

    ``str()`` gives a table with one line per stage. A run on an engine asked for its
    per-worker rows (``engine.stats(by="worker")``) has *workers*: for each worker, its
    share of each stage it ran (rows that add up to the stage's), shown under each stage.

    >>> import hosepipe as hp
    >>> stats = hp.Stream(range(5)).map(str).run()
    >>> (stats.items_in, stats.items_out, stats.errors)
    (5, 5, 0)
    >>> print(stats)  # doctest: +SKIP
    stage                 in  out  errors   time*  items/s
    0 source range(0, 5)   -    5       0  0.0 ms    83.3k
    1 map(str)             5    5       0  0.0 ms    83.3k
    total: 5 in, 5 out, 0 errors; wall time 0.1 ms; time*: each stage's own time, ...
    """

    __slots__ = ("stages", "wall_time", "workers")

    def __init__(
        self,
        stages: tuple[StageStats, ...],
        wall_time: float,
        *,
        workers: Mapping[str, tuple[StageStats, ...]] | None = None,
    ) -> None:
        self.stages = stages
        self.wall_time = wall_time
        # a run on an engine, asked for per-worker rows: worker -> its share of the stages
        # it ran (a StageStats per stage position it ran, summing to the stage's totals)
        self.workers: dict[str, tuple[StageStats, ...]] = dict(workers or {})

    @property
    def items_in(self) -> int:
        """Items read from the source."""
        return self.stages[0].items_out if self.stages else 0

    @property
    def items_out(self) -> int:
        """Items that left the last stage."""
        return self.stages[-1].items_out if self.stages else 0

    @property
    def errors(self) -> int:
        """Errors skipped (by ``catch``) over all stages."""
        return sum(s.errors for s in self.stages)

    def stage(self, label: str) -> StageStats:
        """The first stage whose label is *label* (or whose observe name is *label*)."""
        for s in self.stages:
            if s.label in (label, f"observe({label!r})"):
                return s
        raise KeyError(f"no stage labelled {label!r}; stages: {[s.label for s in self.stages]}")

    @classmethod
    def merge(
        cls,
        runs: Sequence[RunStats],
        *,
        wall_time: float,
        source_label: str | None = None,
        stages: int | None = None,
    ) -> RunStats:
        """One ``RunStats`` from several runs of the same stages (the partitions of a run
        on an engine): each stage's counters and times added up, errors by type too.

        *source_label* renames the source's row; *stages* is the number of rows, for when
        *runs* may be empty. Queues are left out (they were the workers').

        >>> import hosepipe as hp
        >>> a = hp.Stream(range(3)).map(str).run()
        >>> b = hp.Stream(range(4)).map(str).run()
        >>> m = hp.RunStats.merge([a, b], wall_time=1.0, source_label="parts")
        >>> [(s.label, s.items_in, s.items_out) for s in m.stages]
        [('parts', 0, 7), ('map(str)', 7, 7)]
        """
        width = stages if stages is not None else len(runs[0].stages) if runs else 0
        if any(len(r.stages) != width for r in runs):
            raise ValueError("RunStats.merge(): the runs have different numbers of stages")
        merged = []
        for pos in range(width):
            rows = [r.stages[pos] for r in runs]
            by_type: dict[str, int] = {}
            for row in rows:
                for name, n in row.errors_by_type.items():
                    by_type[name] = by_type.get(name, 0) + n
            label = rows[0].label if rows else f"stage {pos}"
            if pos == 0 and source_label is not None:
                label = source_label
            merged.append(
                StageStats(
                    pos,
                    label,
                    sum(r.items_in for r in rows),
                    sum(r.items_out for r in rows),
                    sum(r.errors for r in rows),
                    sum(r.time for r in rows),
                    by_type,
                    sum(r.retries for r in rows),
                    wall_time=wall_time,
                )
            )
        return cls(tuple(merged), wall_time)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: the stages, totals and wall time (``from_dict`` reads it back).

        >>> import json, hosepipe as hp
        >>> stats = hp.Stream(range(5)).map(str).run()
        >>> back = hp.RunStats.from_dict(json.loads(json.dumps(stats.to_dict())))
        >>> str(back) == str(stats)
        True
        """
        d: dict[str, Any] = {
            "stages": [s.to_dict() for s in self.stages],
            "items_in": self.items_in,
            "items_out": self.items_out,
            "errors": self.errors,
            "wall_time": self.wall_time,
        }
        if self.workers:
            d["workers"] = {w: [s.to_dict() for s in rows] for w, rows in self.workers.items()}
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RunStats:
        """The ``RunStats`` whose ``to_dict()`` gave *d* (read back from JSON, say); the
        totals and rates in *d* are derived, so they are recomputed. ``ValueError`` names
        the first bad field.

        >>> import hosepipe as hp
        >>> hp.RunStats.from_dict({"stages": [], "wall_time": -1})
        Traceback (most recent call last):
        ...
        ValueError: not a RunStats dict: stats.wall_time must be a number of seconds >= 0, got -1
        """
        try:
            d = _mapping(d, "stats")
            stages = d.get("stages")
            if not isinstance(stages, list):
                raise ValueError(f"stats.stages must be an array of stages, got {_kind(stages)}")
            wall = _seconds(d, "wall_time", "stats")
            workers = _mapping(d.get("workers", {}), "stats.workers")
            for w, rows in workers.items():
                if not isinstance(rows, list):
                    raise ValueError(f"stats.workers[{w!r}] must be an array, got {_kind(rows)}")
            return cls(
                tuple(
                    StageStats.from_dict(s, where=f"stages[{i}]", run_wall_time=wall)
                    for i, s in enumerate(stages)
                ),
                wall,
                workers={
                    w: tuple(
                        StageStats.from_dict(s, where=f"workers[{w!r}][{i}]", run_wall_time=wall)
                        for i, s in enumerate(rows)
                    )
                    for w, rows in workers.items()
                },
            )
        except ValueError as e:
            raise ValueError(f"not a RunStats dict: {e}") from None

    def __str__(self) -> str:
        retries = any(s.retries for s in self.stages)  # a column only when a stage retried
        queues = any(s.queue is not None for s in self.stages)  # likewise for queues
        head = ["stage", "in", "out", "errors"]
        head += ["retries"] if retries else []
        head += ["time*", "items/s"]  # *: see the total line
        head += ["queue", "wait"] if queues else []
        rows = [tuple(head)]
        shares: dict[int, list[tuple[str, StageStats]]] = {}  # per-worker rows, by stage
        for worker, own in self.workers.items():
            for share in own:
                shares.setdefault(share.position, []).append((f"  on {worker}", share))
        listed: list[tuple[str, StageStats]] = []
        for s in self.stages:
            listed.append((f"{s.position} {'source ' if s.position == 0 else ''}{s.label}", s))
            listed += shares.get(s.position, [])  # its workers' shares under it
        for name, s in listed:
            if len(name) > 48:
                name = name[:45] + "..."
            row = [
                name,
                "-" if s.position == 0 else f"{s.items_in:,}",
                f"{s.items_out:,}",
                f"{s.errors:,}",
            ]
            row += [f"{s.retries:,}"] if retries else []
            row += [_fmt_time(s.time), _fmt_rate(s.items_per_second)]
            if queues:
                q = s.queue
                row += (
                    ["-", "-"] if q is None else [f"{q.peak}/{q.capacity}", _fmt_time(q.send_wait)]
                )
            rows.append(tuple(row))
        width = max(len(r[0]) for r in rows)
        nums = [max(len(r[i]) for r in rows) for i in range(1, len(rows[0]))]
        lines = [
            f"{r[0]:<{width}}  " + "  ".join(f"{c:>{w}}" for c, w in zip(r[1:], nums)) for r in rows
        ]
        lines.append(
            f"total: {self.items_in:,} in, {self.items_out:,} out, {self.errors:,} errors; "
            f"wall time {_fmt_time(self.wall_time)}; time*: each stage's own time, estimated "
            f"from 1 item in 256, {_fmt_time(sum(s.time for s in self.stages))} in all "
            "(the stages a thread runs add up to no more than its wall time; stages on "
            "several threads may add up to more)"
        )
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (
            f"RunStats(stages={len(self.stages)}, items_in={self.items_in}, "
            f"items_out={self.items_out}, errors={self.errors}, wall_time={self.wall_time:.6f})"
        )


def _fmt_rate(per_second: float) -> str:
    if per_second >= 1e6:
        return f"{per_second / 1e6:.1f}M"
    if per_second >= 1e4:
        return f"{per_second / 1e3:.0f}k"
    return f"{per_second:,.0f}" if per_second >= 10 else f"{per_second:.1f}"


def _fmt_time(seconds: float) -> str:
    if seconds < 1.0:
        return f"{seconds * 1000:.1f} ms"
    return f"{seconds:.2f} s"


# -- reading to_dict() output back (from_dict): each check names the field it refuses --------


def _mapping(d: object, where: str) -> Mapping[str, Any]:
    if not isinstance(d, dict):
        raise ValueError(f"{where} must be a JSON object, got {_kind(d)}")
    return d


def _field(d: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in d:
        raise ValueError(f"{where}.{key} is missing")
    return d[key]


def _count(d: Mapping[str, Any], key: str, where: str) -> int:
    v = _field(d, key, where)
    if not isinstance(v, int) or isinstance(v, bool) or v < 0:
        raise ValueError(f"{where}.{key} must be an integer >= 0, got {v!r}")
    return v


def _seconds(d: Mapping[str, Any], key: str, where: str) -> float:
    v = _field(d, key, where)
    if not isinstance(v, int | float) or isinstance(v, bool) or not v >= 0:  # NaN too
        raise ValueError(f"{where}.{key} must be a number of seconds >= 0, got {v!r}")
    return float(v)


def _kind(v: object) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    if v is None:
        return "null"
    return names.get(type(v), f"a number ({v!r})" if isinstance(v, int | float) else repr(v))
