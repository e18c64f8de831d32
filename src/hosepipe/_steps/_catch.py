"""``catch``: which stages a ``catch`` guards, and what it does with an error it catches.

Pull (the sync and async drivers) and push mode share this logic; each driver only says
how to count the error and how to reach a dead-letter sink's writer for its run.
"""

from __future__ import annotations

from collections.abc import Callable

from hosepipe import _nodes
from hosepipe._ends import SinkBase
from hosepipe._typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

__all__ = ["DeadLetter", "catch_error", "guards_of", "send_dead_letter"]


class DeadLetter:
    """What ``catch(dead_letter=...)`` receives for each skipped item.

    *item* is the item the failing stage was given, *error* the exception, *stage* the
    failing stage's label, such as ``"map(parse)"``.

    >>> import hosepipe as hp
    >>> bad = []
    >>> hp.Stream(["1", "x", "3"]).map(int).catch(ValueError, dead_letter=bad).to_list()
    [1, 3]
    >>> bad[0].item, bad[0].stage, type(bad[0].error).__name__
    ('x', 'map(int)', 'ValueError')
    """

    __slots__ = ("error", "item", "stage")

    def __init__(self, item: Any, error: BaseException, stage: str) -> None:
        self.item = item
        self.error = error
        self.stage = stage

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: item (repr when not a plain value), stage, error type and text."""
        item = (
            self.item if isinstance(self.item, str | int | float | bool | None) else repr(self.item)
        )
        d: dict[str, Any] = {
            "item": item,
            "stage": self.stage,
            "error": f"{type(self.error).__name__}: {self.error}",
        }
        for attr in ("path", "line", "raw"):  # always the same keys: tabular sinks need them
            value = getattr(self.error, attr, None)
            d[attr] = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
        return d

    def __repr__(self) -> str:
        return f"DeadLetter(item={self.item!r}, error={self.error!r}, stage={self.stage!r})"


def guards_of(nodes: tuple[_nodes.Node, ...]) -> list[tuple[_nodes.Catch, ...]]:
    """For each position (0 = source), the catch stages that guard it.

    A ``catch`` guards the stages since the previous ``catch``; consecutive catches act as
    one group, tried in order. The source is never guarded.
    """
    guards: list[tuple[_nodes.Catch, ...]] = [() for _ in range(len(nodes) + 1)]
    pending: list[int] = []
    group: list[_nodes.Catch] = []
    prev_catch = False
    for pos, node in enumerate(nodes, start=1):
        if isinstance(node, _nodes.Catch):
            if not prev_catch:
                group = []
                covered = pending
                pending = []
            group.append(node)
            for p in covered:
                guards[p] = tuple(group)
            prev_catch = True
        else:
            pending.append(pos)
            prev_catch = False
    return guards


def catch_error(
    guards: tuple[_nodes.Catch, ...],
    exc: Exception,
    item: Any,
    label: str,
    writer_for: Callable[[SinkBase[Any, Any]], Any],
    count: Callable[[BaseException], None] | None = None,
) -> bool:
    """Whether one of *guards* catches *exc*; if one does, count it, call its handler and
    send a ``DeadLetter`` (to a sink through ``writer_for(sink)``). Pull and push share it."""
    for node in guards:
        if isinstance(exc, node.exc_types):
            if count is not None:
                count(exc)
            if node.handler is not None:
                node.handler(exc, item)
            if node.dead_letter is not None:
                send_dead_letter(node.dead_letter, DeadLetter(item, exc, label), writer_for)
            return True
    return False


def send_dead_letter(
    dead: Any, letter: DeadLetter, writer_for: Callable[[SinkBase[Any, Any]], Any]
) -> None:
    """Give *letter* to a ``catch``'s *dead* letter target: a sink (its ``to_dict()``,
    through the run's writer ``writer_for(sink)``), a list or a callable."""
    if isinstance(dead, SinkBase):
        writer_for(dead).write(letter.to_dict())
    else:
        send: Callable[[DeadLetter], object] = getattr(dead, "append", dead)
        send(letter)
