"""Partitions: a stream's source cut into parts that can be read apart, in order.

An engine (``hosepipe.engines``) runs each part on a worker. ``split(source)`` gives the
parts of a source, in the order the source reads them:

* ``read_lines``, ``read_jsonl``, ``read_csv`` and ``read_bytes`` over several files (a
  list, a glob, a folder): one part per file, read by a copy of the reader for that file;
* with a *partition_size*, a plain (uncompressed) ``read_lines`` or ``read_jsonl`` file
  larger than it: byte ranges cut just after a ``"\\n"``, so every line is in exactly one
  part (``line_ranges``). A range knows the number of its first line (``_LineRange``), so
  ``DataError`` lines count from the start of the file; an engine counts the line ends
  before each range (``count_newlines``) as a task of its own;
* ``hp.read_sql(url, query, key=, partitions=N)``: N ranges of an integer key, each read
  by a copy of the reader with ``WHERE low <= key < high`` (``_SqlReader.key_ranges``,
  which asks the database for the key's ``min`` and ``max`` first);
* ``hp.partitioned(sources)``: one part per source given.

Compressed files are one part each (they cannot be entered in the middle); CSV files are
too (a quoted field may hold a line break, so a line end is no record boundary).
"""

from __future__ import annotations

import copy
import io
import os
import re
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from itertools import pairwise

from hosepipe._errors import HosepipeError
from hosepipe._typing import TYPE_CHECKING, Any
from hosepipe.sources._base import Reader

if TYPE_CHECKING:
    from hosepipe._source import Source
    from hosepipe._stream import Stream
    from hosepipe.sources._files import _Decoding

    Report = Callable[[BaseException], None]

__all__ = [
    "Partitioned",
    "count_newlines",
    "line_ranges",
    "parse_size",
    "partitioned",
    "split",
]

_UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "KIB": 2**10, "MIB": 2**20}
_UNITS |= {"GIB": 2**30, "K": 10**3, "M": 10**6, "G": 10**9}
_READ = 1 << 20  # bytes read at a time when counting or seeking line ends


def parse_size(op: str, size: object) -> int:
    """A size in bytes from an int or a string such as ``"64MB"`` or ``"1.5 GiB"``.

    >>> parse_size("Dask", "64MB"), parse_size("Dask", "2KiB"), parse_size("Dask", 100)
    (64000000, 2048, 100)
    >>> parse_size("Dask", "big")
    Traceback (most recent call last):
    ...
    ValueError: Dask(): `partition_size` must be a number of bytes >= 1 or a size ... got 'big'
    """
    value: float | None = None
    if isinstance(size, int) and not isinstance(size, bool):
        value = size
    elif isinstance(size, str):
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", size)
        if m and m.group(2).upper() in _UNITS:
            value = float(m.group(1)) * _UNITS[m.group(2).upper()]
    if value is None or value < 1:
        raise ValueError(
            f"{op}(): `partition_size` must be a number of bytes >= 1 or a size such as "
            f"'64MB', got {size!r}"
        )
    return int(value)


# -- hp.partitioned ------------------------------------------------------------------------


class Partitioned(Reader[Any]):
    """The items of several sources, one after the other; each source is one partition."""

    def __init__(self, sources: tuple[Any, ...]) -> None:
        self.sources = sources
        self.label = f"partitioned([... {len(sources)} sources])"

    def open(self, report: Report) -> Iterator[Any]:
        from hosepipe._stream import Stream

        for source in self.sources:
            with Stream(source).iterate() as it:
                yield from it


def partitioned(sources: Iterable[Any]) -> Stream[Any]:
    """A stream of the items of *sources*, one after the other, each one a partition.

    Run locally, it is their chain; on an engine (``engine=hp.engines.Dask()``) each source
    is read by a task of its own. A source is anything ``hp.Stream`` takes (a list, a
    zero-argument function, one of hosepipe's readers) or a stream (``hp.read_csv(path)``);
    what it holds must pickle (with cloudpickle) to reach the workers.

    >>> import hosepipe as hp
    >>> hp.partitioned([range(3), [10, 11], lambda: iter("ab")]).to_list()
    [0, 1, 2, 10, 11, 'a', 'b']
    """
    from hosepipe._stream import Stream

    if isinstance(sources, str | bytes) or not hasattr(sources, "__iter__"):
        raise TypeError(f"partitioned(): `sources` must be a list of sources, got {sources!r}")
    parts = tuple(sources)
    if not parts:
        raise ValueError("partitioned(): `sources` is empty; give at least one source")
    for part in parts:
        if not (isinstance(part, Stream) or hasattr(part, "__iter__") or callable(part)):
            raise TypeError(
                "partitioned(): every source must be an iterable, a zero-argument function "
                f"or a stream, got {part!r}"
            )
    return Stream(Partitioned(parts))


# -- byte ranges of one text file ------------------------------------------------------------


class _Range(io.RawIOBase):
    """Bytes [start, end) of a file, read as if they were the whole file."""

    def __init__(self, path: str, start: int, end: int) -> None:
        self._file = open(path, "rb", buffering=0)  # noqa: SIM115 - closed by close()
        self._file.seek(start)
        self._left = end - start

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._left <= 0:
            return 0
        view = memoryview(buffer)[: self._left]
        n = self._file.readinto(view) or 0
        self._left -= n
        return n

    def close(self) -> None:
        self._file.close()
        super().close()


class _LineRange(Reader[Any]):
    """The lines of bytes [start, end) of *path*, cut on line ends; *first_line* is the
    number of its first line in the file (None until an engine has counted it)."""

    def __init__(
        self,
        op: str,
        path: str,
        start: int,
        end: int,
        first_line: int | None,
        decoding: _Decoding,
    ) -> None:
        self.path = path
        self.start = start
        self.end = end
        self.first_line = first_line
        self.decoding = decoding
        self.label = f"{op}({path!r}, bytes {start}-{end})"

    def _open(self, path: str) -> io.BufferedIOBase:
        return io.BufferedReader(_Range(path, self.start, self.end))

    def open(self, report: Report) -> Iterator[Any]:
        from hosepipe.sources._files import _flat

        if self.first_line is None:
            raise HosepipeError(
                f"{self.label}: the number of its first line is not known; count the line "
                "ends before it first (count_newlines)"
            )
        return _flat(self._blocks(report))

    def _blocks(self, report: Report) -> Generator[Iterable[Any], None, None]:
        assert self.first_line is not None
        yield from self.decoding.blocks(self.path, report, self._open, self.first_line)


def _is_plain(path: str) -> bool:
    """Whether *path* is read as it is (not decompressed), so it can be entered anywhere."""
    from hosepipe.sources._files import _open_binary

    with _open_binary(path) as f:
        return isinstance(getattr(f, "raw", None), io.FileIO)


def line_ranges(path: str, size: int) -> list[tuple[int, int]]:
    """Byte ranges ``[start, end)`` covering *path*, each about *size* bytes, each cut just
    after a ``"\\n"``: every line lies in exactly one range. An empty file has one range.

    >>> import tempfile, os
    >>> name = os.path.join(tempfile.mkdtemp(), "a.txt")
    >>> with open(name, "wb") as f:
    ...     _ = f.write(b"aaa\\nbb\\nc\\ndddd\\n")
    >>> line_ranges(name, 5)
    [(0, 7), (7, 14)]
    """
    total = os.path.getsize(path)
    cuts = [0]
    with open(path, "rb") as f:
        nominal = size
        while nominal < total:
            f.seek(max(nominal - 1, cuts[-1]))
            at = f.tell()
            while True:  # the first "\n" at or after nominal - 1 ends the range
                block = f.read(_READ)
                if not block:
                    at = total
                    break
                i = block.find(b"\n")
                if i >= 0:
                    at += i + 1
                    break
                at += len(block)
            if at >= total:
                break
            if at > cuts[-1]:
                cuts.append(at)
            nominal = max(nominal + size, at + 1)
    cuts.append(total)
    return list(pairwise(cuts))


def count_newlines(path: str, start: int, end: int) -> int:
    """The number of ``"\\n"`` bytes in bytes [start, end) of *path*."""
    n = 0
    with io.BufferedReader(_Range(path, start, end), _READ) as f:
        while block := f.read(_READ):
            n += block.count(b"\n")
    return n


def _ranges_ok(decoding: _Decoding) -> bool:
    """Whether a file read with *decoding* can be cut at ``\\n`` bytes: each line end is
    that one byte and no other character holds it (UTF-8, Latin-1; not UTF-16)."""
    try:
        return "\n".encode(decoding.encoding) == b"\n" and "a\n".encode(decoding.encoding) == (
            b"a\n"
        )
    except (LookupError, UnicodeError):
        return False


# -- split -------------------------------------------------------------------------------


def split(source: Source, partition_size: int | None = None) -> list[Any]:
    """The parts of *source*, in its order, each a source for a stream of its own.

    A ``_LineRange`` part of a file after the first has ``first_line`` None: its reader
    needs the line ends before it counted (``first_lines``). ``HosepipeError`` for a
    source that cannot be split.
    """
    from hosepipe.sources._csv import _CsvRows
    from hosepipe.sources._files import _Chunks, _label, _Lines, resolve_paths
    from hosepipe.sources._sql import _SqlReader

    obj = source.obj
    if isinstance(obj, Partitioned):
        return list(obj.sources)
    if isinstance(obj, _SqlReader):
        return list(obj.key_ranges())
    if not isinstance(obj, _Lines | _CsvRows | _Chunks):
        raise HosepipeError(
            f"cannot cut the source {source.label} into partitions: read files with "
            "hp.read_lines, hp.read_jsonl, hp.read_csv or hp.read_bytes, rows with "
            "hp.read_sql(..., key=, partitions=), or give the parts with "
            "hp.partitioned([...])"
        )
    op = obj.label.split("(", 1)[0]
    parts: list[Any] = []
    for path in resolve_paths(obj.paths):
        if path == "-":
            raise HosepipeError(f"{obj.label}: standard input cannot be read by workers")
        if (
            partition_size is not None
            and isinstance(obj, _Lines)
            and os.path.getsize(path) > partition_size
            and _ranges_ok(obj.decoding)
            and _is_plain(path)
        ):
            for start, end in line_ranges(path, partition_size):
                first = 1 if start == 0 else None
                parts.append(_LineRange(op, path, start, end, first, obj.decoding))
            continue
        part = copy.copy(obj)
        part.paths = (path,)
        part.label = _label(op, (path,))
        parts.append(part)
    return parts


def uncounted(parts: Sequence[Any]) -> list[int]:
    """The indexes of the parts whose first line is still to be counted."""
    return [i for i, p in enumerate(parts) if isinstance(p, _LineRange) and p.first_line is None]


def set_first_lines(parts: list[Any], counts: dict[int, int]) -> None:
    """Number the first line of each ``_LineRange`` from *counts*: the line ends in every
    range before it (the ranges of one file are consecutive parts, the first counted 1)."""
    for i, p in enumerate(parts):
        if isinstance(p, _LineRange) and p.first_line is None:
            prev = parts[i - 1]
            p.first_line = prev.first_line + counts[i - 1]


def newline_jobs(parts: Sequence[Any]) -> dict[int, tuple[str, int, int]]:
    """For each range whose successor needs its first line: (path, start, end) to count."""
    return {
        i - 1: (parts[i - 1].path, parts[i - 1].start, parts[i - 1].end) for i in uncounted(parts)
    }
