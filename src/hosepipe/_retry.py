"""``retry``: a stage's function, called again on the same item when it fails.

``.map(fetch).retry(ConnectionError)`` does not add a stage: it replaces ``fetch`` in the
stage before it by a ``Retried`` description (``_callables``). Each run binds a fresh
``Retrying`` wrapper from it (``_steps.bind``), so the call is repeated where it ran (in the
consumer's thread, a pool thread or a worker process); the wrapper counts its retries for
the run's stats, and a closing run can ``stop`` it so a worker sleeping between attempts
gives up at once.
"""

from __future__ import annotations

import threading

from hosepipe._callables import Retried
from hosepipe._typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

__all__ = ["Retrying"]


class Retrying(Retried):
    """One run's wrapper of a ``Retried`` function: it makes the calls.

    The last failure propagates, with a note saying how many attempts were made.

    >>> from hosepipe.backoff import Exponential
    >>> calls = []
    >>> def flaky(x):
    ...     calls.append(x)
    ...     if len(calls) < 3:
    ...         raise ConnectionError("try again")
    ...     return x * 10
    >>> r = Retrying(flaky, (ConnectionError,), 3, Exponential(0, 0), False)
    >>> r(4), calls, r.retries
    (40, [4, 4, 4], 2)
    """

    __slots__ = ("_lock", "_stop", "retries")

    def __init__(self, *description: Any) -> None:  # Retried's arguments
        super().__init__(*description)
        self.retries = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()

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
