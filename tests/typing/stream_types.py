"""Type-checked, not run: what mypy --strict infers for streams and pipelines.

Lines marked ``# type: ignore[...]`` must stay errors: mypy reports an unused ignore
(warn_unused_ignores under --strict) if the library ever stops rejecting them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import Any, Literal, TypeGuard, assert_type

import hosepipe as hp


def is_str(x: object) -> TypeGuard[str]:
    return isinstance(x, str)


def to_len(s: str) -> int:
    return len(s)


ints = hp.Stream(range(10))
assert_type(ints, hp.Stream[int])
assert_type(hp.Stream(lambda: iter(["a"])), hp.Stream[str])
assert_type(ints.map(str), hp.Stream[str])
assert_type(ints.map(lambda x: x * 1.5), hp.Stream[float])
assert_type(ints.filter(lambda x: x > 2), hp.Stream[int])
assert_type(hp.Stream([1, "a"]).filter(is_str), hp.Stream[str])
assert_type(ints.flat_map(lambda x: [str(x)]), hp.Stream[str])
assert_type(hp.Stream([[1, 2], [3]]).flatten(), hp.Stream[int])
assert_type(ints.tap(print), hp.Stream[int])
assert_type(ints.take(3).skip(1).take_while(bool).drop_while(bool), hp.Stream[int])
assert_type(ints.batch(3), hp.Stream[list[int]])
assert_type(ints.window(3), hp.Stream[tuple[int, ...]])
assert_type(ints.group_by(lambda x: x % 2 == 0), hp.Stream[tuple[bool, list[int]]])
assert_type(ints.distinct(key=lambda x: x % 3), hp.Stream[int])
assert_type(ints.enumerate(), hp.Stream[tuple[int, int]])
assert_type(ints.scan(lambda acc, x: acc + str(x), ""), hp.Stream[str])
assert_type(ints.chain([4, 5]), hp.Stream[int])
assert_type(ints.chain(["x"]), hp.Stream[int | str])
objects: hp.Stream[object] = ints  # covariant: a stream of ints is a stream of objects
assert_type(ints.zip("abc"), hp.Stream[tuple[int, str]])
assert_type(ints.zip("abc", [1.0]), hp.Stream[tuple[int, str, float]])
assert_type(ints.zip("a", [1.0], [b""]), hp.Stream[tuple[int, str, float, bytes]])
assert_type(ints.catch(ValueError, dead_letter=[]), hp.Stream[int])
assert_type(ints.observe("n"), hp.Stream[int])

# terminals
assert_type(ints.to_list(), list[int])
assert_type(ints.first(), int)
assert_type(ints.first(None), int | None)
assert_type(ints.reduce(lambda a, b: a + b), int)
assert_type(ints.reduce(lambda acc, x: acc + str(x), ""), str)
assert_type(ints.count(), int)
assert_type(ints.sum(), int)
assert_type(hp.Stream([1.5]).sum(), float | Literal[0])
assert_type(ints.for_each(print), None)
assert_type(ints.to(Counter), Counter[int])
assert_type(ints.run(), hp.RunStats)
with ints.iterate() as it:
    assert_type(it, hp.Iteration[int])
    assert_type(next(it), int)
    assert_type(it.stats(), hp.RunStats)
for item in ints:
    assert_type(item, int)

# pipelines
p = hp.map(to_len) | hp.filter(lambda n: n > 1) | hp.batch(2)
assert_type(p, hp.Pipeline[str, list[int]])
assert_type(p(["ab", "c"]), hp.Stream[list[int]])
assert_type(["ab", "c"] | p, hp.Stream[list[int]])
assert_type(hp.Stream(["ab"]) | p, hp.Stream[list[int]])
assert_type(hp.Stream(["ab"]).pipe(p), hp.Stream[list[int]])
assert_type(hp.map(to_len).enumerate(), hp.Pipeline[str, tuple[int, int]])

# plain function plumbing
assert_type(hp.pipe(3, str, to_len), int)
assert_type(hp.compose(str, to_len), Callable[[str], str])

# mistakes mypy must catch
ints.map(to_len)  # type: ignore[arg-type]
hp.Stream(["a"]).pipe(hp.map(to_len).map(to_len))  # type: ignore[arg-type]
ints.take("3")  # type: ignore[arg-type]
_: hp.Stream[str] = ints  # type: ignore[assignment]
unused: Any = None

# concurrency, fan-out and fan-in
words = hp.Stream(["a", "bc"])
assert_type(words.map(to_len, concurrency=4, via="process", initializer=print), hp.Stream[int])
assert_type(words.map(to_len).retry(ValueError, attempts=2), hp.Stream[int])
assert_type(words.throttle(10, per=2.0), hp.Stream[str])
assert_type(hp.map(to_len) | hp.retry(ConnectionError), hp.Pipeline[str, int])
assert_type(words.broadcast(2), tuple[hp.Stream[str], ...])
assert_type(hp.merge(words, ["x"]), hp.Stream[str])
assert_type(hp.backoff.exponential(0.1, 2.0), hp.backoff.Exponential)
words.retry(KeyboardInterrupt)  # type: ignore[arg-type]


# async
async def alen(s: str) -> int:
    return len(s)


async def agen_words() -> AsyncIterator[str]:
    yield "a"


assert_type(words.map(alen), hp.Stream[int])
assert_type(hp.map(alen), hp.Pipeline[str, int])
assert_type(hp.Stream(agen_words), hp.Stream[str])
assert_type(hp.Stream(agen_words()).map(to_len), hp.Stream[int])


async def consume() -> None:
    assert_type(await words.ato_list(), list[str])
    assert_type(await words.acount(), int)
    assert_type(await words.afirst(), str)
    assert_type(await words.afirst(None), str | None)
    async for w in words:
        assert_type(w, str)
    async with words.aiterate() as it:
        async for w2 in it:
            assert_type(w2, str)


async def asplit(s: str) -> list[str]:
    return s.split()


async def is_long(s: str) -> bool:
    return len(s) > 1


assert_type(words.flat_map(asplit), hp.Stream[str])
assert_type(hp.flat_map(asplit), hp.Pipeline[str, str])
assert_type(words.filter(is_long), hp.Stream[str])
assert_type(words.tap(is_long), hp.Stream[str])
