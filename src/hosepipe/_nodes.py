"""Inert stage descriptions: one small data-only class per operator.

A node validates its arguments when it is built (so a mistake is reported where it was
written, not at the first ``next()``) and then only holds them. Drivers interpret nodes;
nodes run nothing. Nodes hold picklable data and user callables only, so a pipeline can be
shipped to worker processes.

``KIND`` tells the drivers how a node runs:

* ``"fuse"``: an element-wise stage that the sync driver compiles into one generated loop
  with its neighbours (map, filter, tap, flat_map, flatten, observe, catch);
* ``"step"``: a stateful stage run through an I/O-free step object from ``_steps``;
* ``"join"``: a stage that reads other iterables as well (chain, zip);
* ``"thread"``: a stage with threads or processes of its own (concurrent map, buffer,
  batch with a timeout);
* ``"pace"``: a stage that waits (throttle).

``retry`` is not a stage: ``append`` folds a ``Retry`` node into the stage before it,
whose function becomes a ``_callables.Retried`` description (each run binds the
wrapper that calls it). What a run makes of a node (its step object, its bound function,
its watcher) is the steps layer's business (``_steps._make``): nodes import no layer above
them.

Why this module is longer than most: it is the table of every operator, one small class
each (its arguments, their checks, its label); split up, the table would be scattered.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from hosepipe._callables import Retried, fn_name, is_async_fn, short_label
from hosepipe._ends import SinkBase
from hosepipe._typing import TYPE_CHECKING
from hosepipe.backoff import Exponential, check_backoff

if TYPE_CHECKING:
    from typing import Any, ClassVar

__all__ = [
    "Batch",
    "Buffer",
    "TimedBatch",
    "batch_node",
    "Catch",
    "Chain",
    "ConcurrentMap",
    "Distinct",
    "DropWhile",
    "Enumerate",
    "Filter",
    "FlatMap",
    "Flatten",
    "GroupBy",
    "Map",
    "Node",
    "Observe",
    "EveryItems",
    "ObserveEach",
    "Progress",
    "Retry",
    "Scan",
    "Skip",
    "Take",
    "TakeWhile",
    "Tap",
    "Throttle",
    "Window",
    "Zip",
    "append",
    "map_node",
    "observe_node",
]


def _check_callable(op: str, param: str, fn: object) -> None:
    if not callable(fn):
        raise TypeError(f"{op}(): `{param}` must be callable, got {fn!r} ({type(fn).__name__})")


def _check_int(op: str, param: str, value: object, minimum: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{op}(): `{param}` must be an int, got {value!r} ({type(value).__name__})")
    if value < minimum:
        raise ValueError(f"{op}(): `{param}` must be >= {minimum}, got {value}")


def _exc_types(
    op: str, exc_types: tuple[type[BaseException], ...]
) -> tuple[type[BaseException], ...]:
    """*exc_types* checked (Exception subclasses only), or ``(Exception,)`` when empty."""
    for t in exc_types:
        if not (isinstance(t, type) and issubclass(t, Exception)):
            raise TypeError(
                f"{op}(): every exception type must be a subclass of Exception, got {t!r}"
            )
    return exc_types or (Exception,)


def _check_iterable(op: str, value: object) -> None:
    if not hasattr(value, "__iter__"):
        raise TypeError(f"{op}(): every argument must be iterable, got {value!r}")


class Node:
    """Base of all stage nodes: slots, a label for repr and notes, equality by value."""

    __slots__ = ()
    OP: ClassVar[str] = ""
    KIND: ClassVar[str] = "fuse"

    @property
    def label(self) -> str:
        """How the stage is shown in reprs, error notes and RunStats: ``map(parse)``."""
        return f"{self.OP}()"

    @property
    def user_fn(self) -> Callable[..., Any] | None:
        """The user function the stage calls per item, if any."""
        return None

    def _values(self) -> tuple[Any, ...]:
        """The node's data: every slot of its class and of the classes it derives from."""
        return tuple(
            getattr(self, name)
            for cls in type(self).__mro__
            for name in cls.__dict__.get("__slots__", ())
        )

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Node)
            and type(other) is type(self)
            and self._values() == other._values()
        )

    def __hash__(self) -> int:
        return hash((type(self), self.label))

    def __repr__(self) -> str:
        return self.label


class _FnNode(Node):
    """A stage around one user function."""

    __slots__ = ("fn",)

    def __init__(self, fn: Callable[..., Any]) -> None:
        _check_callable(self.OP, "fn", fn)
        self.fn = fn

    @property
    def label(self) -> str:
        return f"{self.OP}({fn_name(self.fn)})" + _retry_label(self.fn)

    @property
    def user_fn(self) -> Callable[..., Any] | None:
        return self.fn


def _retry_label(fn: object) -> str:
    return fn.label if isinstance(fn, Retried) else ""


class Map(_FnNode):
    __slots__ = ()
    OP = "map"


class Filter(_FnNode):
    __slots__ = ()
    OP = "filter"

    def __init__(self, fn: Callable[..., Any]) -> None:
        _check_callable(self.OP, "pred", fn)
        self.fn = fn


class Tap(_FnNode):
    __slots__ = ()
    OP = "tap"


class FlatMap(_FnNode):
    __slots__ = ()
    OP = "flat_map"


class Flatten(Node):
    __slots__ = ()
    OP = "flatten"


class Observe(Node):
    """A named point in the chain; its row in RunStats carries the name.

    With ``every=`` seconds (a float or ``timedelta``) it logs the throughput at that point
    from the run's watch thread (``metrics._watch``); ``every=`` items makes an
    ``ObserveEach`` instead, which counts in the loop itself.
    """

    __slots__ = ("every", "log", "name")
    OP = "observe"

    def __init__(self, name: str, every: int | float | None = None, log: Any = None) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f"observe(): `name` must be a non-empty str, got {name!r}")
        self.name = name
        self.every = every
        self.log = log

    @property
    def label(self) -> str:
        return f"observe({self.name!r})"


class ObserveEach(Observe):
    """``observe(name, every=N)`` with N items: a tap counting items and logging every N."""

    __slots__ = ()
    OP = "tap"

    @property
    def fn(self) -> Any:
        assert isinstance(self.every, int)
        return EveryItems(self.name, self.every, self.log)

    @property
    def user_fn(self) -> Callable[..., Any] | None:
        return self.fn  # type: ignore[no-any-return]


class EveryItems:
    """What an ``ObserveEach`` calls with each item: the description of a counter that logs
    a line at every *every*-th item; each run binds a counter of its own (``_steps.bind``)."""

    __slots__ = ("every", "log", "name")

    def __init__(self, name: str, every: int, log: Any) -> None:
        self.name = name
        self.every = every
        self.log = log


def observe_node(name: str, every: object, log: object) -> Observe:
    """The node for ``observe(name, every=, log=)``: *every* is items (int) or seconds."""
    import datetime

    if log is not None and not callable(log) and not hasattr(log, "info"):
        raise TypeError(
            f"observe(): `log` must be a logging.Logger or a callable taking a str, got {log!r}"
        )
    if every is None:
        return Observe(name, None, log)
    if isinstance(every, bool) or not isinstance(every, int | float | datetime.timedelta):
        raise TypeError(
            "observe(): `every` must be an int (items), a float or a timedelta (seconds), "
            f"got {every!r}"
        )
    if isinstance(every, int):
        _check_int("observe", "every", every, 1)
        return ObserveEach(name, every, log)
    seconds = every.total_seconds() if isinstance(every, datetime.timedelta) else every
    if not seconds > 0:
        raise ValueError(f"observe(): `every` seconds must be > 0, got {every!r}")
    return Observe(name, float(seconds), log)


class Progress(Observe):
    """``progress(total=, desc=, force=)``: a named point shown as progress bars (tqdm)."""

    __slots__ = ("force", "total")

    def __init__(self, total: int | None, desc: str | None, force: bool | None) -> None:
        if total is not None:
            _check_int("progress", "total", total, 0)
        if desc is not None and not isinstance(desc, str):
            raise TypeError(f"progress(): `desc` must be a str, got {desc!r}")
        if force is not None and not isinstance(force, bool):
            raise TypeError(f"progress(): `force` must be None, True or False, got {force!r}")
        if force is not False:  # say at once that the extra is missing, terminal or not
            import importlib.util

            from hosepipe._extras import MissingExtraError

            try:
                found = importlib.util.find_spec("tqdm") is not None
            except ValueError:  # a module set to None in sys.modules
                found = False
            if not found:
                raise MissingExtraError(
                    "progress() needs the tqdm package: pip install 'hosepipe[progress]'"
                )
        super().__init__(desc or "progress")
        self.total = total
        self.force = force

    @property
    def label(self) -> str:
        return f"progress({self.name!r})"


class Catch(Node):
    """Skip items whose processing raised one of *exc_types* in the stages it guards."""

    __slots__ = ("dead_letter", "exc_types", "handler")
    OP = "catch"

    def __init__(
        self,
        exc_types: tuple[type[BaseException], ...],
        handler: Callable[[Any, Any], object] | None,
        dead_letter: Any,
    ) -> None:
        exc_types = _exc_types("catch", exc_types)
        if handler is not None:
            _check_callable(self.OP, "handler", handler)
        if dead_letter is not None and not (
            callable(dead_letter)
            or callable(getattr(dead_letter, "append", None))
            or isinstance(dead_letter, SinkBase)
        ):
            raise TypeError(
                "catch(): `dead_letter` must be a sink, a callable or have an append() method, "
                f"got {dead_letter!r} ({type(dead_letter).__name__})"
            )
        self.exc_types = exc_types
        self.handler = handler
        self.dead_letter = dead_letter

    @property
    def label(self) -> str:
        return f"catch({', '.join(t.__name__ for t in self.exc_types)})"


# -- stateful stages: each builds a fresh step object per run ------------------------------


class _StepNode(Node):
    __slots__ = ()
    KIND = "step"

    @property
    def user_fn(self) -> Callable[..., Any] | None:
        """The user function the step calls per item, if any (errors are noted against it)."""
        return None


class _CountNode(_StepNode):
    __slots__ = ("n",)

    def __init__(self, n: int) -> None:
        _check_int(self.OP, "n", n, 0)
        self.n = n

    @property
    def label(self) -> str:
        return f"{self.OP}({self.n})"


class Take(_CountNode):
    __slots__ = ()
    OP = "take"


class Skip(_CountNode):
    __slots__ = ()
    OP = "skip"


class _PredNode(_StepNode):
    __slots__ = ("fn",)

    def __init__(self, fn: Callable[[Any], object]) -> None:
        _check_callable(self.OP, "pred", fn)
        self.fn = fn

    @property
    def label(self) -> str:
        return f"{self.OP}({fn_name(self.fn)})"

    @property
    def user_fn(self) -> Callable[..., Any] | None:
        return self.fn


class TakeWhile(_PredNode):
    __slots__ = ()
    OP = "take_while"


class DropWhile(_PredNode):
    __slots__ = ()
    OP = "drop_while"


class Batch(_StepNode):
    __slots__ = ("size",)
    OP = "batch"

    def __init__(self, size: int) -> None:
        _check_int(self.OP, "size", size, 1)
        self.size = size

    @property
    def label(self) -> str:
        return f"batch({self.size})"


class TimedBatch(Node):
    """``batch(size, timeout=...)``: its upstream runs in a thread so that a partial batch
    can be flushed when no item came for *timeout* seconds."""

    __slots__ = ("size", "timeout")
    OP = "batch"
    KIND = "thread"

    def __init__(self, size: int, timeout: float) -> None:
        _check_int(self.OP, "size", size, 1)
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
            raise ValueError(f"batch(): `timeout` must be None or seconds > 0, got {timeout!r}")
        self.size = size
        self.timeout = float(timeout)

    @property
    def label(self) -> str:
        return f"batch({self.size}, timeout={self.timeout:g})"


def batch_node(size: int, timeout: float | None) -> Node:
    """The node for ``batch``: a plain step, or a timed batch when *timeout* is given."""
    return Batch(size) if timeout is None else TimedBatch(size, timeout)


class Window(_StepNode):
    __slots__ = ("size", "step")
    OP = "window"

    def __init__(self, size: int, step: int) -> None:
        _check_int(self.OP, "size", size, 1)
        _check_int(self.OP, "step", step, 1)
        self.size = size
        self.step = step

    @property
    def label(self) -> str:
        if self.step == 1:
            return f"window({self.size})"
        return f"window({self.size}, step={self.step})"


class GroupBy(_StepNode):
    __slots__ = ("key",)
    OP = "group_by"

    def __init__(self, key: Callable[[Any], Any]) -> None:
        _check_callable(self.OP, "key", key)
        self.key = key

    @property
    def label(self) -> str:
        return f"group_by({fn_name(self.key)})"

    @property
    def user_fn(self) -> Callable[..., Any] | None:
        return self.key


class Distinct(_StepNode):
    __slots__ = ("key",)
    OP = "distinct"

    def __init__(self, key: Callable[[Any], Any] | None) -> None:
        if key is not None:
            _check_callable(self.OP, "key", key)
        self.key = key

    @property
    def label(self) -> str:
        return "distinct()" if self.key is None else f"distinct(key={fn_name(self.key)})"

    @property
    def user_fn(self) -> Callable[..., Any] | None:
        return self.key


class Enumerate(_StepNode):
    __slots__ = ("start",)
    OP = "enumerate"

    def __init__(self, start: int) -> None:
        if not isinstance(start, int) or isinstance(start, bool):
            raise TypeError(f"enumerate(): `start` must be an int, got {start!r}")
        self.start = start

    @property
    def label(self) -> str:
        return "enumerate()" if self.start == 0 else f"enumerate({self.start})"


class Scan(_StepNode):
    __slots__ = ("fn", "initial")
    OP = "scan"

    def __init__(self, fn: Callable[[Any, Any], Any], initial: Any) -> None:
        _check_callable(self.OP, "fn", fn)
        self.fn = fn
        self.initial = initial

    @property
    def label(self) -> str:
        return f"scan({fn_name(self.fn)})"

    @property
    def user_fn(self) -> Callable[..., Any] | None:
        return self.fn


# -- stages that run their upstream in a thread of their own -------------------------------


VIAS = (None, "thread", "process")


class ConcurrentMap(Node):
    """``map`` / ``flat_map`` with ``concurrency`` > 1 (or a ``via``): calls run on a pool."""

    __slots__ = ("concurrency", "flat", "fn", "initializer", "ordered", "pool", "via")
    KIND = "thread"

    def __init__(
        self,
        fn: Callable[..., Any],
        concurrency: int,
        ordered: bool,
        via: str | None,
        flat: bool,
        initializer: Callable[[], object] | None = None,
        pool: Any = None,
    ) -> None:
        self.fn = fn
        self.concurrency = concurrency
        self.ordered = ordered
        self.via = via
        self.flat = flat
        self.initializer = initializer
        self.pool = pool  # a ProcessPool (via="process"): workers that outlive the run

    @property
    def OP(self) -> str:  # type: ignore[override]
        return "flat_map" if self.flat else "map"

    @property
    def label(self) -> str:
        options = f", concurrency={self.concurrency}"
        if not self.ordered:
            options += ", ordered=False"
        if self.pool is not None:
            options += f", via={self.pool!r}"
        elif self.via == "process":
            options += ", via='process'"
        return f"{self.OP}({fn_name(self.fn)}{options})" + _retry_label(self.fn)

    @property
    def user_fn(self) -> Callable[..., Any] | None:
        return self.fn


def map_node(
    op: str,
    fn: Callable[..., Any],
    concurrency: int,
    ordered: bool,
    via: Any,
    initializer: Callable[[], object] | None = None,
) -> Node:
    """The node for ``map``/``flat_map``: fused when sequential, else a ``ConcurrentMap``.

    *via* may be a ``ProcessPool`` (known by its ``HOSEPIPE_VIA``): the stage runs on its
    workers, ``concurrency`` (if left at 1) is the pool's size, and an ``initializer`` is
    the pool's to give."""
    _check_callable(op, "fn", fn)
    _check_int(op, "concurrency", concurrency, 1)
    if not isinstance(ordered, bool):
        raise TypeError(f"{op}(): `ordered` must be True or False, got {ordered!r}")
    pool = None
    if getattr(type(via), "HOSEPIPE_VIA", None) == "process":
        if initializer is not None:
            raise ValueError(
                f"{op}(): with via={via!r} the workers belong to the pool, which runs its own "
                "initializer: give it to hp.ProcessPool(initializer=...)"
            )
        pool, via = via, "process"
        if concurrency == 1:
            concurrency = pool.workers
    elif isinstance(via, str | None) and via in VIAS:
        pass
    else:
        raise ValueError(
            f"{op}(): `via` must be None, 'thread', 'process' or an hp.ProcessPool, got {via!r}"
        )
    if initializer is not None:
        _check_callable(op, "initializer", initializer)
    if via is not None and is_async_fn(fn):
        raise TypeError(
            f"{op}(): {fn_name(fn)} is an `async def` function: its calls are awaited on "
            f"the event loop, not run on {via} workers; leave out `via` (concurrency=N "
            "runs N awaits at once), or pass a plain function"
        )
    if concurrency == 1 and via is None:
        if initializer is not None:
            raise ValueError(
                f"{op}(): `initializer` runs once in each pool worker; give `concurrency` > 1 "
                "or `via`"
            )
        return Map(fn) if op == "map" else FlatMap(fn)
    return ConcurrentMap(fn, concurrency, ordered, via, op == "flat_map", initializer, pool)


class Buffer(Node):
    """Run everything upstream in a background thread, at most *size* items ahead."""

    __slots__ = ("size",)
    OP = "buffer"
    KIND = "thread"

    def __init__(self, size: int) -> None:
        _check_int(self.OP, "size", size, 1)
        self.size = size

    @property
    def label(self) -> str:
        return f"buffer({self.size})"


class Throttle(Node):
    """Let at most *rate* items through per *per* seconds, evenly spaced."""

    __slots__ = ("per", "rate")
    OP = "throttle"
    KIND = "pace"

    def __init__(self, rate: float, per: float) -> None:
        for name, value in (("rate", rate), ("per", per)):
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise TypeError(f"throttle(): `{name}` must be a number, got {value!r}")
            if not 0 < value < float("inf"):
                raise ValueError(f"throttle(): `{name}` must be > 0 and finite, got {value!r}")
        self.rate = rate
        self.per = per

    @property
    def label(self) -> str:
        per = "" if self.per == 1.0 else f", per={self.per!r}"
        return f"throttle({self.rate!r}{per})"


class Retry(Node):
    """Not a stage: ``append`` makes the stage before it retry its function (``_retry``)."""

    __slots__ = ("attempts", "backoff", "exc_types")
    OP = "retry"
    KIND = "retry"

    def __init__(
        self, exc_types: tuple[type[BaseException], ...], attempts: int, backoff: Any
    ) -> None:
        exc_types = _exc_types("retry", exc_types)
        _check_int(self.OP, "attempts", attempts, 1)
        if backoff is None:
            backoff = Exponential()
        check_backoff("retry()", backoff)
        self.exc_types = exc_types
        self.attempts = attempts
        self.backoff = backoff

    @property
    def label(self) -> str:
        names = ", ".join(t.__name__ for t in self.exc_types)
        return f"retry({names}, attempts={self.attempts})"

    def apply(self, node: Node) -> Node:
        """*node* with its function wrapped to retry; an error if it calls no function."""
        if isinstance(node, Retry):
            raise TypeError("retry(): cannot follow another retry()")
        if not isinstance(node, _FnNode | ConcurrentMap):
            what = (
                "calls no function of yours"
                if node.user_fn is None
                else "is not one that retry() can repeat"
            )
            raise TypeError(
                f"retry(): must follow map, flat_map, filter or tap (the stage whose function "
                f"it calls again); the stage before it, {node.label}, {what}"
            )
        if isinstance(node.fn, Retried):
            raise TypeError(f"retry(): the stage before it, {node.label}, retries already")
        flat = isinstance(node, FlatMap) or (isinstance(node, ConcurrentMap) and node.flat)
        import copy

        new = copy.copy(node)
        new.fn = Retried(  # type: ignore[assignment]  # a description each run binds
            node.fn, self.exc_types, self.attempts, self.backoff, flat
        )
        return new


def append(stages: tuple[Node, ...], more: tuple[Node, ...]) -> tuple[Node, ...]:
    """*stages* followed by *more*, each ``Retry`` folded into the stage before it.

    A ``Retry`` with nothing before it stays (a pipeline that starts with ``retry`` is
    applied later); a stream refuses one when it is built (``Stream``).
    """
    out = list(stages)
    for node in more:
        if isinstance(node, Retry) and out and not isinstance(out[-1], Retry):
            out[-1] = node.apply(out[-1])
        else:
            out.append(node)
    return tuple(out)


# -- stages that read other iterables too --------------------------------------------------


class _JoinNode(Node):
    __slots__ = ("others",)
    KIND = "join"

    def __init__(self, others: tuple[Iterable[Any], ...]) -> None:
        for o in others:
            _check_iterable(self.OP, o)
        self.others = others

    @property
    def label(self) -> str:
        return f"{self.OP}({', '.join(short_label(o) for o in self.others)})"


class Chain(_JoinNode):
    __slots__ = ()
    OP = "chain"


class Zip(_JoinNode):
    __slots__ = ()
    OP = "zip"

    def __init__(self, others: tuple[Iterable[Any], ...]) -> None:
        if not others:
            raise TypeError("zip(): give at least one iterable to zip with")
        super().__init__(others)
