"""``retry``: a stage's function, called again on the same item when it fails.

``.map(fetch).retry(ConnectionError)`` does not add a stage: it replaces ``fetch`` in the
stage before it by a ``Retrying`` wrapper, so the call is repeated where it ran (in the
consumer's thread, a pool thread or a worker process). Each run binds a fresh wrapper
(``bound``) that counts its retries for the run's stats, and that a closing run can
``stop`` so a worker sleeping between attempts gives up at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from hosepipe._typing import TYPE_CHECKING
from hosepipe.backoff import Backoff

if TYPE_CHECKING:
    from typing import Any

__all__ = ["Retrying"]


class Retrying:
    """*fn*, re-called on the same item after an exception of one of *types*.

    The call is made at most *attempts* times, waiting ``backoff.delay(k)`` seconds before
    retry *k*; the last failure propagates, with a note saying how many attempts were
    made. For ``flat_map`` (*flat*), the function's iterable is consumed inside the
    attempt, so an error while iterating is retried too.

    >>> from hosepipe.backoff import Exponential
    >>> calls = []
    >>> def flaky(x):
    ...     calls.append(x)
    ...     if len(calls) < 3:
    ...         raise ConnectionError("try again")
    ...     return x * 10
    >>> r = Retrying(flaky, (ConnectionError,), 3, Exponential(0, 0), False).bound()
    >>> r(4), calls, r.retries
    (40, [4, 4, 4], 2)
    """

    __slots__ = ("_lock", "_stop", "attempts", "backoff", "flat", "fn", "retries", "types")

    def __init__(
        self,
        fn: Callable[[Any], Any],
        types: tuple[type[BaseException], ...],
        attempts: int,
        backoff: Backoff,
        flat: bool,
    ) -> None:
        self.fn = fn
        self.types = types
        self.attempts = attempts
        self.backoff = backoff
        self.flat = flat
        self.retries = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()

    @property
    def __name__(self) -> str:
        from hosepipe._nodes import fn_name  # _nodes imports this module

        return fn_name(self.fn)

    @property
    def label(self) -> str:
        """``.retry(ConnectionError, attempts=3)``, appended to the stage's label."""
        names = ", ".join(t.__name__ for t in self.types)
        return f".retry({names}, attempts={self.attempts})"

    def bound(self) -> Retrying:
        """A fresh wrapper for one run, with its own retry count and stop switch."""
        return Retrying(self.fn, self.types, self.attempts, self.backoff, self.flat)

    def stop(self) -> None:
        """Give up: a wait between attempts ends now and the last error is raised."""
        self._stop.set()

    def take_retries(self) -> int:
        """The retries counted since the last call (a worker process reports them)."""
        with self._lock:
            n, self.retries = self.retries, 0
        return n

    def next_wait(self, exc: BaseException, attempt: int) -> float | None:
        """After *exc* ended *attempt*: the seconds to wait before the next one (a retry,
        counted), or None when that was the last (the note is added; re-raise *exc*). The
        sync call below and the async driver's retry loop both ask this."""
        if attempt >= self.attempts or self._stop.is_set():
            exc.add_note(
                f"hosepipe retry: {self.__name__} failed {attempt} time(s) on this item "
                f"(retry attempts={self.attempts})"
            )
            return None
        with self._lock:
            self.retries += 1
        return self.backoff.delay(attempt)

    def __call__(self, item: Any) -> Any:
        attempt = 1
        while True:
            try:
                result = self.fn(item)
                return list(result) if self.flat else result
            except self.types as e:
                wait = self.next_wait(e, attempt)
                if wait is None:
                    raise
                if self._stop.wait(wait):
                    e.add_note("hosepipe retry: the run ended while waiting to retry")
                    raise
                attempt += 1

    def __reduce__(self) -> tuple[Any, ...]:
        return (Retrying, (self.fn, self.types, self.attempts, self.backoff, self.flat))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Retrying):
            return NotImplemented
        return (self.fn, self.types, self.attempts, self.backoff, self.flat) == (
            other.fn,
            other.types,
            other.attempts,
            other.backoff,
            other.flat,
        )

    def __hash__(self) -> int:
        return hash((Retrying, self.fn, self.types, self.attempts))

    def __repr__(self) -> str:
        return f"Retrying({self.__name__}{self.label[6:]}"
