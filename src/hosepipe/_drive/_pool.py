"""Concurrent ``map`` / ``flat_map`` on threads: bounded, streaming, ordered or not.

The runner reads its upstream in the consumer's thread and keeps at most *concurrency*
calls in flight on a thread pool of that size: the source is never read further ahead than
that. Ordered output is yielded as soon as the oldest call is done (not at the end);
unordered output as calls finish. A call that fails is raised at once, before the results
of calls still running, with its original type and the stage note (or skipped, counted and
dead-lettered when a ``catch`` guards the stage). However the run ends, calls not yet
started are cancelled and the pool is shut down and joined before the runner returns.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator

from hosepipe._typing import TYPE_CHECKING

if TYPE_CHECKING:
    import concurrent.futures as cf
    from typing import Any

__all__ = ["concurrent_map"]


def _flat(fn: Callable[[Any], Any]) -> Callable[[Any], list[Any]]:
    def call(item: Any) -> list[Any]:
        return list(fn(item))  # the iterable is consumed in the worker

    return call


def concurrent_map(
    upstream: Iterator[Any],
    fn: Callable[[Any], Any],
    *,
    concurrency: int,
    ordered: bool,
    flat: bool,
    name: str,
    initializer: Callable[[], object] | None = None,
    on_error: Callable[[BaseException, Any, int], bool],
    on_stop: Callable[[], None] | None = None,
    counts: list[int],
) -> Iterator[Any]:
    """Yield ``fn(item)`` (or its items, when *flat*) for each upstream item.

    *on_error(exc, item, index)* says whether a failed call is skipped (a ``catch``); if it
    is not, it has added the stage note and the error is raised. *initializer* runs once in
    each pool thread. *on_stop* is called first when the runner ends (a retrying function
    then stops waiting between attempts). *counts* receives [items in, items out, ...].
    """
    import concurrent.futures as cf  # with logging: 20 ms that `import hosepipe` need not pay

    call = _flat(fn) if flat else fn
    pool = cf.ThreadPoolExecutor(
        max_workers=concurrency,
        thread_name_prefix=name,
        initializer=initializer,
    )
    inflight: deque[tuple[cf.Future[Any], Any, int]] = deque()
    exhausted = False
    try:
        while True:
            while not exhausted and len(inflight) < concurrency:
                try:
                    item = next(upstream)
                except StopIteration:
                    exhausted = True
                    break
                inflight.append((pool.submit(call, item), item, counts[0]))
                counts[0] += 1
            if not inflight:
                return
            # Wait, unless the head is done, for a call still running: ordered, the finished
            # calls behind a running head stay, and waiting on them too would return at
            # once, a busy loop.
            if not inflight[0][0].done():
                running = [f for f, _, _ in inflight if not f.done()]
                cf.wait(running, return_when=cf.FIRST_COMPLETED)
            if ordered:  # the finished head, in order, as a sequential map would give it
                while inflight and inflight[0][0].done():
                    yield from _finish(inflight.popleft(), flat, counts, on_error)
            # then a failure anywhere is raised at once (or skipped), and, unordered, every
            # finished result leaves
            for entry in [e for e in inflight if e[0].done()]:
                if ordered and not entry[0].exception():
                    continue
                inflight.remove(entry)
                yield from _finish(entry, flat, counts, on_error)
    finally:
        if on_stop is not None:
            on_stop()
        for future, _, _ in inflight:
            future.cancel()
        pool.shutdown(wait=True, cancel_futures=True)


def _finish(
    entry: tuple[cf.Future[Any], Any, int],
    flat: bool,
    counts: list[int],
    on_error: Callable[[BaseException, Any, int], bool],
) -> Iterator[Any]:
    future, item, index = entry
    exc = future.exception()
    if exc is not None:
        if on_error(exc, item, index):
            return  # skipped by a catch
        raise exc
    result = future.result()
    if flat:
        counts[1] += len(result)
        yield from result
    else:
        counts[1] += 1
        yield result
