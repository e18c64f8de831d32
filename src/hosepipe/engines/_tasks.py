"""What a worker runs: one partition through the local sync driver, and the combine step.

These functions are what the engine submits; they import no engine library, so any worker
with hosepipe installed can run them. Every result is materialised (a list, a number,
``RunStats``) inside the task: a generator returned as a task result would never finish.
The job and the partition arrive as bytes pickled by the client (cloudpickle), so user
functions defined in a script or a notebook travel by value.
"""

from __future__ import annotations

import operator
import pickle
import sys

from hosepipe._typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

    from hosepipe._steps._catch import DeadLetter
    from hosepipe.metrics._stats import RunStats

    # (which catch, how many items the partition had given before it, the dead letter)
    Letters = list[tuple[int, int, DeadLetter]]
    # a value; per partition: the worker, its stats and its dead letters
    Done = tuple[Any, list[tuple[str, RunStats, Letters]]]

__all__ = ["EMPTY", "LETTERS", "Collect", "LetterBox", "combine", "run_partition", "warm"]

LETTERS = "_hosepipe_dead_letters"  # on a worker's exception: the partition's dead letters


class LetterBox:
    """The dead letters of one task's ``catch`` stages, in the order they were sent.

    The engine gives each worker-side ``catch(dead_letter=...)`` a ``Collect`` into one
    box, pickled with the stages, so that each task unpickles a box of its own; the task
    returns what it holds, and the client gives each letter to the user's dead_letter.
    """

    __slots__ = ("got", "out", "used")

    def __init__(self) -> None:
        self.got: Letters = []
        self.used = False  # set by the engine's plan when a catch sends letters here
        self.out: list[Any] = []  # a "list" task's items so far: where each letter falls


class Collect:
    """A worker-side ``dead_letter``: puts each letter in *box*, tagged with *index*
    (which of the stream's dead-letter targets it is for)."""

    __slots__ = ("box", "index")

    def __init__(self, box: LetterBox, index: int) -> None:
        self.box = box
        self.index = index

    def __call__(self, letter: DeadLetter) -> None:
        _check_travels(letter)
        self.box.got.append((self.index, len(self.box.out), letter))


def _check_travels(letter: DeadLetter) -> None:
    """Refuse, saying why, a dead letter that could not reach the client: its item or its
    error does not pickle and unpickle (as Dask sends results: pickle, else cloudpickle)."""
    try:
        try:
            data = pickle.dumps(letter, protocol=5)
        except Exception:
            import cloudpickle

            data = cloudpickle.dumps(letter)
        pickle.loads(data)
    except Exception as e:
        from hosepipe._errors import HosepipeError

        raise HosepipeError(
            f"catch(dead_letter=) on Dask: the dead letter of {letter.stage} for the item "
            f"{letter.item!r:.60} cannot travel back to the client, as its "
            f"{type(letter.error).__name__} error or its item does not pickle "
            f"({type(e).__name__}: {e}); make them picklable, or run locally"
        ) from None


class _Empty:
    """The partial result of a partition with no items (``reduce`` and ``sum``); and the
    start of a partition's ``sum``, as ``EMPTY + x`` is ``x``.

    >>> EMPTY + [1]
    [1]
    """

    __slots__ = ()

    def __add__(self, other: Any) -> Any:
        return other

    def __repr__(self) -> str:
        return "EMPTY"

    def __reduce__(self) -> str:
        return "EMPTY"  # unpickles as this module's EMPTY: one object everywhere


EMPTY: Any = _Empty()


def worker_address() -> str:
    """The address of the Dask worker running this task (``"?"`` outside a worker)."""
    distributed = sys.modules.get("distributed")  # imported by the worker: not by hosepipe
    try:
        return str(distributed.get_worker().address)  # type: ignore[union-attr]
    except (AttributeError, ValueError):
        return "?"


def run_partition(job: bytes, part: bytes) -> Done:
    """Run one partition: ``hp.Stream(source)`` with the job's stages, into its terminal.

    *job* pickles ``(stages, terminal, fn, box, sources)``; *part* pickles ``(source,
    sink)``. Terminals: ``list``, ``count``, ``drain`` (value ``EMPTY``), ``reduce1`` (fold
    with *fn*; ``EMPTY`` if no item), ``sum`` (the same with ``+``, the sum terminal's own),
    ``sink`` (``stream.to(sink)``, the partition's own file). Returns the value and the
    partition's ``RunStats`` with the worker that ran it and the dead letters its catch
    stages collected in *box* (in a list, so that ``combine`` can concatenate them). An
    error raised carries those letters too, as its attribute ``LETTERS``.
    """
    from hosepipe._source import Source
    from hosepipe._stream import Stream

    stages, terminal, fn, box, sources = pickle.loads(job)
    _give_sources(sources)
    source, sink = pickle.loads(part)
    stream: Stream[Any] = Stream._make(Source(source), stages)
    try:
        value = _run(stream, terminal, fn, sink, box)
    except Exception as e:
        setattr(e, LETTERS, box.got)  # kept in the exception's __dict__ when pickled
        if e.__suppress_context__:  # `raise ... from None`: Dask (tblib) would pickle the
            e.__context__ = None  # context anyway, and fall back to a bare Exception
        raise
    return value, [(worker_address(), stream.stats(), box.got)]


def warm() -> str:
    """Import what a task needs and run a tiny stream through the sync driver, so that a
    worker's first partition does not pay for them (the engine runs this on every worker
    when it connects). Returns the worker's address.

    >>> isinstance(warm(), str)
    True
    """
    import hosepipe.sources._csv
    import hosepipe.sources._files
    import hosepipe.sources._partition  # noqa: F401  (the readers of the partitions)
    from hosepipe._stream import Stream

    Stream(range(3)).map(abs).filter(bool).sum()
    Stream(range(3)).map(abs).to_list()
    return worker_address()


def _give_sources(sources: list[tuple[Any, str, list[str]]]) -> None:
    """Let the fused loops inline the stages' simple functions that came by value: their
    source under *key* in ``linecache``, and their code named after it (``_plan.sources``)."""
    import linecache

    for fn, key, lines in sources:
        if key not in linecache.cache:
            linecache.cache[key] = (sum(map(len, lines)), None, lines, key)
        fn.__code__ = fn.__code__.replace(co_filename=key)


def _run(stream: Any, terminal: str, fn: Any, sink: Any, box: LetterBox) -> Any:
    from hosepipe._drive._sync import END

    value: Any = None
    if terminal == "list" and box.used:  # item by item: where each dead letter falls
        value = box.out
        with stream.iterate() as it:
            for item in it:  # one at a time: Collect reads len(box.out) between them
                value.append(item)
    elif terminal == "list":
        value = stream.to_list()
    elif terminal == "count":
        value = stream.count()
    elif terminal == "drain":
        stream.run()
        value = EMPTY
    elif terminal == "reduce1":
        value = stream._run().execute("reduce1", fn, END)
        if value is END:
            value = EMPTY
    elif terminal == "sum":  # from EMPTY, which adds as nothing: the loop's own ``+=``
        value = stream.sum(EMPTY)
    elif terminal == "sink":
        value = stream.to(sink)
    else:  # pragma: no cover - the engine sends only the terminals above
        raise ValueError(f"unknown terminal {terminal!r}")
    return value


def combine(fn: bytes | None, *parts: Done) -> Done:
    """Adjacent partial results as one, folded left to right with *fn* (``+`` when None),
    ``EMPTY`` being the identity; their stats, in order."""
    add = operator.add if fn is None else pickle.loads(fn)
    value: Any = EMPTY
    stats: list[Any] = []
    for v, s in parts:
        value = v if value is EMPTY else value if v is EMPTY else add(value, v)
        stats += s
    return value, stats
