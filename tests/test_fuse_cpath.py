"""The fused loop's C path: plain segments handed to ``map``/``filter``/``islice``/``zip``.

A segment of C-callable stages (at most one function, plus take/skip/enumerate) over a range,
tuple or list, run into ``run()``, ``count()`` or ``to_list()``, is drained by C iterators
in blocks. Its results, its counts, how far it reads and its error notes must be exactly
those of the Python loop, which the same pipeline takes over a generator source.
"""

from __future__ import annotations

import functools
import itertools
import operator
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hosepipe as hp
from hosepipe._drive._fuse import TAKEWHILE_STATE, _Writer

Build = Callable[[hp.Stream[Any]], hp.Stream[Any]]

STAGES: list[tuple[str, Callable[[int], Build]]] = [
    ("map(hash)", lambda k: lambda s: s.map(hash)),
    ("map(twice)", lambda k: lambda s: s.map(functools.partial(operator.mul, 2))),
    ("filter(bool)", lambda k: lambda s: s.filter(bool)),
    ("filter(not 0)", lambda k: lambda s: s.filter(functools.partial(operator.is_not, 0))),
    ("filter(is k)", lambda k: lambda s: s.filter(functools.partial(operator.is_, k % 7))),
    ("tap(hash)", lambda k: lambda s: s.tap(hash)),
    ("take", lambda k: lambda s: s.take(k)),
    ("skip", lambda k: lambda s: s.skip(k)),
    ("enumerate", lambda k: lambda s: s.enumerate(k)),
    ("drop_while", lambda k: lambda s: s.drop_while(functools.partial(operator.is_not, k % 7))),
    ("take_while", lambda k: lambda s: s.take_while(functools.partial(operator.is_not, k % 7))),
]
TAILS: list[Callable[[int], Build]] = [
    lambda k: lambda s: s,
    lambda k: lambda s: s.batch(k % 9 + 1),
    lambda k: lambda s: s.window(k % 5 + 1),
    lambda k: lambda s: s.group_by((k % 4 + 1).__rfloordiv__),
    lambda k: lambda s: s.scan(operator.add, k % 3),
]
TERMINALS = ["run", "count", "to_list"]


def _fresh(data: list[int]) -> Callable[[], Iterator[int]]:
    return lambda: (x for x in data)  # a generator: the Python path


def _finish(stream: hp.Stream[Any], terminal: str) -> Any:
    try:
        if terminal == "run":
            stream.run()
            return None
        return getattr(stream, terminal)()
    except Exception as e:  # both paths must fail alike, with the same note
        return ("error", type(e), str(e), getattr(e, "__notes__", None))


def _counts(stream: hp.Stream[Any]) -> list[tuple[int, int, int]]:
    return [(s.items_in, s.items_out, s.errors) for s in stream.stats().stages]


@settings(max_examples=150, deadline=None)
@given(
    data=st.lists(st.integers(-5, 5), max_size=600),
    kind=st.sampled_from(["range", "tuple", "list"]),
    chain=st.lists(st.tuples(st.integers(0, len(STAGES) - 1), st.integers(0, 700)), max_size=4),
    terminal=st.sampled_from(TERMINALS),
    tail=st.tuples(st.integers(0, len(TAILS) - 1), st.integers(0, 100)),
)
def test_same_items_and_counts_as_the_python_loop(
    data: list[int], kind: str, chain: list[tuple[int, int]], terminal: str, tail: tuple[int, int]
) -> None:
    source: Any = range(len(data)) if kind == "range" else tuple(data) if kind == "tuple" else data
    values = list(source)

    def build(src: Any) -> hp.Stream[Any]:
        s = hp.Stream(src)
        for i, k in chain:
            s = STAGES[i][1](k)(s)
        return TAILS[tail[0]](tail[1])(s)

    fast, slow = build(source), build(_fresh(values))
    assert _finish(fast, terminal) == _finish(slow, terminal)
    assert _counts(fast)[1:] == _counts(slow)[1:]
    assert _counts(fast)[0][1] == _counts(slow)[0][1]  # the same number of source reads


@pytest.mark.parametrize("n", [0, 1, 2, 3, 1000, 70_000, 300_000])
def test_long_and_edge_inputs(n: int) -> None:
    def build(src: Any) -> hp.Stream[Any]:
        return hp.Stream(src).filter((1).__and__).enumerate().skip(3).take(n // 3 + 1)

    fast, slow = build(range(n)), build(_fresh(list(range(n))))
    got = fast.to_list()
    assert got == list(itertools.islice(enumerate(x for x in range(n) if x & 1), 3, n // 3 + 4))
    assert got == slow.to_list()
    assert _counts(fast) == _counts(slow)


def test_take_reads_no_further_than_it_needs() -> None:
    seen: list[int] = []
    stats = hp.Stream(range(10**9)).tap(seen.append).take(70_000).run()
    assert seen == list(range(70_000))
    assert stats.stages[0].items_out == 70_000
    assert hp.Stream(range(10**9)).take(0).count() == 0
    seen.clear()
    assert hp.Stream(tuple(range(100))).filter((3).__gt__).take(2).to_list() == [0, 1]


def test_an_error_carries_its_stage_and_item_index() -> None:
    data = tuple(str(i) for i in range(5000)) + ("x",) + ("1",) * 10
    s = hp.Stream(data).skip(10).map(int)
    with pytest.raises(ValueError, match=r"^invalid literal for int\(\) with base 10: 'x'") as info:
        s.run()
    assert info.value.__notes__ == ["hosepipe: in stage 2 map(int), item index 4990"]
    assert _counts(s) == [(0, 5001, 0), (5001, 4991, 0), (4991, 4990, 0)]


def test_a_filter_error_carries_its_stage_and_item_index() -> None:
    class Bad:
        def __bool__(self) -> bool:
            raise ValueError("no truth")

    data = [1] * 3000 + [Bad()] + [1] * 10
    s = hp.Stream(data).filter(bool)
    with pytest.raises(ValueError, match=r"^no truth") as info:
        s.count()
    assert info.value.__notes__ == ["hosepipe: in stage 1 filter(bool), item index 3000"]
    assert _counts(s) == [(0, 3001, 0), (3001, 3000, 0)]


def test_stop_iteration_in_a_function_is_reported_not_swallowed() -> None:
    iters = [iter([i]) for i in range(3000)] + [iter([])] + [iter([1]) for _ in range(10)]
    with pytest.raises(RuntimeError, match=r"^a stage function raised StopIteration") as info:
        hp.Stream(iters).map(next).to_list()
    assert info.value.__notes__ == ["hosepipe: in stage 1 map(next), item index 3000"]
    # the Python loop (a generator source) alike, as PEP 479 has it for generators
    iters = [iter([i]) for i in range(3000)] + [iter([])] + [iter([1]) for _ in range(10)]
    with pytest.raises(RuntimeError, match=r"^a stage function raised StopIteration") as info:
        hp.Stream(_fresh(iters)).map(next).map(str).run()
    assert info.value.__notes__ == ["hosepipe: in stage 1 map(next), item index 3000"]
    assert isinstance(info.value.__cause__, StopIteration)


@pytest.mark.parametrize("terminal", ["run", "count"])
@pytest.mark.parametrize("bad", [None, "error", "stop"])
def test_a_last_filter_counts_by_the_smaller_side_as_its_pass_rate_moves(
    terminal: str, bad: str | None
) -> None:
    """A last filter's C blocks gather what it passes, or (``filterfalse``) what it drops
    when the block before dropped less: the counts are the Python loop's either way, and
    an error or a StopIteration mid-block in either mode has the same note and counts."""
    data = [1] * 20_000 + [0, 1] * 10_000 + [0] * 20_000 + [1] * 5_000  # the rate moves
    if bad is not None:
        at = 31_234 if terminal == "run" else 52_345  # while it gathers drops / passes
        data[at] = 2

    def keep(x: int) -> bool:
        if x == 2:
            if bad == "stop":
                raise StopIteration
            raise ValueError("bad item")
        return x == 1

    def build(src: Any) -> hp.Stream[Any]:
        return hp.Stream(src).filter(keep).observe("kept")

    from hosepipe._drive._sync import _inline_all, _op

    stream = build(tuple(data))
    ops = tuple(_op(n) for n in stream._stages)
    inlined, _ = _inline_all(ops, tuple(n.user_fn for n in stream._stages))
    writer = _Writer(ops, (False,) * len(ops), True, "count", inlined)
    assert writer.c_fn == 0
    assert writer.c_minority() == 0
    fast, slow = build(tuple(data)), build(_fresh(data))
    got = _finish(fast, terminal)
    assert got == _finish(slow, terminal)
    assert _counts(fast) == _counts(slow)
    if bad is None:
        assert got == (None if terminal == "run" else data.count(1))
        assert _counts(fast)[1] == (len(data), data.count(1), 0)
    else:
        assert got[3] == [f"hosepipe: in stage 1 filter(keep), item index {at}"]


def test_stop_iteration_in_a_take_while_predicate_is_reported_not_taken_for_its_end() -> None:
    """C ``takewhile`` ends alike on a false result and on its predicate's StopIteration:
    the first ends the run, the second is an error, with its stage and item."""
    iters = [iter([1]) for _ in range(3000)] + [iter([])] + [iter([1]) for _ in range(10)]
    s = hp.Stream(iters).take_while(next)
    with pytest.raises(RuntimeError, match=r"^a stage function raised StopIteration") as info:
        s.count()
    assert info.value.__notes__ == ["hosepipe: in stage 1 take_while(next), item index 3000"]
    assert _counts(s) == [(0, 3001, 0), (3001, 3000, 0)]
    t = hp.Stream(tuple(range(100_000))).take_while((70_000).__gt__).enumerate()
    assert t.to_list()[-1] == (69_999, 69_999)
    assert _counts(t) == [(0, 70_001, 0), (70_001, 70_000, 0), (70_000, 70_000, 0)]
    assert t.stats().stages[1].dropped == 1


@pytest.mark.parametrize(
    ("build", "terminal", "expected"),
    [
        (lambda s: s, "drain", -1),
        (lambda s: s.map(abs).take(3), "count", 0),
        (lambda s: s.filter(bool).skip(1).enumerate(), "list", 0),
        (lambda s: s.tap(abs).take(3), "drain", 0),
        (lambda s: s.tap(abs), "list", None),  # to_list needs the items, not abs's results
        (lambda s: s.map(abs).map(abs), "drain", None),  # two functions: which one failed?
        (lambda s: s.map(lambda x: x + 1), "drain", None),  # inlined: the Python loop is faster
        (lambda s: s.filter(bool).batch(3), "drain", 0),
        (lambda s: s.window(3), "count", -1),
        (lambda s: s.batch(3).map(abs), "drain", None),
        (lambda s: s.window(3, step=2), "drain", None),
        (lambda s: s.tap(abs).batch(3), "drain", None),
        (lambda s: s.map(abs), None, None),  # iteration
        (lambda s: s.take_while(abs).enumerate(), "count", 0 if TAKEWHILE_STATE else None),
        (lambda s: s.take_while(abs).map(abs), "drain", None),  # two functions
    ],
)
def test_which_segments_take_the_c_path(
    build: Build, terminal: str | None, expected: int | None
) -> None:
    from hosepipe._drive._sync import _inline_all, _op

    stream = build(hp.Stream(range(3)))
    nodes = stream._stages
    ops = tuple(_op(n) for n in nodes)
    inlined, _ = _inline_all(ops, tuple(n.user_fn for n in nodes))
    writer = _Writer(ops, (False,) * len(ops), True, terminal, inlined)
    assert writer.c_fn == expected


def test_a_drop_while_error_and_its_counts() -> None:
    def small(x: int) -> bool:
        if x < 0:
            raise ValueError("no order")
        return x < 5

    data = [0] * 3000 + [-1] + [0] * 10
    s = hp.Stream(data).drop_while(small)
    with pytest.raises(ValueError, match=r"^no order") as info:
        s.run()
    assert info.value.__notes__ == ["hosepipe: in stage 1 drop_while(small), item index 3000"]
    assert _counts(s) == [(0, 3001, 0), (3001, 0, 0)]
    t = hp.Stream(tuple(range(100_000))).drop_while((90_000).__gt__)
    assert t.count() == 10_000
    assert _counts(t) == [(0, 100_000, 0), (100_000, 10_000, 0)]


def test_a_group_by_key_error_mid_block_counts_only_what_it_reached() -> None:
    def tens(x: int) -> int:
        if x == 5000:
            raise ValueError("bad key")
        return x // 10

    for s in (hp.Stream(range(10_000)), hp.Stream(_fresh(list(range(10_000))))):
        s = s.group_by(tens)
        with pytest.raises(ValueError, match=r"^bad key") as info:
            s.run()
        assert info.value.__notes__ == ["hosepipe: in stage 1 group_by(tens), item index 5000"]
        assert _counts(s) == [(0, 5001, 0), (5001, 499, 0)]  # group 499 was still open
    groups = hp.Stream(tuple(range(100_000))).group_by((10).__rfloordiv__).to_list()
    assert groups == [(k, list(range(10 * k, 10 * k + 10))) for k in range(10_000)]


def test_scan_carries_its_total_across_blocks_and_notes_its_errors() -> None:
    assert (
        hp.Stream(range(100_000)).scan(operator.add, 5).to_list()
        == list(itertools.accumulate(range(100_000), initial=5))[1:]
    )
    s = hp.Stream(tuple(range(100_000))).scan(operator.add, 0)
    assert s.count() == 100_000
    assert _counts(s) == [(0, 100_000, 0), (100_000, 100_000, 0)]

    def add_small(total: int, x: int) -> int:
        if x == 7000:
            raise ValueError("too big")
        return total + x

    for src in (tuple(range(10_000)), _fresh(list(range(10_000)))):
        t = hp.Stream(src).scan(add_small, 0)
        with pytest.raises(ValueError, match=r"^too big") as info:
            t.run()
        assert info.value.__notes__ == ["hosepipe: in stage 1 scan(add_small), item index 7000"]
        assert _counts(t) == [(0, 7001, 0), (7001, 7000, 0)]


@pytest.mark.parametrize("terminal", ["run", "to_list", "first", "iterate"])
def test_a_flat_python_loop_over_a_tuple_counts_its_reads_by_items_left(terminal: str) -> None:
    """Two functions keep the segment off the C path; over a tuple its loop counts the items
    read from what is left of the tuple, exact however the loop is left."""
    data = tuple(str(i) for i in range(3000)) + ("x",) + ("1",) * 10

    def build(src: Any) -> hp.Stream[Any]:
        return hp.Stream(src).map(str.strip).map(int).take_while((10**6).__gt__)

    fast, slow = build(data), build(_fresh(list(data)))
    if terminal == "iterate":
        for s in (fast, slow):
            with s.iterate() as it:
                assert list(itertools.islice(it, 700)) == list(range(700))
        assert _counts(fast) == _counts(slow) == [(0, 700, 0), *[(700, 700, 0)] * 3]
        return
    if terminal == "first":
        assert fast.first() == slow.first() == 0
        assert _counts(fast) == _counts(slow) == [(0, 1, 0), *[(1, 1, 0)] * 3]
        return
    assert _finish(fast, terminal) == _finish(slow, terminal)
    assert _finish(fast, terminal)[3] == ["hosepipe: in stage 2 map(int), item index 3000"]
    assert (
        _counts(fast)
        == _counts(slow)
        == [(0, 3001, 0), (3001, 3001, 0), (3001, 3000, 0), (3000, 3000, 0)]
    )


@settings(max_examples=120, deadline=None)
@given(
    n=st.integers(0, 1500),
    bad=st.one_of(st.none(), st.integers(0, 1500)),
    source_fails=st.booleans(),
    stop=st.one_of(st.none(), st.integers(0, 1600)),
    terminal=st.sampled_from(["run", "count", "sum", "iterate"]),
    nested=st.booleans(),
)
def test_a_python_loop_over_any_iterator_counts_exactly_what_it_read(
    n: int, bad: int | None, source_fails: bool, stop: int | None, terminal: str, nested: bool
) -> None:
    """Over an iterator whose length is unknown (a generator), the Python loop counts the
    items it reads per block (a ``compress`` against a ``repeat``), not one by one: the
    count is the generator's own, whether a stage or the source raises mid-block or the
    consumer stops early; in a flat segment and in one with nested loops."""
    reads = 0

    def source() -> Iterator[int]:
        nonlocal reads
        for i in range(n):
            if source_fails and i == bad:
                raise KeyError(i)
            reads += 1
            yield i

    def check(x: int) -> int:
        if not source_fails and x == bad:
            raise ValueError(x)
        return x

    # two functions: not the C path (drain and count would take it over a range)
    s = hp.Stream(source).map(check).map(operator.neg)
    if nested:  # nested loops in the segment
        s = s.flat_map(lambda x: (x,)).flat_map(lambda x: [x])
    fails = bad is not None and bad < n
    if terminal == "iterate":
        with s.iterate() as it:
            try:
                got = list(itertools.islice(it, stop))
            except (KeyError, ValueError):
                got = None
        expected = [-i for i in range(bad if fails and bad is not None else n)]
        if stop is not None and stop <= len(expected):  # it stopped before any error
            assert got == expected[:stop]
        else:
            assert got == (None if fails else expected)
    else:
        _finish(s, terminal)  # an error is returned, not raised
    read = _counts(s)[0][1]
    if fails and not source_fails:  # the failing item was read
        assert read == reads <= bad + 1
    else:
        assert read == reads
    if terminal != "iterate" and fails:
        assert read == (bad if source_fails else bad + 1)
    elif terminal != "iterate":
        assert read == n
