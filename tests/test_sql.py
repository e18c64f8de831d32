"""read_sql and to_sql against SQLite (always) and a real PostgreSQL server.

The PostgreSQL tests connect to ``HOSEPIPE_PG_URL`` (default
``postgresql://postgres@127.0.0.1:5432/test``) and run each in a schema of its own, dropped
afterwards. Without a server they are skipped, unless ``CI`` is set: then they fail, so a CI
run never passes without having run them.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import hosepipe as hp
from hosepipe.sinks._sql import to_sql
from hosepipe.sources._sql import read_sql

PG_URL = os.environ.get("HOSEPIPE_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
COUNT_TO = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {n}) "


class Boom(Exception):
    pass


def fail_at(n: int) -> Any:
    """A map function that raises ``Boom`` at the item *n* (0-based)."""

    def check(item: Any) -> Any:
        if check.seen == n:  # type: ignore[attr-defined]
            raise Boom(f"item {n}")
        check.seen += 1  # type: ignore[attr-defined]
        return item

    check.seen = 0  # type: ignore[attr-defined]
    return check


def interrupt_at(n: Any) -> Any:
    def check(item: Any) -> Any:
        if item == n:
            raise KeyboardInterrupt
        return item

    return check


# -- SQLite -----------------------------------------------------------------------------------


@pytest.fixture
def conn() -> Iterator[sqlite3.Connection]:
    c = sqlite3.connect(":memory:")
    c.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
    c.executemany("INSERT INTO users VALUES (?, ?)", [(1, "ada"), (2, "alan"), (3, "grace")])
    c.execute("CREATE TABLE events (id INTEGER, kind TEXT)")
    c.commit()
    yield c
    c.close()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A SQLite file with an empty ``events (id, kind)`` table and ``users`` with 3 rows."""
    path = tmp_path / "test.db"
    c = sqlite3.connect(path)
    c.execute("CREATE TABLE events (id INTEGER, kind TEXT)")
    c.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
    c.executemany("INSERT INTO users VALUES (?, ?)", [(1, "ada"), (2, "alan"), (3, "grace")])
    c.commit()
    c.close()
    return path


def sqlite_rows(path: Path, query: str = "SELECT * FROM events ORDER BY id") -> list[Any]:
    """What another connection sees: only committed rows."""
    c = sqlite3.connect(path)
    try:
        return c.execute(query).fetchall()
    finally:
        c.close()


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[sqlite3.Connection]:
    """The connections hosepipe opens with sqlite3.connect, to check that they are closed."""
    conns: list[sqlite3.Connection] = []
    real = sqlite3.connect

    def tracking(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        c: sqlite3.Connection = real(*args, **kwargs)
        conns.append(c)
        return c

    monkeypatch.setattr(sqlite3, "connect", tracking)
    return conns


def is_closed(c: sqlite3.Connection) -> bool:
    try:
        c.execute("SELECT 1").close()
    except sqlite3.ProgrammingError:
        return True
    return False


class TestReadSqlite:
    def test_dicts_and_tuples(self, conn: sqlite3.Connection) -> None:
        query = "SELECT id, name FROM users ORDER BY id"
        assert read_sql(conn, query).to_list() == [
            {"id": 1, "name": "ada"},
            {"id": 2, "name": "alan"},
            {"id": 3, "name": "grace"},
        ]
        assert read_sql(conn, query, rows="tuple").to_list() == [
            (1, "ada"),
            (2, "alan"),
            (3, "grace"),
        ]

    def test_params(self, conn: sqlite3.Connection) -> None:
        q = "SELECT name FROM users WHERE id >= ? AND name LIKE ?"
        assert read_sql(conn, q, (2, "%a%"), rows="tuple").to_list() == [("alan",), ("grace",)]
        q = "SELECT name FROM users WHERE id = :id"
        assert read_sql(conn, q, {"id": 3}).to_list() == [{"name": "grace"}]
        assert read_sql(conn, q, params={"id": 9}).to_list() == []

    def test_the_connections_row_factory_does_not_matter(self, conn: sqlite3.Connection) -> None:
        conn.row_factory = sqlite3.Row
        assert read_sql(conn, "SELECT id FROM users", rows="tuple").first() == (1,)
        assert read_sql(conn, "SELECT id FROM users").first() == {"id": 1}

    def test_batches_smaller_and_larger_than_the_result(self, conn: sqlite3.Connection) -> None:
        q = COUNT_TO.format(n=1000) + "SELECT x FROM c"
        for batch_size in (1, 7, 1000, 5000):
            got = read_sql(conn, q, batch_size=batch_size, rows="tuple").to_list()
            assert got == [(x,) for x in range(1, 1001)]

    def test_nothing_runs_before_iteration(self, conn: sqlite3.Connection) -> None:
        stream = read_sql(conn, "SELECT * FROM no_such_table")
        with pytest.raises(sqlite3.OperationalError, match="no such table"):
            stream.to_list()

    def test_take_fetches_one_batch_not_the_whole_result(self, conn: sqlite3.Connection) -> None:
        computed = 0

        def tick(x: int) -> int:
            nonlocal computed
            computed += 1
            return x

        conn.create_function("tick", 1, tick)
        q = COUNT_TO.format(n=100_000) + "SELECT tick(x) AS x FROM c"
        assert read_sql(conn, q, batch_size=100).take(5).to_list() == [
            {"x": x} for x in range(1, 6)
        ]
        assert computed <= 101  # one batch (sqlite3 steps one row ahead on execute)
        computed = 0
        assert read_sql(conn, q, batch_size=100).count() == 100_000
        assert computed == 100_000

    def test_every_run_runs_the_query_again(self, conn: sqlite3.Connection) -> None:
        names = read_sql(conn, "SELECT name FROM users ORDER BY id").map(lambda r: r["name"])
        assert names.to_list() == ["ada", "alan", "grace"]
        conn.execute("INSERT INTO users VALUES (4, 'edsger')")
        assert names.to_list() == ["ada", "alan", "grace", "edsger"]
        assert names.count() == 4

    @pytest.mark.parametrize("form", ["url", "path"])
    def test_own_connection_closed_however_the_run_ends(
        self, db: Path, opened: list[sqlite3.Connection], form: str
    ) -> None:
        where = f"sqlite:///{db}" if form == "url" else db
        users = read_sql(where, "SELECT id, name FROM users ORDER BY id")
        assert opened == []  # nothing opened before a run
        assert users.map(lambda r: r["name"]).to_list() == ["ada", "alan", "grace"]
        with users.iterate() as it:  # closed early
            assert next(it) == {"id": 1, "name": "ada"}
            assert not is_closed(opened[1])
        with pytest.raises(Boom):  # a later stage fails
            users.map(fail_at(1)).to_list()
        with pytest.raises(sqlite3.OperationalError):  # the query fails
            read_sql(where, "SELECT nope FROM users").to_list()
        assert users.take(1).to_list() == [{"id": 1, "name": "ada"}]
        assert len(opened) == 5
        assert all(is_closed(c) for c in opened)

    def test_relative_url_and_read_only(self, db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.chdir(db.parent)
        assert read_sql(f"sqlite:///{db.name}", "SELECT count(*) AS n FROM users").to_list() == [
            {"n": 3}
        ]
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            read_sql(db, "INSERT INTO users VALUES (9, 'x') RETURNING id").to_list()
        assert sqlite_rows(db, "SELECT count(*) FROM users") == [(3,)]

    def test_a_missing_file_is_not_created(self, tmp_path: Path) -> None:
        missing = tmp_path / "missing.db"
        with pytest.raises(FileNotFoundError, match=r"^no SQLite database at "):
            read_sql(missing, "SELECT 1").to_list()
        assert not missing.exists()

    def test_memory_url(self) -> None:
        assert read_sql("sqlite:///:memory:", "SELECT 1 AS one").to_list() == [{"one": 1}]

    def test_users_connection_stays_open(self, conn: sqlite3.Connection) -> None:
        users = read_sql(conn, "SELECT id FROM users")
        assert users.first() == {"id": 1}
        with pytest.raises(Boom):
            users.map(fail_at(0)).to_list()
        assert users.count() == 3
        assert not is_closed(conn)
        assert not conn.in_transaction

    def test_duplicate_column_names(self, conn: sqlite3.Connection) -> None:
        q = "SELECT u.id, v.id FROM users u JOIN users v ON u.id = v.id"
        with pytest.raises(ValueError, match=r"^read_sql\(\): the query returns more than one "):
            read_sql(conn, q).to_list()
        assert read_sql(conn, q, rows="tuple").first() == (1, 1)

    def test_a_statement_without_rows(self, conn: sqlite3.Connection) -> None:
        with pytest.raises(ValueError, match=r"^read_sql\(\): the query returns no rows"):
            read_sql(conn, "UPDATE users SET name = name WHERE id = 0").to_list()
        with pytest.raises(ValueError, match=r"^read_sql\(\): the query returns no rows"):
            read_sql(conn, "DELETE FROM users WHERE id = 0", rows="tuple").to_list()
        conn.rollback()

    def test_labels(self, conn: sqlite3.Connection, db: Path) -> None:
        long_query = "SELECT id,\n       name\nFROM users\nWHERE id > 1 ORDER BY name DESC"
        assert repr(read_sql(conn, long_query)) == (
            "Stream(read_sql(<sqlite3.Connection>, 'SELECT id, name FROM users WHERE id >...'))"
        )
        assert repr(read_sql("sqlite:///x.db", "SELECT 1")) == (
            "Stream(read_sql('sqlite:///x.db', 'SELECT 1'))"
        )
        assert repr(to_sql("sqlite:///x.db", "events")) == "to_sql('sqlite:///x.db', 'events')"
        assert repr(to_sql(conn, "events")) == "to_sql(<sqlite3.Connection>, 'events')"
        stats = read_sql(conn, "SELECT 1").run()
        assert stats.stages[0].label == "read_sql(<sqlite3.Connection>, 'SELECT 1')"
        assert stats.stages[0].items_out == 1


def test_labels_and_messages_hide_passwords() -> None:
    pytest.importorskip("psycopg")  # a PostgreSQL URL needs it when the stream is built
    url = "postgresql://app:s3cret@db.internal:5432/prod?sslmode=require&password=other"
    shown = "'postgresql://app:***@db.internal:5432/prod?sslmode=require&password=***'"
    assert repr(read_sql(url, "SELECT 1")) == f"Stream(read_sql({shown}, 'SELECT 1'))"
    assert repr(to_sql(url, "t")) == f"to_sql({shown}, 't')"
    assert repr(to_sql(url.replace("postgresql", "postgres"), "t")).startswith(
        "to_sql('postgres://app:***@"
    )
    with pytest.raises(ValueError) as e:
        read_sql("mysql://app:s3cret@db/prod", "SELECT 1")
    assert "s3cret" not in str(e.value)


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        ("postgresql://app:p@ss@db/prod", "postgresql://app:***@db/prod"),
        ("postgresql://app:a@b:c@db:5432/prod?x=1", "postgresql://app:***@db:5432/prod?x=1"),
        ("postgresql://app@db/prod", "postgresql://app@db/prod"),
        ("postgresql://db/prod?PassWord=x&sslpassword=y", "postgresql://db/prod?PassWord=***&sslpassword=***"),
        ("host=db user=app password=s3cret", "host=db user=app password=***"),
        ("host=db password = 's3 cr\\'et' port=5432", "host=db password = *** port=5432"),
        ("password=s3cret dbname=prod", "password=*** dbname=prod"),
        ("https://api.test/x?api_key=1&apikey=2&Key=3&sig=4&signature=5&keys=6",
         "https://api.test/x?api_key=***&apikey=***&Key=***&sig=***&signature=***&keys=6"),
        ("https://api.test/x?pwd=1&passwd=2&secret=3&token=4&access_token=5&client_secret=6",
         "https://api.test/x?pwd=***&passwd=***&secret=***&token=***&access_token=***"
         "&client_secret=***"),
        ("sqlite:///data/events.db", "sqlite:///data/events.db"),
    ],
)  # fmt: skip
def test_hide_password(given: str, shown: str) -> None:
    assert hp_hide(given) == shown


def test_a_libpq_conninfo_string_is_refused_without_showing_its_password() -> None:
    for make in (lambda c: read_sql(c, "SELECT 1"), lambda c: to_sql(c, "events")):
        with pytest.raises(ValueError) as e:
            make("host=db user=app password=s3cret")
        assert "s3cret" not in str(e.value)
        assert "'host=db user=app password=***'" in str(e.value)
        assert "write a 'postgresql://user:password@host:port/dbname' URL" in str(e.value)


def test_a_raw_at_sign_in_a_url_password_is_hidden() -> None:
    pytest.importorskip("psycopg")
    url = "postgresql://app:p@ss@db.internal/prod"
    assert repr(read_sql(url, "SELECT 1")) == (
        "Stream(read_sql('postgresql://app:***@db.internal/prod', 'SELECT 1'))"
    )
    assert repr(to_sql(url, "t")) == "to_sql('postgresql://app:***@db.internal/prod', 't')"


def test_postgres_url_without_psycopg(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if it were not installed
    with pytest.raises(ImportError) as e:
        read_sql("postgresql://db/prod", "SELECT 1")
    assert str(e.value) == (
        "read_sql() with a PostgreSQL URL needs the psycopg package: "
        "pip install 'hosepipe[postgres]'"
    )
    assert read_sql("sqlite:///:memory:", "SELECT 2 AS two").to_list() == [{"two": 2}]


# -- argument checks --------------------------------------------------------------------------

READ_ERRORS: list[tuple[dict[str, Any], type[Exception], str]] = [
    (
        {"conn_or_url": 42},
        TypeError,
        "read_sql(): `conn_or_url` must be a sqlite3.Connection, a psycopg.Connection, a "
        "'sqlite:///path' or 'postgresql://...' URL, or a pathlib.Path to a SQLite file, "
        "got 42 (int)",
    ),
    (
        {"conn_or_url": "data.db"},
        ValueError,
        "read_sql(): `conn_or_url` must be a 'sqlite:///path' or 'postgresql://...' URL, "
        "got 'data.db' (for a SQLite file, write 'sqlite:///data.db' or pass a pathlib.Path)",
    ),
    (
        {"conn_or_url": "mysql://u:pw@host/db"},
        ValueError,
        "read_sql(): `conn_or_url` must be a 'sqlite:///path' or 'postgresql://...' URL, "
        "got 'mysql://u:***@host/db'",
    ),
    (
        {"conn_or_url": "sqlite:///"},
        ValueError,
        "read_sql(): `conn_or_url` must be a 'sqlite:///path' or 'postgresql://...' URL, "
        "got 'sqlite:///'",
    ),
    ({"query": b"SELECT 1"}, TypeError, "read_sql(): `query` must be a str, got b'SELECT 1'"),
    ({"query": "  "}, ValueError, "read_sql(): `query` must not be empty, got '  '"),
    (
        {"params": "abc"},
        TypeError,
        "read_sql(): `params` must be a sequence (tuple, list) or a mapping of query "
        "parameters, got 'abc' (str)",
    ),
    (
        {"params": 5},
        TypeError,
        "read_sql(): `params` must be a sequence (tuple, list) or a mapping of query "
        "parameters, got 5 (int)",
    ),
    ({"batch_size": 0}, ValueError, "read_sql(): `batch_size` must be an int >= 1, got 0"),
    ({"batch_size": True}, ValueError, "read_sql(): `batch_size` must be an int >= 1, got True"),
    ({"batch_size": 2.0}, ValueError, "read_sql(): `batch_size` must be an int >= 1, got 2.0"),
    ({"rows": "list"}, ValueError, "read_sql(): `rows` must be 'dict' or 'tuple', got 'list'"),
]


@pytest.mark.parametrize(("kwargs", "exc", "message"), READ_ERRORS)
def test_read_sql_checks_its_arguments(
    conn: sqlite3.Connection, kwargs: dict[str, Any], exc: type[Exception], message: str
) -> None:
    args: dict[str, Any] = {"conn_or_url": conn, "query": "SELECT 1", **kwargs}
    with pytest.raises(exc) as e:
        read_sql(**args)
    assert str(e.value) == message


WRITE_ERRORS: list[tuple[dict[str, Any], type[Exception], str]] = [
    (
        {"conn_or_url": None},
        TypeError,
        "to_sql(): `conn_or_url` must be a sqlite3.Connection, a psycopg.Connection, a "
        "'sqlite:///path' or 'postgresql://...' URL, or a pathlib.Path to a SQLite file, "
        "got None (NoneType)",
    ),
    (
        {"conn_or_url": "sqlite:///:memory:"},
        ValueError,
        "to_sql(): `conn_or_url` 'sqlite:///:memory:' opens a new, empty database for each "
        "run and throws it away when the run ends; pass a sqlite3.Connection to keep it",
    ),
    ({"table": 3}, TypeError, "to_sql(): `table` must be a str, got 3 (int)"),
    ({"table": ""}, ValueError, "to_sql(): `table` must be 'name' or 'schema.name', got ''"),
    (
        {"table": "a..b"},
        ValueError,
        "to_sql(): `table` must be 'name' or 'schema.name', got 'a..b'",
    ),
    (
        {"table": "a.b.c"},
        ValueError,
        "to_sql(): `table` must be 'name' or 'schema.name', got 'a.b.c'",
    ),
    (
        {"columns": "id,kind"},
        TypeError,
        "to_sql(): `columns` must be None or a list or tuple of column names, got 'id,kind' (str)",
    ),
    ({"columns": []}, ValueError, "to_sql(): `columns` must name at least one column, got []"),
    (
        {"columns": ["id", "id"]},
        ValueError,
        "to_sql(): `columns` names a column twice: ['id', 'id']",
    ),
    (
        {"columns": ["id", 2]},
        TypeError,
        "to_sql(): every column name must be a str, got 2 (int)",
    ),
    (
        {"columns": ["id", ""]},
        ValueError,
        "to_sql(): every column name must be a non-empty name without NUL, got ''",
    ),
    ({"batch_size": 0}, ValueError, "to_sql(): `batch_size` must be an int >= 1, got 0"),
    ({"batch_size": "10"}, ValueError, "to_sql(): `batch_size` must be an int >= 1, got '10'"),
    ({"commit": "always"}, ValueError, "to_sql(): `commit` must be 'batch' or 'run', got 'always'"),
]


@pytest.mark.parametrize(("kwargs", "exc", "message"), WRITE_ERRORS)
def test_to_sql_checks_its_arguments(
    conn: sqlite3.Connection, kwargs: dict[str, Any], exc: type[Exception], message: str
) -> None:
    args: dict[str, Any] = {"conn_or_url": conn, "table": "events", **kwargs}
    with pytest.raises(exc) as e:
        to_sql(**args)
    assert str(e.value) == message


# -- to_sql into SQLite -----------------------------------------------------------------------


def events(n: int) -> hp.Stream[dict[str, Any]]:
    return hp.Stream(range(n)).map(lambda i: {"id": i, "kind": f"k{i % 3}"})


class TestWriteSqlite:
    def test_dicts_round_trip(self, conn: sqlite3.Connection) -> None:
        assert events(1234).to(to_sql(conn, "events", batch_size=100)) == 1234
        got = read_sql(conn, "SELECT id, kind FROM events ORDER BY id").to_list()
        assert got == events(1234).to_list()

    def test_tuples_lists_and_column_order(self, conn: sqlite3.Connection) -> None:
        sink = to_sql(conn, "events", columns=("kind", "id"))
        assert hp.Stream([("a", 1), ["b", 2], {"id": 3, "kind": "c"}]) | sink == 3
        # later dicts may list the keys in another order
        assert (
            hp.Stream([{"kind": "d", "id": 4}, {"id": 5, "kind": "e"}]) | to_sql(conn, "events")
            == 2
        )
        got = read_sql(conn, "SELECT id, kind FROM events ORDER BY id", rows="tuple").to_list()
        assert got == [(1, "a"), (2, "b"), (3, "c"), (4, "d"), (5, "e")]

    def test_a_list_the_producer_reuses_is_copied(self, conn: sqlite3.Connection) -> None:
        def reusing() -> Iterator[list[Any]]:
            row: list[Any] = [None, None]
            for i in range(5):
                row[0], row[1] = i, f"k{i}"
                yield row  # the same list each time, changed after the sink took it

        assert hp.Stream(reusing()) | to_sql(conn, "events", columns=["id", "kind"]) == 5
        got = conn.execute("SELECT id, kind FROM events ORDER BY id").fetchall()
        assert got == [(i, f"k{i}") for i in range(5)]

    def test_some_columns(self, conn: sqlite3.Connection) -> None:
        assert hp.Stream([{"id": 7}]) | to_sql(conn, "events") == 1
        assert hp.Stream([(8,)]) | to_sql(conn, "events", columns=["id"]) == 1
        assert conn.execute("SELECT id, kind FROM events").fetchall() == [(7, None), (8, None)]

    def test_empty_stream(self, conn: sqlite3.Connection, db: Path) -> None:
        assert hp.Stream([]) | to_sql(conn, "events") == 0
        assert hp.Stream([]) | to_sql(db, "events", commit="run") == 0
        assert sqlite_rows(db) == []

    def test_names_are_quoted(self, conn: sqlite3.Connection) -> None:
        conn.execute('CREATE TABLE "odd ""table""" ("a b" INTEGER, "c""d" TEXT, "Up" TEXT)')
        sink = to_sql(conn, 'main.odd "table"')
        assert hp.Stream([{"a b": 1, 'c"d': "x", "Up": "y"}]) | sink == 1
        q = 'SELECT * FROM "odd ""table"""'
        assert read_sql(conn, q).to_list() == [{"a b": 1, 'c"d': "x", "Up": "y"}]

    def test_keys_that_differ_from_the_columns(self, conn: sqlite3.Connection) -> None:
        items = [{"id": 1, "kind": "a"}, {"id": 2, "kind": "b"}, {"id": 3, "knd": "c"}]
        with pytest.raises(hp.DataError) as e:
            hp.Stream(items) | to_sql(conn, "events", commit="run")
        assert str(e.value) == (
            "to_sql(): item 2 does not have the columns ('id', 'kind'): missing 'kind'; "
            "unexpected 'knd'"
        )
        assert isinstance(e.value, ValueError)
        assert e.value.__notes__ == [
            "hosepipe: in the terminal to(to_sql(<sqlite3.Connection>, 'events')), item index 2"
        ]
        with pytest.raises(hp.DataError, match=r"^to_sql\(\): item 1 .*: unexpected 'x'\n"):
            hp.Stream([{"id": 1}, {"id": 2, "x": 0}]) | to_sql(conn, "events")
        assert conn.execute("SELECT count(*) FROM events").fetchone() == (0,)

    def test_bad_items(self, conn: sqlite3.Connection) -> None:
        with pytest.raises(TypeError) as e:
            hp.Stream([(1, "a")]) | to_sql(conn, "events")
        assert str(e.value) == (
            "to_sql(): item 0 is a tuple; to write tuples or lists, say which column each "
            "value goes to with `columns=`"
        )
        with pytest.raises(hp.DataError) as e2:
            hp.Stream([(1, "a"), (2,)]) | to_sql(conn, "events", columns=["id", "kind"])
        assert str(e2.value) == ("to_sql(): item 1 has 1 values for the 2 columns ('id', 'kind')")
        with pytest.raises(TypeError) as e3:
            hp.Stream(["id,kind"]) | to_sql(conn, "events", columns=["id", "kind"])
        assert str(e3.value) == (
            "to_sql(): item 0 must be a dict (or other mapping), a tuple or a list, "
            "got 'id,kind' (str)"
        )
        with pytest.raises(TypeError, match=r"^to_sql\(\): item 0: every key must be a str, "):
            hp.Stream([{1: "a"}]) | to_sql(conn, "events")

    @pytest.mark.parametrize("form", ["connection", "url"])
    @pytest.mark.parametrize(("commit", "kept"), [("batch", 20), ("run", 0)])
    def test_a_failure_keeps_full_batches_or_nothing(
        self, db: Path, form: str, commit: Any, kept: int
    ) -> None:
        c = sqlite3.connect(db)
        try:
            where: Any = c if form == "connection" else f"sqlite:///{db}"
            sink = to_sql(where, "events", batch_size=10, commit=commit)
            with pytest.raises(Boom):
                events(100).map(fail_at(25)).to(sink)
            assert sqlite_rows(db) == [(i, f"k{i % 3}") for i in range(kept)]
            assert not c.in_transaction
            assert events(15).to(sink) == 15  # and it runs again
        finally:
            c.close()
        assert len(sqlite_rows(db)) == kept + 15

    @pytest.mark.parametrize(("commit", "kept"), [("batch", 30), ("run", 0)])
    def test_an_interrupt_keeps_full_batches_or_nothing(
        self, db: Path, commit: Any, kept: int
    ) -> None:
        sink = to_sql(db, "events", batch_size=10, commit=commit)
        with pytest.raises(KeyboardInterrupt):
            events(100).map(interrupt_at({"id": 33, "kind": "k0"})).to(sink)
        assert len(sqlite_rows(db)) == kept

    @pytest.mark.parametrize(("commit", "kept"), [("batch", 10), ("run", 0)])
    def test_abort(self, db: Path, commit: Any, kept: int) -> None:
        writer = to_sql(db, "events", batch_size=10, commit=commit).open()
        for item in events(15):
            writer.write(item)
        writer.abort()
        writer.abort()  # a second abort does nothing
        assert len(sqlite_rows(db)) == kept

    def test_commit_run_is_one_transaction(self, db: Path) -> None:
        writer = to_sql(db, "events", batch_size=10, commit="run").open()
        for item in events(25):
            writer.write(item)
        assert sqlite_rows(db) == []  # two batches written, none committed
        assert writer.commit() == 25
        assert len(sqlite_rows(db)) == 25

    def test_a_failing_batch_is_rolled_back(self, conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE keyed (id INTEGER PRIMARY KEY)")
        items = [{"id": i} for i in (1, 2, 3, 4, 4, 5)]
        with pytest.raises(sqlite3.IntegrityError):
            hp.Stream(items) | to_sql(conn, "keyed", batch_size=3)
        assert conn.execute("SELECT id FROM keyed").fetchall() == [(1,), (2,), (3,)]
        assert not conn.in_transaction

    def test_own_connection_closed_users_kept(
        self, db: Path, opened: list[sqlite3.Connection]
    ) -> None:
        assert events(5).to(to_sql(db, "events")) == 5
        with pytest.raises(Boom):
            events(5).map(fail_at(2)).to(to_sql(f"sqlite:///{db}", "events", commit="run"))
        writer = to_sql(db, "events").open()
        writer.abort()
        assert len(opened) == 3
        assert all(is_closed(c) for c in opened)
        mine = sqlite3.connect(db)
        assert events(5).to(to_sql(mine, "events")) == 5
        assert not is_closed(mine)
        mine.close()

    def test_missing_file_or_table(self, tmp_path: Path, db: Path) -> None:
        with pytest.raises(FileNotFoundError):
            events(1).to(to_sql(tmp_path / "missing.db", "events"))
        assert not (tmp_path / "missing.db").exists()
        with pytest.raises(sqlite3.OperationalError, match="no such table: nope"):
            events(1).to(to_sql(db, "nope"))

    def test_inside_the_users_transaction(self, db: Path) -> None:
        c = sqlite3.connect(db)  # legacy transaction control: the INSERT opens a transaction
        try:
            c.execute("INSERT INTO events VALUES (-1, 'mine')")
            assert events(20).to(to_sql(c, "events", batch_size=5)) == 20
            assert c.in_transaction
            assert sqlite_rows(db) == []  # savepoints of the user's transaction
            c.commit()
            assert len(sqlite_rows(db)) == 21
        finally:
            c.close()

    def test_read_and_write_on_one_connection(self, conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE copy (id INTEGER, kind TEXT)")
        events(2000).to(to_sql(conn, "events"))
        for commit in ("batch", "run"):
            copied = read_sql(conn, "SELECT * FROM events", batch_size=300).to(
                to_sql(conn, "copy", batch_size=70, commit=commit)
            )
            assert copied == 2000
        assert conn.execute("SELECT count(*), sum(id) FROM copy").fetchone() == (
            4000,
            2 * sum(range(2000)),
        )


# -- PostgreSQL -------------------------------------------------------------------------------

try:
    import psycopg
except ImportError:  # the SQLite tests still run
    psycopg = None  # type: ignore[assignment]


@pytest.fixture(scope="session")
def pg_url() -> str:
    """The server's URL; skip (or fail, when ``CI`` is set) when it does not answer."""
    if psycopg is None:
        message = "psycopg is not installed: pip install 'hosepipe[postgres]'"
        if os.environ.get("CI"):
            pytest.fail(f"CI is set, so the PostgreSQL tests must run: {message}")
        pytest.skip(message)
    try:
        psycopg.connect(PG_URL, connect_timeout=2).close()
    except psycopg.OperationalError as e:
        message = (
            f"no PostgreSQL server at {hp_hide(PG_URL)} ({' '.join(str(e).split())}); set "
            "HOSEPIPE_PG_URL=postgresql://user:password@host:port/dbname to run these tests"
        )
        if os.environ.get("CI"):
            pytest.fail(f"CI is set, so the PostgreSQL tests must run: {message}")
        pytest.skip(message)
    return PG_URL


def hp_hide(url: str) -> str:
    from hosepipe.sources._sql import hide_password

    return hide_password(url)


class PG:
    """A connection (autocommit) and a fresh schema with ``events (id, kind)``."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.schema = f"hp_test_{secrets.token_hex(4)}"
        self.conn = psycopg.connect(url, autocommit=True)
        self.conn.execute(f"CREATE SCHEMA {self.schema}")
        self.events = f"{self.schema}.events"
        self.conn.execute(f"CREATE TABLE {self.events} (id bigint, kind text)")

    def rows(self, table: str | None = None) -> list[tuple[Any, ...]]:
        """What another connection sees: only committed rows."""
        with psycopg.connect(self.url) as other:
            return other.execute(f"SELECT * FROM {table or self.events} ORDER BY 1").fetchall()

    def close(self) -> None:
        self.conn.close()
        with psycopg.connect(self.url, autocommit=True) as c:
            c.execute(f"DROP SCHEMA {self.schema} CASCADE")


@pytest.fixture
def pg(pg_url: str) -> Iterator[PG]:
    db = PG(pg_url)
    yield db
    db.close()


def url_with(url: str, **options: str) -> str:
    extra = "&".join(f"{k}={v}" for k, v in options.items())
    return f"{url}{'&' if '?' in url else '?'}{extra}"


class TestPostgres:
    def test_read_dicts_tuples_params(self, pg: PG) -> None:
        conn = pg.conn
        events(10).to(to_sql(conn, pg.events))
        q = f"SELECT id, kind FROM {pg.events} WHERE id < %s ORDER BY id"
        assert read_sql(conn, q, (2,)).to_list() == [
            {"id": 0, "kind": "k0"},
            {"id": 1, "kind": "k1"},
        ]
        assert read_sql(pg.url, q, [3], rows="tuple").to_list() == [(0, "k0"), (1, "k1"), (2, "k2")]
        q = f"SELECT count(*) AS n FROM {pg.events} WHERE kind = %(kind)s"
        assert read_sql(conn, q, {"kind": "k0"}).to_list() == [{"n": 4}]
        q = f"SELECT count(*) AS n FROM {pg.events} WHERE kind LIKE 'k%'"  # no params: no escape
        assert read_sql(conn, q, batch_size=1).to_list() == [{"n": 10}]

    def test_server_side_cursor(self, pg: PG) -> None:
        conn = pg.conn
        cursors = "SELECT name FROM pg_cursors"
        stream = read_sql(conn, "SELECT generate_series(1, 10) AS g", batch_size=4)
        with stream.iterate() as it:
            assert next(it) == {"g": 1}
            [(name,)] = conn.execute(cursors).fetchall()
            assert name.startswith("hosepipe_read_sql_")
            assert conn.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
        assert conn.execute(cursors).fetchall() == []
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        assert stream.count() == 10
        assert conn.execute(cursors).fetchall() == []

    def test_take_streams_from_a_huge_result(self, pg: PG) -> None:
        # a client-side cursor would fetch 10**8 rows and hit the statement timeout (an
        # error), so getting the rows shows the query was streamed (no timing asserted)
        url = url_with(pg.url, options="-c%20statement_timeout%3D5000")
        got = read_sql(url, "SELECT generate_series(1, 100000000) AS g").take(3).to_list()
        assert got == [{"g": 1}, {"g": 2}, {"g": 3}]

    def test_own_connection_closed_after_early_close(self, pg: PG) -> None:
        app = f"hp_{secrets.token_hex(4)}"
        url = url_with(pg.url, application_name=app)
        backends = f"SELECT count(*) FROM pg_stat_activity WHERE application_name = '{app}'"

        def open_backends() -> int:
            n: int = pg.conn.execute(backends).fetchone()[0]  # type: ignore[index]
            return n

        with read_sql(url, "SELECT generate_series(1, 10000) AS g").iterate() as it:
            assert next(it) == {"g": 1}
            assert open_backends() == 1
        deadline = time.monotonic() + 2  # the server notices the disconnection shortly
        while open_backends() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert open_backends() == 0

    def test_copy_round_trip(self, pg: PG) -> None:
        n = 50_000
        sink = to_sql(pg.url, pg.events, batch_size=5000)
        assert events(n).to(sink) == n
        q = f"SELECT count(*) AS n, sum(id) AS s, count(DISTINCT kind) AS k FROM {pg.events}"
        assert read_sql(pg.conn, q).to_list() == [{"n": n, "s": sum(range(n)), "k": 3}]
        streamed = read_sql(pg.url, f"SELECT id, kind FROM {pg.events} ORDER BY id", batch_size=999)
        assert streamed.map(lambda r: r["id"]).to_list() == list(range(n))

    def test_a_list_the_producer_reuses_is_copied(self, pg: PG) -> None:
        def reusing() -> Iterator[list[Any]]:
            row: list[Any] = [None, None]
            for i in range(5):
                row[0], row[1] = i, f"k{i}"
                yield row

        assert hp.Stream(reusing()) | to_sql(pg.url, pg.events, columns=["id", "kind"]) == 5
        assert pg.rows() == [(i, f"k{i}") for i in range(5)]

    def test_copy_types_nulls_and_quoted_names(self, pg: PG) -> None:
        table = f'{pg.schema}."Odd ""Table"""'
        pg.conn.execute(
            f'CREATE TABLE {table} ("Mixed Case" int, "tab\tquote""" text, at timestamptz)'
        )
        import datetime as dt

        at = dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.UTC)
        items = [
            {"Mixed Case": 1, 'tab\tquote"': "a\tb\nc\\d", "at": at},
            {"Mixed Case": None, 'tab\tquote"': None, "at": None},
        ]
        assert hp.Stream(items) | to_sql(pg.conn, f'{pg.schema}.Odd "Table"') == 2
        assert read_sql(pg.conn, f"SELECT * FROM {table} ORDER BY 1").to_list() == items

    @pytest.mark.parametrize("form", ["connection", "url"])
    @pytest.mark.parametrize(("commit", "kept"), [("batch", 20), ("run", 0)])
    def test_a_failure_keeps_full_batches_or_nothing(
        self, pg: PG, form: str, commit: Any, kept: int
    ) -> None:
        where: Any = pg.conn if form == "connection" else pg.url
        sink = to_sql(where, pg.events, batch_size=10, commit=commit)
        with pytest.raises(Boom):
            events(100).map(fail_at(25)).to(sink)
        assert pg.rows() == [(i, f"k{i % 3}") for i in range(kept)]
        assert pg.conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        assert events(5).to(sink) == 5
        assert len(pg.rows()) == kept + 5

    @pytest.mark.parametrize(("commit", "kept"), [("batch", 30), ("run", 0)])
    def test_an_interrupt_keeps_full_batches_or_nothing(
        self, pg: PG, commit: Any, kept: int
    ) -> None:
        sink = to_sql(pg.conn, pg.events, batch_size=10, commit=commit)
        with pytest.raises(KeyboardInterrupt):
            events(100).map(interrupt_at({"id": 33, "kind": "k0"})).to(sink)
        assert len(pg.rows()) == kept
        assert pg.conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE

    def test_commit_run_is_one_transaction(self, pg: PG) -> None:
        writer = to_sql(pg.url, pg.events, batch_size=10, commit="run").open()
        for item in events(25):
            writer.write(item)
        assert pg.rows() == []
        assert writer.commit() == 25
        assert len(pg.rows()) == 25

    def test_a_failing_batch_is_rolled_back(self, pg: PG) -> None:
        table = f"{pg.schema}.keyed"
        pg.conn.execute(f"CREATE TABLE {table} (id int PRIMARY KEY)")
        with pytest.raises(psycopg.errors.UniqueViolation):
            hp.Stream([{"id": i} for i in (1, 2, 3, 4, 4, 5)]) | to_sql(
                pg.conn, table, batch_size=3
            )
        assert pg.rows(table) == [(1,), (2,), (3,)]
        assert pg.conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE

    def test_keys_that_differ_from_the_columns(self, pg: PG) -> None:
        items = [{"id": 1, "kind": "a"}, {"id": 2}]
        with pytest.raises(hp.DataError, match=r"^to_sql\(\): item 1 .*: missing 'kind'\n"):
            hp.Stream(items) | to_sql(pg.url, pg.events)
        assert pg.rows() == []

    def test_inside_the_users_transaction(self, pg: PG) -> None:
        with psycopg.connect(pg.url) as conn:  # not autocommit
            conn.execute(f"INSERT INTO {pg.events} VALUES (-1, 'mine')")
            assert events(20).to(to_sql(conn, pg.events, batch_size=5)) == 20
            assert read_sql(conn, f"SELECT count(*) AS n FROM {pg.events}").first() == {"n": 21}
            assert pg.rows() == []  # savepoints of the user's transaction
            conn.commit()
        assert len(pg.rows()) == 21

    @pytest.mark.parametrize("commit", ["batch", "run"])
    def test_read_and_write_on_one_connection(self, pg: PG, commit: Any) -> None:
        copy = f"{pg.schema}.copy"
        pg.conn.execute(f"CREATE TABLE {copy} (id bigint, kind text)")
        events(1000).to(to_sql(pg.conn, pg.events))
        source = read_sql(pg.conn, f"SELECT * FROM {pg.events}", batch_size=300)
        sink = to_sql(pg.conn, copy, batch_size=70, commit=commit)
        assert source.to(sink) == 1000
        assert len(pg.rows(copy)) == 1000
        with pytest.raises(Boom):
            source.map(fail_at(500)).to(sink)
        assert len(pg.rows(copy)) == 1000 + (490 if commit == "batch" else 0)
        assert pg.conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
