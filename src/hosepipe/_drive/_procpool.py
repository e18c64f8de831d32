"""Concurrent ``map`` / ``flat_map`` on worker processes: chunked, bounded, streaming.

The parent reads its upstream in the consumer's thread, cuts it into chunks and keeps at
most ``2 * concurrency`` chunks in flight on a ``ProcessPoolExecutor`` of *concurrency*
workers (two per worker, so a worker never waits for its next chunk), and one chunk per
worker read ahead. The pool starts at
the first item asked for, serves the stage for the whole run and is shut down when the run
ends; when the run ends early with chunks still running, the workers are terminated rather
than waited for.

The user's function (and initializer) is pickled once, sent to each worker when it
starts, and kept there: tasks carry only items. A ``ProcessPool`` (``via=pool``) is the
exception: its workers outlive a run and serve many, so each task also carries the pickled
function (a few hundred bytes), which a worker unpickles once and keeps. Plain ``pickle``
takes module-level functions; lambdas and closures need ``cloudpickle`` (extra
``process``), and without it the error says so.

Chunking rule (``chunk_size``): the first chunks hold one item; after each finished chunk
the worker's own time per item is known, and the next chunks hold
``TARGET_SECONDS / time_per_item`` items, at least 1 and at most ``MAX_CHUNK``. The parent
also reads one chunk per worker ahead of those in flight. When the upstream ends, what it
holds ahead is sent in smaller chunks, each a share of what is left (``tail_size``: guided
self-scheduling), so the workers finish together instead of one idling through the other's
last full chunk. With
``TARGET_SECONDS`` = 0.1 s a chunk costs one round trip per 0.1 s of work whatever the task
size (the round trip itself is about 0.1 ms, but each one also costs the parent's threads
CPU time that the workers then lack on a busy machine); slow tasks still go one at a time.
W4 measured 10 ms chunks at 1.51x/1.62x a plain loop on 2 cores, 50 ms at 1.67x/1.87x and
0.1 s at 1.78x/1.80x (5 ms and 0.1 ms tasks). The cost: results leave in steps of a chunk,
and the last chunks can leave a worker idle for up to 0.1 s.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable, Iterator
from itertools import islice

from hosepipe._channel import Window
from hosepipe._drive._pool import emit
from hosepipe._errors import HosepipeError, stop_iteration_error
from hosepipe._typing import TYPE_CHECKING

if TYPE_CHECKING:
    import concurrent.futures as cf
    from typing import Any

__all__ = [
    "MAX_CHUNK",
    "TARGET_SECONDS",
    "ChunkPool",
    "ProcessPool",
    "chunk_size",
    "process_map",
    "tail_size",
    "window_size",
]

TARGET_SECONDS = 0.1
MAX_CHUNK = 1024
TASKS_PER_WORKER = 2  # chunks in flight per worker
AHEAD_PER_WORKER = 1  # chunks read ahead per worker, not yet sent


def window_size(concurrency: int) -> int:
    """The most items a process map holds: per worker, 2 chunks in flight and one read
    ahead, of at most ``MAX_CHUNK`` items each.

    >>> window_size(2)
    6144
    """
    return concurrency * (TASKS_PER_WORKER + AHEAD_PER_WORKER) * MAX_CHUNK


def chunk_size(seconds_per_item: float) -> int:
    """Items per chunk for tasks that take *seconds_per_item* each in a worker.

    >>> chunk_size(0.005), chunk_size(0.0005), chunk_size(1e-9), chunk_size(2.0)
    (20, 200, 1024, 1)
    """
    if seconds_per_item <= 0:
        return MAX_CHUNK
    return max(1, min(MAX_CHUNK, round(TARGET_SECONDS / seconds_per_item)))


def tail_size(left: int, size: int, tasks: int) -> int:
    """Items in the next chunk once the upstream has ended: a share of the *left* items
    held, one in *tasks* (the chunks the pool keeps in flight), at most *size*.

    >>> [tail_size(left, 29, 4) for left in (58, 43, 32, 24, 3, 1)]
    [15, 11, 8, 6, 1, 1]
    """
    return max(1, min(size, -(-left // tasks)))


# -- the worker side (runs in the child processes) -------------------------------------------

_worker_fn: Callable[[Any], Any] | None = None
_worker_flat = False


class RemoteTraceback(Exception):
    """The traceback of an exception raised in a worker process (set as its ``__cause__``)."""

    def __init__(self, tb: str) -> None:
        super().__init__(tb)
        self.tb = tb

    def __str__(self) -> str:
        return self.tb


_worker_init_error: BaseException | None = None


def _init_worker(payload: bytes) -> None:
    """Unpickle the function and run the user's initializer. Its failure is kept and raised
    by the worker's first task (an initializer that raises would otherwise break the pool
    and be reported as a dead worker)."""
    global _worker_fn, _worker_flat, _worker_init_error
    import pickle

    fn, flat, initializer = pickle.loads(payload)
    _worker_fn, _worker_flat = fn, flat
    if initializer is not None:
        try:
            initializer()
        except Exception as e:
            e.add_note(
                f"hosepipe initializer: raised by the `initializer` in worker process {os.getpid()}"
            )
            _worker_init_error = _portable(e)


_shared_fns: dict[bytes, tuple[Callable[[Any], Any], bool]] = {}  # a ProcessPool worker's


def _run_shared(
    payload: bytes, items: list[Any], keep_going: bool
) -> tuple[bytes, dict[int, tuple[BaseException, str]] | None, float, int]:
    """``_run_chunk`` in a ``ProcessPool`` worker: the task names its function (pickled),
    which the worker unpickles at its first task and keeps for the next ones."""
    global _worker_fn, _worker_flat
    got = _shared_fns.get(payload)
    if got is None:
        import pickle

        if len(_shared_fns) >= 16:  # functions of runs long gone
            _shared_fns.clear()
        got = _shared_fns[payload] = pickle.loads(payload)
    _worker_fn, _worker_flat = got
    return _run_chunk(items, keep_going)


def _portable(exc: BaseException) -> BaseException:
    """*exc* if it survives pickling, else a HosepipeError that describes it."""
    import pickle

    try:
        pickle.loads(pickle.dumps(exc))
    except Exception as e:
        return HosepipeError(
            f"{type(exc).__name__}: {exc} (raised in a worker process; the exception could "
            f"not be sent back as it is: {e})"
        )
    return exc


def _run_chunk(
    items: list[Any], keep_going: bool
) -> tuple[bytes, dict[int, tuple[BaseException, str]] | None, float, int]:
    """Call the function on each item: (pickled results, errors by offset, seconds, retries).

    Without *keep_going* the chunk stops at its first failure (the run will raise it). The
    results are pickled here, so that one that cannot be sent back fails its own item (an
    error at its offset, which a ``catch`` can skip), not the whole chunk.
    """
    import pickle

    if _worker_init_error is not None:
        raise _worker_init_error
    fn, flat = _worker_fn, _worker_flat
    assert fn is not None, "the worker was not initialised"
    results: list[Any] = []
    errors: dict[int, tuple[BaseException, str]] | None = None
    start = time.perf_counter()
    for k, item in enumerate(items):
        try:
            results.append(list(fn(item)) if flat else fn(item))
        except Exception as e:
            errors = errors or {}
            errors[k] = _remote(e)
            results.append(None)
            if not keep_going:
                break
    take = getattr(fn, "take_retries", None)
    retries = take() if take is not None else 0
    seconds = time.perf_counter() - start
    try:
        data = pickle.dumps(results, pickle.HIGHEST_PROTOCOL)
    except Exception:  # find the results that cannot be sent; they fail their items
        for k, result in enumerate(results):
            try:
                pickle.dumps(result, pickle.HIGHEST_PROTOCOL)
            except Exception as e:
                e.add_note(
                    f"(the call returned a {type(result).__name__}, which cannot be pickled, "
                    "so the worker process could not send it back)"
                )
                errors = errors or {}
                errors[k] = _remote(e)
                results[k] = None
        data = pickle.dumps(results, pickle.HIGHEST_PROTOCOL)
    return data, errors, seconds, retries


def _remote(exc: BaseException) -> tuple[BaseException, str]:
    """*exc* as a worker sends it back: made portable, with its traceback as text."""
    import traceback

    tb = "".join(traceback.format_exception(exc))
    return _portable(exc), f"\n(in worker process {os.getpid()})\n{tb}"


# -- the parent side ---------------------------------------------------------------------


def dumps_for_workers(obj: object, label: str) -> bytes:
    """Pickle *obj* for the workers: plain pickle, else cloudpickle, else a clear error."""
    import pickle  # here, not at the top: `import hosepipe` need not load it

    try:
        return pickle.dumps(obj, pickle.HIGHEST_PROTOCOL)
    except (pickle.PicklingError, AttributeError, TypeError) as e:
        first = e
    try:
        import cloudpickle  # type: ignore[import-untyped, unused-ignore]
    except ImportError:
        raise HosepipeError(
            f"{label}: via='process' sends the function to worker processes, and pickle "
            f"cannot send this one ({first}). Use a function defined at module level, or "
            f"install the extra that sends lambdas and closures: pip install 'hosepipe[process]'"
        ) from first
    try:
        return cloudpickle.dumps(obj)  # type: ignore[no-any-return]
    except Exception as e:
        raise HosepipeError(
            f"{label}: via='process' cannot send the function to worker processes, not even "
            f"with cloudpickle: {e}"
        ) from e


class ProcessPool:
    """Worker processes that several runs share: ``map(fn, via=pool)``.

    A ``via="process"`` stage starts its workers at its first item and stops them when its
    run ends. A ``ProcessPool`` starts *workers* processes (default: one per CPU) at the
    first run that uses it and keeps them until ``close()`` (or the end of a ``with``
    block), so a program that runs many short streams pays the start-up once. *initializer*
    runs once in each worker, when it starts. The pool belongs to the caller: a run that
    stops early does not wait for the chunks it had sent (their results are dropped), but
    nor does it stop the workers. A worker that dies fails the run it served, and the next
    run starts fresh workers.

    >>> import hosepipe as hp
    >>> with hp.ProcessPool(2) as pool:
    ...     a = hp.Stream(range(5)).map(abs, via=pool).to_list()
    ...     b = hp.Stream(range(-3, 0)).map(abs, via=pool).to_list()
    >>> a, b
    ([0, 1, 2, 3, 4], [3, 2, 1])
    """

    HOSEPIPE_VIA = "process"  # what ``map(via=...)`` recognises a pool by

    def __init__(
        self, workers: int | None = None, *, initializer: Callable[[], object] | None = None
    ) -> None:
        import threading

        if workers is None:
            workers = os.cpu_count() or 1
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValueError(f"ProcessPool(): `workers` must be an int >= 1, got {workers!r}")
        if initializer is not None and not callable(initializer):
            raise TypeError(f"ProcessPool(): `initializer` must be callable, got {initializer!r}")
        self.workers = workers
        self.initializer = initializer
        self.closed = False
        self._executor: cf.ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def executor(self) -> cf.ProcessPoolExecutor:
        """The running executor: started at the first call, again after a worker died."""
        with self._lock:
            if self.closed:
                raise HosepipeError(f"{self!r} is closed: make a new one to run on")
            ex = self._executor
            if ex is None or getattr(ex, "_broken", False):
                import concurrent.futures as cf

                if ex is not None:
                    ex.shutdown(wait=True, cancel_futures=True)
                payload = dumps_for_workers((None, False, self.initializer), "ProcessPool")
                ex = self._executor = cf.ProcessPoolExecutor(
                    max_workers=self.workers, initializer=_init_worker, initargs=(payload,)
                )
            return ex

    def close(self) -> None:
        """Stop the workers, after the calls that are running. A closed pool stays closed."""
        with self._lock:
            self.closed = True
            ex, self._executor = self._executor, None
        if ex is not None:
            ex.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> ProcessPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __reduce__(self) -> Any:
        raise TypeError(
            f"{self!r} cannot be sent to another process: its workers belong to this one"
        )

    def __repr__(self) -> str:
        state = ", closed" if self.closed else ""
        return f"ProcessPool(workers={self.workers}{state})"


class ChunkPool:
    """The parent side of one process map: the pool, the chunks in flight, their results.

    It does not read the upstream nor wait: a driver loop does both, so that the sync
    driver (``process_map``) and the async one (``ARun``) share everything else. The loop
    asks ``room()`` how many items to read (0 when the pool has ``2 * concurrency`` chunks
    in flight and one chunk per worker read ahead), hands them to ``feed`` (which cuts
    and sends the chunks), waits until one of ``unchecked`` is done (``on_done``, if
    given, is called from another thread whenever a chunk finishes), and passes on what
    ``ready()`` yields, until ``done()``. ``close()`` ends it however the run ended.

    *on_error(exc, item, index)* says whether a failed call is skipped (a ``catch``; only
    when *guarded*); if not, it has added the stage note and the error is raised. An error
    of the stage itself (a worker died) gets its note from ``note(exc, index)``. *counts*
    receives [items in, items out, retries]; *window* counts the items held (read ahead or
    in flight).
    """

    def __init__(
        self,
        fn: Callable[[Any], Any],
        *,
        concurrency: int,
        ordered: bool,
        flat: bool,
        label: str,
        initializer: Callable[[], object] | None,
        guarded: bool,
        on_error: Callable[[BaseException, Any, int], bool],
        note: Callable[[BaseException, int | None], None],
        counts: list[int],
        window: Window,
        on_done: Callable[[], None] | None = None,
        shared: ProcessPool | None = None,
    ) -> None:
        import concurrent.futures as cf  # multiprocessing: imported by the first process map

        self.shared = shared
        if shared is None:
            payload = dumps_for_workers((fn, flat, initializer), label)
            self.pool = cf.ProcessPoolExecutor(
                max_workers=concurrency, initializer=_init_worker, initargs=(payload,)
            )
            self.task: tuple[Any, ...] = (_run_chunk,)
        else:  # the workers are the pool's: each task names the function
            self.pool = shared.executor()
            self.task = (_run_shared, dumps_for_workers((fn, flat), label))
        self.ordered = ordered
        self.flat = flat
        self.label = label
        self.guarded = guarded
        self.on_error = on_error
        self.note = note
        self.counts = counts
        self.window = window
        self.on_done = on_done
        self.inflight: deque[tuple[cf.Future[Any], list[Any], int]] = deque()
        self.unchecked: set[cf.Future[Any]] = set()  # in flight, and not yet seen done
        self.results: dict[cf.Future[Any], list[Any]] = {}  # of the chunks checked
        self.max_tasks = TASKS_PER_WORKER * concurrency
        self.ahead_chunks = AHEAD_PER_WORKER * concurrency
        self.ahead: list[Any] = []  # read from the upstream, not yet sent
        self.ended = False  # the upstream has ended
        self.sent = 0  # items sent to the workers: the index of the next chunk's first
        self.size = 1
        self.finished = False

    def room(self) -> int:
        """How many items to read now (0: none): enough for every free slot and the
        chunks read ahead. Sends what it can first."""
        self._send()
        free = self.max_tasks - len(self.inflight)
        return max(0, self.size * (free + self.ahead_chunks) - len(self.ahead))

    def feed(self, items: list[Any], ended: bool) -> None:
        """Take *items* read from the upstream (*ended*: it has no more) and send the
        chunks that are ready."""
        self.ahead.extend(items)
        self.counts[0] += len(items)
        self.window.enter(len(items))
        self.ended = ended
        self._send()

    def done(self) -> bool:
        """Whether every item fed has been sent and its results passed on."""
        return not self.inflight and not self.ahead

    def _send(self) -> None:
        """Send chunks from what is held ahead while the pool has a free slot: full
        chunks, or once the upstream has ended, shares of the rest (``tail_size``)."""
        ahead = self.ahead
        while ahead and len(self.inflight) < self.max_tasks:
            if self.ended:
                n = tail_size(len(ahead), self.size, self.max_tasks)
            elif len(ahead) >= self.size:
                n = self.size
            else:
                return
            items = ahead[:n]
            del ahead[:n]
            self._submit(items)

    def _submit(self, items: list[Any]) -> None:
        """Send *items* (a chunk) to the workers."""
        from concurrent.futures.process import BrokenProcessPool

        try:
            future = self.pool.submit(*self.task, items, self.guarded)  # type: ignore[call-arg]
        except BrokenProcessPool as e:  # a worker died since the last check
            raise self._died() from e
        self.inflight.append((future, items, self.sent))
        self.unchecked.add(future)
        self.sent += len(items)
        if self.on_done is not None:
            on_done = self.on_done
            future.add_done_callback(lambda _: on_done())

    def waiting(self) -> bool:
        """Whether every unchecked chunk is still running (the driver should wait)."""
        return bool(self.unchecked) and not any(f.done() for f in self.unchecked)

    def ready(self) -> Iterator[Any]:
        """Check the chunks that finished (raising the first failure, unless skipped) and
        yield the results that can be passed on: in input order when *ordered*."""
        import pickle
        from concurrent.futures.process import BrokenProcessPool

        done = [e for e in self.inflight if e[0] in self.unchecked and e[0].done()]
        for future, items, index in done:  # each finished chunk is checked once
            self.unchecked.discard(future)
            exc = future.exception()
            if isinstance(exc, BrokenProcessPool):
                raise self._died() from exc
            if exc is not None:  # the task itself failed (not a call: those are in errors)
                self.note(exc, index)
                raise exc
            data, errors, seconds, retries = future.result()
            results = self.results[future] = pickle.loads(data)
            self.counts[2] += retries
            self.size = chunk_size(seconds / len(results))
            if errors and not self.guarded:  # a failure anywhere is raised at once
                offset = min(errors)
                _raise(errors[offset], items, offset, index, self.on_error)
        inflight, window = self.inflight, self.window
        if self.ordered:
            while inflight and inflight[0][0].done() and inflight[0][0] not in self.unchecked:
                entry = inflight.popleft()
                window.leave(len(entry[1]))
                yield from self._finish(entry)
        else:
            for entry in done:
                inflight.remove(entry)
                window.leave(len(entry[1]))
                yield from self._finish(entry)
        self._send()  # what the slots freed can take, read ahead

    def close(self) -> None:
        """Stop the pool: at once (workers terminated) if chunks are still running. A
        ``ProcessPool``'s workers are left running: only this run's chunks are cancelled."""
        inflight = self.inflight
        for future, _, _ in inflight:
            future.cancel()
        if self.shared is not None:  # the pool's workers serve the next run: no waiting
            return
        if not self.finished and any(not f.done() for f, _, _ in inflight):
            _terminate(self.pool)  # an early end does not wait for running calls
        self.pool.shutdown(wait=True, cancel_futures=True)

    def _finish(self, entry: tuple[cf.Future[Any], list[Any], int]) -> Iterator[Any]:
        """The outputs of a checked chunk, in order; a failed item is skipped or raised."""
        future, items, base = entry
        results = self.results.pop(future)
        errors = future.result()[1]
        counts = self.counts
        if not errors and not self.flat:  # the common case, without a generator per item
            for result in results:
                counts[1] += 1
                yield result
            return
        for offset, result in enumerate(results):
            if errors and offset in errors:
                _raise(errors[offset], items, offset, base, self.on_error)  # skipped, or raised
                continue
            yield from emit(result, self.flat, self.counts)

    def _died(self) -> HosepipeError:
        """The error for a dead worker. Every chunk in flight fails with it, and the pool
        does not say which one the dead worker ran, so the error names them all."""
        if self.inflight:
            first, last = self.inflight[0][2], self.sent - 1
            held = f"item {first}" if first == last else f"items {first} to {last}"
            where = f"; {held} were in flight (the dead worker held one of their chunks)"
        else:
            where = ""
        err = HosepipeError(
            f"{self.label}: a worker process died while running the stage (killed by a "
            f"signal, out of memory, or os._exit); the run was stopped{where}"
        )
        self.note(err, None)
        return err


def process_map(upstream: Iterator[Any], pool: ChunkPool) -> Iterator[Any]:
    """Yield the results of *pool* for the items of *upstream*: the sync driver loop."""
    import concurrent.futures as cf

    exhausted = False
    try:
        while True:
            while not exhausted and (size := pool.room()):
                items = list(islice(upstream, size))
                exhausted = len(items) < size
                pool.feed(items, exhausted)
            if pool.done():
                pool.finished = True
                return
            if pool.waiting():
                full = not pool.room()  # the reader waits for a free slot
                started = time.perf_counter()
                cf.wait(pool.unchecked, return_when=cf.FIRST_COMPLETED)
                if full:
                    pool.window.waited(time.perf_counter() - started)
            yield from pool.ready()
    finally:
        pool.close()


def _raise(
    error: tuple[BaseException, str],
    items: list[Any],
    offset: int,
    base: int,
    on_error: Callable[[BaseException, Any, int], bool],
) -> None:
    exc, tb = error
    exc.__cause__ = RemoteTraceback(tb)
    if not on_error(exc, items[offset], base + offset):
        if isinstance(exc, StopIteration):  # not the end of the generator raising it
            raise stop_iteration_error(exc) from exc
        raise exc


def _terminate(pool: cf.ProcessPoolExecutor) -> None:
    """Stop the pool's workers now: calls still running are abandoned.

    ``ProcessPoolExecutor`` has no public way to do this; its ``_processes`` map has been
    there since Python 3.2. Without it, ``shutdown`` waits for the running calls.
    """
    processes = getattr(pool, "_processes", None) or {}
    for process in list(processes.values()):
        if process.is_alive():
            process.terminate()
