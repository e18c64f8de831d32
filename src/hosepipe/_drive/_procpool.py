"""Concurrent ``map`` / ``flat_map`` on worker processes: chunked, bounded, streaming.

The parent reads its upstream in the consumer's thread, cuts it into chunks and keeps at
most ``2 * concurrency`` chunks in flight on a ``ProcessPoolExecutor`` of *concurrency*
workers (two per worker, so a worker never waits for its next chunk). The pool starts at
the first item asked for, serves the stage for the whole run and is shut down when the run
ends; when the run ends early with chunks still running, the workers are terminated rather
than waited for.

The user's function (and initializer) is pickled once, sent to each worker when it
starts, and kept there: tasks carry only items. Plain ``pickle`` takes module-level
functions; lambdas and closures need ``cloudpickle`` (extra ``process``), and without it
the error says so.

Chunking rule (``chunk_size``): the first chunks hold one item; after each finished chunk
the worker's own time per item is known, and the next chunks hold
``TARGET_SECONDS / time_per_item`` items, at least 1 and at most ``MAX_CHUNK``. With
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
from hosepipe._errors import HosepipeError
from hosepipe._typing import TYPE_CHECKING

if TYPE_CHECKING:
    import concurrent.futures as cf
    from typing import Any

__all__ = ["MAX_CHUNK", "TARGET_SECONDS", "chunk_size", "process_map", "window_size"]

TARGET_SECONDS = 0.1
MAX_CHUNK = 1024
TASKS_PER_WORKER = 2


def window_size(concurrency: int) -> int:
    """The most items a process map holds: 2 chunks per worker of at most ``MAX_CHUNK``.

    >>> window_size(2)
    4096
    """
    return concurrency * TASKS_PER_WORKER * MAX_CHUNK


def chunk_size(seconds_per_item: float) -> int:
    """Items per chunk for tasks that take *seconds_per_item* each in a worker.

    >>> chunk_size(0.005), chunk_size(0.0005), chunk_size(1e-9), chunk_size(2.0)
    (20, 200, 1024, 1)
    """
    if seconds_per_item <= 0:
        return MAX_CHUNK
    return max(1, min(MAX_CHUNK, round(TARGET_SECONDS / seconds_per_item)))


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
) -> tuple[list[Any], dict[int, tuple[BaseException, str]] | None, float, int]:
    """Call the function on each item: (results, errors by offset, seconds, retries).

    Without *keep_going* the chunk stops at its first failure (the run will raise it).
    """
    import traceback

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
            tb = "".join(traceback.format_exception(e))
            errors = errors or {}
            errors[k] = (_portable(e), f"\n(in worker process {os.getpid()})\n{tb}")
            results.append(None)
            if not keep_going:
                break
    take = getattr(fn, "take_retries", None)
    retries = take() if take is not None else 0
    return results, errors, time.perf_counter() - start, retries


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


def process_map(
    upstream: Iterator[Any],
    fn: Callable[[Any], Any],
    *,
    concurrency: int,
    ordered: bool,
    flat: bool,
    label: str,
    initializer: Callable[[], object] | None,
    guarded: bool,
    on_error: Callable[[BaseException, Any, int], bool],
    note: Callable[[BaseException, int], None],
    counts: list[int],
    window: Window,
) -> Iterator[Any]:
    """Yield ``fn(item)`` (or its items, when *flat*) for each upstream item.

    *on_error(exc, item, index)* says whether a failed call is skipped (a ``catch``; only
    when *guarded*); if not, it has added the stage note and the error is raised. Errors of
    the stage itself (a worker died, a result could not be sent back) get their note from
    ``note(exc, index)``. *counts* receives [items in, items out, retries]; *window*
    counts the items in flight.
    """
    import concurrent.futures as cf  # multiprocessing: imported by the first process map
    from concurrent.futures.process import BrokenProcessPool

    payload = dumps_for_workers((fn, flat, initializer), label)
    pool = cf.ProcessPoolExecutor(
        max_workers=concurrency, initializer=_init_worker, initargs=(payload,)
    )
    inflight: deque[tuple[cf.Future[Any], list[Any], int]] = deque()
    unchecked: set[cf.Future[Any]] = set()  # in flight, and not yet seen done
    max_tasks = TASKS_PER_WORKER * concurrency
    size = 1
    exhausted = False
    finished = False
    try:
        while True:
            while not exhausted and len(inflight) < max_tasks:
                items = list(islice(upstream, size))
                if len(items) < size:
                    exhausted = True
                if not items:
                    break
                try:
                    future = pool.submit(_run_chunk, items, guarded)
                except BrokenProcessPool as e:  # a worker died since the last check
                    raise _died(label, note, counts[0]) from e
                inflight.append((future, items, counts[0]))
                unchecked.add(future)
                counts[0] += len(items)
                window.enter(len(items))
            if not inflight:
                finished = True
                return
            if unchecked:
                started = time.perf_counter()
                cf.wait(unchecked, return_when=cf.FIRST_COMPLETED)
                if len(inflight) >= max_tasks:  # the reader waited for a free slot
                    window.waited(time.perf_counter() - started)
            done = [e for e in inflight if e[0] in unchecked and e[0].done()]
            for future, items, index in done:  # each finished chunk is checked once
                unchecked.discard(future)
                exc = future.exception()
                if isinstance(exc, BrokenProcessPool):
                    raise _died(label, note, index) from exc
                if exc is not None:  # the task itself failed: its result could not be sent
                    note(exc, index)
                    raise exc
                results, errors, seconds, retries = future.result()
                counts[2] += retries
                size = chunk_size(seconds / len(results))
                if errors and not guarded:  # a failure anywhere is raised at once
                    offset = min(errors)
                    _raise(errors[offset], items, offset, index, on_error)
            if ordered:
                while inflight and inflight[0][0].done() and inflight[0][0] not in unchecked:
                    entry = inflight.popleft()
                    window.leave(len(entry[1]))
                    yield from _finish(entry, flat, counts, on_error)
            else:
                for entry in done:
                    inflight.remove(entry)
                    window.leave(len(entry[1]))
                    yield from _finish(entry, flat, counts, on_error)
    finally:
        for future, _, _ in inflight:
            future.cancel()
        if not finished and any(not f.done() for f, _, _ in inflight):
            _terminate(pool)  # an early end does not wait for running calls
        pool.shutdown(wait=True, cancel_futures=True)


def _died(label: str, note: Callable[[BaseException, int], None], index: int) -> HosepipeError:
    err = HosepipeError(
        f"{label}: a worker process died while running the stage (killed by a signal, out "
        f"of memory, or os._exit); the run was stopped"
    )
    note(err, index)
    return err


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
        raise exc


def _finish(
    entry: tuple[cf.Future[Any], list[Any], int],
    flat: bool,
    counts: list[int],
    on_error: Callable[[BaseException, Any, int], bool],
) -> Iterator[Any]:
    future, items, base = entry
    results, errors, _, _ = future.result()
    for offset, result in enumerate(results):
        if errors and offset in errors:
            _raise(errors[offset], items, offset, base, on_error)  # skipped, or raised
            continue
        yield from emit(result, flat, counts)


def _terminate(pool: cf.ProcessPoolExecutor) -> None:
    """Stop the pool's workers now: calls still running are abandoned.

    ``ProcessPoolExecutor`` has no public way to do this; its ``_processes`` map has been
    there since Python 3.2. Without it, ``shutdown`` waits for the running calls.
    """
    processes = getattr(pool, "_processes", None) or {}
    for process in list(processes.values()):
        if process.is_alive():
            process.terminate()
