"""``pipe`` and ``compose``: plain function plumbing, for values rather than streams."""

from __future__ import annotations

from collections.abc import Callable

from hosepipe._callables import fn_name
from hosepipe._typing import TYPE_CHECKING, TypeVar, overload

if TYPE_CHECKING:
    from typing import Any

__all__ = ["compose", "pipe"]

A = TypeVar("A")
B = TypeVar("B")
C = TypeVar("C")
D = TypeVar("D")
E = TypeVar("E")
F = TypeVar("F")


@overload
def pipe(value: A, /) -> A: ...
@overload
def pipe(value: A, f1: Callable[[A], B], /) -> B: ...
@overload
def pipe(value: A, f1: Callable[[A], B], f2: Callable[[B], C], /) -> C: ...
@overload
def pipe(value: A, f1: Callable[[A], B], f2: Callable[[B], C], f3: Callable[[C], D], /) -> D: ...
@overload
def pipe(
    value: A,
    f1: Callable[[A], B],
    f2: Callable[[B], C],
    f3: Callable[[C], D],
    f4: Callable[[D], E],
    /,
) -> E: ...
@overload
def pipe(value: Any, /, *fns: Callable[[Any], Any]) -> Any: ...
def pipe(value: Any, /, *fns: Callable[[Any], Any]) -> Any:
    """Apply *fns* to *value* left to right: ``pipe(x, f, g) == g(f(x))``.

    >>> pipe(3, lambda x: x + 1, str)
    '4'
    """
    for fn in fns:
        if not callable(fn):
            raise TypeError(f"pipe(): every function must be callable, got {fn!r}")
    for fn in fns:
        value = fn(value)
    return value


class _Composed:
    """A composition of functions; its name shows what it is made of (for stage labels)."""

    __slots__ = ("__name__", "fns")

    def __init__(self, fns: tuple[Callable[[Any], Any], ...]) -> None:
        self.fns = fns  # applied last to first
        self.__name__ = f"compose({', '.join(fn_name(f) for f in fns)})"

    def __call__(self, value: Any) -> Any:
        for fn in reversed(self.fns):
            value = fn(value)
        return value

    def __repr__(self) -> str:
        return f"<{self.__name__}>"

    def __reduce__(self) -> tuple[Any, ...]:
        return (_Composed, (self.fns,))


@overload
def compose() -> Callable[[A], A]: ...
@overload
def compose(f1: Callable[[A], B], /) -> Callable[[A], B]: ...
@overload
def compose(f1: Callable[[B], C], f2: Callable[[A], B], /) -> Callable[[A], C]: ...
@overload
def compose(
    f1: Callable[[C], D], f2: Callable[[B], C], f3: Callable[[A], B], /
) -> Callable[[A], D]: ...
@overload
def compose(*fns: Callable[[Any], Any]) -> Callable[[Any], Any]: ...
def compose(*fns: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Compose *fns* right to left, as in mathematics: ``compose(f, g)(x) == f(g(x))``.

    >>> to_text = compose(str, abs)
    >>> to_text(-4)
    '4'
    >>> to_text.__name__
    'compose(str, abs)'
    """
    for fn in fns:
        if not callable(fn):
            raise TypeError(f"compose(): every function must be callable, got {fn!r}")
    return _Composed(fns)
