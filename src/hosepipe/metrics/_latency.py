"""Sampled per-item latency histograms of a run's stages (for the Prometheus exporter).

A fused loop times one item per block in every stage (``_drive._fuse``); when a run keeps
latency histograms, each block's new samples go into a fixed-bucket histogram per stage
position. Only runs of a stream with an exporter attached keep them, so other runs pay
nothing.
"""

from __future__ import annotations

import bisect
import threading

__all__ = ["BUCKETS", "Latency"]

# upper bounds in seconds: 1 us .. 10 s, a decade apart with 2.5 and 5 between
BUCKETS = (*(float(f"{m}e{e}") for e in range(-6, 1) for m in (1, 2.5, 5)), 10.0)


class Latency:
    """Per stage position: counts per bucket (the last is +Inf), sum and count of samples."""

    __slots__ = ("buckets", "lock", "previous")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.buckets: dict[int, tuple[list[int], list[float]]] = {}  # pos -> counts, [sum]
        self.previous: dict[tuple[int, int], tuple[float, int]] = {}  # (segment, timer) -> T, S

    def observe(self, position: int, seconds: float) -> None:
        with self.lock:
            got = self.buckets.get(position)
            if got is None:
                got = self.buckets[position] = ([0] * (len(BUCKETS) + 1), [0.0])
            got[0][bisect.bisect_left(BUCKETS, seconds)] += 1
            got[1][0] += seconds

    def samples(
        self,
        segment: int,
        timers: tuple[int, ...],
        positions: tuple[int, ...],
        times: tuple[float, ...],
    ) -> None:
        """Record what a segment's timers gained since its last block: the mean time of the
        new samples per stage, less the clock's own cost (timer -2)."""
        new: dict[int, tuple[float, int]] = {}
        for k, j in enumerate(timers):
            total, count = times[2 * k], int(times[2 * k + 1])
            t0, c0 = self.previous.get((segment, j), (0.0, 0))
            self.previous[(segment, j)] = (total, count)
            if count > c0:
                new[j] = ((total - t0) / (count - c0), count - c0)
        clock = new.get(-2, (0.0, 0))[0]
        for j, (mean, count) in new.items():
            if j == -2:
                continue
            position = 0 if j == -1 else positions[j]
            for _ in range(count):
                self.observe(position, max(0.0, mean - clock))

    def snapshot(self) -> dict[int, tuple[list[int], float]]:
        """Per stage position: bucket counts (not cumulative; the last is +Inf) and sum."""
        with self.lock:
            return {p: (list(c), s[0]) for p, (c, s) in self.buckets.items()}
