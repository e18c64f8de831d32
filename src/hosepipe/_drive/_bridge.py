"""The bridge from sync code to the async driver: ``for item in stream`` and the sync
terminals of a stream with async stages or an async source.

A ``BridgeRun`` is an ``ARun`` driven step by step on an event loop of its own, made at the
first ``next()`` and closed with the run (its async generators shut down, its default
executor's threads joined). Inside a running loop it refuses with a message that says what
to write instead.
"""

from __future__ import annotations

from collections.abc import Iterator

from hosepipe._drive._async import ARun
from hosepipe._loops import close_loop, iterate_async, private_loop, step
from hosepipe._typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

__all__ = ["BridgeRun"]


class BridgeRun(ARun):
    """An ``ARun`` driven from synchronous code, on an event loop of its own."""

    __slots__ = ()
    DUAL = False  # the private loop lives for this run only: fan-out/in uses its threads

    def iterator(self) -> Iterator[Any]:
        return _drive(self)

    def execute(
        self, terminal: str, fn: Any = None, init: Any = None, label: str | None = None
    ) -> Any:
        loop = private_loop()
        try:
            return step(loop, self.aexecute(terminal, fn, init, label), whole_run=True)
        finally:
            close_loop(loop)

    def execute_into(self, sink: Any, label: str) -> Any:
        """``to(sink)`` of a sink with ``aopen()``: its writer works on the run's loop."""
        loop = private_loop()
        try:
            return step(loop, self.ainto(sink, label), whole_run=True)
        finally:
            close_loop(loop)


def _drive(run: ARun) -> Iterator[Any]:
    """A sync generator over the run's items, each step run on a private event loop that
    opens at the first ``next()``; closing the generator closes the run and the loop."""
    return iterate_async(run.aiterator)
