"""``hosepipe run FILE.py[:NAME]``: load a pipeline from a Python file, run it, show its stats.

Loading. *FILE.py* is imported as a module named after the file (so its
``if __name__ == "__main__":`` block does not run), with its folder first on ``sys.path`` so
that it can import its neighbours. *NAME* is one of its attributes; without one the command
takes ``pipeline``, else ``main``, else the only ``Stream`` or ``Pipeline`` the module
defines (several of them is a usage error that lists them).

What NAME may be:

* a ``Stream``: run as it is; its items are written out (see below). ``--input`` is refused,
  since the stream has a source of its own.
* a ``Pipeline``: fed the lines of the ``--input`` files, in order (``hp.read_lines``, line
  endings removed; a file, ``-``, a folder or a glob), or of standard input when there is no
  ``--input``.
* a factory: a callable returning one of those. It is called with the keyword arguments it
  accepts among ``inputs`` (the ``--input`` values as given, a list of ``str``; ``["-"]``
  when there is none) and ``output`` (the ``--output`` path, or ``None``). A stream it
  returns may then read ``inputs`` itself.

Items. Each item that comes out is written as one line, ``str(item)``: to ``--output``
(atomically, with ``hp.write_lines``: the file appears complete when the run succeeds and is
left untouched otherwise), or to standard output. ``--discard`` drops them (as
``stream.run()`` does).

Reporting. Progress and statistics go to standard error, so standard output carries only
items. The statistics (``RunStats``) are shown however the run ends: completed, failed or
interrupted (then they are the counts so far).
"""

from __future__ import annotations

import contextlib
import os
import sys

from hosepipe._ends import flush_before_acks
from hosepipe._typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable
    from types import ModuleType
    from typing import Any

    from hosepipe import Iteration, RunStats, Stream
    from hosepipe.sinks._base import SinkWriter

__all__ = ["DEFAULT_NAMES", "LoadError", "UsageError", "format_error", "run_command"]

#: The names ``hosepipe run FILE.py`` looks for, in order, when no NAME is given.
DEFAULT_NAMES = ("pipeline", "main")

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED, EXIT_PIPE_CLOSED = 0, 1, 2, 130, 141


class UsageError(Exception):
    """A mistake in the command line or in what it names: exit status 2.

    >>> raise UsageError("no such file: 'job.py'")
    Traceback (most recent call last):
    ...
    hosepipe.cli._run.UsageError: no such file: 'job.py'
    """


class LoadError(Exception):
    """The user's code failed while the file was loaded or the factory called: exit 1.

    *error* is the original exception; *where* says what was happening (``while loading
    job.py, line 3``).

    >>> LoadError(ZeroDivisionError("division by zero"), "while loading job.py").where
    'while loading job.py'
    """

    def __init__(self, error: BaseException, where: str) -> None:
        super().__init__(where)
        self.error = error
        self.where = where


class _StdoutClosed(Exception):
    """The reader of standard output went away (``hosepipe run ... | head``)."""


# -- the target ------------------------------------------------------------------------------


def split_target(target: str) -> tuple[str, str | None]:
    """``FILE.py:NAME`` split into the file and the name (``None`` when there is none; a
    file whose own name holds a ``:`` is taken whole).

    >>> split_target("jobs/clean.py:pipeline")
    ('jobs/clean.py', 'pipeline')
    >>> split_target("clean.py")
    ('clean.py', None)
    >>> split_target("clean.py:")
    Traceback (most recent call last):
    ...
    hosepipe.cli._run.UsageError: 'clean.py:' names no object after ':'; write FILE.py:NAME
    """
    path, colon, name = target.rpartition(":")
    if not colon or os.path.isfile(target) or os.sep in name or (os.altsep and os.altsep in name):
        return target, None
    if not name:
        raise UsageError(f"{target!r} names no object after ':'; write FILE.py:NAME")
    if not name.isidentifier():
        raise UsageError(f"{name!r} in {target!r} is not a Python name")
    return path, name


def load_module(path: str) -> ModuleType:
    """Import the Python file *path* as a module named after it, its folder on ``sys.path``.

    A missing file is a ``UsageError``; an exception raised by the file's code is a
    ``LoadError`` carrying it.

    >>> import os, tempfile
    >>> name = os.path.join(tempfile.mkdtemp(), "job_doctest.py")
    >>> with open(name, "w") as f:
    ...     _ = f.write("answer = 6 * 7\\n")
    >>> load_module(name).answer
    42
    """
    import importlib.machinery
    import importlib.util

    if not os.path.exists(path):
        raise UsageError(f"no such file: {path!r}")
    if os.path.isdir(path):
        raise UsageError(f"{path!r} is a folder; give a Python file, FILE.py[:NAME]")
    full = os.path.abspath(path)
    stem = os.path.splitext(os.path.basename(full))[0]
    name = stem if stem.isidentifier() and stem not in sys.modules else "_hosepipe_job"
    folder = os.path.dirname(full)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    loader = importlib.machinery.SourceFileLoader(name, full)
    spec = importlib.util.spec_from_loader(name, loader)
    assert spec is not None  # a SourceFileLoader always gives a spec
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # pickling (process maps) finds its functions by name
    try:
        loader.exec_module(module)
    except Exception as e:
        del sys.modules[name]
        raise LoadError(e, f"while loading {path}{_line_in(e, full)}") from None
    return module


def _line_in(exc: BaseException, full: str) -> str:
    """``, line N``: the last line of file *full* that *exc*'s traceback passed through."""
    if isinstance(exc, SyntaxError) and exc.filename == full and exc.lineno:
        return f", line {exc.lineno}"
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == full:
            line = tb.tb_lineno
        tb = tb.tb_next
    return f", line {line}" if line is not None else ""


def _is_runnable(obj: object) -> bool:
    from hosepipe import Pipeline, Stream

    return isinstance(obj, Stream | Pipeline)


def candidates(module: ModuleType) -> list[str]:
    """The public names of *module* that hold a ``Stream`` or a ``Pipeline``, sorted.

    >>> import types, hosepipe as hp
    >>> m = types.ModuleType("m")
    >>> m.clean, m.count, m._private, m.n = hp.map(str), hp.Stream([1]), hp.map(int), 3
    >>> candidates(m)
    ['clean', 'count']
    """
    return sorted(n for n, v in vars(module).items() if not n.startswith("_") and _is_runnable(v))


def pick(module: ModuleType, name: str | None, path: str) -> tuple[str, object]:
    """The object ``hosepipe run`` runs from *module*: *name*, or the default (see the
    module docstring). Returns its name and the object.

    >>> import types, hosepipe as hp
    >>> m = types.ModuleType("m")
    >>> m.main, m.clean = (lambda: hp.Stream([1])), hp.map(str)
    >>> pick(m, None, "job.py")[0]
    'main'
    >>> pick(m, "nothing", "job.py")
    Traceback (most recent call last):
    ...
    hosepipe.cli._run.UsageError: job.py has no 'nothing'; it defines: clean
    """
    found = candidates(module)
    if name is not None:
        if not hasattr(module, name):
            listing = ", ".join(found) if found else "no Stream or Pipeline"
            raise UsageError(f"{path} has no {name!r}; it defines: {listing}")
        return name, getattr(module, name)
    for default in DEFAULT_NAMES:
        if hasattr(module, default):
            return default, getattr(module, default)
    if len(found) == 1:
        return found[0], getattr(module, found[0])
    if not found:
        raise UsageError(
            f"{path} defines no Stream or Pipeline: name one (FILE.py:NAME), or define "
            "`pipeline` or `main` (a Stream, a Pipeline or a function returning one)"
        )
    raise UsageError(
        f"{path} defines several pipelines ({', '.join(found)}): choose one with "
        f"{path}:NAME, or name it `pipeline`"
    )


def _call_factory(
    fn: Callable[..., Any], label: str, inputs: list[str] | None, output: str | None, path: str
) -> tuple[object, bool]:
    """Call the factory with the keywords it takes; returns its result and whether it took
    ``inputs``."""
    import inspect

    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):  # no signature (some builtins): call it bare
        params = {}  # type: ignore[assignment]
    anything = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    offered = {"inputs": inputs or ["-"], "output": output}
    kwargs = {
        k: v
        for k, v in offered.items()
        if anything or (k in params and params[k].kind is not inspect.Parameter.POSITIONAL_ONLY)
    }
    missing = [
        p.name
        for p in params.values()
        if p.name not in kwargs
        and p.default is inspect.Parameter.empty
        and p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    ]
    if missing:
        raise UsageError(
            f"{label}() needs {', '.join(missing)}: a factory may take only `inputs` "
            "(the --input paths) and `output` (the --output path)"
        )
    full = os.path.abspath(path)
    try:
        made = fn(**kwargs)
    except Exception as e:
        raise LoadError(e, f"while calling {label}() from {path}{_line_in(e, full)}") from None
    return made, "inputs" in kwargs


def build(
    obj: object, label: str, inputs: list[str] | None, output: str | None, path: str
) -> tuple[Stream[Any], bool]:
    """The ``Stream`` to run for *obj* (a Stream, a Pipeline or a factory of one), and
    whether it reads standard input (a Pipeline without *inputs*).

    >>> import hosepipe as hp
    >>> build(hp.map(str.upper), "pipeline", None, None, "job.py")
    (Stream(read_lines('-')).map(upper), True)
    >>> build(hp.Stream([1]), "s", ["in.txt"], None, "job.py")
    Traceback (most recent call last):
    ...
    hosepipe.cli._run.UsageError: --input was given, but s is a Stream, which has its own ...
    """
    import hosepipe as hp

    took_inputs = False
    if not _is_runnable(obj):
        if not callable(obj):
            raise UsageError(
                f"{label} is {_describe(obj)}, not a Stream, a Pipeline or a function returning one"
            )
        obj, took_inputs = _call_factory(obj, label, inputs, output, path)
        label = f"{label}()"
        if not _is_runnable(obj):
            raise UsageError(f"{label} returned {_describe(obj)}, not a Stream or a Pipeline")
    if isinstance(obj, hp.Pipeline):
        return hp.read_lines(inputs or ["-"]).pipe(obj), not inputs
    assert isinstance(obj, hp.Stream)
    if inputs and not took_inputs:
        raise UsageError(
            f"--input was given, but {label} is a Stream, which has its own source; make "
            f"{label.rstrip('()')} a Pipeline, or a function taking `inputs`"
        )
    return obj, False


def _describe(obj: object) -> str:
    text = repr(obj)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(obj).__name__} {text}" if obj is not None else "None"


def check_paths(args: argparse.Namespace) -> None:
    """Refuse inputs that do not exist and outputs that cannot be written, before running."""
    from hosepipe.sources._files import resolve_paths

    if args.input:
        try:
            resolve_paths(args.input)
        except FileNotFoundError as e:
            raise UsageError(f"--input: {e}") from None
    for option, target in (("--output", args.output), ("--stats-file", args.stats_file)):
        if target is None:
            continue
        folder = os.path.dirname(os.path.abspath(target))
        if not os.path.isdir(folder):
            raise UsageError(f"{option}: the folder {folder!r} does not exist")
        if os.path.isdir(target):
            raise UsageError(f"{option}: {target!r} is a folder")


def with_progress(stream: Stream[Any], mode: bool | None, desc: str) -> Stream[Any]:
    """*stream* with a ``progress`` stage at its end, labelled *desc*.

    *mode* True forces the bar (``--progress``); None (the default) adds the stage only when
    standard error is a terminal and tqdm is installed, so logs and saved statistics show
    no stage the file did not define; False (``--no-progress``) adds none. A stream that
    has a ``progress`` stage of its own keeps it and gets no other.

    >>> import hosepipe as hp
    >>> with_progress(hp.Stream([1]), False, "job")
    Stream([1])
    >>> with_progress(hp.Stream([1]), True, "job")
    Stream([1]).progress('job')
    """
    if mode is False:
        return stream
    from hosepipe._nodes import Progress

    if any(isinstance(node, Progress) for node in stream._stages):
        return stream
    import importlib.util

    has_tqdm = importlib.util.find_spec("tqdm") is not None
    if mode is None and not (has_tqdm and sys.stderr.isatty()):
        return stream
    if not has_tqdm:
        raise UsageError("--progress needs the tqdm package: pip install 'hosepipe[progress]'")
    return stream.progress(desc=desc, force=mode)


# -- running ---------------------------------------------------------------------------------


def _stdout_emitter() -> Callable[[object], None]:
    write = sys.stdout.write

    def emit(item: object) -> None:
        try:
            write(f"{item}\n")
        except BrokenPipeError:
            raise _StdoutClosed from None

    return emit


def execute(
    stream: Stream[Any], output: str | None, discard: bool, engine: Any = None
) -> tuple[RunStats, int, BaseException | None]:
    """Run *stream*, writing its items; returns its stats, the exit status and the error.

    However the run ends the iteration is closed (files, threads, processes) before this
    returns, and an output file is committed only when the run completed. With *engine*
    (``hp.engines.Dask``) the stream runs there and its items are written here, in order.
    """
    import hosepipe as hp

    sink = hp.write_lines(output) if output is not None else None
    writer: SinkWriter[str, int] | None = None
    emit: Callable[[Any], None] = _discard if discard else _stdout_emitter()
    it: Iteration[Any] = stream.iterate()
    code = EXIT_OK
    error: BaseException | None = None
    committed = False
    try:
        if sink is not None:
            writer = sink.open()
            put = writer.write

            def emit(item: object) -> None:
                put(item if type(item) is str else str(item))

        if engine is not None and discard:
            stream.run(engine=engine)
        elif engine is not None:
            stream.for_each(emit, engine=engine)
        else:
            with flush_before_acks(writer), it:  # a broker source flushes it before acks
                for item in it:
                    emit(item)
        if writer is not None:
            writer.commit()  # on failure it removes the temporary file itself
            committed = True
        elif not discard:
            _flush_stdout()
    except KeyboardInterrupt as e:
        code, error = EXIT_INTERRUPTED, e
    except _StdoutClosed as e:
        code, error = EXIT_PIPE_CLOSED, e
    except Exception as e:
        code, error = EXIT_ERROR, e
    finally:  # also for a SystemExit raised by the user's code: the target stays as it was
        if writer is not None and not committed:
            writer.abort()
    if code == EXIT_PIPE_CLOSED:
        _silence_stdout()
    if engine is not None:  # the totals, and each worker's share (under each stage)
        if getattr(engine, "_run", None) is None:  # refused before it started
            return hp.RunStats((), 0.0), code, error
        return engine.stats(by="worker"), code, error
    return it.stats(), code, error


def _discard(item: object) -> None:
    pass


def execute_checkpointed(
    stream: Stream[Any], args: argparse.Namespace, engine: Any = None
) -> tuple[RunStats, int, BaseException | None]:
    """``--checkpoint``: run *stream* resumably into ``--output`` (or ``--discard``)."""
    import hosepipe as hp

    options = {"checkpoint": args.checkpoint, "every": args.every}
    options.update(force=args.force, restart=args.restart)
    code = EXIT_OK
    error: BaseException | None = None
    if args.output is not None:
        stream = stream.map(str)
    try:
        if engine is not None:
            raise hp.CheckpointError(
                "--checkpoint runs here, on the local engine: leave out --engine"
            )
        if args.output is None and not args.discard:
            raise hp.CheckpointError(
                "--checkpoint needs --output (or --discard): standard output cannot be "
                "resumed where it stopped"
            )
        if args.output is not None:
            stream.to(hp.write_lines(args.output), **options)
        else:
            stream.run(**options)
    except KeyboardInterrupt as e:
        code, error = EXIT_INTERRUPTED, e
    except Exception as e:
        code, error = EXIT_ERROR, e
    try:
        stats = stream.stats()
    except hp.HosepipeError:  # refused before it ran, or a finished job: nothing ran
        from hosepipe.metrics import RunStats

        stats = RunStats((), 0.0)
    return stats, code, error


def _flush_stdout() -> None:
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        raise _StdoutClosed from None


def _silence_stdout() -> None:
    """After a broken pipe: point stdout at /dev/null so the interpreter's last flush of
    what is still buffered does not print an error."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


# -- reporting -------------------------------------------------------------------------------


def _type_name(exc: BaseException) -> str:
    cls = type(exc)
    if cls.__module__ == "builtins":
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"


def format_error(exc: BaseException) -> list[str]:
    """The lines ``hosepipe run`` prints for *exc*: type and message, then its notes; the
    exceptions of a group follow, numbered and indented.

    >>> e = ValueError("invalid literal for int() with base 10: 'x'")
    >>> e.add_note("hosepipe: in stage 2 map(parse), item index 5")
    >>> print("\\n".join(format_error(ExceptionGroup("2 failed", [e, KeyError("k")]))))
    ExceptionGroup: 2 failed (2 sub-exceptions)
      1. ValueError: invalid literal for int() with base 10: 'x'
         hosepipe: in stage 2 map(parse), item index 5
      2. KeyError: 'k'
    """
    message = str(exc)
    lines = (f"{_type_name(exc)}: {message}" if message else _type_name(exc)).splitlines()
    for note in getattr(exc, "__notes__", None) or ():
        lines.extend(str(note).splitlines())
    if isinstance(exc, BaseExceptionGroup):
        for i, sub in enumerate(exc.exceptions, start=1):
            first, *rest = format_error(sub)
            lines.append(f"  {i}. {first}")
            lines.extend(" " * len(f"  {i}. ") + line for line in rest)
    return lines


def print_error(exc: BaseException, traceback_too: bool, where: str | None = None) -> None:
    """Report a failure of the user's code on standard error."""
    if traceback_too:
        import traceback

        traceback.print_exception(exc, file=sys.stderr)
        if where:
            print(f"hosepipe: {where}", file=sys.stderr)
        return
    first, *rest = format_error(exc)
    print(f"hosepipe: error: {first}", file=sys.stderr)
    for line in rest:
        print(line, file=sys.stderr)
    if where:
        print(f"hosepipe: {where}", file=sys.stderr)


def _logging_around_bars(active: bool) -> contextlib.AbstractContextManager[object]:
    """While progress bars are drawn, log lines are written above them (through tqdm)
    instead of through them."""
    if not active:
        return contextlib.nullcontext()
    import importlib

    redirect: contextlib.AbstractContextManager[object]
    redirect = importlib.import_module("tqdm.contrib.logging").logging_redirect_tqdm()
    return redirect


def report_stats(stats: RunStats, how: str, stats_file: str | None) -> None:
    """Print *stats* to standard error as a table or JSON (or not at all: ``"none"``), and
    save them as JSON to *stats_file* (written whole, then renamed into place)."""
    import json

    if stats_file is not None:
        tmp = f"{stats_file}.tmp{os.getpid()}"
        try:
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(stats.to_dict(), f, indent=2)
                f.write("\n")
            os.replace(tmp, stats_file)
        except OSError as e:
            print(f"hosepipe: cannot write --stats-file {stats_file}: {e}", file=sys.stderr)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    if how == "table":
        print(stats, file=sys.stderr)
    elif how == "json":
        print(json.dumps(stats.to_dict(), indent=2), file=sys.stderr)


def _engine(args: argparse.Namespace) -> Any:
    """The engine ``--engine`` and ``--scheduler`` ask for: None to run here."""
    if args.engine != "dask":
        if args.scheduler is not None:
            raise UsageError("--scheduler goes with --engine dask")
        return None
    import hosepipe as hp

    return hp.engines.Dask(args.scheduler)


def run_command(args: argparse.Namespace) -> int:
    """``hosepipe run``: what the module docstring says; returns the exit status."""
    if args.log_level is not None:
        import logging

        logging.basicConfig(
            level=args.log_level,
            stream=sys.stderr,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
    path, name = split_target(args.target)
    check_paths(args)
    try:
        module = load_module(path)
        label, obj = pick(module, name, path)
        stream, stdin = build(obj, label, args.input, args.output, path)
    except LoadError as e:
        print_error(e.error, args.traceback, e.where)
        return EXIT_ERROR
    before = stream
    stream = with_progress(stream, args.progress, label)
    if stdin and sys.stdin.isatty():
        print("hosepipe: reading lines from standard input (end with Ctrl-D)", file=sys.stderr)
    engine = _engine(args)
    try:
        with _logging_around_bars(args.log_level is not None and stream is not before):
            if args.checkpoint is not None:
                stats, code, error = execute_checkpointed(stream, args, engine)
            else:
                stats, code, error = execute(stream, args.output, args.discard, engine)
    finally:
        if engine is not None:
            engine.close()
    report_stats(stats, args.stats, args.stats_file)
    if code == EXIT_INTERRUPTED:
        nothing = "; nothing was written to --output" if args.output else ""
        print(f"hosepipe: interrupted: the run was stopped and closed{nothing}", file=sys.stderr)
    elif code == EXIT_PIPE_CLOSED:
        print("hosepipe: standard output was closed: the run was stopped", file=sys.stderr)
    elif error is not None:
        print_error(error, args.traceback)
    return code
