"""Stream and Pipeline: laziness, re-running, composition, repr, cleanup."""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from pathlib import Path

import pytest

import hosepipe as hp
from hosepipe.testing import CountingSource


def double(x: int) -> int:
    return x * 2


def is_big(x: int) -> bool:
    return x > 4


# -- the contract's own example -------------------------------------------------------------


def test_fluent_and_pipe_forms_are_the_same() -> None:
    s = hp.Stream(range(10)).map(lambda x: x * 2).filter(lambda x: x > 4)
    p = hp.map(lambda x: x * 2) | hp.filter(lambda x: x > 4)
    expected = [x * 2 for x in range(10) if x * 2 > 4]
    assert list(s) == list(range(10) | p) == list(p(range(10))) == expected
    assert list(hp.Stream(range(10)) | p) == expected
    assert hp.Stream(range(10)).pipe(p).to_list() == expected


def test_repr_shows_stages_with_function_names() -> None:
    s = hp.Stream(range(10)).map(double).filter(lambda x: x > 4)
    assert repr(s) == "Stream(range(0, 10)).map(double).filter(<lambda>)"
    assert repr(hp.map(double) | hp.take(3)) == "map(double) | take(3)"
    assert repr(hp.Pipeline()) == "Pipeline()"


def test_repr_of_other_sources() -> None:
    def gen() -> Iterator[int]:
        yield 1

    assert repr(hp.Stream(gen)) == "Stream(gen())"
    assert repr(hp.Stream(gen())).startswith("Stream(<generator ")
    assert repr(hp.Stream([1, 2]).catch(ValueError)) == "Stream([1, 2]).catch(ValueError)"
    assert repr(hp.Stream([1]).window(3, step=2)) == "Stream([1]).window(3, step=2)"


def test_streams_are_immutable() -> None:
    base = hp.Stream(range(5))
    mapped = base.map(double)
    assert base.to_list() == [0, 1, 2, 3, 4]
    assert mapped.to_list() == [0, 2, 4, 6, 8]


def test_stream_of_a_stream_adopts_its_stages() -> None:
    inner = hp.Stream(range(5)).map(double)
    assert hp.Stream(inner).filter(is_big).to_list() == [6, 8]
    assert repr(hp.Stream(inner)) == repr(inner)


def test_pipelines_compose_left_to_right() -> None:
    p = hp.map(double) | hp.filter(is_big) | hp.map(str)
    assert p(range(6)).to_list() == ["6", "8", "10"]
    assert (p | hp.take(1))(range(6)).to_list() == ["6"]
    assert hp.Pipeline().map(double)(range(2)).to_list() == [0, 2]


def test_pipelines_compare_and_pickle_by_value() -> None:
    p = hp.map(double) | hp.filter(is_big) | hp.batch(2)
    q = hp.map(double) | hp.filter(is_big) | hp.batch(2)
    assert p == q
    assert hash(p) == hash(q)
    assert p != hp.map(double) | hp.batch(2)
    # stages of one operator differ by their arguments (a subclass's inherited slots count)
    assert hp.map(double) != hp.map(str)
    assert hp.filter(is_big) != hp.filter(callable)
    assert hp.observe("a") != hp.observe("b")
    assert hp.batch(2) != hp.batch(3)
    restored = pickle.loads(pickle.dumps(p))
    assert restored == p
    assert (
        restored(range(10)).to_list()
        == p(range(10)).to_list()
        == [[6, 8], [10, 12], [14, 16], [18]]
    )


# -- laziness --------------------------------------------------------------------------------


def test_nothing_runs_until_pulled() -> None:
    calls: list[int] = []
    source = CountingSource(range(100))
    s = hp.Stream(source).map(lambda x: calls.append(x) or x).filter(is_big)
    it = iter(s)
    assert (source.opened, source.reads, calls) == (0, 0, [])
    assert next(it) == 5
    assert source.reads == 6
    assert calls == [0, 1, 2, 3, 4, 5]
    it.close()  # type: ignore[attr-defined]
    assert source.active == 0


@pytest.mark.parametrize("k", [0, 1, 5, 20])
def test_pulling_k_items_reads_k_items(k: int) -> None:
    source = CountingSource(range(1000))
    got = hp.Stream(source).map(double).tap(lambda _: None).take(k).to_list()
    assert got == [2 * i for i in range(k)]
    assert source.reads == k
    assert source.active == 0


def test_first_reads_one_item() -> None:
    source = CountingSource(range(1000))
    assert hp.Stream(source).map(double).first() == 0
    assert (source.reads, source.active) == (1, 0)


def test_factory_is_called_per_run_and_not_before() -> None:
    made: list[int] = []

    def factory() -> list[int]:
        made.append(1)
        return [1, 2, 3]

    s = hp.Stream(factory).map(double)
    assert made == []
    assert s.to_list() == [2, 4, 6]
    assert s.sum() == 12
    assert len(made) == 2


# -- running again ------------------------------------------------------------------------------


@pytest.mark.parametrize("source", [[1, 2, 3], range(1, 4), (1, 2, 3), lambda: iter([1, 2, 3])])
def test_reiterable_sources_run_again(source: object) -> None:
    s = hp.Stream(source).map(double)  # type: ignore[arg-type]
    assert s.to_list() == [2, 4, 6]
    assert s.to_list() == [2, 4, 6]
    assert list(s) == [2, 4, 6]


def test_one_shot_iterator_raises_stream_consumed_on_second_run() -> None:
    s = hp.Stream(iter([1, 2, 3])).map(double)
    assert s.to_list() == [2, 4, 6]
    with pytest.raises(hp.StreamConsumedError, match=r"one-shot iterator \(list_iterator\)"):
        s.to_list()


def test_stream_consumed_after_a_partial_run_too() -> None:
    def gen() -> Iterator[int]:
        yield from range(10)

    s = hp.Stream(gen())
    assert s.take(2).to_list() == [0, 1]
    with pytest.raises(hp.StreamConsumedError, match=r"^this stream's source is a one-shot"):
        s.count()
    assert issubclass(hp.StreamConsumedError, hp.HosepipeError)


def test_stream_consumed_error_has_no_stage_note() -> None:
    s = hp.Stream(iter([1]))
    s.run()
    with pytest.raises(hp.StreamConsumedError) as info:
        s.run()
    assert not getattr(info.value, "__notes__", None)


# -- cleanup -------------------------------------------------------------------------------------


class Tracked:
    """A generator source whose ``finally`` records that it ran."""

    def __init__(self, n: int = 100) -> None:
        self.n = n
        self.finalized = False

    def __call__(self) -> Iterator[int]:
        try:
            yield from range(self.n)
        finally:
            self.finalized = True


@pytest.mark.parametrize(
    "make",
    [
        lambda s: s,
        lambda s: s.map(double).filter(is_big),
        lambda s: s.batch(3).flatten(),
        lambda s: s.map(double).window(2).map(sum).take(50),
        lambda s: s.chain([1, 2]).enumerate(),
        lambda s: s.zip(range(1000)),
    ],
)
def test_break_and_close_runs_the_source_finally_at_once(make: object) -> None:
    source = Tracked()
    it = iter(make(hp.Stream(source)))  # type: ignore[operator]
    for _ in it:
        break
    assert not source.finalized
    it.close()
    assert source.finalized


def test_iterate_closes_on_exit_of_the_with_block() -> None:
    source = Tracked()
    with hp.Stream(source).map(double).batch(2).iterate() as it:
        assert next(it) == [0, 2]
        assert not source.finalized
    assert source.finalized


def test_iterate_closes_when_the_block_raises() -> None:
    source = Tracked()

    def use_and_fail() -> None:
        with hp.Stream(source).iterate() as it:
            next(it)
            raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        use_and_fail()
    assert source.finalized


def test_file_object_is_closed_right_after_break(tmp_path: Path) -> None:
    path = tmp_path / "lines.txt"
    path.write_text("".join(f"{i}\n" for i in range(100)))
    opened: list[object] = []

    def open_file() -> object:
        f = open(path)  # noqa: SIM115 - the stream owns it
        opened.append(f)
        return f

    it = iter(hp.Stream(open_file).map(str.strip).filter(str.isdigit))  # type: ignore[arg-type]
    assert next(it) == "0"
    assert not opened[0].closed  # type: ignore[attr-defined]
    it.close()  # type: ignore[attr-defined]
    assert opened[0].closed  # type: ignore[attr-defined]


def test_user_file_source_is_closed_at_the_end(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text("x\ny\n")
    with open(path) as f:
        assert hp.Stream(f).map(str.strip).to_list() == ["x", "y"]
        assert f.closed


def test_error_in_a_stage_closes_the_source_at_once() -> None:
    source = Tracked()

    def boom(x: int) -> int:
        if x == 3:
            raise KeyError(x)
        return x

    with pytest.raises(KeyError):
        hp.Stream(source).batch(2).flatten().map(boom).to_list()
    assert source.finalized


def test_closing_before_the_first_item_opens_nothing() -> None:
    made: list[int] = []

    def factory() -> list[int]:
        made.append(1)
        return [1]

    it = iter(hp.Stream(factory).map(double))
    it.close()  # type: ignore[attr-defined]
    assert made == []


def test_base_exception_in_the_consumer_still_closes() -> None:
    source = Tracked()
    it = iter(hp.Stream(source).map(double))
    next(it)
    with pytest.raises(KeyboardInterrupt):
        it.throw(KeyboardInterrupt)  # type: ignore[attr-defined]
    assert source.finalized


def test_joined_streams_are_closed_too() -> None:
    main, other = Tracked(), Tracked()
    it = iter(hp.Stream(main).zip(hp.Stream(other).map(double)))
    assert next(it) == (0, 0)
    it.close()  # type: ignore[attr-defined]
    assert main.finalized
    assert other.finalized


# -- pipe and compose ------------------------------------------------------------------------------


def test_pipe_applies_left_to_right() -> None:
    assert hp.pipe(3, double, str) == "6"
    assert hp.pipe(3) == 3
    with pytest.raises(TypeError, match=r"^pipe\(\): every function must be callable, got 3$"):
        hp.pipe(1, 3)  # type: ignore[call-overload]


def test_compose_applies_right_to_left() -> None:
    f = hp.compose(str, double)
    assert f(3) == "6"
    assert hp.compose()(7) == 7
    assert f.__name__ == "compose(str, double)"  # type: ignore[attr-defined]
    assert repr(hp.Stream([1]).map(f)) == "Stream([1]).map(compose(str, double))"
    assert pickle.loads(pickle.dumps(f))(2) == "4"
    with pytest.raises(TypeError, match=r"^compose\(\): every function must be callable"):
        hp.compose(str, None)  # type: ignore[call-overload]
