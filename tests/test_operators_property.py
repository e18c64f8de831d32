"""Property tests: every operator, in both spellings, against a plain-Python reference.

Each operator is checked in its fluent spelling (``hp.Stream(src).map(f)``) and in its ``|``
spelling (``src | hp.map(f)``) against a lazy reference built from builtins, ``itertools``
and ``more_itertools``: on random inputs and on empty and one-item inputs, when only a
prefix is consumed, and for how many source items it reads to produce that prefix.

Random chains of operators are the heart of the file. The sync driver compiles adjacent
map/filter/flat_map/flatten/tap/observe/catch stages into one generated loop and inlines
simple functions into it, so the chains mix those stages with stateful and joining ones,
and draw their functions from menus that hold both functions the driver inlines
(module-level lambdas and one-``return`` defs) and functions it calls (closures, builtins,
generators and defs of several statements).
"""

from __future__ import annotations

import functools
import itertools
import operator
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import more_itertools as mit
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hosepipe as hp
from hosepipe._drive._inline import inline_expression
from hosepipe.testing import CountingSource

OPERATOR_SETTINGS = settings(max_examples=20, deadline=None)
CHAIN_SETTINGS = settings(max_examples=120, deadline=None)
SPELLINGS = ["method", "pipe"]


# -- functions the stages are made of ------------------------------------------------------
# In each menu, the lambdas and the one-``return`` defs are inlined into the fused loop; the
# closures, builtins, generators and longer defs are called (see test_menus_cover_...).


@dataclass(frozen=True)
class Fn:
    """A stage function with a readable label for Hypothesis' failure reports."""

    label: str
    fn: Callable[..., Any]

    def __repr__(self) -> str:
        return self.label


def halve(x: int) -> int:
    return x // 2


def collatz(x: int) -> int:
    if x % 2:
        return 3 * x + 1
    return x // 2


def adder(n: int) -> Callable[[int], int]:
    def add(x: int) -> int:
        return x + n

    return add


def is_small(x: int) -> bool:
    return -3 <= x <= 5


def mod_is(m: int, r: int) -> Callable[[int], bool]:
    def pred(x: int) -> bool:
        return x % m == r

    return pred


def mod_is_not(m: int, r: int) -> Callable[[int], bool]:
    def pred(x: int) -> bool:
        return x % m != r

    return pred


def sign(x: int) -> int:
    if x > 0:
        return 1
    if x < 0:
        return -1
    return 0


def mod_by(m: int) -> Callable[[int], int]:
    def key(x: int) -> int:
        return x % m

    return key


def digits(x: int) -> list[int]:
    return [int(d) for d in str(abs(x))]


def countdown(x: int) -> Iterator[int]:
    for i in range(x % 3):
        yield x - i


def repeat(n: int) -> Callable[[int], list[int]]:
    def rep(x: int) -> list[int]:
        return [x] * n

    return rep


def one_gen(x: int) -> Iterator[int]:
    yield x * 2 % 101


def weighted(k: int) -> Callable[[int, int], int]:
    def step(acc: int, x: int) -> int:
        return acc + k * x

    return step


def fold(v: Any) -> int:
    """One int for any nesting of ints, lists, tuples and ranges (sensitive to order)."""
    if isinstance(v, int):
        return v
    total = 17
    for e in v:
        total = (total * 31 + fold(e)) % 1_000_003
    return total


def shape(v: Any) -> int:
    return len(v) if isinstance(v, list | tuple | range) else -1


def fold_plus(n: int) -> Callable[[Any], int]:
    def f(v: Any) -> int:
        return fold(v) + n

    return f


def fold_mod_is(m: int, r: int) -> Callable[[Any], bool]:
    def pred(v: Any) -> bool:
        return fold(v) % m == r

    return pred


def twice(v: Any) -> Iterator[Any]:
    yield v
    yield v


def last_two(v: Iterable[Any]) -> list[Any]:
    return list(v)[-2:]


def backwards(v: Iterable[Any]) -> Iterator[Any]:
    yield from reversed(list(v))


INT_FNS = (  # int -> int
    Fn("lambda x: x + 1", lambda x: x + 1),
    Fn("lambda x: x * 3 - 7", lambda x: x * 3 - 7),
    Fn("halve", halve),
    Fn("collatz", collatz),
    Fn("adder(5)", adder(5)),
    Fn("abs", abs),
    Fn("operator.neg", operator.neg),
)
PREDS = (  # int -> truthy
    Fn("lambda x: x % 2 == 0", lambda x: x % 2 == 0),
    Fn("lambda x: x % 3", lambda x: x % 3),
    Fn("lambda x: x > 0", lambda x: x > 0),
    Fn("is_small", is_small),
    Fn("mod_is(4, 1)", mod_is(4, 1)),
    Fn("bool", bool),
)
WHILE_PREDS = (  # int -> truthy, mostly true: take_while and drop_while run for a while
    *PREDS,
    Fn("lambda x: x > -25", lambda x: x > -25),
    Fn("lambda x: x % 7 != 3", lambda x: x % 7 != 3),
    Fn("mod_is_not(6, 0)", mod_is_not(6, 0)),
)
INT_KEYS = (  # int -> hashable
    Fn("lambda x: x % 3", lambda x: x % 3),
    Fn("lambda x: x > 0", lambda x: x > 0),
    Fn("sign", sign),
    Fn("mod_by(4)", mod_by(4)),
    Fn("abs", abs),
)
FLAT_FNS = (  # int -> iterable of ints
    Fn("lambda x: range(x % 4)", lambda x: range(x % 4)),
    Fn("lambda x: (x, -x)", lambda x: (x, -x)),
    Fn("lambda x: []", lambda x: []),
    Fn("digits", digits),
    Fn("countdown", countdown),
    Fn("repeat(2)", repeat(2)),
)
THIN_FLAT_FNS = (  # int -> about one int, for deep flat_map chains
    Fn("lambda x: [x + 1]", lambda x: [x + 1]),
    Fn("lambda x: (x,) if x % 4 else (x, x + 1)", lambda x: (x,) if x % 4 else (x, x + 1)),
    Fn("lambda x: () if x % 5 == 0 else (x - 1,)", lambda x: () if x % 5 == 0 else (x - 1,)),
    Fn("one_gen", one_gen),
    Fn("repeat(1)", repeat(1)),
)
TO_INTS_FNS = (  # int -> an iterable of ints, as an item
    Fn("lambda x: [x, x + 1]", lambda x: [x, x + 1]),
    Fn("lambda x: range(x % 3)", lambda x: range(x % 3)),
    Fn("digits", digits),
)
SCAN_FNS = (  # (acc, int) -> int
    Fn("operator.add", operator.add),
    Fn("lambda a, x: (a * 2 - x) % 1009", lambda a, x: (a * 2 - x) % 1009),  # stays small
    Fn("max", max),
    Fn("weighted(3)", weighted(3)),
)
ANY_FNS = (  # anything fold() takes -> int
    Fn("fold", fold),
    Fn("lambda v: fold(v) % 7 - 3", lambda v: fold(v) % 7 - 3),
    Fn("shape", shape),
    Fn("fold_plus(1)", fold_plus(1)),
)
ANY_PREDS = (
    Fn("lambda v: fold(v) % 2 == 0", lambda v: fold(v) % 2 == 0),
    Fn("lambda v: fold(v) % 3", lambda v: fold(v) % 3),
    Fn("fold_mod_is(4, 1)", fold_mod_is(4, 1)),
    Fn("bool", bool),
)
ANY_WHILE_PREDS = (
    *ANY_PREDS,
    Fn("lambda v: fold(v) % 7 != 3", lambda v: fold(v) % 7 != 3),
)
ANY_KEYS = (
    Fn("lambda v: fold(v) % 3", lambda v: fold(v) % 3),
    Fn("shape", shape),
    Fn("fold_plus(0)", fold_plus(0)),
)
ANY_FLAT_FNS = (  # anything -> iterable of anything
    Fn("lambda v: (v, fold(v))", lambda v: (v, fold(v))),
    Fn("lambda v: [] if fold(v) % 3 == 0 else [v]", lambda v: [] if fold(v) % 3 == 0 else [v]),
    Fn("twice", twice),
)
ITER_FLAT_FNS = (  # an iterable -> its items
    Fn("lambda v: v", lambda v: v),
    Fn("list", list),
    Fn("last_two", last_two),
    Fn("backwards", backwards),
)
ANY_SCAN_FNS = (Fn("lambda a, v: a + fold(v)", lambda a, v: a + fold(v)),)
FOLD = ANY_FNS[0]
WRAP_FNS = (
    Fn("lambda x: [x]", lambda x: [x]),
    Fn("lambda x: (x,)", lambda x: (x,)),
)


# -- operations: one stage, for the library and for the reference ----------------------------


@dataclass(frozen=True)
class Op:
    """One stage: ``name`` is both the Stream method and the ``hp`` factory."""

    name: str
    args: tuple[Any, ...] = ()
    kwargs: tuple[tuple[str, Any], ...] = ()

    def method(self, stream: Any) -> Any:
        args, kwargs = _for_lib(self.args, self.kwargs)
        return getattr(stream, self.name)(*args, **kwargs)

    def factory(self) -> hp.Pipeline[Any, Any]:
        args, kwargs = _for_lib(self.args, self.kwargs)
        return getattr(hp, self.name)(*args, **kwargs)  # type: ignore[no-any-return]

    def ref(self, it: Iterator[Any]) -> Iterator[Any]:
        args = [a.ref() if isinstance(a, Other) else _unwrap(a) for a in self.args]
        kwargs = {k: _unwrap(v) for k, v in self.kwargs}
        return _lazily(REFERENCES[self.name], it, args, kwargs)

    def __repr__(self) -> str:
        parts = [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs]
        return f"{self.name}({', '.join(parts)})"


@dataclass(frozen=True)
class Other:
    """An iterable given to chain() or zip(): a list, or a Stream over one with a stage."""

    items: tuple[int, ...]
    stage: Op | None = None
    as_tuple: bool = False  # a bare tuple: with a tuple source, the join runs in C

    def lib(self) -> Any:
        if self.stage is None:
            return tuple(self.items) if self.as_tuple else list(self.items)
        return self.stage.method(hp.Stream(list(self.items)))

    def ref(self) -> Iterator[Any]:
        it = iter(self.items)
        return it if self.stage is None else self.stage.ref(it)

    def __repr__(self) -> str:
        if self.stage is None:
            return repr(list(self.items))
        return f"Stream({list(self.items)}).{self.stage!r}"


def _unwrap(value: Any) -> Any:
    return value.fn if isinstance(value, Fn) else value


def _for_lib(
    args: tuple[Any, ...], kwargs: tuple[tuple[str, Any], ...]
) -> tuple[list[Any], dict[str, Any]]:
    def lib(v: Any) -> Any:
        return v.lib() if isinstance(v, Other) else _unwrap(v)

    return [lib(a) for a in args], {k: lib(v) for k, v in kwargs}


def _lazily(
    make: Callable[..., Iterable[Any]], it: Iterator[Any], args: Any, kwargs: Any
) -> Iterator[Any]:
    """Build the reference stage at the first ``next()``, as the library opens its stages.

    (``more_itertools.sliding_window`` reads ahead when it is called, not when iterated.)
    """
    yield from make(it, *args, **kwargs)


_PAD = object()


def _ref_tap(it: Iterator[Any], fn: Callable[[Any], object]) -> Iterator[Any]:
    for x in it:
        fn(x)
        yield x


def _ref_window(it: Iterator[Any], size: int, *, step: int = 1) -> Iterator[tuple[Any, ...]]:
    if step == 1:
        return mit.sliding_window(it, size)
    windows = mit.windowed(it, size, fillvalue=_PAD, step=step)
    return (w for w in windows if all(v is not _PAD for v in w))


def _ref_scan(it: Iterator[Any], fn: Callable[[Any, Any], Any], initial: Any) -> Iterator[Any]:
    return itertools.islice(itertools.accumulate(it, fn, initial=initial), 1, None)


REFERENCES: dict[str, Callable[..., Iterable[Any]]] = {
    "map": lambda it, fn: map(fn, it),
    "filter": lambda it, pred: filter(pred, it),
    "flat_map": lambda it, fn: itertools.chain.from_iterable(map(fn, it)),
    "flatten": itertools.chain.from_iterable,
    "tap": _ref_tap,
    "observe": lambda it, name: it,
    "catch": lambda it, *types, **kw: it,  # the failing stage's reference does the skipping
    "take": lambda it, n: itertools.islice(it, n),
    "skip": lambda it, n: itertools.islice(it, n, None),
    "take_while": lambda it, pred: itertools.takewhile(pred, it),
    "drop_while": lambda it, pred: itertools.dropwhile(pred, it),
    "batch": lambda it, size: map(list, mit.batched(it, size)),
    "window": _ref_window,
    "group_by": lambda it, key: ((k, list(g)) for k, g in itertools.groupby(it, key)),
    "distinct": lambda it, key=None: mit.unique_everseen(it, key=key),
    "enumerate": lambda it, start=0: enumerate(it, start),
    "scan": _ref_scan,
    "chain": lambda it, *others: itertools.chain(it, *others),
    "zip": lambda it, *others: zip(it, *others),
}


def build(spelling: str, source: Any, ops: list[Op]) -> hp.Stream[Any]:
    """The chain as a hosepipe stream: fluent methods, or factories composed with ``|``."""
    if spelling == "method":
        stream = hp.Stream(source)
        for op in ops:
            stream = op.method(stream)
        return stream
    pipeline = functools.reduce(operator.or_, [op.factory() for op in ops], hp.Pipeline())
    return source | pipeline  # type: ignore[no-any-return]


def reference(source: Iterable[Any], ops: list[Op]) -> Iterator[Any]:
    """The same chain as a lazy chain of plain generators."""
    it = iter(source)
    for op in ops:
        it = op.ref(it)
    return it


def counted_reference(source: Iterable[Any], ops: list[Op]) -> tuple[list[Any], list[int]]:
    """The reference output and how many items the source and each stage yielded."""
    counts = [0] * (len(ops) + 1)

    def counted(it: Iterable[Any], i: int) -> Iterator[Any]:
        for x in it:
            counts[i] += 1
            yield x

    it = counted(source, 0)
    for i, op in enumerate(ops, 1):
        it = counted(op.ref(it), i)
    return list(it), counts


def assert_same(actual: Any, expected: Any) -> None:
    """Equal, and equal in type too (``1`` is not ``1.0``, nor ``True``)."""
    assert actual == expected
    assert repr(actual) == repr(expected)


def assert_stage_flow(stats: hp.RunStats, counts: list[int]) -> None:
    """Each stage's counts match the reference's, and each takes what the previous gave."""
    assert [s.items_out for s in stats.stages] == counts
    for prev, stage in itertools.pairwise(stats.stages):
        assert stage.items_in == prev.items_out, stage


# -- strategies -------------------------------------------------------------------------------
# Item kinds, so that every stage gets items its function accepts:
INT = "int"  # ints
INTS = "ints"  # iterables of ints (batches, windows, ranges)
ITER = "iter"  # iterables of anything (pairs from enumerate, zip, group_by)
ANY = "any"  # anything fold() accepts

SMALL_INTS = st.integers(-30, 30)
INT_LISTS = st.lists(SMALL_INTS, max_size=25)
# Long sources cross the fused loop's 256-item block (whose first item takes a timed path).
LONG_LISTS = st.builds(
    lambda n, mul: [(i * mul) % 61 - 30 for i in range(n)],
    st.integers(250, 700),
    st.integers(1, 60),
)
# (Tests of random chains run the empty and the one-item source as well as the one drawn.)
SOURCES = st.one_of(st.lists(SMALL_INTS, min_size=1, max_size=25), LONG_LISTS)
NESTED_LISTS = st.lists(
    st.one_of(
        st.lists(SMALL_INTS, max_size=4),
        st.tuples(SMALL_INTS, SMALL_INTS),
        st.builds(range, st.integers(0, 4)),
    ),
    max_size=12,
)
INT_STAGES = [Op("map", (f,)) for f in INT_FNS] + [Op("filter", (p,)) for p in PREDS]
OTHERS = st.builds(
    Other,
    st.lists(SMALL_INTS, max_size=8).map(tuple),
    st.none() | st.sampled_from(INT_STAGES),
    st.booleans(),
)
FUSED = ("map", "filter", "flat_map", "flatten", "tap", "observe")

Drawn = st.SearchStrategy[tuple[Op, str]]


def _fn_op(name: str, fns: tuple[Fn, ...], out_kind: str) -> Drawn:
    return st.sampled_from(fns).map(lambda f: (Op(name, (f,)), out_kind))


def op_menu(kind: str) -> dict[str, Drawn]:
    """For items of *kind*: each operator name -> (a stage, the kind of its output items)."""
    ints = kind == INT
    seq_kind = INTS if ints else ITER
    fns, preds, keys = (INT_FNS, PREDS, INT_KEYS) if ints else (ANY_FNS, ANY_PREDS, ANY_KEYS)
    while_preds = WHILE_PREDS if ints else ANY_WHILE_PREDS
    menu: dict[str, Drawn] = {
        "map": _fn_op("map", fns, INT),
        "filter": _fn_op("filter", preds, kind),
        "tap": _fn_op("tap", fns, kind),
        "observe": st.sampled_from(["mid", "end"]).map(lambda n: (Op("observe", (n,)), kind)),
        "take": st.integers(0, 12).map(lambda n: (Op("take", (n,)), kind)),
        "skip": st.integers(0, 5).map(lambda n: (Op("skip", (n,)), kind)),
        "take_while": _fn_op("take_while", while_preds, kind),
        "drop_while": _fn_op("drop_while", while_preds, kind),
        "batch": st.integers(1, 4).map(lambda n: (Op("batch", (n,)), seq_kind)),
        "window": st.builds(
            lambda size, step: (
                Op("window", (size,), (("step", step),) if step > 1 else ()),
                seq_kind,
            ),
            st.integers(1, 4),
            st.integers(1, 3),
        ),
        "group_by": _fn_op("group_by", keys, ITER),
        "distinct": st.sampled_from(keys).map(lambda k: (Op("distinct", (), (("key", k),)), kind)),
        "enumerate": st.integers(-3, 3).map(lambda n: (Op("enumerate", (n,) if n else ()), ITER)),
        "scan": st.builds(
            lambda f, init: (Op("scan", (f, init)), INT),
            st.sampled_from(SCAN_FNS if ints else ANY_SCAN_FNS),
            st.integers(-5, 5),
        ),
        "chain": st.lists(OTHERS, max_size=3).map(
            lambda os: (Op("chain", tuple(os)), INT if ints else ANY)
        ),
        "zip": st.lists(OTHERS, min_size=1, max_size=3).map(
            lambda os: (Op("zip", tuple(os)), ITER)
        ),
    }
    if ints:
        menu["map"] = menu["map"] | _fn_op("map", TO_INTS_FNS, INTS)
        menu["flat_map"] = _fn_op("flat_map", FLAT_FNS, INT)
        menu["distinct"] = menu["distinct"] | st.just((Op("distinct"), INT))
    elif kind in (INTS, ITER):
        elem = INT if kind == INTS else ANY
        menu["flatten"] = st.just((Op("flatten"), elem))
        menu["flat_map"] = _fn_op("flat_map", ITER_FLAT_FNS, elem) | _fn_op(
            "flat_map", ANY_FLAT_FNS, ANY
        )
    else:
        menu["flat_map"] = _fn_op("flat_map", ANY_FLAT_FNS, ANY)
    return menu


MENUS = {kind: op_menu(kind) for kind in (INT, INTS, ITER, ANY)}
# Fused stages are drawn twice as often, so that runs of them (one generated loop) are common.
ANY_OP = {
    kind: st.one_of(*menu.values(), *(menu[n] for n in FUSED if n in menu))
    for kind, menu in MENUS.items()
}


@st.composite
def chains(
    draw: st.DrawFn, *, max_ops: int = 8, start: str = INT, end_int: bool = False
) -> list[Op]:
    """A random chain of stages for items of kind *start*; with *end_int*, ending in ints."""
    ops, kind = [], start
    for _ in range(draw(st.integers(0, max_ops))):
        op, kind = draw(ANY_OP[kind])
        ops.append(op)
    if end_int and kind != INT:
        ops.append(Op("map", (FOLD,)))
    return ops


def _between_flat_maps() -> st.SearchStrategy[list[Op]]:
    return st.one_of(
        st.just([]),
        st.sampled_from(INT_FNS).map(lambda f: [Op("map", (f,))]),
        st.sampled_from(PREDS).map(lambda p: [Op("filter", (p,))]),
        st.sampled_from(INT_FNS).map(lambda f: [Op("tap", (f,))]),
        st.just([Op("observe", ("deep",))]),
        st.sampled_from(WRAP_FNS).map(lambda f: [Op("map", (f,)), Op("flatten")]),
        st.just([Op("catch", (ValueError,))]),
        st.integers(5, 80).map(lambda n: [Op("take", (n,))]),
        st.integers(0, 2).map(lambda n: [Op("skip", (n,))]),
    )


@st.composite
def deep_flat_map_chains(draw: st.DrawFn) -> list[Op]:
    """7 to 12 flat_maps (more than one fused loop holds), with stages between some."""
    ops: list[Op] = []
    for _ in range(draw(st.integers(7, 12))):
        ops.append(Op("flat_map", (draw(st.sampled_from(THIN_FLAT_FNS)),)))
        ops.extend(draw(_between_flat_maps()))
    return ops


# -- one operator at a time -------------------------------------------------------------------

OPERATORS = sorted([*MENUS[INT], "flatten"])


def single_op(name: str) -> tuple[st.SearchStrategy[Op], st.SearchStrategy[list[Any]]]:
    """A random stage of operator *name* and a strategy for sources it accepts."""
    if name == "flatten":
        return MENUS[INTS]["flatten"].map(lambda d: d[0]), NESTED_LISTS
    return MENUS[INT][name].map(lambda d: d[0]), INT_LISTS


@OPERATOR_SETTINGS
@pytest.mark.parametrize("spelling", SPELLINGS)
@pytest.mark.parametrize("name", OPERATORS)
@given(data=st.data())
def test_operator_matches_reference(name: str, spelling: str, data: st.DataObject) -> None:
    ops, sources = single_op(name)
    op = data.draw(ops, label="op")
    xs = data.draw(sources, label="xs")
    for source in (xs, [], xs[:1]):
        assert_same(list(build(spelling, source, [op])), list(reference(source, [op])))


@OPERATOR_SETTINGS
@pytest.mark.parametrize("spelling", SPELLINGS)
@pytest.mark.parametrize("name", OPERATORS)
@given(data=st.data())
def test_operator_early_stop(name: str, spelling: str, data: st.DataObject) -> None:
    ops, sources = single_op(name)
    op = data.draw(ops, label="op")
    xs = data.draw(sources, label="xs")
    stream = build(spelling, xs, [op])
    expected = list(reference(xs, [op]))
    k = data.draw(st.integers(0, len(expected) + 1), label="k")

    it = iter(stream)
    got = list(itertools.islice(it, k))
    it.close()  # type: ignore[attr-defined]
    assert_same(got, expected[:k])

    with stream.iterate() as iteration:
        got = list(itertools.islice(iteration, k))
    assert_same(got, expected[:k])
    assert_same(list(stream), expected)  # closing early left nothing behind for the next run


@OPERATOR_SETTINGS
@pytest.mark.parametrize("spelling", SPELLINGS)
@pytest.mark.parametrize("name", OPERATORS)
@given(data=st.data())
def test_operator_reads_only_what_it_needs(name: str, spelling: str, data: st.DataObject) -> None:
    ops, sources = single_op(name)
    op = data.draw(ops, label="op")
    xs = data.draw(sources, label="xs")
    k = data.draw(st.integers(0, len(xs) + 2), label="k")
    source, ref_source = CountingSource(xs), CountingSource(xs)

    it = iter(build(spelling, source, [op]))
    got = list(itertools.islice(it, k))
    expected = list(itertools.islice(reference(ref_source, [op]), k))
    assert_same(got, expected)
    assert source.reads == ref_source.reads
    it.close()  # type: ignore[attr-defined]
    assert source.active == 0


@OPERATOR_SETTINGS
@pytest.mark.parametrize("spelling", SPELLINGS)
@given(xs=INT_LISTS, k=st.integers(0, 30))
def test_tap_calls_fn_once_per_item_in_order(spelling: str, xs: list[int], k: int) -> None:
    seen: list[int] = []
    ops = [Op("tap", (Fn("seen.append", seen.append),)), Op("map", (INT_FNS[0],))]
    stream = build(spelling, xs, ops)
    assert stream.to_list() == [x + 1 for x in xs]
    assert seen == xs
    seen.clear()
    it = iter(stream)
    assert list(itertools.islice(it, k)) == [x + 1 for x in xs[:k]]
    it.close()  # type: ignore[attr-defined]
    assert seen == xs[:k]


# -- random chains ----------------------------------------------------------------------------


@CHAIN_SETTINGS
@pytest.mark.parametrize("spelling", SPELLINGS)
@given(data=st.data())
def test_random_chains_match_reference(spelling: str, data: st.DataObject) -> None:
    ops = data.draw(chains(), label="ops")
    xs = data.draw(SOURCES | SOURCES.map(tuple), label="xs")  # tuples: direct joins
    stream = build(spelling, xs, ops)
    expected = list(reference(xs, ops))
    assert_same(list(stream), expected)
    assert_same(stream.to_list(), expected)  # the terminal is compiled into the last loop
    for source in ([], xs[:1]):
        assert_same(list(build(spelling, source, ops)), list(reference(source, ops)))


@CHAIN_SETTINGS
@pytest.mark.parametrize("spelling", SPELLINGS)
@given(data=st.data())
def test_random_chains_early_stop_reads_only_what_they_need(
    spelling: str, data: st.DataObject
) -> None:
    ops = data.draw(chains(), label="ops")
    xs = data.draw(SOURCES, label="xs")
    k = data.draw(st.integers(0, 40), label="k")
    source, ref_source = CountingSource(xs), CountingSource(xs)
    stream = build(spelling, source, ops)
    expected = list(itertools.islice(reference(ref_source, ops), k))

    if data.draw(st.booleans(), label="with iterate()"):
        with stream.iterate() as it:
            got = list(itertools.islice(it, k))
            reads = source.reads
    else:
        it = iter(stream)
        got = list(itertools.islice(it, k))
        reads = source.reads
        it.close()  # type: ignore[attr-defined]
    assert_same(got, expected)
    assert reads == ref_source.reads
    assert source.active == 0


@CHAIN_SETTINGS
@pytest.mark.parametrize("spelling", SPELLINGS)
@given(data=st.data())
def test_random_chains_run_stats(spelling: str, data: st.DataObject) -> None:
    ops = data.draw(chains(), label="ops")
    xs = data.draw(SOURCES | SOURCES.map(tuple), label="xs")  # tuples: direct joins
    for source in (xs, []):
        expected, counts = counted_reference(source, ops)
        stats = build(spelling, source, ops).run()

        assert len(stats.stages) == len(ops) + 1
        assert_stage_flow(stats, counts)
        assert stats.items_out == len(expected)
        assert stats.errors == 0
        for name in {op.args[0] for op in ops if op.name == "observe"}:
            first = next(i for i, op in enumerate(ops, 1) if op.args == (name,))
            assert stats.stage(name).items_out == counts[first]


@OPERATOR_SETTINGS
@pytest.mark.parametrize("spelling", SPELLINGS)
@given(data=st.data())
def test_filter_stats_count_the_kept_items(spelling: str, data: st.DataObject) -> None:
    xs = data.draw(SOURCES, label="xs")
    pred = data.draw(st.sampled_from(PREDS), label="pred")
    stats = build(spelling, xs, [Op("filter", (pred,))]).run()
    kept = sum(1 for x in xs if pred.fn(x))
    assert (stats.stages[0].items_out, stats.stages[1].items_in) == (len(xs), len(xs))
    assert stats.stages[1].items_out == kept
    assert stats.stages[1].dropped == len(xs) - kept


@settings(max_examples=60, deadline=None)
@pytest.mark.parametrize("spelling", SPELLINGS)
@given(data=st.data())
def test_deep_flat_map_chains(spelling: str, data: st.DataObject) -> None:
    ops = data.draw(deep_flat_map_chains(), label="ops")
    xs = data.draw(st.lists(SMALL_INTS, max_size=10), label="xs")
    expected, counts = counted_reference(xs, ops)
    stream = build(spelling, xs, ops)
    assert_same(list(stream), expected)
    assert_same(stream.to_list(), expected)
    assert_stage_flow(stream.run(), counts)

    k = data.draw(st.integers(0, len(expected) + 1), label="k")
    source, ref_source = CountingSource(xs), CountingSource(xs)
    it = iter(build(spelling, source, ops))
    assert_same(
        list(itertools.islice(it, k)), list(itertools.islice(reference(ref_source, ops), k))
    )
    assert source.reads == ref_source.reads
    it.close()  # type: ignore[attr-defined]
    assert source.active == 0


@OPERATOR_SETTINGS
@given(data=st.data())
def test_pipeline_application_forms_agree(data: st.DataObject) -> None:
    ops = data.draw(chains(max_ops=6), label="ops")
    xs = data.draw(INT_LISTS, label="xs")
    pipes = [op.factory() for op in ops]
    p = functools.reduce(operator.or_, pipes, hp.Pipeline())
    cut = data.draw(st.integers(0, len(pipes)), label="cut")
    left = functools.reduce(operator.or_, pipes[:cut], hp.Pipeline())
    right = functools.reduce(operator.or_, pipes[cut:], hp.Pipeline())
    assert left | right == p
    expected = list(reference(xs, ops))
    for stream in (xs | p, p(xs), hp.Stream(xs) | p, hp.Stream(xs).pipe(p), xs | left | right):
        assert_same(list(stream), expected)


# -- terminals --------------------------------------------------------------------------------


@CHAIN_SETTINGS
@pytest.mark.parametrize("spelling", SPELLINGS)
@given(data=st.data())
def test_collecting_terminals_match_reference(spelling: str, data: st.DataObject) -> None:
    ops = data.draw(chains(end_int=True), label="ops")
    xs = data.draw(SOURCES, label="xs")
    start = data.draw(st.integers(-10, 10), label="start")
    for source in (xs, []):
        stream = build(spelling, source, ops)
        expected = list(reference(source, ops))
        assert_same(stream.to_list(), expected)
        assert stream.count() == len(expected)
        assert_same(stream.sum(), sum(expected))
        assert_same(stream.sum(start), sum(expected, start))
        seen: list[Any] = []
        assert stream.for_each(seen.append) is None
        assert_same(seen, expected)
        assert_same(stream.to(list), expected)
        assert stream.run().items_out == len(expected)


@CHAIN_SETTINGS
@pytest.mark.parametrize("spelling", SPELLINGS)
@given(data=st.data())
def test_first_and_reduce_match_reference(spelling: str, data: st.DataObject) -> None:
    ops = data.draw(chains(end_int=True), label="ops")
    xs = data.draw(SOURCES, label="xs")
    fn = data.draw(st.sampled_from(SCAN_FNS), label="fn").fn
    initial = data.draw(st.integers(-10, 10), label="initial")
    missing = object()
    for source in (xs, []):
        stream = build(spelling, source, ops)
        expected = list(reference(source, ops))
        assert stream.reduce(fn, initial) == functools.reduce(fn, expected, initial)
        if expected:
            assert_same(stream.first(missing), expected[0])
            assert_same(stream.first(), expected[0])
            assert stream.reduce(fn) == functools.reduce(fn, expected)
        else:
            assert stream.first(missing) is missing
            with pytest.raises(hp.EmptyStreamError) as first_error:
                stream.first()
            assert isinstance(first_error.value, ValueError)
            with pytest.raises(hp.EmptyStreamError):
                stream.reduce(fn)


@CHAIN_SETTINGS
@pytest.mark.parametrize("spelling", SPELLINGS)
@given(data=st.data())
def test_short_circuiting_terminals_read_only_what_they_need(
    spelling: str, data: st.DataObject
) -> None:
    ops = data.draw(chains(), label="ops")
    xs = data.draw(SOURCES, label="xs")
    k = data.draw(st.integers(0, 10), label="k")

    source, ref_source = CountingSource(xs), CountingSource(xs)
    missing = object()
    got = build(spelling, source, ops).first(missing)
    expected = next(reference(ref_source, ops), missing)
    if expected is missing:
        assert got is missing
    else:
        assert_same(got, expected)
    assert (source.reads, source.active) == (ref_source.reads, 0)

    source, ref_source = CountingSource(xs), CountingSource(xs)
    got = build(spelling, source, ops).to(lambda it: list(itertools.islice(it, k)))
    assert_same(got, list(itertools.islice(reference(ref_source, ops), k)))
    assert (source.reads, source.active) == (ref_source.reads, 0)


# -- chain and zip over other streams ---------------------------------------------------------


@OPERATOR_SETTINGS
@pytest.mark.parametrize("spelling", SPELLINGS)
@pytest.mark.parametrize("name", ["chain", "zip"])
@given(data=st.data())
def test_chain_and_zip_read_other_streams_lazily(
    name: str, spelling: str, data: st.DataObject
) -> None:
    xs = data.draw(INT_LISTS, label="xs")
    others = data.draw(st.lists(INT_LISTS, min_size=1, max_size=3), label="others")
    stages = data.draw(
        st.lists(
            st.none() | st.sampled_from(INT_STAGES), min_size=len(others), max_size=len(others)
        ),
        label="stages",
    )
    k = data.draw(st.integers(0, len(xs) + sum(map(len, others)) + 1), label="k")

    def sources() -> tuple[CountingSource[int], list[CountingSource[int]]]:
        return CountingSource(xs), [CountingSource(o) for o in others]

    main, subs = sources()
    lib_others = [
        sub if stage is None else stage.method(hp.Stream(sub)) for sub, stage in zip(subs, stages)
    ]
    ref_main, ref_subs = sources()
    ref_others = [
        iter(sub) if stage is None else stage.ref(iter(sub)) for sub, stage in zip(ref_subs, stages)
    ]
    stream = build(spelling, main, [Op(name, tuple(lib_others))])
    it = iter(stream)
    got = list(itertools.islice(it, k))
    ref_op = REFERENCES[name]
    assert_same(got, list(itertools.islice(ref_op(iter(ref_main), *ref_others), k)))
    assert [s.reads for s in (main, *subs)] == [s.reads for s in (ref_main, *ref_subs)]
    it.close()  # type: ignore[attr-defined]
    assert [s.active for s in (main, *subs)] == [0] * (1 + len(subs))


BARE = st.lists(SMALL_INTS, max_size=30).map(tuple) | st.integers(0, 600).map(range)


@st.composite
def direct_joins(draw: st.DrawFn) -> list[Op]:
    """chain/zip stages over bare tuples and ranges (which the sync driver runs as C
    ``itertools.chain``/``zip``), then a random chain of any stages."""
    joins: list[Op] = []
    zipped = draw(st.booleans())  # zips only (of tuples), or chains only (of ints)
    for _ in range(draw(st.integers(1, 3))):
        name = "zip" if zipped else "chain"
        n = draw(st.integers(1 if name == "zip" else 0, 2))
        others = tuple(draw(BARE) for _ in range(n))
        joins.append(Op(name, others))
    start = ITER if joins[0].name == "zip" else INT
    return joins + draw(chains(max_ops=4, start=start))


@CHAIN_SETTINGS
@pytest.mark.parametrize("spelling", SPELLINGS)
@given(data=st.data())
def test_direct_joins_match_reference(spelling: str, data: st.DataObject) -> None:
    """Joins of bare ranges and tuples: the items, the stats and an early stop's counts."""
    ops = data.draw(direct_joins(), label="ops")
    xs = data.draw(BARE, label="xs")
    expected, counts = counted_reference(xs, ops)
    stream = build(spelling, xs, ops)
    assert_same(list(stream), expected)
    assert_stage_flow(stream.stats(), counts)
    assert_same(stream.to_list(), expected)
    stats = stream.run()
    assert_stage_flow(stats, counts)
    assert stats.items_out == len(expected)
    k = data.draw(st.integers(0, len(expected) + 1), label="k")
    _, ref_counts = counted_reference(xs, [*ops, Op("take", (k,))])
    with stream.take(k).iterate() as it:
        got = list(it)
    assert_same(got, expected[:k])
    assert_stage_flow(it.stats(), ref_counts)


# -- catch ------------------------------------------------------------------------------------


def is_bad(x: int) -> bool:
    return x % 5 == 0


def checked_double(x: int) -> int:
    if is_bad(x):
        raise ValueError(f"bad item {x}")
    return 2 * x


def checked_is_even(x: int) -> bool:
    if is_bad(x):
        raise ValueError(f"bad item {x}")
    return x % 2 == 0


def checked_look(x: int) -> None:
    if is_bad(x):
        raise ValueError(f"bad item {x}")


def checked_pair(x: int) -> list[int]:
    if is_bad(x):
        raise ValueError(f"bad item {x}")
    return [x, x + 1]


def midway(x: int) -> Iterator[int]:
    """Yields two items, then fails for a bad item before the third."""
    yield x
    yield x + 1
    if is_bad(x):
        raise ValueError(f"bad item {x}")
    yield x + 2


def midway_reference(x: int) -> list[int]:
    return [x, x + 1] if is_bad(x) else [x, x + 1, x + 2]


def checked_add(acc: int, x: int) -> int:
    if is_bad(x):
        raise ValueError(f"bad item {x}")
    return acc + x


def checked_below_20(x: int) -> bool:
    if is_bad(x):
        raise ValueError(f"bad item {x}")
    return x < 20


def checked_negative(x: int) -> bool:
    if is_bad(x):
        raise ValueError(f"bad item {x}")
    return x < 0


def checked_parity(x: int) -> int:
    if is_bad(x):
        raise ValueError(f"bad item {x}")
    return x % 2


def checked_mod_7(x: int) -> int:
    if is_bad(x):
        raise ValueError(f"bad item {x}")
    return x % 7


# Inlined into the fused loop: the ValueError is raised by int() in the generated code.
inlined_checked_double = Fn(
    "lambda x: 2 * x if x % 5 else int(f'bad {x}')", lambda x: 2 * x if x % 5 else int(f"bad {x}")
)
inlined_checked_is_even = Fn(
    "lambda x: x % 2 == 0 if x % 5 else int(f'bad {x}')",
    lambda x: x % 2 == 0 if x % 5 else int(f"bad {x}"),
)


RiskyRef = Callable[[Iterator[int], list[int]], Iterator[Any]]


def skipping_bad(good_op: Op) -> RiskyRef:
    """The reference of a failing stage: bad items go to *dead*, good ones to *good_op*."""

    def ref(it: Iterator[int], dead: list[int]) -> Iterator[Any]:
        def good(items: Iterator[int]) -> Iterator[int]:
            for x in items:
                if is_bad(x):
                    dead.append(x)
                else:
                    yield x

        return good_op.ref(good(it))

    return ref


def midway_skipping_bad(it: Iterator[int], dead: list[int]) -> Iterator[int]:
    for x in it:
        yield from midway_reference(x)
        if is_bad(x):
            dead.append(x)


def drop_negative_skipping_bad(it: Iterator[int], dead: list[int]) -> Iterator[int]:
    """Once drop_while stops dropping it calls its predicate no more: bad items pass then."""
    dropping = True
    for x in it:
        if dropping:
            if is_bad(x):
                dead.append(x)
                continue
            if x < 0:
                continue
            dropping = False
        yield x


@dataclass(frozen=True)
class Risky:
    """A stage that raises ValueError for bad items, and its reference with them skipped."""

    op: Op
    ref: RiskyRef
    out_kind: str = INT

    def __repr__(self) -> str:
        return repr(self.op)


def _fn(f: Callable[..., Any]) -> Fn:
    return Fn(f.__name__, f)


DOUBLE = Op("map", (Fn("2x", lambda x: 2 * x),))
RISKY = [
    Risky(Op("map", (_fn(checked_double),)), skipping_bad(DOUBLE)),
    Risky(Op("map", (inlined_checked_double,)), skipping_bad(DOUBLE)),
    Risky(Op("filter", (_fn(checked_is_even),)), skipping_bad(Op("filter", (PREDS[0],)))),
    Risky(Op("filter", (inlined_checked_is_even,)), skipping_bad(Op("filter", (PREDS[0],)))),
    Risky(Op("tap", (_fn(checked_look),)), skipping_bad(Op("observe", ("unchanged",)))),
    Risky(Op("flat_map", (_fn(checked_pair),)), skipping_bad(Op("flat_map", (TO_INTS_FNS[0],)))),
    Risky(Op("flat_map", (_fn(midway),)), midway_skipping_bad),
    Risky(Op("scan", (_fn(checked_add), 0)), skipping_bad(Op("scan", (SCAN_FNS[0], 0)))),
    Risky(
        Op("take_while", (_fn(checked_below_20),)),
        skipping_bad(Op("take_while", (Fn("x < 20", lambda x: x < 20),))),
    ),
    Risky(Op("drop_while", (_fn(checked_negative),)), drop_negative_skipping_bad),
    Risky(
        Op("group_by", (_fn(checked_parity),)),
        skipping_bad(Op("group_by", (Fn("x % 2", lambda x: x % 2),))),
        out_kind=ITER,
    ),
    Risky(
        Op("distinct", (), (("key", _fn(checked_mod_7)),)),
        skipping_bad(Op("distinct", (), (("key", Fn("x % 7", lambda x: x % 7)),))),
    ),
]


@CHAIN_SETTINGS
@pytest.mark.parametrize("spelling", SPELLINGS)
@given(data=st.data())
def test_catch_skips_failing_items(spelling: str, data: st.DataObject) -> None:
    prefix = data.draw(chains(max_ops=3, end_int=True), label="prefix")
    risky = data.draw(st.sampled_from(RISKY), label="risky")
    suffix = data.draw(chains(max_ops=3, start=risky.out_kind), label="suffix")
    exc_types = data.draw(
        st.sampled_from([(ValueError,), (), (KeyError, ValueError)]), label="exc_types"
    )
    xs = data.draw(SOURCES, label="xs")

    letters: list[hp.DeadLetter] = []
    calls: list[tuple[type[BaseException], Any]] = []
    kwargs: list[tuple[str, Any]] = [
        ("dead_letter", letters if data.draw(st.booleans(), label="as list") else letters.append)
    ]
    with_handler = data.draw(st.booleans(), label="handler")
    if with_handler:
        kwargs.append(("handler", lambda exc, item: calls.append((type(exc), item))))
    catch = Op("catch", exc_types, tuple(kwargs))
    with build(spelling, xs, [*prefix, risky.op, catch, *suffix]).iterate() as it:
        got = list(it)
    stats = it.stats()

    dead: list[int] = []
    expected = list(reference(risky.ref(reference(xs, prefix), dead), suffix))
    assert_same(got, expected)
    assert [d.item for d in letters] == dead
    pos = len(prefix) + 1
    for letter in letters:
        assert isinstance(letter, hp.DeadLetter)
        assert type(letter.error) is ValueError
        assert letter.stage == stats.stages[pos].label
        assert letter.stage.startswith(risky.op.name + "(")
    assert calls == ([(ValueError, x) for x in dead] if with_handler else [])
    assert stats.stages[pos].errors == len(dead)
    assert stats.stages[pos].errors_by_type == ({"ValueError": len(dead)} if dead else {})
    assert stats.errors == len(dead)
    assert stats.items_out == len(expected)
    for prev, stage in itertools.pairwise(stats.stages):
        assert stage.items_in == prev.items_out, stage


@OPERATOR_SETTINGS
@pytest.mark.parametrize("spelling", SPELLINGS)
@given(xs=SOURCES)
def test_catch_flat_map_generator_failing_midway(spelling: str, xs: list[int]) -> None:
    letters: list[hp.DeadLetter] = []
    ops = [
        Op("flat_map", (_fn(midway),)),
        Op("map", (INT_FNS[0],)),
        Op("catch", (ValueError,), (("dead_letter", letters),)),
    ]
    with build(spelling, xs, ops).iterate() as it:
        got = list(it)
    stats = it.stats()
    bad = [x for x in xs if is_bad(x)]
    # what the generator yielded before it failed has gone on downstream
    assert got == [y + 1 for x in xs for y in midway_reference(x)]
    assert [d.item for d in letters] == bad
    assert {d.stage for d in letters} <= {"flat_map(midway)"}
    flat_map = stats.stages[1]
    assert (flat_map.items_in, flat_map.errors) == (len(xs), len(bad))
    assert flat_map.items_out == 3 * len(xs) - len(bad)
    assert stats.stages[2].items_out == len(got)


@OPERATOR_SETTINGS
@pytest.mark.parametrize("spelling", SPELLINGS)
@given(xs=st.lists(st.one_of(SMALL_INTS, st.lists(SMALL_INTS, max_size=3)), max_size=20))
def test_catch_flatten_of_non_iterables(spelling: str, xs: list[Any]) -> None:
    letters: list[hp.DeadLetter] = []
    ops = [Op("flatten"), Op("catch", (TypeError,), (("dead_letter", letters),))]
    got = build(spelling, xs, ops).to_list()
    assert got == [y for x in xs if isinstance(x, list) for y in x]
    assert [d.item for d in letters] == [x for x in xs if isinstance(x, int)]
    assert all(type(d.error) is TypeError and d.stage == "flatten()" for d in letters)


@CHAIN_SETTINGS
@pytest.mark.parametrize("spelling", SPELLINGS)
@given(data=st.data())
def test_uncaught_errors_propagate_with_a_stage_note(spelling: str, data: st.DataObject) -> None:
    prefix = data.draw(chains(max_ops=3, end_int=True), label="prefix")
    fn = data.draw(st.sampled_from([_fn(checked_double), inlined_checked_double]), label="fn")
    other_catch = data.draw(st.sampled_from([[], [Op("catch", (KeyError,))]]), label="catch")
    suffix = data.draw(chains(max_ops=3), label="suffix")
    xs = data.draw(SOURCES, label="xs")
    ops = [*prefix, Op("map", (fn,)), *other_catch, *suffix]

    entered: list[int] = []
    ref_prefix = _ref_tap(reference(xs, prefix), entered.append)
    try:
        expected = list(reference(Op("map", (fn,)).ref(ref_prefix), [*other_catch, *suffix]))
    except ValueError:
        with pytest.raises(ValueError, match="bad") as error:
            build(spelling, xs, ops).to_list()
        label = f"map({'checked_double' if fn.fn is checked_double else '<lambda>'})"
        note = f"hosepipe: in stage {len(prefix) + 1} {label}, item index {len(entered) - 1}"
        assert getattr(error.value, "__notes__", []) == [note]
    else:
        assert_same(build(spelling, xs, ops).to_list(), expected)


# -- inlining ---------------------------------------------------------------------------------

FUSED_MENUS = {
    "INT_FNS": INT_FNS,
    "PREDS": PREDS,
    "FLAT_FNS": FLAT_FNS,
    "THIN_FLAT_FNS": THIN_FLAT_FNS,
    "TO_INTS_FNS": TO_INTS_FNS,
    "ANY_FNS": ANY_FNS,
    "ANY_PREDS": ANY_PREDS,
    "ANY_FLAT_FNS": ANY_FLAT_FNS,
    "ITER_FLAT_FNS": ITER_FLAT_FNS,
}


@pytest.mark.parametrize("menu", list(FUSED_MENUS))
def test_menus_cover_inlined_and_called_functions(menu: str) -> None:
    inlined = [f for f in FUSED_MENUS[menu] if inline_expression(f.fn, "_hp_x0") is not None]
    assert inlined, "no function of this menu is inlined into the fused loop"
    assert len(inlined) < len(FUSED_MENUS[menu]), "every function of this menu is inlined"


# Pairs of lambdas on one line that differ only in a constant which compares equal to the
# other's (1 == 1.0 == True, 0.0 == -0.0): each must still compute its own result.
INT_OR_FLOAT = (lambda x: x + 1, lambda x: x + 1.0)
ONE_OR_TRUE = (lambda x: (x, 1), lambda x: (x, True))
ZERO_OR_MINUS_ZERO = (lambda x: x * 0.0, lambda x: x * -0.0)


@OPERATOR_SETTINGS
@pytest.mark.parametrize("spelling", SPELLINGS)
@pytest.mark.parametrize("which", [0, 1])
@pytest.mark.parametrize(
    "pair", [INT_OR_FLOAT, ONE_OR_TRUE, ZERO_OR_MINUS_ZERO], ids=["1/1.0", "1/True", "0.0/-0.0"]
)
@given(xs=st.lists(st.integers(1, 30), min_size=1, max_size=5))
def test_inlined_lambdas_keep_their_own_constants(
    pair: tuple[Callable[[int], Any], ...], which: int, spelling: str, xs: list[int]
) -> None:
    fn = pair[which]
    assert_same(build(spelling, xs, [Op("map", (Fn("fn", fn),))]).to_list(), list(map(fn, xs)))
