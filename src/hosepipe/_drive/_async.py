"""The async driver: a stream with an async source or ``async def`` stages, run on asyncio.

``ARun`` interprets the same nodes as the sync driver, one async generator per stage (no
code generation: an ``await`` per stage is the cost of async anyway). Element-wise stages
call plain functions directly and await ``async def`` ones; stateful stages drive the same
I/O-free step objects (``_steps``) as the sync driver; ``throttle`` sleeps with
``asyncio.sleep``; ``map(async_fn, concurrency=N)`` keeps at most N tasks in flight, owned
by the iteration: a failure cancels the others and is raised with its own type (an
``ExceptionGroup`` only when several failed at once), and closing the iteration cancels and
awaits every task, so no task outlives it. Sync functions with ``concurrency`` run in
threads (``asyncio.to_thread``).

``BridgeRun`` runs an ``ARun`` from synchronous code (``for``, ``to_list()``) on an event
loop of its own; inside a running loop it refuses with a message that says what to use.

Counting is per stage and per item (each stage's generator counts what it takes and
gives), in closure cells that a view of the stage (``Run._views``) reads, so ``stats()``
shows the counts as they are now while the run goes, from any thread, at no cost per item;
errors get the same notes as in the sync driver. Closing (``aclose``) closes every
stage's generator and the source, downstream first, then does what ``Run.close`` does.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator, Sequence

from hosepipe import _nodes
from hosepipe._callables import fn_name, is_async_fn, is_async_source
from hosepipe._channel import Channel, ChannelClosed, EndOfChannel
from hosepipe._drive._sync import END, Run, _catch, _chain_opener
from hosepipe._errors import HosepipeError, add_stage_note, has_note
from hosepipe._retry import Retrying
from hosepipe._steps._make import make_step
from hosepipe._typing import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncio
    from typing import Any

    from hosepipe._source import Source

__all__ = ["ARun", "BridgeRun", "is_async_stream", "reads_async"]


def is_async_stream(source: object, nodes: tuple[_nodes.Node, ...]) -> bool:
    """Whether a stream needs the async driver: an async source or an async stage."""
    if is_async_source(source):
        return True
    for node in nodes:
        fn = getattr(node, "fn", None)
        if fn is not None and is_async_fn(fn):
            return True
        for other in getattr(node, "others", ()):
            if is_async_source(getattr(getattr(other, "_source", None), "obj", other)):
                return True
    return False


def reads_async(source: Source, nodes: tuple[_nodes.Node, ...]) -> bool:
    """Whether a stream, read from async code, runs on the async driver: it needs it, or
    it has a stage that waits (``buffer``, a timed ``batch``, a concurrent ``map``,
    ``throttle``) or a fan-out/fan-in source, which the async driver awaits instead of
    blocking the event loop. Other plain streams run their compiled stages inline."""
    if source.has_async_form():
        return True
    if any(node.KIND in ("thread", "pace") for node in nodes):
        return True
    return is_async_stream(source.obj, nodes)


class ARun(Run):
    """One run of a stream on asyncio (see the module documentation)."""

    __slots__ = ()
    # read a source that has both forms (broadcast, merge) in its async form: its
    # producers are then tasks on this loop, or threads it awaits without blocking
    DUAL = True

    # -- iteration ------------------------------------------------------------------------

    def aiterator(self) -> AsyncIterator[Any]:
        """An async generator over the items; ``aclose()`` it to release everything."""
        return self._outer(self._layers())

    def _layers(self) -> AsyncIterator[Any]:
        """The stages' async generators, each over the one before; the last one returned.

        Runs of element-wise stages (map, filter, tap, observe, catch) share one generated
        layer (``_fused``); a run at the start reads an async source directly.
        """
        for pos, node in enumerate(self.nodes, start=1):
            if isinstance(node, _nodes._StepNode) and is_async_fn(node.user_fn):
                raise HosepipeError(
                    f"stage {pos} {node.label}: an `async def` function is accepted by map, "
                    "filter, flat_map and tap (and a concurrent map); here it must be a plain "
                    "function"
                )
        cut = self._offload_point()
        groups: list[list[tuple[int, _nodes.Node]]] = []
        for pos, node in enumerate(self.nodes[cut + 1 :], start=cut + 2):
            fusable = isinstance(node, _FUSABLE)
            if fusable and groups and _fusable(groups[-1]):
                groups[-1].append((pos, node))
            else:
                groups.append([(pos, node)])
        raw = None
        if cut >= 0:  # the sync stages before a buffer run in its thread (sync driver)
            sync_up = _chain_opener(self, self._build(None, None, None, upto=cut))
            buffer = self._background(cut + 1, self.nodes[cut], None, sync_up)
            up: AsyncIterator[Any] = self._opened_async(buffer)
        else:
            raw = self.source.aopen(self.DUAL) if groups and _fusable(groups[0]) else None
            if raw is not None:
                self._start()
                up = self._opened_async(raw.__aiter__())
            else:
                up = self._opened_async(self._source_layer())
        for group in groups:
            if _fusable(group):
                up = self._opened_async(self._fused(group, up, reads_source=raw is not None))
                raw = None
            else:
                pos, node = group[0]
                up = self._opened_async(self._layer(pos, node, up))
        return up

    def _offload_point(self) -> int:
        """The index of the last ``buffer`` or timed ``batch`` whose upstream is all sync (a
        sync source, no ``async def`` stage), or -1: that upstream runs in a thread."""
        nodes = self.nodes
        if self.DUAL and self.source.has_async_form():
            return -1
        for k in range(len(nodes) - 1, -1, -1):
            if isinstance(nodes[k], _nodes.Buffer | _nodes.TimedBatch) and not is_async_stream(
                self.source.obj, nodes[:k]
            ):
                return k
        return -1

    async def aexecute(
        self, terminal: str, fn: Any = None, init: Any = None, label: str | None = None
    ) -> Any:
        """Run into a terminal, as ``Run.execute`` does (same terminal names)."""
        self.term_label = label
        acc: Any = [] if terminal == "list" else 0 if terminal == "count" else init
        index = -1
        it = self._layers()
        try:
            async for item in it:
                index += 1
                if terminal == "drain":
                    continue
                if terminal == "first":
                    return item
                try:
                    if terminal == "count":
                        acc += 1
                    elif terminal == "sum":
                        acc = acc + item
                    elif terminal == "list":
                        acc.append(item)
                    elif terminal == "call":
                        got = fn(item)
                        if is_async_fn(fn):
                            await got
                    elif terminal == "reduce":
                        acc = fn(acc, item)
                    elif terminal == "reduce1":
                        acc = item if acc is END else fn(acc, item)
                except Exception as e:
                    if not has_note(e):
                        name = label or f"{terminal}({fn_name(fn) if fn else ''})"
                        e.add_note(f"hosepipe: in the terminal {name}, item index {index}")
                    raise
            return acc
        finally:
            await self.aclose()

    # -- closing --------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Close every async generator the run opened (downstream first), then the rest."""
        first: BaseException | None = None
        closables, self._closables = self._closables, []
        rest = []
        for it in reversed(closables):  # registered as opened: upstream first
            aclose = getattr(it, "aclose", None)
            if aclose is None:
                rest.append(it)
                continue
            try:
                await aclose()
            except BaseException as e:
                first = first or e
        self._closables = rest[::-1]
        self.close(first)  # the rest, dead letters, and the error rules

    # -- assembly -------------------------------------------------------------------------

    def _opened_async(self, it: AsyncIterator[Any]) -> AsyncIterator[Any]:
        self._closables.append(it)
        return it

    async def _outer(self, up: AsyncIterator[Any]) -> AsyncIterator[Any]:
        try:
            async for item in up:
                yield item
        finally:
            await self.aclose()

    async def _source_layer(self) -> AsyncIterator[Any]:
        counter = self.counters[0]
        made = self.source.aopen(self.DUAL)
        if made is not None:
            it = made.__aiter__()
            self._opened_async(it)
            self._start()
            n = 0
            while True:
                try:
                    item = await it.__anext__()
                except StopAsyncIteration:
                    break
                except Exception as e:
                    add_stage_note(e, 0, counter.label, n)
                    raise
                n += 1
                counter.items_out = n
                yield item
            return
        sync_it = self._open_source()  # a sync source, read inline
        n = 0
        while True:
            try:
                item = next(sync_it)
            except StopIteration:
                break
            except Exception as e:
                add_stage_note(e, 0, counter.label, n)
                raise
            n += 1
            counter.items_out = n
            yield item

    def _layer(self, pos: int, node: _nodes.Node, up: AsyncIterator[Any]) -> AsyncIterator[Any]:
        if isinstance(node, _nodes.ConcurrentMap):
            if node.via == "process":
                return self._processes(pos, node, up)
            return self._concurrent(pos, node, up)
        if isinstance(node, _nodes.Throttle):
            return self._throttle(pos, node, up)
        if isinstance(node, _nodes.Buffer | _nodes.TimedBatch):
            return self._background(pos, node, up)
        if isinstance(node, _nodes.Chain | _nodes.Zip):
            return self._join(pos, node, up)
        if isinstance(node, _nodes._StepNode):
            return self._step(pos, node, up)
        return self._flat(pos, node, up)

    def _fused(
        self, group: list[tuple[int, _nodes.Node]], up: AsyncIterator[Any], reads_source: bool
    ) -> AsyncIterator[Any]:
        """One generated async generator for a run of element-wise stages."""
        ops = []
        fns = []
        for pos, node in group:
            fn = self._bind(pos, getattr(node, "fn", None))
            if isinstance(fn, Retrying):
                ops.append((node.OP, True))
                fns.append(_async_retry(fn))
            else:
                ops.append((node.OP, fn is not None and is_async_fn(fn)))
                fns.append(fn)
        make = _fused_factory(tuple(ops), reads_source)
        positions = tuple(pos for pos, _ in group)
        counters = self.counters

        def publish(
            stages: Sequence[Any], n: int, drops: tuple[int, ...], failed: int, at: int
        ) -> None:
            """Write the stages' in/out: *n* items read, *drops* per stage; the item that
            failed at stage *failed*, or is still at stage *at* (an await), went no further."""
            if reads_source:
                stages[0].items_out = n
            for j, (pos, dropped) in enumerate(zip(positions, drops)):
                stages[pos].items_in = n
                n = max(0, n - dropped - (j in (failed, at)))
                stages[pos].items_out = n

        def set_counts(n: int, drops: tuple[int, ...], failed: int) -> None:
            publish(counters, n, drops, failed, -1)

        def note_source(exc: BaseException, n: int) -> None:
            add_stage_note(exc, 0, counters[0].label, n)

        layer, counts = make(up, tuple(fns), positions, self._fail, note_source, set_counts)
        # live: stats() reads the layer's counters (closure cells) as they are now
        self._views.append(lambda stages: publish(stages, *counts()))
        return layer  # type: ignore[no-any-return]

    def _fail(self, pos: int, exc: Exception, item: Any, index: int) -> bool:
        """True if a catch skips *exc*; else it gets the stage note (to be raised)."""
        guards = self.guards[pos]
        if guards and _catch(self, guards, pos, exc, item):
            return True
        add_stage_note(exc, pos, self.counters[pos].label, index)
        return False

    def _live(self, pos: int, counts: Callable[[], tuple[int, int]]) -> None:
        """Show stage *pos*'s (items in, items out) from *counts* in ``stats()`` while it
        runs: a function reading the stage's own counters (closure cells of its generator,
        so counting costs what it did). It gives the final counts too once the stage ends,
        as its counter then does, so a ``stats()`` at any moment is consistent."""

        def view(stages: list[Any]) -> None:
            stage = stages[pos]
            stage.items_in, stage.items_out = counts()

        self._views.append(view)

    async def _flat(
        self, pos: int, node: _nodes.Node, up: AsyncIterator[Any]
    ) -> AsyncIterator[Any]:
        """``flat_map`` and ``flatten`` (the other element-wise stages run in ``_fused``):
        the items of each result, a sync or async iterable, read inside the stage."""
        counter = self.counters[pos]
        fn = self._bind(pos, getattr(node, "fn", None))  # None: flatten
        is_async = fn is not None and is_async_fn(fn)
        call = fn
        if isinstance(fn, Retrying):  # retried with asyncio.sleep between attempts
            call, is_async = _async_retry(fn), True
        n_in = n_out = 0
        self._live(pos, lambda: (n_in, n_out))
        try:
            async for item in up:
                n_in += 1
                try:
                    got = item if call is None else call(item)
                    if is_async:
                        got = await got
                    got = [x async for x in got] if hasattr(got, "__aiter__") else list(got)
                except Exception as e:
                    if self._fail(pos, e, item, n_in - 1):
                        continue
                    raise
                for x in got:
                    n_out += 1
                    yield x
        finally:
            counter.items_in, counter.items_out = n_in, n_out

    async def _step(
        self, pos: int, node: _nodes._StepNode, up: AsyncIterator[Any]
    ) -> AsyncIterator[Any]:
        counter = self.counters[pos]
        step = make_step(node)
        n_in = n_out = 0
        self._live(pos, lambda: (n_in, n_out))
        try:
            async for item in up:
                n_in += 1
                try:
                    outs = step.push(item)
                except Exception as e:
                    if self._fail(pos, e, item, n_in - 1):
                        continue
                    raise
                for out in outs:
                    n_out += 1
                    yield out
                if step.done:
                    break
            for out in step.flush():
                n_out += 1
                yield out
        finally:
            counter.items_in, counter.items_out = n_in, n_out

    async def _background(
        self,
        pos: int,
        node: _nodes.Node,
        up: AsyncIterator[Any] | None,
        sync_up: Callable[[], Iterator[Any]] | None = None,
    ) -> AsyncIterator[Any]:
        """``buffer(size)`` and ``batch(size, timeout=)``: the upstream runs on its own.

        The upstream sends into a ``Channel`` of *size* items (it waits while the channel is
        full: backpressure): an async upstream (*up*) from a task, or a sync one
        (*sync_up*, the sync driver's runners for the stages before this one, over a sync
        source) from a thread, so a blocking source or blocking stages do not hold up the
        event loop. The consumer awaits what arrives, and for a timed batch flushes the
        partial batch when nothing came for *timeout* seconds. An upstream error reaches
        the consumer after the items sent before it. When the consumer stops, the channel
        is closed for receiving (the producer stops at its next send), and the task is
        cancelled or the thread joined (awaited, not blocking the loop).
        """
        import asyncio

        from hosepipe._drive._sync import _Background

        counter = self.counters[pos]
        if isinstance(node, _nodes.TimedBatch):
            size, timeout = node.size, node.timeout
        else:
            assert isinstance(node, _nodes.Buffer)
            size, timeout = node.size, None
        task = None
        background = None
        if sync_up is not None:
            background = _Background(sync_up, size, f"hosepipe {node.label}")
            channel = background.channel_started()
        else:
            assert up is not None
            channel = Channel(size)
            task = asyncio.ensure_future(_produce(up, channel))
        counter.queue = channel.statistics
        step = _steps_batch(size) if timeout is not None else None
        clock = time.monotonic
        last = 0.0
        n_out = 0
        try:
            while True:
                wait = None if step is None or not step.buf else max(0.0, last + timeout - clock())  # type: ignore[operator]
                try:
                    item = await channel.areceive(wait)
                except TimeoutError:
                    for batch in step.flush():  # type: ignore[union-attr]
                        n_out += 1
                        yield batch
                    continue
                except EndOfChannel:
                    break
                if step is None:
                    n_out += 1
                    counter.items_out = n_out  # live; items in: the upstream's items out
                    yield item
                    continue
                last = clock()
                for batch in step.push(item):
                    n_out += 1
                    counter.items_out = n_out
                    yield batch
            if step is not None:
                for batch in step.flush():
                    n_out += 1
                    yield batch
        finally:
            for wrapper in self._retrying.values():  # a retry waiting upstream gives up
                wrapper.stop()
            channel.close_receive()
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
            if background is not None:
                await join_thread(background.thread)
            counter.items_out = n_out

    async def _throttle(
        self, pos: int, node: _nodes.Throttle, up: AsyncIterator[Any]
    ) -> AsyncIterator[Any]:
        import asyncio

        counter = self.counters[pos]
        step = make_step(node)
        clock = asyncio.get_running_loop().time
        n = 0
        self._live(pos, lambda: (n, n))
        try:
            async for item in up:
                wait = step.wait(clock())
                if wait:
                    await asyncio.sleep(wait)
                step.passed(clock())
                n += 1
                yield item
        finally:
            counter.items_in = counter.items_out = n

    async def _join(
        self, pos: int, node: _nodes._JoinNode, up: AsyncIterator[Any]
    ) -> AsyncIterator[Any]:
        counter = self.counters[pos]
        others = [self._open_other(o) for o in node.others]
        n_in = n_out = 0
        self._live(pos, lambda: (n_in, n_out))
        try:
            if isinstance(node, _nodes.Chain):
                async for item in up:
                    n_in += 1
                    n_out += 1
                    yield item
                for other in others:
                    async for item in other:
                        n_out += 1
                        self._appended[pos] = n_out - n_in  # stats() derives the counts
                        yield item
                return
            while True:
                try:
                    row = [await up.__anext__()]
                    n_in += 1
                    for other in others:
                        row.append(await other.__anext__())
                except StopAsyncIteration:
                    return
                n_out += 1
                yield tuple(row)
        finally:
            counter.items_in, counter.items_out = n_in, n_out

    def _open_other(self, other: object) -> AsyncIterator[Any]:
        """An async iterator over another stream or iterable, registered for closing."""
        aiter_ = getattr(other, "__aiter__", None)
        if aiter_ is not None:
            return self._opened_async(aiter_())
        return self._opened_async(_from_sync(self, iter(other)))  # type: ignore[call-overload]

    async def _concurrent(
        self, pos: int, node: _nodes.ConcurrentMap, up: AsyncIterator[Any]
    ) -> AsyncIterator[Any]:
        import asyncio

        from hosepipe._channel import Window

        counter = self.counters[pos]
        fn = self._bind(pos, node.fn)
        limit = node.concurrency
        # at most `limit` awaits running; finished results waiting for an older one (ordered)
        # may hold as many again, so a slow head does not idle the other slots
        window = Window(2 * limit)
        counter.queue = window.statistics
        executor = None
        init_error: list[BaseException] = []
        if is_async_fn(fn):
            call = _async_retry(fn) if isinstance(fn, Retrying) else fn
        else:  # a plain function: on *limit* threads of the stage's own
            executor, work = _thread_pool(fn, limit, node.initializer, counter.label, init_error)
            loop = asyncio.get_running_loop()

            def call(item: Any) -> Any:
                return loop.run_in_executor(executor, work, item)

        flat = node.flat

        async def one(item: Any) -> Any:
            got = await call(item)
            if flat:
                got = [x async for x in got] if hasattr(got, "__aiter__") else list(got)
            return got

        # in flight, in input order: task -> (item, index); finished tasks also queue up in
        # `finished` (a done callback), so a wake-up costs O(1), not a scan of every task
        tasks: dict[asyncio.Task[Any], tuple[Any, int]] = {}
        finished: deque[asyncio.Task[Any]] = deque()
        wake = asyncio.Event()

        running = [0]

        def on_done(task: asyncio.Task[Any]) -> None:
            running[0] -= 1
            finished.append(task)
            wake.set()

        n_in = n_out = 0
        self._live(pos, lambda: (n_in, n_out))
        exhausted = False
        clock = time.perf_counter
        try:
            while True:
                while not exhausted and running[0] < limit and len(tasks) < 2 * limit:
                    try:
                        item = await up.__anext__()
                    except StopAsyncIteration:
                        exhausted = True
                        break
                    task = asyncio.ensure_future(one(item))
                    task.add_done_callback(on_done)
                    running[0] += 1
                    tasks[task] = (item, n_in)
                    n_in += 1
                    window.enter()
                if not tasks:
                    return
                head = next(iter(tasks))
                if not finished and not (node.ordered and head.done()):
                    wake.clear()
                    if exhausted:
                        await wake.wait()
                    else:  # the window is full: the reader waits for a task to finish
                        started = clock()
                        await wake.wait()
                        window.waited(clock() - started)
                if init_error:  # an initializer failed: no call can run
                    add_stage_note(init_error[0], pos, counter.label, None)
                    raise init_error[0]
                errors = []
                ready = []
                while finished:
                    task = finished.popleft()
                    if task not in tasks:
                        continue
                    exc = task.exception()
                    if exc is None:
                        ready.append(task)
                        continue
                    item, index = tasks.pop(task)
                    window.leave()
                    if isinstance(exc, Exception) and self._fail(pos, exc, item, index):
                        continue  # skipped by a catch
                    add_stage_note(exc, pos, counter.label, index)
                    errors.append(exc)
                if len(errors) == 1:
                    raise errors[0]
                if errors:
                    raise BaseExceptionGroup(
                        f"{len(errors)} calls of stage {pos} {counter.label} failed at once",
                        errors,
                    )
                if node.ordered:  # the finished head, in input order
                    while tasks:
                        head = next(iter(tasks))
                        if not head.done():
                            break
                        if head.exception() is not None:  # done, its callback not run yet
                            finished.appendleft(head)
                            break
                        del tasks[head]
                        window.leave()
                        got = head.result()
                        for out in got if flat else (got,):
                            n_out += 1
                            yield out
                    continue
                for task in ready:  # unordered: as they finished
                    del tasks[task]
                    window.leave()
                    got = task.result()
                    for out in got if flat else (got,):
                        n_out += 1
                        yield out
        finally:
            stop = getattr(fn, "stop", None)
            if stop is not None:  # a retry waiting in a thread gives up
                stop()
            for task in tasks:
                task.cancel()
            if tasks:  # no task outlives the iteration
                await asyncio.gather(*tasks, return_exceptions=True)
            if executor is not None:  # nor a thread: a call still running is waited for
                executor.shutdown(wait=True, cancel_futures=True)
            counter.items_in, counter.items_out = n_in, n_out

    async def _processes(
        self, pos: int, node: _nodes.ConcurrentMap, up: AsyncIterator[Any]
    ) -> AsyncIterator[Any]:
        """``map(fn, concurrency=N, via="process")``: the sync driver's ``ChunkPool``, with
        the upstream read and the wait for a finished chunk awaited on the event loop."""
        import asyncio
        import time

        from hosepipe._channel import Window
        from hosepipe._drive._procpool import ChunkPool, window_size

        counter = self.counters[pos]
        loop = asyncio.get_running_loop()
        wake = asyncio.Event()

        def on_done() -> None:  # in the pool's thread, when a chunk finishes
            with contextlib.suppress(RuntimeError):  # the loop has closed: no one waits
                loop.call_soon_threadsafe(wake.set)

        counts = [0, 0, 0]  # in, out, retries
        retries = counter.retries

        def view(stages: list[Any]) -> None:  # live, and the same as the counter at the end
            stage = stages[pos]
            stage.items_in, stage.items_out = counts[0], counts[1]
            stage.retries = retries + counts[2]

        self._views.append(view)
        window = Window(window_size(node.concurrency))
        counter.queue = window.statistics
        pool: ChunkPool | None = None
        try:
            pool = self.chunk_pool(pos, node, counts, window, on_done)
            exhausted = False
            while True:
                while not exhausted and (size := pool.room()):
                    items: list[Any] = []
                    while len(items) < size:
                        try:
                            items.append(await up.__anext__())
                        except StopAsyncIteration:
                            exhausted = True
                            break
                    if not items:
                        break
                    pool.submit(items)
                if not pool.inflight:
                    pool.finished = True
                    return
                wake.clear()  # before the check: a chunk done after it sets it again
                if pool.waiting():
                    full = not pool.room()
                    started = time.perf_counter()
                    await wake.wait()
                    if full:  # the reader waited for a free slot
                        window.waited(time.perf_counter() - started)
                for out in pool.ready():
                    yield out
        except Exception as e:  # not an item's error (an initializer's): name the stage
            add_stage_note(e, pos, counter.label, None)
            raise
        finally:
            if pool is not None:
                pool.close()
            counter.items_in, counter.items_out = counts[0], counts[1]
            counter.retries = retries + counts[2]


def _thread_pool(
    fn: Callable[[Any], Any],
    size: int,
    initializer: Callable[[], object] | None,
    label: str,
    init_error: list[BaseException],
) -> tuple[Any, Callable[[Any], Any]]:
    """A thread pool of *size* threads for a plain function in an async concurrent map,
    and the function its threads run. An *initializer* runs once in each thread; its
    failure is kept in *init_error* (the stage raises it, not an item's error)."""
    import concurrent.futures as cf

    def init() -> None:
        try:
            if initializer is not None:
                initializer()
        except BaseException as e:
            e.add_note("hosepipe initializer: raised by the `initializer` of a pool worker")
            init_error.append(e)

    def work(item: Any) -> Any:
        if init_error:
            raise _InitializerFailed
        return fn(item)

    executor = cf.ThreadPoolExecutor(size, f"hosepipe {label}", init)
    return executor, work


class _InitializerFailed(Exception):
    """A call not made because the thread's initializer failed (the stage raises that)."""


async def _produce(up: AsyncIterator[Any], channel: Channel[Any]) -> None:
    """Send the items of *up* into *channel* until it ends, fails or the consumer goes."""
    try:
        async for item in up:
            await channel.asend(item)
        channel.close_send()
    except ChannelClosed:
        pass  # the consumer has gone
    except Exception as e:  # handed to the consumer, which raises it
        channel.close_send(e)


async def join_thread(thread: threading.Thread) -> None:
    """Wait for *thread* to end without blocking the event loop (it has been told to stop)."""
    import asyncio

    pause = 0.0005
    while thread.is_alive():
        await asyncio.sleep(pause)
        pause = min(pause * 2, 0.02)
    thread.join()


async def _from_sync(run: ARun, it: Iterator[Any]) -> AsyncIterator[Any]:
    try:
        for item in it:
            yield item
    finally:
        close = getattr(it, "close", None)
        if close is not None:
            close()


_FUSABLE = (_nodes.Map, _nodes.Filter, _nodes.Tap, _nodes.Observe, _nodes.Catch)


def _steps_batch(size: int) -> Any:
    from hosepipe import _steps

    return _steps.Batch(size)


def _fusable(group: list[tuple[int, _nodes.Node]]) -> bool:
    return isinstance(group[0][1], _FUSABLE)


_FUSED_CACHE: dict[tuple[tuple[tuple[str, bool], ...], bool], Callable[..., Any]] = {}


def _fused_factory(ops: tuple[tuple[str, bool], ...], reads_source: bool) -> Callable[..., Any]:
    """Compile a function making an async generator that runs *ops* ((op, is_async) pairs)
    per item, and a function returning its counts so far.

    The generated layer counts the items it reads (``n``) and, per stage, the items that
    stage dropped or a ``catch`` skipped (``d<j>``); ``set_counts`` turns them into each
    stage's in/out when the layer ends. The counters are closure cells, shared with the
    ``counts`` function that ``Run.stats()`` calls while the layer runs (a cell costs about
    what a local does, so live counts cost nothing per item); a layer with awaits also
    keeps in ``at`` the stage whose await the current item is in (-1: none), so a slow
    ``async def`` stage does not show its item as passed before it is. A failing call
    goes to ``fail`` (skip, or note and raise) with the item's index at that stage; an
    error from the source itself gets the source note.
    """
    key = (ops, reads_source)
    if key in _FUSED_CACHE:
        return _FUSED_CACHE[key]
    k = len(ops)
    awaits = any(is_async for _, is_async in ops)
    drops = ", ".join(f"d{j}" for j in range(k)) + ("," if k == 1 else "")
    cells = ", ".join(["n", "failed", *(f"d{j}" for j in range(k)), *(["at"] if awaits else [])])
    # what runs before the next item is read: after a skip, or the yield
    between = (["at = -1"] if awaits else []) + (["reading = True"] if reads_source else [])
    lines = [
        "def make(up, fns, positions, fail, note_source, set_counts):",
        "    n = 0",
        "    failed = -1",
        *(f"    d{j} = 0" for j in range(k)),
        *(["    at = -1"] if awaits else []),
        "    def counts():",
        f"        return n, ({drops}), failed, {'at' if awaits else '-1'}",
        "    async def layer():",
        f"        nonlocal {cells}",
        f"        {', '.join(f'f{j}' for j in range(k))}{',' if k == 1 else ''} = fns",
        f"        {', '.join(f'p{j}' for j in range(k))}{',' if k == 1 else ''} = positions",
        *(["        reading = True"] if reads_source else []),
        "        try:",
        "            try:",
        "                async for x in up:",
        *(["                    reading = False"] if reads_source else []),
        "                    n += 1",
    ]
    for j, (op, is_async) in enumerate(ops):
        if op in ("observe", "catch"):
            continue
        call = f"{'await ' if is_async else ''}f{j}(x)"
        index = "n - 1" + "".join(f" - d{i}" for i in range(j))
        body = {
            "map": [f"x = {call}"],
            "filter": [
                f"if not {call}:",
                f"    d{j} += 1",
                *(f"    {b}" for b in between),
                "    continue",
            ],
            "tap": [call],
        }[op]
        if is_async:
            lines.append(f"                    at = {j}")
        lines.append("                    try:")
        lines += [f"                        {b}" for b in body]
        lines += [
            "                    except Exception as e:",
            f"                        if fail(p{j}, e, x, {index}):",
            f"                            d{j} += 1",
            *(f"                            {b}" for b in between),
            "                            continue",
            f"                        failed = {j}",
            "                        raise",
        ]
    lines += [
        *(["                    at = -1"] if awaits else []),
        "                    yield x",
        *(["                    reading = True"] if reads_source else []),
        "            except Exception as e:",
        # only an error from reading the source itself gets the source note
        *(
            ["                if reading:", "                    note_source(e, n)"]
            if reads_source
            else []
        ),
        "                raise",
        "        finally:",
        *(["            at = -1"] if awaits else []),
        f"            set_counts(n, ({drops}), failed)",
        "    return layer(), counts",
    ]
    namespace: dict[str, Any] = {}
    exec(compile("\n".join(lines), f"<hosepipe async layer {ops}>", "exec"), namespace)
    made = namespace["make"]
    if len(_FUSED_CACHE) > 256:
        _FUSED_CACHE.clear()
    _FUSED_CACHE[key] = made
    return made  # type: ignore[no-any-return]


def _async_retry(wrapper: Retrying) -> Callable[[Any], Any]:
    """The async form of a ``Retrying`` wrapper: it waits with ``asyncio.sleep``, so a
    retry does not block the event loop (the function itself may be plain or async)."""
    inner_async = is_async_fn(wrapper.fn)

    async def call(item: Any) -> Any:
        import asyncio

        attempt = 1
        while True:
            try:
                got = wrapper.fn(item)
                if inner_async:
                    got = await got
                if wrapper.flat:  # consumed inside the attempt, as the sync wrapper does
                    got = [x async for x in got] if hasattr(got, "__aiter__") else list(got)
                return got
            except wrapper.types as e:
                wait = wrapper.next_wait(e, attempt)
                if wait is None:
                    raise
                await asyncio.sleep(wait)
                attempt += 1

    return call


class BridgeRun(ARun):
    """An ``ARun`` driven from synchronous code, on an event loop of its own."""

    __slots__ = ()
    DUAL = False  # the private loop lives for this run only: fan-out/in uses its threads

    def iterator(self) -> Iterator[Any]:
        return _drive(self)

    def execute(
        self, terminal: str, fn: Any = None, init: Any = None, label: str | None = None
    ) -> Any:
        loop = _private_loop()
        try:
            return _step(loop, self.aexecute(terminal, fn, init, label))
        finally:
            _close_loop(loop)


def _private_loop() -> asyncio.AbstractEventLoop:
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.new_event_loop()
    raise HosepipeError(
        "this stream has async stages or an async source, and a synchronous `for` or "
        "terminal would need an event loop of its own, but one is already running in this "
        "thread: use `async for item in stream`, `async with stream.aiterate()` or the async "
        "terminals (`await stream.ato_list()`, `await stream.arun()`, ...)"
    )


def _close_loop(loop: asyncio.AbstractEventLoop) -> None:
    try:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())  # to_thread's threads
    finally:
        loop.close()


def _step(loop: asyncio.AbstractEventLoop, coro: Any) -> Any:
    """Run *coro* on *loop* as a task; if this thread is interrupted (Ctrl-C), cancel the
    task and let it finish its cleanup before the interruption goes on (as asyncio.run)."""

    task = loop.create_task(coro)
    try:
        return loop.run_until_complete(task)
    except BaseException:
        if not task.done():
            task.cancel()
            with contextlib.suppress(BaseException):
                loop.run_until_complete(task)
        raise


def _drive(run: ARun) -> Iterator[Any]:
    """A sync generator over the run's items, each step run on a private event loop that
    opens at the first ``next()``; closing the generator closes the run and the loop."""
    loop = _private_loop()
    agen = run.aiterator()
    try:
        while True:
            try:
                item = _step(loop, agen.__anext__())
            except StopAsyncIteration:
                return
            yield item
    finally:
        try:
            _step(loop, agen.aclose())  # type: ignore[attr-defined]
        finally:
            _close_loop(loop)
