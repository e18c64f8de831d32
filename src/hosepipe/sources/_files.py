"""File sources: lines, bytes and JSON Lines (CSV: ``_csv``) from a file, a list, a glob or a
folder.

Files are opened when a run starts and closed when it ends (however it ends), so a stream
over a path runs again from the start. Compressed files are read by suffix: ``.gz``,
``.bz2`` and ``.xz`` with the standard library, ``.zst`` with the ``zstandard`` package
(extra ``zstd``). ``-`` reads standard input.

Bad input never passes silently. A line that cannot be decoded, a truncated compressed
file, invalid JSON or a CSV row with the wrong number of fields is a ``DataError`` naming
the file, the 1-based line and the raw text; ``on_error`` says what to do with it:
``"raise"`` (the default), ``"skip"`` (counted in the stats), or a callable that receives
the error (and the record is skipped).

Why this module is longer than most: lines, bytes, JSON Lines (and CSV) share one opening
and decompression, one line rule with its offsets and line numbers, the checkpoint cursors
and one bad-record policy.
"""

from __future__ import annotations

import codecs
import io
import os
import sys
import weakref
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from itertools import chain, compress, repeat
from operator import add

from hosepipe._errors import DataError
from hosepipe._typing import TYPE_CHECKING, Any
from hosepipe.sources._base import Reader, check_on_error, handle_bad

if TYPE_CHECKING:
    from hosepipe._stream import Stream
    from hosepipe.sources._base import OnError

    PathLike = str | os.PathLike[str]
    Paths = PathLike | Sequence[PathLike]
    Report = Callable[[BaseException], None]

__all__ = ["read_bytes", "read_jsonl", "read_lines", "resolve_paths"]

_STDIN = "-"
_CODEC_MODULES = frozenset({"gzip", "zlib", "bz2", "_bz2", "lzma", "_lzma", "zstandard", "zstd"})
_BLOCK = 1 << 16  # bytes read at a time on the fast paths


# -- paths ------------------------------------------------------------------------------------


def _check_paths(op: str, paths: object) -> tuple[str, ...]:
    if isinstance(paths, str | os.PathLike):
        return (os.fspath(paths),)
    if isinstance(paths, list | tuple) and paths:
        out = []
        for p in paths:
            if not isinstance(p, str | os.PathLike):
                raise TypeError(f"{op}(): every path must be a str or a path, got {p!r}")
            out.append(os.fspath(p))
        return tuple(out)
    raise TypeError(
        f"{op}(): `path` must be a path, a glob, a folder or a non-empty list of them, "
        f"got {paths!r}"
    )


def resolve_paths(specs: Iterable[str]) -> list[str]:
    """The files *specs* name, in order: a file; ``-``; every file of a folder, sorted; or
    the files a glob pattern matches, sorted (a pattern that matches nothing is an error)."""
    import glob
    from pathlib import Path

    files: list[str] = []
    for spec in specs:
        if spec == _STDIN or os.path.isfile(spec):
            files.append(spec)
        elif os.path.isdir(spec):
            files.extend(
                sorted(str(p) for p in Path(spec).iterdir() if p.is_file() and p.name[0] != ".")
            )
        elif glob.has_magic(spec):
            matched = sorted(p for p in glob.glob(spec, recursive=True) if os.path.isfile(p))
            if not matched:
                raise FileNotFoundError(f"no file matches the pattern {spec!r}")
            files.extend(matched)
        else:
            raise FileNotFoundError(f"no such file or folder: {spec!r}")
    return files


def _corrupt(e: BaseException) -> bool:
    """Whether *e* says a compressed file is truncated or corrupt (not that it is missing)."""
    if isinstance(e, EOFError):
        return True
    return type(e).__module__.split(".")[0] in _CODEC_MODULES or type(e).__name__ in {
        "BadGzipFile",
        "ZstdError",
    }


def _label(op: str, paths: tuple[str, ...]) -> str:
    if len(paths) == 1:
        return f"{op}({paths[0]!r})"
    return f"{op}([{paths[0]!r}, ... {len(paths)} paths])"


def open_binary(path: str) -> io.BufferedIOBase:
    """*path* opened for reading bytes, decompressed by suffix (``-`` is standard input).

    The file is noted as the one being read at *path*, for progress bars (``bytes_read``).
    """
    if path == _STDIN:
        return _Unclosable(sys.stdin.buffer)
    f = _open_binary(path)
    _reading[path] = f
    return f


# path -> the file object last opened there, while it lives: where a reader is in its file
_reading: weakref.WeakValueDictionary[str, io.BufferedIOBase] = weakref.WeakValueDictionary()


def bytes_read(reader: object) -> Callable[[], tuple[int, int]] | None:
    """For a file reader, a function giving (bytes read so far, total bytes) of its files;
    None for other sources and for standard input. Compressed files count compressed bytes.

    The position is the operating system's offset in the file being read (read ahead of
    the items by at most a buffer); files before it in the reader's order count as read.
    Meant for progress bars: two runs reading the same file at once confuse it.
    """
    paths = getattr(reader, "paths", None)
    if not isinstance(reader, _FileReader) or paths is None:
        return None
    resolved = resolve_paths(paths)
    if _STDIN in resolved:
        return None
    sizes = []
    for path in resolved:
        try:
            sizes.append(os.path.getsize(path))
        except OSError:
            sizes.append(0)
    total = sum(sizes)
    before = [sum(sizes[:i]) for i in range(len(sizes))]
    last = [0]  # bytes read, never going back

    def read() -> tuple[int, int]:
        for i in range(len(resolved) - 1, -1, -1):
            f = _reading.get(resolved[i])
            if f is None:
                continue
            try:
                at = sizes[i] if f.closed else os.lseek(f.fileno(), 0, os.SEEK_CUR)
            except (OSError, ValueError):  # closed meanwhile
                at = sizes[i]
            last[0] = max(last[0], before[i] + min(at, sizes[i]))
            break
        return last[0], total

    return read


class _FileReader(Reader[Any]):
    """A reader of files, whose progress is counted in bytes (``bytes_read``)."""

    paths: tuple[str, ...]
    _scan: tuple[str, int, int] | None = None  # a (path, line, offset) known, for settling

    def bytes_read(self) -> Callable[[], tuple[int, int]] | None:
        return bytes_read(self)

    def settle_position(self, pos: dict[str, Any] | None) -> dict[str, Any] | None:
        """*pos* (from ``position()``) with the byte offset of its line in a plain file,
        counted on from the last one settled: checkpoints call it in their own thread,
        so the run does not wait for the counting."""
        if pos is None or pos["offset"] is not None or _compressed(pos["path"]):
            return pos
        pos = dict(pos)
        path, line, near = pos["path"], pos["line"], pos.pop("near", None)
        if near is not None:  # the start of the block being read: at most a block to count
            return {**pos, "offset": _offset_of_line(path, line - near[0], near[1])}
        known, base, at = self._scan or (path, 0, 0)
        if known != path or base > line:
            base, at = 0, 0
        offset = _offset_of_line(path, line - base, at)
        self._scan = (path, line, offset)
        return {**pos, "offset": offset}


def _open_binary(path: str) -> io.BufferedIOBase:
    lower = path.lower()
    if lower.endswith(".gz"):
        import gzip

        return gzip.open(path, "rb")
    if lower.endswith(".bz2"):
        import bz2

        return bz2.open(path, "rb")
    if lower.endswith(".xz"):
        import lzma

        return lzma.open(path, "rb")
    if lower.endswith(".zst"):
        from hosepipe._extras import require

        zstandard = require("zstandard", "zstd", "reading .zst files")
        return io.BufferedReader(_Zstd(zstandard, open(path, "rb")))
    return open(path, "rb")


class _Unclosable(io.BufferedIOBase):
    """Standard input for one run: reading passes through, closing leaves it open."""

    def __init__(self, raw: Any) -> None:
        self._raw = raw

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        return bytes(self._raw.read(-1 if size is None else size))

    def read1(self, size: int = -1) -> bytes:
        read = getattr(self._raw, "read1", self._raw.read)
        return bytes(read(size))

    def readline(self, size: int | None = -1) -> bytes:
        return bytes(self._raw.readline(-1 if size is None else size))


class _Zstd(io.RawIOBase):
    """Decompressed zstd frames, one after another; input that ends inside a frame is an
    ``EOFError`` (zstandard's own stream reader returns a short read instead)."""

    def __init__(self, zstandard: Any, raw: Any) -> None:
        self._new = zstandard.ZstdDecompressor().decompressobj
        self._raw = raw
        self._obj = self._new()
        self._pending = bytearray()  # deleting from its front is cheap, unlike bytes slicing
        self._started = False  # input seen since the current frame began

    def readable(self) -> bool:
        return True

    def fileno(self) -> int:
        return int(self._raw.fileno())

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            chunk = self._raw.read(1 << 14)  # small reads: bounded output per step
            if not chunk:
                if self._started and not self._obj.eof:
                    raise EOFError("zstd stream ended before the end of a frame")
                return 0
            while chunk:
                if self._obj.eof:  # the previous frame ended: a new one starts here
                    self._obj = self._new()
                self._started = True
                self._pending += self._obj.decompress(chunk)
                chunk = self._obj.unused_data if self._obj.eof else b""
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        del self._pending[:n]
        return n

    def close(self) -> None:
        self._raw.close()
        super().close()


# -- lines ----------------------------------------------------------------------------------------
#
# A line ends at "\n"; "\r\n" is a line end too, and a lone "\r" is part of the line's text.
# Line numbers (1-based) count those lines, in every reader and in every error, so they are
# what ``read_lines`` yields, ``wc -l`` counts and ``sed -n 'Np'`` prints.


def _reads(
    binary: io.BufferedIOBase, encoding: str, errors: str, starts: list[int] | None = None
) -> Iterator[tuple[str, str, int]]:
    """*binary* decoded a read of ``_BLOCK`` bytes at a time: for each read that ends a
    line, ``(head, text, cut)``: the line begun before it, what it decoded, and where in
    that its last line ends; ``head + text[:cut]`` is whole lines. Last, what follows the
    last "\n" (maybe "") as ``(rest, "", 0)``. A decoding error only says that the
    current read holds a bad byte, not which line: the callers then find it line by line.

    With *starts* (checkpointed runs), ``starts[0]`` is set, before each is yielded, to the
    byte offset where its head starts, counted from where *binary* was: the previous
    read's last ``\n`` byte, so the encoding must write a line end as that byte."""
    decode = codecs.getincrementaldecoder(encoding)(errors).decode
    read = binary.read
    pieces: list[str] = []  # the start of a line that has not ended yet
    at = begin = 0  # bytes read before the current read; where the current block starts
    while chunk := read(_BLOCK):
        text = decode(chunk)
        cut = text.rfind("\n") + 1
        if not cut:
            pieces.append(text)
            at += len(chunk)
            continue
        if starts is not None:
            starts[0], begin = begin, at + chunk.rfind(b"\n") + 1
        at += len(chunk)
        yield "".join(pieces), text, cut
        pieces = [text[cut:]]
    pieces.append(decode(b"", True))
    if starts is not None:
        starts[0] = begin
    yield "".join(pieces), "", 0


def _text_blocks(
    binary: io.BufferedIOBase, encoding: str, errors: str, starts: list[int] | None = None
) -> Iterator[str]:
    """The text of *binary* in blocks of whole lines, a block a read (``_reads``, with its
    *starts*); the last block is whatever follows the last "\n" (maybe "")."""
    for head, text, cut in _reads(binary, encoding, errors, starts):
        yield head + text[:cut]


def _line_lists(
    binary: io.BufferedIOBase, encoding: str, errors: str, starts: list[int] | None = None
) -> Iterator[list[str]]:
    """The lines of *binary* without their line ends, a list a read: those of
    ``_split_lines(block, False)`` of each of ``_text_blocks``' blocks, but with no copy of
    the text where a read holds no "\r": one ``split`` of what it decoded (its last piece,
    the line it ends in, is finished by the next read)."""
    for head, text, cut in _reads(binary, encoding, errors, starts):
        if not cut or "\r" in text or "\r" in head:  # the exact rule
            yield _split_lines(head + text[:cut], False)
            continue
        lines = text.split("\n")
        lines.pop()  # the line begun: the next read's head
        if head:
            lines[0] = head + lines[0]
        yield lines


# what str.splitlines() ends a line at besides "\n" and "\r"
_OTHER_BREAKS = ("\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029")


def _split_lines(block: str, ends: bool) -> list[str]:
    """The lines of *block* (whole lines, but for a file's last block): without their line
    ends, or with *ends* each with "\\n" ("\\r\\n" made "\\n"); a lone "\\r" stays in the text.

    Each case takes the fastest exact way (``str.replace`` and ``str.count`` cost as much as
    the split): ``split("\\n")`` when there is no "\\r"; ``splitlines()`` when it cuts only
    where a "\\n" is, which one count checks.
    """
    if "\r" not in block:
        if not ends:
            lines = block.split("\n")
            if not lines[-1]:  # else: a last line without a line end
                lines.pop()
            return lines
        if not any(map(block.__contains__, _OTHER_BREAKS)):
            return block.splitlines(True)
        lines = block.split("\n")
    else:
        lines = block.splitlines()
        if block[-1] == "\n" and len(lines) == block.count("\n"):  # no lone "\r", no other
            return list(map(add, lines, repeat("\n"))) if ends else lines
        lines = block.replace("\r\n", "\n").split("\n")
        if not ends:
            if not lines[-1]:
                lines.pop()
            return lines
    last = lines.pop()
    lines = list(map(add, lines, repeat("\n")))
    if last:
        lines.append(last)
    return lines


class _Flat(chain[Any]):
    """The items of a generator of blocks (iterables of items), flattened at C speed, and
    ``close()`` to close that generator (and with it the file it reads) when a run ends."""

    __slots__ = ("blocks",)
    blocks: Generator[Iterable[Any], None, None]

    def close(self) -> None:
        self.blocks.close()


def _flat(blocks: Generator[Iterable[Any], None, None]) -> _Flat:
    flat = _Flat.from_iterable(blocks)
    assert isinstance(flat, _Flat)
    flat.blocks = blocks
    return flat


class _Decoding:
    """How a reader turns one file's bytes into lines, and what it does with bad ones."""

    __slots__ = ("encoding", "errors", "keep_ends", "located", "on_error", "skip_blank")

    def __init__(
        self,
        encoding: str,
        errors: str,
        keep_ends: bool,
        on_error: OnError,
        located: bool,
        skip_blank: bool = False,
    ) -> None:
        self.encoding = encoding
        self.errors = errors
        self.keep_ends = keep_ends  # end lines with "\n" ("\r\n" becomes "\n")
        self.on_error = on_error
        self.located = located  # yield (path, line, text) instead of text
        self.skip_blank = skip_blank  # leave out lines that are only whitespace

    def blocks(
        self,
        path: str,
        report: Report,
        opener: Callable[[str], io.BufferedIOBase] = open_binary,
        first_line: int = 1,
        cursor: _Cursor | None = None,
    ) -> Iterator[Iterable[Any]]:
        """The lines of *path*, a block at a time (``_Flat`` hands them out one by one).

        The fast path decodes and splits large blocks of text (``_line_lists``; with
        *keep_ends*, ``_text_blocks``). A decoding
        error there only says that the current block is bad, so the file is then read again
        in binary from the last good line, decoding line by line to find and report each bad
        one. Both paths split lines by the same rule: at "\\n", with "\\r\\n" as one line end.
        *opener* and *first_line* read a part of the file instead (``sources._partition``):
        what *opener* returns starts at line *first_line* of *path*. A *cursor*
        (checkpointed runs) says where to start and notes each block handed out.
        """
        n = first_line - 1 if cursor is None else cursor.line  # lines handed out (or before)
        try:
            if path != _STDIN:  # standard input cannot be read twice: only line by line
                with opener(path) as binary:
                    if cursor is not None and n:
                        cursor.seek(binary)
                    starts = None if cursor is None else cursor.starts()
                    if not self.keep_ends:
                        got = _line_lists(binary, self.encoding, self.errors, starts)
                    else:
                        got = map(
                            _split_lines,
                            _text_blocks(binary, self.encoding, self.errors, starts),
                            repeat(self.keep_ends),
                        )
                    try:
                        for lines in got:
                            first, n = n + 1, n + len(lines)
                            items: Iterable[Any] = iter(lines)
                            ahead = items  # how far the block was taken: its length hint
                            if self.located:
                                ahead = iter(range(first, n + 1))
                                items = zip(repeat(path), ahead, lines)
                            if self.skip_blank:
                                items = compress(items, map(str.strip, lines))
                            if cursor is not None:
                                cursor.block(first, len(lines), ahead)
                                if starts is not None:
                                    cursor.near = (first - 1, cursor.base + starts[0])
                            yield items
                        return
                    except UnicodeDecodeError:
                        pass  # find the bad line(s) below
            with opener(path) as binary:
                for _ in range(n - first_line + 1):
                    binary.readline()
                for raw in binary:
                    n += 1
                    try:
                        line = raw.decode(self.encoding, self.errors)
                    except UnicodeDecodeError as e:
                        reason = f"cannot decode as {self.encoding}: {e.reason}"
                        bad = DataError(reason, path=path, line=n, raw=raw)
                        handle_bad(self.on_error, bad, report)
                        continue
                    if line[-2:] == "\r\n":
                        line = line[:-2] + "\n"
                    if not self.keep_ends:
                        line = line.removesuffix("\n")
                    if self.skip_blank and not line.strip():
                        continue
                    one = iter(((path, n, line),) if self.located else (line,))
                    if cursor is not None:
                        cursor.block(n, 1, one)
                        cursor.near = None  # settled by counting from the last known offset
                    yield one
        except Exception as e:
            if not _corrupt(e):
                raise
            bad = DataError(f"truncated or corrupt file: {e}", path=path, line=n + 1)
            handle_bad(self.on_error, bad, report)  # skip: the rest of this file is unreadable


class _Lines(_FileReader):
    _start: dict[str, Any] | None = None  # where the next run starts (seek)
    _cursor: _Cursor | None = None  # where the latest run is

    def __init__(self, op: str, paths: tuple[str, ...], decoding: _Decoding) -> None:
        self.paths = paths
        self.decoding = decoding
        self.label = _label(op, paths)

    def open(self, report: Report) -> Iterator[Any]:
        return _flat(self._blocks(report))

    def _blocks(self, report: Report) -> Generator[Iterable[Any], None, None]:
        for cursor in _files_from(self):
            yield from self.decoding.blocks(cursor.path, report, cursor=cursor)

    def position(self) -> dict[str, Any] | None:
        """Where the latest run is: just after the last line it handed out (checkpoints)."""
        return None if self._cursor is None else self._cursor.position()

    def seek(self, pos: dict[str, Any]) -> None:
        """Make the next run start at *pos*, a ``position()`` (checkpoints)."""
        self._start = pos

    def check_checkpoint(self) -> None:
        _check_seekable(self.label, self.paths, self.decoding.encoding)


# -- positions, for checkpointed runs (hosepipe._checkpoint) -------------------------------------
#
# A position is a dict: the index of the file in the reader's list and its path, the number
# of lines handed out of it, and the byte offset where the next line starts (None for a
# compressed file, which a resumed run reads again up to that line). The offset is found by
# counting "\n" bytes, so a checkpointed reader needs an encoding where "\n" is that byte.


class _Cursor:
    """Where one file of a run is: the block of lines being handed out (its first line
    number, its length, and an iterator over it whose length hint says how much of it is
    left), and where the reading of the file started (a seek)."""

    __slots__ = (
        "ahead",
        "base",
        "fields",
        "first",
        "index",
        "line",
        "near",
        "offset",
        "path",
        "size",
    )

    def __init__(self, index: int, path: str, line: int = 0, offset: int | None = None) -> None:
        self.index, self.path = index, path
        self.line, self.offset = line, offset  # lines before the start, and its byte offset
        self.first, self.size = line + 1, 0
        self.ahead: Any = iter(())
        self.fields: tuple[str, ...] | None = None  # read_csv: the file's header
        # (lines before the block being read, its byte offset): a plain file's position is
        # then settled by counting "\n" in that block only (``_FileReader.settle_position``)
        self.near: tuple[int, int] | None = None
        self.base = 0 if offset is None else offset  # the byte offset reading starts at

    def starts(self) -> list[int] | None:
        """For ``_text_blocks``: where each block starts, in a plain file read from its
        start or from a known offset; None where offsets say nothing (compressed files)."""
        if _compressed(self.path) or (self.line and self.offset is None):
            return None
        return [0]

    def block(self, first: int, size: int, ahead: Any) -> None:
        self.first, self.size, self.ahead = first, size, ahead

    def lines(self) -> int:
        """The lines handed out so far."""
        return self.first - 1 + self.size - int(self.ahead.__length_hint__())

    def position(self, lines: int | None = None) -> dict[str, Any]:
        """The position after *lines* lines (default: those handed out); its byte offset
        is found later, by ``settle`` (``_FileReader.settle_position``)."""
        line = self.lines() if lines is None else lines
        pos: dict[str, Any] = {"file": self.index, "path": self.path, "line": line, "offset": None}
        if self.fields is not None:
            pos["fields"] = list(self.fields)
        if self.near is not None:
            pos["near"] = self.near  # for settle_position, which takes it out
        return pos

    def seek(self, binary: Any) -> None:
        """Move *binary*, just opened, to the start of the line after ``line``."""
        if self.offset is not None:
            binary.seek(self.offset)
        else:  # a compressed file: read up to there again
            for _ in range(self.line):
                binary.readline()


def _compressed(path: str) -> bool:
    return path.lower().endswith((".gz", ".bz2", ".xz", ".zst"))


def _offset_of_line(path: str, lines: int, start: int) -> int:
    """The byte offset in *path* after *lines* more lines from the offset *start*: "\\n"
    counted a read (``_BLOCK``) at a time, then 4 KB at a time in the last, then line by
    line. From the start of the block being read (``_Cursor.near``) that is one read."""
    buf = bytearray(_BLOCK)
    with open(path, "rb", buffering=0) as f:
        f.seek(start)
        at = start
        while lines > 0:
            got = f.readinto(buf)
            if not got:
                return at  # the last line has no line end
            found = buf.count(b"\n", 0, got)
            if found < lines:
                lines -= found
                at += got
                continue
            i = j = 0
            while True:
                j = min(i + 4096, got)
                here = buf.count(b"\n", i, j)
                if here >= lines:
                    break
                lines -= here
                i = j
            cut = i - 1
            for _ in range(lines):
                cut = buf.index(b"\n", cut + 1, j)
            return at + cut + 1
    return start


def _files_from(reader: Any) -> Iterator[_Cursor]:
    """A cursor per file of *reader* for one run, from where its ``seek`` said."""
    start, reader._start = reader._start, None
    files = resolve_paths(reader.paths)
    begin = 0 if start is None else int(start["file"])
    if start is not None and (begin >= len(files) or files[begin] != start["path"]):
        from hosepipe._errors import CheckpointError

        raise CheckpointError(
            f"checkpoint: {reader.label} cannot resume: file {begin + 1} of its files was "
            f"{start['path']!r} and is now {files[begin] if begin < len(files) else None!r}"
        )
    for index in range(begin, len(files)):
        if start is not None and index == begin:
            cursor = _Cursor(index, files[index], int(start["line"]), start["offset"])
            if start["offset"] is not None:
                reader._scan = (files[index], int(start["line"]), start["offset"])
            fields = start.get("fields")
            cursor.fields = None if fields is None else tuple(fields)
        else:
            cursor = _Cursor(index, files[index])
        reader._cursor = cursor
        yield cursor


def _check_seekable(label: str, paths: tuple[str, ...], encoding: str) -> None:
    from hosepipe._errors import CheckpointError

    if _STDIN in paths:
        raise CheckpointError(
            f"checkpoint: the source {label} reads standard input, which cannot seek"
        )
    if "\n".encode(encoding) != b"\n":
        raise CheckpointError(
            f"checkpoint: the source {label} reads {encoding!r}, where a line end is not the "
            "byte \\n; a checkpointed run needs an ASCII-compatible encoding such as utf-8"
        )


def _check_text_options(op: str, encoding: object, errors: object) -> None:
    import codecs

    if not isinstance(encoding, str):
        raise TypeError(f"{op}(): `encoding` must be a str, got {encoding!r}")
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise ValueError(f"{op}(): unknown `encoding` {encoding!r}") from None
    if not isinstance(errors, str):
        raise TypeError(f"{op}(): `errors` must be a str, got {errors!r}")
    try:
        codecs.lookup_error(errors)
    except LookupError:
        raise ValueError(f"{op}(): unknown `errors` handler {errors!r}") from None


def read_lines(
    path: Paths,
    *,
    encoding: str = "utf-8",
    errors: str = "strict",
    keep_ends: bool = False,
    on_error: OnError = "raise",
) -> Stream[str]:
    """A stream of the lines of *path*: a file, a list of files, a glob or a folder (sorted).

    A line ends at ``\\n`` or ``\\r\\n`` (a lone ``\\r`` is part of its text); the line end
    is removed, or with *keep_ends* kept as ``\\n``. ``.gz``, ``.bz2``, ``.xz`` and ``.zst``
    files are decompressed; ``-`` is standard input. With ``errors="strict"`` an
    undecodable line is a ``DataError`` (path, line, raw bytes) handled by *on_error*.

    >>> import hosepipe as hp, tempfile, os
    >>> folder = tempfile.mkdtemp()
    >>> with open(os.path.join(folder, "a.log"), "w") as f:
    ...     _ = f.write("GET /\\nPOST /form\\n")
    >>> hp.read_lines(os.path.join(folder, "*.log")).map(str.split).to_list()
    [['GET', '/'], ['POST', '/form']]
    """
    from hosepipe._stream import Stream

    paths = _check_paths("read_lines", path)
    _check_text_options("read_lines", encoding, errors)
    check_on_error("read_lines", on_error)
    decoding = _Decoding(encoding, errors, bool(keep_ends), on_error, located=False)
    lines = _Lines("read_lines", paths, decoding)
    return Stream(lines)


# -- bytes --------------------------------------------------------------------------------------


class _Chunks(_FileReader):
    def __init__(self, paths: tuple[str, ...], chunk_size: int, on_error: OnError) -> None:
        self.paths = paths
        self.chunk_size = chunk_size
        self.on_error = on_error
        self.label = _label("read_bytes", paths)

    def open(self, report: Report) -> Iterator[bytes]:
        size = self.chunk_size
        for path in resolve_paths(self.paths):
            offset = 0
            try:
                with open_binary(path) as f:
                    while chunk := f.read(size):
                        offset += len(chunk)
                        yield chunk
            except Exception as e:
                if not _corrupt(e):
                    raise
                bad = DataError(f"truncated or corrupt file at byte {offset}: {e}", path=path)
                handle_bad(self.on_error, bad, report)


def read_bytes(
    path: Paths, *, chunk_size: int = 1 << 20, on_error: OnError = "raise"
) -> Stream[bytes]:
    """A stream of the bytes of *path* in chunks of *chunk_size* (decompressed by suffix).

    >>> import hosepipe as hp, tempfile, os
    >>> name = os.path.join(tempfile.mkdtemp(), "blob.bin")
    >>> with open(name, "wb") as f:
    ...     _ = f.write(b"x" * 10)
    >>> hp.read_bytes(name, chunk_size=4).map(len).to_list()
    [4, 4, 2]
    """
    from hosepipe._stream import Stream

    paths = _check_paths("read_bytes", path)
    if not isinstance(chunk_size, int) or isinstance(chunk_size, bool) or chunk_size < 1:
        raise ValueError(f"read_bytes(): `chunk_size` must be an int >= 1, got {chunk_size!r}")
    check_on_error("read_bytes", on_error)
    return Stream(_Chunks(paths, chunk_size, on_error))


# -- JSON Lines ---------------------------------------------------------------------------------


class _ParseJsonl:
    """The parsing stage of ``read_jsonl``: ``(path, line, text)`` to the decoded value."""

    def __init__(self) -> None:
        try:
            import orjson

            self.loads: Callable[[str], Any] = orjson.loads
        except ImportError:
            import json

            self.loads = json.loads

    def parse_jsonl(self, record: tuple[str, int, str]) -> Any:
        """One raw record (path, line, text) as the decoded value."""
        path, line, text = record
        try:
            return self.loads(text)
        except ValueError as e:
            raise DataError(f"invalid JSON: {e}", path=path, line=line, raw=text) from None

    def __reduce__(self) -> tuple[Any, ...]:
        return (_ParseJsonl, ())


class _OnError:
    """``on_error=callable`` as a ``catch`` handler: it receives the error only."""

    __slots__ = ("fn",)

    def __init__(self, fn: Callable[[DataError], object]) -> None:
        self.fn = fn

    def __call__(self, exc: Exception, item: Any) -> None:
        self.fn(exc)  # type: ignore[arg-type]


def _with_on_error(stream: Stream[Any], on_error: OnError) -> Stream[Any]:
    if on_error == "skip":
        return stream.catch(DataError)
    if callable(on_error):
        return stream.catch(DataError, handler=_OnError(on_error))
    return stream


def read_jsonl(path: Paths, *, encoding: str = "utf-8", on_error: OnError = "raise") -> Stream[Any]:
    """A stream of the JSON values of *path*, one per line; blank lines are skipped.

    Parsing is the stream's first stage, ``map(parse_jsonl)``: invalid JSON raises a
    ``DataError`` (path, line, raw) there, so *on_error*, or a ``catch`` after it with a
    ``dead_letter``, handles it. Uses orjson when installed (extra ``fast``).

    >>> import hosepipe as hp, tempfile, os
    >>> name = os.path.join(tempfile.mkdtemp(), "events.jsonl")
    >>> with open(name, "w") as f:
    ...     _ = f.write('{"n": 1}\\n\\n{"n": 2}\\n')
    >>> hp.read_jsonl(name).map(lambda e: e["n"]).to_list()
    [1, 2]
    """
    from hosepipe._stream import Stream

    paths = _check_paths("read_jsonl", path)
    _check_text_options("read_jsonl", encoding, "strict")
    check_on_error("read_jsonl", on_error)
    decoding = _Decoding(encoding, "strict", False, on_error, located=True, skip_blank=True)
    lines = _Lines("read_jsonl", paths, decoding)
    # the bound method: cheaper to call than the object (see read_csv)
    return _with_on_error(Stream(lines).map(_ParseJsonl().parse_jsonl), on_error)


# -- CSV --------------------------------------------------------------------------------------
