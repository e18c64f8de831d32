"""What one run makes of each stage description: its step object, its bound function and
its watcher.

Nodes (``_nodes``) hold data only; the drivers (sync, async, push, worker pools) ask this
module for the per-run objects that do the work, so every driver makes them the same way.
"""

from __future__ import annotations

from hosepipe import _nodes, _steps
from hosepipe._callables import Retried
from hosepipe._retry import Retrying
from hosepipe._typing import TYPE_CHECKING
from hosepipe.metrics._watch import Counting, ObserveLog, emitter

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

__all__ = ["bind", "make_step", "watcher"]

_STEPS: dict[type[_nodes.Node], Callable[[Any], Any]] = {
    _nodes.Take: lambda n: _steps.Take(n.n),
    _nodes.Skip: lambda n: _steps.Skip(n.n),
    _nodes.TakeWhile: lambda n: _steps.TakeWhile(n.fn),
    _nodes.DropWhile: lambda n: _steps.DropWhile(n.fn),
    _nodes.Batch: lambda n: _steps.Batch(n.size),
    _nodes.Window: lambda n: _steps.Window(n.size, n.step),
    _nodes.GroupBy: lambda n: _steps.GroupBy(n.key),
    _nodes.Distinct: lambda n: _steps.Distinct(n.key),
    _nodes.Enumerate: lambda n: _steps.Enumerate(n.start),
    _nodes.Scan: lambda n: _steps.Scan(n.fn, n.initial),
    _nodes.Throttle: lambda n: _steps.Throttle(n.rate, n.per),
}


def make_step(node: _nodes.Node) -> Any:
    """A fresh step object for one run of a stateful stage (or ``throttle``).

    >>> make_step(_nodes.Take(2)).push("a"), make_step(_nodes.Batch(2)).push("a")
    (('a',), ())
    """
    return _STEPS[type(node)](node)


def bind(fn: Any) -> Any:
    """*fn* as one run calls it: a ``Retried`` becomes this run's own ``Retrying`` (its
    retries counted, stoppable), an ``observe(every=N)`` counter one of this run's own;
    any other function is itself."""
    if isinstance(fn, Retried):
        return Retrying(fn.fn, fn.types, fn.attempts, fn.backoff, fn.flat)
    if isinstance(fn, _nodes.EveryItems):
        return Counting(fn.name, fn.every, emitter(fn.log))
    return fn


def watcher(node: _nodes.Node, position: int, nodes: tuple[_nodes.Node, ...]) -> Any:
    """What watches *node* (at *position* of *nodes*) from the run's watch thread
    (``metrics._watch``): a throughput logger for ``observe(every=seconds)``, progress
    bars for ``progress`` (on a terminal, or when forced); None for other stages."""
    if isinstance(node, _nodes.Progress):
        if node.force is False:
            return None
        if node.force is None:  # only on a terminal: otherwise no bars, and no thread
            import sys

            if not (hasattr(sys.stderr, "isatty") and sys.stderr.isatty()):
                return None
        from hosepipe.metrics._progress import ProgressBars

        observed = tuple(
            (p, n.name)
            for p, n in enumerate(nodes, start=1)
            if isinstance(n, _nodes.Observe) and not isinstance(n, _nodes.Progress)
        )
        return ProgressBars(position, node.name, node.total, observed)
    if type(node) is _nodes.Observe and node.every is not None:
        return ObserveLog(position, node.name, node.every, node.log)
    return None
