"""Where a ``Stream`` is handed to a driver: iteration, the terminals and their async twins.

``Stream`` inherits these methods from ``Terminals``; what they share is choosing the run
(the sync ``Run``, or ``BridgeRun`` for a stream with async parts read from sync code, or
the async driver through ``_astream``) and the terminal's name (``Run.execute``). Nothing
here builds stages: that is ``_stream``'s part of the public face.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from types import TracebackType

from hosepipe import _astream
from hosepipe._callables import is_async_source
from hosepipe._drive._sync import END, Run
from hosepipe._ends import Engine, RunView, SinkBase, check_stages, flush_before_acks
from hosepipe._errors import EmptyStreamError, HosepipeError
from hosepipe._typing import TYPE_CHECKING, Generic, TypeVar, overload
from hosepipe.metrics._stats import RunStats

if TYPE_CHECKING:
    import os
    from typing import Any, Literal

    from hosepipe import _nodes
    from hosepipe._push import Target
    from hosepipe._source import Source

__all__ = ["Iteration", "Terminals"]

T = TypeVar("T", covariant=True)
U = TypeVar("U")
A = TypeVar("A")
D = TypeVar("D")
R = TypeVar("R")

_MISSING: Any = END


def _engine_run(engine: object, stream: Any, terminal: str, *args: Any) -> Any:
    """``stream.<terminal>(*args)`` computed on *engine* (``hosepipe.engines``)."""
    if not isinstance(engine, Engine):
        raise TypeError(
            f"{terminal}(): `engine` must be an engine such as hp.engines.Dask(), got {engine!r}"
        )
    return engine.execute(stream, terminal, args)


class Terminals(Generic[T]):
    """The running half of ``Stream`` (see ``Stream``'s documentation)."""

    __slots__ = ("_exporters", "_last", "_source", "_stages")

    _source: Source
    _stages: tuple[_nodes.Node, ...]
    _exporters: list[Any]  # hosepipe.metrics.prometheus(self): set on the first
    _last: RunView  # the latest run (stats()): set by the first, or by an engine

    # -- running ---------------------------------------------------------------------------

    def _is_async(self) -> bool:
        return _astream.is_async(self)

    def _run(self) -> Run:
        run: Run
        check_stages(self._source.obj, self._stages)  # a broker source's ack rule
        if self._is_async():  # async stages or source, read from sync code
            from hosepipe._drive._bridge import BridgeRun

            run = BridgeRun(self._source, self._stages)
        else:
            run = Run(self._source, self._stages)
        self._last = run
        if getattr(self, "_exporters", None):  # hosepipe.metrics.prometheus(self)
            from hosepipe.metrics._latency import Latency

            run.latency = Latency()
        return run

    def stats(self) -> RunStats:
        """The counters of this stream's latest run: live while it runs, final after.

        Safe to call from any thread (a progress display, a metrics exporter, a signal
        handler) and never blocks the run. The items counted in a running loop are
        published after each block of up to 255 items, and blocks shrink so that this
        happens at least every 0.05 s or so while items flow; a source that stalls can
        hold back one block's counts until its next item. Error counts are exact at every
        moment, so they can be a little ahead of the item counts. In an async run every
        count is exact at every moment (an item awaited in an ``async def`` stage counts as
        in, not yet out). ``HosepipeError`` if the stream has not started a run.

        >>> from hosepipe import Stream
        >>> s = Stream(range(1000)).map(str)
        >>> it = iter(s); _ = [next(it) for _ in range(600)]
        >>> 255 <= s.stats().items_in <= 600  # published block by block
        True
        >>> _ = list(it); s.stats().stage("map(str)").items_out
        1000
        """
        run: RunView | None = getattr(self, "_last", None)
        if run is None:
            raise HosepipeError("stats(): this stream has not run yet; start it first")
        return run.stats()

    def __iter__(self) -> Iterator[T]:
        """A generator over the items; ``close()`` it to release everything at once."""
        return self._run().iterator()

    def iterate(self) -> Iteration[T]:
        """An iterator to use in a ``with`` block: leaving the block closes every stage.

        >>> from hosepipe import Stream
        >>> with Stream(range(10)).iterate() as it:
        ...     first_two = [next(it), next(it)]
        >>> first_two
        [0, 1]
        """
        return Iteration(self._run())

    def to_list(self, *, engine: Engine | None = None) -> list[T]:
        """All items in a list; with *engine* (``hp.engines.Dask()``), computed there.

        >>> from hosepipe import Stream
        >>> Stream(range(3)).to_list()
        [0, 1, 2]
        """
        if engine is not None:
            return _engine_run(engine, self, "to_list")  # type: ignore[no-any-return]
        return self._run().execute("list")  # type: ignore[no-any-return]

    @overload
    def first(self) -> T: ...
    @overload
    def first(self, default: D) -> T | D: ...
    def first(self, default: Any = _MISSING) -> Any:
        """The first item, reading nothing more; *default* if the stream is empty.

        Without a default, an empty stream raises ``EmptyStreamError`` (a ``ValueError``).

        >>> from hosepipe import Stream
        >>> Stream(range(5, 10)).first()
        5
        >>> Stream([]).first(None) is None
        True
        """
        got = self._run().execute("first", None, END)
        if got is END:
            if default is _MISSING:
                raise EmptyStreamError(
                    "first() was called on an empty stream, and no default value was provided"
                )
            return default
        return got

    @overload
    def reduce(self, fn: Callable[[T, T], T], *, engine: Engine | None = None) -> T: ...
    @overload
    def reduce(self, fn: Callable[[A, T], A], initial: A, *, engine: Engine | None = None) -> A: ...
    def reduce(
        self, fn: Callable[[Any, T], Any], initial: Any = _MISSING, *, engine: Engine | None = None
    ) -> Any:
        """Fold the items with ``acc = fn(acc, item)``, from *initial* or the first item.

        >>> from hosepipe import Stream
        >>> import operator
        >>> Stream([1, 2, 3, 4]).reduce(operator.mul)
        24
        >>> Stream([]).reduce(operator.add, 0)
        0
        """
        if not callable(fn):
            raise TypeError(f"reduce(): `fn` must be callable, got {fn!r}")
        if engine is not None:  # there, fn must be associative: partitions fold apart
            return _engine_run(
                engine, self, "reduce", fn, *(() if initial is _MISSING else (initial,))
            )
        if initial is _MISSING:
            got = self._run().execute("reduce1", fn, END)
            if got is END:
                raise EmptyStreamError(
                    "reduce() was called on an empty stream, and no initial value was provided"
                )
            return got
        return self._run().execute("reduce", fn, initial)

    def count(self, *, engine: Engine | None = None) -> int:
        """The number of items.

        >>> from hosepipe import Stream
        >>> Stream(range(7)).filter(lambda x: x % 2).count()
        3
        """
        if engine is not None:
            return _engine_run(engine, self, "count")  # type: ignore[no-any-return]
        return self._run().execute("count", None, 0)  # type: ignore[no-any-return]

    @overload
    def sum(self, *, engine: Engine | None = None) -> T | Literal[0]: ...
    @overload
    def sum(self, start: U, *, engine: Engine | None = None) -> T | U: ...
    def sum(self, start: Any = 0, *, engine: Engine | None = None) -> Any:
        """The items added with ``+``, left to right, to *start*.

        >>> from hosepipe import Stream
        >>> Stream([1, 2, 3]).sum()
        6
        >>> Stream([[1], [2]]).sum([])
        [1, 2]
        """
        if engine is not None:
            return _engine_run(engine, self, "sum", start)
        return self._run().execute("sum", None, start)

    def for_each(self, fn: Callable[[T], object], *, engine: Engine | None = None) -> None:
        """Call *fn* on each item.

        >>> from hosepipe import Stream
        >>> Stream("ab").for_each(print)
        a
        b
        """
        if not callable(fn):
            raise TypeError(f"for_each(): `fn` must be callable, got {fn!r}")
        if engine is not None:  # fn is called here, on the items gathered in order
            _engine_run(engine, self, "for_each", fn)
            return
        self._run().execute("call", fn)

    @overload
    def to(
        self,
        sink: SinkBase[T, R],
        *,
        engine: Engine | None = None,
        checkpoint: str | os.PathLike[str] | None = None,
        every: int | None = None,
        every_seconds: float | None = None,
        force: bool = False,
        restart: bool = False,
    ) -> R: ...
    @overload
    def to(self, sink: Callable[[Iterable[T]], R], *, engine: Engine | None = None) -> R: ...
    def to(
        self,
        sink: Any,
        *,
        engine: Engine | None = None,
        checkpoint: str | os.PathLike[str] | None = None,
        every: int | None = None,
        every_seconds: float | None = None,
        force: bool = False,
        restart: bool = False,
    ) -> Any:
        """Run the stream into *sink* and return the sink's result (also: ``stream | sink``).

        *sink* is a hosepipe ``Sink`` (``hp.write_jsonl(path)``, ``hp.to_sql(...)``), which
        is committed when the stream ends and aborted, leaving its target untouched, when it
        fails; or any callable that consumes an iterable (``list``, ``collections.Counter``).
        Either way the stream is closed when the sink returns or raises.

        With *checkpoint* (a file path) the run can be resumed: every *every* source items
        (10,000 by default) or *every_seconds*, the sink commits what it has and the
        checkpoint records the source's position, atomically; calling ``to`` again with the
        same checkpoint goes on from there, exactly once. *force* resumes a checkpoint of a
        different pipeline, *restart* starts over. A stream with an async source or async
        stages runs on an event loop of its own (``ato`` is the async form). See the
        checkpoint guide.

        >>> from hosepipe import Stream
        >>> from collections import Counter
        >>> Stream("abca").to(Counter)
        Counter({'a': 2, 'b': 1, 'c': 1})
        """
        if checkpoint is not None:  # resumable runs: hosepipe._checkpoint
            from hosepipe import _checkpoint

            _checkpoint.check_options("to", checkpoint, every, every_seconds, engine)
            return _checkpoint.run_checkpointed(
                self, sink, checkpoint, every, every_seconds, force, restart
            )
        if engine is not None:
            return _engine_run(engine, self, "to", sink)
        if isinstance(sink, SinkBase):
            run = self._run()
            if hasattr(run, "execute_into") and _writes_on_loop(self, sink):
                # an async client's sink on the loop of an async run: no thread hop
                return run.execute_into(sink, f"to({sink.label})")
            writer = sink.open()
            try:
                with flush_before_acks(writer):  # a broker source flushes it before acks
                    run.execute("call", writer.write, None, f"to({sink.label})")
            except BaseException as exc:
                _abort(writer, sink, exc)
                raise
            return writer.commit()
        if not callable(sink):
            raise TypeError(f"to(): `sink` must be a Sink or a callable, got {sink!r}")
        with self.iterate() as it:
            return sink(it)

    def run(
        self,
        *,
        engine: Engine | None = None,
        checkpoint: str | os.PathLike[str] | None = None,
        every: int | None = None,
        every_seconds: float | None = None,
        force: bool = False,
        restart: bool = False,
    ) -> RunStats:
        """Run the stream to its end, discarding the items, and return its ``RunStats``.

        With *checkpoint*, the source position is recorded as in ``to()``, and a second
        call resumes from it (the stages' own side effects are then at least once).

        >>> from hosepipe import Stream
        >>> stats = Stream(range(10)).filter(lambda x: x < 3).run()
        >>> stats.items_in, stats.items_out
        (10, 3)
        """
        if checkpoint is not None:  # resumable runs: hosepipe._checkpoint
            from hosepipe import _checkpoint

            _checkpoint.check_options("run", checkpoint, every, every_seconds, engine)
            return _checkpoint.run_checkpointed(  # type: ignore[no-any-return]
                self, None, checkpoint, every, every_seconds, force, restart
            )
        if engine is not None:
            return _engine_run(engine, self, "run")  # type: ignore[no-any-return]
        run = self._run()
        run.execute("drain")
        return run.stats()

    def into(self, target: Target[T]) -> None:
        """Run the stream and push each item into *target* with ``send()``, then close it.

        *target* is a generator started with ``@hp.coroutine`` (or anything with ``send()``
        and ``close()``: ``hp.broadcast_to(...)``, ``pipeline.as_target(...)``). It is
        closed when the stream ends, and also when the stream or the target fails, so its
        ``finally`` runs. An error raised in the target propagates with a note naming it
        and the item's index. A target that returns stops the stream early. A stream with
        async stages or an async source runs on an event loop of its own, as for the other
        sync terminals.

        >>> import hosepipe as hp
        >>> @hp.coroutine
        ... def printer():
        ...     while True:
        ...         print((yield))
        >>> hp.Stream(range(3)).map(lambda x: x * 10).into(printer())
        0
        10
        20
        """
        from hosepipe._push import into  # push mode: imported on first use

        into(self, target)

    # -- async ----------------------------------------------------------------------------

    def __aiter__(self) -> AsyncIterator[T]:
        """``async for item in stream``: the stages run on the event loop.

        ``async def`` stages are awaited; plain stages (and a plain source) run inline.
        Closing the async iterator (``aclose()``) closes the run and cancels its tasks.
        """
        return _astream.aiter_of(self)

    def aiterate(self) -> _astream.AIteration[T]:
        """An async iterator to use in ``async with``: leaving the block closes the run.

        >>> from hosepipe import Stream
        >>> import asyncio
        >>> async def main():
        ...     async with Stream(range(10)).aiterate() as it:
        ...         return [x async for x in it if x < 3]
        >>> asyncio.run(main())
        [0, 1, 2]
        """
        return _astream.AIteration(self)

    async def ato_list(self) -> list[T]:
        """The items in a list (the async ``to_list``).

        >>> from hosepipe import Stream
        >>> import asyncio
        >>> async def numbers():
        ...     for i in range(3):
        ...         yield i
        >>> async def double(x):
        ...     return x * 2
        >>> asyncio.run(Stream(numbers).map(double).ato_list())
        [0, 2, 4]
        """
        return await _astream.aexecute(self, "list", None, [])  # type: ignore[no-any-return]

    async def arun(
        self,
        *,
        checkpoint: str | os.PathLike[str] | None = None,
        every: int | None = None,
        every_seconds: float | None = None,
        force: bool = False,
        restart: bool = False,
    ) -> RunStats:
        """Run to the end, discarding the items, and return the ``RunStats`` (async ``run``);
        *checkpoint* and the other keywords as for ``run()``.

        >>> from hosepipe import Stream
        >>> import asyncio
        >>> asyncio.run(Stream(range(4)).arun()).items_out
        4
        """
        if checkpoint is not None:  # resumable runs: hosepipe._checkpoint
            from hosepipe import _checkpoint

            _checkpoint.check_options("arun", checkpoint, every, every_seconds)
            return await _checkpoint.arun_checkpointed(  # type: ignore[no-any-return]
                self, None, checkpoint, every, every_seconds, force, restart
            )
        return await _astream.arun_stats(self)

    async def ato(
        self,
        sink: SinkBase[T, R],
        *,
        checkpoint: str | os.PathLike[str] | None = None,
        every: int | None = None,
        every_seconds: float | None = None,
        force: bool = False,
        restart: bool = False,
    ) -> R:
        """Run the stream into the hosepipe ``Sink`` *sink* and return its result (the async
        ``to``): committed when the stream ends, aborted when it fails. An async source and
        ``async def`` stages run on the running loop; the sink writes in its thread.
        *checkpoint* and the other keywords as for ``to()``: a checkpointed run resumes.

        >>> import asyncio, os, tempfile
        >>> import hosepipe as hp
        >>> async def numbers():
        ...     for i in range(3):
        ...         yield {"n": i}
        >>> out = os.path.join(tempfile.mkdtemp(), "out.jsonl")
        >>> asyncio.run(hp.Stream(numbers).ato(hp.write_jsonl(out)))
        3
        >>> hp.read_jsonl(out).to_list()
        [{'n': 0}, {'n': 1}, {'n': 2}]
        """
        if not isinstance(sink, SinkBase):
            raise TypeError(
                f"ato(): `sink` must be a hosepipe Sink (hp.write_jsonl(...), hp.to_sql(...)), "
                f"got {sink!r}; a function that consumes an iterable goes to to()"
            )
        if checkpoint is not None:  # resumable runs: hosepipe._checkpoint
            from hosepipe import _checkpoint

            _checkpoint.check_options("ato", checkpoint, every, every_seconds)
            return await _checkpoint.arun_checkpointed(  # type: ignore[no-any-return]
                self, sink, checkpoint, every, every_seconds, force, restart
            )
        if _writes_on_loop(self, sink) and _astream.reads_async(self):
            return await _astream.ainto(self, sink, f"to({sink.label})")  # type: ignore[no-any-return]
        writer = sink.open()
        try:
            with flush_before_acks(writer):  # an async broker source acks in this thread too
                await _astream.aexecute(self, "call", writer.write, None, f"to({sink.label})")
        except BaseException as exc:
            _abort(writer, sink, exc)
            raise
        return writer.commit()

    async def acount(self) -> int:
        """The number of items (the async ``count``).

        >>> from hosepipe import Stream
        >>> import asyncio
        >>> asyncio.run(Stream(range(7)).filter(lambda x: x % 2).acount())
        3
        """
        return await _astream.aexecute(self, "count", None, 0)  # type: ignore[no-any-return]

    @overload
    async def afirst(self) -> T: ...
    @overload
    async def afirst(self, default: D) -> T | D: ...
    async def afirst(self, default: Any = _MISSING) -> Any:
        """The first item, reading nothing more; *default* if empty (the async ``first``).

        >>> from hosepipe import Stream
        >>> import asyncio
        >>> asyncio.run(Stream(range(5, 9)).afirst())
        5
        >>> asyncio.run(Stream([]).afirst(None)) is None
        True
        """
        got = await _astream.aexecute(self, "first", None, END)
        if got is END:
            if default is _MISSING:
                raise EmptyStreamError(
                    "afirst() was called on an empty stream, and no default value was provided"
                )
            return default
        return got

    @overload
    async def areduce(self, fn: Callable[[T, T], T]) -> T: ...
    @overload
    async def areduce(self, fn: Callable[[A, T], A], initial: A) -> A: ...
    async def areduce(self, fn: Callable[[Any, T], Any], initial: Any = _MISSING) -> Any:
        """Fold the items with ``acc = fn(acc, item)`` (the async ``reduce``).

        >>> from hosepipe import Stream
        >>> import asyncio, operator
        >>> asyncio.run(Stream([1, 2, 3, 4]).areduce(operator.mul))
        24
        """
        if not callable(fn):
            raise TypeError(f"areduce(): `fn` must be callable, got {fn!r}")
        if initial is not _MISSING:
            return await _astream.aexecute(self, "reduce", fn, initial)
        got = await _astream.aexecute(self, "reduce1", fn, END)
        if got is END:
            raise EmptyStreamError(
                "areduce() was called on an empty stream, and no initial value was provided"
            )
        return got

    async def afor_each(self, fn: Callable[[T], object]) -> None:
        """Call *fn*, a plain or ``async def`` function, on each item (async ``for_each``).

        >>> from hosepipe import Stream
        >>> import asyncio
        >>> asyncio.run(Stream("ab").afor_each(print))
        a
        b
        """
        if not callable(fn):
            raise TypeError(f"afor_each(): `fn` must be callable, got {fn!r}")
        await _astream.aexecute(self, "call", fn, None)


class Iteration(Generic[T]):
    """An open iteration of a stream: iterate it, ``close()`` it or leave its ``with`` block.

    ``stats()`` gives the counters so far (complete once the iteration ended).

    >>> import hosepipe as hp
    >>> with hp.Stream(range(10)).filter(lambda x: x % 2).iterate() as it:
    ...     print(list(it))
    [1, 3, 5, 7, 9]
    >>> it.stats().items_out
    5
    """

    __slots__ = ("_gen", "_run")

    def __init__(self, run: Run) -> None:
        self._run = run
        self._gen: Iterator[T] = run.iterator()

    def __iter__(self) -> Iterator[T]:
        return self._gen

    def __next__(self) -> T:
        return next(self._gen)

    def close(self) -> None:
        """Close every stage and the source now."""
        self._gen.close()  # type: ignore[attr-defined]
        self._run.close()

    def stats(self) -> RunStats:
        """The run's counters: complete after the iteration ended or was closed."""
        return self._run.stats()

    def __enter__(self) -> Iteration[T]:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _writes_on_loop(stream: Any, sink: SinkBase[Any, Any]) -> bool:
    """Whether a run of *stream* into *sink* writes through ``sink.aopen()`` on the run's
    loop: the sink has one and the source is async, so a broker source awaits its flush
    (a sync source read on the loop flushes with a plain call: the sink's own thread)."""
    if getattr(sink, "aopen", None) is None:
        return False
    source = stream._source
    return is_async_source(source.obj) or source.makes_async()


def _abort(writer: Any, sink: SinkBase[Any, Any], exc: BaseException) -> None:
    """The run into *sink* failed with *exc*: discard the writer's output. A failure to
    abort is noted on *exc* (the stream's own error is the one to see)."""
    try:
        writer.abort()
    except Exception as also:
        exc.add_note(f"hosepipe: aborting {sink.label} failed too: {also!r}")
