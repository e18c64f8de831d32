"""Generic pagination: a source over pages fetched one cursor after another."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from hosepipe._callables import fn_name
from hosepipe._typing import TYPE_CHECKING, TypeVar
from hosepipe.sources._base import Reader

if TYPE_CHECKING:
    from typing import Any

__all__ = ["paginate"]

T = TypeVar("T")
C = TypeVar("C")


class _Pages(Reader[T]):
    def __init__(
        self,
        fetch_page: Callable[[Any], tuple[Iterable[T], Any]],
        start: Any,
        max_pages: int | None,
    ) -> None:
        self.fetch_page = fetch_page
        self.start = start
        self.max_pages = max_pages
        self.label = f"paginate({fn_name(fetch_page)})"

    def open(self, report: Callable[[BaseException], None]) -> Iterator[T]:
        cursor = self.start
        pages = 0
        while True:
            got = self.fetch_page(cursor)
            if not (isinstance(got, tuple) and len(got) == 2):
                raise TypeError(
                    f"paginate(): {fn_name(self.fetch_page)}(cursor) must return "
                    f"(items, next_cursor), got {got!r}"
                )
            items, cursor = got
            yield from items
            pages += 1
            if cursor is None or (self.max_pages is not None and pages >= self.max_pages):
                return


def paginate(
    fetch_page: Callable[[Any], tuple[Iterable[T], Any]],
    *,
    start: Any = None,
    max_pages: int | None = None,
) -> Stream[T]:
    """A stream over paged results: ``fetch_page(cursor)`` returns ``(items, next_cursor)``.

    The first call gets *start*; the stream ends after a page whose next cursor is ``None``
    (or after *max_pages* pages). Pages are fetched one at a time, only when the items of
    the page before have been used, and afresh on every run.

    >>> import hosepipe as hp
    >>> def fetch(page):
    ...     page = page or 1
    ...     return [f"item {page}.{i}" for i in range(2)], (page + 1 if page < 3 else None)
    >>> hp.paginate(fetch).to_list()
    ['item 1.0', 'item 1.1', 'item 2.0', 'item 2.1', 'item 3.0', 'item 3.1']
    >>> hp.paginate(fetch).take(3).count()  # reads two pages, not three
    3
    """
    from hosepipe._stream import Stream

    if not callable(fetch_page):
        raise TypeError(f"paginate(): `fetch_page` must be callable, got {fetch_page!r}")
    if max_pages is not None and (not isinstance(max_pages, int) or max_pages < 1):
        raise ValueError(f"paginate(): `max_pages` must be None or an int >= 1, got {max_pages!r}")
    return Stream(_Pages(fetch_page, start, max_pages))


if TYPE_CHECKING:
    from hosepipe._stream import Stream
