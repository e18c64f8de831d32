"""Checkpoint and resume: a killed job restarts where it stopped, nothing lost, nothing doubled.

``stream.to(sink, checkpoint="job.ckpt", every=10_000)`` (or ``every_seconds=``) runs the
stream so that it can be resumed: every *every* source items (or seconds) the sink makes
what it received durable and, in one atomic step, the checkpoint records the source's
position after the last source item whose results all reached the sink, with the state of
the stateful stages between them. A second call with the same checkpoint seeks the source
to that position, restores the stages and goes on writing; a finished job is a no-op.

How the steps stay in step: the checkpointed run reads its source through ``_Tracked``,
which hands the source's items to the first stage in blocks (``islice``) and commits
between two items, when the downstream asks for the next one. A chain of plain sync
stages reads nothing ahead, so at that moment every result of the items read so far has
reached the sink, or is held in a stage's state (a ``batch``'s list), which the checkpoint
saves. Stages that read ahead (``buffer``, ``batch(timeout=)``, joins) or keep their state
in the fused loop's locals (``take``, ``skip``, ``enumerate``, ``scan``, ``drop_while``)
are refused with a message naming them. A concurrent ordered ``map`` reads ahead: there
each item carries its source position to the sink (``_Tag``), which commits the position
that came with the last result it wrote, once the source items before it are complete.
A stream with an async source or ``async def`` stages runs on the async driver instead
(``_aresume``, its source read through ``_ATracked``), committing between two items too;
``ato``/``arun`` await it, a sync ``to`` steps it on a loop of its own.

Commit protocol per sink:

* a file sink writes a partial file next to its target (``.<name>.<key>.partial``); a
  commit flushes and ``fsync``s it and then writes the checkpoint record (partial file
  size, source position, stage state) to the checkpoint file atomically (a temporary
  file, ``fsync``, ``rename``; a folder ``fsync`` at the run's first and last record,
  ``_Store``). A compressed file is a compressed member per commit. Resuming truncates
  the partial file to the recorded size and appends. At the end the record says
  "finished" first and the partial file is then renamed over the target, so a kill
  between the two is completed by the next call.
* a SQL sink (``to_sql``) writes the same record into the table ``hosepipe_checkpoints``
  in the transaction that inserts the rows since the last commit; that row is what a
  resume trusts, the file then only names the job.
* ``run()`` (no sink) records the source position only: stage side effects are at least
  once.

The file format (``encode``/``decode``): a magic line, the format version, the payload's
length and SHA-256, then the payload (a pickle of a dict). A file that is not a
checkpoint, has another version, is truncated or does not match its checksum is an error
(``CheckpointError``), never a silent start from zero.

Why this module is longer than most: the file format, the source tracking, the commit
protocol and the refusals are one protocol; split, each part would need the others'
invariants (what position goes with what sink state).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import struct
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from functools import partial
from itertools import chain, islice

from hosepipe._ends import Reader
from hosepipe._errors import CheckpointError
from hosepipe._typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from hosepipe._stream import Stream

__all__ = [
    "Seekable",
    "arun_checkpointed",
    "check_options",
    "decode",
    "encode",
    "run_checkpointed",
]

MAGIC = b"HOSEPIPE-CHECKPOINT\n"
VERSION = 1
_HEADER = struct.Struct(">HQ32s")  # version, payload length, SHA-256 of the payload
NOT_GIVEN: Any = object()


class Seekable(Protocol):
    """What a source needs for a checkpointed run: ``position()`` and ``seek(pos)``.

    ``position()``, called between two items of an iteration, returns the position just
    after the last item that iteration yielded: a picklable value (an int, a string, a
    dict). ``seek(pos)``, called before an iteration, makes that iteration start at *pos*.
    hosepipe's ``read_lines``, ``read_csv``, ``read_jsonl``, ``read_sql`` and
    ``http.paginate`` sources implement it; so can yours:

    >>> import hosepipe as hp
    >>> class Numbers:
    ...     def __init__(self, n):
    ...         self.n, self.start, self.at = n, 0, 0
    ...     def seek(self, pos):
    ...         self.start = pos
    ...     def position(self):
    ...         return self.at
    ...     def __iter__(self):
    ...         self.at = self.start
    ...         while self.at < self.n:
    ...             self.at += 1
    ...             yield self.at - 1
    >>> import os, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> out, job = os.path.join(folder, "out.jsonl"), os.path.join(folder, "job.ckpt")
    >>> hp.Stream(Numbers(5)).to(hp.write_jsonl(out), checkpoint=job, every=2)
    5
    >>> hp.read_jsonl(out).to_list()
    [0, 1, 2, 3, 4]
    """

    def position(self) -> Any:
        """The position just after the last item the current iteration yielded."""

    def seek(self, pos: Any, /) -> None:
        """Make the next iteration start at *pos* (a value ``position()`` returned)."""


Seekable.__module__ = "hosepipe"


# -- the file format ---------------------------------------------------------------------------


def encode(record: dict[str, Any]) -> bytes:
    """The bytes of a checkpoint file holding *record*.

    >>> decode(encode({"position": 3}), "job.ckpt")
    {'position': 3}
    """
    payload = pickle.dumps(record, protocol=pickle.HIGHEST_PROTOCOL)
    return MAGIC + _HEADER.pack(VERSION, len(payload), hashlib.sha256(payload).digest()) + payload


def decode(data: bytes, where: str) -> dict[str, Any]:
    """The record in the checkpoint bytes *data* read from *where*; ``CheckpointError`` when
    they are not a checkpoint, of another format version, truncated or corrupt.

    >>> decode(encode({"position": 3})[:-1], "job.ckpt")
    Traceback (most recent call last):
    ...
    hosepipe.CheckpointError: the checkpoint 'job.ckpt' is truncated (...); remove it ...
    """
    if not data.startswith(MAGIC):
        if MAGIC.startswith(data):
            raise CheckpointError(_bad(where, f"truncated ({len(data)} bytes, no header)"))
        raise CheckpointError(
            f"{where!r} is not a hosepipe checkpoint file; remove it or choose another path"
        )
    head = data[len(MAGIC) : len(MAGIC) + _HEADER.size]
    if len(head) < _HEADER.size:
        raise CheckpointError(_bad(where, f"truncated ({len(data)} bytes, header cut short)"))
    version, length, digest = _HEADER.unpack(head)
    if version != VERSION:
        raise CheckpointError(
            f"the checkpoint {where!r} has format version {version}; this hosepipe reads "
            f"version {VERSION}"
        )
    payload = data[len(MAGIC) + _HEADER.size :]
    if len(payload) != length:
        raise CheckpointError(_bad(where, f"truncated ({len(payload)} of {length} bytes)"))
    if hashlib.sha256(payload).digest() != digest:
        raise CheckpointError(_bad(where, "corrupt (its checksum does not match)"))
    record = pickle.loads(payload)  # the user's own file, checksummed
    if not isinstance(record, dict):
        raise CheckpointError(_bad(where, "corrupt (no record in it)"))
    return record


def _bad(where: str, what: str) -> str:
    return f"the checkpoint {where!r} is {what}; remove it or pass restart=True to start over"


def write_atomic(path: str, data: bytes, sync_folder: bool = True) -> None:
    """Replace *path* by *data* atomically: a temporary file, ``fsync``, rename, and with
    *sync_folder* a folder ``fsync``, which makes the rename itself durable."""
    tmp = f"{path}.tmp"  # one name: a run killed while writing it leaves no litter behind
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    if not sync_folder:
        return
    folder = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
    try:  # the rename itself made durable
        os.fsync(folder)
    finally:
        os.close(folder)


def read(path: str) -> dict[str, Any] | None:
    """The record in the checkpoint file *path*, or None when there is none."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return None
    return decode(data, path)


# -- options -----------------------------------------------------------------------------------


def check_options(
    op: str, checkpoint: Any, every: Any, every_seconds: Any, engine: Any = None
) -> None:
    """Validate the checkpoint keywords of ``to()``/``run()``, naming the bad one."""
    if engine is not None:
        raise ValueError(
            f"{op}(): a checkpointed run runs here, on the local engine: leave out `engine`"
        )
    if not isinstance(checkpoint, str | os.PathLike):
        raise TypeError(f"{op}(): `checkpoint` must be a path, got {checkpoint!r}")
    if every is not None and (isinstance(every, bool) or not isinstance(every, int) or every < 1):
        raise ValueError(f"{op}(): `every` must be an int >= 1, got {every!r}")
    if every_seconds is not None and (
        isinstance(every_seconds, bool)
        or not isinstance(every_seconds, int | float)
        or not every_seconds > 0
    ):
        raise ValueError(f"{op}(): `every_seconds` must be a number > 0, got {every_seconds!r}")
    if every is not None and every_seconds is not None:
        raise ValueError(f"{op}(): give `every` or `every_seconds`, not both")


# -- what can be checkpointed ------------------------------------------------------------------

# stages whose state lives in their step object (saved with state()/restore())
_SAVED = ("batch", "window", "group_by", "distinct")
# stages that keep no state between items
_STATELESS = ("map", "filter", "flat_map", "flatten", "tap", "observe", "catch", "take_while")


def _check_stages(nodes: tuple[Any, ...], on_loop: bool) -> bool:
    """Refuse what cannot be checkpointed (*on_loop*: in a run on the async driver);
    whether a concurrent map reads ahead (then items carry their sequence numbers to the
    sink: ``_tag``)."""
    from hosepipe import _nodes

    concurrent = any(isinstance(n, _nodes.ConcurrentMap) for n in nodes)
    for pos, node in enumerate(nodes, start=1):
        op = node.OP
        if isinstance(node, _nodes.ConcurrentMap):
            if on_loop:
                why = (
                    "a concurrent map in a checkpointed run with an async source or async "
                    "stages is not supported: read the source in a sync stream, or leave "
                    "out `concurrency`"
                )
            elif node.ordered and not node.flat and node.via != "async" and not _is_async(node.fn):
                continue
            else:
                why = (
                    "only an ordered map (not flat_map, not async) says in order which "
                    "source items reached the sink"
                )
        elif _is_async(getattr(node, "fn", None)):
            if on_loop and type(node) in (_nodes.Map, _nodes.Filter, _nodes.Tap, _nodes.FlatMap):
                continue  # awaited inline, one item at a time: nothing read ahead
            why = (
                "an async def function is checkpointed only in map, filter, tap and "
                "flat_map without `concurrency`"
            )
        elif concurrent and not _passes_tags(node):
            why = (
                "with a concurrent map before the sink, only map, filter, tap, observe and "
                "catch (without handler or dead letter) can be checkpointed"
            )
        elif op in _STATELESS or op in _SAVED or op == "throttle":
            continue
        elif op in ("buffer", "batch", "chain", "zip"):
            why = "it reads ahead of the sink or from other streams"
        else:
            why = "its state lives in the running loop, where a checkpoint cannot save it"
        raise CheckpointError(f"checkpoint: stage {pos} {node.label} cannot be checkpointed: {why}")
    return concurrent


def _is_async(fn: Any) -> bool:
    from hosepipe._callables import is_async_fn

    return bool(is_async_fn(fn))


def _passes_tags(node: Any) -> bool:
    from hosepipe import _nodes

    if type(node) in (_nodes.Map, _nodes.Filter, _nodes.Tap):
        return not _is_async(node.fn) and not isinstance(node.fn, _retry_type())
    if type(node) is _nodes.Observe:
        return True
    return isinstance(node, _nodes.Catch) and node.handler is None and node.dead_letter is None


def _retry_type() -> type:
    from hosepipe._retry import Retrying

    return Retrying


def _tag(nodes: tuple[Any, ...]) -> tuple[Any, ...]:
    """*nodes* working on ``(sequence number, item)`` pairs: each function sees the item."""
    import copy

    from hosepipe import _nodes

    out = []
    for node in nodes:
        if isinstance(node, _nodes.ConcurrentMap | _nodes.Map | _nodes.Filter | _nodes.Tap):
            node = copy.copy(node)
            node.fn = (_MapTagged if node.OP == "map" else _OnTagged)(node.fn)
        out.append(node)
    return tuple(out)


class _OnTagged:
    """A filter's or tap's function, called on the item of a ``(sequence number, item)``."""

    __slots__ = ("__name__", "fn")

    def __init__(self, fn: Callable[[Any], Any]) -> None:
        from hosepipe._callables import fn_name

        self.fn = fn
        self.__name__ = fn_name(fn)

    def __call__(self, tagged: tuple[int, Any]) -> Any:
        return self.fn(tagged[1])


class _MapTagged(_OnTagged):
    """A map's function: ``(n, item)`` to ``(n, fn(item))``."""

    __slots__ = ()

    def __call__(self, tagged: tuple[int, Any]) -> Any:
        return tagged[0], self.fn(tagged[1])


def _description(stream: Stream[Any], sink: Any) -> str:
    """What the checkpoint's hash is of: the stream's repr (source, stages by operator and
    function name) and the sink's; a source with the default repr is named by its class."""
    obj = stream._source.obj
    source = stream._source.label
    if type(obj).__repr__ is object.__repr__:
        source = f"<{type(obj).__module__}.{type(obj).__qualname__}>"
    from hosepipe._nodes import Observe

    # observing (observe, progress) changes no item: a run may resume with or without
    stages = "".join(f".{n.label}" for n in stream._stages if not isinstance(n, Observe))
    end = f"to({sink.label})" if sink is not None else "run()"
    return f"Stream({source}){stages}.{end}"


# -- sinks -------------------------------------------------------------------------------------


class _Store:
    """Where the records of a run go: the checkpoint file (file sinks and ``run()``).

    Its folder is ``fsync``-ed (the rename made durable) at a run's first record and at the
    finished one, not in between: after a crash that loses a later rename the file holds
    an earlier record of this run, whose output size and position are a prefix of what is
    durable (the output is ``fsync``-ed before each record, and only grows), so resuming
    from it is exact too; it only redoes more. The first is synced since before it the file
    may hold another run's record (``restart``), the last since the output is renamed over
    its target after it."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.synced = False  # whether this run synced the folder after writing a record

    def load(self) -> dict[str, Any] | None:
        return read(self.path)

    def write_bytes(self, data: bytes, finished: bool = True) -> None:
        """Write the record *data*; *finished*: it is the run's last."""
        write_atomic(self.path, data, sync_folder=finished or not self.synced)
        self.synced = True

    def remove(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


def _job_key(path: str) -> str:
    return hashlib.sha256(os.path.abspath(path).encode()).hexdigest()[:12]


@contextlib.contextmanager
def _held(path: str) -> Iterator[None]:
    """Hold the lock of the checkpoint *path* (an exclusive ``flock`` on ``PATH.lock``)
    while a run uses it, so a second run of the same checkpoint fails at once instead of
    resuming from the first's commits. The kernel drops the lock when the holder's file
    closes, so a run that is killed (SIGKILL) leaves no stale lock (only its file, which
    the next run takes over); a run that ends removes the file. Where ``fcntl`` is missing
    (Windows) there is no lock."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not on POSIX
        yield
        return
    lock_path = path + ".lock"
    while True:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise CheckpointError(
                f"the checkpoint {path!r} is in use by another run (process {holder}, "
                f"holding {lock_path!r}); two runs of one checkpoint cannot run at once"
            ) from None
        try:  # the file locked is still the one at lock_path (its last holder removes it)
            same = os.fstat(fd).st_ino == os.stat(lock_path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(lock_path)  # before the lock goes, so no run locks a removed file
        os.close(fd)  # releases the lock


# -- the run -----------------------------------------------------------------------------------


def _checked(stream: Any, sink: Any, every: int | None, every_seconds: float | None) -> Any:
    """Refuse what cannot be checkpointed; (every, whether a concurrent map reads ahead,
    whether the run is on the async driver)."""
    from hosepipe._drive._async import is_async_stream

    if every is None and every_seconds is None:
        every = 10_000
    source = stream._source
    obj = source.obj
    if source.mode not in ("reader", "iterable", "aiterable") or not all(
        callable(getattr(obj, name, None)) for name in ("position", "seek")
    ):
        raise CheckpointError(
            f"checkpoint: the source {source.label} cannot seek, so a run cannot resume "
            "from it; give a source with position() and seek(pos) (hp.Seekable): "
            "read_lines, read_csv, read_jsonl, read_sql or http.paginate"
        )
    on_loop = is_async_stream(obj, stream._stages)
    tagged = _check_stages(stream._stages, on_loop)
    if sink is not None and not hasattr(sink, "open_checkpointed"):
        raise CheckpointError(
            f"checkpoint: the sink {sink.label} cannot commit in step with a checkpoint; "
            "use a file sink (write_jsonl, write_lines, write_csv) or to_sql"
        )
    check = getattr(obj, "check_checkpoint", None)
    if check is not None:
        check()
    return every, tagged, on_loop


def run_checkpointed(
    stream: Any,
    sink: Any,
    checkpoint: str | os.PathLike[str],
    every: int | None,
    every_seconds: float | None,
    force: bool,
    restart: bool,
) -> Any:
    """Run the ``Stream`` *stream* into *sink* (None: ``run()``) under the checkpoint file
    *checkpoint*; a stream with an async source or stages on an event loop of its own."""
    path = os.fspath(checkpoint)
    every, tagged, on_loop = _checked(stream, sink, every, every_seconds)
    with _held(path):
        if not on_loop:
            return _resume(stream, sink, path, every, every_seconds, force, restart, tagged)
        from hosepipe._loops import close_loop, private_loop, step

        loop = private_loop()
        try:
            return step(
                loop,
                _aresume(stream, sink, path, every, every_seconds, force, restart),
                whole_run=True,
            )
        finally:
            close_loop(loop)


async def arun_checkpointed(
    stream: Any,
    sink: Any,
    checkpoint: str | os.PathLike[str],
    every: int | None,
    every_seconds: float | None,
    force: bool,
    restart: bool,
) -> Any:
    """``run_checkpointed`` from async code (``ato``, ``arun``): a stream with an async
    source or stages on the running loop; a sync one inline, as the async terminals run
    sync streams."""
    path = os.fspath(checkpoint)
    every, tagged, on_loop = _checked(stream, sink, every, every_seconds)
    with _held(path):
        if not on_loop:
            return _resume(stream, sink, path, every, every_seconds, force, restart, tagged)
        return await _aresume(stream, sink, path, every, every_seconds, force, restart)


class _Job:
    """What a checkpointed run does before and after its stream runs, on either driver:
    load or start the record (refusing another pipeline's), open the sink's writer; at the
    end, the finished commit and the sink's result."""

    def __init__(
        self,
        stream: Any,
        sink: Any,
        path: str,
        every: int | None,
        every_seconds: float | None,
        tagged: bool,
    ) -> None:
        self.stream, self.sink, self.path, self.tagged = stream, sink, path, tagged
        self.every, self.every_seconds = every, every_seconds
        self.description = _description(stream, sink)
        self.store = _Store(path)
        self.writer: Any = None
        self.run: _Checkpointed | None = None
        self.result: Any = None
        self.label = f"to({sink.label})" if sink is not None else None

    def begin(self, force: bool, restart: bool) -> _Checkpointed | None:
        """The run's commits, or None when the job finished already (``result``)."""
        stream, sink, path, store = self.stream, self.sink, self.path, self.store
        description = self.description
        digest = hashlib.sha256(description.encode()).hexdigest()
        writer = self.writer = (
            sink.open_checkpointed(_job_key(path), store) if sink is not None else None
        )
        if restart:
            store.remove()
            if writer is not None:
                writer.forget()
        record = store.load()  # a corrupt or truncated file is an error, whatever the sink
        if writer is not None and getattr(writer, "keeps_records", False):  # the sink's record wins
            kept = writer.load()
            if kept is None and record is not None and record.get("commits"):
                raise CheckpointError(
                    f"the checkpoint {path!r} has a record, but the sink {sink.label} has "
                    "none for this job: they do not belong together; pass restart=True "
                    "to start over"
                )
            record = kept
        if record is not None and record.get("hash") != digest and not force:
            raise CheckpointError(
                f"the checkpoint {path!r} was written by a different pipeline:\n"
                f"  checkpoint: {record.get('pipeline')}\n"
                f"  this run:   {description}\n"
                "pass force=True (--force) to resume it anyway, or restart=True "
                "(--restart) to start over"
            )
        if record is not None and record.get("finished"):
            if writer is not None:
                writer.complete(record)
            import logging

            logging.getLogger("hosepipe").warning(
                "hosepipe: the checkpoint %s says this job finished; nothing to do "
                "(pass restart=True, or --restart, to run it again)",
                path,
            )
            self.result = record.get("result")
            return None
        if record is None:
            record = {"position": None, "steps": {}, "sink": None, "commits": 0}
        record["pipeline"], record["hash"], record["finished"] = description, digest, False
        if writer is not None:
            writer.resume(record.get("sink"))
        obj = stream._source.obj
        self.run = _Checkpointed(stream, obj, record, writer, store, self.every, self.every_seconds)
        return self.run

    def inner(self, tracked: Any) -> Any:
        """The stream to run: *tracked* (the user's source, seeked and committing) as its
        source, and the stages (working on tagged items, when a concurrent map reads ahead)."""
        from hosepipe._source import Source

        nodes = _tag(self.stream._stages) if self.tagged else self.stream._stages
        return type(self.stream)._make(Source(tracked), nodes)

    def end(self, r: Any) -> Any:
        """The stream ran to its end: the finished commit, then the sink's result."""
        assert self.run is not None
        writer = self.writer
        self.run.commit(finished=True, result=None if writer is None else writer.count())
        if writer is None:
            return r.stats()
        return writer.finish()

    def fail(self) -> None:
        """The run failed or was interrupted: wait for a commit being made durable, close
        the writer (its partial output stays for the next run)."""
        if self.run is not None:
            with contextlib.suppress(Exception):  # the run's own error is the one to see
                self.run.close()
        if self.writer is not None:
            self.writer.close()


def _resume(
    stream: Any,
    sink: Any,
    path: str,
    every: int | None,
    every_seconds: float | None,
    force: bool,
    restart: bool,
    tagged: bool,
) -> Any:
    """The checkpointed run itself, once ``run_checkpointed`` has checked its parts and holds
    the checkpoint's lock: load or start the record, then run the rebuilt stream."""
    job = _Job(stream, sink, path, every, every_seconds, tagged)
    try:
        run = job.begin(force, restart)
        if run is None:
            return job.result
        r = job.inner(_Tracked(stream._source, run, tagged))._run()
        if not tagged:
            r.on_step = run.on_step
        stream._last = r
        run.start()
        if tagged:
            r.execute("call", run.write_tagged, None, job.label)
        elif job.writer is None:
            r.execute("drain")
        else:
            r.execute("call", run.write, None, job.label)
        return job.end(r)
    except BaseException:
        job.fail()
        raise


async def _aresume(
    stream: Any,
    sink: Any,
    path: str,
    every: int | None,
    every_seconds: float | None,
    force: bool,
    restart: bool,
) -> Any:
    """``_resume`` on the async driver: the source is async (its ``__aiter__``), or stages
    are ``async def``; a commit is made between two items, as in a sync run. The sink
    writes, and a commit flushes it, in the loop's thread; its ``fsync``s run in the
    committing thread, and the finished one in the loop's thread."""
    from hosepipe._drive._async import ARun

    job = _Job(stream, sink, path, every, every_seconds, False)
    try:
        run = job.begin(force, restart)
        if run is None:
            return job.result
        source = stream._source
        async_source = source.mode == "aiterable"  # else read inline, in blocks
        inner = job.inner(_ATracked(source, run) if async_source else _Tracked(source, run, False))
        r = ARun(inner._source, inner._stages)
        r.on_step = run.on_step
        stream._last = r
        run.start()
        if job.writer is None:
            await r.aexecute("drain")
        else:
            await r.aexecute("call", run.write, None, job.label)
        return job.end(r)
    except BaseException:
        job.fail()
        raise


class _Checkpointed:
    """One checkpointed run: its record, its stages' steps, its commits."""

    def __init__(
        self,
        stream: Stream[Any],
        source: Any,
        record: dict[str, Any],
        writer: Any,
        store: _Store,
        every: int | None,
        every_seconds: float | None,
    ) -> None:
        self.source = source
        self.record = record
        self.writer = writer
        self.store = store
        self.every = every
        self.every_seconds = every_seconds
        self.steps: dict[int, Any] = {}
        self.saved: dict[int, Any] | None = None  # the steps' states read from the record
        self.read = False  # whether this run has read a source item
        self.write: Callable[[Any], None] = writer.write if writer is not None else _ignore
        self.marks: deque[tuple[int, Any]] = deque()  # (sequence number, position after it)
        self.committer = _Committer()

    def write_tagged(self, tagged: tuple[int, Any]) -> None:
        """A result of source item *n* reached the sink: every item before *n* is done, so
        a position noted after one of them is committed first (a concurrent map's run)."""
        n, item = tagged
        marks = self.marks
        if marks and marks[0][0] < n:
            while marks and marks[0][0] < n:
                position = marks.popleft()[1]
            self.commit(finished=False, result=None, position=position)
        self.write(item)

    def on_step(self, pos: int, step: Any) -> None:
        """As the run makes a stateful stage's step (``Run.on_step``): restore it from the
        checkpoint, and keep it, so each commit saves its state. A step with no state of
        its own (take_while, throttle) is not kept."""
        if not hasattr(step, "state"):
            return
        if self.saved is None:
            steps = self.record.get("steps")
            self.saved = pickle.loads(steps) if steps else {}  # the user's own file, checksummed
        if pos in self.saved:
            step.restore(self.saved[pos])
        self.steps[pos] = step

    def start(self) -> None:
        if self.record.get("commits", 0) == 0:
            self.commit(finished=False, result=None)

    def commit(self, *, finished: bool, result: Any, position: Any = NOT_GIVEN) -> None:
        """Make the sink's output durable and record the source position with it (the
        source's own now, or *position*)."""
        record = self.record
        if position is not NOT_GIVEN:
            record["position"] = position
        elif self.read:
            record["position"] = self.source.position()
        states = {pos: step.state() for pos, step in self.steps.items()}
        record["steps"] = pickle.dumps(states, protocol=pickle.HIGHEST_PROTOCOL)  # as it is now
        record["commits"] = record.get("commits", 0) + 1
        record["finished"] = finished
        record["result"] = result
        record["time"] = time.time()
        settle = getattr(self.source, "settle_position", None)
        if settle is not None and (finished or getattr(self.writer, "keeps_records", False)):
            record["position"], settle = settle(record["position"]), None
        snapshot = dict(record)  # the next commit changes the record, not this
        if self.writer is not None:
            durable = self.writer.commit(snapshot, settle)
        else:
            durable = partial(_write, self.store, snapshot, settle)
        if finished:  # the last one: after the pending one, and in this thread
            self.committer.close()
            durable()
        else:
            self.committer.submit(durable)

    def close(self) -> None:
        """Wait for a commit still being made durable (however the run ended)."""
        self.committer.close()


class _Committer:
    """Makes commits durable (``fsync``, the checkpoint file) in a thread of its own, so
    the run goes on meanwhile. What a commit records was fixed when it was made (the
    partial file's size, the source position, the stages' state, encoded), so a later
    ``fsync`` covering more data is still exact. One commit waits at most: a newer one
    replaces it, being a later state of the same job. ``close()`` waits for the last
    and joins the thread; an error in the thread is raised at the next call."""

    def __init__(self) -> None:
        import threading

        self.lock = threading.Condition()
        self.pending: Callable[[], None] | None = None
        self.busy = False
        self.error: BaseException | None = None
        self.thread: threading.Thread | None = None
        self.closing = False

    def submit(self, durable: Callable[[], None]) -> None:
        import threading

        with self.lock:
            self._raise()
            self.pending = durable
            self.lock.notify_all()
            if self.thread is None:
                self.thread = threading.Thread(
                    target=self._work, name="hosepipe-checkpoint", daemon=True
                )
                self.thread.start()

    def _raise(self) -> None:
        if self.error is not None:
            error, self.error = self.error, None
            raise error

    def _work(self) -> None:
        while True:
            with self.lock:
                while self.pending is None and not self.closing:
                    self.lock.wait()
                job, self.pending = self.pending, None
                if job is None:
                    return
                self.busy = True
            try:
                job()
            except BaseException as e:  # raised in the run's thread, at its next commit
                with self.lock:
                    self.error = e
            finally:
                with self.lock:
                    self.busy = False
                    self.lock.notify_all()

    def close(self) -> None:
        with self.lock:
            self.closing = True
            self.lock.notify_all()
            thread = self.thread
        if thread is not None:
            thread.join()
            self.thread = None
        with self.lock:
            self.closing = False
            self._raise()


def _ignore(_: Any) -> None:
    pass


def settled(record: dict[str, Any], settle: Callable[[Any], Any] | None) -> bytes:
    """*record* encoded, its position first completed by *settle* (a reader's
    ``settle_position``: the byte offset of a line), in the committing thread."""
    if settle is not None:
        record["position"] = settle(record["position"])
    return encode(record)


def _write(store: _Store, record: dict[str, Any], settle: Callable[[Any], Any] | None) -> None:
    store.write_bytes(settled(record, settle), record["finished"])


class _Tracked(Reader[Any]):
    """The source of a checkpointed run: seeks the user's source to the recorded position,
    and commits between two of its items, every *every* items or *every_seconds*."""

    def __init__(self, source: Any, run: _Checkpointed, tagged: bool) -> None:
        self.source = source
        self.run = run
        self.tagged = tagged
        self.label = source.label

    def open(self, report: Callable[[BaseException], None]) -> Iterator[Any]:
        run = self.run
        position = run.record.get("position")
        if position is not None:
            run.source.seek(position)
        it = self.source.open(report)
        return self._tagged(it) if self.tagged else self._items(it)

    def _tagged(self, it: Iterator[Any]) -> Iterator[Any]:
        """``(n, item)`` for the *n*-th item of *it*; every *every* items (or seconds) the
        position after it is noted, for the sink to commit once item *n* is done."""
        run = self.run
        every, seconds = run.every, run.every_seconds
        position, marks, clock = run.source.position, run.marks, time.monotonic
        next_at = clock() + seconds if seconds is not None else 0.0
        n = 0
        try:
            for item in it:
                n += 1
                run.read = True
                yield n, item
                if every is not None:
                    if n % every == 0:
                        marks.append((n, position()))
                elif clock() >= next_at:
                    marks.append((n, position()))
                    next_at = clock() + seconds  # type: ignore[operator]
        finally:
            close = getattr(it, "close", None)
            if close is not None:
                close()

    def _items(self, it: Iterator[Any]) -> Iterator[Any]:
        """The items of *it*, handed on in blocks at C speed (``chain`` of ``islice``s, so
        no Python code runs per item); between two blocks, a commit (``_blocks``)."""
        blocks = self._blocks(it)
        flat = _Flat.from_iterable(blocks)
        assert isinstance(flat, _Flat)
        flat.blocks = blocks
        return flat

    def _blocks(self, it: Iterator[Any]) -> Iterator[Iterable[Any]]:
        """Blocks of *it*: its first item, then an ``islice`` of the rest of the block.
        The chain asks for the next block when the downstream asks for the item after it:
        everything read so far is done, so that is when to commit."""
        run = self.run
        seconds = run.every_seconds
        block = run.every or 64
        clock = time.monotonic
        next_at = clock() + seconds if seconds is not None else 0.0
        end = _END
        try:
            while True:
                began = clock() if seconds is not None else 0.0
                item = next(it, end)
                if item is end:
                    return
                run.read = True
                yield (item,)
                yield islice(it, block - 1)
                # the downstream asks for the next item: the items read so far are done
                if seconds is None:
                    run.commit(finished=False, result=None)
                    continue
                now = clock()
                if now >= next_at:
                    run.commit(finished=False, result=None)
                    next_at = clock() + seconds
                took = now - began  # blocks of about a tenth of the period
                if took < seconds / 20 and block < 1 << 16:
                    block *= 2
                elif took > seconds / 5 and block > 1:
                    block //= 2
        finally:
            close = getattr(it, "close", None)
            if close is not None:
                close()


_END: Any = object()


class _ATracked:
    """``_Tracked`` for an async source: an async iterable over it, seeked to the recorded
    position, committing between two of its items, every *every* items or *every_seconds*
    (a plain loop: the async driver awaits per item anyway)."""

    def __init__(self, source: Any, run: _Checkpointed) -> None:
        self.source = source
        self.run = run
        self.label = source.label

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._items()

    async def _items(self) -> AsyncIterator[Any]:
        run = self.run
        position = run.record.get("position")
        if position is not None:
            run.source.seek(position)
        it = self.source.obj.__aiter__()
        every, seconds, clock = run.every, run.every_seconds, time.monotonic
        next_at = clock() + seconds if seconds is not None else 0.0
        n = 0
        try:
            async for item in it:
                run.read = True
                yield item
                n += 1  # the downstream asks for the next item: the items so far are done
                if every is not None:
                    if n % every == 0:
                        run.commit(finished=False, result=None)
                elif clock() >= next_at:
                    run.commit(finished=False, result=None)
                    next_at = clock() + seconds  # type: ignore[operator]
        finally:
            aclose = getattr(it, "aclose", None)
            if aclose is not None:
                await aclose()


class _Flat(chain[Any]):
    """A chain of blocks with ``close()``, which closes the generator of the blocks (and
    with it the source) when the run ends."""

    __slots__ = ("blocks",)
    blocks: Any

    def close(self) -> None:
        self.blocks.close()
