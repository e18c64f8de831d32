"""read_sql's async form (psycopg's AsyncConnection) beside its sync form, on PostgreSQL.

The server, the skip rule (the tests fail instead when ``CI`` is set) and the per-test
schema (``pg``) are those of ``test_sql.py``. Behaviour the two forms share is tested on
both (``form``): the sync form reads a ``psycopg.Connection`` with ``to_list()`` and
``iterate()``; the async form reads a ``psycopg.AsyncConnection`` (or a URL with
``async_=True``) with ``ato_list()`` and ``aiterate()`` on one event loop per test, where
its connection lives. ``bridge`` reads the async form from sync code. Warnings are errors,
so a task left pending or a coroutine never awaited fails the test that caused it.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import hosepipe as hp
import test_sql
from hosepipe.sinks._sql import to_sql
from hosepipe.sources._sql import read_sql, shorten_query
from test_sql import PG, Boom, fail_at, url_with

psycopg: Any = test_sql.psycopg  # None when not installed: the pg_url fixture skips or fails

# test_sql.py's fixtures: the server's URL (or a skip) and a fresh schema per test
pg_url = test_sql.pg_url
pg = test_sql.pg

IDLE = "IDLE"  # names of psycopg.pq.TransactionStatus
INTRANS = "INTRANS"
CURSORS = "SELECT name FROM pg_cursors WHERE name LIKE 'hosepipe_read_sql_%'"


class Form:
    """One way to read: ``sync`` (a psycopg.Connection), ``async`` (a psycopg.AsyncConnection
    and the async terminals, on the test's event loop) or ``bridge`` (the async form read
    from sync code, which runs it on an event loop of its own; URLs only)."""

    def __init__(self, name: str, db: PG, runner: asyncio.Runner) -> None:
        self.name = name
        self.db = db
        self.runner = runner
        self.conn: Any = db.conn
        if name == "async":
            self.conn = self.run(psycopg.AsyncConnection.connect(db.url, autocommit=True))

    @property
    def shown(self) -> str:
        """How labels show the form's connection."""
        return f"<psycopg.{type(self.conn).__name__}>"

    def run(self, coro: Any) -> Any:
        return self.runner.run(coro)

    def read(self, query: str, params: Any = (), *, url: str | None = None, **kw: Any) -> Any:
        """A stream over *query* on the form's connection, or on *url* (a run's own)."""
        if url is None:
            assert self.name != "bridge", "the bridge form reads URLs only"
            return read_sql(self.conn, query, params, **kw)
        return read_sql(url, query, params, async_=self.name != "sync", **kw)

    def to_list(self, stream: hp.Stream[Any]) -> list[Any]:
        if self.name == "async":
            return self.run(stream.ato_list())  # type: ignore[no-any-return]
        return stream.to_list()

    def open(self, stream: hp.Stream[Any]) -> Opened:
        if self.name == "async":
            return Opened(self, stream.aiterate())
        return Opened(self, stream.iterate())

    def sql(self, query: str) -> list[tuple[Any, ...]]:
        """*query*'s rows on the form's own connection (pg_cursors is per session)."""
        if self.name == "async":

            async def fetch() -> list[tuple[Any, ...]]:
                cur = await self.conn.execute(query)
                return await cur.fetchall()  # type: ignore[no-any-return]

            return self.run(fetch())  # type: ignore[no-any-return]
        return self.conn.execute(query).fetchall()  # type: ignore[no-any-return]

    def status(self) -> str:
        return str(self.conn.info.transaction_status.name)

    def close(self) -> None:
        if self.name == "async":
            self.run(self.conn.close())


class Opened:
    """An open iteration, stepped from the test: ``next()`` and ``close()``."""

    def __init__(self, form: Form, it: Any) -> None:
        self.form = form
        self.it = it

    def next(self) -> Any:
        if self.form.name == "async":
            return self.form.run(self.it.__anext__())
        return next(self.it)

    def close(self) -> None:
        if self.form.name == "async":
            self.form.run(self.it.aclose())
        else:
            self.it.close()


@pytest.fixture
def installed() -> None:
    """For tests that need psycopg but no server: the same skip (or, with CI, failure)."""
    if psycopg is None:
        message = "psycopg is not installed: pip install 'hosepipe[postgres]'"
        if os.environ.get("CI"):
            pytest.fail(f"CI is set, so the PostgreSQL tests must run: {message}")
        pytest.skip(message)


@pytest.fixture
def runner() -> Iterator[asyncio.Runner]:
    with asyncio.Runner() as r:
        yield r


def make_form(request: pytest.FixtureRequest, db: PG, runner: asyncio.Runner) -> Iterator[Form]:
    f = Form(request.param, db, runner)
    yield f
    f.close()


@pytest.fixture(params=["sync", "async"])
def form(request: pytest.FixtureRequest, pg: PG, runner: asyncio.Runner) -> Iterator[Form]:
    """A form with a connection of its own kind."""
    yield from make_form(request, pg, runner)


@pytest.fixture(params=["sync", "async", "bridge"])
def url_form(request: pytest.FixtureRequest, pg: PG, runner: asyncio.Runner) -> Iterator[Form]:
    """A form for reading URLs (each run opens its own connection)."""
    yield from make_form(request, pg, runner)


def fill(db: PG, n: int) -> None:
    hp.Stream(range(n)).map(lambda i: {"id": i, "kind": f"k{i % 3}"}).to(to_sql(db.conn, db.events))


def sequence(db: PG) -> tuple[str, Callable[[], int]]:
    """A query whose rows each take a number from a fresh sequence, and how many it gave:
    the rows the server computed, i.e. fetched (a sequence is not transactional, so another
    connection sees it at once)."""
    seq = f"{db.schema}.fetched"
    db.conn.execute(f"CREATE SEQUENCE {seq}")
    query = f"SELECT nextval('{seq}') AS n FROM generate_series(1, 100000)"

    def fetched() -> int:
        with psycopg.connect(db.url) as other:
            last, called = other.execute(f"SELECT last_value, is_called FROM {seq}").fetchone()
        return int(last) if called else 0

    return query, fetched


def backends(db: PG, app: str) -> Callable[[], int]:
    """How many server connections have *app* as their application_name."""
    q = f"SELECT count(*) FROM pg_stat_activity WHERE application_name = '{app}'"

    def count() -> int:
        deadline = time.monotonic() + 5  # the server notices a disconnection shortly after
        while True:
            n: int = db.conn.execute(q).fetchone()[0]  # type: ignore[index]
            if n == 0 or time.monotonic() > deadline:
                return n
            time.sleep(0.01)

    return count


# -- what both forms share --------------------------------------------------------------------


def test_rows_dicts_tuples_and_params(form: Form, pg: PG) -> None:
    fill(pg, 10)
    q = f"SELECT id, kind FROM {pg.events} WHERE id < %s ORDER BY id"
    assert form.to_list(form.read(q, (2,))) == [{"id": 0, "kind": "k0"}, {"id": 1, "kind": "k1"}]
    assert form.to_list(form.read(q, [3], url=pg.url, rows="tuple")) == [
        (0, "k0"),
        (1, "k1"),
        (2, "k2"),
    ]
    q = f"SELECT count(*) AS n FROM {pg.events} WHERE kind = %(kind)s"
    assert form.to_list(form.read(q, {"kind": "k0"})) == [{"n": 4}]
    q = f"SELECT count(*) AS n FROM {pg.events} WHERE kind LIKE 'k%'"  # no params: no escape
    assert form.to_list(form.read(q, batch_size=1)) == [{"n": 10}]
    assert form.to_list(form.read(f"SELECT * FROM {pg.events} WHERE id < 0")) == []


@pytest.mark.parametrize("n", [0, 1, 6, 7, 8, 14, 15])
def test_batch_boundaries(form: Form, n: int) -> None:
    q = "SELECT g, g * 2 AS twice FROM generate_series(1, %s) AS g"
    got = form.to_list(form.read(q, (n,), batch_size=7, rows="tuple"))
    assert got == [(g, g * 2) for g in range(1, n + 1)]


def test_rows_are_fetched_as_they_are_consumed(form: Form, pg: PG) -> None:
    query, fetched = sequence(pg)
    stream = form.read(query, batch_size=10)
    assert fetched() == 0  # nothing runs before iteration
    it = form.open(stream)
    try:
        assert it.next() == {"n": 1}
        assert fetched() == 10  # one FETCH of batch_size rows
        for n in range(2, 11):
            assert it.next() == {"n": n}
        assert fetched() == 10
        assert it.next() == {"n": 11}
        assert fetched() == 20  # the second FETCH, when the first batch is used up
    finally:
        it.close()
    assert fetched() == 20  # closing fetches nothing more
    assert form.to_list(stream.take(25)) == [{"n": n} for n in range(21, 46)]
    assert fetched() == 50


def test_closing_early_closes_the_cursor_and_commits(form: Form, pg: PG) -> None:
    stream = form.read("SELECT generate_series(1, 10) AS g", batch_size=4)
    it = form.open(stream)
    try:
        assert it.next() == {"g": 1}
        [(name,)] = form.sql(CURSORS)
        assert name.startswith("hosepipe_read_sql_")
        assert form.status() == INTRANS
        # a statement on the same connection while reading is part of the read's transaction
        form.sql(f"INSERT INTO {pg.events} VALUES (1, 'during') RETURNING id")
        assert pg.rows() == []
    finally:
        it.close()
    assert form.sql(CURSORS) == []
    assert form.status() == IDLE
    assert pg.rows() == [(1, "during")]  # closing early commits, as reading to the end does
    assert form.to_list(stream.take(3)) == [{"g": 1}, {"g": 2}, {"g": 3}]
    assert form.sql(CURSORS) == []
    assert form.status() == IDLE
    assert form.to_list(stream.map(lambda r: r["g"])) == list(range(1, 11))  # it runs again
    assert not form.conn.closed  # the user's connection is never closed


def test_a_failing_query_rolls_back_and_keeps_the_connection(form: Form, pg: PG) -> None:
    stream = form.read("SELECT nope FROM generate_series(1, 3)")
    with pytest.raises(psycopg.errors.UndefinedColumn) as e:
        form.to_list(stream)
    assert e.value.__notes__ == [
        f"hosepipe: in the source read_sql({form.shown}, "
        "'SELECT nope FROM generate_series(1, 3)'), item index 0"
    ]
    assert form.status() == IDLE
    assert form.sql(CURSORS) == []
    with pytest.raises(psycopg.errors.DivisionByZero):  # fails at the second FETCH
        form.to_list(
            form.read("SELECT 10 / (3 - g) AS x FROM generate_series(1, 5) g", batch_size=2)
        )
    assert form.status() == IDLE
    assert form.to_list(form.read("SELECT 1 AS one")) == [{"one": 1}]


def test_an_error_downstream_closes_the_cursor(form: Form, pg: PG) -> None:
    stream = form.read("SELECT generate_series(1, 100) AS g", batch_size=10)
    with pytest.raises(Boom) as e:
        form.to_list(stream.map(fail_at(15)))
    assert e.value.__notes__ == ["hosepipe: in stage 1 map(check), item index 15"]
    assert form.sql(CURSORS) == []
    assert form.status() == IDLE


def test_error_messages_are_the_same(form: Form) -> None:
    with pytest.raises(ValueError) as e:
        form.to_list(form.read("SELECT 1 AS a, 2 AS b, 3 AS a"))
    assert str(e.value) == (
        "read_sql(): the query returns more than one column named 'a'; name them apart "
        "with AS, or use rows='tuple'"
    )
    assert form.to_list(form.read("SELECT 1 AS a, 2 AS b, 3 AS a", rows="tuple")) == [(1, 2, 3)]
    assert form.status() == IDLE


def test_every_run_runs_the_query_again(form: Form, pg: PG) -> None:
    stream = form.read(f"SELECT count(*) AS n FROM {pg.events}")
    assert form.to_list(stream) == [{"n": 0}]
    fill(pg, 3)
    assert form.to_list(stream) == [{"n": 3}]


def test_a_url_opens_and_closes_a_connection_per_run(url_form: Form, pg: PG) -> None:
    app = f"hp_{url_form.name}_{os.urandom(4).hex()}"
    url = url_with(pg.url, application_name=app)
    open_backends = backends(pg, app)
    stream = url_form.read("SELECT generate_series(1, 10000) AS g", url=url, batch_size=100)
    assert open_backends() == 0  # nothing opened before a run
    it = url_form.open(stream)
    try:
        assert it.next() == {"g": 1}
        assert pg.conn.execute(
            f"SELECT count(*) FROM pg_stat_activity WHERE application_name = '{app}'"
        ).fetchone() == (1,)
    finally:
        it.close()
    assert open_backends() == 0
    assert url_form.to_list(stream.take(2)) == [{"g": 1}, {"g": 2}]
    with pytest.raises(Boom):
        url_form.to_list(stream.map(fail_at(3)))
    with pytest.raises(psycopg.errors.UndefinedTable):
        url_form.to_list(url_form.read("SELECT * FROM no_such_table", url=url))
    assert url_form.to_list(stream.map(lambda r: r["g"]).filter(lambda g: g > 9998)) == [
        9999,
        10000,
    ]
    assert open_backends() == 0


def test_labels(url_form: Form, pg: PG) -> None:
    long_query = "SELECT id,\n       kind\nFROM events\nWHERE id > 1 ORDER BY kind DESC"
    url = "postgresql://app:s3cret@db.internal:5432/prod?password=x"
    suffix = "" if url_form.name == "sync" else ", async_=True"
    stream = url_form.read(long_query, url=url)
    assert repr(stream) == (
        "Stream(read_sql('postgresql://app:***@db.internal:5432/prod?password=***', "
        f"'SELECT id, kind FROM events WHERE id ...'{suffix}))"
    )
    if url_form.name != "bridge":
        shown = "<psycopg.AsyncConnection>" if url_form.name == "async" else "<psycopg.Connection>"
        assert url_form.shown == shown
        assert repr(url_form.read("SELECT 1")) == f"Stream(read_sql({shown}, 'SELECT 1'))"


# -- the async form only ----------------------------------------------------------------------


def test_async_for_and_the_async_terminals(pg: PG) -> None:
    fill(pg, 5)
    q = f"SELECT id FROM {pg.events} ORDER BY id"

    async def main() -> None:
        async with await psycopg.AsyncConnection.connect(pg.url, autocommit=True) as conn:
            stream = read_sql(conn, q, batch_size=2, rows="tuple")
            assert [r async for r in stream] == [(i,) for i in range(5)]
            assert await stream.acount() == 5
            assert await stream.afirst() == (0,)
            stats = await stream.map(lambda r: r[0]).filter(lambda i: i % 2).arun()
            assert (stats.stages[0].items_out, stats.stages[-1].items_out) == (5, 2)
            label = f"read_sql(<psycopg.AsyncConnection>, {shorten_query(q)!r})"
            assert stats.stages[0].label == label
            seen: list[int] = []

            async def keep(row: tuple[int]) -> None:
                seen.append(row[0])

            await stream.afor_each(keep)
            assert seen == list(range(5))
            assert conn.info.transaction_status.name == IDLE
            assert asyncio.all_tasks() == {asyncio.current_task()}

    asyncio.run(main())


def test_async_stages_over_the_async_source(pg: PG) -> None:
    async def double(row: dict[str, int]) -> int:
        await asyncio.sleep(0)
        return row["g"] * 2

    stream = read_sql(pg.url, "SELECT generate_series(1, 50) AS g", batch_size=8, async_=True)
    expected = [g * 2 for g in range(1, 51)]
    assert asyncio.run(stream.map(double, concurrency=4).ato_list()) == expected
    assert stream.map(double).to_list() == expected  # through the bridge


def test_cancelling_a_fetch_cancels_the_query(pg: PG) -> None:
    async def main() -> None:
        async with await psycopg.AsyncConnection.connect(pg.url, autocommit=True) as conn:
            pid = conn.info.backend_pid
            stream = read_sql(conn, "SELECT 1 AS one UNION ALL SELECT 2 FROM pg_sleep(60)")
            task = asyncio.create_task(stream.ato_list())
            async with await psycopg.AsyncConnection.connect(pg.url, autocommit=True) as other:
                q = f"SELECT query FROM pg_stat_activity WHERE pid = {pid} AND state = 'active'"
                while not await (await other.execute(q)).fetchall():  # the FETCH is running
                    await asyncio.sleep(0.01)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert conn.info.transaction_status.name == IDLE  # the query was cancelled, rolled back
            assert await (await conn.execute(CURSORS)).fetchall() == []
            assert await read_sql(conn, "SELECT 3 AS three").ato_list() == [{"three": 3}]

    asyncio.run(main())


def test_the_bridge_refuses_inside_a_running_loop(pg: PG) -> None:
    stream = read_sql(pg.url, "SELECT 1 AS one", async_=True)

    async def main() -> str:
        with pytest.raises(hp.HosepipeError) as e:
            stream.to_list()
        return str(e.value)

    assert "async for" in asyncio.run(main())
    assert stream.to_list() == [{"one": 1}]


@pytest.mark.usefixtures("installed")
def test_nothing_runs_before_iteration_and_connect_errors_get_the_note() -> None:
    url = "postgresql://nobody@127.0.0.1:1/none?connect_timeout=2"  # nothing listens on port 1
    stream = read_sql(url, "SELECT 1", async_=True)
    with pytest.raises(psycopg.OperationalError) as e:
        asyncio.run(stream.ato_list())
    assert e.value.__notes__ == [
        f"hosepipe: in the source read_sql({url!r}, 'SELECT 1', async_=True), item index 0"
    ]


# -- arguments --------------------------------------------------------------------------------

ASYNC_ERRORS: list[tuple[Any, dict[str, Any], type[Exception], str]] = [
    (
        "sqlite:///events.db",
        {"async_": True},
        ValueError,
        "read_sql(): `async_=True` needs a 'postgresql://...' URL or a psycopg.AsyncConnection, "
        "got 'sqlite:///events.db'; SQLite has no async driver: leave out `async_` (`async for` "
        "and the a* terminals then read it inline, in the event loop's thread)",
    ),
    (
        Path("events.db"),
        {"async_": True},
        ValueError,
        "read_sql(): `async_=True` needs a 'postgresql://...' URL or a psycopg.AsyncConnection, "
        "got PosixPath('events.db'); SQLite has no async driver: leave out `async_` (`async for` "
        "and the a* terminals then read it inline, in the event loop's thread)",
    ),
    (
        "postgresql://db/prod",
        {"async_": "yes"},
        TypeError,
        "read_sql(): `async_` must be a bool, got 'yes'",
    ),
    (
        "postgresql://db/prod",
        {"async_": True, "batch_size": 0},
        ValueError,
        "read_sql(): `batch_size` must be an int >= 1, got 0",
    ),
    (
        "postgresql://db/prod",
        {"async_": True, "rows": "list"},
        ValueError,
        "read_sql(): `rows` must be 'dict' or 'tuple', got 'list'",
    ),
    (
        "postgresql://db/prod",
        {"async_": True, "params": "abc"},
        TypeError,
        "read_sql(): `params` must be a sequence (tuple, list) or a mapping of query "
        "parameters, got 'abc' (str)",
    ),
    (
        "postgresql://db/prod",
        {"async_": True, "query": " "},
        ValueError,
        "read_sql(): `query` must not be empty, got ' '",
    ),
    (
        "mysql://u:pw@host/db",
        {"async_": True},
        ValueError,
        "read_sql(): `conn_or_url` must be a 'sqlite:///path' or 'postgresql://...' URL, "
        "got 'mysql://u:***@host/db'",
    ),
]


@pytest.mark.skipif(sys.platform == "win32", reason="the message shows a PosixPath")
@pytest.mark.parametrize(("where", "kwargs", "exc", "message"), ASYNC_ERRORS)
@pytest.mark.usefixtures("installed")
def test_read_sql_checks_its_arguments(
    where: Any, kwargs: dict[str, Any], exc: type[Exception], message: str
) -> None:
    args: dict[str, Any] = {"conn_or_url": where, "query": "SELECT 1", **kwargs}
    with pytest.raises(exc) as e:
        read_sql(**args)
    assert str(e.value) == message


def test_async_needs_an_async_connection() -> None:
    conn = sqlite3.connect(":memory:")
    try:
        with pytest.raises(ValueError) as e:
            read_sql(conn, "SELECT 1", async_=True)
        assert str(e.value).startswith(
            "read_sql(): `async_=True` needs a 'postgresql://...' URL or a "
            "psycopg.AsyncConnection, got <sqlite3.Connection>; SQLite has no async driver"
        )
    finally:
        conn.close()


def test_async_with_a_sync_psycopg_connection_is_refused(pg: PG) -> None:
    with pytest.raises(ValueError) as e:
        read_sql(pg.conn, "SELECT 1", async_=True)
    assert str(e.value) == (
        "read_sql(): `async_=True` needs a 'postgresql://...' URL or a psycopg.AsyncConnection, "
        "got <psycopg.Connection>; a psycopg.Connection is sync: pass a "
        "psycopg.AsyncConnection instead"
    )


def test_to_sql_still_refuses_an_async_connection(pg: PG) -> None:
    async def main() -> None:
        async with await psycopg.AsyncConnection.connect(pg.url) as conn:
            with pytest.raises(TypeError) as e:
                to_sql(conn, "events")
            assert str(e.value) == (
                "to_sql(): `conn_or_url` is a psycopg.AsyncConnection; to_sql() needs a "
                "psycopg.Connection (or a URL, to open its own)"
            )
            # with async_=True or without it, read_sql takes it
            assert await read_sql(conn, "SELECT 1 AS one", async_=True).ato_list() == [{"one": 1}]

    asyncio.run(main())


def test_async_url_without_psycopg(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if it were not installed
    with pytest.raises(ImportError) as e:
        read_sql("postgresql://db/prod", "SELECT 1", async_=True)
    assert str(e.value) == (
        "read_sql() with a PostgreSQL URL needs the psycopg package: "
        "pip install 'hosepipe[postgres]'"
    )
