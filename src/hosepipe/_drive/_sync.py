"""The sync driver: turn a source and a tuple of nodes into an iterator, or run a terminal.

A run is split into *runners*, each an iterator over the one before it:

* a **segment** (``_fuse``): consecutive element-wise and stateful stages compiled into one
  loop; the first runner is always a segment (it reads, counts and times the source) and,
  when a terminal such as ``sum()`` is run, so is the last (the terminal is compiled into its
  loop);
* a **join runner**: ``chain`` or ``zip``, which read other streams too (over bare ranges
  and tuples, the C ``itertools.chain``/``zip`` itself, counted from length hints);
* a **pool runner**: ``map``/``flat_map`` with ``concurrency`` or ``via``, on threads
  (``_pool``) or worker processes (``_procpool``, imported at the first such run);
* a **background runner**: ``buffer`` and ``batch(timeout=)``, whose upstream runs in a
  thread of its own;
* a **throttle runner**, which waits before letting each item go.

Nothing is opened until the first item is pulled. The outermost runner owns the run: when it
finishes, fails or is closed, it closes every other runner, the other streams it joined and
the source, downstream first, at once (it does not wait for garbage collection).
"""

from __future__ import annotations

import contextlib
import itertools
import sys
import threading
import time
from collections.abc import Callable, Iterator
from itertools import islice
from operator import length_hint

from hosepipe import _nodes, _steps
from hosepipe._channel import Channel, ChannelClosed, EndOfChannel, Window
from hosepipe._drive._fuse import (
    INLINE_OPS,
    MAX_OPENERS,
    OPENER_OPS,
    Stop,
    compile_segment,
    item_var,
    stage_levels,
)
from hosepipe._drive._inline import inline_expression
from hosepipe._drive._pool import concurrent_map, window_size
from hosepipe._drive._procpool import ChunkPool, process_map
from hosepipe._drive._procpool import window_size as process_window_size
from hosepipe._drive._segment import Segment
from hosepipe._ends import SinkBase, commit_all, flush_before_acks
from hosepipe._errors import add_stage_note
from hosepipe._retry import Retrying
from hosepipe._source import Source
from hosepipe._steps._catch import catch_error, guards_of
from hosepipe._steps._make import bind, make_step, watcher
from hosepipe._typing import TYPE_CHECKING
from hosepipe.metrics._stats import RunStats, StageCounter, StageStats
from hosepipe.metrics._watch import Watch

if TYPE_CHECKING:
    from typing import Any

    from hosepipe.metrics._latency import Latency

    Opener = Callable[[], Iterator[Any]]
    # a direct join's upstream: its iterator, and the function giving its items left
    # (and the same for C blocks, which never read its last item: a zip not kept ended)
    Counted = Callable[[], tuple[Iterator[Any], Callable[[Any], int], Iterator[Any]]]

__all__ = ["END", "Run"]

END: Any = object()  # "no item": what first() and reduce1 return for an empty stream
_pc = time.perf_counter


class Run:
    """One run of a stream: its counters, the iterators it opened, and how to close them."""

    __slots__ = (
        "_appended",
        "_closables",
        "_dead",
        "_dead_hooks",
        "_known",
        "_retrying",
        "_views",
        "_watch",
        "counters",
        "guards",
        "latency",
        "nodes",
        "on_step",
        "source",
        "t_end",
        "t_start",
        "term_label",
    )

    def __init__(self, source: Source, nodes: tuple[_nodes.Node, ...]) -> None:
        self.source = source
        self.nodes = nodes
        self.counters = [StageCounter(0, source.label)] + [
            StageCounter(i + 1, n.label) for i, n in enumerate(nodes)
        ]
        self.guards = guards_of(nodes)
        self._closables: list[Any] = []
        self._dead: dict[int, Any] = {}  # id(sink) -> the open writer of a dead-letter sink
        self._dead_hooks: list[Any] = []  # their flushes, run before a broker source acks
        self._appended: dict[int, int] = {}  # chain position -> items it added after upstream
        self._retrying: dict[int, Retrying] = {}  # position -> this run's retry wrapper
        # the C iterators of direct joins, with the function giving their items left
        self._known: dict[int, tuple[Any, Callable[[Any], int], Any]] = {}
        # live counts of running runners, written over the frozen counters by stats()
        self._views: list[Callable[[list[StageStats]], None]] = []
        self._watch: Watch | None = None  # the thread ticking progress bars and observe logs
        self.latency: Latency | None = None  # sampled latency histograms, when exported
        self.term_label: str | None = None
        # called with (position, step) as the run makes each stateful stage's step: a
        # checkpointed run restores and keeps them (``_checkpoint``)
        self.on_step: Callable[[int, Any], None] | None = None
        self.t_start = 0.0
        self.t_end: float | None = None

    # -- public to the package --------------------------------------------------------

    def iterator(self) -> Iterator[Any]:
        """A generator over the stream's items; closing it closes the whole run."""
        return self._build(None, None, None)()  # type: ignore[no-any-return]

    def execute(
        self, terminal: str, fn: Any = None, init: Any = None, label: str | None = None
    ) -> Any:
        """Run the stream into a compiled terminal and return the terminal's value.

        Terminals: ``drain``, ``count`` (init 0), ``sum`` (init start), ``list``, ``call``
        (fn per item), ``reduce`` (fn, init), ``reduce1`` (fn; ``END`` if empty), ``first``
        (``END`` if empty). *label* names the terminal in error notes.
        """
        self.term_label = label
        return self._build(terminal, fn, init)()

    def stats(self) -> RunStats:
        """The counters so far: final once the run ended, a consistent recent snapshot while
        it runs (safe to call from any thread; fused loops publish their counts after each
        block, at least every ``LIVE_PERIOD`` seconds while items flow)."""
        end = self.t_end if self.t_end is not None else _pc()
        wall = end - self.t_start if self.t_start else 0.0
        stages = [c.freeze(wall) for c in self.counters]
        for view in tuple(self._views):
            view(stages)
        for pos, node in enumerate(self.nodes, start=1):
            if node.KIND in ("join", "pace") or isinstance(node, _nodes.Buffer | _nodes.TimedBatch):
                stage = stages[pos]
                stage.items_in = stages[pos - 1].items_out
                if isinstance(node, _nodes.Chain):
                    stage.items_out = stage.items_in + self._appended.get(pos, 0)
        for pos, wrapper in tuple(self._retrying.items()):
            stages[pos].retries = self.counters[pos].retries + wrapper.retries
        return RunStats(tuple(stages), wall)

    def close(self, first: BaseException | None = None) -> None:
        """Close every iterator the run opened, downstream first, then commit dead letters.

        Iterators register as they are opened, and each runner opens its upstream, so the
        order of registration is downstream first. That order matters for a runner whose
        upstream runs in a thread of its own (``buffer``): closing it stops and joins that
        thread before anything upstream is touched. The first error wins, after everything
        else was closed (*first*, if given: an error the async driver met closing its own).
        """
        closables, self._closables = self._closables, []
        for it in closables:
            close = getattr(it, "close", None)
            if close is not None:
                try:
                    close()
                except BaseException as e:  # re-raised below, after the rest are closed
                    first = first or e
        dead, self._dead = self._dead, {}
        failed = commit_all(dead.values())  # the bad records are kept however the run ended
        first = first or failed
        hooks, self._dead_hooks = self._dead_hooks, []
        for hook in reversed(hooks):  # registered in this thread (closed in another: gone)
            with contextlib.suppress(ValueError):
                hook.__exit__(None, None, None)
        if self.t_end is None:
            self.t_end = _pc()
        if self._watch is not None:  # progress bars and observe logs get the final counts
            watch, self._watch = self._watch, None
            watch.stop(ok=first is None and sys.exc_info()[1] is None)
        if first is None:
            return
        in_flight = sys.exc_info()[1]  # closing while an error propagates: keep that one
        if (
            in_flight is not None
            and in_flight is not first
            and not isinstance(in_flight, GeneratorExit)
        ):
            in_flight.add_note(f"hosepipe: closing the run failed too: {first!r}")
            return
        raise first

    # -- assembly ------------------------------------------------------------------------

    def _opened(self, it: Iterator[Any]) -> Iterator[Any]:
        self._closables.append(it)
        return it

    def _open_source(self) -> Iterator[Any]:
        self._start()
        return self._opened(self.source.open(self.counters[0].count_error))

    def _start(self) -> None:
        """The run starts: its clock, and its dead-letter sinks (opened with the run, so a
        run with no bad item still replaces what an earlier run left there)."""
        self.t_start = _pc()
        nodes = self.nodes
        watchers = [w for p, n in enumerate(nodes, 1) if (w := watcher(n, p, nodes)) is not None]
        if watchers:
            self._watch = Watch(self.stats, watchers, self.source.bytes_read())
        for guards in self.guards:
            for node in guards:
                sink = node.dead_letter
                if isinstance(sink, SinkBase) and id(sink) not in self._dead:
                    writer = self._dead[id(sink)] = sink.open()
                    hook = flush_before_acks(writer)  # a bad message is acked once written
                    hook.__enter__()
                    self._dead_hooks.append(hook)
        backlog = getattr(self.source.obj, "backlog", None)  # a broker source's unacked
        if callable(backlog):  # messages: the source row's queue in RunStats
            self.counters[0].queue = backlog

    def _build(
        self, terminal: str | None, fn: Any, init: Any, upto: int | None = None
    ) -> Callable[[], Any]:
        """Plan the runners and return the outermost one, not yet started.

        With *upto*, only the first *upto* stages are planned, and the last runner does not
        close the run when it ends (the async driver runs them in a thread, as the sync
        upstream of a ``buffer``; the run is closed by the async driver).
        """
        plan = _plan(self.nodes if upto is None else self.nodes[:upto], terminal is not None)
        direct = _directs(plan, self.source)
        if direct and direct[-1] == len(plan) - 1:  # a segment closes the run, not a C zip
            plan.append(("fuse", plan[-1][1] + 1, ()))
        opener: Opener = self._open_source
        counted: Counted | None = None  # the upstream of a direct join, and its items left
        last = len(plan) - 1
        for k, (kind, first_pos, nodes) in enumerate(plan):
            outer = k == last and upto is None
            if k + 1 in direct and k not in direct:  # a bare source read by a direct join
                counted = self._counted_source
                continue
            if k in direct:
                assert counted is not None
                counted = self._direct_join(first_pos, nodes[0], counted)
                if k + 1 not in direct:
                    opener = _known_opener(self, counted)
                continue
            if kind == "fuse":
                make = self._segment(
                    first_pos, nodes, opener, k == 0, outer, terminal if outer else None, fn, init
                )
            elif kind == "thread" and isinstance(nodes[0], _nodes.ConcurrentMap):
                make = self._pool_runner(first_pos, nodes[0], opener, outer)
            elif kind == "pace":
                make = self._throttle_runner(first_pos, nodes[0], opener, outer)
            elif kind == "thread":
                make = self._buffer_runner(first_pos, nodes[0], opener, outer)
            else:
                make = self._join_runner(first_pos, nodes[0], opener, outer)
            if k == last:
                return make
            opener = _chain_opener(self, make)
        raise AssertionError("a plan always has a runner")

    def _finish(self, outer: bool) -> None:
        if outer:
            self.close()

    def _segment(
        self,
        first_pos: int,
        nodes: tuple[_nodes.Node, ...],
        opener: Opener,
        reads_source: bool,
        outer: bool,
        terminal: str | None,
        fn: Any,
        init: Any,
    ) -> Callable[[], Any]:
        ops = tuple(_op(n) for n in nodes)
        positions = tuple(range(first_pos, first_pos + len(nodes)))
        guarded = tuple(bool(self.guards[p]) for p in positions)
        fns = tuple(self._bind(p, n.user_fn) for p, n in zip(positions, nodes))
        inlined, globals_ = _inline_all(ops, fns)
        compiled = compile_segment(ops, guarded, reads_source, terminal, inlined)
        seg = Segment(self, compiled, ops, positions, reads_source, outer, terminal, fn)
        # per stage: its function, or for a stateful stage a fresh step object for this run
        objs = tuple(
            self.make_step(p, n) if isinstance(n, _nodes._StepNode) else f
            for p, n, f in zip(positions, nodes, fns)
        )
        factory = compiled.factory(globals_)
        return factory(
            opener,
            seg.fail,
            seg.skip,
            seg.exit,
            islice,
            _pc,
            END,
            objs,
            fn,
            init,
            next,
            Exception,
            Stop,
            tuple,
            seg.live,
            self._known,
        )

    def _pool_runner(
        self, pos: int, node: _nodes.ConcurrentMap, opener: Opener, outer: bool
    ) -> Callable[[], Iterator[Any]]:
        """``map(fn, concurrency=N)`` on a thread pool (``_pool``) or worker processes
        (``_procpool``)."""
        counter = self.counters[pos]
        guards = self.guards[pos]
        run = self

        def on_error(exc: BaseException, item: Any, index: int) -> bool:
            if guards and isinstance(exc, Exception) and run.catch(guards, pos, exc, item):
                return True
            add_stage_note(exc, pos, node.label, index)
            return False

        def runner() -> Iterator[Any]:
            counts = [0, 0, 0]  # in, out, retries (in processes; threads share the wrapper)
            running = [True]

            def view(stages: list[StageStats]) -> None:
                if running[0]:
                    stage = stages[pos]
                    stage.items_in, stage.items_out = counts[0], counts[1]
                    stage.retries += counts[2]

            run._views.append(view)
            window = Window(
                process_window_size(node.concurrency)
                if node.via == "process"
                else window_size(node.concurrency)
            )
            try:
                if node.via == "process":
                    counter.queue = window.statistics
                    yield from process_map(opener(), run.chunk_pool(pos, node, counts, window))
                    return
                fn = run._bind(pos, node.fn)
                counter.queue = window.statistics
                yield from concurrent_map(
                    opener(),
                    fn,
                    concurrency=node.concurrency,
                    ordered=node.ordered,
                    flat=node.flat,
                    name=f"hosepipe {node.label}",
                    initializer=node.initializer,
                    on_error=on_error,
                    on_stop=getattr(fn, "stop", None),
                    counts=counts,
                    window=window,
                )
            except Exception as e:  # not an item's error (an initializer's): name the stage
                add_stage_note(e, pos, node.label, None)
                raise
            finally:
                counter.items_in, counter.items_out = counts[0], counts[1]
                counter.retries += counts[2]
                running[0] = False
                run._finish(outer)

        return runner

    def chunk_pool(
        self,
        pos: int,
        node: _nodes.ConcurrentMap,
        counts: list[int],
        window: Window,
        on_done: Callable[[], None] | None = None,
    ) -> ChunkPool:
        """The worker-process pool of stage *pos* (``via="process"``) for this run, in
        either driver: a failed call is skipped by the stage's ``catch`` or gets its note."""
        guards = self.guards[pos]

        def on_error(exc: BaseException, item: Any, index: int) -> bool:
            if guards and isinstance(exc, Exception) and self.catch(guards, pos, exc, item):
                return True
            add_stage_note(exc, pos, node.label, index)
            return False

        def note(exc: BaseException, index: int | None) -> None:
            add_stage_note(exc, pos, node.label, index)

        return ChunkPool(
            bind(node.fn),  # a retried function is pickled to the workers and called there
            concurrency=node.concurrency,
            ordered=node.ordered,
            flat=node.flat,
            label=node.label,
            initializer=node.initializer,
            shared=node.pool,
            guarded=bool(guards),
            on_error=on_error,
            note=note,
            counts=counts,
            window=window,
            on_done=on_done,
        )

    def _throttle_runner(
        self, pos: int, node: _nodes.Node, opener: Opener, outer: bool
    ) -> Callable[[], Iterator[Any]]:
        """``throttle(rate, per=)``: each item waits for its turn (``_steps.Throttle``)."""
        assert isinstance(node, _nodes.Throttle)
        counter = self.counters[pos]
        run = self

        def runner() -> Iterator[Any]:
            step = run.make_step(pos, node)
            clock, sleep = time.monotonic, time.sleep
            n = 0
            try:
                for item in opener():
                    wait = step.wait(clock())
                    if wait:
                        sleep(wait)
                    step.passed(clock())
                    n += 1
                    counter.items_out = n  # live (stats())
                    yield item
            finally:  # items in: the upstream's items out (stats())
                run._finish(outer)

        return runner

    def catch(self, guards: tuple[_nodes.Catch, ...], pos: int, exc: Exception, item: Any) -> bool:
        """Skip *item* if one of *guards* catches *exc*: count it, call the handler,
        dead-letter it."""
        counter = self.counters[pos]
        return catch_error(
            guards, exc, item, counter.label, lambda sink: self._dead[id(sink)], counter.count_error
        )

    def make_step(self, pos: int, node: _nodes.Node) -> Any:
        """This run's step object for the stateful stage *node* at *pos*."""
        step = make_step(node)
        if self.on_step is not None:
            self.on_step(pos, step)
        return step

    def _bind(self, pos: int, fn: Any) -> Any:
        """*fn*, or for a retried stage a wrapper of this run's own (its retries counted)."""
        fn = bind(fn)
        if isinstance(fn, Retrying):
            self._retrying[pos] = fn
        return fn

    def _buffer_runner(
        self, pos: int, node: _nodes.Node, opener: Opener, outer: bool
    ) -> Callable[[], Iterator[Any]]:
        """``buffer(size)`` and ``batch(size, timeout=...)``: the upstream runs in a thread.

        The thread starts at the first item asked for (``_Background``). For ``buffer`` the
        consumer yields what arrives; for a timed ``batch`` it also flushes the partial batch
        when no item arrived for ``timeout`` seconds. An upstream error reaches the consumer
        after the items already sent, with its original type and note.
        """
        counter = self.counters[pos]
        run = self
        if isinstance(node, _nodes.TimedBatch):
            size, timeout = node.size, node.timeout
        else:
            assert isinstance(node, _nodes.Buffer)
            size, timeout = node.size, None

        def runner() -> Iterator[Any]:
            background = _Background(opener, size, f"hosepipe {node.label}")
            counter.queue = background.channel.statistics
            n_out = 0
            try:
                if timeout is None:
                    for item in background.channel_started():
                        n_out += 1
                        counter.items_out = n_out  # live; items in: the upstream's items out
                        yield item
                    return
                for batch in _timed_batches(background.channel_started(), size, timeout):
                    n_out += 1
                    counter.items_out = n_out
                    yield batch
            finally:
                for wrapper in run._retrying.values():  # a retry waiting upstream gives up
                    wrapper.stop()
                background.stop()
                run._finish(outer)

        return runner

    def _counted_source(self) -> tuple[Iterator[Any], Callable[[Any], int], Iterator[Any]]:
        """The source's iterator for a direct join (a range or tuple iterator: it cannot
        raise and its length hint is exact), and the function giving its items left; its
        items read are written from that (``_JoinCounts``)."""
        it = self._open_source()
        counts = _JoinCounts(self, 0, (it,), "source")
        self._views.append(counts.view)
        self._closables.append(counts)
        return it, length_hint, it

    def _direct_join(self, pos: int, node: _nodes.Node, upstream: Counted) -> Counted:
        """``chain``/``zip`` as the C ``itertools.chain``/``zip`` over the input iterators,
        when every input is a bare range or tuple (``_directs``): no Python work per item.
        Counts come from the inputs' length hints, read when the run publishes or closes:
        a chain's items added, a zip's items out, each other stream's items read."""
        assert isinstance(node, _nodes._JoinNode)
        chain = isinstance(node, _nodes.Chain)
        run = self

        def make() -> tuple[Iterator[Any], Callable[[Any], int], Iterator[Any]]:
            up, up_left, _ = upstream()
            subs = [o._run() for o in node.others]  # type: ignore[attr-defined]
            its = tuple(sub._open_source() for sub in subs)
            for sub, it in zip(subs, its):  # each other stream's run: its items read
                sub_counts = _JoinCounts(sub, 0, (it,), "source", closes=sub)
                sub._views.append(sub_counts.view)
                run._closables.append(sub_counts)
            inputs = (up, *its)
            if chain:

                def left(_: Any) -> int:
                    return up_left(up) + sum(map(length_hint, its))

                joined: Iterator[Any] = itertools.chain(*inputs)
                bare = joined
            else:

                def left(_: Any) -> int:
                    return min(up_left(up), *map(length_hint, its))

                # in a chain, which stays ended: a zip asked again after it ended would
                # read its first input again (C blocks, which never end it, take it bare)
                bare = zip(*inputs)
                joined = itertools.chain(bare)
            counts = _JoinCounts(run, pos, its, "chain" if chain else "zip", left, joined)
            run._views.append(counts.view)
            run._closables.append(counts)
            return joined, left, bare

        return make

    def _join_runner(
        self, pos: int, node: _nodes.Node, opener: Opener, outer: bool
    ) -> Callable[[], Iterator[Any]]:
        assert isinstance(node, _nodes._JoinNode)
        counter = self.counters[pos]
        run = self
        others = node.others

        def chain() -> Iterator[Any]:
            appended = 0
            try:
                yield from opener()  # items in: the upstream's items out, as for zip
                for other in others:
                    for item in run._opened(iter(other)):
                        appended += 1
                        run._appended[pos] = appended  # live (stats())
                        yield item
            finally:
                run._finish(outer)

        def zip_() -> Iterator[Any]:
            n_out = 0
            try:
                it = opener()
                for row in zip(it, *[run._opened(iter(o)) for o in others]):
                    n_out += 1
                    counter.items_out = n_out  # live; items in: the upstream's items out
                    yield row
            finally:
                run._finish(outer)

        return chain if isinstance(node, _nodes.Chain) else zip_


class _JoinCounts:
    """The counts of a direct join (or of a source one reads), from length hints: written
    into the run's counters when the run closes (``close``) and over a snapshot while it
    runs (``view``). *what*: "source" (the items read from ``its[0]``), "chain" (the items
    the other streams added), "zip" (the tuples made: items at the start less items left).
    *closes*: an other stream's own run, closed with this one."""

    __slots__ = ("closes", "its", "joined", "left", "pos", "run", "start", "what")

    def __init__(
        self,
        run: Run,
        pos: int,
        its: tuple[Iterator[Any], ...],
        what: str,
        left: Callable[[Any], int] | None = None,
        joined: Any = None,
        closes: Run | None = None,
    ) -> None:
        self.run, self.pos, self.its, self.what = run, pos, its, what
        self.left, self.joined, self.closes = left, joined, closes
        self.start = self.counted() if what == "zip" else tuple(map(length_hint, its))

    def counted(self) -> Any:
        if self.what == "zip":
            assert self.left is not None
            return self.left(self.joined)
        return sum(a - length_hint(it) for a, it in zip(self.start, self.its))

    def count(self) -> int:
        n = self.counted()
        return int(self.start - n) if self.what == "zip" else int(n)

    def view(self, stages: list[StageStats]) -> None:
        n = self.count()
        if self.what == "chain":
            self.run._appended[self.pos] = n
        else:
            stages[self.pos].items_out = n

    def close(self) -> None:
        n = self.count()
        if self.what == "chain":
            self.run._appended[self.pos] = n
        else:
            self.run.counters[self.pos].items_out = n
        if self.closes is not None:
            self.closes.close()


class _Background:
    """A runner's upstream, run by a thread of its own into a bounded ``Channel``.

    When the consumer stops (``stop``), the channel is closed for receiving, so the
    producer's next ``send`` fails; the producer then closes its upstream in its own thread
    and ends, and ``stop`` joins it. An upstream blocked in a read delays that until the
    read returns.
    """

    __slots__ = ("channel", "opener", "thread")

    def __init__(self, opener: Opener, capacity: int, name: str) -> None:
        self.opener = opener
        self.channel: Channel[Any] = Channel(capacity)
        self.thread = threading.Thread(target=self._produce, name=name, daemon=True)

    def channel_started(self) -> Channel[Any]:
        self.thread.start()
        return self.channel

    def _produce(self) -> None:
        upstream = None
        try:
            upstream = self.opener()
            send = self.channel.send
            for item in upstream:
                send(item)
            self.channel.close_send()
        except ChannelClosed:
            pass  # the consumer has gone
        except BaseException as e:  # handed to the consumer, which re-raises it
            self.channel.close_send(e)
        finally:
            close = getattr(upstream, "close", None)
            if close is not None:
                close()

    def stop(self) -> None:
        self.channel.close_receive()
        if self.thread.is_alive():
            self.thread.join()


def _timed_batches(channel: Channel[Any], size: int, timeout: float) -> Iterator[list[Any]]:
    """Batches of *size* from *channel*; a partial one when no item came for *timeout* s."""
    step: _steps.Batch[Any] = _steps.Batch(size)
    last = 0.0
    while True:
        wait = None if not step.buf else max(0.0, last + timeout - time.monotonic())
        try:
            item = channel.receive(timeout=wait)
        except TimeoutError:
            yield from step.flush()
            continue
        except EndOfChannel:
            break
        last = time.monotonic()
        yield from step.push(item)
    yield from step.flush()


def _op(node: _nodes.Node) -> str:
    """The op the code generator knows *node* by (a window with step 1 has its own)."""
    if isinstance(node, _nodes.Window) and node.step == 1:
        return "window1"
    return node.OP


def _inline_all(
    ops: tuple[str, ...], fns: tuple[Any, ...]
) -> tuple[tuple[str | None, ...], dict[str, Any] | None]:
    """Per stage, the inlined expression or None; and the globals they all share."""
    globals_: dict[str, Any] | None = None
    inlined: list[str | None] = []
    for op, fn, level in zip(ops, fns, stage_levels(ops)):
        expr = None
        if op == "distinct" and fn is None:
            expr = item_var(level)  # no key: the item itself
        elif op in INLINE_OPS:
            fn_globals = getattr(fn, "__globals__", None)
            if globals_ is None or fn_globals is globals_:
                expr = inline_expression(fn, item_var(level))
                if expr is not None:
                    globals_ = fn_globals
        inlined.append(expr)
    return tuple(inlined), globals_


def _known_opener(run: Run, make: Counted) -> Opener:
    """The opener of the runner after a direct join: its C iterator, whose items left the
    next segment's C path reads from ``Run._known`` instead of a length hint."""

    def opener() -> Iterator[Any]:
        it, left, bare = make()
        run._known[id(it)] = (it, left, bare)
        return it

    return opener


def _exact(obj: Any) -> bool:
    """Whether *obj*, a source or a stream joined in, is a bare range or tuple: a run of it
    gives an iterator that cannot raise and whose length hint is exact."""
    source = getattr(obj, "_source", obj)
    if getattr(obj, "_stages", ()) or not isinstance(source, Source):
        return False
    return source.mode == "iterable" and type(source.obj) in (range, tuple)


def _directs(plan: list[tuple[str, int, tuple[_nodes.Node, ...]]], source: Source) -> list[int]:
    """The plan's joins that run as C ``chain``/``zip`` (``Run._direct_join``): their
    upstream is the bare exact source (an empty first segment) or a direct join, and every
    other stream they read is a bare range or tuple."""
    got: list[int] = []
    up = len(plan) > 1 and not plan[0][2] and _exact(source)
    for k, (kind, _pos, nodes) in enumerate(plan[1:], start=1):
        node = nodes[0] if nodes else None
        if not (up and kind == "join" and isinstance(node, _nodes._JoinNode)):
            break
        if not all(_exact(o) for o in node.others):
            break
        got.append(k)
    return got


def _chain_opener(run: Run, make: Callable[[], Any]) -> Opener:
    def opener() -> Iterator[Any]:
        return run._opened(make())

    return opener


def _plan(
    nodes: tuple[_nodes.Node, ...], terminal: bool
) -> list[tuple[str, int, tuple[_nodes.Node, ...]]]:
    """Split the nodes into runners: (kind, position of its first node, its nodes).

    Segments ("fuse") take every stage but joins; a join is a runner of its own. The first
    runner is a segment (it reads the source), and so is the last when a terminal is run.
    """
    plan: list[tuple[str, int, tuple[_nodes.Node, ...]]] = []
    group: list[_nodes.Node] = []
    group_pos = 1
    openers = 0
    for pos, node in enumerate(nodes, start=1):
        if node.KIND in ("fuse", "step"):
            if node.OP in OPENER_OPS:
                if openers == MAX_OPENERS:
                    plan.append(("fuse", group_pos, tuple(group)))
                    group, group_pos, openers = [], pos, 0
                openers += 1
            if not group:
                group_pos = pos
            group.append(node)
            continue
        if group or not plan:
            plan.append(("fuse", group_pos if group else pos, tuple(group)))
            group, openers = [], 0
        plan.append((node.KIND, pos, (node,)))
    if group or not plan or (terminal and plan[-1][0] != "fuse"):
        plan.append(("fuse", group_pos if group else len(nodes) + 1, tuple(group)))
    return plan
