"""Watching a run while it runs: a thread that ticks the run's watchers, and the loggers
of ``observe(name, every=...)``.

A *watcher* is anything with a ``period`` (seconds between ticks), ``start(bytes_read)``
(called in the run's thread as it starts; *bytes_read* gives a file source's
progress in bytes, or is None), ``tick(stats)`` and ``close(stats, ok)``; the stages that
want one (``observe`` with ``every=`` seconds, ``progress``) make it when the run starts
(``_steps._make.watcher``). One ``Watch`` thread per run
serves them all: it reads ``Run.stats()``, a snapshot that is safe to take from another
thread, so watching adds nothing to the items' own path. The thread is started with the
run and stopped and joined when the run closes, after a last tick with the final counts.

While items flow through a fused loop of the sync driver, the run's own thread ticks the
watchers instead: the loop calls ``poke`` after each block (every 0.05 s or so), which
ticks those that are due. The watch thread then only checks, about once a second, that
the run's thread has not stalled (a slow source), and ticks when it has. Ticking from
another thread costs the run's thread more than the tick itself: every wake-up and every
write to the terminal takes the GIL from it, and on a busy machine it then waits for the
watch thread to be scheduled (W1's progress bar ticked from the thread ten times a second
measured 1.23x the run without it on a loaded 2-core machine, with no more CPU time used
by the run's thread).
"""

from __future__ import annotations

import threading
import time

from hosepipe._typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any

    from hosepipe.metrics._stats import RunStats

__all__ = ["Counting", "ObserveLog", "Watch", "emitter"]


def emitter(log: Any) -> Callable[[str], object]:
    """Where an observe point's lines go: a Logger's ``info``, a callable, or by default the
    ``hosepipe`` logger."""
    if log is None:
        import logging

        return logging.getLogger("hosepipe").info
    info = getattr(log, "info", None)
    return info if callable(info) else log  # type: ignore[no-any-return]


def _rate(n: float, seconds: float) -> str:
    return f"{n / seconds:,.1f}/s" if seconds > 0 else "-/s"


STALL = 1.0  # seconds without a poke after which the watch thread ticks itself

_clock = time.perf_counter  # the fused loop's clock: ``poke`` gets its reading


class Watch:
    """The thread ticking one run's watchers; ``stop()`` gives them the final counts.

    ``due`` is when the next watcher is due, for the run's thread to compare with its
    clock before it calls ``poke``."""

    __slots__ = ("_due", "_lock", "_stop", "due", "poked", "stats", "thread", "watchers")

    def __init__(
        self,
        stats: Callable[[], RunStats],
        watchers: Sequence[Any],
        bytes_read: Callable[[], tuple[int, int]] | None,
    ) -> None:
        self.stats = stats
        self.watchers = tuple(watchers)
        for w in self.watchers:
            w.start(bytes_read)
        now = _clock()
        self._due = [now + w.period for w in self.watchers]
        self.due = min(self._due, default=float("inf"))
        self.poked = -float("inf")  # when the run's thread last called poke
        self._lock = threading.Lock()  # one tick at a time, from either thread
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="hosepipe watch", daemon=True)
        self.thread.start()

    def poke(self, now: float) -> None:
        """Called by the run's thread (between blocks, at *now* >= ``due``): tick the
        watchers that are due, here. A watcher that fails leaves the ticks to the thread,
        where its error is reported (the run goes on)."""
        self.poked = now
        try:
            self._tick(now)
        except Exception:
            self.due = float("inf")  # no more pokes; the thread ticks, and reports the error
            self.poked = -float("inf")

    def _tick(self, now: float) -> None:
        with self._lock:
            due = self._due
            stats = self.stats()
            for i, w in enumerate(self.watchers):
                if due[i] <= now:
                    w.tick(stats)
                    due[i] = now + w.period
            self.due = min(due, default=float("inf"))

    def _loop(self) -> None:
        while True:
            now = _clock()
            wait = max(0.0, min(self._due) - now)
            if now - self.poked < STALL:  # the run's thread ticks: check on it now and then
                wait = max(wait, self.poked + STALL - now)
            if self._stop.wait(wait):
                return
            now = _clock()
            if now - self.poked >= STALL:
                self._tick(now)

    def stop(self, ok: bool) -> None:
        """Stop the thread, then close every watcher with the run's final counts."""
        self._stop.set()
        if self.thread is not threading.current_thread():
            self.thread.join()
        stats = self.stats()
        for w in self.watchers:
            w.close(stats, ok)


class ObserveLog:
    """``observe(name, every=seconds)``: one line per period with the count at that point,
    the rate over the last period and over the run; a last line when the run ends."""

    __slots__ = ("emit", "last", "name", "period", "position")

    def __init__(self, position: int, name: str, every: float, log: Any) -> None:
        self.position = position
        self.name = name
        self.period = every
        self.emit = emitter(log)
        self.last = (0, 0.0)  # items, wall time at the previous line

    def start(self, bytes_read: object) -> None:
        pass

    def tick(self, stats: RunStats) -> None:
        stage = stats.stages[self.position]
        n, wall = stage.items_out, stats.wall_time
        n0, wall0 = self.last
        self.last = (n, wall)
        self.emit(
            f"observe {self.name!r}: {n:,} items, {_rate(n - n0, wall - wall0)} "
            f"(overall {_rate(n, wall)})"
        )

    def close(self, stats: RunStats, ok: bool) -> None:
        stage = stats.stages[self.position]
        how = "done" if ok else "stopped"
        self.emit(
            f"observe {self.name!r}: {how}, {stage.items_out:,} items in "
            f"{stats.wall_time:.2f} s ({_rate(stage.items_out, stats.wall_time)})"
        )


class Counting:
    """``observe(name, every=N)`` in one run: called with each item passing the point (as a
    ``tap``), it logs a line at every N-th."""

    __slots__ = ("__name__", "emit", "every", "last", "n", "name", "next", "start")

    def __init__(self, name: str, every: int, emit: Callable[[str], object]) -> None:
        self.__name__ = f"observe({name!r})"
        self.name = name
        self.every = every
        self.emit = emit
        self.n = 0
        self.next = every
        self.start = self.last = time.perf_counter()

    def __call__(self, item: object) -> None:
        self.n += 1
        if self.n >= self.next:
            self.next += self.every
            now = time.perf_counter()
            self.emit(
                f"observe {self.name!r}: {self.n:,} items, "
                f"{_rate(self.every, now - self.last)} (overall {_rate(self.n, now - self.start)})"
            )
            self.last = now
