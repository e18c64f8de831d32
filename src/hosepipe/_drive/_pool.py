"""Concurrent ``map`` / ``flat_map`` on threads: bounded, streaming, ordered or not.

The runner reads its upstream in the consumer's thread and keeps at most
``2 * concurrency`` items in flight (sent to the workers and not yet passed on, a
``Window``): *concurrency* running and as many queued, so that a worker that finishes a
call starts the next at once instead of waiting for the consumer's thread to be scheduled
(on W3 that is the difference between 1.04x and 0.97x ``ThreadPoolExecutor.map``). The
source is never read further ahead than that. Worker threads (started as the window
fills, at most *concurrency*) take items from a ``tasks`` hand-off and put outcomes on a
``results`` hand-off (``_channel.Handoff``: the channel rules at C speed, with no bound of
their own because the window already keeps both under ``2 * concurrency`` entries).

Ordered output is yielded as soon as the oldest item is done (not at the end); unordered
output as calls finish. A call that fails is raised at once, before the results of calls
still running, with its original type and the stage note (or skipped, counted and
dead-lettered when a ``catch`` guards the stage). However the run ends, items not yet
started are dropped and every worker is joined before the runner returns (a call already
running is waited for).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator

from hosepipe._channel import ChannelClosed, EndOfChannel, Handoff, Window
from hosepipe._errors import stop_iteration_error
from hosepipe._typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

__all__ = ["concurrent_map", "emit", "window_size"]

_SKIPPED: Any = object()  # an ordered slot whose item a catch skipped


def window_size(concurrency: int) -> int:
    """The most items a thread map with *concurrency* workers holds: as many running, as
    many queued.

    >>> window_size(8)
    16
    """
    return 2 * concurrency


def _flat(fn: Callable[[Any], Any]) -> Callable[[Any], list[Any]]:
    def call(item: Any) -> list[Any]:
        return list(fn(item))  # the iterable is consumed in the worker

    return call


def _work(
    call: Callable[[Any], Any],
    initializer: Callable[[], object] | None,
    tasks: Handoff[tuple[int, Any]],
    results: Handoff[tuple[int, bool, Any]],
) -> None:
    try:
        if initializer is not None:
            initializer()
    except BaseException as e:
        e.add_note("hosepipe initializer: raised by the `initializer` of a pool worker")
        with contextlib.suppress(ChannelClosed):  # unless the run has ended already
            results.send((-1, False, e))
        return
    receive, send = tasks.receive, results.send
    try:
        while True:
            index, item = receive()
            try:
                outcome = (index, True, call(item))
            except BaseException as e:  # the consumer raises it, with the stage note
                outcome = (index, False, e)
            send(outcome)
    except (EndOfChannel, ChannelClosed):
        return  # no more tasks, or the consumer has gone


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
    window: Window,
) -> Iterator[Any]:
    """Yield ``fn(item)`` (or its items, when *flat*) for each upstream item.

    *on_error(exc, item, index)* says whether a failed call is skipped (a ``catch``); if it
    is not, it has added the stage note and the error is raised. *initializer* runs once in
    each worker thread. *on_stop* is called first when the runner ends (a retrying function
    then stops waiting between attempts). *counts* receives [items in, items out, ...];
    *window* counts the items in flight.
    """
    call = _flat(fn) if flat else fn
    limit = window_size(concurrency)
    tasks: Handoff[tuple[int, Any]] = Handoff()  # bounded by the window
    results: Handoff[tuple[int, bool, Any]] = Handoff()
    workers: list[threading.Thread] = []
    held: dict[int, Any] = {}  # index -> item, for the items in flight (error reports)
    done: dict[int, Any] = {}  # ordered: results waiting for an older one
    next_out = 0  # ordered: the index to yield next
    exhausted = False
    clock = time.perf_counter
    try:
        while True:
            while not exhausted and len(held) + len(done) < limit:
                try:
                    item = next(upstream)
                except StopIteration:
                    exhausted = True
                    break
                index = counts[0]
                counts[0] += 1
                held[index] = item
                window.enter()
                if len(workers) < min(len(held), concurrency):  # one more, up to `concurrency`
                    t = threading.Thread(
                        target=_work,
                        args=(call, initializer, tasks, results),
                        name=f"{name}_{len(workers)}",
                        daemon=True,
                    )
                    t.start()
                    workers.append(t)
                tasks.send((index, item))
            if not held:
                return
            full = len(held) + len(done) >= limit and not exhausted
            started = clock() if full else 0.0
            index, ok, value = results.receive()
            if full:
                window.waited(clock() - started)
            if index < 0:  # an initializer failed
                raise value
            item = held.pop(index)
            if not ok:
                if not on_error(value, item, index):
                    if isinstance(value, StopIteration):  # not this generator's end
                        raise stop_iteration_error(value) from value
                    raise value
                value = _SKIPPED
            if not ordered:
                window.leave()
                if value is not _SKIPPED:
                    yield from emit(value, flat, counts)
                continue
            done[index] = value
            while next_out in done:
                value = done.pop(next_out)
                next_out += 1
                window.leave()
                if value is not _SKIPPED:
                    yield from emit(value, flat, counts)
    finally:
        if on_stop is not None:
            on_stop()
        tasks.close_receive()  # items not yet started are dropped; idle workers end
        results.close_receive()  # a worker finishing a call ends at its send
        for t in workers:
            t.join()


def emit(value: Any, flat: bool, counts: list[int]) -> Iterator[Any]:
    """A call's result as the stage's output: the value, or with *flat* its items;
    counted in ``counts[1]`` (the process map uses it too)."""
    if flat:
        counts[1] += len(value)
        yield from value
    else:
        counts[1] += 1
        yield value
