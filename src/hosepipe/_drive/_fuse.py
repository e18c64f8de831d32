"""Compile a run of element-wise stages into one generated loop.

Adjacent ``map``/``filter``/``tap``/``flat_map``/``flatten`` stages (and the ``observe`` and
``catch`` markers between them) and stateful stages (through their step objects) become the
body of a single Python loop, so an item passes through them with no generator hand-off
between stages; a terminal (``sum``, ``to_list``, ``for_each``, ...) is compiled into the
same loop. Simple lambdas are inlined (``_inline``).
For ``map(lambda l: l.split()[-1]).filter(lambda b: b != "-").map(int).sum()`` the fast
path of the generated code is::

    _hp_rb = _hp_repeat(True, 255)
    try:
        for _hp_x0 in _hp_compress(_hp_islice(_hp_it, 255), _hp_rb):
            _hp_x0 = (_hp_x0.split()[-1])
            if not (_hp_x0 != '-'):
                _hp_d1 += 1
                continue
            _hp_x0 = _hp_F2(_hp_x0)
            _hp_acc += _hp_x0
    finally:
        _hp_n += 255 - _hp_lh(_hp_rb)

Counting costs nothing per input item: the items a block read are what its ``repeat`` has
given (the ``compress`` takes one for each; a range's or a tuple's iterator is counted by its
length hint instead), found however the block is left. Otherwise counting happens only on
the rare paths (a filter counts what it drops, a flattening stage what it yields); every
stage's counts follow from those and from its error count. One item in every 256 runs a
second copy of the body that also times each stage, so per-stage times cost next to
nothing. An error is attributed to its stage by the line number of the generated code in
its traceback, so the fast path carries no bookkeeping for it. Generated code depends only
on the shape of the segment and the inlined expressions, and is cached.

Why this module is longer than most: it is one code generator; the Python loop it writes
and the C path it chooses for plain segments (``itertools`` over blocks) must agree on
every count and note, so they are kept side by side.
"""

from __future__ import annotations

import builtins
import sys
import types
from collections import deque
from collections.abc import Callable
from functools import partial
from itertools import (
    accumulate,
    compress,
    count,
    dropwhile,
    filterfalse,
    groupby,
    repeat,
    takewhile,
)
from operator import length_hint

from hosepipe._errors import stop_iteration_error
from hosepipe._typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

    # A line's tag says what runs there: ("up",) reads the upstream, ("stage", j) runs stage
    # j of the segment, ("term",) runs the terminal; untagged lines run nothing of the user's.
    Tag = tuple[Any, ...]
    # Iterators whose items left are known without a length hint (a direct join's C
    # ``chain``/``zip``): id -> (the iterator, a function of it giving the items left, the
    # iterator for C blocks, which never read the last item: a zip not wrapped to stay ended)
    Known = dict[int, tuple[Any, Callable[[Any], int], Any]]

__all__ = [
    "BLOCK",
    "FN_OPS",
    "INLINE_OPS",
    "MAX_OPENERS",
    "OPENER_OPS",
    "STEP_OPS",
    "Compiled",
    "Stop",
    "compile_segment",
    "item_var",
    "stage_levels",
]

BLOCK = 256
FN_OPS = frozenset({"map", "filter", "tap", "flat_map"})
# Stages whose one-argument function may be inlined (for distinct: its key).
INLINE_OPS = FN_OPS | {"take_while", "drop_while", "distinct"}
# Stateful stages run their step object in the loop: ``push`` outputs open a nested loop.
STEP_OPS = frozenset(
    {"take", "skip", "take_while", "drop_while", "batch", "window", "group_by", "distinct"}
    | {"enumerate", "scan", "window1"}  # window1: a window with step 1
)
# Steps that pass or drop one item at a time are written straight into the loop instead of
# calling push(), following their _steps classes exactly (the step object supplies the
# arguments and the state): skip, take_while, drop_while and distinct drop like a filter,
# enumerate and scan rewrite the item like a map, take counts and stops after its n-th item
# (see opens()); a window with step 1 appends to its deque and drops until it is full.
# batch appends to its step's list and passes it on when full (written out too, but it holds
# items back, so it keeps its flush); window (other steps) and group_by call push() and
# loop over what it returns.
CODED_STEPS = frozenset(
    {"take", "skip", "enumerate", "scan", "take_while", "drop_while", "distinct", "window1"}
)
PUSH_STEPS = STEP_OPS - CODED_STEPS
STOP_OPS = frozenset({"take", "take_while"})  # steps that can say they want no more input
DROP_OPS = frozenset({"filter", "skip", "take_while", "drop_while", "distinct", "window1"})
OPENER_OPS = frozenset({"flat_map", "flatten", "take"}) | PUSH_STEPS
_TIMED_OPS = (INLINE_OPS | STEP_OPS) - {"take", "skip", "enumerate", "window1"}
MAX_OPENERS = 5  # nested loops per segment; CPython allows 20 statically nested blocks
_CACHE_SIZE = 512

# Terminals: the line that consumes an item ``{x}`` at the innermost level.
_TERMINAL_LINES = {
    None: "yield {x}",
    "drain": "pass",
    "count": "_hp_acc += 1",
    "sum": "_hp_acc += {x}",
    "list": "_hp_append({x})",
    "call": "_hp_term({x})",
    "reduce": "_hp_acc = _hp_term(_hp_acc, {x})",
    "reduce1": "_hp_acc = {x} if _hp_acc is _hp_END else _hp_term(_hp_acc, {x})",
    "first": "return {x}",
}

_PARAMS = (
    "_hp_C, _hp_open, _hp_fail, _hp_skip, _hp_exit, _hp_islice, _hp_pc, _hp_END, _hp_F, _hp_term, "
    "_hp_init, _hp_next, _hp_Exception, _hp_Stop, _hp_tuple, _hp_live, _hp_known"
)


class Stop(BaseException):
    """Raised inside a fused loop when a step (take, take_while) wants no more input.

    A ``BaseException``, so the loop's own ``except Exception`` clauses let it through.
    """


_PLAIN_GLOBALS: dict[str, Any] = {"__builtins__": builtins}

# The C path. A segment of plain stages (calls of non-inlined functions: at most one, so an
# error has one possible origin; and take, skip, enumerate) run into drain/count/to_list is
# handed, block by block, to C iterators: ``map``, ``filter``, ``islice``, ``zip(count())``,
# drained by ``deque(maxlen=0)`` or ``list.extend``, as hand-written ``itertools`` code would.
# Only sources that cannot raise qualify; their items read are counted at no cost per item
# (``length_hint`` of a range or tuple iterator) or by a ``compress`` against a counted
# ``repeat`` (a list's iterator, whose list a stage may change). Counts follow from those
# numbers, as on the Python path. The source's last item always goes through the Python
# body, so a C block that ends before its length ended early because a function raised
# StopIteration (or a take was satisfied), which is then reported, not swallowed.
C_OPS = frozenset(
    {"map", "filter", "tap", "drop_while", "scan", "take", "skip", "enumerate", "observe"}
)
# take_while as C ``takewhile``, where its stop flag can be read (``__reduce__``, without a
# deprecation warning before 3.12): it tells a false result, an end, from the predicate's
# StopIteration (the block then also ends early), which is reported. From 3.12, Python.
TAKEWHILE_STATE = sys.version_info < (3, 12)
if TAKEWHILE_STATE:
    C_OPS |= {"take_while"}
_C_FN_OPS = FN_OPS | {"drop_while", "scan", "take_while"}  # call a function: at most one
C_TERMINALS = frozenset({"drain", "count", "list"})
_ONE_TO_ONE = frozenset({"map", "tap", "scan", "enumerate", "observe"})  # one out per item in
# The last stage may also be one that gathers: the block is added to its step's list (a
# batch's buf, a window's last items) and its outputs cut from that list in C.
C_TAILS = frozenset({"batch", "window1", "group_by"})
C_MAX = 1 << 16  # the longest C block, in items (the Python blocks stay <= BLOCK - 1)
C_HELD = 1 << 12  # the longest C block whose items are held (counted, or gathered)
_EXACT: tuple[type, ...] = (
    type(iter(range(0))),
    type(iter(())),
)  # length_hint is exact, they cannot raise
_SAFE: tuple[type, ...] = (type(iter([])),)  # cannot raise; counted with a sentinel


def _c_kind(it: object, known: Known) -> tuple[int, Callable[[Any], int], object]:
    """How the C path counts the items read from *it*, the function giving how many are
    left, and the iterator its blocks slice: 1, counted by that function (a length hint;
    for a direct join, what its runner gave in *known*, with the join's bare C iterator);
    2, counted with a sentinel; 0, the Python path."""
    got = known.get(id(it))
    if got is not None and got[0] is it:
        return 1, got[1], got[2]
    kind = type(it)
    return (1 if kind in _EXACT else 2 if kind in _SAFE else 0), length_hint, it


_C_TOOLS = (
    _c_kind,
    length_hint,
    repeat,
    compress,
    deque,
    map,
    filter,
    zip,
    count,
    dropwhile,
    groupby,
    accumulate,
    takewhile,
    filterfalse,
    stop_iteration_error,
)
_C_NAMES = "_hp_ckind, _hp_lh, _hp_repeat, _hp_compress, _hp_deque, _hp_map, _hp_filter, "
_C_NAMES += "_hp_zip, _hp_count, _hp_dropwhile, _hp_groupby, _hp_accumulate, _hp_takewhile, "
_C_NAMES += "_hp_filterfalse, "
_C_NAMES += "_hp_cstop"


class Compiled:
    """A compiled segment: its code, line tags and the layout of its counters and timers.

    ``counters`` names what each entry of the counts tuple counts: ``("in", -1)`` the items
    read from upstream, ``("drop", j)`` the items filter *j* dropped, ``("out", j)`` the
    items flattening or stateful stage *j* yielded. ``timers[k]`` is the stage (-1: upstream;
    -2: an empty interval, the cost of the clock reads themselves) whose
    total time and sample count are ``times[2k]`` and ``times[2k + 1]``.
    """

    __slots__ = ("code", "counters", "linemap", "timers")

    def __init__(
        self,
        code: types.CodeType,
        linemap: dict[int, Tag],
        counters: tuple[tuple[str, int], ...],
        timers: tuple[int, ...],
    ) -> None:
        self.code = code
        self.linemap = linemap
        self.counters = counters
        self.timers = timers

    def factory(self, globals_: dict[str, Any] | None) -> Callable[..., Callable[[], Any]]:
        """The segment factory, bound to the globals its inlined expressions need."""
        return partial(types.FunctionType(self.code, globals_ or _PLAIN_GLOBALS), _C_TOOLS)


_cache: dict[tuple[Any, ...], Compiled] = {}


def compile_segment(
    ops: tuple[str, ...],
    guarded: tuple[bool, ...],
    time_upstream: bool,
    terminal: str | None,
    inlined: tuple[str | None, ...],
) -> Compiled:
    """Compile (or fetch from the cache) the loop for a segment of this shape.

    *inlined* holds, per stage, the expression to evaluate in place of calling the stage's
    function (with the item variable already substituted), or None to call it. The factory
    is called with ``_hp_F``: per stage its function, or for a stateful stage its step.
    """
    key = (ops, guarded, time_upstream, terminal, inlined)
    got = _cache.get(key)
    if got is None:
        if len(_cache) >= _CACHE_SIZE:
            _cache.pop(next(iter(_cache)))
        got = _cache[key] = _Writer(ops, guarded, time_upstream, terminal, inlined).compile()
    return got


def item_var(level: int) -> str:
    """The loop variable holding the item at nesting *level*."""
    return f"_hp_x{level}"


def opens(ops: tuple[str, ...]) -> list[bool]:
    """Which stages open a nested loop. The last ``take`` of a segment does not: it only
    counts, and runs the rest of the body for its *n*-th item inside a one-item loop before
    stopping, so its other items pay one increment and one compare. Earlier takes keep the
    one-item loop for every item (duplicating the rest for each would grow exponentially)."""
    last_take = max((j for j, op in enumerate(ops) if op == "take"), default=-1)
    return [op in OPENER_OPS and j != last_take for j, op in enumerate(ops)]


def stage_levels(ops: tuple[str, ...]) -> list[int]:
    """The nesting level each stage runs at (an opener opens the next level)."""
    levels, level = [], 0
    for opener in opens(ops):
        levels.append(level)
        if opener:
            level += 1
    return levels


class _Writer:
    def __init__(
        self,
        ops: tuple[str, ...],
        guarded: tuple[bool, ...],
        time_upstream: bool,
        terminal: str | None,
        inlined: tuple[str | None, ...],
    ) -> None:
        self.ops = ops
        self.guarded = guarded
        self.time_upstream = time_upstream
        self.terminal = terminal
        self.inlined = inlined
        self.levels = stage_levels(ops)
        self.opens = opens(ops)
        self.lines: list[tuple[str, Tag | None]] = []
        self.counters: tuple[tuple[str, int], ...] = (
            ("in", -1),
            *(
                ("drop" if op in DROP_OPS else "out", j)
                for j, op in enumerate(ops)
                if op in DROP_OPS or op in OPENER_OPS
            ),
        )
        self.timers: tuple[int, ...] = (
            -2,  # an empty interval, timed where the stages are: the clock's own cost
            *((-1,) if time_upstream else ()),
            *(j for j, op in enumerate(ops) if op in _TIMED_OPS),
        )
        self.counts = "(" + "".join(f"{self.cvar(k, j)}, " for k, j in self.counters) + ")"
        self.times = "(" + "".join(f"{self.tvars(j)}, " for j in self.timers) + ")"
        self.c_fn = self.c_plan()
        self.c_min = self.c_minority()

    def c_plan(self) -> int | None:
        """Whether the segment may take the C path (see ``C_OPS``): None if not, else the
        stage whose function it calls (-1: none)."""
        ops = self.ops
        fns = [j for j, op in enumerate(ops) if op in _C_FN_OPS or op == "group_by"]
        if ops and ops[-1] == "group_by" and not set(ops[:-1]) <= {"take", "enumerate", "observe"}:
            return None  # its key may fail mid-block: its items in must match the source's
        if "scan" in ops and ops[-1] != "scan":  # its last output is the next block's start
            return None
        if ops and ops[-1] in C_TAILS:  # the items of a block gathered into a list
            ops = ops[:-1]
        if (
            self.terminal not in C_TERMINALS
            or any(self.guarded)
            or not set(ops) <= C_OPS
            or len(fns) > 1
            or any(self.inlined[j] is not None for j in fns)
        ):
            return None
        tap_ok = {"tap", "take", "skip", "observe"}  # a tap: a map whose results nobody uses
        if (
            fns
            and self.ops[fns[0]] == "tap"
            and (self.terminal == "list" or not set(self.ops[fns[0] :]) <= tap_ok)
        ):
            return None
        return fns[0] if fns else -1

    @staticmethod
    def tvars(j: int) -> str:
        """The total-time and sample-count variables of stage *j* (-1: the upstream)."""
        k = "Z" if j == -2 else "U" if j == -1 else j
        return f"_hp_T{k}, _hp_S{k}"

    @staticmethod
    def cvar(kind: str, j: int) -> str:
        return "_hp_n" if kind == "in" else f"_hp_{kind[0]}{j}"

    def add(self, indent: int, text: str, tag: Tag | None = None) -> None:
        self.lines.append(("    " * indent + text, tag))

    def call(self, j: int, x: str) -> str:
        """The expression computing stage *j* of *x*: inlined, a call, or a step's push."""
        if self.ops[j] in PUSH_STEPS:
            return f"_hp_P{j}({x})"
        if self.ops[j] == "scan":
            return f"_hp_F{j}(_hp_a{j}, {x})"
        return self.inlined[j] or f"_hp_F{j}({x})"

    def compile(self) -> Compiled:
        ops, n = self.ops, len(self.ops)
        # steps that can stop the loop or hold items back need the Stop handler and a flush
        steps = [j for j in range(n) if ops[j] in STOP_OPS | PUSH_STEPS]
        self.add(0, f"def _hp_factory({_PARAMS}):")
        self.add(1, "def _hp_segment():")
        for j in range(n):
            self.prologue(j)
        self.add(2, " = ".join(self.cvar(k, j) for k, j in self.counters) + " = 0")
        for j in self.timers:
            self.add(2, f"{self.tvars(j)} = 0.0, 0")
        if self.terminal == "list":
            self.add(2, "_hp_acc = []; _hp_append = _hp_acc.append")
        elif self.terminal is not None:
            self.add(2, "_hp_acc = _hp_init")
        self.add(2, f"{_C_NAMES} = _hp_C")  # (before the try: its except uses _hp_cstop)
        self.add(2, "try:")
        if steps:
            self.add(3, "_hp_stopped = -1")
            self.add(3, "try:")
            for j in steps:
                if ops[j] in STOP_OPS:  # take(0) opens nothing
                    self.add(4, f"if _hp_K{j}.done:")
                    self.add(5, f"raise _hp_Stop({j})")
        ind = 4 if steps else 3
        self.add(ind, "_hp_it = _hp_open()", ("up",))
        self.add(ind, "_hp_B = 1")
        # a block's loop counts the items it reads per block, not one by one: from a
        # range, a tuple or a direct join by their items left, from any other iterator by
        # a ``compress`` against a ``repeat`` of the block's length, whose length hint is
        # what the block has not read
        self.add(ind, "_hp_CX, _hp_rem, _hp_ci = _hp_ckind(_hp_it, _hp_known)")
        if self.c_fn is not None:
            self.add(ind, "_hp_Q = 1")
            if self.c_min is not None:
                self.add(ind, "_hp_ff = False")  # whether a block gathers the drops
        self.add(ind, "while True:")
        self.add(ind + 1, "_hp_t = _hp_pc(); _hp_TZ += _hp_pc() - _hp_t; _hp_SZ += 1")
        if self.time_upstream:
            self.add(ind + 1, "_hp_t = _hp_pc()")
        self.add(ind + 1, "_hp_x0 = _hp_next(_hp_it, _hp_END)", ("up",))
        if self.time_upstream:
            self.add(ind + 1, "_hp_TU += _hp_pc() - _hp_t; _hp_SU += 1")
        self.add(ind + 1, "if _hp_x0 is _hp_END:")
        self.add(ind + 2, "break")
        self.add(ind + 1, "for _hp_x0 in (_hp_x0,):")
        self.add(ind + 2, "_hp_n += 1")
        self.level(0, 0, ind + 2, timed=True)
        body = ind + 1
        if self.c_fn is not None:
            self.add(ind + 1, "if _hp_CX:")
            self.c_block(ind + 2)
            self.add(ind + 1, "else:")
            body = ind + 2
        # exact however the block is left (a stop, an error, a close); on the C path's
        # segment, this is its fallback for other iterators (_hp_CX is 0 here)
        self.add(body, "if _hp_CX == 1:")
        self.add(body + 1, "_hp_h = _hp_rem(_hp_it); _hp_s = _hp_islice(_hp_it, _hp_B)")
        self.add(body, "else:")
        self.add(body + 1, "_hp_rb = _hp_repeat(True, _hp_B)")
        self.add(body + 1, "_hp_s = _hp_compress(_hp_islice(_hp_it, _hp_B), _hp_rb)")
        self.add(body, "try:")
        self.add(body + 1, "for _hp_x0 in _hp_s:", ("up",))
        self.level(0, 0, body + 2, timed=False)
        self.add(body, "finally:")
        self.add(body + 1, "if _hp_CX == 1:")
        self.add(body + 2, "_hp_n += _hp_h - _hp_rem(_hp_it)")
        self.add(body + 1, "else:")
        self.add(body + 2, "_hp_n += _hp_B - _hp_lh(_hp_rb)")
        self.add(ind + 1, f"_hp_B = _hp_live({self.counts}, {self.times})")
        if self.c_fn is not None:
            # a block held in a list or deque (counted, or gathered by the last stage) is
            # kept short, so that it stays in the CPU's cache
            held = self.c_counting()[2] or (bool(self.ops) and self.ops[-1] in C_TAILS)
            cmax = C_HELD if held else C_MAX
            self.add(
                ind + 1,
                f"_hp_Q = _hp_B if _hp_B < {BLOCK - 1} "
                f"else 2 * _hp_Q if _hp_Q < {cmax // 2} else {cmax}",
            )
        if steps:
            self.add(3, "except _hp_Stop as _hp_s:")
            self.add(4, "_hp_stopped = _hp_s.args[0]")
            for j in steps:  # at the end: what each step held back, through the stages after it
                self.flush(j)
        self.add(2, "except _hp_Exception as _hp_e:")
        # a stage's StopIteration is never taken for an end (a push target's, noted
        # against the terminal, is how it says it returned)
        self.add(3, f"if _hp_fail(_hp_e, {self.counts}) and isinstance(_hp_e, StopIteration):")
        self.add(4, "raise _hp_cstop(_hp_e) from _hp_e")
        self.add(3, "raise")
        self.add(2, "finally:")
        self.add(3, f"_hp_exit({self.counts}, {self.times})")
        if self.terminal is not None:
            self.add(2, "return _hp_acc")
        self.add(1, "return _hp_segment")

        import linecache

        filename = f"<hosepipe fused {'|'.join(self.ops) or 'pass'}>"
        source = "\n".join(text for text, _ in self.lines) + "\n"
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        module = compile(source, filename, "exec")
        code = next(c for c in module.co_consts if isinstance(c, types.CodeType))
        linemap = {i + 1: tag for i, (_, tag) in enumerate(self.lines) if tag is not None}
        return Compiled(code, linemap, self.counters, self.timers)

    def c_counting(self) -> tuple[list[int], bool, bool]:
        """How a C block counts what its filters pass: the filter stages; whether with a
        sentinel (a skip follows them); whether by the items that reach the terminal, when
        it does not count them itself (to_list has them free): gathered into a deque, whose
        length is the count (no per-item cost over draining; the items are the source's or
        an enumerate's, as the one function is the filter; blocks stay short, ``C_HELD``)."""
        ops = self.ops
        filt = [j for j in range(len(ops)) if ops[j] in ("filter", "drop_while")]
        sentinel = bool(filt) and "skip" in ops[filt[0] :]
        tail = bool(ops) and ops[-1] in C_TAILS
        counted_end = bool(filt) and not sentinel and not tail and self.terminal != "list"
        return filt, sentinel, counted_end

    def c_minority(self) -> int | None:
        """The filter whose C blocks may gather the items it drops instead of those it passes
        (``filterfalse``), when the last block dropped fewer than it passed: nothing after it
        uses its items (only ``observe`` follows; ``run()`` or ``count()``), so either side
        counts it, and gathering the smaller one costs less. None if there is none."""
        j = self.c_fn
        if j is None or j < 0 or self.ops[j] != "filter" or not self.c_counting()[2]:
            return None
        return j if all(op == "observe" for op in self.ops[j + 1 :]) else None

    def c_block(self, ind: int) -> None:
        """The C path's block: up to ``_hp_Q`` items, never the source's last one."""
        ops, jf = self.ops, self.c_fn
        assert jf is not None
        _, sentinel, counted_end = self.c_counting()
        # the timed item held on would make a zip or enumerate upstream make a new tuple
        # per item (they reuse theirs only while nothing else holds it)
        self.add(ind, "_hp_x0 = None; _hp_h = _hp_rem(_hp_it)")
        self.add(ind, "_hp_q = _hp_Q if _hp_h > _hp_Q else _hp_h - 1 if _hp_h else 0")
        # a take with one item per source item before it: the block is cut to what it needs
        jc = next((j for j, op in enumerate(ops) if op not in _ONE_TO_ONE), None)
        capped = jc if jc is not None and ops[jc] == "take" else None
        if capped is not None:
            self.add(ind, f"if _hp_q > _hp_N{jc} - _hp_o{jc}:")
            self.add(ind + 1, f"_hp_q = _hp_N{jc} - _hp_o{jc}")
        self.add(ind, "if _hp_CX == 1:")
        self.add(ind + 1, "_hp_c = _hp_islice(_hp_ci, _hp_q)")
        self.add(ind, "else:")
        self.add(ind + 1, "_hp_r = _hp_repeat(True, _hp_q)")
        self.add(ind + 1, "_hp_c = _hp_compress(_hp_islice(_hp_it, _hp_q), _hp_r)")
        for j, op in enumerate(ops):
            c = "_hp_c"
            if op == "take" and j != capped:
                self.add(ind, f"{c} = _hp_islice({c}, _hp_N{j} - _hp_o{j})")
            elif op == "skip":
                self.add(ind, f"_hp_s{j} = _hp_N{j} - _hp_d{j}")
                self.add(ind, f"if _hp_s{j}:")
                self.add(ind + 1, f"{c} = _hp_islice({c}, _hp_s{j}, None)")
            elif op == "enumerate":
                self.add(ind, f"{c} = _hp_zip(_hp_count(_hp_i{j}), {c})")
            elif op in ("map", "tap"):
                self.add(ind, f"{c} = _hp_map(_hp_F{j}, {c})")
            elif op == "take_while":
                self.add(ind, f"{c} = _hp_tw{j} = _hp_takewhile(_hp_F{j}, {c})")
            elif op == "scan":  # accumulate() yields its initial value first: skipped
                acc = f"_hp_accumulate({c}, _hp_F{j}, initial=_hp_a{j})"
                self.add(ind, f"{c} = _hp_islice({acc}, 1, None)")
            elif op in ("filter", "drop_while"):
                k = ind
                if op == "drop_while":  # only while it drops; it passes everything after
                    self.add(ind, f"_hp_dw = _hp_w{j}")
                    self.add(ind, "if _hp_dw:")
                    k = ind + 1
                fn = "_hp_filter" if op == "filter" else "_hp_dropwhile"
                if j == self.c_min:
                    self.add(k, f"{c} = (_hp_filterfalse if _hp_ff else _hp_filter)(_hp_F{j}, {c})")
                else:
                    self.add(k, f"{c} = {fn}(_hp_F{j}, {c})")
                if sentinel:
                    self.add(k, "_hp_rf = _hp_repeat(True, _hp_q)")
                    self.add(k, f"{c} = _hp_compress({c}, _hp_rf)")
        tag = ("stage", jf) if jf >= 0 else ("up",)
        tail = ops[-1] if ops and ops[-1] in C_TAILS else None
        jt = len(ops) - 1
        if tail == "window1":  # the window's last size - 1 items, then the block's
            self.add(ind, f"_hp_L = [*_hp_q{jt}]; _hp_z = len(_hp_L) - _hp_N{jt} + 1")
            self.add(ind, "if _hp_z > 0:")
            self.add(ind + 1, "del _hp_L[:_hp_z]")
        self.add(ind, "try:")
        if tail is not None:
            b = f"_hp_K{jt}.buf" if tail == "batch" else "_hp_L" if tail == "window1" else "[]"
            self.add(ind + 1, f"_hp_b = {b}; _hp_m = len(_hp_b)")
            self.add(ind + 1, "_hp_b.extend(_hp_c)", tag)
        elif self.terminal == "list":
            self.add(ind + 1, "_hp_m = len(_hp_acc)")
            self.add(ind + 1, "_hp_acc.extend(_hp_c)", tag)
        elif counted_end:
            self.add(ind + 1, "_hp_Lc = _hp_deque()")  # no list regrowth (realloc, copies)
            self.add(ind + 1, "_hp_Lc.extend(_hp_c)", tag)
        elif ops and ops[-1] == "scan":  # keep its last output
            self.add(ind + 1, "_hp_dl = _hp_deque(_hp_c, 1)", tag)
        else:
            self.add(ind + 1, "_hp_deque(_hp_c, 0)", tag)
        self.add(ind, "except _hp_Exception:")
        self.c_counts(ind + 1, failed=True, sentinel=sentinel, counted_end=counted_end)
        self.add(ind + 1, "raise")
        self.c_counts(ind, failed=False, sentinel=sentinel, counted_end=counted_end)
        if tail is not None:
            self.c_tail(ind, tail, jt)
        if ops and ops[-1] == "scan":  # the next block starts from its last output
            last = "_hp_m" if self.terminal == "list" else "_hp_dl"
            self.add(ind, f"if {last}:")
            self.add(ind + 1, f"_hp_a{jt} = " + ("_hp_acc[-1]" if last == "_hp_m" else "_hp_dl[0]"))
        takes = [j for j, op in enumerate(ops) if op == "take"]
        for j in takes:
            self.add(ind, f"if _hp_o{j} >= _hp_N{j}:")
            self.add(ind + 1, f"raise _hp_Stop({j})")
        for j in (j for j, op in enumerate(ops) if op == "take_while"):
            self.add(ind, f"if _hp_ts{j}:")  # a false result: the end
            self.add(ind + 1, f"raise _hp_Stop({j})")
        self.add(ind, "if _hp_v0 < _hp_q:")  # ended early: not a take, so StopIteration
        if jf >= 0 and ops[jf] in ("filter", "drop_while"):
            k = ind + 1
            if jf == self.c_min:  # the drops gathered are exact
                self.add(ind + 1, "if not _hp_ff:")
                k += 1
            self.add(k, f"_hp_d{jf} -= 1")  # the item it failed on is not a drop
        self.add(ind + 1, "_hp_e = _hp_cstop()")
        self.add(ind + 1, "raise _hp_e", tag)
        if self.c_min is not None:  # the next block gathers this one's smaller side
            self.add(ind, "_hp_ff = _hp_dr < _hp_v")

    def c_tail(self, ind: int, tail: str, j: int) -> None:
        """A gathering last stage's outputs, cut from its list ``_hp_b`` (``_hp_m`` new
        items), and what it keeps for the next block."""
        term = {"list": "_hp_acc.extend(_hp_W)", "count": "_hp_acc += _hp_k"}
        if tail == "group_by":
            self.c_groups(ind, j)
            return
        if tail == "batch":
            self.add(ind, f"_hp_N = _hp_K{j}.size; _hp_f = len(_hp_b) // _hp_N * _hp_N")
            self.add(ind, "if _hp_f:")
            self.add(ind + 1, "_hp_k = _hp_f // _hp_N")
            self.add(ind + 1, "_hp_W = _hp_map(_hp_b.__getitem__, _hp_map(slice, ")
            self.add(ind + 2, "range(0, _hp_f, _hp_N), range(_hp_N, _hp_f + 1, _hp_N)))")
            self.add(ind + 1, term.get(self.terminal or "", "_hp_deque(_hp_W, 0)"))
            self.add(ind + 1, f"_hp_o{j} += _hp_k")
            self.add(ind + 1, "del _hp_b[:_hp_f]")
            return
        n = f"_hp_N{j}"
        self.add(ind, f"_hp_k = len(_hp_b) - {n} + 1")
        self.add(ind, "if _hp_k > 0:")
        # the windows: zip of list iterators over the block, the i-th advanced i items
        self.add(ind + 1, f"_hp_W = [iter(_hp_b) for _hp_i in range({n})]")
        self.add(ind + 1, "for _hp_i, _hp_t in enumerate(_hp_W):")
        self.add(ind + 2, "_hp_next(_hp_islice(_hp_t, _hp_i, _hp_i), None)")
        self.add(ind + 1, "_hp_W = _hp_zip(*_hp_W)")
        self.add(ind + 1, term.get(self.terminal or "", "_hp_deque(_hp_W, 0)"))
        self.add(ind, "else:")
        self.add(ind + 1, "_hp_k = 0")
        self.add(ind, f"_hp_d{j} += _hp_m - _hp_k")
        self.add(ind, f"_hp_q{j}.clear(); _hp_q{j}.extend(_hp_b[-{n}:])")

    def c_groups(self, ind: int, j: int) -> None:
        """group_by's groups of the block, as GroupBy.push makes them: ``itertools.groupby``
        over the block, the first group joining the step's current one if its key is equal.
        A key's error mid-block takes back the items the groups did not reach."""
        k, tag = f"_hp_K{j}", ("stage", j)
        emit = {"list": "_hp_acc.append((_hp_gk, _hp_gl))", "count": "_hp_acc += 1"}
        self.add(ind, f"_hp_gk = {k}.current; _hp_gl = {k}.group; _hp_ge = {k}._EMPTY")
        self.add(ind, "_hp_bi = iter(_hp_b); _hp_z = -len(_hp_gl)")
        self.add(ind, "try:")
        self.add(ind + 1, f"for _hp_g0, _hp_g1 in _hp_groupby(_hp_bi, {k}.key):", tag)
        self.add(ind + 2, "if _hp_gk is _hp_ge:")
        self.add(ind + 3, "_hp_gk = _hp_g0")
        self.add(ind + 2, "elif _hp_g0 != _hp_gk:", tag)
        if self.terminal in emit:
            self.add(ind + 3, emit[self.terminal or ""])
        self.add(ind + 3, f"_hp_o{j} += 1; _hp_z += len(_hp_gl)")
        self.add(ind + 3, "_hp_gk = _hp_g0; _hp_gl = []")
        self.add(ind + 2, "_hp_gl.extend(_hp_g1)", tag)
        self.add(ind, "except _hp_Exception:")
        self.c_unread(ind + 1, "_hp_lh(_hp_bi)")
        self.add(ind + 1, "raise")
        self.add(ind, f"{k}.current = _hp_gk; {k}.group = _hp_gl")
        self.add(ind, "_hp_z += len(_hp_gl)")
        self.add(ind, "if _hp_z != len(_hp_b):")  # a key raised StopIteration: groupby ended
        self.c_unread(ind + 1, "len(_hp_b) - _hp_z")
        self.add(ind + 1, "_hp_e = _hp_cstop()")
        self.add(ind + 1, "raise _hp_e", tag)

    def c_unread(self, ind: int, unread: str) -> None:
        """Take back from the counts the block's items a failing group_by did not reach."""
        self.add(ind, f"_hp_u = {unread}; _hp_n -= _hp_u")
        for j, op in enumerate(self.ops):
            if op == "take":
                self.add(ind, f"_hp_o{j} -= _hp_u")

    def c_counts(self, ind: int, *, failed: bool, sentinel: bool, counted_end: bool) -> None:
        """After a C block (or its error): the counters, from the numbers it leaves."""
        ops = self.ops
        read = "_hp_h - _hp_rem(_hp_it) if _hp_CX == 1 else _hp_q - _hp_lh(_hp_r)"
        self.add(ind, f"_hp_v = _hp_v0 = {read}")
        self.add(ind, "_hp_n += _hp_v")
        if ops and ops[-1] in C_TAILS:
            self.add(ind, "_hp_m = len(_hp_b) - _hp_m")
        elif self.terminal == "list":
            self.add(ind, "_hp_m = len(_hp_acc) - _hp_m")
        elif counted_end:  # and let the items go
            self.add(ind, "_hp_m = len(_hp_Lc); _hp_Lc = None")
        for j, op in enumerate(ops):
            if op in C_TAILS:
                continue  # c_tail
            if op == "take":
                self.add(ind, f"_hp_o{j} += _hp_v")
            elif op == "skip":
                self.add(ind, f"_hp_g = _hp_v if _hp_v < _hp_s{j} else _hp_s{j}")
                self.add(ind, f"_hp_d{j} += _hp_g; _hp_v -= _hp_g")
            elif op == "enumerate":
                self.add(ind, f"_hp_i{j} += _hp_v")
            elif op in ("map", "tap", "scan", "take_while") and failed:
                self.add(ind, "_hp_v -= 1")
            elif op == "take_while":  # its stop flag: it dropped the item it stopped on
                self.add(ind, f"_hp_ts{j} = _hp_tw{j}.__reduce__()[2]")
                self.add(ind, f"if _hp_ts{j}:")
                self.add(ind + 1, f"_hp_d{j} += 1; _hp_v -= 1")
            elif op in ("filter", "drop_while"):
                k = ind
                if op == "drop_while":
                    self.add(ind, "if _hp_dw:")
                    k = ind + 1
                if j == self.c_min:  # _hp_m: what it gathered, its drops or its passes
                    less = " - 1" if failed else ""  # the item it failed on is neither
                    self.add(k, f"_hp_dr = _hp_m if _hp_ff else _hp_v - _hp_m{less}")
                    self.add(k, f"_hp_d{j} += _hp_dr; _hp_v -= _hp_dr" + (" + 1" if failed else ""))
                    continue
                w = "_hp_q - _hp_lh(_hp_rf)" if sentinel else "_hp_m"
                self.add(k, f"_hp_w = {w}")
                self.add(k, f"_hp_d{j} += _hp_v - _hp_w" + (" - 1" if failed else ""))
                self.add(k, "_hp_v = _hp_w")
                if op == "drop_while":
                    self.add(k, "if _hp_w:")
                    self.add(k + 1, f"_hp_w{j} = False")
        if self.terminal == "count" and not (ops and ops[-1] in C_TAILS):
            self.add(ind, "_hp_acc += _hp_v")

    def prologue(self, j: int) -> None:
        """Bind what stage *j* uses to locals: its function, its step's arguments and state."""
        op, k, called = self.ops[j], f"_hp_K{j}", self.inlined[j] is None
        if op in STEP_OPS:
            self.add(2, f"{k} = _hp_F[{j}]")
        if op in ("take", "skip"):
            self.add(2, f"_hp_N{j} = {k}.n")
        elif op == "enumerate":
            self.add(2, f"_hp_i{j} = {k}.i")
        elif op == "window1":
            self.add(2, f"_hp_q{j} = {k}.buf; _hp_N{j} = {k}.size")
        elif op == "scan":
            self.add(2, f"_hp_F{j} = {k}.fn; _hp_a{j} = {k}.acc")
        elif op in ("take_while", "drop_while"):
            if op == "drop_while":
                self.add(2, f"_hp_w{j} = True")
            if called:
                self.add(2, f"_hp_F{j} = {k}.pred")
        elif op == "distinct":
            self.add(2, f"_hp_seen{j} = {k}.seen" + (f"; _hp_F{j} = {k}.key" if called else ""))
        elif op == "batch":  # its list is the step's buf, which flush() hands out
            self.add(2, f"_hp_b{j} = {k}.buf; _hp_N{j} = {k}.size")
        elif op in PUSH_STEPS:
            self.add(2, f"_hp_P{j} = {k}.push")
        elif op in FN_OPS and called:
            self.add(2, f"_hp_F{j} = _hp_F[{j}]")

    def flush(self, j: int) -> None:
        """Emit step *j*'s flush: unless a step at or after it stopped the run."""
        if self.ops[j] in CODED_STEPS:  # they hold nothing back
            return
        y = item_var(self.levels[j] + 1)
        self.add(3, "try:")
        self.add(4, f"if _hp_stopped < {j}:")
        self.add(5, f"for {y} in _hp_K{j}.flush():", ("stage", j))
        self.add(6, f"_hp_o{j} += 1")
        self.level(j + 1, self.levels[j] + 1, 6, timed=False)
        self.add(3, "except _hp_Stop as _hp_s:")
        self.add(4, "_hp_stopped = _hp_s.args[0]")

    def level(self, j0: int, lvl: int, ind: int, *, timed: bool) -> None:
        """Emit stages from *j0* at nesting level *lvl*: up to and including the next opener."""
        ops, n, x = self.ops, len(self.ops), item_var(lvl)
        end = j0
        while end < n and not self.opens[end]:
            end += 1
        use_try = any(self.guarded[j0 : min(end + 1, n)])
        if use_try:
            self.add(ind, "try:")
            ind += 1
        for j in range(j0, end):
            if ops[j] == "take":  # the last take: see opens()
                self.add(ind, f"_hp_o{j} += 1")
                self.add(ind, f"if _hp_o{j} >= _hp_N{j}:")
                self.add(ind + 1, f"for {x} in ({x},):")
                self.level(j + 1, lvl, ind + 2, timed=timed)
                self.add(ind + 1, f"raise _hp_Stop({j})")
            else:
                self.stage(j, x, ind, timed=timed)
        if end < n:
            self.opener(end, lvl, ind, timed=timed)
            self.add(ind + 1, f"_hp_o{end} += 1")
            self.level(end + 1, lvl + 1, ind + 1, timed=timed)
            if ops[end] == "take":
                self.add(ind, f"if _hp_o{end} >= _hp_N{end}:")
                self.add(ind + 1, f"raise _hp_Stop({end})")
        else:
            line = _TERMINAL_LINES[self.terminal].format(x=x)
            self.add(ind, line, None if self.terminal is None else ("term",))
        if use_try:
            self.add(ind - 1, "except _hp_Exception as _hp_e:")
            self.add(ind, f"if _hp_skip(_hp_e, {x}, {self.counts}):")
            self.add(ind + 1, "continue")
            self.add(ind, "raise")

    def line(self, j: int, ind: int, line: str, *, timed: bool) -> None:
        """A line running stage *j*'s function, timed in the timed copy of the body."""
        if timed:
            self.timed_line(j, ind, line)
        else:
            self.add(ind, line, ("stage", j))

    def timed_line(self, j: int, ind: int, line: str) -> None:
        self.add(ind, "_hp_t = _hp_pc()")
        self.add(ind, line, ("stage", j))
        self.add(ind, f"_hp_T{j} += _hp_pc() - _hp_t; _hp_S{j} += 1")

    def stage(self, j: int, x: str, ind: int, *, timed: bool) -> None:
        op, tag = self.ops[j], ("stage", j)
        if op in ("map", "tap"):
            line = f"{x} = {self.call(j, x)}" if op == "map" else self.call(j, x)
            self.line(j, ind, line, timed=timed)
        elif op == "filter":
            if timed:
                self.timed_line(j, ind, f"_hp_ok = {self.call(j, x)}")
                self.add(ind, "if not _hp_ok:")
            else:
                self.add(ind, f"if not {self.call(j, x)}:", tag)
            self.add(ind + 1, f"_hp_d{j} += 1")
            self.add(ind + 1, "continue")
        elif op == "skip":
            self.add(ind, f"if _hp_d{j} < _hp_N{j}:")
            self.add(ind + 1, f"_hp_d{j} += 1")
            self.add(ind + 1, "continue")
        elif op == "enumerate":
            self.add(ind, f"{x} = (_hp_i{j}, {x}); _hp_i{j} += 1")
        elif op == "window1":
            self.add(ind, f"_hp_q{j}.append({x})")
            self.add(ind, f"if len(_hp_q{j}) < _hp_N{j}:")
            self.add(ind + 1, f"_hp_d{j} += 1")
            self.add(ind + 1, "continue")
            self.add(ind, f"{x} = _hp_tuple(_hp_q{j})")
        elif op == "scan":
            self.line(j, ind, f"{x} = _hp_a{j} = {self.call(j, x)}", timed=timed)
        elif op == "take_while":
            # (on the C path, see TAKEWHILE_STATE)
            if timed:
                self.timed_line(j, ind, f"_hp_ok = {self.call(j, x)}")
                self.add(ind, "if not _hp_ok:")
            else:
                self.add(ind, f"if not {self.call(j, x)}:", tag)
            self.add(ind + 1, f"_hp_d{j} += 1")
            self.add(ind + 1, f"raise _hp_Stop({j})")
        elif op == "drop_while":
            self.add(ind, f"if _hp_w{j}:")
            self.line(j, ind + 1, f"_hp_ok = {self.call(j, x)}", timed=timed)
            self.add(ind + 1, "if _hp_ok:")
            self.add(ind + 2, f"_hp_d{j} += 1")
            self.add(ind + 2, "continue")
            self.add(ind + 1, f"_hp_w{j} = False")
        elif op == "distinct":
            self.line(j, ind, f"_hp_k = {self.call(j, x)}", timed=timed)
            self.add(ind, f"if _hp_k in _hp_seen{j}:", ("stage", j))
            self.add(ind + 1, f"_hp_d{j} += 1")
            self.add(ind + 1, "continue")
            self.add(ind, f"_hp_seen{j}.add(_hp_k)", ("stage", j))
        elif op not in ("observe", "catch"):  # markers run no code of their own
            raise AssertionError(f"not a fusable op: {op}")

    def opener(self, j: int, lvl: int, ind: int, *, timed: bool) -> None:
        """A stage whose outputs (zero or more per item) open the next nesting level."""
        x, y, tag = item_var(lvl), item_var(lvl + 1), ("stage", j)
        if self.ops[j] == "flatten":
            self.add(ind, f"for {y} in {x}:", tag)
        elif self.ops[j] == "batch":  # Batch.push, written out: append, and when full pass on
            self.line(j, ind, f"_hp_b{j}.append({x})", timed=timed)
            self.add(ind, f"if len(_hp_b{j}) < _hp_N{j}:")
            self.add(ind + 1, "continue")
            self.add(ind, f"_hp_sub{lvl} = _hp_b{j}; _hp_b{j} = _hp_K{j}.buf = []")
            self.add(ind, f"for {y} in (_hp_sub{lvl},):")
        elif self.ops[j] == "take":
            self.add(ind, f"for {y} in ({x},):")
        elif timed:
            self.timed_line(j, ind, f"_hp_sub{lvl} = {self.call(j, x)}")
            self.add(ind, f"for {y} in _hp_sub{lvl}:", tag)
        else:
            self.add(ind, f"for {y} in {self.call(j, x)}:", tag)
