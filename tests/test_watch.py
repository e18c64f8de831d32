"""Watching a running pipeline: live stats, observe(every=), progress bars, Prometheus."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import textwrap
import threading
import time
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import hosepipe as hp
from hosepipe.testing import assert_no_leaks


def _gated(n_before: int, gate: threading.Event, n_after: int = 10) -> Iterator[int]:
    """A source that yields *n_before* items, then waits for *gate*, then yields more."""
    yield from range(n_before)
    gate.wait(10)
    yield from range(n_before, n_before + n_after)


def _wait_for(cond: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if cond():  # type: ignore[operator]
                return
        except hp.HosepipeError:  # the run has not started yet
            pass
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.01)


def _run_in_thread(stream: hp.Stream[object]) -> tuple[threading.Thread, list[hp.RunStats]]:
    done: list[hp.RunStats] = []
    t = threading.Thread(target=lambda: done.append(stream.run()))
    t.start()
    return t, done


def _agated(
    n_before: int, gate: asyncio.Event, n_after: int = 10
) -> Callable[[], AsyncIterator[int]]:
    """An async source of *n_before* items, then a wait for *gate*, then *n_after* more."""

    async def source() -> AsyncIterator[int]:
        for i in range(n_before):
            yield i
        await gate.wait()
        for i in range(n_before, n_before + n_after):
            yield i

    return source


def _arange(n: int) -> Callable[[], AsyncIterator[int]]:
    async def source() -> AsyncIterator[int]:
        for i in range(n):
            yield i

    return source


async def _await_for(cond: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll *cond* on the running loop (the run goes on between polls) until it holds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if cond():
                return
        except hp.HosepipeError:  # the run has not started yet
            pass
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.01)


def _flows(stats: hp.RunStats) -> list[tuple[int, int]]:
    return [(st.items_in, st.items_out) for st in stats.stages]


# -- live stats -------------------------------------------------------------------------------


def test_stream_stats_before_any_run_says_so() -> None:
    with pytest.raises(hp.HosepipeError, match="has not run yet"):
        hp.Stream(range(3)).stats()


def test_fused_counts_are_live_while_the_run_waits() -> None:
    gate = threading.Event()
    stream = hp.Stream(lambda: _gated(1000, gate)).map(str).filter(lambda s: s.endswith("7"))
    t, done = _run_in_thread(stream)
    try:
        # the loop publishes after each block (at most 255 items), so while the source
        # waits after 1000 items, all but the current block's show
        _wait_for(lambda: stream.stats().items_in >= 1000 - 255)
        live = stream.stats()
        assert not done
        n = live.items_in
        assert 1000 - 255 <= n <= 1000
        assert live.stage("map(str)").items_out == n
        sevens = sum(1 for i in range(n) if str(i).endswith("7"))
        assert live.stage("filter(<lambda>)").items_out == sevens
        assert live.stage("filter(<lambda>)").drop_rate == pytest.approx(1 - sevens / n)
        assert live.wall_time > 0
    finally:
        gate.set()
        t.join(10)
    final = done[0]
    assert final.items_in == 1010
    assert stream.stats().items_in == 1010
    assert final.stage("filter(<lambda>)").items_out == 101


def test_slow_items_are_published_without_waiting_for_a_full_block() -> None:
    gate = threading.Event()

    def slow(x: int) -> int:
        time.sleep(0.02)
        return x

    stream = hp.Stream(lambda: _gated(12, gate)).map(slow)
    t, done = _run_in_thread(stream)
    try:  # 12 items of 20 ms: far fewer than a block of 256, yet all of them show
        _wait_for(lambda: stream.stats().stage("map(slow)").items_out == 12)
        assert not done
    finally:
        gate.set()
        t.join(10)


def test_live_counts_of_thread_map_buffer_and_queue_depth() -> None:
    gate = threading.Event()
    release = threading.Event()

    def held(x: int) -> int:
        if x >= 20:
            release.wait(10)
        return x

    stream = hp.Stream(lambda: _gated(40, gate)).map(held, concurrency=2).buffer(4)
    with stream.iterate() as it:
        first = [next(it) for _ in range(5)]
        _wait_for(lambda: stream.stats().stage("buffer(4)").queue.depth == 4)  # type: ignore[union-attr]
        live = stream.stats()
        pool = live.stages[1]
        assert pool.items_out >= 9
        assert pool.items_in >= pool.items_out
        assert pool.queue is not None
        assert pool.queue.capacity == 4
        buffer = live.stage("buffer(4)")
        assert buffer.items_out == 5
        assert buffer.queue is not None
        assert buffer.queue.peak == 4
        release.set()
        gate.set()
    assert first == [0, 1, 2, 3, 4]
    assert_no_leaks(timeout=2.0)


def test_stats_from_many_threads_while_running_are_consistent() -> None:
    stream = hp.Stream(range(200_000)).map(abs).filter(lambda x: x % 3)
    seen: list[tuple[int, int]] = []
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            try:
                s = stream.stats()
            except hp.HosepipeError:
                continue
            seen.append((s.stages[1].items_in, s.stages[2].items_out))

    pollers = [threading.Thread(target=poll) for _ in range(2)]
    for p in pollers:
        p.start()
    stats = stream.run()
    stop.set()
    for p in pollers:
        p.join()
    assert stats.stages[2].items_out == sum(1 for x in range(200_000) if x % 3)
    for n_in, n_out in seen:  # every snapshot is a consistent state of the loop
        assert 0 <= n_out <= n_in <= 200_000


async def _double(x: int) -> int:
    await asyncio.sleep(0)
    return x * 2


def _twice(x: int) -> int:
    return x * 2


@pytest.mark.parametrize("fn", [_twice, _double], ids=["plain", "async_def"])
def test_async_fused_counts_are_live_while_the_source_waits(fn: Any) -> None:
    async def main() -> None:
        gate = asyncio.Event()
        stream = hp.Stream(_agated(30, gate)).map(fn).filter(lambda x: x % 3 == 0)
        task = asyncio.ensure_future(stream.ato_list())
        try:  # the source waits after 30 items: every count so far shows, exactly
            await _await_for(lambda: stream.stats().items_in == 30)
            live = stream.stats()
            assert not task.done()
            assert _flows(live) == [(0, 30), (30, 30), (30, 10)]
        finally:
            gate.set()
        got = await task
        assert got == [x * 2 for x in range(40) if x * 2 % 3 == 0]
        assert _flows(stream.stats()) == [(0, 40), (40, 40), (40, 14)]

    asyncio.run(main())


def test_async_def_stage_shows_its_item_as_in_but_not_out_while_it_awaits() -> None:
    async def main() -> None:
        release = asyncio.Event()

        async def held(x: int) -> int:
            if x == 10:
                await release.wait()
            return x

        stream = hp.Stream(_arange(20)).map(held).filter(lambda x: x % 2)
        async with stream.aiterate() as it:
            got = [await it.__anext__() for _ in range(5)]
            task = asyncio.ensure_future(it.__anext__())  # item 10 waits in held
            try:
                await _await_for(lambda: stream.stats().items_in == 11)
                live = stream.stats()
                assert not task.done()
                assert _flows(live) == [(0, 11), (11, 10), (10, 5)]
            finally:
                release.set()
            got.append(await task)
        assert got == [1, 3, 5, 7, 9, 11]
        assert _flows(stream.stats()) == [(0, 12), (12, 12), (12, 6)]

    asyncio.run(main())


async def _apair(x: int) -> tuple[int, int]:
    await asyncio.sleep(0)
    return x, x


def _pair(x: int) -> tuple[int, int]:
    return x, x


@pytest.mark.parametrize("fn", [_pair, _apair], ids=["plain", "async_def"])
def test_async_flat_map_and_stateful_stages_count_live(fn: Any) -> None:
    async def main() -> None:
        gate = asyncio.Event()
        stream = hp.Stream(_agated(10, gate)).flat_map(fn).batch(4).take(100)
        task = asyncio.ensure_future(stream.ato_list())
        try:
            await _await_for(lambda: _flows(stream.stats())[:2] == [(0, 10), (10, 20)])
            assert not task.done()
            assert _flows(stream.stats()) == [(0, 10), (10, 20), (20, 5), (5, 5)]
        finally:
            gate.set()
        assert len(await task) == 10
        assert _flows(stream.stats()) == [(0, 20), (20, 40), (40, 10), (10, 10)]

    asyncio.run(main())


def test_async_stats_from_another_thread_while_running_are_consistent() -> None:
    stream = hp.Stream(_arange(100_000)).map(abs).filter(lambda x: x % 3)
    seen: list[tuple[int, int, int]] = []
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            try:
                s = stream.stats()
            except hp.HosepipeError:
                continue
            seen.append((s.stages[0].items_out, s.stages[1].items_in, s.stages[2].items_out))

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        stats = stream.run()  # the async driver, on a loop of its own in this thread
    finally:
        stop.set()
        poller.join()
    assert stats.stages[2].items_out == sum(1 for x in range(100_000) if x % 3)
    for n_read, n_in, n_out in seen:  # every snapshot is a consistent state of the layer
        assert 0 <= n_out <= n_in == n_read <= 100_000


def test_async_concurrent_map_counts_the_wait_on_a_full_window() -> None:
    async def work(x: int) -> int:
        await asyncio.sleep(0.001)
        return x

    async def main() -> hp.RunStats:
        stream = hp.Stream(_arange(20)).map(work, concurrency=2)
        async with stream.aiterate() as it:
            got = []
            async for x in it:  # a slow consumer
                got.append(x)
                await asyncio.sleep(0.02)
                live = it.stats().stage("map(work, concurrency=2)")
                assert live.items_out == len(got)
                assert live.items_in >= len(got)
        assert got == list(range(20))
        return it.stats()

    stats = asyncio.run(main())
    stage = stats.stage("map(work, concurrency=2)")
    assert (stage.items_in, stage.items_out) == (20, 20)
    assert stage.queue is not None
    assert stage.queue.send_wait > 0
    assert stage.queue.capacity == 4


def test_stage_stats_rates_and_json_round_trip() -> None:
    stats = hp.Stream(range(100)).map(int).catch(ValueError).filter(lambda x: x < 10).run()
    f = stats.stage("filter(<lambda>)")
    assert (f.items_in, f.items_out, f.dropped, f.drop_rate) == (100, 10, 90, 0.9)
    assert f.items_per_second == pytest.approx(10 / stats.wall_time)
    data = json.loads(json.dumps(stats.to_dict()))
    assert data["stages"][3]["drop_rate"] == 0.9
    back = hp.RunStats.from_dict(data)
    assert str(back) == str(stats)
    assert back.to_dict() == stats.to_dict()
    with pytest.raises(ValueError, match="not a RunStats dict"):
        hp.RunStats.from_dict({"stages": [{"label": "x"}], "wall_time": 1})


def test_table_shows_queue_peak_and_wait_when_a_stage_has_a_queue() -> None:
    table = str(hp.Stream(range(50)).buffer(8).run())
    head = table.splitlines()[0].split()
    assert head == ["stage", "in", "out", "errors", "time*", "items/s", "queue", "wait"]
    row = table.splitlines()[2].split()
    assert row[:2] == ["1", "buffer(8)"]
    assert row[-3].endswith("/8")


# -- observe(every=) ---------------------------------------------------------------------------


def test_observe_every_n_items_logs_exactly_at_each_multiple() -> None:
    lines: list[str] = []
    stats = hp.Stream(range(25)).observe("n", every=10, log=lines.append).run()
    assert [line.split(" items")[0] for line in lines] == ["observe 'n': 10", "observe 'n': 20"]
    assert stats.stage("n").items_out == 25
    # each run counts afresh
    lines.clear()
    hp.Stream(range(10)).observe("n", every=10, log=lines.append).run()
    assert len(lines) == 1


def test_observe_every_items_in_async_streams() -> None:
    import asyncio

    async def source() -> object:
        for i in range(7):
            yield i

    lines: list[str] = []
    got = asyncio.run(hp.Stream(source).observe("a", every=3, log=lines.append).ato_list())
    assert got == list(range(7))
    assert [line.split(" items")[0] for line in lines] == ["observe 'a': 3", "observe 'a': 6"]


def test_observe_every_seconds_logs_through_a_logger(caplog: pytest.LogCaptureFixture) -> None:
    def slow(x: int) -> int:
        time.sleep(0.01)
        return x

    with caplog.at_level(logging.INFO, logger="hosepipe"):
        hp.Stream(range(30)).map(slow).observe("slow", every=0.05).run()
    messages = [r.getMessage() for r in caplog.records if r.name == "hosepipe"]
    assert len(messages) >= 2, messages  # periodic lines, then the last
    assert messages[-1].startswith("observe 'slow': done, 30 items in ")
    assert all(m.startswith("observe 'slow': ") for m in messages)
    assert_no_leaks(timeout=1.0)  # the watch thread is gone


def test_observe_logs_stopped_when_the_consumer_breaks() -> None:
    lines: list[str] = []
    with hp.Stream(range(100)).observe("x", every=60.0, log=lines.append).iterate() as it:
        next(it)
    assert lines == [lines[-1]]
    assert lines[-1].startswith("observe 'x': stopped, ")
    assert_no_leaks(timeout=1.0)


def _threads_of_ticks(stream: hp.Stream[Any]) -> set[str]:
    """The names of the threads that logged the lines of *stream*'s observe point."""
    names: set[str] = set()
    stream.observe("x", every=0.02, log=lambda _: names.add(threading.current_thread().name)).run()
    return names


def test_while_items_flow_the_run_s_own_thread_ticks_the_watchers() -> None:
    # a fused loop pokes the watch between blocks: no GIL hand-over to the watch thread
    names = _threads_of_ticks(hp.Stream(range(2_000_000)).map(lambda x: x + 1))
    assert threading.current_thread().name in names
    c_path = _threads_of_ticks(hp.Stream(range(2_000_000)).map(abs))  # the C iterators' path
    assert threading.current_thread().name in c_path


def test_a_stalled_run_is_ticked_by_the_watch_thread() -> None:
    def stalls() -> Iterator[int]:
        yield 1
        time.sleep(1.5)  # longer than watch.STALL: the loop reaches no block end meanwhile
        yield 2

    names = _threads_of_ticks(hp.Stream(stalls).map(lambda x: x + 1))
    assert "hosepipe watch" in names


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"every": 0}, ValueError, "`every` must be >= 1"),
        ({"every": -1.0}, ValueError, "`every` seconds must be > 0"),
        ({"every": "5s"}, TypeError, "`every` must be an int .items., a float or a timedelta"),
        ({"every": True}, TypeError, "`every` must be an int"),
        ({"log": 3}, TypeError, "`log` must be a logging.Logger or a callable"),
    ],
)
def test_observe_checks_its_arguments(kwargs: dict[str, object], error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        hp.Stream(range(3)).observe("x", **kwargs)  # type: ignore[arg-type]


# -- progress bars ---------------------------------------------------------------------------


def test_progress_forced_draws_a_bar_with_the_total(capfd: pytest.CaptureFixture[str]) -> None:
    assert hp.Stream(range(50)).progress(total=50, desc="items", force=True).count() == 50
    err = capfd.readouterr().err
    assert "items: 100%" in err
    assert "50/50" in err
    assert_no_leaks(timeout=1.0)


def test_progress_is_off_when_stderr_is_not_a_terminal(capfd: pytest.CaptureFixture[str]) -> None:
    hp.Stream(range(50)).progress(total=50).run()
    hp.Stream(range(50)).progress(force=False).run()
    assert capfd.readouterr().err == ""


def test_progress_bars_for_observed_points_and_bytes_of_files(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "log.txt"
    path.write_text("".join(f"line {i}\n" for i in range(20_000)))
    size = path.stat().st_size
    stream = hp.read_lines(path).filter(lambda s: s.endswith("7")).observe("sevens")
    assert stream.progress(force=True, desc="log").count() == 2000
    err = capfd.readouterr().err
    assert "log: 100%" in err  # bytes read of the file's size
    import re

    last = [seg for seg in re.split(r"[\r\n]", err) if seg.startswith("log:")][-1]
    done, total = re.search(r"\| *(\S+)/(\S+) \[", last).groups()  # type: ignore[union-attr]
    assert done == total == f"{size / 1024:.0f}k"  # in KiB, as tqdm scales bytes
    assert "sevens: 2000it" in err


def test_bytes_read_follows_the_reader(tmp_path: Path) -> None:
    from hosepipe.sources._files import bytes_read

    paths = []
    for i in range(2):
        p = tmp_path / f"f{i}.txt"
        p.write_bytes(b"x" * 99 + b"\n" + b"y\n" * 100_000)
        paths.append(p)
    reader = hp.read_lines(paths)._source.obj
    progress = bytes_read(reader)
    assert progress is not None
    total = sum(p.stat().st_size for p in paths)
    assert progress() == (0, total)
    with hp.read_lines(paths).iterate() as it:
        next(it)
        first, _ = progress()
        assert 0 < first < total
        for _ in range(150_000):
            next(it)
        second, _ = progress()
        assert paths[0].stat().st_size < second <= total
    assert bytes_read(hp.Stream([1])._source.obj) is None


def test_progress_under_a_real_terminal(tmp_path: Path) -> None:
    import pty

    script = tmp_path / "bar.py"
    script.write_text(
        textwrap.dedent(
            """
            import time, hosepipe as hp
            def slow(x):
                time.sleep(0.005)
                return x
            print(hp.Stream(range(60)).map(slow).progress(total=60, desc="bar").count())
            """
        )
    )
    pid, fd = pty.fork()
    if pid == 0:  # the child: stdin/stdout/stderr are the terminal, 100 columns wide
        import fcntl
        import struct
        import termios

        fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
        os.execv(sys.executable, [sys.executable, str(script)])
    out = b""
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    text = out.decode(errors="replace")
    assert os.waitstatus_to_exitcode(status) == 0, text
    assert "bar: 100%" in text
    assert "60/60" in text
    assert "60" in text.splitlines()[-1]


def test_progress_checks_its_arguments() -> None:
    with pytest.raises(ValueError, match="`total` must be >= 0"):
        hp.Stream(range(3)).progress(total=-1)
    with pytest.raises(TypeError, match="`desc` must be a str"):
        hp.Stream(range(3)).progress(desc=3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="`force` must be None, True or False"):
        hp.Stream(range(3)).progress(force=1)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("module", "code", "extra"),
    [
        ("tqdm", "hp.Stream(range(3)).progress().run()", "progress"),
        (
            "prometheus_client",
            "hp.metrics.prometheus(hp.Stream(range(3)))",
            "prometheus",
        ),
    ],
)
def test_missing_extras_name_what_to_install(module: str, code: str, extra: str) -> None:
    program = f"import sys; sys.modules[{module!r}] = None\nimport hosepipe as hp\n{code}\n"
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True)
    assert done.returncode == 1
    assert f"pip install 'hosepipe[{extra}]'" in done.stderr


# -- Prometheus -------------------------------------------------------------------------------


def _scrape(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        text = r.read().decode()
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


def test_prometheus_endpoint_serves_live_and_final_metrics() -> None:
    prometheus_client = pytest.importorskip("prometheus_client")
    registry = prometheus_client.CollectorRegistry()
    server, thread = prometheus_client.start_http_server(0, addr="127.0.0.1", registry=registry)
    port = server.server_port
    gate = threading.Event()

    def parse(x: int) -> int:
        if x % 10 == 3:
            raise ValueError(x)
        return x

    stream = (
        hp.Stream(lambda: _gated(1000, gate))
        .map(parse)
        .catch(ValueError)
        .buffer(16)
        .observe("parsed")
    )
    exporter = hp.metrics.prometheus(stream, registry=registry, pipeline="demo")
    try:
        assert (
            _scrape(port).get(
                'hosepipe_items_out_total{pipeline="demo",position="1",stage="map(parse)"}'
            )
            is None
        )
        t, done = _run_in_thread(stream)
        key = 'pipeline="demo",position="{}",stage="{}"'
        map_in = f"hosepipe_items_in_total{{{key.format(1, 'map(parse)')}}}"
        _wait_for(lambda: _scrape(port).get(map_in, 0) >= 1000 - 255)  # one block may lag
        live = _scrape(port)
        assert not done
        n = live[map_in]
        errors = live[f'hosepipe_errors_total{{{key.format(1, "map(parse)")},type="ValueError"}}']
        # errors are counted as they happen, items after each block: errors may be ahead
        assert sum(1 for i in range(int(n)) if i % 10 == 3) <= errors <= 100
        assert live[f"hosepipe_queue_capacity{{{key.format(3, 'buffer(16)')}}}"] == 16
        assert f"hosepipe_queue_depth{{{key.format(3, 'buffer(16)')}}}" in live
        gate.set()
        t.join(10)
        final = _scrape(port)
        observed = key.format(4, "observe('parsed')")
        assert final[f"hosepipe_items_out_total{{{observed}}}"] == 909
        source = [
            v
            for k, v in final.items()
            if k.startswith("hosepipe_items_out_total{") and 'position="0"' in k
        ]
        assert source == [1010]
        count = final[f"hosepipe_stage_latency_seconds_count{{{key.format(1, 'map(parse)')}}}"]
        inf = final[
            f'hosepipe_stage_latency_seconds_bucket{{le="+Inf",{key.format(1, "map(parse)")}}}'
        ]
        assert count == inf
        assert count >= 5
        assert final['hosepipe_run_seconds{pipeline="demo"}'] > 0
    finally:
        exporter.close()
        gate.set()
        server.shutdown()
        server.server_close()
        thread.join(5)
    assert not [k for k in _scrape_registry(registry) if 'pipeline="demo"' in k]


def _scrape_registry(registry: object) -> list[str]:
    from prometheus_client import generate_latest

    return generate_latest(registry).decode().splitlines()  # type: ignore[arg-type]


def test_prometheus_two_streams_share_one_family_and_names_must_differ() -> None:
    prometheus_client = pytest.importorskip("prometheus_client")
    registry = prometheus_client.CollectorRegistry()
    a, b = hp.Stream(range(3)), hp.Stream(range(5))
    hp.metrics.prometheus(a, registry=registry, pipeline="a")
    hp.metrics.prometheus(b, registry=registry, pipeline="b")
    with pytest.raises(ValueError, match="already exported as pipeline='a'"):
        hp.metrics.prometheus(hp.Stream([]), registry=registry, pipeline="a")
    a.run()
    b.run()
    lines = _scrape_registry(registry)
    assert sum(1 for line in lines if line.startswith("# TYPE hosepipe_items_out_total ")) == 1
    outs = [line for line in lines if line.startswith("hosepipe_items_out_total")]
    assert 'hosepipe_items_out_total{pipeline="a",position="0",stage="range(0, 3)"} 3.0' in outs
    assert 'hosepipe_items_out_total{pipeline="b",position="0",stage="range(0, 5)"} 5.0' in outs


def test_runs_keep_latency_samples_only_for_exported_streams() -> None:
    plain = hp.Stream(range(10))
    plain.run()
    assert plain._last.latency is None
