"""Push pipelines: coroutines (PEP 342) fed with ``send()``, the other model beside pull.

In a pull pipeline the consumer asks for each item; in a push pipeline the producer hands
each item on with ``send()``. A *target* is what items are pushed into: a generator that
waits for them with ``item = yield`` and was started (``@coroutine`` starts it), or any
object with ``send()`` and ``close()``. Its ``close()`` ends it (``GeneratorExit`` at its
``yield``, so its ``finally`` runs). A target that *returns* wants no more items: its
``send()`` raises ``StopIteration``, and whatever pushes into it stops.

* ``Stream.into(target)`` runs a stream and pushes each item into *target*, then closes it,
  however the stream ends.
* ``broadcast_to(*targets)`` is a target that sends each item on to several targets.
* ``Pipeline.as_target(sink)`` runs the same stage nodes as pull does, in push mode: each
  item sent runs through the stages (stateful ones through their ``_steps`` objects) and
  what comes out is sent on to *sink*. Closing it flushes the steps into *sink*, then closes
  *sink*. Stages that need a thread, a clock or other iterables of their own cannot run in
  push mode and are refused when the target is built.

``PushStream`` and ``PushPipeline`` are mixed into ``Stream`` and ``Pipeline`` and hold
their push methods.

Why this module is longer than most: push mode is one driver, and its targets (``coroutine``,
``broadcast_to``), the stage chain it builds from nodes and ``into``/``as_target`` close
each other's targets; split, each part would reach into the others' internals.
"""

from __future__ import annotations

import functools
import types
from collections.abc import Callable, Generator, Iterator

from hosepipe import _nodes
from hosepipe._callables import fn_name, is_async_fn, is_async_source
from hosepipe._ends import SinkBase
from hosepipe._errors import NOTE_PREFIX, add_stage_note, has_note
from hosepipe._steps._catch import catch_error, guards_of
from hosepipe._steps._make import bind, make_step
from hosepipe._typing import TYPE_CHECKING, Generic, Protocol, TypeVar

if TYPE_CHECKING:
    from typing import Any, ParamSpec

    from hosepipe import _steps
    from hosepipe._ends import SinkWriter
    from hosepipe._stream import Pipeline
    from hosepipe._terminals import Terminals

    P = ParamSpec("P")
    Caught = Callable[[Exception, Any], bool] | None  # handles a stage's error for a catch
    Down = Callable[[Any], None]  # a stage, as the stage before it sees it

__all__ = [
    "Broadcast",
    "PushTarget",
    "Target",
    "as_target",
    "broadcast_to",
    "coroutine",
    "into",
]

T = TypeVar("T")
In = TypeVar("In")
Y = TypeVar("Y")
S = TypeVar("S")
R = TypeVar("R")
T_contra = TypeVar("T_contra", contravariant=True)

# code flags (``inspect.CO_*``), without importing ``inspect``
_CO_GENERATOR = 0x20
_CO_COROUTINE = 0x80
_CO_ASYNC_GENERATOR = 0x200


class Target(Protocol[T_contra]):
    """What items are pushed into: a started generator, or anything with send() and close().

    ``send(item)`` takes one item and raises ``StopIteration`` once the target wants no
    more; ``close()`` ends the target (and is a no-op on a target that has ended).
    """

    def send(self, item: T_contra, /) -> object:
        """Take one item."""

    def close(self) -> object:
        """No more items are coming: end the target."""


# -- @coroutine -------------------------------------------------------------------------


def coroutine(fn: Callable[P, Generator[Y, S, R]]) -> Callable[P, Generator[Y, S, R]]:
    """Decorate a generator function so that each call returns a generator ready for ``send()``.

    A generator has to run to its first ``yield`` before it can be sent an item; the
    decorated function does that (one ``next()``) before returning it.

    >>> @coroutine
    ... def printer(prefix):
    ...     try:
    ...         while True:
    ...             item = yield
    ...             print(prefix, item)
    ...     finally:
    ...         print("closed")
    >>> p = printer(">")
    >>> p.send(1)
    > 1
    >>> p.close()
    closed
    """
    code = getattr(fn, "__code__", None)
    name = fn_name(fn)
    if not callable(fn):
        raise TypeError(
            f"coroutine(): `fn` must be a generator function, got {fn!r} ({type(fn).__name__})"
        )
    if isinstance(code, types.CodeType):
        if code.co_flags & (_CO_ASYNC_GENERATOR | _CO_COROUTINE):
            raise TypeError(
                f"coroutine(): {name} is an async function; push targets are plain generators "
                "that take items with `item = yield`"
            )
        if not code.co_flags & _CO_GENERATOR:
            raise TypeError(
                f"coroutine(): `fn` must be a generator function (a def that takes items with "
                f"`item = yield`), got {name}, which has no `yield`"
            )

    @functools.wraps(fn)
    def start(*args: P.args, **kwargs: P.kwargs) -> Generator[Y, S, R]:
        gen = fn(*args, **kwargs)
        if not isinstance(gen, types.GeneratorType):
            raise TypeError(f"coroutine(): {name}() returned {type(gen).__name__}, not a generator")
        try:
            next(gen)
        except StopIteration:
            raise TypeError(
                f"coroutine(): {name}() returned before its first `yield`; a target waits "
                "for each item with `item = yield`"
            ) from None
        return gen

    return start


# -- targets ------------------------------------------------------------------------------


def _is_generator_function(obj: object) -> bool:
    code = getattr(obj, "__code__", None)
    return isinstance(code, types.CodeType) and bool(
        code.co_flags & (_CO_GENERATOR | _CO_ASYNC_GENERATOR)
    )


def check_target(where: str, target: object) -> None:
    """Raise a clear error unless *target* can be pushed into; *where* starts the message.

    >>> def gen():
    ...     yield
    >>> check_target("into(): `target`", gen)
    Traceback (most recent call last):
    ...
    TypeError: into(): `target` must be a started generator, got the generator function gen; ...
    """
    if isinstance(target, types.GeneratorType):
        if target.gi_suspended or target.gi_running:
            return
        name = target.__name__
        if target.gi_frame is None:
            raise ValueError(f"{where} is the generator {name}(), which has ended; make a new one")
        raise TypeError(
            f"{where} is the generator {name}(), which has not been started: a generator "
            f"takes items only once it waits at its first `yield`. Decorate {name} with "
            f"@hp.coroutine, or call next() on the generator first"
        )
    if isinstance(target, types.AsyncGeneratorType):
        raise TypeError(
            f"{where} is the async generator {target.__name__}(); push targets are plain "
            "generators, fed with send()"
        )
    if _is_generator_function(target):
        name = fn_name(target)
        raise TypeError(
            f"{where} must be a started generator, got the generator function {name}; "
            f"call it ({name}(...)) to make the generator"
        )
    if callable(getattr(target, "send", None)) and callable(getattr(target, "close", None)):
        return
    raise TypeError(
        f"{where} must be a target: a generator started with @hp.coroutine, or an object "
        f"with send() and close(); got {target!r} ({type(target).__name__})"
    )


def target_label(target: object) -> str:
    """How a target is named in reprs and notes: ``collect``, ``broadcast_to(a, b)``.

    >>> @coroutine
    ... def collect():
    ...     while True:
    ...         yield
    >>> target_label(collect()), target_label(broadcast_to(collect(), collect()))
    ('collect', 'broadcast_to(collect, collect)')
    """
    if isinstance(target, PushTarget | Broadcast):
        return target.label
    name = getattr(target, "__name__", None)  # generators carry their function's name
    return name if isinstance(name, str) else type(target).__name__


def _close_target(target: Target[Any], label: str, in_flight: BaseException | None) -> None:
    """Close *target*; with an error *in_flight*, a failure to close becomes a note on it."""
    try:
        target.close()
    except Exception as e:
        if in_flight is not None:
            in_flight.add_note(f"{NOTE_PREFIX}closing {label} failed too: {e!r}")
            return
        if not has_note(e):
            e.add_note(f"{NOTE_PREFIX}in {label}, while closing it")
        raise


def _noted(exc: BaseException, prefix: str) -> bool:
    return any(isinstance(n, str) and n.startswith(prefix) for n in getattr(exc, "__notes__", ()))


class _TargetDone(BaseException):
    """``into`` over an async stream: the target returned (its send raised StopIteration)."""


class _Stop(BaseException):
    """Inside a push pipeline: the step at *pos* is done (take), or the sink returned.

    A ``BaseException``, so the stages' ``except Exception`` clauses let it through.
    """

    def __init__(self, pos: int) -> None:
        super().__init__(pos)
        self.pos = pos


# -- Stream.into ------------------------------------------------------------------------


def into(stream: Terminals[T], target: Target[T]) -> None:
    """``Stream.into``: push each item of *stream* into *target*, then close it (see
    that method for the rules)."""
    check_target("into(): `target`", target)
    label = f"into({target_label(target)})"
    if isinstance(target, PushTarget) and target.stopped:
        _close_target(target, label, None)  # take(0): it wants nothing, read nothing
        return
    send = target.send
    if stream._is_async():
        # The async driver runs the terminal in a coroutine, where a StopIteration
        # would become a RuntimeError: the target returning is signalled another way.
        target_send = send

        def send(item: T) -> object:
            try:
                return target_send(item)
            except StopIteration:
                raise _TargetDone from None

    try:
        stream._run().execute("call", send, None, label)
    except _TargetDone:
        pass  # the target returned: the run has closed the stream; close the target
    except StopIteration as stop:
        # From the target when the driver noted it against the terminal (one call less
        # per item than a wrapper); a StopIteration from a stage has the stage's note.
        if not _noted(stop, f"{NOTE_PREFIX}in the terminal {label}, "):
            _close_target(target, label, stop)
            raise
        # else the target returned: the run has closed the stream; close the target
    except BaseException as exc:
        _close_target(target, label, exc)
        raise
    _close_target(target, label, None)


# -- broadcast_to -----------------------------------------------------------------------


def broadcast_to(*targets: Target[T]) -> Broadcast[T]:
    """A target that sends each item on to every one of *targets*, in order.

    A target that returns is dropped and the others go on; once all have returned, the
    broadcast itself raises ``StopIteration`` (so ``into`` stops reading). Closing it
    closes every target. When a target raises, the others are closed and the error
    propagates with a note naming that target.

    >>> import hosepipe as hp
    >>> @coroutine
    ... def collect(out):
    ...     while True:
    ...         out.append((yield))
    >>> everything, evens = [], []
    >>> to_evens = hp.filter(lambda x: x % 2 == 0).as_target(collect(evens))
    >>> hp.Stream(range(5)).into(broadcast_to(collect(everything), to_evens))
    >>> everything, evens
    ([0, 1, 2, 3, 4], [0, 2, 4])
    """
    if not targets:
        raise TypeError("broadcast_to(): give at least one target to send to")
    for k, target in enumerate(targets, start=1):
        check_target(f"broadcast_to(): target {k}", target)
        for j, other in enumerate(targets[: k - 1], start=1):
            if other is target:
                raise ValueError(
                    f"broadcast_to(): target {k} is target {j} again; each item would be "
                    "sent to it twice"
                )
    return Broadcast(targets)


class Broadcast(Generic[T_contra]):
    """The target ``broadcast_to`` returns: each item is sent to every live target.

    ``closed`` turns true once it was closed, a target failed, or every target returned.

    >>> got = []
    >>> @coroutine
    ... def first(n):
    ...     for _ in range(n):
    ...         got.append((yield))
    >>> b = broadcast_to(first(1), first(2))
    >>> b
    broadcast_to(first, first)
    >>> b.send("a")
    >>> b.send("b")
    Traceback (most recent call last):
    ...
    StopIteration
    >>> got, b.closed
    (['a', 'a', 'b'], True)
    """

    __slots__ = ("_live", "_n", "label", "targets")

    def __init__(self, targets: tuple[Target[T_contra], ...]) -> None:
        self.targets = targets
        self.label = f"broadcast_to({', '.join(target_label(t) for t in targets)})"
        self._live: list[tuple[int, Target[T_contra]]] = list(enumerate(targets, start=1))
        self._n = 0

    def __repr__(self) -> str:
        return self.label

    def send(self, item: T_contra, /) -> None:
        """Send *item* to every target that has not returned.

        >>> @coroutine
        ... def show(name):
        ...     while True:
        ...         print(name, (yield))
        >>> b = broadcast_to(show("a"), show("b"))
        >>> b.send(1)
        a 1
        b 1
        >>> b.close()
        """
        live = self._live
        if not live:
            raise StopIteration
        index = self._n
        self._n = index + 1
        ended: list[tuple[int, Target[T_contra]]] = []
        for k, target in live:
            try:
                target.send(item)
            except StopIteration:
                ended.append((k, target))
            except BaseException as exc:
                if isinstance(exc, Exception) and not has_note(exc):
                    exc.add_note(
                        f"{NOTE_PREFIX}in broadcast_to target {k} {target_label(target)}, "
                        f"item index {index}"
                    )
                self._live = []
                for j, other in live:
                    if j != k:
                        _close_target(other, f"broadcast_to target {j} {target_label(other)}", exc)
                raise
        if ended:
            gone = {k for k, _ in ended}
            self._live = live = [(k, t) for k, t in live if k not in gone]
            for k, target in ended:  # a no-op for a generator that returned
                _close_target(target, f"broadcast_to target {k} {target_label(target)}", None)
            if not live:
                raise StopIteration

    @property
    def closed(self) -> bool:
        """True once the broadcast was closed, failed, or all its targets returned."""
        return not self._live

    def close(self) -> None:
        """Close every target (each one, even when an earlier one fails to close).

        >>> @coroutine
        ... def done(name):
        ...     try:
        ...         while True:
        ...             yield
        ...     finally:
        ...         print(name, "closed")
        >>> broadcast_to(done("a"), done("b")).close()
        a closed
        b closed
        """
        live, self._live = self._live, []
        first: BaseException | None = None
        for k, target in live:
            try:
                _close_target(target, f"broadcast_to target {k} {target_label(target)}", first)
            except Exception as e:
                first = e
        if first is not None:
            raise first


# -- Pipeline.as_target -----------------------------------------------------------------


def as_target(pipeline: Pipeline[In, T], sink: Target[T]) -> PushTarget[In]:
    """``Pipeline.as_target``: a target running *pipeline*'s stages on each item sent (see
    that method for the rules)."""
    check_target("as_target(): `sink`", sink)
    stages = pipeline._stages
    text = repr(pipeline)
    if len(stages) > 1:
        text = f"({text})"
    return PushTarget(stages, sink, f"{text}.as_target({target_label(sink)})")


def _refusal(node: _nodes.Node) -> str | None:
    """Why *node* cannot run in a push pipeline, or None when it can."""
    if type(node) in _FN_STAGES or isinstance(
        node, _nodes.Flatten | _nodes.Observe | _nodes.Catch | _nodes._StepNode
    ):
        fn = node.user_fn
        if is_async_fn(fn) or is_async_source(fn):
            return "it calls an async function, which send() cannot await"
        return None
    if isinstance(node, _nodes.ConcurrentMap):
        return "it runs its calls on a pool of workers, which send() cannot wait for"
    if isinstance(node, _nodes.Buffer):
        return "it runs everything before it in a thread of its own"
    if isinstance(node, _nodes.TimedBatch):
        return (
            "its `timeout` needs a clock, and a push target runs only when it is sent an "
            "item (batch(size) without `timeout` can)"
        )
    if isinstance(node, _nodes.Throttle):
        return "it waits between items"
    if isinstance(node, _nodes.Chain | _nodes.Zip):
        return "it reads other iterables, and a push target only receives"
    if isinstance(node, _nodes.Retry):
        return "no stage comes before it to retry"
    return "it has no push form"


class PushTarget(Generic[T_contra]):
    """A push pipeline: what ``pipeline.as_target(sink)`` returns (see there).

    Each item sent runs through the stages in this thread, and what comes out is sent to
    the sink. An error in a stage propagates with the stage note of pull
    (``hosepipe: in stage 2 map(parse), item index 5``, counting the pipeline's stages)
    after the sink was closed; the target is then closed too. ``closed`` says whether it
    has ended; ``stopped`` whether it wants no input at all (``take(0)``).

    >>> import hosepipe as hp
    >>> @coroutine
    ... def printer():
    ...     while True:
    ...         print((yield))
    >>> t = (hp.map(int) | hp.filter(lambda x: x > 0)).as_target(printer())
    >>> t
    (map(int) | filter(<lambda>)).as_target(printer)
    >>> t.send("-1"); t.send("2")
    2
    >>> t.closed, t.stopped
    (False, False)
    >>> t.close(); t.closed
    True
    """

    __slots__ = (
        "_dead",
        "_dead_sinks",
        "_flushers",
        "_head",
        "_open",
        "_sink",
        "_stopped",
        "label",
    )

    def __init__(self, stages: tuple[_nodes.Node, ...], sink: Target[Any], label: str) -> None:
        for pos, node in enumerate(stages, start=1):
            reason = _refusal(node)
            if reason is not None:
                raise TypeError(
                    f"as_target(): stage {pos} {node.label} cannot run in a push pipeline: "
                    f"{reason}. Put it in the stream that feeds the target instead: "
                    f"stream.{node.OP}(...).into(target)"
                )
        self.label = label
        self._sink = sink
        self._open = True
        self._dead: dict[int, SinkWriter[Any, Any]] = {}
        self._dead_sinks: list[Any] = []
        guards = guards_of(stages)
        down: Callable[[Any], None] = _sink_stage(sink.send, len(stages) + 1, target_label(sink))
        flushers: list[tuple[int, Callable[[], None]]] = []
        stopped: int | None = None
        for pos in range(len(stages), 0, -1):
            node = stages[pos - 1]
            caught = self._guard(guards[pos], node.label)
            if isinstance(node, _nodes._StepNode):
                step = make_step(node)
                if step.done:
                    stopped = pos
                down, flush = _step_stage(step, down, pos, node.label, caught)
                flushers.append((pos, flush))
            elif isinstance(node, _nodes.Flatten):
                down = _flat_stage(iter, down, pos, node.label, caught)
            elif isinstance(node, _nodes._FnNode):
                fn = bind(node.fn)
                make = _FN_STAGES[type(node)]
                down = make(fn, down, pos, node.label, caught)
            # observe and catch pass items on as they are
        flushers.reverse()
        self._head = down
        self._flushers = flushers
        self._stopped = stopped

    def __repr__(self) -> str:
        return self.label

    @property
    def closed(self) -> bool:
        """True once the target was closed, failed, or a stage said it is done."""
        return not self._open

    @property
    def stopped(self) -> bool:
        """True when a stage wants no input at all (``take(0)``): the first send ends it."""
        return self._open and self._stopped is not None

    def send(self, item: T_contra, /) -> None:
        """Run *item* through the stages; raise ``StopIteration`` once the target has ended.

        >>> import hosepipe as hp
        >>> got = []
        >>> @coroutine
        ... def collect():
        ...     while True:
        ...         got.append((yield))
        >>> t = hp.take(2).as_target(collect())
        >>> t.send("a")
        >>> t.send("b")
        Traceback (most recent call last):
        ...
        StopIteration
        >>> got, t.closed
        (['a', 'b'], True)
        """
        if not self._open:
            raise StopIteration
        if self._stopped is not None:
            self._finish(self._stopped)
            raise StopIteration
        try:
            self._head(item)
        except _Stop as s:
            self._finish(s.pos)
            raise StopIteration from None
        except BaseException as exc:
            self._open = False
            self._release(exc)
            raise

    def close(self) -> None:
        """Flush what the stages hold back into the sink, then close the sink (once).

        >>> import hosepipe as hp
        >>> got = []
        >>> @coroutine
        ... def collect():
        ...     try:
        ...         while True:
        ...             got.append((yield))
        ...     finally:
        ...         got.append("closed")
        >>> t = hp.batch(2).as_target(collect())
        >>> t.send(1); t.close(); t.close()
        >>> got
        [[1], 'closed']
        """
        if self._open:
            self._finish(self._stopped or 0)

    # -- inside --------------------------------------------------------------------------

    def _finish(self, start: int) -> None:
        """Flush the steps at position *start* and after into the sink, then close it."""
        self._open = False
        try:
            for pos, flush in self._flushers:
                if pos >= start:
                    try:
                        flush()
                    except _Stop as s:  # a step further on is done: skip those before it
                        start = s.pos
        except BaseException as exc:
            self._release(exc)
            raise
        self._release(None)

    def _release(self, in_flight: BaseException | None) -> None:
        """Close the sink and commit the dead-letter sinks; errors go on *in_flight*."""
        raised: Exception | None = None
        try:
            _close_target(self._sink, f"the sink {target_label(self._sink)}", in_flight)
        except Exception as e:
            raised = in_flight = e
        for sink in self._dead_sinks:
            try:
                writer = self._dead.pop(id(sink), None) or sink.open()
                writer.commit()
            except Exception as e:
                if in_flight is None:
                    raised = in_flight = e
                else:
                    in_flight.add_note(f"{NOTE_PREFIX}committing {sink.label} failed too: {e!r}")
        self._dead_sinks = []
        if raised is not None:
            raise raised

    def _guard(
        self, guards: tuple[_nodes.Catch, ...], label: str
    ) -> Callable[[Exception, Any], bool] | None:
        """For a stage guarded by *guards*: a function that handles a caught error."""
        if not guards:
            return None
        for node in guards:
            if isinstance(node.dead_letter, SinkBase) and node.dead_letter not in self._dead_sinks:
                self._dead_sinks.append(node.dead_letter)

        def writer_for(sink: SinkBase[Any, Any]) -> Any:  # opened at the first bad item
            writer = self._dead.get(id(sink))
            if writer is None:
                writer = self._dead[id(sink)] = sink.open()
            return writer

        def caught(exc: Exception, item: Any) -> bool:
            return catch_error(guards, exc, item, label, writer_for)

        return caught


def _fn_stage(op: str) -> Callable[[Callable[[Any], Any], Down, int, str, Caught], Down]:
    """The stage builder for ``map``, ``filter`` or ``tap``: call *fn*, note or skip its
    error, then pass on the result (map), the item if the result is true (filter), or
    the item (tap)."""

    def build(fn: Callable[[Any], Any], down: Down, pos: int, label: str, caught: Caught) -> Down:
        n = 0

        def stage(x: Any) -> None:
            nonlocal n
            n += 1
            try:
                y = fn(x)
            except Exception as e:
                if caught is not None and caught(e, x):
                    return
                add_stage_note(e, pos, label, n - 1)
                raise
            if op == "map":
                down(y)
            elif op == "tap" or y:
                down(x)

        return stage

    return build


def _flat_stage(fn: Callable[[Any], Any], down: Down, pos: int, label: str, caught: Caught) -> Down:
    """flat_map (*fn*) and flatten (``iter``): errors while iterating belong to the stage."""
    n = 0

    def stage(x: Any) -> None:
        nonlocal n
        n += 1
        try:
            it: Iterator[Any] = iter(fn(x))
        except Exception as e:
            if caught is not None and caught(e, x):
                return
            add_stage_note(e, pos, label, n - 1)
            raise
        try:
            while True:
                try:
                    y = next(it)
                except StopIteration:
                    return
                except Exception as e:
                    if caught is not None and caught(e, x):
                        return
                    add_stage_note(e, pos, label, n - 1)
                    raise
                down(y)
        finally:  # stopped early (take downstream, an error): close a generator at once
            close = getattr(it, "close", None)
            if close is not None:
                close()

    return stage


_FN_STAGES: dict[type, Callable[[Callable[[Any], Any], Down, int, str, Caught], Down]] = {
    _nodes.Map: _fn_stage("map"),
    _nodes.Filter: _fn_stage("filter"),
    _nodes.Tap: _fn_stage("tap"),
    _nodes.FlatMap: _flat_stage,
}


def _step_stage(
    step: _steps.Step[Any, Any], down: Down, pos: int, label: str, caught: Caught
) -> tuple[Down, Callable[[], None]]:
    """A stateful stage: its step's ``push`` per item, ``flush`` at the end.

    Its error handling has the shape of ``_fn_stage``'s on purpose: a shared helper would
    be one more call per item and stage on the push path."""
    push = step.push
    n = 0

    def stage(x: Any) -> None:
        nonlocal n
        n += 1
        try:
            out = push(x)
        except Exception as e:
            if caught is not None and caught(e, x):
                return
            add_stage_note(e, pos, label, n - 1)
            raise
        for y in out:
            down(y)
        if step.done:
            raise _Stop(pos)

    def flush() -> None:
        try:
            out = step.flush()
        except Exception as e:
            add_stage_note(e, pos, label, None)
            raise
        for y in out:
            down(y)

    return stage, flush


def _sink_stage(send: Callable[[Any], object], pos: int, name: str) -> Down:
    n = 0

    def stage(x: Any) -> None:
        nonlocal n
        n += 1
        try:
            send(x)
        except StopIteration:
            raise _Stop(pos) from None
        except Exception as e:
            if not has_note(e):
                e.add_note(f"{NOTE_PREFIX}in the sink {name}, item index {n - 1}")
            raise

    return stage
