"""Compile a run of element-wise stages into one generated loop.

Adjacent ``map``/``filter``/``tap``/``flat_map``/``flatten`` stages (and the ``observe`` and
``catch`` markers between them) become the body of a single Python loop, so an item passes
through them with no generator hand-off between stages; a terminal (``sum``, ``to_list``,
``for_each``, ...) can be compiled into the same loop. For ``map(f).filter(p).sum()`` the
generated code is, in its fast path::

    for x0 in _islice(_it, 63):
        c0 += 1
        x0 = F0(x0)
        if not F1(x0):
            continue
        c2 += 1
        _acc += x0

Counting is a local integer increment at the points where the item count changes (the input
and after each filter or flattening stage); every other stage's counts follow from those and
from its error count. One item in every 64 takes a second copy of the body that also times
each stage, so per-stage times cost next to nothing. An error is attributed to its stage by
the line number of the generated code in its traceback, so the fast path carries no
bookkeeping for it. Generated code depends only on the *shape* of the segment, and is cached.
"""

from __future__ import annotations

import linecache
from collections.abc import Callable
from typing import Any

__all__ = ["BLOCK", "COUNTING_OPS", "FN_OPS", "OPENER_OPS", "Compiled", "compile_segment"]

BLOCK = 64
COUNTING_OPS = frozenset({"filter", "flat_map", "flatten"})
FN_OPS = frozenset({"map", "filter", "tap", "flat_map"})
OPENER_OPS = frozenset({"flat_map", "flatten"})
MAX_OPENERS = 6  # nested loops per segment; CPython allows 20 statically nested blocks

# Terminals: the line that consumes an item ``x`` at the innermost level.
_TERMINAL_LINES = {
    None: "yield {x}",
    "drain": "pass",
    "count": "_acc += 1",
    "sum": "_acc += {x}",
    "list": "_append({x})",
    "call": "_term({x})",
    "reduce": "_acc = _term(_acc, {x})",
    "reduce1": "_acc = {x} if _acc is _END else _term(_acc, {x})",
    "first": "return {x}",
}

# A line's tag says what runs there: ("up",) reads the upstream, ("stage", j) runs stage j of
# the segment, ("term",) runs the terminal; untagged lines run nothing of the user's.
Tag = tuple[Any, ...]


class Compiled:
    """A compiled segment shape: the factory and the map from line number to tag."""

    __slots__ = ("count_slots", "factory", "linemap", "time_slots")

    def __init__(
        self,
        factory: Callable[..., Callable[[], Any]],
        linemap: dict[int, Tag],
        count_slots: tuple[int, ...],
        time_slots: tuple[int, ...],
    ) -> None:
        self.factory = factory
        self.linemap = linemap
        # count_slots[k] is the stage index (+1) whose output counter is counts[k]; 0 = input.
        self.count_slots = count_slots
        # time_slots[k] is the stage index (+1) whose (T, S) pair is times[2k:2k+2]; 0 = upstream.
        self.time_slots = time_slots


_cache: dict[tuple[Any, ...], Compiled] = {}


def compile_segment(
    ops: tuple[str, ...],
    guarded: tuple[bool, ...],
    time_upstream: bool,
    terminal: str | None,
) -> Compiled:
    """Compile (or fetch from the cache) the loop for a segment of this shape."""
    key = (ops, guarded, time_upstream, terminal)
    got = _cache.get(key)
    if got is None:
        got = _cache[key] = _Writer(ops, guarded, time_upstream, terminal).compile()
    return got


class _Writer:
    def __init__(
        self,
        ops: tuple[str, ...],
        guarded: tuple[bool, ...],
        time_upstream: bool,
        terminal: str | None,
    ) -> None:
        self.ops = ops
        self.guarded = guarded
        self.time_upstream = time_upstream
        self.terminal = terminal
        self.lines: list[tuple[str, Tag | None]] = []
        self.count_slots = (0, *(j + 1 for j, op in enumerate(ops) if op in COUNTING_OPS))
        self.time_slots = ((0,) if time_upstream else ()) + tuple(
            j + 1 for j, op in enumerate(ops) if op in FN_OPS
        )
        self.counts = "(" + "".join(f"c{s}, " for s in self.count_slots) + ")"
        self.times = "(" + "".join(f"T{s}, S{s}, " for s in self.time_slots) + ")"

    def add(self, indent: int, text: str, tag: Tag | None = None) -> None:
        self.lines.append(("    " * indent + text, tag))

    def compile(self) -> Compiled:
        n = len(self.ops)
        gen = self.terminal is None
        self.add(0, "def _factory(_open, _fail, _skip, _exit, _islice, _pc, _END, _F, _term, _init):")
        self.add(1, "def _segment():")
        for j in range(n):
            if self.ops[j] in FN_OPS:
                self.add(2, f"F{j} = _F[{j}]")
        self.add(2, " = ".join(f"c{s}" for s in self.count_slots) + " = 0")
        for s in self.time_slots:
            self.add(2, f"T{s} = 0.0; S{s} = 0")
        if self.terminal == "list":
            self.add(2, "_acc = []; _append = _acc.append")
        elif self.terminal is not None:
            self.add(2, "_acc = _init")
        self.add(2, "try:")
        self.add(3, "_it = _open()", ("up",))
        self.add(3, "while True:")
        if self.time_upstream:
            self.add(4, "_t = _pc()")
        self.add(4, "x0 = next(_it, _END)", ("up",))
        if self.time_upstream:
            self.add(4, "T0 += _pc() - _t; S0 += 1")
        self.add(4, "if x0 is _END:")
        self.add(5, "break")
        self.add(4, "for x0 in (x0,):")
        self.add(5, "c0 += 1")
        self.level(0, 0, 5, timed=True)
        self.add(4, f"for x0 in _islice(_it, {BLOCK - 1}):", ("up",))
        self.add(5, "c0 += 1")
        self.level(0, 0, 5, timed=False)
        self.add(2, "except Exception as _e:")
        self.add(3, f"_fail(_e, {self.counts})")
        self.add(3, "raise")
        self.add(2, "finally:")
        self.add(3, f"_exit({self.counts}, {self.times})")
        if not gen:
            self.add(2, "return _acc")
        self.add(1, "return _segment")

        filename = f"<hosepipe fused {'|'.join(self.ops) or 'pass'}>"
        source = "\n".join(text for text, _ in self.lines) + "\n"
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        namespace: dict[str, Any] = {}
        exec(compile(source, filename, "exec"), namespace)
        linemap = {i + 1: tag for i, (_, tag) in enumerate(self.lines) if tag is not None}
        return Compiled(namespace["_factory"], linemap, self.count_slots, self.time_slots)

    def level(self, j0: int, lvl: int, ind: int, *, timed: bool) -> None:
        """Emit stages from *j0* at nesting level *lvl*: up to and including the next opener."""
        ops, n, x = self.ops, len(self.ops), f"x{lvl}"
        end = j0
        while end < n and ops[end] not in OPENER_OPS:
            end += 1
        use_try = any(self.guarded[j0 : min(end + 1, n)])
        if use_try:
            self.add(ind, "try:")
            ind += 1
        for j in range(j0, end):
            self.stage(j, x, ind, timed=timed)
        if end < n:
            self.opener(end, lvl, ind, timed=timed)
            self.add(ind + 1, f"c{end + 1} += 1")
            self.level(end + 1, lvl + 1, ind + 1, timed=timed)
        else:
            line = _TERMINAL_LINES[self.terminal].format(x=x)
            self.add(ind, line, None if self.terminal is None else ("term",))
        if use_try:
            self.add(ind - 1, "except Exception as _e:")
            self.add(ind, f"if _skip(_e, {x}, {self.counts}):")
            self.add(ind + 1, "continue")
            self.add(ind, "raise")

    def _timed(self, j: int, ind: int, call: str) -> None:
        self.add(ind, "_t = _pc()")
        self.add(ind, call, ("stage", j))
        self.add(ind, f"T{j + 1} += _pc() - _t; S{j + 1} += 1")

    def stage(self, j: int, x: str, ind: int, *, timed: bool) -> None:
        op, tag = self.ops[j], ("stage", j)
        if op == "map":
            if timed:
                self._timed(j, ind, f"{x} = F{j}({x})")
            else:
                self.add(ind, f"{x} = F{j}({x})", tag)
        elif op == "filter":
            if timed:
                self._timed(j, ind, f"_ok = F{j}({x})")
                self.add(ind, "if not _ok:")
            else:
                self.add(ind, f"if not F{j}({x}):", tag)
            self.add(ind + 1, "continue")
            self.add(ind, f"c{j + 1} += 1")
        elif op == "tap":
            if timed:
                self._timed(j, ind, f"F{j}({x})")
            else:
                self.add(ind, f"F{j}({x})", tag)
        elif op not in ("observe", "catch"):  # markers run no code of their own
            raise AssertionError(f"not a fusable op: {op}")

    def opener(self, j: int, lvl: int, ind: int, *, timed: bool) -> None:
        x, y, tag = f"x{lvl}", f"x{lvl + 1}", ("stage", j)
        if self.ops[j] == "flatten":
            self.add(ind, f"for {y} in {x}:", tag)
        elif timed:
            self._timed(j, ind, f"_sub{lvl} = F{j}({x})")
            self.add(ind, f"for {y} in _sub{lvl}:", tag)
        else:
            self.add(ind, f"for {y} in F{j}({x}):", tag)
