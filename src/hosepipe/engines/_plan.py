"""How a stream is cut for an engine: its partitions, the stages that run on the workers,
and those that run on the client after an ordered gather.

The workers run the longest leading run of element-wise stages (``WORKER_STAGES``), one
partition each, through the local sync driver. The first stage whose meaning depends on
more than one item at a time (``take``, ``batch``, ``window``, ``scan``, ``enumerate``,
``distinct``, ``group_by``, ``zip``, ...) and every stage after it run on the client, over
the partitions' outputs gathered in order: so the answer is the local one. A few stages
cannot run on a worker at all and are refused (``refusal``). A ``catch(dead_letter=...)``
on the workers collects its dead letters in the task, and the client gives them to the
user's target, partition by partition, in order.
"""

from __future__ import annotations

import os
import sys
import sysconfig
from collections.abc import Iterable

from hosepipe import _nodes
from hosepipe._errors import HosepipeError
from hosepipe._typing import TYPE_CHECKING
from hosepipe.engines._tasks import Collect, LetterBox

if TYPE_CHECKING:
    from typing import Any

    from hosepipe._stream import Stream

__all__ = ["WORKER_STAGES", "Plan", "by_value", "refusal", "sources"]

# element-wise and per-partition stages: their output for a partition does not depend on
# any other partition
WORKER_STAGES: tuple[type[_nodes.Node], ...] = (
    _nodes.Map,
    _nodes.Filter,
    _nodes.Tap,
    _nodes.FlatMap,
    _nodes.Flatten,
    _nodes.ConcurrentMap,
    _nodes.Catch,
    _nodes.Retry,
    _nodes.Observe,
    _nodes.Buffer,
)


def refusal(node: _nodes.Node, position: int) -> str | None:
    """Why stage *position* (*node*) cannot run on a worker, or None when it can."""
    where = f"stage {position} {node.label}"
    if isinstance(node, _nodes.ConcurrentMap) and node.via == "process":
        return (
            f"{where} cannot run on Dask: worker processes cannot start processes of their "
            "own; use via='thread' there, or more Dask workers"
        )
    return None


class Plan:
    """The stages of *stream* split into those the workers run (``head``) and those the
    client runs after them (``tail``); ``HosepipeError`` for a stage neither can run.

    A worker-side ``catch(dead_letter=...)`` is sent as a copy whose dead letters go into
    the task's ``box``; ``dead_letters[i]`` is the user's target of the letters tagged *i*,
    to which the client gives them, in order.
    """

    __slots__ = ("box", "dead_letters", "head", "stream", "tail")

    def __init__(self, stream: Stream[Any]) -> None:
        stages = stream._stages
        cut = len(stages)
        for i, node in enumerate(stages):
            if not isinstance(node, WORKER_STAGES) or isinstance(node, _nodes.Progress):
                # progress() shows the items reaching the client: it and what follows run here
                cut = i
                break
        for i, node in enumerate(stages[:cut], start=1):
            why = refusal(node, i)
            if why is not None:
                raise HosepipeError(why)
        self.stream = stream
        self.box = LetterBox()
        self.dead_letters: list[Any] = []
        head = list(stages[:cut])
        for i, node in enumerate(head):
            if isinstance(node, _nodes.Catch) and node.dead_letter is not None:
                collect = Collect(self.box, len(self.dead_letters))
                self.dead_letters.append(node.dead_letter)
                head[i] = _nodes.Catch(node.exc_types, node.handler, collect)
        self.box.used = bool(self.dead_letters)
        self.head = tuple(head)
        self.tail = stages[cut:]


# -- what travels by value --------------------------------------------------------------------

_INSTALLED = tuple(
    os.path.realpath(p)
    for p in {sysconfig.get_path(k) for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    if p
)


# module name -> (the module, whether it is a user module): realpath is a few system calls
_KNOWN: dict[str, tuple[object, bool]] = {}


def _user_module(name: object) -> str | None:
    """*name* when it is a module a worker may not be able to import (a script, a test
    file, a notebook's module): not the standard library, not installed, not hosepipe."""
    if not isinstance(name, str) or name in ("__main__", "builtins") or name == "hosepipe":
        return None
    if name.startswith("hosepipe."):
        return None
    module = sys.modules.get(name)
    known = _KNOWN.get(name)
    if known is not None and known[0] is module:
        return name if known[1] else None
    file = getattr(module, "__file__", None)
    if module is None or not isinstance(file, str):
        return None
    user = not os.path.realpath(file).startswith(_INSTALLED)
    _KNOWN[name] = (module, user)
    return name if user else None


def _modules(obj: object, depth: int, seen: set[int], out: set[str]) -> None:
    if depth < 0 or id(obj) in seen or obj is None or isinstance(obj, str | bytes | int | float):
        return
    seen.add(id(obj))
    for name in (getattr(obj, "__module__", None), type(obj).__module__):
        found = _user_module(name)
        if found is not None:
            out.add(found)
    children: Iterable[object] = ()
    if isinstance(obj, dict):
        children = [*obj.keys(), *obj.values()]
    elif isinstance(obj, list | tuple | set | frozenset):
        children = obj
    elif isinstance(obj, _nodes.Node):
        children = obj._values()
    elif not isinstance(obj, type):
        state = getattr(obj, "__dict__", None)
        children = list(state.values()) if isinstance(state, dict) else []
        for slot in getattr(type(obj), "__slots__", ()):
            children = [*children, getattr(obj, slot, None)]
        wrapped = getattr(obj, "__wrapped__", None) or getattr(obj, "func", None)
        if wrapped is not None:
            children = [*children, wrapped]
    for child in children:
        _modules(child, depth - 1, seen, out)


def sources(head: tuple[_nodes.Node, ...], modules: set[str]) -> list[tuple[Any, str, list[str]]]:
    """The source lines the workers need to inline the stages' simple functions, as the
    local run does (``_drive._inline``): for each function of *head* that travels by value
    (defined in ``__main__`` or in one of *modules*) and is simple enough to inline here,
    ``(function, key, lines)``. cloudpickle names the code of such a function
    ``<dynamic-code>``, whose source no worker can find; the task registers *lines* in its
    ``linecache`` under *key* and gives the function's code that file name
    (``_tasks.run_partition``). The inliner checks the source against the code again
    there, so a mismatch only costs the speed."""
    import linecache
    import types

    from hosepipe._drive._inline import inline_expression

    out: list[tuple[Any, str, list[str]]] = []
    for node in head:
        for fn in node._values():
            if type(fn) is not types.FunctionType:
                continue
            if fn.__module__ != "__main__" and fn.__module__ not in modules:
                continue
            if inline_expression(fn, "x") is None:
                continue
            filename = fn.__code__.co_filename
            lines = linecache.getlines(filename)
            if lines:
                out.append((fn, f"<hosepipe by value: {filename}>", lines))
    return out


def by_value(*objs: object) -> set[str]:
    """The user modules whose functions and classes *objs* hold (a few levels deep): the
    engine pickles those by value, so that workers need not import them."""
    out: set[str] = set()
    seen: set[int] = set()
    for obj in objs:
        _modules(obj, 4, seen, out)
    return out
