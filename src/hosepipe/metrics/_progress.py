"""Progress bars (tqdm, the ``progress`` extra) for ``Stream.progress()``.

The bars are drawn from ``Run.stats()`` snapshots ten times a second, by the run's own
thread between blocks of a fused loop, else by the run's watch thread (``_watch`` says
why): the items' own path does not touch them. A ``progress`` point shows
one bar for the items passing it and one more per ``observe`` point of the stream. With no
*total*, a stream read from files (``read_lines``, ``read_csv``, ``read_jsonl``,
``read_bytes``) shows the bytes read of the files' total size instead (compressed bytes,
for compressed files).
"""

from __future__ import annotations

import sys

from hosepipe._typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from hosepipe.metrics._stats import RunStats

__all__ = ["ProgressBars"]

PERIOD = 0.1  # seconds between redraws


class ProgressBars:
    """The bars of one ``progress`` point during one run."""

    __slots__ = ("bars", "bytes_read", "name", "observed", "period", "position", "total", "tqdm")

    def __init__(
        self,
        position: int,
        name: str,
        total: int | None,
        observed: tuple[tuple[int, str], ...],
    ) -> None:
        from hosepipe._extras import require

        base = require("tqdm", "progress", "progress()").tqdm

        class Bar(base):  # type: ignore[misc, valid-type]
            monitor_interval = 0  # no tqdm monitor thread: the watch thread redraws

        self.tqdm = Bar
        self.position = position
        self.name = name
        self.total = total
        self.observed = observed  # (position, name) of each observe point: a bar each
        self.period = PERIOD
        self.bars: list[tuple[int, Any]] | None = None  # (stage position, bar), made at start
        self.bytes_read: Callable[[], tuple[int, int]] | None = None

    def start(self, bytes_read: Callable[[], tuple[int, int]] | None) -> None:
        # made only when they are to be seen (Progress.watcher): never disabled here
        common = {"file": sys.stderr, "disable": False, "dynamic_ncols": True}
        if self.total is None and bytes_read is not None:
            self.bytes_read = bytes_read
            _, size = bytes_read()
            main = self.tqdm(
                total=size, desc=self.name, unit="B", unit_scale=True, unit_divisor=1024, **common
            )
        else:
            main = self.tqdm(total=self.total, desc=self.name, unit="it", **common)
        self.bars = [(self.position, main)]
        for position, name in self.observed:
            bar = self.tqdm(desc=name, unit="it", position=len(self.bars), **common)
            self.bars.append((position, bar))

    def tick(self, stats: RunStats) -> None:
        assert self.bars is not None
        for i, (pos, bar) in enumerate(self.bars):
            if i == 0 and self.bytes_read is not None:
                n = self.bytes_read()[0]
            else:
                n = stats.stages[pos].items_out
            if n > bar.n:
                bar.update(n - bar.n)

    def close(self, stats: RunStats, ok: bool) -> None:
        if self.bars is None:
            return
        self.tick(stats)
        main = self.bars[0][1]
        if ok and self.bytes_read is not None and main.total and main.n < main.total:
            main.update(main.total - main.n)  # every byte was read
        for _, bar in reversed(self.bars):
            bar.close()
