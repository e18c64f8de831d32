"""The exceptions hosepipe raises of its own, and the notes it adds to yours.

An exception raised by *your* function (a ``map`` callable, a source, a ``for_each``
callback) propagates with its original type. hosepipe only adds a PEP 678 note that names
the stage and the item, for example ``hosepipe: in stage 2 map(parse), item index 5``.

The library's own errors form one tree::

    Exception
     +-- HosepipeError                  base of every error hosepipe raises itself
          +-- StreamConsumedError       a one-shot iterator source was iterated a second time
          +-- EmptyStreamError          first() / reduce() of an empty stream, no default given
          |    (also a ValueError)
          +-- DataError                 a bad input record; carries path, line and raw
          |    (also a ValueError)
          +-- CheckpointError           a checkpoint that cannot be used (corrupt, another
          |                             pipeline), or a stage that cannot be checkpointed
          +-- hosepipe.http.HTTPError   a request that failed for good (after retries);
                                        carries url, status and attempts

``except ValueError`` therefore still catches bad records and empty-stream errors, as code
written against the standard library expects.
"""

from __future__ import annotations

__all__ = [
    "CheckpointError",
    "DataError",
    "EmptyStreamError",
    "HosepipeError",
    "StreamConsumedError",
]

NOTE_PREFIX = "hosepipe: "
_RAW_LIMIT = 200


class HosepipeError(Exception):
    """Base class of every exception that hosepipe raises of its own.

    >>> issubclass(StreamConsumedError, HosepipeError)
    True
    """


class StreamConsumedError(HosepipeError):
    """A stream over a one-shot iterator was iterated after its source was consumed.

    >>> import hosepipe as hp
    >>> s = hp.Stream(iter([1, 2]))
    >>> s.to_list()
    [1, 2]
    >>> s.to_list()
    Traceback (most recent call last):
    ...
    hosepipe.StreamConsumedError: this stream's source is a one-shot iterator ...
    """


class CheckpointError(HosepipeError):
    """A checkpoint cannot be used (corrupt, truncated, of another pipeline), or a source,
    stage or sink cannot be checkpointed; see ``Stream.to(..., checkpoint=)``.

    >>> import hosepipe as hp
    >>> hp.Stream(iter([1])).run(checkpoint="job.ckpt")
    Traceback (most recent call last):
    ...
    hosepipe.CheckpointError: checkpoint: the source <list_iterator ...> cannot seek, ...
    """


class EmptyStreamError(HosepipeError, ValueError):
    """``first()`` or ``reduce()`` was called on an empty stream and no default was given.

    >>> import hosepipe as hp
    >>> hp.Stream([]).first()
    Traceback (most recent call last):
    ...
    hosepipe.EmptyStreamError: first() was called on an empty stream, and no default ...
    """


class DataError(HosepipeError, ValueError):
    """A malformed input record: names the file (*path*), the 1-based *line* and the *raw* text.

    >>> e = DataError("invalid JSON", path="events.jsonl", line=3, raw='{"a": ')
    >>> print(e)
    invalid JSON (events.jsonl, line 3: '{"a": ')
    >>> e.line
    3
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        raw: str | bytes | None = None,
    ) -> None:
        if isinstance(raw, str) and len(raw) > _RAW_LIMIT:
            raw = raw[:_RAW_LIMIT] + "..."
        elif isinstance(raw, bytes) and len(raw) > _RAW_LIMIT:
            raw = raw[:_RAW_LIMIT] + b"..."
        self.message = message
        self.path = path
        self.line = line
        self.raw = raw
        super().__init__(message)

    def __str__(self) -> str:
        where = []
        if self.path is not None:
            where.append(str(self.path))
        if self.line is not None:
            where.append(f"line {self.line}")
        place = ", ".join(where)
        if self.raw is not None:
            place = f"{place}: {self.raw!r}" if place else repr(self.raw)
        return f"{self.message} ({place})" if place else self.message

    def __reduce__(self) -> tuple[object, ...]:
        # the notes (hosepipe's stage and item) travel too: to a worker process and back
        notes = {"__notes__": list(self.__notes__)} if hasattr(self, "__notes__") else None
        return (_rebuild_data_error, (self.message, self.path, self.line, self.raw), notes)


def _rebuild_data_error(
    message: str, path: str | None, line: int | None, raw: str | bytes | None
) -> DataError:
    return DataError(message, path=path, line=line, raw=raw)


def has_note(exc: BaseException) -> bool:
    """True when hosepipe has already annotated *exc* (it is passing through outer stages)."""
    notes = getattr(exc, "__notes__", None)
    return bool(notes) and any(
        isinstance(n, str) and n.startswith(NOTE_PREFIX) for n in notes or ()
    )


def add_stage_note(exc: BaseException, position: int, label: str, index: int | None) -> None:
    """Add ``hosepipe: in stage N label, item index I`` to *exc*, once."""
    if has_note(exc):
        return
    where = "the source" if position == 0 else f"stage {position}"
    note = f"{NOTE_PREFIX}in {where} {label}"
    if index is not None:
        note += f", item index {index}"
    exc.add_note(note)


def stop_iteration_error(cause: BaseException | None = None) -> RuntimeError:
    """The error a stage function's ``StopIteration`` is raised as, with *cause*'s notes.

    Whatever iterates the stream would take a ``StopIteration`` for its end (and asyncio
    cannot hold one in a future), so it becomes a ``RuntimeError``, as PEP 479 has it for
    a generator; raise it ``from`` the ``StopIteration``.

    >>> stop = StopIteration()
    >>> stop.add_note("hosepipe: in stage 1 map(next), item index 3")
    >>> err = stop_iteration_error(stop)
    >>> str(err), err.__notes__
    ('a stage function raised StopIteration', ['hosepipe: in stage 1 map(next), item index 3'])
    """
    error = RuntimeError("a stage function raised StopIteration")
    for note in getattr(cause, "__notes__", None) or ():
        error.add_note(note)
    return error
