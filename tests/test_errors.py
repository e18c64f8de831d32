"""Errors: original types, stage notes, catch and dead letters, argument validation."""

from __future__ import annotations

import asyncio
import operator
import pickle
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import hosepipe as hp


def parse(x: str) -> int:
    return int(x)


def notes(exc: BaseException) -> list[str]:
    return list(getattr(exc, "__notes__", []))


def raise_on(bad: int) -> Callable[[int], int]:
    def check(x: int) -> int:  # a closure: called, never inlined
        if x == bad:
            raise ValueError(f"bad {x}")
        return x

    return check


# -- notes ----------------------------------------------------------------------------------------


def test_note_names_stage_and_item_index() -> None:
    items = ["1", "2", "3", "4", "5", "x", "7"]
    with pytest.raises(ValueError, match="invalid literal") as info:
        hp.Stream(items).filter(lambda s: s != "").map(parse).to_list()
    assert notes(info.value) == ["hosepipe: in stage 2 map(parse), item index 5"]


def test_note_counts_items_reaching_the_stage_not_source_items() -> None:
    def check(x: int) -> int:
        if x == 8:
            raise ArithmeticError
        return x

    with pytest.raises(ArithmeticError) as info:
        hp.Stream(range(20)).filter(lambda x: x % 2 == 0).map(check).run()
    # 0, 2, 4, 6, 8: the fifth item that reached map(check) has index 4
    assert notes(info.value) == ["hosepipe: in stage 2 map(check), item index 4"]


@pytest.mark.parametrize("via", ["inlined lambda", "closure"])
def test_note_for_inlined_and_called_functions(via: str) -> None:
    fn = (lambda x: 10 // (x - 3)) if via == "inlined lambda" else raise_on(3)
    with pytest.raises((ZeroDivisionError, ValueError)) as info:
        list(hp.Stream(range(10)).map(fn))
    assert notes(info.value) == ["hosepipe: in stage 1 map(" + fn.__name__ + "), item index 3"]


def test_note_in_a_step_stage() -> None:
    def add(acc: int, x: int) -> int:
        if x == 4:
            raise OverflowError
        return acc + x

    with pytest.raises(OverflowError) as info:
        hp.Stream(range(9)).map(lambda x: x).scan(add, 0).to_list()
    assert notes(info.value) == ["hosepipe: in stage 2 scan(add), item index 4"]


def test_note_in_a_flat_map_and_after_it() -> None:
    def explode(s: str) -> list[str]:
        return list(s)

    with pytest.raises(ValueError) as info:
        hp.Stream(["12", "3x"]).flat_map(explode).map(parse).to_list()
    assert notes(info.value) == ["hosepipe: in stage 2 map(parse), item index 3"]


def test_note_in_the_source() -> None:
    def gen() -> Iterator[int]:
        yield 1
        yield 2
        raise ConnectionError("lost")

    with pytest.raises(ConnectionError) as info:
        hp.Stream(gen).map(operator.neg).to_list()
    assert notes(info.value) == ["hosepipe: in the source gen(), item index 2"]


def test_note_in_a_terminal() -> None:
    def for_each(x: int) -> None:
        if x == 2:
            raise LookupError

    with pytest.raises(LookupError) as info:
        hp.Stream(range(5)).for_each(for_each)
    assert notes(info.value) == ["hosepipe: in the terminal for_each(for_each), item index 2"]

    with pytest.raises(TypeError) as info2:
        hp.Stream([1, "a"]).reduce(operator.add)
    assert notes(info2.value) == ["hosepipe: in the terminal reduce(add), item index 1"]


def test_one_note_through_several_runners() -> None:
    with pytest.raises(ValueError) as info:
        hp.Stream(range(10)).map(raise_on(7)).batch(2).flatten().map(str).to_list()
    assert notes(info.value) == ["hosepipe: in stage 1 map(check), item index 7"]


def stop_at_3(x: int) -> int:  # module level: worker processes take it by plain pickle
    if x == 3:
        raise StopIteration
    return x


async def astop_at_3(x: int) -> int:
    return stop_at_3(x)


@pytest.mark.parametrize(
    ("build", "label"),
    [
        (lambda s: s.map(stop_at_3), "map(stop_at_3)"),
        (lambda s: s.map(stop_at_3, concurrency=2), "map(stop_at_3, concurrency=2)"),
        (
            lambda s: s.map(stop_at_3, concurrency=2, via="process"),
            "map(stop_at_3, concurrency=2, via='process')",
        ),
        (lambda s: s.filter(stop_at_3), "filter(stop_at_3)"),
        (lambda s: s.map(astop_at_3, concurrency=2), "map(astop_at_3, concurrency=2)"),
    ],
)
@pytest.mark.parametrize("source", ["range", "generator", "async"])
def test_a_stage_raising_stop_iteration_is_an_error_not_the_end(
    build: Callable[[Any], Any], label: str, source: str
) -> None:
    """Taken for the end by whatever iterates the stream, a stage's StopIteration would cut
    the output short without a word (on a thread of an async run, asyncio could not even
    set it on its future, and the run hung): it is raised as a RuntimeError, noted."""
    if source == "async" or "astop" in label:

        async def agen() -> Any:
            for i in range(10):
                yield i

        src: Any = agen if source == "async" else range(10)

        async def run() -> list[int]:
            return await asyncio.wait_for(build(hp.Stream(src)).ato_list(), 30)

        call: Callable[[], Any] = lambda: asyncio.run(run())  # noqa: E731
    else:
        src = range(10) if source == "range" else (lambda: (i for i in range(10)))
        call = build(hp.Stream(src)).to_list
    # (Python's own words for an async def, whose coroutine cannot let one out)
    said = "coroutine" if "astop" in label else "a stage function"
    with pytest.raises(RuntimeError, match=rf"^{said} raised StopIteration\n") as info:
        call()
    assert notes(info.value) == [f"hosepipe: in stage 1 {label}, item index 3"]
    c_path = source == "range" and "concurrency" not in label  # C iterators swallow it
    assert isinstance(info.value.__cause__, StopIteration) or c_path


def test_error_keeps_its_type_and_traceback_points_at_user_code() -> None:
    class Custom(Exception):
        pass

    def fail(x: int) -> int:
        raise Custom(x)

    with pytest.raises(Custom) as info:
        hp.Stream([1]).map(fail).first()
    assert info.traceback[-1].name == "fail"


# -- the exception tree ---------------------------------------------------------------------------


def test_exception_tree() -> None:
    assert issubclass(hp.DataError, hp.HosepipeError)
    assert issubclass(hp.DataError, ValueError)
    assert issubclass(hp.EmptyStreamError, ValueError)
    assert issubclass(hp.StreamConsumedError, hp.HosepipeError)


def test_data_error_names_path_line_and_raw() -> None:
    e = hp.DataError("invalid JSON", path="in.jsonl", line=7, raw="{oops" * 100)
    assert (e.path, e.line) == ("in.jsonl", 7)
    assert isinstance(e.raw, str)
    assert len(e.raw) == 203
    assert e.raw.endswith("...")
    assert str(e).startswith("invalid JSON (in.jsonl, line 7: '{oops")
    copy = pickle.loads(pickle.dumps(e))
    assert (copy.path, copy.line, copy.raw, str(copy)) == (e.path, e.line, e.raw, str(e))


def test_empty_stream_errors() -> None:
    with pytest.raises(hp.EmptyStreamError, match=r"^first\(\) was called on an empty stream"):
        hp.Stream([]).first()
    with pytest.raises(ValueError, match=r"^reduce\(\) was called on an empty stream"):
        hp.Stream([]).reduce(operator.add)
    assert hp.Stream([]).first(default=None) is None


# -- catch ----------------------------------------------------------------------------------------


def test_catch_skips_counts_and_dead_letters() -> None:
    bad: list[hp.DeadLetter] = []
    seen: list[tuple[str, object]] = []
    s = (
        hp.Stream(["1", "x", "3", "y"])
        .map(parse)
        .catch(
            ValueError,
            handler=lambda e, item: seen.append((type(e).__name__, item)),
            dead_letter=bad,
        )
    )
    with s.iterate() as it:
        assert list(it) == [1, 3]
    assert seen == [("ValueError", "x"), ("ValueError", "y")]
    assert [(d.item, d.stage, type(d.error)) for d in bad] == [
        ("x", "map(parse)", ValueError),
        ("y", "map(parse)", ValueError),
    ]
    stats = it.stats()
    assert stats.errors == 2
    assert stats.stages[1].errors == 2
    assert stats.stages[1].errors_by_type == {"ValueError": 2}
    assert (stats.stages[1].items_in, stats.stages[1].items_out) == (4, 2)
    assert bad[0].to_dict() == {
        "item": "x",
        "stage": "map(parse)",
        "error": "ValueError: invalid literal for int() with base 10: 'x'",
        "path": None,
        "line": None,
        "raw": None,
    }


def test_catch_accepts_a_callable_dead_letter() -> None:
    got: list[hp.DeadLetter] = []
    out = hp.Stream([1, 0, 2]).map(lambda x: 1 // x).catch(dead_letter=got.append).to_list()
    assert out == [1, 0]
    assert [d.item for d in got] == [0]


def test_catch_lets_other_types_through() -> None:
    with pytest.raises(ValueError) as info:
        hp.Stream([1, 2]).map(raise_on(2)).catch(KeyError).to_list()
    assert notes(info.value) == ["hosepipe: in stage 1 map(check), item index 1"]


def test_catch_guards_only_the_stages_before_it() -> None:
    s = hp.Stream([1, 2, 3]).map(raise_on(2)).catch(ValueError).map(raise_on(3))
    with pytest.raises(ValueError, match="bad 3"):
        s.to_list()


def test_catch_guards_stages_since_the_previous_catch() -> None:
    s = (
        hp.Stream(range(6))
        .map(raise_on(1))
        .catch(ValueError)
        .map(raise_on(2))
        .filter(lambda x: x != 5)
        .catch(ValueError)
    )
    stats = s.run()
    assert stats.items_out == 3  # 0, 3, 4
    assert [st.errors for st in stats.stages] == [0, 1, 0, 1, 0, 0]


def test_consecutive_catches_act_together() -> None:
    def fail(x: int) -> int:
        if x == 1:
            raise KeyError(x)
        if x == 2:
            raise ValueError(x)
        return x

    assert hp.Stream(range(4)).map(fail).catch(KeyError).catch(ValueError).to_list() == [0, 3]


def test_catch_guards_step_stages_and_flat_map_generators() -> None:
    def acc(total: int, x: int) -> int:
        if x < 0:
            raise ValueError
        return total + x

    assert hp.Stream([1, -1, 2]).scan(acc, 0).catch().to_list() == [1, 3]

    def explode(n: int) -> Iterator[int]:
        yield n
        if n == 2:
            raise ValueError("mid-way")
        yield n * 10

    bad: list[hp.DeadLetter] = []
    got = hp.Stream([1, 2, 3]).flat_map(explode).catch(dead_letter=bad).to_list()
    assert got == [1, 10, 2, 3, 30]
    assert [d.item for d in bad] == [2]


def test_catch_after_flat_map_skips_one_sub_item_only() -> None:
    got = (
        hp.Stream([[1, 0, 2], [0, 4]])
        .flatten()
        .map(lambda x: 4 // x)
        .catch(ZeroDivisionError)
        .to_list()
    )
    assert got == [4, 2, 1]


def test_errors_in_handler_propagate() -> None:
    def handler(e: Exception, item: Any) -> None:
        raise RuntimeError("handler failed")

    with pytest.raises(RuntimeError, match="handler failed"):
        hp.Stream([0]).map(lambda x: 1 // x).catch(handler=handler).to_list()


# -- validation at build time, exact messages -----------------------------------------------------


@pytest.mark.parametrize(
    ("build", "error", "message"),
    [
        (lambda: hp.take(-1), ValueError, "take(): `n` must be >= 0, got -1"),
        (lambda: hp.take("3"), TypeError, "take(): `n` must be an int, got '3' (str)"),
        (lambda: hp.skip(True), TypeError, "skip(): `n` must be an int, got True (bool)"),
        (lambda: hp.batch(0), ValueError, "batch(): `size` must be >= 1, got 0"),
        (lambda: hp.window(0), ValueError, "window(): `size` must be >= 1, got 0"),
        (lambda: hp.window(2, step=0), ValueError, "window(): `step` must be >= 1, got 0"),
        (lambda: hp.map(3), TypeError, "map(): `fn` must be callable, got 3 (int)"),
        (
            lambda: hp.filter(None),
            TypeError,
            "filter(): `pred` must be callable, got None (NoneType)",
        ),
        (lambda: hp.flat_map("x"), TypeError, "flat_map(): `fn` must be callable, got 'x' (str)"),
        (lambda: hp.take_while(1), TypeError, "take_while(): `pred` must be callable, got 1 (int)"),
        (lambda: hp.group_by(1), TypeError, "group_by(): `key` must be callable, got 1 (int)"),
        (lambda: hp.distinct(key=1), TypeError, "distinct(): `key` must be callable, got 1 (int)"),
        (lambda: hp.scan(1, 0), TypeError, "scan(): `fn` must be callable, got 1 (int)"),
        (lambda: hp.enumerate(1.5), TypeError, "enumerate(): `start` must be an int, got 1.5"),
        (lambda: hp.observe(""), ValueError, "observe(): `name` must be a non-empty str, got ''"),
        (lambda: hp.zip(), TypeError, "zip(): give at least one iterable to zip with"),
        (lambda: hp.chain(5), TypeError, "chain(): every argument must be iterable, got 5"),
        (
            lambda: hp.catch(KeyboardInterrupt),
            TypeError,
            "catch(): every exception type must be a subclass of Exception, got "
            "<class 'KeyboardInterrupt'>",
        ),
        (
            lambda: hp.catch(dead_letter=5),
            TypeError,
            "catch(): `dead_letter` must be a sink, a callable or have an append() method, "
            "got 5 (int)",
        ),
        (
            lambda: hp.Stream(5),
            TypeError,
            "Stream(): `source` must be an iterable or a zero-argument callable that returns "
            "one, got 5 (int)",
        ),
        (lambda: hp.Stream([1]).reduce(5), TypeError, "reduce(): `fn` must be callable, got 5"),
        (lambda: hp.Stream([1]).for_each(5), TypeError, "for_each(): `fn` must be callable, got 5"),
        (
            lambda: hp.Stream([1]).to(5),
            TypeError,
            "to(): `sink` must be a Sink or a callable, got 5",
        ),
    ],
)
def test_arguments_are_validated_when_the_stage_is_built(
    build: Callable[[], object], error: type[Exception], message: str
) -> None:
    import re

    with pytest.raises(error, match="^" + re.escape(message) + "$"):
        build()


def test_pipeline_as_a_source_is_refused_with_advice() -> None:
    with pytest.raises(TypeError, match=r"apply it to one: `pipeline\(source\)`"):
        hp.Stream(hp.map(str))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^pipe\(\): `pipeline` must be a hosepipe Pipeline"):
        hp.Stream([1]).pipe(str)  # type: ignore[arg-type]


def test_factory_returning_a_non_iterable_is_reported() -> None:
    with pytest.raises(TypeError, match=r"the source factory <lambda>\(\) must return an iterable"):
        hp.Stream(lambda: 5).to_list()  # type: ignore[arg-type, return-value]


@pytest.mark.parametrize(
    ("build", "note"),
    [
        (
            lambda s: s.take_while(lambda x: 10 // (x - 4)),
            "stage 1 take_while(<lambda>), item index 4",
        ),
        (
            lambda s: s.drop_while(lambda x: 10 // (x - 2)),
            "stage 1 drop_while(<lambda>), item index 2",
        ),
        (
            lambda s: s.distinct(key=lambda x: 10 // (x - 3)),
            "stage 1 distinct(key=<lambda>), item index 3",
        ),
        (
            lambda s: s.skip(1).scan(lambda a, x: a + 10 // (x - 5), 0),
            "stage 2 scan(<lambda>), item index 4",
        ),
        (lambda s: s.group_by(lambda x: 10 // (x - 6)), "stage 1 group_by(<lambda>), item index 6"),
        (
            lambda s: s.batch(2).map(lambda b: 10 // (b[0] - 4)),
            "stage 2 map(<lambda>), item index 2",
        ),
    ],
)
def test_notes_for_stateful_stages(build: Callable[[Any], Any], note: str) -> None:
    with pytest.raises(ZeroDivisionError) as info:
        build(hp.Stream(range(10))).to_list()
    assert notes(info.value) == [f"hosepipe: in {note}"]


def test_catch_guards_coded_stateful_stages() -> None:
    def key(x: int) -> int:
        return 10 // (x - 3)

    bad: list[hp.DeadLetter] = []
    got = hp.Stream(range(6)).distinct(key=key).catch(dead_letter=bad).to_list()
    assert got == [0, 1, 2, 4, 5]
    assert [(d.item, d.stage) for d in bad] == [(3, "distinct(key=key)")]
    got = hp.Stream([1, 2, 0, 3]).take_while(lambda x: 6 // x).catch(ZeroDivisionError).to_list()
    assert got == [1, 2, 3]
