"""Push pipelines: @coroutine, Stream.into, broadcast_to and Pipeline.as_target.

The heart of the file is the property test at the end: a random chain of operators gives
the same items pulled (``list(pipeline(src))``) as pushed (``pipeline.as_target(sink)``
sent each item), fails the same way with the same note, and reads the same number of
source items through ``into``. The rest checks what pull cannot show: that targets are
closed (their ``finally`` runs) however the run ends, and that misuse gets a clear error.
"""

from __future__ import annotations

import asyncio
import json
import operator
import re
from collections.abc import AsyncIterator, Callable, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hosepipe as hp
from hosepipe._push import Broadcast, PushTarget, broadcast_to, coroutine
from hosepipe.testing import CountingSource, assert_no_leaks

# -- targets the tests push into ---------------------------------------------------------


class Log:
    """What a recording target saw: its items, and whether its ``finally`` ran."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self.closed = False


@coroutine
def record(
    log: Log, *, fail_on: object = None, stop_after: int | None = None
) -> Generator[None, Any, None]:
    """Append each item to *log*; raise on *fail_on*; return after *stop_after* items."""
    try:
        while stop_after is None or len(log.items) < stop_after:
            item = yield
            if item == fail_on:
                raise ValueError(f"bad item {item!r}")
            log.items.append(item)
    finally:
        log.closed = True


@coroutine
def collect(out: list[Any]) -> Generator[None, Any, None]:
    while True:
        out.append((yield))


class Boom(Exception):
    pass


def boom_at(n: int) -> Callable[[int], int]:
    def boom(x: int) -> int:
        if x == n:
            raise Boom(f"at {x}")
        return x

    return boom


def notes(exc: pytest.ExceptionInfo[BaseException]) -> list[str]:
    return list(getattr(exc.value, "__notes__", []))


# -- @coroutine ---------------------------------------------------------------------------


def test_coroutine_primes_the_generator_and_keeps_the_function_name() -> None:
    @coroutine
    def doubler(out: list[int]) -> Generator[None, int, None]:
        """Doubles."""
        while True:
            out.append(2 * (yield))

    out: list[int] = []
    gen = doubler(out)
    assert gen.gi_suspended  # waiting at its first yield
    gen.send(3)
    gen.send(4)
    assert out == [6, 8]
    assert doubler.__name__ == "doubler"
    assert doubler.__doc__ == "Doubles."


def test_coroutine_runs_the_body_up_to_the_first_yield_at_once() -> None:
    started = []

    @coroutine
    def gen() -> Generator[None, int, None]:
        started.append(True)
        while True:
            yield

    g = gen()
    assert started == [True]
    g.close()


def plain(x: int) -> int:
    return x


async def async_fn() -> None:
    pass


async def async_gen() -> Any:
    yield 1


@pytest.mark.parametrize(
    ("fn", "error", "message"),
    [
        (
            plain,
            TypeError,
            "coroutine(): `fn` must be a generator function (a def that takes items with "
            "`item = yield`), got plain, which has no `yield`",
        ),
        (
            async_fn,
            TypeError,
            "coroutine(): async_fn is an async function; push targets are plain generators "
            "that take items with `item = yield`",
        ),
        (
            async_gen,
            TypeError,
            "coroutine(): async_gen is an async function; push targets are plain generators "
            "that take items with `item = yield`",
        ),
        (42, TypeError, "coroutine(): `fn` must be a generator function, got 42 (int)"),
    ],
)
def test_coroutine_refuses_what_is_not_a_generator_function(
    fn: Any, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        coroutine(fn)


def test_coroutine_of_a_generator_that_ends_before_its_first_yield() -> None:
    @coroutine
    def empty() -> Generator[None, int, None]:
        return
        yield  # pragma: no cover

    with pytest.raises(TypeError, match=r"^coroutine\(\): empty\(\) returned before its first"):
        empty()


def test_coroutine_of_a_callable_that_returns_no_generator() -> None:
    class Make:
        def __call__(self) -> Any:
            return [1]

    with pytest.raises(TypeError, match=r"^coroutine\(\): Make\(\) returned list, not a gen"):
        coroutine(Make())()


# -- Stream.into ---------------------------------------------------------------------------


def test_into_pushes_every_item_and_closes_the_target() -> None:
    log = Log()
    assert hp.Stream(range(5)).map(lambda x: x * 10).into(record(log)) is None
    assert log.items == [0, 10, 20, 30, 40]
    assert log.closed


def test_into_an_empty_stream_still_closes_the_target() -> None:
    log = Log()
    hp.Stream([]).into(record(log))
    assert log.items == []
    assert log.closed


def test_into_closes_target_and_source_when_a_stage_fails() -> None:
    log, src = Log(), CountingSource(range(10))
    with pytest.raises(Boom, match="at 3") as exc:
        hp.Stream(src).map(boom_at(3)).into(record(log))
    assert notes(exc) == ["hosepipe: in stage 1 map(boom), item index 3"]
    assert log.items == [0, 1, 2]
    assert log.closed
    assert src.active == 0
    assert src.reads == 4


def test_into_closes_the_target_when_the_source_fails() -> None:
    def source() -> Iterator[int]:
        yield 1
        raise OSError("disk")

    log = Log()
    with pytest.raises(OSError, match="disk") as exc:
        hp.Stream(source).into(record(log))
    assert notes(exc) == ["hosepipe: in the source source(), item index 1"]
    assert log.items == [1]
    assert log.closed


def test_an_error_in_the_target_keeps_its_type_and_names_the_target() -> None:
    log, src = Log(), CountingSource(range(10))
    with pytest.raises(ValueError, match="bad item 4") as exc:
        hp.Stream(src).filter(lambda x: x % 2 == 0).into(record(log, fail_on=4))
    assert notes(exc) == ["hosepipe: in the terminal into(record), item index 2"]
    assert log.items == [0, 2]
    assert log.closed  # its finally ran as the error left it
    assert src.active == 0  # and the stream was closed


def test_a_target_that_returns_stops_the_stream_early() -> None:
    log, src = Log(), CountingSource(range(100))
    hp.Stream(src).map(lambda x: x + 1).into(record(log, stop_after=3))
    assert log.items == [1, 2, 3]
    assert log.closed
    assert src.reads == 3  # the target returned as it took the 3rd item
    assert src.active == 0


def test_stop_iteration_from_a_stage_is_not_taken_for_the_target_returning() -> None:
    def stop(x: int) -> int:
        if x == 2:
            raise StopIteration
        return x

    log = Log()
    with pytest.raises(RuntimeError, match=r"^a stage function raised StopIteration") as exc:
        hp.Stream(range(5)).map(stop).into(record(log))
    assert notes(exc) == ["hosepipe: in stage 1 map(stop), item index 2"]
    assert isinstance(exc.value.__cause__, StopIteration)
    assert log.items == [0, 1]
    assert log.closed


def test_into_an_object_with_send_and_close() -> None:
    class Target:
        def __init__(self) -> None:
            self.got: list[int] = []
            self.closed = 0

        def send(self, item: int) -> None:
            self.got.append(item)

        def close(self) -> None:
            self.closed += 1

    t = Target()
    hp.Stream(range(3)).into(t)
    assert t.got == [0, 1, 2]
    assert t.closed == 1


def test_a_target_failing_to_close_after_a_normal_end() -> None:
    @coroutine
    def bad_close() -> Generator[None, int, None]:
        try:
            while True:
                yield
        finally:
            raise RuntimeError("flush failed")

    with pytest.raises(RuntimeError, match="flush failed") as exc:
        hp.Stream(range(3)).into(bad_close())
    assert notes(exc) == ["hosepipe: in into(bad_close), while closing it"]


def test_a_target_failing_to_close_while_the_stream_fails_keeps_the_stream_error() -> None:
    @coroutine
    def bad_close() -> Generator[None, int, None]:
        try:
            while True:
                yield
        finally:
            raise RuntimeError("flush failed")

    with pytest.raises(Boom) as exc:
        hp.Stream(range(3)).map(boom_at(1)).into(bad_close())
    assert notes(exc) == [
        "hosepipe: in stage 1 map(boom), item index 1",
        "hosepipe: closing into(bad_close) failed too: RuntimeError('flush failed')",
    ]


def test_keyboard_interrupt_closes_the_target() -> None:
    def interrupt(x: int) -> int:
        if x == 2:
            raise KeyboardInterrupt
        return x

    log = Log()
    with pytest.raises(KeyboardInterrupt):
        hp.Stream(range(5)).map(interrupt).into(record(log))
    assert log.items == [0, 1]
    assert log.closed


def test_into_after_concurrent_pull_stages_leaves_nothing_running() -> None:
    out: list[int] = []
    with assert_no_leaks():
        hp.Stream(range(50)).map(lambda x: x * 2, concurrency=4).buffer(3).into(collect(out))
    assert out == [x * 2 for x in range(50)]


def test_into_a_target_that_returns_stops_concurrent_stages() -> None:
    log = Log()
    with assert_no_leaks():
        hp.Stream(range(10_000)).map(lambda x: x, concurrency=4).into(record(log, stop_after=5))
    assert log.items == [0, 1, 2, 3, 4]
    assert log.closed


class AsyncNumbers:
    """An async source that records whether its generator was closed."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.closed = False

    async def __call__(self) -> AsyncIterator[int]:
        try:
            for i in range(self.n):
                yield i
        finally:
            self.closed = True


async def adouble(x: int) -> int:
    return 2 * x


def test_into_from_an_async_stream() -> None:
    source, log = AsyncNumbers(5), Log()
    hp.Stream(source).map(adouble).into(record(log))
    assert log.items == [0, 2, 4, 6, 8]
    assert log.closed
    assert source.closed


def test_a_target_that_returns_stops_an_async_stream() -> None:
    source, log = AsyncNumbers(1000), Log()
    hp.Stream(source).into(record(log, stop_after=3))
    assert log.items == [0, 1, 2]
    assert log.closed
    assert source.closed


def test_an_error_in_a_target_fed_by_an_async_stream() -> None:
    source, log = AsyncNumbers(10), Log()
    with pytest.raises(ValueError, match="bad item 4") as exc:
        hp.Stream(source).map(adouble).into(record(log, fail_on=4))
    assert notes(exc) == ["hosepipe: in the terminal into(record), item index 2"]
    assert log.items == [0, 2]
    assert log.closed
    assert source.closed


def test_into_an_async_stream_inside_a_running_loop_refuses_and_closes_the_target() -> None:
    log = Log()

    async def main() -> None:
        hp.Stream(AsyncNumbers(3)).into(record(log))

    with pytest.raises(hp.HosepipeError, match="use `async for item in stream`"):
        asyncio.run(main())
    assert log.items == []
    assert log.closed


def gen_fn() -> Generator[None, int, None]:
    while True:
        yield


async def agen_fn() -> Any:
    while True:
        yield


def test_into_refuses_what_is_not_a_target() -> None:
    def check(target: Any, error: type[Exception], message: str) -> None:
        with pytest.raises(error, match=f"^{re.escape(message)}$"):
            hp.Stream(range(3)).into(target)

    check(
        gen_fn,
        TypeError,
        "into(): `target` must be a started generator, got the generator function gen_fn; "
        "call it (gen_fn(...)) to make the generator",
    )
    check(
        gen_fn(),
        TypeError,
        "into(): `target` is the generator gen_fn(), which has not been started: a generator "
        "takes items only once it waits at its first `yield`. Decorate gen_fn with "
        "@hp.coroutine, or call next() on the generator first",
    )
    ended = coroutine(gen_fn)()
    ended.close()
    check(
        ended,
        ValueError,
        "into(): `target` is the generator gen_fn(), which has ended; make a new one",
    )
    agen = agen_fn()
    check(
        agen,
        TypeError,
        "into(): `target` is the async generator agen_fn(); push targets are plain "
        "generators, fed with send()",
    )
    check(
        [],
        TypeError,
        "into(): `target` must be a target: a generator started with @hp.coroutine, or an "
        "object with send() and close(); got [] (list)",
    )

    class SendOnly:
        def send(self, item: object) -> None:
            pass

    with pytest.raises(TypeError, match=r"^into\(\): `target` must be a target: .*\(SendOnly\)$"):
        hp.Stream(range(3)).into(SendOnly())


def test_a_refused_target_is_not_run() -> None:
    src = CountingSource(range(3))
    with pytest.raises(TypeError):
        hp.Stream(src).into(gen_fn())
    assert src.opened == 0


# -- broadcast_to --------------------------------------------------------------------------


def test_broadcast_to_sends_each_item_to_every_target_and_closes_them() -> None:
    a, b, c = Log(), Log(), Log()
    hp.Stream(range(4)).into(broadcast_to(record(a), record(b), record(c)))
    assert a.items == b.items == c.items == [0, 1, 2, 3]
    assert a.closed
    assert b.closed
    assert c.closed


def test_broadcast_to_goes_on_without_a_target_that_returned() -> None:
    short, long = Log(), Log()
    src = CountingSource(range(6))
    hp.Stream(src).into(broadcast_to(record(short, stop_after=2), record(long)))
    assert short.items == [0, 1]
    assert short.closed
    assert long.items == [0, 1, 2, 3, 4, 5]
    assert long.closed
    assert src.reads == 6


def test_broadcast_to_ends_when_every_target_returned() -> None:
    a, b = Log(), Log()
    src = CountingSource(range(100))
    b_ = broadcast_to(record(a, stop_after=2), record(b, stop_after=3))
    hp.Stream(src).into(b_)
    assert a.items == [0, 1]
    assert b.items == [0, 1, 2]
    assert src.reads == 3
    assert src.active == 0
    assert b_.closed
    with pytest.raises(StopIteration):
        b_.send(1)


def test_an_error_in_one_target_closes_the_others_and_names_it() -> None:
    a, b, c = Log(), Log(), Log()
    with pytest.raises(ValueError, match="bad item 2") as exc:
        hp.Stream(range(5)).into(broadcast_to(record(a), record(b, fail_on=2), record(c)))
    assert notes(exc) == ["hosepipe: in broadcast_to target 2 record, item index 2"]
    assert a.items == [0, 1, 2]
    assert c.items == [0, 1]
    assert a.closed
    assert b.closed
    assert c.closed


def test_broadcast_close_closes_every_target_even_when_one_fails() -> None:
    @coroutine
    def bad_close() -> Generator[None, int, None]:
        try:
            while True:
                yield
        finally:
            raise RuntimeError("cannot close")

    a, c = Log(), Log()
    b = broadcast_to(record(a), bad_close(), record(c))
    with pytest.raises(RuntimeError, match="cannot close") as exc:
        b.close()
    assert notes(exc) == ["hosepipe: in broadcast_to target 2 bad_close, while closing it"]
    assert a.closed
    assert c.closed
    assert b.closed
    b.close()  # once closed, closing again does nothing


def test_broadcast_to_nests_and_feeds_push_pipelines() -> None:
    evens, odds, everything = [], [], []  # type: list[int], list[int], list[int]
    target = broadcast_to(
        hp.filter(lambda x: x % 2 == 0).as_target(collect(evens)),
        broadcast_to(hp.filter(lambda x: x % 2).as_target(collect(odds)), collect(everything)),
    )
    assert repr(target) == (
        "broadcast_to(filter(<lambda>).as_target(collect), "
        "broadcast_to(filter(<lambda>).as_target(collect), collect))"
    )
    hp.Stream(range(6)).into(target)
    assert evens == [0, 2, 4]
    assert odds == [1, 3, 5]
    assert everything == list(range(6))


def test_broadcast_to_refuses_bad_arguments() -> None:
    with pytest.raises(TypeError, match=r"^broadcast_to\(\): give at least one target to send to$"):
        broadcast_to()
    t = collect([])
    with pytest.raises(
        ValueError,
        match=r"^broadcast_to\(\): target 2 is target 1 again; each item would be sent to it "
        r"twice$",
    ):
        broadcast_to(t, t)
    with pytest.raises(
        TypeError,
        match=r"^broadcast_to\(\): target 2 must be a started generator, got the generator "
        r"function gen_fn; call it",
    ):
        broadcast_to(t, gen_fn)


# -- Pipeline.as_target: element-wise stages ------------------------------------------------


def test_as_target_runs_the_stages_on_each_item_sent() -> None:
    log = Log()
    t = (hp.map(int) | hp.filter(lambda x: x > 1) | hp.map(lambda x: x * 10)).as_target(record(log))
    assert isinstance(t, PushTarget)
    for s in ["1", "2", "3"]:
        t.send(s)
    assert log.items == [20, 30]
    assert not log.closed
    t.close()
    assert log.closed
    assert t.closed


def test_as_target_repr_shows_the_pipeline_and_the_sink() -> None:
    def parse(s: str) -> int:
        return int(s)

    assert repr(hp.map(parse).as_target(collect([]))) == "map(parse).as_target(collect)"
    assert (
        repr((hp.map(parse) | hp.batch(2)).as_target(collect([])))
        == "(map(parse) | batch(2)).as_target(collect)"
    )
    assert repr(hp.Pipeline().as_target(collect([]))) == "Pipeline().as_target(collect)"


def test_an_empty_pipeline_passes_items_through() -> None:
    out: list[int] = []
    hp.Stream(range(3)).into(hp.Pipeline().as_target(collect(out)))
    assert out == [0, 1, 2]


def test_tap_flat_map_flatten_and_observe() -> None:
    seen: list[int] = []
    out: list[int] = []
    p = (
        hp.tap(seen.append)
        | hp.flat_map(lambda x: range(x))
        | hp.observe("mid")
        | hp.map(lambda x: [x, x])
        | hp.flatten()
    )
    hp.Stream([1, 2]).into(p.as_target(collect(out)))
    assert seen == [1, 2]
    assert out == [0, 0, 0, 0, 1, 1]


def test_one_pipeline_makes_independent_targets() -> None:
    p = hp.enumerate() | hp.take(2)
    a: list[Any] = []
    b: list[Any] = []
    ta, tb = p.as_target(collect(a)), p.as_target(collect(b))
    ta.send("x")
    tb.send("y")
    with pytest.raises(StopIteration):
        tb.send("z")
    with pytest.raises(StopIteration):
        ta.send("w")
    assert a == [(0, "x"), (1, "w")]
    assert b == [(0, "y"), (1, "z")]


def test_a_push_pipeline_into_a_push_pipeline() -> None:
    out: list[int] = []
    inner = (hp.map(lambda x: x + 1) | hp.batch(2)).as_target(collect(out))
    outer = (hp.filter(lambda x: x % 2) | hp.map(lambda x: x * 10)).as_target(inner)
    hp.Stream(range(6)).into(outer)
    assert out == [[11, 31], [51]]
    assert inner.closed


# -- Pipeline.as_target: stateful stages ---------------------------------------------------


def test_close_flushes_held_items_then_closes_the_sink() -> None:
    log = Log()
    t = (hp.batch(3) | hp.map(sum) | hp.batch(2)).as_target(record(log))
    for x in range(7):
        t.send(x)
    assert log.items == [[3, 12]]
    t.close()
    assert log.items == [[3, 12], [6]]
    assert log.closed


def test_group_by_and_window_in_push_mode() -> None:
    out: list[Any] = []
    hp.Stream("aabccc").into(
        (hp.group_by(str.upper) | hp.map(lambda kv: (kv[0], len(kv[1])))).as_target(collect(out))
    )
    assert out == [("A", 2), ("B", 1), ("C", 3)]
    out2: list[Any] = []
    hp.Stream(range(5)).into(hp.window(3).as_target(collect(out2)))
    assert out2 == [(0, 1, 2), (1, 2, 3), (2, 3, 4)]


def test_take_ends_the_target_and_closes_the_sink() -> None:
    log = Log()
    t = (hp.map(lambda x: x * 2) | hp.take(2)).as_target(record(log))
    t.send(1)
    assert not t.closed
    with pytest.raises(StopIteration):
        t.send(2)
    assert log.items == [2, 4]
    assert log.closed
    assert t.closed
    with pytest.raises(StopIteration):
        t.send(3)
    assert log.items == [2, 4]
    t.close()  # a no-op now


def test_take_flushes_the_steps_after_it_but_not_before() -> None:
    log = Log()
    t = (hp.batch(2) | hp.flatten() | hp.take(3) | hp.batch(2)).as_target(record(log))
    t.send(0)
    t.send(1)
    t.send(2)
    with pytest.raises(StopIteration):
        t.send(3)  # batch [2, 3] -> 2 passes take (the 3rd), take is done: 3 is dropped
    assert log.items == [[0, 1], [2]]
    assert log.closed


def test_a_take_that_ends_during_the_flush_lets_the_steps_after_it_flush() -> None:
    p = hp.batch(3) | hp.flatten() | hp.take(4) | hp.batch(3)
    log = Log()
    t = p.as_target(record(log))
    for x in range(5):
        t.send(x)
    assert log.items == [[0, 1, 2]]
    t.close()  # [3, 4] -> 3 is take's 4th item: take is done, 4 dropped, batch(3) flushes [3]
    assert log.items == [[0, 1, 2], [3]] == list(p(range(5)))
    assert log.closed


def test_into_a_target_with_take_reads_no_more_than_pull() -> None:
    src = CountingSource(range(100))
    out: list[int] = []
    hp.Stream(src).into((hp.filter(lambda x: x % 3 == 0) | hp.take(4)).as_target(collect(out)))
    assert out == [0, 3, 6, 9]
    assert src.reads == 10
    assert src.active == 0
    pulled = CountingSource(range(100))
    assert hp.Stream(pulled).filter(lambda x: x % 3 == 0).take(4).to_list() == out
    assert pulled.reads == src.reads


def test_take_zero_wants_nothing() -> None:
    log, src = Log(), CountingSource(range(10))
    t = (hp.map(lambda x: 1 // 0) | hp.take(0)).as_target(record(log))
    assert t.stopped
    assert not t.closed
    hp.Stream(src).into(t)
    assert src.opened == 0
    assert log.items == []
    assert log.closed
    assert t.closed
    log2 = Log()
    t2 = hp.take(0).as_target(record(log2))
    with pytest.raises(StopIteration):
        t2.send(1)  # the map before take(0) is not run either
    assert log2.closed
    assert not t2.stopped


def test_take_inside_flat_map_closes_the_inner_generator() -> None:
    closed = []

    def expand(n: int) -> Iterator[int]:
        try:
            yield from range(n)
        finally:
            closed.append(n)

    out: list[int] = []
    hp.Stream([3, 10]).into((hp.flat_map(expand) | hp.take(5)).as_target(collect(out)))
    assert out == [0, 1, 2, 0, 1]
    assert closed == [3, 10]


def test_a_sink_that_returns_ends_the_target() -> None:
    log = Log()
    src = CountingSource(range(100))
    t = hp.map(lambda x: x + 1).as_target(record(log, stop_after=2))
    hp.Stream(src).into(t)
    assert log.items == [1, 2]
    assert t.closed
    assert src.reads == 2


def test_flush_into_a_sink_that_returns() -> None:
    log = Log()
    t = (hp.batch(2) | hp.flatten()).as_target(record(log, stop_after=5))
    for x in range(5):
        t.send(x)
    assert log.items == [0, 1, 2, 3]
    assert not t.closed
    t.close()  # the flush of [4] ends the sink: no error
    assert log.items == [0, 1, 2, 3, 4]
    assert log.closed
    assert t.closed


# -- Pipeline.as_target: errors ------------------------------------------------------------


def test_an_error_in_a_stage_closes_the_sink_and_keeps_type_and_note() -> None:
    def parse(s: str) -> int:
        return int(s)

    log = Log()
    t = (hp.filter(str.strip) | hp.map(parse)).as_target(record(log))
    t.send("1")
    t.send(" ")
    t.send("2")
    with pytest.raises(ValueError, match="invalid literal") as exc:
        t.send("x")
    assert notes(exc) == ["hosepipe: in stage 2 map(parse), item index 2"]
    assert log.items == [1, 2]
    assert log.closed
    assert t.closed
    with pytest.raises(StopIteration):
        t.send("3")  # as a generator that raised


def test_the_note_of_a_push_stage_survives_into() -> None:
    log, src = Log(), CountingSource(range(10))
    with pytest.raises(Boom) as exc:
        hp.Stream(src).map(lambda x: x + 1).into(hp.map(boom_at(5)).as_target(record(log)))
    assert notes(exc) == ["hosepipe: in stage 1 map(boom), item index 4"]
    assert log.items == [1, 2, 3, 4]
    assert log.closed
    assert src.active == 0


def test_an_error_in_a_step_stage() -> None:
    def add(acc: int, x: int) -> int:
        if x == 3:
            raise Boom("no 3")
        return acc + x

    log = Log()
    with pytest.raises(Boom) as exc:
        hp.Stream(range(5)).into((hp.skip(1) | hp.scan(add, 0)).as_target(record(log)))
    assert notes(exc) == ["hosepipe: in stage 2 scan(add), item index 2"]
    assert log.items == [1, 3]
    assert log.closed


def test_an_error_in_a_flat_map_iterator() -> None:
    def explode(n: int) -> Iterator[int]:
        yield n
        raise Boom("mid-way")

    with pytest.raises(Boom) as exc:
        hp.Stream([1]).into((hp.map(lambda x: x) | hp.flat_map(explode)).as_target(collect([])))
    assert notes(exc) == ["hosepipe: in stage 2 flat_map(explode), item index 0"]


def test_an_error_in_the_sink_is_noted_against_it() -> None:
    log = Log()
    t = hp.map(lambda x: x * 2).as_target(record(log, fail_on=4))
    t.send(1)
    with pytest.raises(ValueError, match="bad item 4") as exc:
        t.send(2)
    assert notes(exc) == ["hosepipe: in the sink record, item index 1"]
    assert log.closed
    assert t.closed


def test_an_error_while_flushing_on_close() -> None:
    log = Log()
    t = (hp.batch(2) | hp.map(lambda b: 1 // len(b) - 1 // (len(b) - 1))).as_target(record(log))
    t.send(1)
    t.send(2)
    t.send(3)
    with pytest.raises(ZeroDivisionError) as exc:
        t.close()  # the short batch [3] reaches the map
    assert notes(exc) == ["hosepipe: in stage 2 map(<lambda>), item index 1"]
    assert log.closed
    assert t.closed


def test_a_sink_failing_to_close_while_a_stage_error_propagates() -> None:
    @coroutine
    def bad_close() -> Generator[None, int, None]:
        try:
            while True:
                yield
        finally:
            raise RuntimeError("cannot close")

    t = hp.map(boom_at(0)).as_target(bad_close())
    with pytest.raises(Boom) as exc:
        t.send(0)
    assert notes(exc) == [
        "hosepipe: in stage 1 map(boom), item index 0",
        "hosepipe: closing the sink bad_close failed too: RuntimeError('cannot close')",
    ]
    t2 = hp.map(lambda x: x).as_target(bad_close())
    with pytest.raises(RuntimeError, match="cannot close") as exc2:
        t2.close()
    assert notes(exc2) == ["hosepipe: in the sink bad_close, while closing it"]


# -- catch and retry -----------------------------------------------------------------------


def test_catch_skips_items_calls_the_handler_and_dead_letters() -> None:
    handled: list[Any] = []
    bad: list[hp.DeadLetter] = []
    out: list[float] = []
    p = (
        hp.map(lambda x: 12 // x)
        | hp.catch(ZeroDivisionError, handler=lambda e, item: handled.append(item), dead_letter=bad)
        | hp.map(float)
    )
    hp.Stream([1, 0, 3, 0, 4]).into(p.as_target(collect(out)))
    assert out == [12.0, 4.0, 3.0]
    assert handled == [0, 0]
    assert [(d.item, d.stage, type(d.error)) for d in bad] == [
        (0, "map(<lambda>)", ZeroDivisionError),
        (0, "map(<lambda>)", ZeroDivisionError),
    ]


def test_catch_guards_only_the_stages_before_it_and_lets_other_types_through() -> None:
    p = hp.map(boom_at(1)) | hp.catch(Boom) | hp.map(boom_at(2))
    out: list[int] = []
    with pytest.raises(Boom, match="at 2") as exc:
        hp.Stream(range(4)).into(p.as_target(collect(out)))
    assert notes(exc) == ["hosepipe: in stage 3 map(boom), item index 1"]
    assert out == [0]
    with pytest.raises(ValueError, match="bad"):
        hp.Stream(["1", "bad"]).into((hp.map(int) | hp.catch(KeyError)).as_target(collect([])))


def test_catch_guards_step_stages_and_flat_map_generators() -> None:
    def acc(total: int, x: int) -> int:
        if x < 0:
            raise ValueError
        return total + x

    out: list[int] = []
    hp.Stream([1, -1, 2]).into((hp.scan(acc, 0) | hp.catch()).as_target(collect(out)))
    assert out == [1, 3]

    def explode(n: int) -> Iterator[int]:
        yield n
        if n == 2:
            raise ValueError("mid-way")
        yield n * 10

    out2: list[int] = []
    hp.Stream([1, 2, 3]).into((hp.flat_map(explode) | hp.catch()).as_target(collect(out2)))
    assert out2 == [1, 10, 2, 3, 30]


def test_catch_into_a_dead_letter_sink_commits_on_close(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    sink = hp.write_jsonl(path)
    out: list[int] = []
    t = (hp.map(int) | hp.catch(ValueError, dead_letter=sink)).as_target(collect(out))
    for s in ["1", "x", "2"]:
        t.send(s)
    assert not path.exists()  # committed when the target closes
    t.close()
    assert out == [1, 2]
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(r["item"], r["stage"]) for r in records] == [("x", "map(int)")]


def test_a_dead_letter_sink_is_replaced_even_with_no_bad_item(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text("old\n")
    t = (hp.map(int) | hp.catch(ValueError, dead_letter=hp.write_jsonl(path))).as_target(
        collect([])
    )
    t.send("1")
    t.close()
    assert path.read_text() == ""


def test_retry_re_calls_the_function_in_push_mode() -> None:
    calls: list[int] = []

    def flaky(x: int) -> int:
        calls.append(x)
        if calls.count(x) < 2:
            raise ConnectionError
        return x * 10

    out: list[int] = []
    p = hp.map(flaky).retry(ConnectionError, attempts=2, backoff=hp.backoff.none())
    hp.Stream([1, 2]).into(p.as_target(collect(out)))
    assert out == [10, 20]
    assert calls == [1, 1, 2, 2]


# -- Pipeline.as_target: what cannot run in push mode --------------------------------------


async def fetch(x: int) -> int:
    return x


@pytest.mark.parametrize(
    ("pipeline", "message"),
    [
        (
            hp.map(str) | hp.map(len, concurrency=4),
            "as_target(): stage 2 map(len, concurrency=4) cannot run in a push pipeline: it runs "
            "its calls on a pool of workers, which send() cannot wait for. Put it in the stream "
            "that feeds the target instead: stream.map(...).into(target)",
        ),
        (
            hp.flat_map(list, via="process"),
            "as_target(): stage 1 flat_map(list, concurrency=1, via='process') cannot run in a "
            "push pipeline: it runs its calls on a pool of workers, which send() cannot wait "
            "for. Put it in the stream that feeds the target instead: "
            "stream.flat_map(...).into(target)",
        ),
        (
            hp.buffer(10),
            "as_target(): stage 1 buffer(10) cannot run in a push pipeline: it runs everything "
            "before it in a thread of its own. Put it in the stream that feeds the target "
            "instead: stream.buffer(...).into(target)",
        ),
        (
            hp.batch(10, timeout=1.0),
            "as_target(): stage 1 batch(10, timeout=1) cannot run in a push pipeline: its "
            "`timeout` needs a clock, and a push target runs only when it is sent an item "
            "(batch(size) without `timeout` can). Put it in the stream that feeds the target "
            "instead: stream.batch(...).into(target)",
        ),
        (
            hp.throttle(5),
            "as_target(): stage 1 throttle(5) cannot run in a push pipeline: it waits between "
            "items. Put it in the stream that feeds the target instead: "
            "stream.throttle(...).into(target)",
        ),
        (
            hp.chain([1]),
            "as_target(): stage 1 chain([1]) cannot run in a push pipeline: it reads other "
            "iterables, and a push target only receives. Put it in the stream that feeds the "
            "target instead: stream.chain(...).into(target)",
        ),
        (
            hp.zip("ab"),
            "as_target(): stage 1 zip('ab') cannot run in a push pipeline: it reads other "
            "iterables, and a push target only receives. Put it in the stream that feeds the "
            "target instead: stream.zip(...).into(target)",
        ),
        (
            hp.retry(ValueError) | hp.map(str),
            "as_target(): stage 1 retry(ValueError, attempts=3) cannot run in a push pipeline: "
            "no stage comes before it to retry. Put it in the stream that feeds the target "
            "instead: stream.retry(...).into(target)",
        ),
        (
            hp.filter(bool) | hp.map(fetch),
            "as_target(): stage 2 map(fetch) cannot run in a push pipeline: it calls an async "
            "function, which send() cannot await. Put it in the stream that feeds the target "
            "instead: stream.map(...).into(target)",
        ),
    ],
)
def test_as_target_refuses_stages_that_cannot_run_in_push_mode(
    pipeline: hp.Pipeline[Any, Any], message: str
) -> None:
    log = Log()
    sink = record(log)
    with pytest.raises(TypeError, match=f"^{re.escape(message)}$"):
        pipeline.as_target(sink)
    assert log.items == []
    assert not log.closed
    sink.close()


def test_as_target_refuses_a_bad_sink() -> None:
    with pytest.raises(
        TypeError,
        match=r"^as_target\(\): `sink` must be a target: a generator started with "
        r"@hp.coroutine, or an object with send\(\) and close\(\); got <built-in function "
        r"print> \(builtin_function_or_method\)$",
    ):
        hp.map(str).as_target(print)
    with pytest.raises(
        TypeError,
        match=r"^as_target\(\): `sink` is the generator gen_fn\(\), which has not been started",
    ):
        hp.map(str).as_target(gen_fn())


def test_broadcast_and_push_target_types() -> None:
    b = broadcast_to(collect([]))
    assert isinstance(b, Broadcast)
    t = hp.map(str).as_target(b)
    t.close()
    assert b.closed


# -- push and pull agree -------------------------------------------------------------------


@dataclass(frozen=True)
class Stage:
    """One random stage, with a label for Hypothesis' reports; every stage maps ints to ints."""

    label: str
    pipeline: hp.Pipeline[int, int]

    def __repr__(self) -> str:
        return self.label


def _inverse(x: int) -> int:
    return 60 // (x % 5)  # ZeroDivisionError on multiples of 5


def _halves(x: int) -> Iterator[int]:
    yield x // 2
    if x % 7 == 6:
        raise Boom(f"{x}")
    yield x - x // 2


STAGES = st.one_of(
    st.just(Stage("map(x*3 % 11)", hp.map(lambda x: x * 3 % 11))),
    st.just(Stage("map(inverse)", hp.map(_inverse))),
    st.just(Stage("filter(odd)", hp.filter(lambda x: x % 2))),
    st.just(Stage("flat_map(range(x % 3))", hp.flat_map(lambda x: range(x % 3)))),
    st.just(Stage("flat_map(halves)", hp.flat_map(_halves))),
    st.just(Stage("flat_map([x, 12 // (x % 4)])", hp.flat_map(lambda x: [x, 12 // (x % 4)]))),
    st.just(Stage("tap(noop)", hp.tap(lambda x: None))),
    st.just(Stage("observe", hp.observe("o"))),
    st.just(Stage("catch(ZeroDivisionError)", hp.catch(ZeroDivisionError))),
    st.just(Stage("catch(Boom)", hp.catch(Boom))),
    st.integers(0, 4).map(lambda n: Stage(f"take({n})", hp.take(n))),
    st.integers(0, 3).map(lambda n: Stage(f"skip({n})", hp.skip(n))),
    st.integers(0, 6).map(lambda n: Stage(f"take_while(< {n})", hp.take_while(lambda x: x < n))),
    st.integers(0, 6).map(lambda n: Stage(f"drop_while(< {n})", hp.drop_while(lambda x: x < n))),
    st.integers(1, 4).map(lambda n: Stage(f"batch({n}) | map(sum)", hp.batch(n) | hp.map(sum))),
    st.integers(1, 3).map(lambda n: Stage(f"batch({n}) | flatten", hp.batch(n) | hp.flatten())),
    st.tuples(st.integers(1, 3), st.integers(1, 3)).map(
        lambda ns: Stage(
            f"window({ns[0]}, step={ns[1]}) | map(sum)",
            hp.window(ns[0], step=ns[1]) | hp.map(sum),
        )
    ),
    st.just(
        Stage(
            "group_by(x % 3) | map(len)",
            hp.group_by(lambda x: x % 3) | hp.map(lambda kv: len(kv[1])),
        )
    ),
    st.just(Stage("enumerate | map(i + x)", hp.enumerate() | hp.map(lambda ix: ix[0] + ix[1]))),
    st.just(Stage("scan(add, 0)", hp.scan(operator.add, 0))),
    st.just(Stage("scan(acc % 13)", hp.scan(lambda a, x: (a + x) % 13, 1))),
    st.just(Stage("distinct", hp.distinct())),
    st.just(Stage("distinct(key=x % 4)", hp.distinct(key=lambda x: x % 4))),
)


def _chain(stages: list[Stage]) -> hp.Pipeline[int, int]:
    p: hp.Pipeline[int, int] = hp.Pipeline()
    for s in stages:
        p = p | s.pipeline
    return p


def _outcome(run: Callable[[], list[int]]) -> tuple[list[int] | None, Any]:
    try:
        return run(), None
    except Exception as e:
        return None, (type(e), getattr(e, "__notes__", None))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 20), max_size=25), st.lists(STAGES, max_size=6))
def test_push_gives_what_pull_gives(items: list[int], stages: list[Stage]) -> None:
    p = _chain(stages)
    pulled = _outcome(lambda: list(p(items)))

    def push_by_hand() -> list[int]:
        out: list[int] = []
        t = p.as_target(collect(out))
        try:
            for x in items:
                try:
                    t.send(x)
                except StopIteration:
                    break
        finally:
            t.close()
        return out

    assert _outcome(push_by_hand) == pulled

    log = Log()
    pulled_src, pushed_src = CountingSource(items), CountingSource(items)
    _outcome(lambda: list(hp.Stream(pulled_src).pipe(p)))
    pushed = _outcome(lambda: (hp.Stream(pushed_src).into(p.as_target(record(log))), log.items)[1])
    assert pushed == pulled
    assert log.closed
    assert pushed_src.reads == pulled_src.reads  # push reads no further than pull
    assert pushed_src.active == 0


def test_push_functions_are_public() -> None:
    assert hp.coroutine is coroutine
    assert hp.broadcast_to is broadcast_to
    assert {"coroutine", "broadcast_to"} <= set(hp.__all__)
