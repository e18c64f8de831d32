"""Checkpoint and resume: killed jobs restart where they stopped, exactly once.

The main tests run a job in a child process and SIGKILL it (real kills: the job kills
itself at an item hypothesis chose, or the test kills it after a delay hypothesis chose),
then resume it, repeatedly; the output must equal an uninterrupted run's, byte for byte
(for PostgreSQL: the same rows, none twice, none missing). The PostgreSQL test skips when
no server answers, unless ``CI`` is set (``test_sql``'s fixtures).
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hosepipe as hp
import test_http
import test_sql
from hosepipe._checkpoint import decode, encode

pg_url = test_sql.pg_url
pg = test_sql.pg
_http_server = test_http._http_server
server = test_http.server

ROWS = 1500

JOB = """
import os, signal, sys, time
import hosepipe as hp

kind, src, out, ckpt, kill_at = sys.argv[1:6]
kill_at = int(kill_at)

def work(rec):
    if int(rec["id"]) == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)  # a real kill, at an item the test chose
    if kill_at < 0:
        time.sleep(0.0002)  # killed from outside: slow enough to be hit mid-run
    return {**rec, "double": int(rec["id"]) * 2}

print("ready", flush=True)
if kind == "jsonl":
    hp.read_csv(src).map(work).to(hp.write_jsonl(out), checkpoint=ckpt, every=45)
elif kind == "threads":
    hp.read_csv(src).map(work, concurrency=4).to(hp.write_jsonl(out), checkpoint=ckpt, every=45)
elif kind == "ahttp":  # an async source on the running loop, into ato()
    import asyncio
    from hosepipe.http import paginate

    def kill(n):
        if n == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        return n

    job = paginate(sys.argv[6], async_=True).map(kill)
    asyncio.run(job.ato(hp.write_jsonl(out), checkpoint=ckpt, every=7))
else:
    url, table = sys.argv[6:8]
    sink = hp.to_sql(url, table, columns=["id", "name", "double"], batch_size=30)
    (
        hp.read_csv(src)
        .map(work)
        .batch(40)
        .flatten()
        .map(lambda r: (int(r["id"]), r["name"], r["double"]))
        .to(sink, checkpoint=ckpt, every=45)
    )
"""


def work(rec: dict[str, Any]) -> dict[str, Any]:
    return {**rec, "double": int(rec["id"]) * 2}


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The job script, a CSV input (quoted fields across lines, non-ASCII text) and the
    output of an uninterrupted run."""
    folder = tmp_path_factory.mktemp("ckpt")
    src = folder / "in.csv"
    with open(src, "w", encoding="utf-8", newline="") as f:
        f.write("id,name\n")
        for i in range(ROWS):
            name = f'"line {i}\nwith ""quotes"""' if i % 11 == 0 else f"nom-{i}-é"
            f.write(f"{i},{name}\r\n" if i % 13 == 0 else f"{i},{name}\n")
    job = folder / "job.py"
    job.write_text(JOB)
    ref = folder / "ref.jsonl"
    hp.read_csv(src).map(work).to(hp.write_jsonl(ref))
    return {"src": src, "job": job, "ref": ref}


def run_job(
    files: dict[str, Path], args: list[str], kill_at: int = -1, delay: float | None = None
) -> int:
    """Run the job once; kill it *delay* seconds after it is ready. Its exit code."""
    cmd = [sys.executable, str(files["job"]), args[0], str(files["src"]), *args[1:3]]
    cmd += [str(kill_at), *args[3:]]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"ready\n"
        if delay is not None:
            time.sleep(delay)
            proc.send_signal(signal.SIGKILL)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode in (0, -signal.SIGKILL), err.decode()
        return proc.returncode


kills = st.lists(st.integers(0, ROWS - 1), min_size=1, max_size=4, unique=True).map(sorted)
delays = st.lists(st.floats(0.0, 0.6), min_size=1, max_size=3)
few = settings(
    max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@few
@given(kill_at=kills)
def test_killed_at_items_and_resumed_jsonl(
    files: dict[str, Path], tmp_path_factory: pytest.TempPathFactory, kill_at: list[int]
) -> None:
    tmp = tmp_path_factory.mktemp("run")
    codes = []
    out, ckpt = tmp / "out.jsonl", tmp / "job.ckpt"
    args = ["jsonl", str(out), str(ckpt)]
    for k in kill_at:
        codes.append(run_job(files, args, kill_at=k))
    assert codes[0] == -signal.SIGKILL  # the first run always dies at its item
    assert not out.exists()  # the target appears only when the job ends
    assert run_job(files, args) == 0
    assert out.read_bytes() == files["ref"].read_bytes()
    assert sorted(p.name for p in tmp.iterdir()) == ["job.ckpt", "out.jsonl"]
    assert decode(ckpt.read_bytes(), str(ckpt))["finished"] is True


@few
@given(kill_at=kills)
def test_killed_and_resumed_with_a_concurrent_map(
    files: dict[str, Path], tmp_path_factory: pytest.TempPathFactory, kill_at: list[int]
) -> None:
    tmp = tmp_path_factory.mktemp("run")
    out, ckpt = tmp / "out.jsonl", tmp / "job.ckpt"
    args = ["threads", str(out), str(ckpt)]
    codes = [run_job(files, args, kill_at=k) for k in kill_at]
    assert codes[0] == -signal.SIGKILL
    assert run_job(files, args) == 0
    assert out.read_bytes() == files["ref"].read_bytes()


def _decompressed(path: Path) -> bytes:
    """The bytes a compressed file decodes to: each member (frame) in turn."""
    if path.suffix == ".zst":
        import zstandard

        reader = zstandard.ZstdDecompressor().stream_reader(
            path.read_bytes(), read_across_frames=True
        )
        return bytes(reader.read())
    return gzip.decompress(path.read_bytes())


@few
@given(kill_at=kills, suffix=st.sampled_from([".gz", ".zst"]))
def test_killed_and_resumed_into_a_compressed_file(
    files: dict[str, Path],
    tmp_path_factory: pytest.TempPathFactory,
    kill_at: list[int],
    suffix: str,
) -> None:
    tmp = tmp_path_factory.mktemp("run")
    out, ckpt = tmp / f"out.jsonl{suffix}", tmp / "job.ckpt"
    args = ["jsonl", str(out), str(ckpt)]
    codes = [run_job(files, args, kill_at=k) for k in kill_at]
    assert codes[0] == -signal.SIGKILL
    assert not out.exists()
    assert run_job(files, args) == 0
    assert _decompressed(out) == files["ref"].read_bytes()  # a member (frame) per commit
    assert hp.read_lines(out).to_list() == files["ref"].read_text().splitlines()


@few
@given(kill_at=kills)
def test_killed_and_resumed_async_paginate_into_ato(
    files: dict[str, Path],
    tmp_path_factory: pytest.TempPathFactory,
    server: test_http.Server,
    kill_at: list[int],
) -> None:
    tmp = tmp_path_factory.mktemp("run")
    out, ckpt = tmp / "out.jsonl", tmp / "job.ckpt"
    args = ["ahttp", str(out), str(ckpt), server.url(f"/link?size=7&n={ROWS}")]
    codes = [run_job(files, args, kill_at=k) for k in kill_at]
    assert codes[0] == -signal.SIGKILL
    assert run_job(files, args) == 0
    assert out.read_text() == "".join(f"{i}\n" for i in range(ROWS))


@few
@given(delay=delays)
def test_killed_at_random_times_and_resumed_jsonl(
    files: dict[str, Path], tmp_path_factory: pytest.TempPathFactory, delay: list[float]
) -> None:
    tmp = tmp_path_factory.mktemp("run")
    out, ckpt = tmp / "out.jsonl", tmp / "job.ckpt"
    args = ["jsonl", str(out), str(ckpt)]
    for d in delay:
        run_job(files, args, delay=d)
    assert run_job(files, args) == 0  # the last run, not killed, finishes the job
    assert out.read_bytes() == files["ref"].read_bytes()
    assert [p.name for p in tmp.iterdir()] == [] or sorted(p.name for p in tmp.iterdir()) == [
        "job.ckpt",
        "out.jsonl",
    ]


@few
@given(kill_at=kills)
def test_killed_and_resumed_file_batch_postgres(
    files: dict[str, Path], pg: test_sql.PG, kill_at: list[int]
) -> None:
    table = f"{pg.schema}.rows_{len(kill_at)}_{kill_at[0]}"
    pg.conn.execute(f"DROP TABLE IF EXISTS {table}")
    pg.conn.execute(f"CREATE TABLE {table} (id bigint, name text, double bigint)")
    ckpt = files["src"].parent / f"{pg.schema}-{kill_at[0]}-{len(kill_at)}.ckpt"
    ckpt.unlink(missing_ok=True)
    args = ["pg", "-", str(ckpt), pg.url, table]
    try:
        codes = [run_job(files, args, kill_at=k) for k in kill_at]
        assert codes[0] == -signal.SIGKILL
        assert run_job(files, args) == 0
        rows = pg.rows(table)
        expected = [(int(r["id"]), r["name"], int(r["id"]) * 2) for r in hp.read_csv(files["src"])]
        assert rows == sorted(expected)  # none missing, none twice
    finally:
        key = _job_key(ckpt)
        pg.conn.execute("DELETE FROM hosepipe_checkpoints WHERE job = %s", (key,))
        ckpt.unlink(missing_ok=True)


def _job_key(path: Path) -> str:
    from hosepipe._checkpoint import _job_key as key

    return key(str(path))


# -- in-process: what is refused, and errors -------------------------------------------------


class Numbers:
    """A seekable source of its own (the documented protocol)."""

    def __init__(self, n: int) -> None:
        self.n, self.start, self.at = n, 0, 0

    def seek(self, pos: int) -> None:
        self.start = pos

    def position(self) -> int:
        return self.at

    def __iter__(self) -> Iterator[int]:
        self.at = self.start
        while self.at < self.n:
            self.at += 1
            yield self.at - 1


class Boom(Exception):
    pass


def fail_at(n: int) -> Any:
    def check(x: Any) -> Any:
        if x == n:
            raise Boom(n)
        return x

    return check


def test_a_users_seekable_source_resumes(tmp_path: Path) -> None:
    out, ckpt = tmp_path / "out.jsonl", tmp_path / "job.ckpt"
    with pytest.raises(Boom):
        hp.Stream(Numbers(30)).map(fail_at(17)).to(hp.write_jsonl(out), checkpoint=ckpt, every=5)
    assert decode(ckpt.read_bytes(), "x")["position"] == 15
    assert (
        hp.Stream(Numbers(30))
        .map(fail_at(-1))
        .to(hp.write_jsonl(out), checkpoint=ckpt, every=5, force=True)
        == 30
    )
    assert out.read_text() == "".join(f"{i}\n" for i in range(30))


@pytest.mark.parametrize(
    ("stage", "expected"),
    [
        (lambda s: s.batch(4), [[i, i + 1, i + 2, i + 3] for i in range(0, 28, 4)] + [[28, 29]]),
        (lambda s: s.window(3), [[i, i + 1, i + 2] for i in range(28)]),
        (lambda s: s.window(3, step=2), [[i, i + 1, i + 2] for i in range(0, 28, 2)]),
        (
            lambda s: s.group_by(lambda x: x // 7),
            [[k, list(range(7 * k, min(30, 7 * k + 7)))] for k in range(5)],
        ),
        (lambda s: s.map(lambda x: x % 9).distinct(), list(range(9))),
    ],
    ids=["batch", "window1", "window2", "group_by", "distinct"],
)
def test_stateful_stages_resume_with_their_state(
    tmp_path: Path, stage: Any, expected: list[Any]
) -> None:
    out, ckpt = tmp_path / "out.jsonl", tmp_path / "job.ckpt"
    for n in (5, 13, 14, 22, -1):  # fails at item n, then resumes past it
        s = stage(hp.Stream(Numbers(30)).map(fail_at(n)))
        with contextlib.suppress(Boom):
            s.to(hp.write_jsonl(out), checkpoint=ckpt, every=3, force=True)
    assert [json.loads(line) for line in out.read_text().splitlines()] == expected


def test_a_changed_pipeline_is_refused_and_force_resumes(tmp_path: Path) -> None:
    out, ckpt = tmp_path / "out.jsonl", tmp_path / "job.ckpt"

    def double(x: int) -> int:
        if x == 12:
            raise Boom
        return 2 * x

    def triple(x: int) -> int:
        return 3 * x

    with pytest.raises(Boom):
        hp.Stream(Numbers(20)).map(double).to(hp.write_jsonl(out), checkpoint=ckpt, every=5)
    with pytest.raises(hp.CheckpointError) as e:
        hp.Stream(Numbers(20)).map(triple).to(hp.write_jsonl(out), checkpoint=ckpt, every=5)
    assert str(e.value) == (
        f"the checkpoint {str(ckpt)!r} was written by a different pipeline:\n"
        "  checkpoint: Stream(<test_checkpoint.Numbers>).map(double).to(write_jsonl("
        + repr(str(out))
        + "))\n"
        "  this run:   Stream(<test_checkpoint.Numbers>).map(triple).to(write_jsonl("
        + repr(str(out))
        + "))\n"
        "pass force=True (--force) to resume it anyway, or restart=True (--restart) to start over"
    )
    hp.Stream(Numbers(20)).map(triple).to(hp.write_jsonl(out), checkpoint=ckpt, force=True)
    assert out.read_text().split() == [str(2 * i) for i in range(10)] + [
        str(3 * i) for i in range(10, 20)
    ]


def test_restart_starts_over(tmp_path: Path) -> None:
    out, ckpt = tmp_path / "out.jsonl", tmp_path / "job.ckpt"
    with pytest.raises(Boom):
        hp.Stream(Numbers(20)).map(fail_at(12)).to(hp.write_jsonl(out), checkpoint=ckpt, every=5)
    assert hp.Stream(Numbers(3)).to(hp.write_jsonl(out), checkpoint=ckpt, restart=True) == 3
    assert out.read_text() == "0\n1\n2\n"


def test_a_finished_job_is_a_no_op_with_a_message(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    out, ckpt = tmp_path / "out.jsonl", tmp_path / "job.ckpt"
    calls = []
    s = hp.Stream(Numbers(4)).tap(calls.append)
    assert s.to(hp.write_jsonl(out), checkpoint=ckpt) == 4
    out.write_text("changed by hand\n")
    with caplog.at_level(logging.WARNING, logger="hosepipe"):
        assert s.to(hp.write_jsonl(out), checkpoint=ckpt) == 4
    assert calls == [0, 1, 2, 3]  # the second call read nothing
    assert out.read_text() == "changed by hand\n"
    assert caplog.messages == [
        f"hosepipe: the checkpoint {ckpt} says this job finished; nothing to do "
        "(pass restart=True, or --restart, to run it again)"
    ]
    assert s.to(hp.write_jsonl(out), checkpoint=ckpt, restart=True) == 4
    assert out.read_text() == "0\n1\n2\n3\n"


def _checkpoint_of(tmp_path: Path) -> Path:
    out, ckpt = tmp_path / "out.jsonl", tmp_path / "job.ckpt"
    with pytest.raises(Boom):
        hp.Stream(Numbers(20)).map(fail_at(12)).to(hp.write_jsonl(out), checkpoint=ckpt, every=5)
    return ckpt


def _resume(tmp_path: Path) -> int:
    out, ckpt = tmp_path / "out.jsonl", tmp_path / "job.ckpt"
    return hp.Stream(Numbers(20)).map(fail_at(12)).to(hp.write_jsonl(out), checkpoint=ckpt)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda b: b[:-3], r"is truncated \(\d+ of \d+ bytes\)"),
        (lambda b: b[:25], r"is truncated \(25 bytes, header cut short\)"),
        (lambda b: b[:10], r"is truncated \(10 bytes, no header\)"),
        (lambda b: b[:-1] + bytes([b[-1] ^ 1]), r"is corrupt \(its checksum does not match\)"),
    ],
    ids=["payload", "header", "magic", "flipped-bit"],
)
def test_a_damaged_checkpoint_is_an_error(tmp_path: Path, damage: Any, message: str) -> None:
    ckpt = _checkpoint_of(tmp_path)
    ckpt.write_bytes(damage(ckpt.read_bytes()))
    with pytest.raises(hp.CheckpointError, match=rf"^the checkpoint '.*job\.ckpt' {message}; "):
        _resume(tmp_path)
    assert not (tmp_path / "out.jsonl").exists()


def test_not_a_checkpoint_and_other_versions(tmp_path: Path) -> None:
    ckpt = tmp_path / "job.ckpt"
    ckpt.write_text("id,name\n")
    with pytest.raises(
        hp.CheckpointError,
        match=r"^'.*job\.ckpt' is not a hosepipe checkpoint file; remove it or choose another "
        "path$",
    ):
        _resume(tmp_path)
    data = bytearray(encode({"position": 1}))
    data[len(b"HOSEPIPE-CHECKPOINT\n") + 1] = 9
    with pytest.raises(
        hp.CheckpointError, match=r"^the checkpoint 'x' has format version 9; this hosepipe "
    ):
        decode(bytes(data), "x")


def test_a_missing_partial_output_is_an_error(tmp_path: Path) -> None:
    _checkpoint_of(tmp_path)
    for p in tmp_path.glob(".out.jsonl.*.partial"):
        p.unlink()
    with pytest.raises(hp.CheckpointError, match=r"^checkpoint: the partial output '.*' of "):
        _resume(tmp_path)


def test_what_cannot_be_checkpointed_is_refused(tmp_path: Path) -> None:
    out, ckpt = tmp_path / "out.jsonl", tmp_path / "job.ckpt"
    sink = hp.write_jsonl(out)

    def gen() -> Iterator[int]:
        yield 1

    with pytest.raises(
        hp.CheckpointError,
        match=r"^checkpoint: the source <generator test_what_.*\.gen> cannot seek, so a run "
        r"cannot resume from it; give a source with position\(\) and seek\(pos\) \(hp.Seekable\): ",
    ):
        hp.Stream(gen()).to(sink, checkpoint=ckpt)
    with pytest.raises(hp.CheckpointError, match=r"^checkpoint: the source \[1, 2\] cannot seek"):
        hp.Stream([1, 2]).to(sink, checkpoint=ckpt)
    with pytest.raises(
        hp.CheckpointError,
        match=r"^checkpoint: stage 1 scan\(<lambda>\) cannot be checkpointed: its state lives in "
        "the running loop, where a checkpoint cannot save it$",
    ):
        hp.Stream(Numbers(3)).scan(lambda a, b: a + b, 0).to(sink, checkpoint=ckpt)

    async def slow(x: int) -> int:
        return x

    with pytest.raises(
        hp.CheckpointError,
        match=r"^checkpoint: stage 1 map\(slow, concurrency=2\) cannot be checkpointed: a "
        "concurrent map in a checkpointed run with an async source or async stages is not "
        "supported: read the source in a sync stream, or leave out `concurrency`$",
    ):
        hp.Stream(Numbers(3)).map(slow, concurrency=2).to(sink, checkpoint=ckpt)
    with pytest.raises(
        hp.CheckpointError,
        match=r"^checkpoint: stage 1 take_while\(slow\) cannot be checkpointed: an async def "
        "function is checkpointed only in map, filter, tap and flat_map without `concurrency`$",
    ):
        hp.Stream(Numbers(3)).take_while(slow).to(sink, checkpoint=ckpt)
    with pytest.raises(hp.CheckpointError, match=r"^checkpoint: stage 2 buffer\(4\) cannot be "):
        hp.Stream(Numbers(3)).map(str).buffer(4).to(sink, checkpoint=ckpt)
    with pytest.raises(hp.CheckpointError, match=r"^checkpoint: the source read_lines\('-'\) "):
        hp.read_lines("-").to(sink, checkpoint=ckpt)
    assert not ckpt.exists()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"checkpoint": 3}, r"^to\(\): `checkpoint` must be a path, got 3$"),
        ({"checkpoint": "j", "every": 0}, r"^to\(\): `every` must be an int >= 1, got 0$"),
        (
            {"checkpoint": "j", "every_seconds": -1},
            r"^to\(\): `every_seconds` must be a number > 0, got -1$",
        ),
        (
            {"checkpoint": "j", "every": 5, "every_seconds": 1},
            r"^to\(\): give `every` or `every_seconds`, not both$",
        ),
    ],
)
def test_bad_options(tmp_path: Path, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises((TypeError, ValueError), match=message):
        hp.Stream(Numbers(3)).to(hp.write_jsonl(tmp_path / "o.jsonl"), **kwargs)


def test_gzip_source_resumes(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl.gz"
    with gzip.open(src, "wt") as f:
        for i in range(500):
            f.write(json.dumps({"i": i}) + ("\n\n" if i % 7 == 0 else "\n"))
    out, ckpt = tmp_path / "out.jsonl", tmp_path / "job.ckpt"
    for n in (3, 100, 101, 499, -1):
        with contextlib.suppress(ZeroDivisionError):
            hp.read_jsonl(src).map(lambda r, n=n: r if r["i"] != n else 1 / 0).to(
                hp.write_jsonl(out), checkpoint=ckpt, every=10, force=True
            )
    assert out.read_text() == "".join(f'{{"i":{i}}}\n' for i in range(500))
    pos = decode(ckpt.read_bytes(), "x")["position"]
    assert pos == {"file": 0, "path": str(src), "line": 572, "offset": None}


def test_lines_over_several_files_resume(tmp_path: Path) -> None:
    for name in "abc":
        (tmp_path / f"{name}.log").write_text("".join(f"{name}{i}\r\n" for i in range(50)))
    out, ckpt = tmp_path / "out.txt", tmp_path / "job.ckpt"
    pattern = str(tmp_path / "*.log")
    for bad in ("a10", "a49", "b0", "b1", "c48", None):
        with contextlib.suppress(ZeroDivisionError):
            hp.read_lines(pattern).map(lambda s, bad=bad: s if s != bad else 1 / 0).to(
                hp.write_lines(out), checkpoint=ckpt, every=7, force=True
            )
    assert out.read_text() == "".join(f"{n}{i}\n" for n in "abc" for i in range(50))
    last = tmp_path / "c.log"
    assert decode(ckpt.read_bytes(), "x")["position"] == {
        "file": 2,
        "path": str(last),
        "line": 50,
        "offset": last.stat().st_size,
    }


def test_run_records_the_position(tmp_path: Path) -> None:
    ckpt = tmp_path / "job.ckpt"
    seen: list[int] = []
    with pytest.raises(Boom):
        hp.Stream(Numbers(20)).map(fail_at(12)).tap(seen.append).run(checkpoint=ckpt, every=5)
    stats = (
        hp.Stream(Numbers(20))
        .map(fail_at(-1))
        .tap(seen.append)
        .run(checkpoint=ckpt, every=5, force=True)
    )
    assert seen == list(range(12)) + list(range(10, 20))  # at least once, from the commit
    assert stats.items_out == 10


def _sql_source_resumed_ids(make: Any, out: Path, ckpt: Path) -> list[int]:
    """The ids written by a job of *make*'s source that fails at ids 3, 40, 41 and 99 and
    is resumed after each failure, the fifth run finishing it."""
    for bad in (3, 40, 41, 99, -1):
        with contextlib.suppress(Boom):
            make().map(lambda r, bad=bad: (fail_at(bad)(r["id"]), r)[1]).to(
                hp.write_jsonl(out), checkpoint=ckpt, every=4, force=True
            )
    return [json.loads(line)["id"] for line in out.read_text().splitlines()]


def test_read_sql_resumes_after_its_key_sqlite(tmp_path: Path) -> None:
    import sqlite3

    db = tmp_path / "in.db"
    with contextlib.closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("CREATE TABLE t (id INTEGER, v TEXT)")
        conn.executemany("INSERT INTO t VALUES (?, ?)", [(i, f"%{i}") for i in range(99, -1, -1)])
    url = f"sqlite:///{db}"
    out, ckpt = tmp_path / "out.jsonl", tmp_path / "job.ckpt"
    make = lambda: hp.read_sql(url, "SELECT * FROM t", key="id")  # noqa: E731
    assert _sql_source_resumed_ids(make, out, ckpt) == list(range(100))
    assert decode(ckpt.read_bytes(), "x")["position"] == {"after": 99}
    with pytest.raises(
        hp.CheckpointError,
        match=r"^checkpoint: the source read_sql\('sqlite:///.*', 'SELECT \* FROM t'\) can resume "
        r"only from a key: pass read_sql\(\.\.\., key='id'\)",
    ):
        hp.read_sql(url, "SELECT * FROM t").to(hp.write_jsonl(out), checkpoint=ckpt)
    with pytest.raises(ValueError, match=r"^read_sql\(\): `key` 'nope' is not a column of the "):
        hp.read_sql(url, "SELECT * FROM t", key="nope").to_list()


def test_read_sql_resumes_after_its_key_postgres(tmp_path: Path, pg: test_sql.PG) -> None:
    pg.conn.execute(f"INSERT INTO {pg.events} SELECT i, '%' || i FROM generate_series(0, 99) i")
    out, ckpt = tmp_path / "out.jsonl", tmp_path / "job.ckpt"
    query = f"SELECT * FROM {pg.events} WHERE kind LIKE '%%'"
    make = lambda: hp.read_sql(pg.url, query, key="id")  # noqa: E731
    assert _sql_source_resumed_ids(make, out, ckpt) == list(range(100))


# the three pagination styles of tests/test_http.py's server, 40 items 3 a page
PAGINATIONS = [
    ("/link?size=3&n=40", {}),
    ("/cursor?size=3&n=40", {"style": "cursor", "items": "data", "next_cursor": "meta.next"}),
    ("/page?size=3&n=40", {"style": "page", "items": "items"}),
]


@pytest.mark.parametrize(("path", "kwargs"), PAGINATIONS, ids=["link", "cursor", "page"])
def test_paginate_resumes_at_its_page(
    tmp_path: Path, server: test_http.Server, path: str, kwargs: dict[str, Any]
) -> None:
    from hosepipe.http import paginate

    out, ckpt = tmp_path / "out.jsonl", tmp_path / "job.ckpt"
    for bad in (4, 17, 18, 39, -1):
        with contextlib.suppress(Boom):
            paginate(server.url(path), **kwargs).map(fail_at(bad)).to(
                hp.write_jsonl(out), checkpoint=ckpt, every=2, force=True
            )
    assert out.read_text().split() == [str(i) for i in range(40)]
    assert len(server.requests) < 40  # a resumed run fetches its page again, not all before


@pytest.mark.parametrize("via", ["thread", "process"])
def test_a_concurrent_map_commits_what_reached_the_sink(tmp_path: Path, via: str) -> None:
    out, ckpt = tmp_path / "out.jsonl", tmp_path / "job.ckpt"
    for bad in (2, 30, 31, 77, -1):
        with contextlib.suppress(Boom):
            hp.Stream(Numbers(80)).filter(lambda x: x % 3 != 1).map(
                fail_at(bad), concurrency=3, via=via
            ).map(str).to(hp.write_lines(out), checkpoint=ckpt, every=4, force=True)
    assert out.read_text().split() == [str(i) for i in range(80) if i % 3 != 1]


def test_what_a_concurrent_map_cannot_be_checkpointed_with(tmp_path: Path) -> None:
    out, ckpt = tmp_path / "out.jsonl", tmp_path / "job.ckpt"
    s = hp.Stream(Numbers(3))
    with pytest.raises(
        hp.CheckpointError,
        match=r"^checkpoint: stage 1 map\(str, concurrency=2, ordered=False\) cannot be "
        r"checkpointed: only an ordered map \(not flat_map, not async\) says in order which "
        r"source items reached the sink$",
    ):
        s.map(str, concurrency=2, ordered=False).to(hp.write_jsonl(out), checkpoint=ckpt)
    with pytest.raises(
        hp.CheckpointError,
        match=r"^checkpoint: stage 2 batch\(2\) cannot be checkpointed: with a concurrent map "
        r"before the sink, only map, filter, tap, observe and catch \(without handler or dead "
        r"letter\) can be checkpointed$",
    ):
        s.map(str, concurrency=2).batch(2).to(hp.write_jsonl(out), checkpoint=ckpt)


CLI_JOB = """
import os, signal, sys
import hosepipe as hp

def work(line):
    if line == os.environ.get("KILL_AT"):
        os.kill(os.getpid(), signal.SIGKILL)
    return line.upper()

pipeline = hp.read_lines(sys.argv[0].replace("job.py", "in.txt")).map(work)
"""


def test_the_command_line_resumes(tmp_path: Path) -> None:
    (tmp_path / "in.txt").write_text("".join(f"line {i}\n" for i in range(3000)))
    (tmp_path / "job.py").write_text(CLI_JOB.replace("sys.argv[0]", repr(str(tmp_path / "job.py"))))
    cmd = [sys.executable, "-m", "hosepipe", "run", str(tmp_path / "job.py"), "--stats", "none"]
    cmd += ["--checkpoint", str(tmp_path / "job.ckpt"), "-o", str(tmp_path / "out.txt")]
    env = dict(os.environ)

    def run(kill_at: str, *more: str) -> subprocess.CompletedProcess[str]:
        env["KILL_AT"] = kill_at
        return subprocess.run(
            [*cmd, "--every", "100", *more], env=env, capture_output=True, text=True
        )

    assert run("line 1234").returncode == -signal.SIGKILL
    assert run("line 2345").returncode == -signal.SIGKILL
    done = run("")
    assert (done.returncode, done.stderr) == (0, "")
    assert (tmp_path / "out.txt").read_text() == "".join(f"LINE {i}\n" for i in range(3000))
    again = run("line 5")
    assert again.returncode == 0
    assert again.stderr == (
        f"hosepipe: the checkpoint {tmp_path / 'job.ckpt'} says this job finished; nothing to "
        "do (pass restart=True, or --restart, to run it again)\n"
    )
    assert run("line 5", "--restart").returncode == -signal.SIGKILL
    stdout = subprocess.run([*cmd[:-2]], env=env, capture_output=True, text=True)
    assert stdout.returncode == 1
    assert stdout.stderr == (
        "hosepipe: error: hosepipe.CheckpointError: --checkpoint needs --output (or --discard): "
        "standard output cannot be resumed where it stopped\n"
    )


def test_every_seconds_commits_by_the_clock(tmp_path: Path) -> None:
    out, ckpt = tmp_path / "out.txt", tmp_path / "job.ckpt"
    for bad in (20, 500, 501, 1999, -1):
        with contextlib.suppress(Boom):
            hp.Stream(Numbers(2000)).map(fail_at(bad)).tap(lambda _: time.sleep(0.00002)).map(
                str
            ).batch(7).flatten().to(
                hp.write_lines(out), checkpoint=ckpt, every_seconds=0.001, force=True
            )
    assert out.read_text().split() == [str(i) for i in range(2000)]


def test_write_csv_writes_its_header_once(tmp_path: Path) -> None:
    out, ckpt = tmp_path / "out.csv", tmp_path / "job.ckpt"
    for bad in (3, 11, -1):
        with contextlib.suppress(Boom):
            hp.Stream(Numbers(20)).map(fail_at(bad)).map(lambda i: {"n": i, "sq": i * i}).to(
                hp.write_csv(out), checkpoint=ckpt, every=2, force=True
            )
    expected = "n,sq\r\n" + "".join(f"{i},{i * i}\r\n" for i in range(20))
    assert out.read_bytes() == expected.encode()


def test_to_sql_sqlite_resumes_and_its_row_is_the_record(tmp_path: Path) -> None:
    import sqlite3

    db = tmp_path / "out.db"
    with contextlib.closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("CREATE TABLE t (n INTEGER)")
    sink = hp.to_sql(f"sqlite:///{db}", "t", columns=["n"], batch_size=3)
    ckpt = tmp_path / "job.ckpt"
    for bad in (4, 17, 18, -1):
        with contextlib.suppress(Boom):
            hp.Stream(Numbers(30)).map(fail_at(bad)).map(lambda i: (i,)).batch(4).flatten().to(
                sink, checkpoint=ckpt, every=5, force=True
            )
    with contextlib.closing(sqlite3.connect(db)) as conn:
        assert [n for (n,) in conn.execute("SELECT n FROM t ORDER BY rowid")] == list(range(30))
        conn.execute("DELETE FROM hosepipe_checkpoints")
        conn.commit()
    with pytest.raises(
        hp.CheckpointError,
        match=r"^the checkpoint '.*job\.ckpt' has a record, but the sink to_sql\('sqlite:///.*', "
        r"'t'\) has none for this job: they do not belong together; pass restart=True to start "
        r"over$",
    ):
        hp.Stream(Numbers(30)).map(lambda i: (i,)).to(sink, checkpoint=ckpt)


def test_a_failed_run_leaves_no_thread_or_open_file(tmp_path: Path) -> None:
    from hosepipe.testing import assert_no_leaks

    out, ckpt = tmp_path / "out.txt", tmp_path / "job.ckpt"
    with assert_no_leaks(), pytest.raises(Boom):
        hp.Stream(Numbers(500)).map(fail_at(300)).map(str).to(
            hp.write_lines(out), checkpoint=ckpt, every=10
        )
    with assert_no_leaks(), pytest.raises(Boom):
        hp.Stream(Numbers(500)).map(fail_at(400), concurrency=3).map(str).to(
            hp.write_lines(out), checkpoint=ckpt, every=10, force=True
        )


HOLDER = """
import pathlib, sys, time
import hosepipe as hp

src, out, ckpt, ready = sys.argv[1:5]

def wait(line):
    pathlib.Path(ready).touch()
    time.sleep(60)  # until the test kills this run
    return line

hp.read_lines(src).map(wait).to(hp.write_lines(out), checkpoint=ckpt, every=1)
"""


def test_a_second_run_of_one_checkpoint_is_refused_until_the_first_dies(tmp_path: Path) -> None:
    src, out, ckpt, ready = (tmp_path / n for n in ("in.txt", "out.txt", "job.ckpt", "ready"))
    src.write_text("a\nb\nc\n")
    (tmp_path / "holder.py").write_text(HOLDER)
    cmd = [sys.executable, str(tmp_path / "holder.py"), str(src), str(out), str(ckpt), str(ready)]
    with subprocess.Popen(cmd, stderr=subprocess.PIPE) as proc:
        try:
            deadline = time.monotonic() + 60
            while not ready.exists():
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                assert time.monotonic() < deadline, "the holder never started"
                time.sleep(0.05)
            with pytest.raises(
                hp.CheckpointError,
                match=rf"^the checkpoint '.*job\.ckpt' is in use by another run \(process "
                rf"{proc.pid}, holding '.*job\.ckpt\.lock'\); two runs of one checkpoint "
                r"cannot run at once$",
            ):
                hp.read_lines(src).to(hp.write_lines(out), checkpoint=ckpt, every=1)
            assert not out.exists()  # the refused run wrote nothing
        finally:
            proc.kill()  # SIGKILL: the kernel drops the lock with the process
    assert proc.returncode == -signal.SIGKILL
    assert hp.read_lines(src).to(hp.write_lines(out), checkpoint=ckpt, restart=True) == 3
    assert out.read_text() == "a\nb\nc\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "holder.py",
        "in.txt",
        "job.ckpt",
        "out.txt",
        "ready",
    ]  # the lock file went with the run that ended


# -- byte offsets of positions in files of many blocks -----------------------------------------


@pytest.fixture(scope="module")
def blocks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A text file and a CSV file of many read blocks (``_files._BLOCK``), with lines of
    every length (some longer than a block), non-ASCII text, ``\\r\\n`` and blank lines;
    and the byte offset where each line starts."""
    import random

    from hosepipe.sources._files import _BLOCK

    rnd = random.Random(14)
    folder = tmp_path_factory.mktemp("blocks")
    lines = []
    for i in range(3000):
        size = rnd.choice([0, 1, 5, 40, 300, 2000]) if i % 997 else _BLOCK + 123
        end = "\r\n" if i % 5 == 0 else "\n"
        lines.append(f"{i}:" + "".join(rnd.choice("abcé€ ,") for _ in range(size)) + end)
    text = folder / "in.txt"
    text.write_bytes("".join(lines).encode())
    csv = folder / "in.csv"
    rows = "".join(f'{i},"{s.rstrip()}"\n' for i, s in enumerate(lines))
    csv.write_bytes(("id,text\n" + rows).encode())
    assert text.stat().st_size > 20 * _BLOCK
    starts = {}
    for path in (text, csv):
        offsets, at = [0], 0
        for line in path.read_bytes().split(b"\n")[:-1]:
            at += len(line) + 1
            offsets.append(at)
        starts[str(path)] = offsets  # offsets[k]: where line k + 1 starts
    return {"text": text, "csv": csv, "starts": starts}


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    kind=st.sampled_from(["text", "csv"]),
    fails=st.lists(st.integers(0, 2999), min_size=1, max_size=3, unique=True).map(sorted),
    every=st.sampled_from([1, 7, 64, 333]),
)
def test_positions_in_files_of_many_blocks_have_their_byte_offsets(
    blocks: dict[str, Any],
    tmp_path_factory: pytest.TempPathFactory,
    kind: str,
    fails: list[int],
    every: int,
) -> None:
    tmp = tmp_path_factory.mktemp("run")
    src, out, ckpt = blocks[kind], tmp / "out.txt", tmp / "job.ckpt"
    starts = blocks["starts"][str(src)]

    def stream(bad: int) -> hp.Stream[str]:
        if kind == "text":
            lines = hp.read_lines(src)
            return lines.map(lambda s: s if not s.startswith(f"{bad}:") else 1 / 0)
        rows = hp.read_csv(src)
        return rows.map(lambda r: r["text"] if int(r["id"]) != bad else 1 / 0)

    for bad in [*fails, -1]:
        with contextlib.suppress(ZeroDivisionError):
            stream(bad).to(hp.write_lines(out), checkpoint=ckpt, every=every, force=True)
        pos = decode(ckpt.read_bytes(), "x")["position"]
        if pos is not None:
            assert set(pos) <= {"file", "path", "line", "offset", "fields"}
            assert pos["offset"] == starts[pos["line"]], pos
    reference = tmp / "ref.txt"
    stream(-1).to(hp.write_lines(reference))
    assert out.read_bytes() == reference.read_bytes()


def test_the_folder_is_synced_at_the_first_and_the_finished_record_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each record is fsync-ed before its rename; the rename (a folder fsync) is made
    durable at the run's first record and its last, where it matters (see ``_Store``)."""
    import stat

    synced: list[str] = []
    real = os.fsync

    def fsync(fd: int) -> None:  # the real one, noting what it synced
        synced.append("folder" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    out, ckpt = tmp_path / "out.jsonl", tmp_path / "job.ckpt"
    slow = hp.Stream(Numbers(100)).tap(lambda _: time.sleep(0.002))  # records get written
    assert slow.to(hp.write_jsonl(out), checkpoint=ckpt, every=10) == 100
    # the partial file's name and the first record; later records (as many as were made
    # durable before a newer one came), unsynced; the finished record; the target's rename
    assert synced[:3] == ["folder", "file", "folder"]
    assert synced[-4:] == ["file", "folder", "file", "folder"]
    assert set(synced[3:-4]) <= {"file"}
    assert hp.read_jsonl(out).to_list() == list(range(100))


# -- async: ato(), arun(), async sources and async def stages ---------------------------------


async def _halve(x: Any) -> Any:
    await asyncio.sleep(0)
    return x


async def _keep(x: Any) -> bool:
    await asyncio.sleep(0)
    return True


def _fail_async_at(n: int) -> Any:
    async def check(x: Any) -> Any:
        await asyncio.sleep(0)
        if x == n:
            raise Boom(n)
        return x

    return check


def test_an_async_def_stage_resumes_with_to_and_ato(tmp_path: Path) -> None:
    """A sync source with an ``async def`` stage runs on the async driver: from sync code
    (``to``, on a loop of its own) and from async code (``ato``), resuming either way."""
    out, ckpt = tmp_path / "out.jsonl", tmp_path / "job.ckpt"
    for n, form in [(7, "to"), (23, "ato"), (24, "to"), (50, "ato"), (-1, "ato")]:
        s = hp.Stream(Numbers(60)).map(_fail_async_at(n)).batch(4).flatten().filter(_keep)
        with contextlib.suppress(Boom):
            if form == "to":
                s.to(hp.write_jsonl(out), checkpoint=ckpt, every=5, force=True)
            else:
                asyncio.run(s.ato(hp.write_jsonl(out), checkpoint=ckpt, every=5, force=True))
    assert out.read_text() == "".join(f"{i}\n" for i in range(60))
    record = decode(ckpt.read_bytes(), "x")
    assert record["finished"] is True
    assert record["position"] == 60


def test_arun_records_the_position(tmp_path: Path) -> None:
    ckpt = tmp_path / "job.ckpt"
    seen: list[int] = []
    with pytest.raises(Boom):
        asyncio.run(
            hp.Stream(Numbers(20))
            .map(_fail_async_at(12))
            .tap(seen.append)
            .arun(checkpoint=ckpt, every=5)
        )
    stats = asyncio.run(
        hp.Stream(Numbers(20))
        .map(_fail_async_at(-1))
        .tap(seen.append)
        .arun(checkpoint=ckpt, every=5, force=True)
    )
    assert seen == list(range(12)) + list(range(10, 20))  # at least once, from the commit
    assert stats.items_out == 10
    by_clock = (
        hp.Stream(Numbers(20)).map(_halve).arun(checkpoint=tmp_path / "c.ckpt", every_seconds=0.001)
    )
    assert asyncio.run(by_clock).items_out == 20
    # a sync stream from async code: run inline, as the async terminals run sync streams
    assert asyncio.run(hp.Stream(Numbers(20)).arun(checkpoint=tmp_path / "b.ckpt")).items_out == 20


def test_ato_without_a_checkpoint_and_what_it_refuses(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    assert asyncio.run(hp.Stream(range(5)).map(_halve).ato(hp.write_jsonl(out))) == 5
    assert out.read_text() == "0\n1\n2\n3\n4\n"
    with pytest.raises(Boom):
        asyncio.run(hp.Stream(range(5)).map(_fail_async_at(2)).ato(hp.write_jsonl(out)))
    assert out.read_text() == "0\n1\n2\n3\n4\n"  # aborted: the target untouched
    with pytest.raises(TypeError, match=r"^ato\(\): `sink` must be a hosepipe Sink "):
        asyncio.run(hp.Stream(range(5)).ato(list))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^ato\(\): `every` must be an int >= 1, got 0$"):
        asyncio.run(hp.Stream(range(5)).ato(hp.write_jsonl(out), checkpoint="j", every=0))


@pytest.mark.parametrize(("path", "kwargs"), PAGINATIONS, ids=["link", "cursor", "page"])
def test_async_paginate_resumes_at_its_page(
    tmp_path: Path, server: test_http.Server, path: str, kwargs: dict[str, Any]
) -> None:
    from hosepipe.http import paginate

    out, ckpt = tmp_path / "out.jsonl", tmp_path / "job.ckpt"
    for bad in (4, 17, 18, 39, -1):
        stream = paginate(server.url(path), async_=True, **kwargs).map(_fail_async_at(bad))
        with contextlib.suppress(Boom):
            asyncio.run(stream.ato(hp.write_jsonl(out), checkpoint=ckpt, every=2, force=True))
    assert out.read_text().split() == [str(i) for i in range(40)]
    assert len(server.requests) < 40  # a resumed run fetches its page again, not all before
    assert (
        decode(ckpt.read_bytes(), "x")["position"]["skip"] == 1
    )  # of the last page: 40 = 13 * 3 + 1
    # the same job from sync code: the async source on a loop of the run's own
    again = tmp_path / "again.jsonl"
    stream = paginate(server.url(path), async_=True, **kwargs).map(fail_at(20))
    with pytest.raises(Boom):
        stream.to(hp.write_jsonl(again), checkpoint=tmp_path / "again.ckpt", every=3)
    stream = paginate(server.url(path), async_=True, **kwargs).map(fail_at(-1))
    assert stream.to(hp.write_jsonl(again), checkpoint=tmp_path / "again.ckpt", force=True) == 40
    assert again.read_text() == out.read_text()


def test_async_read_sql_resumes_after_its_key_postgres(tmp_path: Path, pg: test_sql.PG) -> None:
    pg.conn.execute(f"INSERT INTO {pg.events} SELECT i, 'k' || i FROM generate_series(0, 99) i")
    out, ckpt = tmp_path / "out.jsonl", tmp_path / "job.ckpt"
    query = f"SELECT * FROM {pg.events}"
    for bad in (3, 40, 41, 99, -1):
        stream = hp.read_sql(pg.url, query, key="id", async_=True, batch_size=7)
        stream = stream.map(lambda r: r["id"]).map(_fail_async_at(bad))
        with contextlib.suppress(Boom):
            asyncio.run(stream.ato(hp.write_jsonl(out), checkpoint=ckpt, every=4, force=True))
        if bad == 40:
            assert decode(ckpt.read_bytes(), "x")["position"] == {"after": 39}
    assert out.read_text().split() == [str(i) for i in range(100)]


@pytest.mark.parametrize("suffix", [".gz", ".bz2", ".xz", ".zst"])
def test_a_compressed_output_resumes_a_member_per_commit(tmp_path: Path, suffix: str) -> None:
    import bz2
    import lzma

    out, ckpt = tmp_path / f"out.txt{suffix}", tmp_path / "job.ckpt"
    for n in (3, 41, 42, 99, -1):
        s = hp.Stream(Numbers(100)).map(fail_at(n)).batch(3).map(lambda b: ",".join(map(str, b)))
        with contextlib.suppress(Boom):
            s.to(hp.write_lines(out), checkpoint=ckpt, every=10, force=True)
    expected = "".join(
        ",".join(map(str, range(i, min(i + 3, 100)))) + "\n" for i in range(0, 100, 3)
    ).encode()
    data = out.read_bytes()
    decoded = {
        ".gz": gzip.decompress,
        ".bz2": bz2.decompress,
        ".xz": lzma.decompress,
        ".zst": lambda b: _decompressed(out),
    }[suffix](data)
    assert decoded == expected
    if suffix == ".gz":  # several members: ten commits of the last run, and the earlier ones
        assert data.count(b"\x1f\x8b\x08") > 5
    empty = tmp_path / f"empty.txt{suffix}"  # no item: one empty member, as without checkpoint
    assert hp.Stream(Numbers(0)).to(hp.write_lines(empty), checkpoint=tmp_path / "e.ckpt") == 0
    assert hp.read_lines(empty).to_list() == []
    (tmp_path / "plain").mkdir()
    plain = tmp_path / "plain" / empty.name  # the same name (a gzip header holds it)
    hp.Stream([]).to(hp.write_lines(plain))
    assert empty.read_bytes() == plain.read_bytes()
    # CSV goes through a text layer over the members
    table = tmp_path / f"t.csv{suffix}"
    for n in (5, 17, -1):
        rows = hp.Stream(Numbers(30)).map(fail_at(n)).map(lambda i: {"i": i, "sq": i * i})
        with contextlib.suppress(Boom):
            rows.to(hp.write_csv(table), checkpoint=tmp_path / "t.ckpt", every=4, force=True)
    assert hp.read_csv(table, types={"i": int, "sq": int}).to_list() == [
        {"i": i, "sq": i * i} for i in range(30)
    ]
