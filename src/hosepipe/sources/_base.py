"""What hosepipe's own sources share: the ``Reader`` base (``_ends``) and what to do with
bad records (``on_error=``)."""

from __future__ import annotations

from collections.abc import Callable

from hosepipe._ends import Reader
from hosepipe._errors import DataError
from hosepipe._typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Literal

    OnError = Literal["raise", "skip"] | Callable[[DataError], object]

__all__ = ["Reader", "check_on_error", "handle_bad"]


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
