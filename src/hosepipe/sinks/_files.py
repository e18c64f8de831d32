"""File sinks: lines, JSON Lines and CSV, written atomically, compressed by suffix.

Each run writes to a temporary file in the target's folder (``.<name>.<random>.tmp``). When
the stream ends the file is flushed, ``fsync``-ed and renamed over the target (and the
folder entry is synced), so readers see the old file or the whole new one, never a part.
When the stream fails or is stopped early, the temporary file is removed and the target is
left as it was. ``.gz``, ``.bz2`` and ``.xz`` targets are compressed with the standard
library, ``.zst`` with the ``zstandard`` package (extra ``zstd``).
"""

from __future__ import annotations

import contextlib
import io
import os
import stat
from collections.abc import Callable, Sequence

from hosepipe._typing import TYPE_CHECKING, Any
from hosepipe.sinks._base import Sink

if TYPE_CHECKING:
    PathLike = str | os.PathLike[str]

__all__ = ["write_csv", "write_jsonl", "write_lines"]


class _AtomicFile:
    """One run's output: a temporary file, a compressor by suffix, a text layer; then
    commit (rename over the target) or abort (remove)."""

    def __init__(
        self,
        target: str,
        encoding: str | None,
        partial: tuple[str, int] | None = None,
        durable: bool = True,
    ) -> None:
        import tempfile

        folder = os.path.dirname(os.path.abspath(target))
        if partial is None:
            fd, self.tmp = tempfile.mkstemp(
                dir=folder, prefix=f".{os.path.basename(target)}.", suffix=".tmp"
            )
            self.raw: Any = os.fdopen(fd, "wb")
        else:  # a checkpointed run's partial file, cut back to its last committed size
            self.tmp, size = partial
            self.raw = open(self.tmp, "r+b" if size else "wb")  # noqa: SIM115 - closed by commit/abort
            self.raw.truncate(size)
            self.raw.seek(size)
            fd = self.raw.fileno()
        self.target = target
        self.kept = False  # flushed for a broker source's acks: an abort keeps the file
        self.durable = durable  # flush() fsyncs: what a source acks survives a crash
        self.compressed: Any = self.raw
        self.text: io.TextIOWrapper | None = None
        self.count = 0
        try:
            # the target keeps its permissions; a new one gets the usual 0666 less the umask
            # (mkstemp makes 0600)
            os.fchmod(fd, _mode_for(target))
            if partial is not None and _compressed(target):  # cut where each commit was
                self.compressed = _Members(target, self.raw)
            else:
                self.compressed = _compressor(target, self.raw)
            if encoding is not None:
                self.text = io.TextIOWrapper(
                    self.compressed, encoding=encoding, newline="", write_through=False
                )
        except BaseException:
            self.abort()
            raise

    def finish(self) -> None:
        """Flush every layer down to the disk, without closing the file itself."""
        if self.text is not None:
            self.text.flush()
            self.text.detach()
            self.text = None
        if self.compressed is not self.raw:
            self.compressed.close()  # writes the trailer; the raw file stays open
        self.raw.flush()
        os.fsync(self.raw.fileno())

    def flush(self) -> None:
        """Write what was written down to the temporary file (a broker source acks after
        this), which an abort from now on keeps (``kept``) instead of removing: *durable*,
        ``fsync``-ed (and, the first time, its folder entry too), so that it survives a
        machine crash; else only handed to the OS (it survives the process being killed)."""
        if self.text is not None:
            self.text.flush()
        if self.compressed is not self.raw:
            self.compressed.flush()  # gzip: a sync flush; others keep what they hold
        self.raw.flush()
        if self.durable:
            os.fsync(self.raw.fileno())
            if not self.kept:  # the temporary file's name, made durable once
                _sync_folder(os.path.dirname(os.path.abspath(self.tmp)))
        self.kept = True

    def commit(self) -> int:
        try:
            self.finish()
            self.raw.close()
            os.replace(self.tmp, self.target)
        except BaseException:
            self.abort()  # nothing half-written stays behind
            raise
        _sync_folder(os.path.dirname(os.path.abspath(self.target)))
        return self.count

    def abort(self) -> None:
        """Close every layer and remove the temporary file; safe to call more than once."""
        for close in (
            getattr(self.text, "detach", None),
            None if self.compressed is self.raw else self.compressed.close,
            self.raw.close,
        ):
            if close is not None:
                with contextlib.suppress(Exception):
                    close()
        self.text = None
        if self.kept:  # a broker source acked messages whose output is in it: it stays
            return
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.tmp)


def _mode_for(target: str) -> int:
    """The permission bits the finished file should have."""
    try:
        return stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        return 0o666 & ~_umask()


def _umask() -> int:
    try:  # Linux: read it without changing it (os.umask would, for a moment, process-wide)
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:  # pragma: no cover - other systems
        pass
    mask = os.umask(0o022)  # pragma: no cover
    os.umask(mask)  # pragma: no cover
    return mask  # pragma: no cover


def _compressor(target: str, raw: Any) -> Any:
    lower = target.lower()
    if lower.endswith(".gz"):
        import gzip

        return gzip.GzipFile(filename=os.path.basename(target), mode="wb", fileobj=raw, mtime=0)
    if lower.endswith(".bz2"):
        import bz2

        return bz2.BZ2File(raw, "wb")
    if lower.endswith(".xz"):
        import lzma

        return lzma.LZMAFile(raw, "wb")
    if lower.endswith(".zst"):
        from hosepipe._extras import require

        zstandard = require("zstandard", "zstd", "writing .zst files")
        return zstandard.ZstdCompressor().stream_writer(raw, closefd=False)
    return raw


def _compressed(target: str) -> bool:
    return target.lower().endswith((".gz", ".bz2", ".xz", ".zst"))


class _Members(io.BufferedIOBase):
    """A checkpointed run's compressed output: one compressed member (a gzip member, a bz2
    or xz stream, a zstd frame) per commit, one after another, which the formats' readers
    (``gzip``, ``zstd -d``, ``read_lines``) decode as the concatenation. A commit ends the
    member being written (``cut``), so the size it records is where a member ends: a
    resumed run cuts the file back there and appends new members."""

    def __init__(self, target: str, raw: Any) -> None:
        self.target = target
        self.raw = raw
        self.member: Any = None  # the member being written; begun at the first write

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        if self.member is None:
            self.member = _compressor(self.target, self.raw)
        self.member.write(data)
        return len(data)

    def cut(self) -> None:
        """End the member being written (its trailer written to the raw file), if any."""
        member, self.member = self.member, None
        if member is not None:
            member.close()  # the raw file stays open: the compressors do not own it

    def close(self) -> None:
        if not self.closed:
            if self.member is None and self.raw.tell() == 0:  # no data: one empty member,
                self.write(b"")  # as a run without checkpoint writes
            self.cut()
        super().close()


def _sync_folder(folder: str) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def _check_path(op: str, path: object) -> str:
    if not isinstance(path, str | os.PathLike):
        raise TypeError(f"{op}(): `path` must be a str or a path, got {path!r}")
    target = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(target))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"{op}(): the folder {folder!r} does not exist")
    if os.path.isdir(target):
        raise IsADirectoryError(f"{op}(): {target!r} is a folder")
    return str(target)


class _FileSink(Sink[Any, int]):
    """A file sink: subclasses say how one item becomes text (or bytes)."""

    op = "file"
    binary = False

    def __init__(self, path: PathLike, encoding: str, durable: bool = True) -> None:
        import codecs

        if not isinstance(durable, bool):
            raise TypeError(f"{self.op}(): `durable` must be True or False, got {durable!r}")
        self.durable = durable
        self.path = _check_path(self.op, path)
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise ValueError(f"{self.op}(): unknown `encoding` {encoding!r}") from None
        self.encoding = encoding
        self.label = f"{self.op}({self.path!r})"

    def open(self) -> _Writer:
        out = _AtomicFile(self.path, None if self.binary else self.encoding, None, self.durable)
        try:
            return _Writer(out, *self._writer(out))
        except BaseException:
            out.abort()
            raise

    def _writer(self, out: _AtomicFile) -> tuple[Callable[[Any], None], _Pieces]:
        """The per-item function, and the buffer that counts and flushes what it wrote."""
        raise NotImplementedError

    def open_checkpointed(self, key: str, store: Any) -> _Segments:
        """A writer for a checkpointed run (``hosepipe._checkpoint``) of job *key*; a
        compressed file is written a member per commit (``_Members``)."""
        return _Segments(self, key, store)


class _Pieces:
    """Encoded items gathered and written about a hundred at a time: one ``write`` call
    per chunk, not per item (memory: at most ``LIMIT`` items' text)."""

    LIMIT = 128
    __slots__ = ("_write", "flushed", "joiner", "pieces", "state", "tail")

    def __init__(self, write: Callable[[Any], Any], joiner: Any, tail: Any) -> None:
        self._write = write
        self.pieces: list[Any] = []
        self.joiner = joiner
        self.tail = tail
        self.flushed = 0
        self.state: dict[str, Any] | None = None  # a writer's own state, for checkpoints

    def flush(self) -> None:
        if self.pieces:
            self._write(self.joiner.join(self.pieces) + self.tail)
            self.flushed += len(self.pieces)
            self.pieces.clear()

    def count(self) -> int:
        return self.flushed + len(self.pieces)


class _Writer:
    """One run's writer: ``write`` is the sink's own per-item function (no extra layer)."""

    __slots__ = ("out", "pieces", "write")

    def __init__(self, out: _AtomicFile, put: Callable[[Any], None], pieces: _Pieces) -> None:
        self.out = out
        self.write = put
        self.pieces = pieces

    def commit(self) -> int:
        self.pieces.flush()
        self.out.count = self.pieces.count()
        return self.out.commit()

    def abort(self) -> None:
        self.out.abort()

    def flush(self) -> None:
        """Write what is gathered to the temporary file (before a broker source acks)."""
        self.pieces.flush()
        self.out.flush()


class _Lines(_FileSink):
    op = "write_lines"
    binary = True  # each line is encoded when it arrives, so an error names its item

    def _writer(self, out: _AtomicFile) -> tuple[Callable[[Any], None], _Pieces]:
        encoding = self.encoding
        buffer = _Pieces(out.compressed.write, b"\n", b"\n")
        append, flush, pieces = buffer.pieces.append, buffer.flush, buffer.pieces
        limit = _Pieces.LIMIT

        def put(item: Any) -> None:
            if not isinstance(item, str):
                raise TypeError(
                    f"write_lines() writes str items, got {type(item).__name__} {item!r}; "
                    "add .map(str) or format the items first"
                )
            append(item.encode(encoding))
            if len(pieces) >= limit:
                flush()

        return put, buffer


def write_lines(path: PathLike, *, encoding: str = "utf-8", durable: bool = True) -> Sink[str, int]:
    """A sink writing each item (a ``str``) as a line of *path*, atomically; its result is
    the number of lines written.

    *durable* (the default) makes each flush before a broker source's acks ``fsync`` the
    temporary file, so an acked message's output survives a machine crash (at-least-once:
    acked means on disk); ``durable=False`` only hands it to the OS (it survives the
    process being killed), which saves an ``fsync`` per ack batch. The final file is
    ``fsync``-ed either way.

    >>> import hosepipe as hp, tempfile, os
    >>> name = os.path.join(tempfile.mkdtemp(), "out.txt.gz")
    >>> hp.Stream(["a", "b"]).to(hp.write_lines(name))
    2
    >>> hp.read_lines(name).to_list()
    ['a', 'b']
    """
    return _Lines(path, encoding, durable)


class _Jsonl(_FileSink):
    op = "write_jsonl"
    binary = True  # JSON Lines are UTF-8: bytes go straight to the (compressed) file

    def __init__(
        self, path: PathLike, default: Callable[[Any], Any] | None, durable: bool = True
    ) -> None:
        super().__init__(path, "utf-8", durable)
        self.default = default

    def _writer(self, out: _AtomicFile) -> tuple[Callable[[Any], None], _Pieces]:
        buffer = _Pieces(out.compressed.write, b"\n", b"\n")
        append, flush, pieces = buffer.pieces.append, buffer.flush, buffer.pieces
        limit = _Pieces.LIMIT
        default = self.default
        try:
            import orjson
        except ImportError:
            import json

            text = json.JSONEncoder(ensure_ascii=False, default=default).encode

            def put_json(item: Any) -> None:
                append(text(item).encode("utf-8"))
                if len(pieces) >= limit:
                    flush()

            return put_json, buffer

        dumps, options = orjson.dumps, orjson.OPT_NON_STR_KEYS

        def put(item: Any) -> None:
            try:
                append(dumps(item))  # the fast call; options only when it refuses the item
            except TypeError:
                append(dumps(item, default=default, option=options))
            if len(pieces) >= limit:
                flush()

        def put_with_default(item: Any) -> None:
            append(dumps(item, default=default, option=options))
            if len(pieces) >= limit:
                flush()

        return (put if default is None else put_with_default), buffer


def write_jsonl(
    path: PathLike, *, default: Callable[[Any], Any] | None = None, durable: bool = True
) -> Sink[Any, int]:
    """A sink writing each item as one line of JSON (UTF-8) in *path*, atomically; its result
    is the number of records. *default* converts values JSON cannot hold (as in
    ``json.dumps``). Uses orjson when installed (extra ``fast``). It also makes a good
    ``dead_letter`` for ``catch``. *durable* as for ``write_lines``.

    >>> import hosepipe as hp, tempfile, os, json
    >>> name = os.path.join(tempfile.mkdtemp(), "events.jsonl")
    >>> hp.Stream([{"n": 1}, {"n": 2}]) | hp.write_jsonl(name)
    2
    >>> hp.read_lines(name).map(json.loads).to_list()
    [{'n': 1}, {'n': 2}]
    """
    if default is not None and not callable(default):
        raise TypeError(f"write_jsonl(): `default` must be callable, got {default!r}")
    return _Jsonl(path, default, durable)


class _Csv(_FileSink):
    op = "write_csv"

    def __init__(
        self,
        path: PathLike,
        encoding: str,
        fieldnames: tuple[str, ...] | None,
        header: bool,
        fmt: dict[str, Any],
        durable: bool = True,
    ) -> None:
        super().__init__(path, encoding, durable)
        self.fieldnames = fieldnames
        self.header = header
        self.fmt = fmt

    def _writer(self, out: _AtomicFile) -> tuple[Callable[[Any], None], _Pieces]:
        import csv

        assert out.text is not None
        rows = csv.writer(out.text, **self.fmt)
        fields = self.fieldnames
        state: dict[str, Any] = {"fields": fields, "started": False}

        def put(item: Any) -> None:
            if isinstance(item, dict):
                names = state["fields"]
                if names is None:
                    names = state["fields"] = tuple(item)
                if not state["started"]:
                    state["started"] = True
                    if self.header:
                        rows.writerow(names)
                if len(item) != len(names) or any(k not in item for k in names):
                    extra = sorted(map(str, set(item) - set(names)))
                    missing = [k for k in names if k not in item]
                    raise ValueError(
                        f"write_csv(): the record's fields do not match the columns {names}: "
                        f"missing {missing}, extra {extra}"
                    )
                rows.writerow([item[k] for k in names])
            elif isinstance(item, Sequence) and not isinstance(item, str | bytes):
                if not state["started"]:
                    state["started"] = True
                    if self.header and state["fields"] is not None:
                        rows.writerow(state["fields"])
                rows.writerow(item)
            else:
                raise TypeError(
                    f"write_csv() writes dicts or sequences, got {type(item).__name__} {item!r}"
                )
            buffer.flushed += 1  # rows go straight to the csv writer: only count them

        buffer = _Pieces(rows.writerow, "", "")
        buffer.state = state
        return put, buffer


def write_csv(
    path: PathLike,
    *,
    fieldnames: Sequence[str] | None = None,
    header: bool = True,
    delimiter: str = ",",
    dialect: str = "excel",
    encoding: str = "utf-8",
    durable: bool = True,
) -> Sink[Any, int]:
    """A sink writing dicts (or sequences) as CSV rows of *path*, atomically; its result is
    the number of records (the header not counted). *durable* as for ``write_lines``.

    For dicts, the columns are *fieldnames* or the first record's keys; a record with other
    keys is an error rather than a silently misaligned row.

    >>> import hosepipe as hp, tempfile, os
    >>> name = os.path.join(tempfile.mkdtemp(), "out.csv")
    >>> hp.Stream([{"id": 1, "ok": True}]).to(hp.write_csv(name))
    1
    >>> hp.read_lines(name).to_list()
    ['id,ok', '1,True']
    """
    import csv

    if dialect not in csv.list_dialects():
        raise ValueError(f"write_csv(): unknown `dialect` {dialect!r}")
    if not isinstance(delimiter, str) or len(delimiter) != 1:
        raise ValueError(f"write_csv(): `delimiter` must be one character, got {delimiter!r}")
    names = None if fieldnames is None else tuple(fieldnames)
    fmt = {"dialect": dialect, "delimiter": delimiter}
    return _Csv(path, encoding, names, bool(header), fmt, durable)


class _Segments:
    """A file sink's writer in a checkpointed run: the output grows in a partial file
    next to the target (``.<name>.<key>.partial``); each commit flushes and ``fsync``s it and
    then records its size in the checkpoint, so a resumed run cuts it back to that size and
    appends. The target appears, renamed from the partial file, when the job ends."""

    def __init__(self, sink: _FileSink, key: str, store: Any) -> None:
        self.sink = sink
        self.store = store
        folder, name = os.path.split(os.path.abspath(sink.path))
        self.partial = os.path.join(folder, f".{name}.{key}.partial")
        self.writer: _Writer | None = None
        self.write: Callable[[Any], None] = _not_open
        self.synced = False  # whether a commit of this run synced the partial file's folder

    def load(self) -> dict[str, Any] | None:
        return None  # the checkpoint file is the record

    def forget(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.partial)

    def complete(self, record: dict[str, Any]) -> None:
        """A finished job whose partial file was not yet renamed (killed in between)."""
        if os.path.exists(self.partial):
            os.replace(self.partial, self.sink.path)
            _sync_folder(os.path.dirname(os.path.abspath(self.sink.path)))

    def resume(self, saved: dict[str, Any] | None) -> None:
        size = 0 if saved is None else int(saved["size"])
        if saved is not None and not os.path.exists(self.partial):
            from hosepipe._errors import CheckpointError

            raise CheckpointError(
                f"checkpoint: the partial output {self.partial!r} of {self.sink.label} is "
                "missing, so the job cannot resume; pass restart=True to start over"
            )
        sink = self.sink
        out = _AtomicFile(sink.path, None if sink.binary else sink.encoding, (self.partial, size))
        try:
            put, pieces = sink._writer(out)
        except BaseException:
            out.abort()
            raise
        if saved is not None:
            pieces.flushed = int(saved["count"])
            if pieces.state is not None:
                pieces.state.update(saved["state"])
        self.writer = _Writer(out, put, pieces)
        self.write = put

    def count(self) -> int:
        assert self.writer is not None
        return self.writer.pieces.count()

    def commit(
        self, record: dict[str, Any], settle: Callable[[Any], Any] | None
    ) -> Callable[[], None]:
        """Hand what was written to the OS and note its size in *record*; return what makes
        it durable: ``fsync`` the partial file, then write the record atomically (it may
        run in another thread while more is appended: the record says where to cut)."""
        from hosepipe._checkpoint import settled

        assert self.writer is not None
        pieces, out = self.writer.pieces, self.writer.out
        pieces.flush()
        if out.text is not None:
            out.text.flush()
        if isinstance(out.compressed, _Members):
            out.compressed.cut()
        out.raw.flush()
        state = dict(pieces.state) if pieces.state is not None else None
        record["sink"] = {"size": out.raw.tell(), "count": pieces.count(), "state": state}
        fd, store = out.raw.fileno(), self.store

        def durable() -> None:  # one at a time (``_Committer``), maybe not every one made
            data = settled(record, settle)
            os.fdatasync(fd)
            if not self.synced:  # the partial file's name, maybe new, made durable first
                _sync_folder(os.path.dirname(self.partial))
                self.synced = True
            store.write_bytes(data, record["finished"])

        return durable

    def finish(self) -> int:
        """The job is done (and recorded so): the partial file becomes the target."""
        assert self.writer is not None
        writer, self.writer = self.writer, None
        return writer.commit()

    def close(self) -> None:
        """The run stopped: close the partial file and keep it for the next run."""
        writer, self.writer = self.writer, None
        if writer is None:
            return
        out = writer.out
        # a member begun after the last commit is ended (the resume cuts it off), so no
        # compressor is left to write to the closed file when it is collected
        members = out.compressed if isinstance(out.compressed, _Members) else None
        for close in (
            getattr(out.text, "detach", None),
            getattr(members, "cut", None),
            out.raw.close,
        ):
            if close is not None:
                with contextlib.suppress(Exception):
                    close()
        out.text = None


def _not_open(item: Any) -> None:
    raise AssertionError("the writer is not open")
