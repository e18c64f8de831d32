"""The async driver's concurrent maps: ``map(fn, concurrency=N)`` with an ``async def``
function (N awaits in flight, on up to N worker tasks the iteration owns) or a plain one
(N threads of the stage's own), and ``via="process"`` (the sync driver's ``ChunkPool``,
awaited).

``ARun._layer`` calls these with itself; they use its counters, bound functions and error
rules (``Run._bind``, ``ARun._fail``, ``Run.chunk_pool``).
"""

from __future__ import annotations

import contextlib
import time
from collections import deque
from collections.abc import AsyncIterator, Callable

from hosepipe import _nodes
from hosepipe._callables import is_async_fn
from hosepipe._channel import Window
from hosepipe._errors import add_stage_note, stop_iteration_error
from hosepipe._retry import Retrying
from hosepipe._typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

    from hosepipe._drive._async import ARun

__all__ = ["async_retry", "concurrent", "processes"]


async def concurrent(
    run: ARun, pos: int, node: _nodes.ConcurrentMap, up: AsyncIterator[Any]
) -> AsyncIterator[Any]:
    import asyncio

    counter = run.counters[pos]
    fn = run._bind(pos, node.fn)
    limit = node.concurrency
    # at most `limit` awaits running; items read ahead and finished results waiting for an
    # older one (ordered) may hold as many again, so a slow head does not idle the other slots
    window = Window(2 * limit)
    counter.queue = window.statistics
    loop = asyncio.get_running_loop()
    executor = None
    init_error: list[BaseException] = []
    if is_async_fn(fn):
        call = async_retry(fn) if isinstance(fn, Retrying) else fn
    else:  # a plain function: on *limit* threads of the stage's own
        executor, work = _thread_pool(fn, limit, node.initializer, counter.label, init_error)

        def call(item: Any) -> Any:
            return loop.run_in_executor(executor, work, item)

    flat = node.flat
    ordered = node.ordered

    async def one(item: Any) -> Any:  # flat_map: the call's outputs, gathered
        got = await call(item)
        return [x async for x in got] if hasattr(got, "__aiter__") else list(got)

    start = one if flat else call

    # This generator reads the upstream into `pending` (in its own task: an upstream that
    # holds a context across its yields is always resumed by the same task); up to `limit`
    # workers take items from it and await the calls. A worker goes straight on to the next
    # pending item in the step its await ended in: no task per item, no loop turn between
    # one call and the next.
    pending: deque[tuple[Any, int]] = deque()
    idle: deque[asyncio.Future[None]] = deque()  # workers waiting for an item
    results: dict[int, Any] = {}  # ordered: index -> result, until the head reaches it
    finished: deque[Any] = deque()  # unordered: results as they finished
    failed: deque[tuple[BaseException, Any, int]] = deque()
    wake = asyncio.Event()  # set by a worker when there is something to pass on
    workers: list[asyncio.Task[None]] = []
    closing = False
    head = 0  # ordered: the index of the next result to pass on

    async def worker() -> None:
        while True:
            while not pending:
                waiter = loop.create_future()
                idle.append(waiter)
                await waiter
            item, index = pending.popleft()
            try:
                got = await start(item)
            except asyncio.CancelledError:
                if closing:
                    raise
                failed.append((asyncio.CancelledError(), item, index))  # raised by the call
                wake.set()
                continue
            except BaseException as exc:
                failed.append((exc, item, index))
                wake.set()
                continue
            if not ordered:
                finished.append(got)
                wake.set()
            else:
                results[index] = got
                if index == head:
                    wake.set()

    n_in = n_out = 0
    run._live(pos, lambda: (n_in, n_out))
    held = 0  # items read and not yet passed on: pending, running or finished
    exhausted = False
    clock = time.perf_counter
    try:
        while True:
            while not exhausted and held < 2 * limit and len(pending) < limit:
                try:
                    item = await up.__anext__()
                except StopAsyncIteration:
                    exhausted = True
                    break
                pending.append((item, n_in))
                n_in += 1
                held += 1
                window.enter()
                if idle:
                    waiter = idle.popleft()
                    if not waiter.done():
                        waiter.set_result(None)
                elif len(workers) < limit:
                    workers.append(asyncio.ensure_future(worker()))
            if init_error:  # an initializer failed: no call can run
                add_stage_note(init_error[0], pos, counter.label, None)
                raise init_error[0]
            if failed:
                errors = []
                while failed:
                    exc, item, index = failed.popleft()
                    if isinstance(exc, Exception) and run._fail(pos, exc, item, index):
                        # skipped by a catch: passed on as nothing, in its turn
                        if ordered:
                            results[index] = _SKIPPED
                        else:
                            finished.append(_SKIPPED)
                        continue
                    add_stage_note(exc, pos, counter.label, index)
                    errors.append(exc)
                if len(errors) == 1:
                    raise errors[0]
                if errors:
                    raise BaseExceptionGroup(
                        f"{len(errors)} calls of stage {pos} {counter.label} failed at once",
                        errors,
                    )
            while True:  # pass on what is ready: the head's result (ordered), or any
                if ordered:
                    if head not in results:
                        break
                    got = results.pop(head)
                    head += 1
                elif finished:
                    got = finished.popleft()
                else:
                    break
                held -= 1
                window.leave()
                if got is not _SKIPPED:
                    for out in got if flat else (got,):
                        n_out += 1
                        yield out
            if exhausted and not held:
                return
            if not exhausted and held < 2 * limit and len(pending) < limit:
                continue  # room to read again
            wake.clear()  # before the check: a worker that finishes after it sets it again
            if failed or init_error or (head in results if ordered else finished):
                continue
            if exhausted:
                await wake.wait()
            else:  # the window is full: the reader waits for a result to pass on
                started = clock()
                await wake.wait()
                window.waited(clock() - started)
    finally:
        closing = True
        stop = getattr(fn, "stop", None)
        if stop is not None:  # a retry waiting in a thread gives up
            stop()
        for task in workers:
            task.cancel()
        if workers:  # no task outlives the iteration
            await asyncio.gather(*workers, return_exceptions=True)
        if executor is not None:  # nor a thread: a call still running is waited for
            executor.shutdown(wait=True, cancel_futures=True)
        counter.items_in, counter.items_out = n_in, n_out


async def processes(
    run: ARun, pos: int, node: _nodes.ConcurrentMap, up: AsyncIterator[Any]
) -> AsyncIterator[Any]:
    """``map(fn, concurrency=N, via="process")``: the sync driver's ``ChunkPool``, with
    the upstream read and the wait for a finished chunk awaited on the event loop.

    Its loop is ``_procpool.process_map``'s with awaits, on purpose: the pool's logic is
    ``ChunkPool``'s, shared; what stays twice is reading the upstream and waiting.
    """
    import asyncio
    import time

    from hosepipe._drive._procpool import ChunkPool, window_size

    counter = run.counters[pos]
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

    run._views.append(view)
    window = Window(window_size(node.concurrency))
    counter.queue = window.statistics
    pool: ChunkPool | None = None
    try:
        pool = run.chunk_pool(pos, node, counts, window, on_done)
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
                pool.feed(items, exhausted)
            if pool.done():
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


def async_retry(wrapper: Retrying) -> Callable[[Any], Any]:
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
        try:
            return fn(item)
        except StopIteration as e:  # asyncio cannot set it on a future: the run would hang
            raise stop_iteration_error(e) from e

    executor = cf.ThreadPoolExecutor(size, f"hosepipe {label}", init)
    return executor, work


_SKIPPED = object()  # a result a catch skipped: passed on as nothing


class _InitializerFailed(Exception):
    """A call not made because the thread's initializer failed (the stage raises that)."""
