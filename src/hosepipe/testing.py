"""Helpers for testing your own pipelines: run them over lists, count reads, check cleanup.

>>> import hosepipe as hp
>>> from hosepipe.testing import CountingSource, run_pipeline
>>> run_pipeline(hp.map(str.upper) | hp.filter(str.isalpha), ["a", "1", "b"])
['A', 'B']
>>> source = CountingSource(range(1000))
>>> hp.Stream(source).map(lambda x: x * 2).take(3).to_list()
[0, 2, 4]
>>> source.reads, source.active  # laziness: 3 reads; cleanup: nothing left open
(3, 0)
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

from hosepipe._stream import Pipeline, Stream

__all__ = ["CountingSource", "assert_no_leaks", "run_pipeline"]

T = TypeVar("T")
U = TypeVar("U")


class CountingSource(Generic[T]):
    """A re-iterable source that counts what a stream takes from it.

    *reads* is the number of items handed out over all iterations; *opened* and *closed*
    count iterations started and finished (exhausted or closed), so *active* is how many are
    still open. *finalized* is true once any iteration's ``finally`` ran.

    >>> src = CountingSource("abc")
    >>> it = iter(src)
    >>> next(it), src.reads, src.active
    ('a', 1, 1)
    >>> it.close()
    >>> src.active
    0
    """

    def __init__(self, items: Iterable[T]) -> None:
        self._items = items
        self.reads = 0
        self.opened = 0
        self.closed = 0

    @property
    def active(self) -> int:
        """Iterations started and not yet exhausted or closed."""
        return self.opened - self.closed

    @property
    def finalized(self) -> bool:
        """True once an iteration has ended (its ``finally`` ran)."""
        return self.closed > 0

    def __iter__(self) -> Iterator[T]:
        self.opened += 1
        return self._generate()

    def _generate(self) -> Iterator[T]:
        try:
            for item in self._items:
                self.reads += 1
                yield item
        finally:
            self.closed += 1

    def __repr__(self) -> str:
        return f"CountingSource(reads={self.reads}, active={self.active})"


def run_pipeline(pipeline: Pipeline[T, U], items: Iterable[T]) -> list[U]:
    """Apply *pipeline* to *items* and return the results in a list.

    >>> import hosepipe as hp
    >>> run_pipeline(hp.map(len), ["ab", "c"])
    [2, 1]
    """
    return Stream(items).pipe(pipeline).to_list()


def _live_children() -> set[int]:
    return {p.pid for p in multiprocessing.active_children() if p.pid is not None}


@contextmanager
def assert_no_leaks(timeout: float = 1.0) -> Iterator[None]:
    """Assert that the block leaves no thread or child process running after it.

    Waits up to *timeout* seconds for them to end, then raises ``AssertionError`` naming
    what is still alive.

    >>> import hosepipe as hp
    >>> with assert_no_leaks():
    ...     hp.Stream(range(10)).take(2).to_list()
    [0, 1]
    """
    threads_before = set(threading.enumerate())
    children_before = _live_children()
    yield
    deadline = time.monotonic() + timeout
    while True:
        threads = [t for t in threading.enumerate() if t not in threads_before and t.is_alive()]
        children = _live_children() - children_before
        if not threads and not children:
            return
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"left running after the block: threads {[t.name for t in threads]}, "
                f"child processes {sorted(children)}"
            )
        time.sleep(0.01)
