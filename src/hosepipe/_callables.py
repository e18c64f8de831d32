"""What hosepipe needs to know of a user's function: its name, whether it is ``async``, and
the retried form that ``retry()`` puts in its place.

This module is plain data and introspection, below every other layer: the stage
descriptions (``_nodes``), the steps and the drivers all ask it, and it imports nothing of
hosepipe's but ``_typing``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from hosepipe._typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

    from hosepipe.backoff import Backoff

__all__ = ["Retried", "fn_name", "is_async_fn", "is_async_source", "short_label"]

_CO_COROUTINE = 0x80
_CO_ASYNC_GENERATOR = 0x200


def fn_name(fn: object) -> str:
    """The name a user would recognise for *fn*: ``double``, ``<lambda>``, ``str.upper``.

    >>> import functools
    >>> fn_name(len), fn_name(lambda x: x), fn_name(functools.partial(max, 0))
    ('len', '<lambda>', 'partial(max)')
    """
    if isinstance(fn, functools.partial):
        return f"partial({fn_name(fn.func)})"
    name = getattr(fn, "__name__", None)
    if isinstance(name, str):
        return name
    return type(fn).__name__


def _code_flags(fn: object) -> int:
    while isinstance(fn, functools.partial):
        fn = fn.func
    if isinstance(fn, Retried):
        fn = fn.fn
    code = getattr(fn, "__code__", None)
    if code is None:  # a callable object: its __call__
        call = vars(type(fn)).get("__call__") if isinstance(fn, object) else None
        code = getattr(call, "__code__", None)
    return int(getattr(code, "co_flags", 0))


def is_async_fn(fn: object) -> bool:
    """Whether *fn* is an ``async def`` function (or a partial of one, or an object whose
    ``__call__`` is one). Checked from the code flags: no ``inspect`` import.

    >>> async def fetch(x): return x
    >>> is_async_fn(fetch), is_async_fn(abs)
    (True, False)
    """
    return bool(_code_flags(fn) & _CO_COROUTINE)


def is_async_source(obj: object) -> bool:
    """An async iterable that is not also a sync one, or an async generator function."""
    if hasattr(obj, "__aiter__") and not hasattr(obj, "__iter__"):
        return True
    return callable(obj) and bool(_code_flags(obj) & _CO_ASYNC_GENERATOR)


def short_label(obj: object) -> str:
    """A short label for an argument: a stream with no stages shows its source."""
    if getattr(obj, "_stages", None) == ():
        return str(obj._source.label)  # type: ignore[attr-defined]
    import reprlib

    return reprlib.repr(obj)


class Retried:
    """The description ``retry()`` leaves in a stage: *fn*, to be called again on the same
    item after an exception of one of *types*, at most *attempts* times, waiting
    ``backoff.delay(k)`` seconds before retry *k*. For ``flat_map`` (*flat*) the function's
    iterable is consumed inside the attempt.

    It holds data only; each run binds the wrapper that does the calling
    (``_retry.Retrying``, made by ``_retry.bind``).

    >>> from hosepipe.backoff import Exponential
    >>> r = Retried(abs, (ConnectionError,), 3, Exponential(0, 0), False)
    >>> r.__name__, r.label
    ('abs', '.retry(ConnectionError, attempts=3)')
    """

    __slots__ = ("attempts", "backoff", "flat", "fn", "types")

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

    @property
    def __name__(self) -> str:
        return fn_name(self.fn)

    @property
    def label(self) -> str:
        """``.retry(ConnectionError, attempts=3)``, appended to the stage's label."""
        names = ", ".join(t.__name__ for t in self.types)
        return f".retry({names}, attempts={self.attempts})"

    def _values(self) -> tuple[Any, ...]:
        return (self.fn, self.types, self.attempts, self.backoff, self.flat)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), self._values())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Retried):
            return NotImplemented
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash((Retried, self.fn, self.types, self.attempts))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.__name__}{self.label[6:]}"
