"""What a stream reads from: a re-iterable, a one-shot iterator, or a zero-argument factory."""

from __future__ import annotations

import reprlib
from collections.abc import AsyncIterator, Callable, Iterator

from hosepipe._typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

from hosepipe._callables import fn_name, is_async_source
from hosepipe._ends import BytesRead, Reader
from hosepipe._errors import StreamConsumedError

__all__ = ["Source"]

_repr = reprlib.Repr()
_repr.maxstring = 40
_repr.maxother = 40


class Source:
    """A stream's source, with the rule for running it again.

    * an iterable that is not an iterator (list, range, a file path object of a reader) is
      iterated afresh on every run;
    * a zero-argument callable (a generator function, ``lambda: open(path)``) is called on
      every run;
    * a one-shot iterator (a generator, a file object) can be run once: a second run raises
      ``StreamConsumedError`` instead of silently yielding nothing.
    """

    __slots__ = ("mode", "obj", "used")

    def __init__(self, obj: object) -> None:
        if isinstance(obj, Reader):
            self.mode = "reader"
        elif hasattr(obj, "__next__") and hasattr(obj, "__iter__"):
            self.mode = "iterator"
        elif hasattr(obj, "__iter__"):
            self.mode = "iterable"
        elif hasattr(obj, "__anext__") and hasattr(obj, "__aiter__"):
            self.mode = "aiterator"  # an async generator: one run
        elif hasattr(obj, "__aiter__"):
            self.mode = "aiterable"
        elif callable(obj):
            self.mode = "factory"
        else:
            raise TypeError(
                "Stream(): `source` must be an iterable or a zero-argument callable that "
                f"returns one, got {obj!r} ({type(obj).__name__})"
            )
        self.obj = obj
        self.used = False

    @property
    def label(self) -> str:
        if self.mode == "reader" or (
            self.mode == "aiterable" and isinstance(getattr(self.obj, "label", None), str)
        ):
            return str(self.obj.label)  # type: ignore[attr-defined]  # hosepipe's own sources
        if self.mode == "factory":
            return f"{fn_name(self.obj)}()"
        name = getattr(self.obj, "__qualname__", None)
        if self.mode == "iterator" and isinstance(name, str):  # a generator object
            return f"<generator {name}>"
        if self.mode == "aiterator" and isinstance(name, str):
            return f"<async_generator {name}>"
        return _repr.repr(self.obj)

    def open(self, report: Callable[[BaseException], None]) -> Iterator[Any]:
        """An iterator over the source for one run; *report* counts bad records it skipped."""
        if self.mode == "reader":
            return self.obj.open(report)  # type: ignore[attr-defined, no-any-return]
        if self.mode == "iterable":
            return iter(self.obj)  # type: ignore[call-overload, no-any-return]
        if self.mode == "factory":
            made = self.obj()  # type: ignore[operator]
            if not hasattr(made, "__iter__"):
                raise TypeError(
                    f"the source factory {fn_name(self.obj)}() must return an iterable, "
                    f"got {made!r} ({type(made).__name__})"
                )
            return iter(made)
        if self.used:
            raise StreamConsumedError(
                f"this stream's source is a one-shot iterator ({type(self.obj).__name__}) "
                "that an earlier run has already consumed; to run a stream more than once, "
                "give it a list, a range or a zero-argument function that returns a fresh "
                "iterator (for example `hp.Stream(lambda: open(path))`)"
            )
        self.used = True
        return self.obj  # type: ignore[return-value]

    def bytes_read(self) -> BytesRead | None:
        """For a file reader, a function giving (bytes read, total bytes), else None."""
        return self.obj.bytes_read() if self.mode == "reader" else None  # type: ignore[attr-defined]

    def has_async_form(self) -> bool:
        """Whether the source is one of hosepipe's readers with both a sync and an async
        form (``aopen``): the consumers of ``broadcast``, ``merge``."""
        return self.mode == "reader" and hasattr(self.obj, "aopen")

    def aopen(self, dual: bool = True) -> AsyncIterator[Any] | None:
        """An async iterator over an async source for one run; None for a sync source.

        An async generator function (a factory) is called on every run; an async iterable
        is iterated afresh; an async iterator (an async generator object) runs once. A
        reader with both forms is opened in its async form when *dual*, else None.
        """
        if dual and self.has_async_form():
            return self.obj.aopen()  # type: ignore[attr-defined, no-any-return]

        if self.mode == "factory" and is_async_source(self.obj):
            return self.obj().__aiter__()  # type: ignore[operator, no-any-return]
        if self.mode == "aiterable":
            return self.obj.__aiter__()  # type: ignore[attr-defined, no-any-return]
        if self.mode != "aiterator":
            return None
        if self.used:
            raise StreamConsumedError(
                f"this stream's source is a one-shot async iterator ({type(self.obj).__name__}) "
                "that an earlier run has already consumed; to run it again, give the async "
                "generator function itself: `hp.Stream(agen_fn)`, not `hp.Stream(agen_fn())`"
            )
        self.used = True
        return self.obj  # type: ignore[return-value]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Source) and other.obj is self.obj

    def __hash__(self) -> int:
        return id(self.obj)
