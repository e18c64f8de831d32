"""``follow``: the lines appended to a file, as they are written (``tail -f``)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator

from hosepipe._errors import DataError
from hosepipe._typing import TYPE_CHECKING, Any
from hosepipe.sources._base import Reader, check_on_error, handle_bad

if TYPE_CHECKING:
    from hosepipe._stream import Stream
    from hosepipe.sources._base import OnError

    PathLike = str | os.PathLike[str]

__all__ = ["follow"]


def _stopper(stop: object) -> Callable[[], bool]:
    if stop is None:
        return lambda: False
    is_set = getattr(stop, "is_set", None)
    if callable(is_set):  # a threading.Event (or anything like it)
        return lambda: bool(is_set())
    if callable(stop):
        return lambda: bool(stop())
    raise TypeError(f"follow(): `stop` must be None, an Event or a callable, got {stop!r}")


class _Follow(Reader[str]):
    def __init__(
        self,
        path: str,
        poll: float,
        stop: object,
        from_start: bool,
        encoding: str,
        on_error: OnError,
    ) -> None:
        self.path = path
        self.poll = poll
        self.stopped = _stopper(stop)
        self.from_start = from_start
        self.encoding = encoding
        self.on_error = on_error
        self.label = f"follow({path!r})"

    def open(self, report: Callable[[BaseException], None]) -> Iterator[str]:
        f = open(self.path, "rb")  # noqa: SIM115 - replaced on rotation, closed in finally
        try:
            if not self.from_start:
                f.seek(0, os.SEEK_END)
            partial = b""
            stopping = False
            while True:
                chunk = f.readline()
                if chunk:
                    if not chunk.endswith(b"\n"):  # the writer is mid-line: wait for the rest
                        partial += chunk
                        continue
                    raw, partial = partial + chunk, b""
                    try:
                        yield _strip_end(raw.decode(self.encoding))
                    except UnicodeDecodeError as e:
                        offset = f.tell() - len(raw)
                        bad = DataError(
                            f"cannot decode as {self.encoding} at byte {offset}: {e.reason}",
                            path=self.path,
                            raw=raw,
                        )
                        handle_bad(self.on_error, bad, report)
                    continue
                if stopping:  # read to the end once more after being told to stop
                    return
                if self.stopped():
                    stopping = True
                    continue
                f, partial = self._after_end(f, partial)
                time.sleep(self.poll)
        finally:
            f.close()

    def _after_end(self, f: Any, partial: bytes) -> tuple[Any, bytes]:
        """At the end of the file: notice truncation and rotation (a new file at the path)."""
        if os.fstat(f.fileno()).st_size < f.tell():  # truncated in place
            f.seek(0)
            return f, b""
        try:
            current = os.stat(self.path)
        except FileNotFoundError:
            return f, partial  # rotated, and the new file is not there yet
        opened = os.fstat(f.fileno())
        if (current.st_ino, current.st_dev) != (opened.st_ino, opened.st_dev):
            f.close()  # the old file was read to its end: go on with the new one
            return open(self.path, "rb"), b""
        return f, partial


def follow(
    path: PathLike,
    *,
    poll: float = 0.1,
    stop: object = None,
    from_start: bool = False,
    encoding: str = "utf-8",
    on_error: OnError = "raise",
) -> Stream[str]:
    """A stream of the lines written to *path* from now on, as they arrive (``tail -f``).

    Each complete line is yielded as soon as it is written (a line still being written is
    held until its newline arrives). When no new line is there, the file is checked again
    every *poll* seconds. The stream ends when *stop* (a ``threading.Event``, or a callable
    returning true) says so while waiting, or when the iteration is closed; a file
    truncated in place is read again from its start. With *from_start* the lines already in
    the file come first.

    >>> import hosepipe as hp, tempfile, os, threading
    >>> name = os.path.join(tempfile.mkdtemp(), "app.log")
    >>> with open(name, "w") as f:
    ...     _ = f.write("old\\n")
    >>> done = threading.Event()
    >>> def append():
    ...     with open(name, "a") as f:
    ...         _ = f.write("new 1\\nnew 2\\n")
    ...     done.set()
    >>> threading.Thread(target=append).start()
    >>> hp.follow(name, poll=0.01, stop=done, from_start=True).to_list()
    ['old', 'new 1', 'new 2']
    """
    from hosepipe._stream import Stream

    if not isinstance(path, str | os.PathLike):
        raise TypeError(f"follow(): `path` must be a str or a path, got {path!r}")
    if isinstance(poll, bool) or not isinstance(poll, int | float) or poll <= 0:
        raise ValueError(f"follow(): `poll` must be a number of seconds > 0, got {poll!r}")
    check_on_error("follow", on_error)
    return Stream(_Follow(os.fspath(path), float(poll), stop, bool(from_start), encoding, on_error))


def _strip_end(line: str) -> str:
    """*line* without its end: ``\\n`` or ``\\r\\n`` (a lone ``\\r`` is text, as in
    ``read_lines``).

    >>> _strip_end("a\\r\\r\\n"), _strip_end("b\\n")
    ('a\\r', 'b')
    """
    line = line[:-1]
    return line[:-1] if line.endswith("\r") else line
