"""What hosepipe's own sources share: labels, re-running, and what to do with bad records.

A ``Reader`` is re-iterable (each run opens the files or connections afresh) and is opened
by the driver with a *report* callback, through which it counts the bad records it skipped
on the source's row of ``RunStats``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from hosepipe._errors import DataError
from hosepipe._typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from typing import Literal

    OnError = Literal["raise", "skip"] | Callable[[DataError], object]

__all__ = ["Reader", "check_on_error", "handle_bad"]

T = TypeVar("T", covariant=True)


def _ignore(_: BaseException) -> None:
    pass


class Reader(Generic[T]):
    """Base class of hosepipe's sources."""

    label: str = "reader()"

    def open(self, report: Callable[[BaseException], None]) -> Iterator[T]:
        """An iterator over the records, for one run; *report* counts skipped bad records."""
        raise NotImplementedError

    def __iter__(self) -> Iterator[T]:
        return self.open(_ignore)

    def __repr__(self) -> str:
        return self.label


def check_on_error(op: str, on_error: object) -> None:
    """Validate an ``on_error=`` argument when the reader is built."""
    if on_error not in ("raise", "skip") and not callable(on_error):
        raise ValueError(
            f"{op}(): `on_error` must be 'raise', 'skip' or a callable, got {on_error!r}"
        )


def handle_bad(
    on_error: OnError, error: DataError, report: Callable[[BaseException], None]
) -> None:
    """Apply the *on_error* policy to a bad record: raise it, or count it (and call back)."""
    if on_error == "raise":
        raise error
    report(error)
    if callable(on_error):
        on_error(error)
