"""I/O-free step objects: the logic of the stateful operators, written once.

A step is fed one item at a time and returns what it has ready; it never reads, waits or
sleeps, so the sync driver, the async driver and (later) remote workers all run the same
object in their own loops::

    outputs = step.push(item)   # a sequence, often empty
    if step.done: ...           # the step wants no more input (take, take_while)
    outputs = step.flush()      # at the end of the input: what is still held back

A driver must not call ``push`` after ``done`` turned true, and calls ``flush`` once, after
the input ended or the step said it was done.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable, Sequence

from hosepipe._typing import TYPE_CHECKING, Generic, Protocol, TypeVar

if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "Batch",
    "Distinct",
    "DropWhile",
    "Enumerate",
    "GroupBy",
    "Scan",
    "Skip",
    "Step",
    "Take",
    "TakeWhile",
    "Throttle",
    "Window",
]

T = TypeVar("T")
A = TypeVar("A")
K = TypeVar("K")
I_contra = TypeVar("I_contra", contravariant=True)
O_co = TypeVar("O_co", covariant=True)

NOTHING: tuple[()] = ()


class Step(Protocol[I_contra, O_co]):
    """What every driver needs of a stateful operator."""

    done: bool

    def push(self, item: I_contra, /) -> Sequence[O_co]: ...

    def flush(self) -> Sequence[O_co]: ...


class _Stateless:
    """Base for steps that hold nothing back at the end."""

    __slots__ = ("done",)

    def __init__(self) -> None:
        self.done = False

    def flush(self) -> Sequence[Any]:
        return NOTHING


class Take(_Stateless, Generic[T]):
    """Pass the first *n* items, then report ``done`` without asking for another."""

    __slots__ = ("left", "n")

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = n
        self.left = n
        self.done = n <= 0

    def push(self, item: T) -> Sequence[T]:
        self.left -= 1
        if self.left <= 0:
            self.done = True
        return (item,)


class Skip(_Stateless, Generic[T]):
    """Drop the first *n* items."""

    __slots__ = ("left", "n")

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = n
        self.left = n

    def push(self, item: T) -> Sequence[T]:
        if self.left > 0:
            self.left -= 1
            return NOTHING
        return (item,)


class TakeWhile(_Stateless, Generic[T]):
    """Pass items while *pred* holds; the first failing item ends the stream (and is dropped)."""

    __slots__ = ("pred",)

    def __init__(self, pred: Callable[[T], object]) -> None:
        super().__init__()
        self.pred = pred

    def push(self, item: T) -> Sequence[T]:
        if self.pred(item):
            return (item,)
        self.done = True
        return NOTHING


class DropWhile(_Stateless, Generic[T]):
    """Drop items while *pred* holds; from the first failing item on, pass everything."""

    __slots__ = ("dropping", "pred")

    def __init__(self, pred: Callable[[T], object]) -> None:
        super().__init__()
        self.pred = pred
        self.dropping = True

    def push(self, item: T) -> Sequence[T]:
        if self.dropping:
            if self.pred(item):
                return NOTHING
            self.dropping = False
        return (item,)


class Enumerate(_Stateless, Generic[T]):
    """Pair each item with its index, counting from *start*."""

    __slots__ = ("i",)

    def __init__(self, start: int) -> None:
        super().__init__()
        self.i = start

    def push(self, item: T) -> Sequence[tuple[int, T]]:
        i = self.i
        self.i = i + 1
        return ((i, item),)


class Scan(_Stateless, Generic[T, A]):
    """Emit each running accumulation ``acc = fn(acc, item)``, starting from *initial*."""

    __slots__ = ("acc", "fn")

    def __init__(self, fn: Callable[[A, T], A], initial: A) -> None:
        super().__init__()
        self.fn = fn
        self.acc = initial

    def push(self, item: T) -> Sequence[A]:
        acc = self.acc = self.fn(self.acc, item)
        return (acc,)


class Distinct(_Stateless, Generic[T]):
    """Pass each item whose key was not seen before (memory grows with distinct keys)."""

    __slots__ = ("key", "seen")

    def __init__(self, key: Callable[[T], Hashable] | None) -> None:
        super().__init__()
        self.key = key
        self.seen: set[Hashable] = set()

    def push(self, item: T) -> Sequence[T]:
        k = item if self.key is None else self.key(item)
        if k in self.seen:
            return NOTHING
        self.seen.add(k)
        return (item,)

    def state(self) -> set[Hashable]:
        return set(self.seen)

    def restore(self, state: set[Hashable]) -> None:
        self.seen.clear()  # in place: a fused loop may hold the set itself
        self.seen.update(state)


class Batch(Generic[T]):
    """Collect items into lists of *size*; the last list may be shorter."""

    __slots__ = ("buf", "done", "size")

    def __init__(self, size: int) -> None:
        self.size = size
        self.buf: list[T] = []
        self.done = False

    def push(self, item: T) -> Sequence[list[T]]:
        buf = self.buf
        buf.append(item)
        if len(buf) >= self.size:
            self.buf = []
            return (buf,)
        return NOTHING

    def flush(self) -> Sequence[list[T]]:
        buf, self.buf = self.buf, []
        return (buf,) if buf else NOTHING

    def state(self) -> list[T]:
        """What a checkpoint saves: the items held (see ``hosepipe._checkpoint``)."""
        return list(self.buf)

    def restore(self, state: list[T]) -> None:
        self.buf = list(state)


class Window(Generic[T]):
    """Full sliding windows of *size*, one every *step* items (as ``sliding_window`` for 1)."""

    __slots__ = ("buf", "done", "seen", "size", "step")

    def __init__(self, size: int, step: int) -> None:
        self.size = size
        self.step = step
        self.buf: deque[T] = deque(maxlen=size)
        self.seen = 0
        self.done = False

    def push(self, item: T) -> Sequence[tuple[T, ...]]:
        buf = self.buf
        buf.append(item)
        if self.step == 1:
            return (tuple(buf),) if len(buf) == self.size else NOTHING
        self.seen += 1
        over = self.seen - self.size
        if over >= 0 and over % self.step == 0:
            return (tuple(buf),)
        return NOTHING

    def flush(self) -> Sequence[tuple[T, ...]]:
        return NOTHING

    def state(self) -> tuple[list[T], int]:
        return list(self.buf), self.seen

    def restore(self, state: tuple[list[T], int]) -> None:
        self.buf.clear()  # in place: a fused loop may hold the deque itself
        self.buf.extend(state[0])
        self.seen = state[1]


class GroupBy(Generic[T, K]):
    """Runs of consecutive items with equal keys, as ``(key, [items])`` (like ``groupby``)."""

    __slots__ = ("current", "done", "group", "key")

    _EMPTY: Any = object()

    def __init__(self, key: Callable[[T], K]) -> None:
        self.key = key
        self.current: Any = self._EMPTY
        self.group: list[T] = []
        self.done = False

    def push(self, item: T) -> Sequence[tuple[K, list[T]]]:
        k = self.key(item)
        if self.current is self._EMPTY:
            self.current = k
        elif k != self.current:
            out = ((self.current, self.group),)
            self.current, self.group = k, [item]
            return out
        self.group.append(item)
        return NOTHING

    def flush(self) -> Sequence[tuple[K, list[T]]]:
        if self.current is self._EMPTY:
            return NOTHING
        out = ((self.current, self.group),)
        self.current, self.group = self._EMPTY, []
        return out

    def state(self) -> tuple[bool, Any, list[T]]:
        empty = self.current is self._EMPTY
        return empty, None if empty else self.current, list(self.group)

    def restore(self, state: tuple[bool, Any, list[T]]) -> None:
        empty, current, group = state
        self.current, self.group = (self._EMPTY if empty else current), list(group)


class Throttle:
    """The pace of ``throttle(rate, per=)``: how long the next item must wait.

    Items leave at least ``per / rate`` seconds apart (a token bucket that holds one
    token), so any window of *per* seconds sees at most *rate* of them, and a stream that
    was held up does not then burst. The step only computes; the driver sleeps, with the
    clock it reads (``time.monotonic`` in the sync driver, the loop's in the async one).

    >>> t = Throttle(rate=4, per=1.0)
    >>> t.wait(10.0)            # the first item goes at once
    0.0
    >>> t.passed(10.0); round(t.wait(10.1), 6)   # the next one no sooner than 0.25 s later
    0.15
    >>> t.passed(10.25); t.wait(11.0)  # a slow upstream: no wait, and no burst after it
    0.0
    """

    __slots__ = ("_next", "interval")

    def __init__(self, rate: float, per: float) -> None:
        self.interval = per / rate
        self._next: float | None = None

    def wait(self, now: float) -> float:
        """Seconds from *now* until the next item may leave."""
        if self._next is None or now >= self._next:
            return 0.0
        return self._next - now

    def passed(self, now: float) -> None:
        """An item left at *now*."""
        self._next = now + self.interval
