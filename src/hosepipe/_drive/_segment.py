"""The run-side half of a fused segment (``_fuse``): error notes, skips, live counts.

The generated loop calls back into its ``_Segment`` when a stage fails (``skip`` for a
guarded stage, ``fail`` to note the error), after each block of items (``live``: publish
the counts for ``Run.stats()`` and choose the next block's length) and when it exits
(``exit``: the final counts into the run's counters).
"""

from __future__ import annotations

import time

from hosepipe._callables import fn_name
from hosepipe._drive._fuse import BLOCK, Compiled
from hosepipe._errors import StreamConsumedError, add_stage_note, has_note
from hosepipe._typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from hosepipe._drive._sync import Run
    from hosepipe.metrics._stats import StageStats

__all__ = ["LIVE_PERIOD", "Segment"]

_pc = time.perf_counter

# A fused loop publishes its counts after each block of items; blocks shrink when they take
# longer than this (slow items), so a live ``stats()`` is at most about this old.
LIVE_PERIOD = 0.05


def _estimate(timing: tuple[float, int], items: int, clock: float) -> float:
    """Total time of *items* from timed samples, less the clock's own cost per sample."""
    spent, samples = timing
    if not samples:
        return 0.0
    return max(0.0, spent / samples - clock) * items


_TERMINAL_NAMES = {"call": "for_each", "list": "to_list", "reduce1": "reduce", "drain": "run"}


class Segment:
    """The run-side half of a compiled segment: error notes, skips and counter flushes."""

    __slots__ = (
        "block",
        "compiled",
        "failed",
        "latest",
        "ops",
        "outer",
        "positions",
        "reads_source",
        "run",
        "started",
        "term_fn",
        "terminal",
        "tick",
    )

    def __init__(
        self,
        run: Run,
        compiled: Compiled,
        ops: tuple[str, ...],
        positions: tuple[int, ...],
        reads_source: bool,
        outer: bool,
        terminal: str | None,
        term_fn: Callable[..., Any] | None,
    ) -> None:
        self.run = run
        self.term_fn = term_fn
        self.compiled = compiled
        self.ops = ops
        self.positions = positions
        self.reads_source = reads_source
        self.outer = outer
        self.terminal = terminal
        self.failed: int | None = None
        self.latest: tuple[tuple[int, ...], tuple[float, ...]] | None = None
        self.block = 1
        self.tick = self.started = _pc()
        run._views.append(self.view)

    def flows(self, counts: tuple[int, ...]) -> list[tuple[int, int]]:
        """(items in, items out) of each stage, from the counters and the error counts."""
        counted = dict(zip(self.compiled.counters, counts))
        n = counts[0]
        result = []
        for j in range(len(self.ops)):
            out = counted.get(("out", j))
            if out is None:
                errors = self.run.counters[self.positions[j]].errors
                out = n - counted.get(("drop", j), 0) - errors - (self.failed == j)
            result.append((n, out))
            n = out
        return result

    def _tag(self, exc: BaseException) -> tuple[Any, ...] | None:
        tb = exc.__traceback__
        return None if tb is None else self.compiled.linemap.get(tb.tb_lineno)

    def skip(self, exc: Exception, item: Any, counts: tuple[int, ...]) -> bool:
        tag = self._tag(exc)
        if tag is None or tag[0] != "stage":
            return False
        pos = self.positions[tag[1]]
        guards = self.run.guards[pos]
        return bool(guards) and self.run.catch(guards, pos, exc, item)

    def fail(self, exc: Exception, counts: tuple[int, ...]) -> bool:
        """Note on *exc* where it came from; True if from a stage (False if it has a
        note already: another segment's, or a push target's ``StopIteration``)."""
        if has_note(exc) or isinstance(exc, StreamConsumedError):
            return False
        tag = self._tag(exc)
        if tag is None:
            return False
        if tag[0] == "stage":
            j = tag[1]
            self.failed = j
            n_in = self.flows(counts)[j][0]
            pos = self.positions[j]
            add_stage_note(exc, pos, self.run.counters[pos].label, n_in - 1)
            return True
        if tag[0] == "up" and self.reads_source:
            add_stage_note(exc, 0, self.run.counters[0].label, counts[0])
        elif tag[0] == "term":
            flows = self.flows(counts)
            n_in = flows[-1][1] if flows else counts[0]
            name = _TERMINAL_NAMES.get(self.terminal or "", self.terminal)
            fn = self.term_fn
            label = self.run.term_label or (
                f"{name}({fn_name(fn)})" if fn is not None else f"{name}()"
            )
            exc.add_note(f"hosepipe: in the terminal {label}, item index {n_in - 1}")
        return False

    def values(
        self, counts: tuple[int, ...], times: tuple[float, ...]
    ) -> list[tuple[int, int, int, float]]:
        """(position, items in, items out, time) of each stage, the source first if read."""
        timing: dict[int, tuple[float, int]] = dict(
            zip(self.compiled.timers, zip(times[::2], times[1::2]))  # type: ignore[arg-type]
        )
        empty, samples = timing[-2]
        clock = empty / samples if samples else 0.0
        got = []
        if self.reads_source:
            got.append((0, 0, counts[0], _estimate(timing.get(-1, (0.0, 0)), counts[0], clock)))
        for j, (n_in, n_out) in enumerate(self.flows(counts)):
            time_ = _estimate(timing.get(j, (0.0, 0)), n_in, clock)
            got.append((self.positions[j], n_in, max(0, n_out), time_))
        # One thread runs the segment: its stages cannot have taken longer than it has run.
        # A sample the machine paused in (or an unusually slow item) counts for 256, so the
        # estimates are scaled down to that wall time when they add up to more.
        run = self.run
        end = run.t_end if run.t_end is not None else _pc()
        total, elapsed = sum(g[3] for g in got), end - max(self.started, run.t_start or 0.0)
        if total > elapsed > 0:
            scale = elapsed / total * (1 - 1e-9)  # (so rounding cannot tip the sum over)
            got = [(pos, n_in, n_out, time_ * scale) for pos, n_in, n_out, time_ in got]
        return got

    def live(self, counts: tuple[int, ...], times: tuple[float, ...]) -> int:
        """Called by the loop after each block: keep the counts for ``Run.stats()`` and
        return the next block's length, shorter when blocks take longer than
        ``LIVE_PERIOD`` (slow items), so the live counts are never much older than that."""
        self.latest = (counts, times)
        latency = self.run.latency
        if latency is not None:  # an exporter wants latency histograms
            latency.samples(id(self), self.compiled.timers, self.positions, times)
        now = _pc()
        watch = self.run._watch
        if watch is not None and now >= watch.due:  # progress bars, observe(every=seconds)
            watch.poke(now)
        spent, self.tick = now - self.tick, now
        block = self.block
        if spent > LIVE_PERIOD:
            block = max(1, int(block * LIVE_PERIOD / spent))
        elif block < BLOCK - 1:
            block = min(BLOCK - 1, block * 2)
        self.block = block
        return block

    def view(self, stages: list[StageStats]) -> None:
        """Write the live counts of a running segment over the frozen *stages*."""
        latest = self.latest
        if latest is None:
            return
        for pos, n_in, n_out, time_ in self.values(*latest):
            stage = stages[pos]
            if pos:
                stage.items_in = n_in
            stage.items_out, stage.time = n_out, time_

    def exit(self, counts: tuple[int, ...], times: tuple[float, ...]) -> None:
        try:
            run = self.run
            # the final counts stay published: a stats() that read some counters before
            # the lines below wrote them still shows one consistent state
            self.latest = (counts, times)
            for pos, n_in, n_out, time_ in self.values(counts, times):
                counter = run.counters[pos]
                if pos:
                    counter.items_in = n_in
                counter.items_out, counter.time = n_out, time_
        finally:
            self.run._finish(self.outer)
