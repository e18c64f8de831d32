"""``hp.engines.Dask``: the same stream, its partitions run as tasks on a Dask cluster.

What runs where (``_plan``): each partition (``sources._partition``) is one task that runs
the stream's leading element-wise stages through the local sync driver (``_tasks``) and
returns a materialised result; the client gathers them in partition order and runs the
remaining stages locally, or, with no remaining stages, reduces the partial counts,
sums and folds on the cluster. File sinks whose path holds ``*`` are written one file per
partition by the workers, each atomically, then a manifest by the client.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import time
from collections.abc import Iterable, Iterator

from hosepipe._ends import Engine, commit_all
from hosepipe._errors import NOTE_PREFIX, EmptyStreamError, HosepipeError
from hosepipe._extras import require
from hosepipe._typing import TYPE_CHECKING
from hosepipe.engines._plan import Plan, by_value, sources
from hosepipe.engines._tasks import EMPTY, LETTERS, combine, run_partition, warm
from hosepipe.metrics._stats import RunStats, StageStats
from hosepipe.sources._partition import (
    count_newlines,
    newline_jobs,
    parse_size,
    set_first_lines,
    split,
)

if TYPE_CHECKING:
    from typing import Any

    from hosepipe._steps._catch import DeadLetter
    from hosepipe._stream import Stream
    from hosepipe.metrics._latency import Latency

__all__ = ["Dask"]

_WHAT = "hp.engines.Dask"
SPLIT_EVERY = 8  # partial results a combine task folds (dask.bag's default split_every)
_EMPTY_REDUCE = "reduce() was called on an empty stream, and no initial value was provided"


# The LocalCluster the engine makes does less in the background, which on a machine whose
# cores the workers fill is time taken from them: at rest its processes used about 110 ms
# of CPU a second with Dask's defaults (2 workers), about 15 ms with these. No statistical
# profiler in the workers (the dashboard's profile page, which nobody opens here), event
# loop health ticks every second instead of 20 ms, system and memory monitors polled less
# often. A cluster or client you pass keeps its own settings.
OWN_CLUSTER_CONFIG = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "2s",
    "distributed.worker.memory.monitor-interval": "500ms",
}


def _check_int(name: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"Dask(): `{name}` must be an integer >= 1, got {value!r}")
    return value


class Dask(Engine):
    """An engine that runs a stream's partitions on a Dask cluster: ``engine=`` on a terminal.

    *client_or_address* is a ``distributed.Client`` (used, not closed), a scheduler address
    such as ``"tcp://10.0.0.5:8786"`` (a client made and closed by the engine), or None: a
    ``LocalCluster`` of *workers* worker processes with *threads_per_worker* threads each,
    made and closed by the engine (in a script, make it under ``if __name__ ==
    "__main__":``, as for any process pool). *partition_size* (bytes, or ``"64MB"``) cuts
    a plain text file larger than it into byte ranges on line ends. With *ordered* False,
    items reach the client's stages in the order partitions finish, not the local order.
    Close the engine with ``close()`` or a ``with`` block.

    >>> import hosepipe as hp
    >>> with hp.engines.Dask(workers=2) as dask:
    ...     squares = hp.partitioned([range(5), range(5, 10)]).map(lambda x: x * x)
    ...     (squares.sum(engine=dask), squares.take(3).to_list(engine=dask))
    (285, [0, 1, 4])
    """

    def __init__(
        self,
        client_or_address: Any = None,
        *,
        workers: int = 2,
        threads_per_worker: int = 1,
        partition_size: int | str | None = None,
        ordered: bool = True,
    ) -> None:
        _check_int("workers", workers)
        _check_int("threads_per_worker", threads_per_worker)
        if not isinstance(ordered, bool):
            raise TypeError(f"Dask(): `ordered` must be True or False, got {ordered!r}")
        self.partition_size = None if partition_size is None else parse_size("Dask", partition_size)
        self.ordered = ordered
        distributed = require("distributed", "dask", _WHAT)
        require("cloudpickle", "dask", _WHAT)
        self._cluster: Any = None
        self._owns_client = True
        self._last: RunStats | None = None
        self._run: _Run | None = None
        if client_or_address is None:
            import multiprocessing.process

            if getattr(multiprocessing.process.current_process(), "_inheriting", False):
                raise HosepipeError(
                    "Dask(): a worker process is importing the main module, which makes a "
                    "LocalCluster again; make the engine under `if __name__ == '__main__':`"
                )
            import dask

            with dask.config.set(OWN_CLUSTER_CONFIG):  # read as its parts start
                self._cluster = distributed.LocalCluster(
                    n_workers=workers,
                    threads_per_worker=threads_per_worker,
                    processes=True,
                    host="127.0.0.1",
                    dashboard_address=":0",  # its HTTP server on a free port, not 8787
                    scheduler_kwargs={"dashboard": False},
                )
            try:
                self._client = distributed.Client(self._cluster)
            except BaseException:
                self._cluster.close()
                raise
        elif isinstance(client_or_address, str):
            self._client = distributed.Client(client_or_address)
        elif isinstance(client_or_address, distributed.Client):
            self._client = client_or_address
            self._owns_client = False
        else:
            raise TypeError(
                "Dask(): `client_or_address` must be None, a scheduler address or a "
                f"distributed.Client, got {client_or_address!r}"
            )
        self._closed = False
        try:
            # the workers import hosepipe and warm the driver now, not in the first run
            self._client.run(warm, on_error="ignore")
        except BaseException:
            self.close()
            raise

    @property
    def client(self) -> Any:
        """The ``distributed.Client`` the engine submits to."""
        return self._client

    def __repr__(self) -> str:
        where = "LocalCluster" if self._cluster is not None else self._client.scheduler.address
        return f"Dask({where!r}{', closed' if self._closed else ''})"

    def close(self) -> None:
        """Close the client and the cluster the engine made (not a client it was given)."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._owns_client:
                self._client.close()
        finally:
            if self._cluster is not None:
                self._cluster.close()

    def __enter__(self) -> Dask:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def stats(self, *, by: str | None = None) -> RunStats:
        """The ``RunStats`` of the latest run on this engine: every partition's counters
        added up per stage, with the client's stages after them. With ``by="worker"``, its
        ``workers`` also give each worker's share of the stages the workers ran (its
        partitions' counters added up), which ``str()`` shows under each stage.

        >>> Dask.__new__(Dask).stats()
        Traceback (most recent call last):
        ...
        hosepipe.HosepipeError: stats(): no stream has run on this engine yet
        >>> Dask.__new__(Dask).stats(by="host")
        Traceback (most recent call last):
        ...
        ValueError: stats(): `by` must be None or 'worker', got 'host'
        """
        if by not in (None, "worker"):
            raise ValueError(f"stats(): `by` must be None or 'worker', got {by!r}")
        run: _Run | None = getattr(self, "_run", None)
        if run is None:
            raise HosepipeError("stats(): no stream has run on this engine yet")
        if by is None and run.wall is not None and self._last is not None:
            return self._last
        return run.stats(by_worker=by == "worker")

    def partition_stats(self) -> list[RunStats]:
        """The ``RunStats`` of each partition of the latest run, in partition order: the
        rows the workers ran (the source and the stages before the first client stage).
        A partition left unread (a ``take`` had its items), or whose result has not
        reached the client (the run is going on, or failed first), has no entry.

        >>> Dask.__new__(Dask).partition_stats()
        Traceback (most recent call last):
        ...
        hosepipe.HosepipeError: partition_stats(): no stream has run on this engine yet
        """
        run: _Run | None = getattr(self, "_run", None)
        if run is None:
            raise HosepipeError("partition_stats(): no stream has run on this engine yet")
        done = dict(run.part_stats)  # a copy: a running run may add to it
        return [done[i] for i in sorted(done)]

    # -- running -------------------------------------------------------------------------

    def _dumps(self, obj: object, *roots: object) -> bytes:
        """*obj* pickled with cloudpickle, the user modules *roots* use by value."""
        import cloudpickle

        registered = set(cloudpickle.list_registry_pickle_by_value())
        added = by_value(*roots) - registered
        import sys

        for name in added:
            cloudpickle.register_pickle_by_value(sys.modules[name])
        try:
            return bytes(cloudpickle.dumps(obj))
        finally:
            for name in added:
                cloudpickle.unregister_pickle_by_value(sys.modules[name])

    def execute(self, stream: Stream[Any], terminal: str, args: tuple[Any, ...]) -> Any:
        """Run *stream* into *terminal* (a ``Stream`` method name) with *args*."""
        if self._closed:
            raise HosepipeError(f"{terminal}(): this Dask engine is closed")
        started = time.perf_counter()
        self._last = None
        plan = Plan(stream)
        parts = split(stream._source, self.partition_size)
        run = _Run(self, plan, parts)
        run.started = started
        stream._last = run  # stream.stats() and exporters read it, as a local run
        self._run = run
        try:
            run.open_dead_letters()
            try:
                value = run.go(terminal, args)
            finally:
                run.close_dead_letters()
        except BaseException as exc:
            if isinstance(exc, Exception):
                run.note(exc)
                getattr(exc, "__dict__", {}).pop(LETTERS, None)
            run.cancel()  # Ctrl-C too: no task of this run goes on
            raise
        finally:
            run.wall = time.perf_counter() - run.started
        self._last = run.stats()
        return self._last if terminal == "run" else value


class _Run:
    """One run of a stream on the engine: its futures, results and stats."""

    has_workers = True  # stats(by_worker=True) gives each worker's rows (the exporters ask)

    def __init__(self, engine: Dask, plan: Plan, parts: list[Any]) -> None:
        self.engine = engine
        self.client = engine.client
        self.plan = plan
        self.parts = parts
        self.futures: list[Any] = []  # every future submitted, to cancel them on a failure
        self.partials: list[Any] = []  # one per partition
        self.part_stats: dict[int, RunStats] = {}
        self.part_workers: dict[int, str] = {}  # the worker whose result was taken
        self.started = time.perf_counter()
        self.wall: float | None = None  # set when the run has ended
        self.latency: Latency | None = None  # no latency samples come from the workers
        self.dead_writers: dict[int, Any] = {}  # id(sink) -> writer, for dead letters
        self.tail: Stream[Any] | None = None
        self.failed: int | None = None  # the partition whose error the client saw

    def cancel(self) -> None:
        with contextlib.suppress(Exception):
            self.client.cancel(self.futures)

    def note(self, exc: Exception) -> None:
        """Name the partition that failed, when a worker's error is the one raised."""
        for i, fut in enumerate(self.partials):
            if i == self.failed or (self.failed is None and fut.status == "error"):
                n = len(self.parts)
                exc.add_note(
                    f"hosepipe: on Dask, in partition {i + 1} of {n} "
                    f"({_label(self.parts[i])}); item indexes count from its start"
                )
                return

    def _submit(self, terminal: str, fn: Any = None, sinks: list[Any] | None = None) -> None:
        jobs = newline_jobs(self.parts)
        if jobs:  # the line ends before each byte range, counted by the workers
            counts = self.client.map(count_newlines, *zip(*jobs.values()), pure=False)
            self.futures += counts
            set_first_lines(self.parts, dict(zip(jobs, self.client.gather(counts))))
        engine, head = self.engine, self.plan.head
        import cloudpickle

        modules = by_value(head, fn) | set(cloudpickle.list_registry_pickle_by_value())
        inlined = sources(head, modules)  # so the workers inline what a local run inlines
        job = engine._dumps((head, terminal, fn, self.plan.box, inlined), head, fn)
        datas = [
            engine._dumps((part, None if sinks is None else sinks[i]), part)
            for i, part in enumerate(self.parts)
        ]
        # one graph for all partitions: one message to the scheduler
        self.partials = self.client.map(run_partition, [job] * len(datas), datas, pure=False)
        self.futures += self.partials

    def _reduce(self, fn: Any) -> Any:
        """The partials combined in order with *fn*: on the cluster, ``SPLIT_EVERY`` at a
        time (as dask.bag's reductions), until at most that many are left, which the
        client gathers and folds (a task more would cost a round trip more)."""
        fn_data = None if fn is None else self.engine._dumps(fn, fn)
        level = list(self.partials)
        while len(level) > SPLIT_EVERY:
            groups = [level[i : i + SPLIT_EVERY] for i in range(0, len(level), SPLIT_EVERY)]
            level = [
                g[0] if len(g) == 1 else self.client.submit(combine, fn_data, *g, pure=False)
                for g in groups
            ]
            self.futures += level
        try:
            value, stats = combine(fn_data, *self.client.gather(level))
        except Exception:
            if self.plan.dead_letters:  # the letters a local run would have sent first
                self._letters_to_failure()
            raise
        for i, done in enumerate(stats):
            self.took(i, done)
        return value

    def _letters_to_failure(self) -> None:
        """After a failed reduction: give the dead letters of the partitions before the
        first failed one, then its own, and raise its error (the local run's)."""
        from distributed import wait

        wait(self.partials)  # type: ignore[no-untyped-call]
        for i, fut in enumerate(self.partials):
            if fut.status == "error":
                self.failed = i
                exc = fut.exception()
                self.letters(getattr(exc, "__dict__", {}).pop(LETTERS, ()))
                raise exc from None
            self.took(i, fut.result()[1][0])

    def took(self, i: int, done: tuple[str, RunStats, list[Any]], send: bool = True) -> None:
        """Keep partition *i*'s stats and the worker that ran it; send its dead letters."""
        self.part_workers[i], self.part_stats[i], letters = done
        if send:
            self.letters(letters)

    def letters(self, letters: Iterable[tuple[int, int, DeadLetter]]) -> None:
        """Give each dead letter of a partition to its catch's target, in order."""
        from hosepipe._steps._catch import send_dead_letter

        for index, _, letter in letters:
            send_dead_letter(self.plan.dead_letters[index], letter, self._writer)

    def _writer(self, sink: Any) -> Any:
        return self.dead_writers[id(sink)]

    def open_dead_letters(self) -> None:
        """Open the dead-letter sinks, as a local run does when it starts (so a run with
        no bad item replaces what an earlier one left there)."""
        from hosepipe._ends import SinkBase

        for dead in self.plan.dead_letters:
            if isinstance(dead, SinkBase) and id(dead) not in self.dead_writers:
                self.dead_writers[id(dead)] = dead.open()

    def close_dead_letters(self) -> None:
        """Commit the dead-letter sinks: the bad records are kept however the run ended."""
        writers, self.dead_writers = self.dead_writers, {}
        first = commit_all(writers.values())
        if first is not None:
            raise first

    def _gathered(self) -> Iterator[Any]:
        """The partitions' items, in partition order (or as they finish, not *ordered*)."""
        from distributed import as_completed

        index = {fut.key: i for i, fut in enumerate(self.partials)}
        order: Iterable[Any] = self.partials
        if not self.engine.ordered:
            order = as_completed(self.partials)  # type: ignore[no-untyped-call]
        try:
            for fut in order:
                i = index[fut.key]
                try:
                    items, stats = fut.result()
                except BaseException as e:
                    self.failed = i
                    self.letters(getattr(e, "__dict__", {}).pop(LETTERS, ()))
                    raise
                self.took(i, stats[0], send=False)
                letters = stats[0][2]
                if not letters:
                    yield from items
                    continue
                # each letter where the local run sends it: before the item after it
                ahead = iter(letters)
                letter = next(ahead, None)
                for k, item in enumerate(items):
                    while letter is not None and letter[1] <= k:
                        self.letters((letter,))
                        letter = next(ahead, None)
                    yield item
                self.letters([*(() if letter is None else (letter,)), *ahead])
        finally:
            self.cancel()  # stopped early (take): the rest is not needed

    def go(self, terminal: str, args: tuple[Any, ...]) -> Any:
        from hosepipe._source import Source
        from hosepipe._stream import Stream

        if not self.plan.tail:
            if terminal == "count":
                self._submit("count")
                return self._reduce(None)
            if terminal == "run":
                self._submit("drain")
                return self._reduce(None)
            if terminal == "sum":
                self._submit("sum")
                total = self._reduce(None)
                return args[0] if total is EMPTY else args[0] + total
            if terminal == "reduce":
                fn = args[0]
                self._submit("reduce1", fn)
                total = self._reduce(fn)
                if len(args) == 1:
                    if total is EMPTY:
                        raise EmptyStreamError(_EMPTY_REDUCE)
                    return total
                return args[1] if total is EMPTY else fn(args[1], total)
            if terminal == "to" and _pattern(args[0]):
                return self._per_partition(args[0])
        self._submit("list")
        self.tail = Stream._make(Source(self._gathered), self.plan.tail)
        try:
            return getattr(self.tail, terminal)(*args)
        except Exception as exc:
            if self.failed is None:  # a client stage's error: its place in the whole stream
                _renumber(exc, len(self.plan.head))
            raise

    def _per_partition(self, sink: Any) -> int:
        """One file per partition (the ``*`` of the sink's path numbered), then a manifest.

        The workers write each file atomically under a hidden staging name; once every
        partition is done the client renames them into place, so a failed run shows no
        file of its own (files and folder must be shared by the client and the workers).
        """
        import uuid

        from hosepipe.sinks._files import _AtomicFile

        n = len(self.parts)
        width = max(5, len(str(n - 1)))
        finals = [_numbered(sink, str(i).zfill(width)).path for i in range(n)]
        run_id = uuid.uuid4().hex[:12]
        sinks = [_numbered(sink, str(i).zfill(width), f".{run_id}.") for i in range(n)]
        self._submit("sink", sinks=sinks)
        counts = []
        try:
            for i, fut in enumerate(self.partials):
                try:
                    count, stats = fut.result()
                except Exception as e:
                    self.letters(getattr(e, "__dict__", {}).pop(LETTERS, ()))
                    raise
                counts.append(count)
                self.took(i, stats[0])
            for s, final in zip(sinks, finals):
                os.replace(s.path, final)
        except BaseException as e:  # no partial output: the staged files of the partitions done
            if isinstance(e, Exception):
                # a task already running cannot be stopped on its worker: let the others end,
                # so none stages a file after the clean-up below
                from distributed import wait

                wait(self.partials)  # type: ignore[no-untyped-call]
            else:  # Ctrl-C: stop at once
                self.cancel()
            for s in sinks:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(s.path)
            raise
        finally:
            for s in sinks:  # the temporary files of attempts on workers that were lost
                folder, base = os.path.split(os.path.abspath(s.path))
                for stale in glob.glob(os.path.join(folder, f".{glob.escape(base)}.*.tmp")):
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(stale)
        folder, base = os.path.split(sink.path)
        manifest = {
            "pattern": base,
            "partitions": n,
            "items": sum(counts),
            "files": [{"path": os.path.basename(f), "items": c} for f, c in zip(finals, counts)],
        }
        out = _AtomicFile(os.path.join(folder, base.split("*")[0] + "manifest.json"), "utf-8")
        try:
            assert out.text is not None
            out.text.write(json.dumps(manifest, indent=1) + "\n")
        except BaseException:
            out.abort()
            raise
        out.commit()  # syncs the folder too, so the renames above last
        return sum(counts)

    def stats(self, by_worker: bool = False) -> RunStats:
        """Every partition's counters added per stage, then the client's stages: live
        while the run goes (the partitions whose results arrived so far), final after.
        With *by_worker*, also each worker's share of the stages the workers ran."""
        wall = time.perf_counter() - self.started if self.wall is None else self.wall
        done = sorted(self.part_stats.items())  # a copy: the run's thread may add to it
        merge = RunStats.merge
        label, width = self.plan.stream._source.label, len(self.plan.head) + 1
        head = merge([r for _, r in done], wall_time=wall, source_label=label, stages=width)
        workers = {}
        if by_worker:
            for worker in sorted(set(self.part_workers.values())):
                own = [r for i, r in done if self.part_workers.get(i) == worker]
                mine = merge(own, wall_time=wall, source_label=label, stages=width)
                workers[worker] = mine.stages
        tail = self.tail
        if tail is None or getattr(tail, "_last", None) is None:
            return RunStats(head.stages, wall, workers=workers)
        shift = len(self.plan.head)
        moved = tuple(_at(s, s.position + shift, wall) for s in tail.stats().stages[1:])
        return RunStats(head.stages + moved, wall, workers=workers)


def _at(s: StageStats, position: int, wall: float) -> StageStats:
    return StageStats(
        position,
        s.label,
        s.items_in,
        s.items_out,
        s.errors,
        s.time,
        s.errors_by_type,
        s.retries,
        s.queue,
        wall_time=wall,
    )


def _renumber(exc: BaseException, shift: int) -> None:
    """Make the stage numbers in hosepipe's notes on *exc* count the workers' stages too."""
    import re

    notes = getattr(exc, "__notes__", None)
    if not isinstance(notes, list):
        return
    for i, note in enumerate(notes):
        m = re.match(rf"^{NOTE_PREFIX}in stage (\d+) ", note) if isinstance(note, str) else None
        if m:
            notes[i] = f"{note[: m.start(1)]}{int(m.group(1)) + shift}{note[m.end(1) :]}"


def _label(part: object) -> str:
    label = getattr(part, "label", None)
    return label if isinstance(label, str) else repr(part)[:60]


def _pattern(sink: object) -> bool:
    """Whether *sink* is a file sink whose path asks for one file per partition (``*``)."""
    from hosepipe.sinks._files import _FileSink

    return isinstance(sink, _FileSink) and "*" in os.path.basename(sink.path)


def _numbered(sink: Any, number: str, prefix: str = "") -> Any:
    """A copy of *sink* writing to its path with ``*`` numbered (and *prefix* before)."""
    import copy

    part = copy.copy(sink)
    folder, base = os.path.split(sink.path)
    part.path = os.path.join(folder, prefix + base.replace("*", number))
    part.label = f"{sink.op}({part.path!r})"
    return part
