"""How long to wait before trying again: backoff policies for ``retry`` and HTTP sources.

>>> import hosepipe as hp
>>> hp.backoff.exponential(base=0.1, max=1.0, jitter=False).delay(3)
0.4
>>> hp.backoff.constant(2.0).delay(5), hp.backoff.none().delay(1)
(2.0, 0.0)

A policy is a small immutable object with a ``delay(attempt)`` method (attempt 1 is the
first retry) and a ``max`` (the longest it ever waits, which also caps a server's
``Retry-After``). Policies hold only numbers, so a stage that uses one can be pickled and
shipped to workers. They compute delays and never sleep: whoever retries does the sleeping,
so a test can record the delays instead of waiting.
"""

from __future__ import annotations

from hosepipe._typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from typing import Any

__all__ = ["Backoff", "Exponential", "constant", "exponential", "none"]


class Backoff(Protocol):
    """What a backoff policy provides: the delay before retry *attempt*, and its cap.

    Any object with both is a policy for ``retry(..., backoff=)``, such as one that waits
    1 s, 2 s, 3 s, then 3 s again:

    >>> class Linear:
    ...     max = 3.0
    ...     def delay(self, attempt: int) -> float:
    ...         return min(self.max, float(attempt))
    >>> policy: Backoff = Linear()
    >>> [policy.delay(attempt) for attempt in range(1, 5)]
    [1.0, 2.0, 3.0, 3.0]
    """

    @property
    def max(self) -> float:
        """The longest delay, in seconds; a server's ``Retry-After`` is capped by it too."""
        ...

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry *attempt* (1 for the first retry)."""
        ...


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class Exponential:
    """Exponential backoff: wait *base*, then twice that, and so on, never more than *max*.

    The delay before retry *attempt* (1 for the first retry) is
    ``d = min(max, base * 2 ** (attempt - 1))`` seconds. With *jitter* (the default) it is a
    random value between ``d / 2`` and ``d`` ("equal jitter"), so that clients that failed
    together do not all retry at the same moment, while each delay is still at least as long
    as the one before it.

    >>> b = Exponential(base=0.5, max=4.0, jitter=False)
    >>> [b.delay(attempt) for attempt in range(1, 6)]
    [0.5, 1.0, 2.0, 4.0, 4.0]
    >>> 0.25 <= Exponential(base=0.5).delay(1) <= 0.5
    True
    >>> Exponential()
    Exponential(base=0.5, max=30.0, jitter=True)
    >>> Exponential(base=-1)
    Traceback (most recent call last):
    ...
    ValueError: Exponential(): `base` must be a number >= 0, got -1
    """

    __slots__ = ("_base", "_jitter", "_max")

    def __init__(self, base: float = 0.5, max: float = 30.0, jitter: bool = True) -> None:
        if not _number(base) or not base >= 0 or base == float("inf"):
            raise ValueError(f"Exponential(): `base` must be a number >= 0, got {base!r}")
        if not _number(max) or not max >= base or max == float("inf"):
            raise ValueError(
                f"Exponential(): `max` must be a number >= `base` ({base!r}), got {max!r}"
            )
        if not isinstance(jitter, bool):
            raise TypeError(f"Exponential(): `jitter` must be True or False, got {jitter!r}")
        self._base = float(base)
        self._max = float(max)
        self._jitter = jitter

    @property
    def base(self) -> float:
        """The first delay, in seconds (before jitter)."""
        return self._base

    @property
    def max(self) -> float:
        """The longest delay, in seconds."""
        return self._max

    @property
    def jitter(self) -> bool:
        """Whether delays are randomised between half and all of their value."""
        return self._jitter

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry *attempt* (1 for the first retry).

        >>> Exponential(base=1.0, max=10.0, jitter=False).delay(3)
        4.0
        """
        if isinstance(attempt, bool) or not isinstance(attempt, int) or attempt < 1:
            raise ValueError(f"delay(): `attempt` must be an int >= 1, got {attempt!r}")
        # 2 ** 1100 would overflow a float; any attempt past the cap gives the cap anyway.
        d = self._max if attempt > 64 else min(self._max, self._base * 2.0 ** (attempt - 1))
        if not self._jitter:
            return d
        import random

        return random.uniform(d / 2, d)

    def __repr__(self) -> str:
        return f"Exponential(base={self._base!r}, max={self._max!r}, jitter={self._jitter!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Exponential):
            return NotImplemented
        return (self._base, self._max, self._jitter) == (other._base, other._max, other._jitter)

    def __hash__(self) -> int:
        return hash((Exponential, self._base, self._max, self._jitter))

    def __reduce__(self) -> tuple[Any, ...]:
        return (Exponential, (self._base, self._max, self._jitter))


def exponential(base: float = 0.5, max: float = 30.0, *, jitter: bool = True) -> Exponential:
    """Wait *base* seconds, then twice as long each time, never more than *max*.

    With *jitter* each delay is drawn between half and all of that (see ``Exponential``).

    >>> exponential(1.0, 5.0, jitter=False)
    Exponential(base=1.0, max=5.0, jitter=False)
    """
    return Exponential(base, max, jitter)


def constant(seconds: float) -> Exponential:
    """Wait the same *seconds* before every retry.

    >>> [constant(0.25).delay(k) for k in (1, 2, 3)]
    [0.25, 0.25, 0.25]
    """
    return Exponential(seconds, seconds, jitter=False)


def none() -> Exponential:
    """Retry at once, without waiting (tests, or calls that fail at random).

    >>> none().delay(7)
    0.0
    """
    return Exponential(0.0, 0.0, jitter=False)


def check_backoff(op: str, backoff: object) -> None:
    """Validate a ``backoff=`` argument when the stage or source is built."""
    if not callable(getattr(backoff, "delay", None)) or not _number(getattr(backoff, "max", None)):
        raise TypeError(
            f"{op}: `backoff` must be a backoff policy such as Exponential(base=0.5, max=30.0) "
            f"(an object with a delay(attempt) method and a numeric `max`), got {backoff!r}"
        )
