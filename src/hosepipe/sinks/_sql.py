"""Database sinks: insert a stream's items into a SQLite or PostgreSQL table, in batches.

``to_sql`` buffers ``batch_size`` rows and writes them in one go: ``executemany`` of one
``INSERT`` for SQLite, one ``COPY table (columns) FROM STDIN`` for PostgreSQL. Memory holds
at most one batch. ``commit`` says what a failed or interrupted run leaves behind:

* ``"batch"`` (the default): each batch is committed once written, so a run that fails
  after 2,500 items with ``batch_size=1000`` leaves the first 2,000 rows in the table; the
  current, unfinished batch is dropped. Re-running such a load must cope with the rows
  already there (a key, ``ON CONFLICT``, or a staging table).
* ``"run"``: the whole run is one transaction, committed when the stream ends and rolled
  back when it fails or is interrupted: the table is left as it was.

A connection you pass may already be inside a transaction (one you began, or Python
3.12's ``sqlite3`` with ``autocommit=False``): to_sql's transactions then become savepoints
of yours, and nothing is durable until you commit. A connection to a URL or a path is
opened for each run and closed when it ends.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from operator import itemgetter

from hosepipe._errors import DataError
from hosepipe._typing import TYPE_CHECKING
from hosepipe.sinks._base import Sink, SinkWriter
from hosepipe.sources._sql import Target

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, Literal

    from hosepipe.sources._sql import Connectable

    Item = Mapping[str, Any] | tuple[Any, ...] | list[Any]

__all__ = ["to_sql"]

_savepoint_ids = itertools.count(1)


def _check_name(op: str, what: str, name: object) -> str:
    if not isinstance(name, str):
        raise TypeError(f"{op}(): {what} must be a str, got {name!r} ({type(name).__name__})")
    if not name or "\x00" in name:
        raise ValueError(f"{op}(): {what} must be a non-empty name without NUL, got {name!r}")
    return name


def _check_columns(op: str, columns: object) -> tuple[str, ...] | None:
    if columns is None:
        return None
    if not isinstance(columns, list | tuple):
        raise TypeError(
            f"{op}(): `columns` must be None or a list or tuple of column names, "
            f"got {columns!r} ({type(columns).__name__})"
        )
    if not columns:
        raise ValueError(f"{op}(): `columns` must name at least one column, got {columns!r}")
    names = tuple(_check_name(op, "every column name", c) for c in columns)
    if len(set(names)) != len(names):
        raise ValueError(f"{op}(): `columns` names a column twice: {columns!r}")
    return names


def quote_sqlite(parts: Sequence[str]) -> str:
    """A SQLite identifier, each part double-quoted with its quotes doubled.

    >>> quote_sqlite(["main", 'a"b'])
    '"main"."a""b"'
    """
    return ".".join('"' + p.replace('"', '""') + '"' for p in parts)


class _SqlSink(Sink["Item", int]):
    def __init__(
        self,
        target: Target,
        table: str,
        columns: tuple[str, ...] | None,
        batch_size: int,
        per_batch: bool,
    ) -> None:
        self.target = target
        self.table = table
        self.columns = columns
        self.batch_size = batch_size
        self.per_batch = per_batch
        self.label = f"to_sql({target.shown}, {table!r})"

    def open(self) -> SinkWriter[Item, int]:
        return self._open()

    def _open(self) -> _Writer:
        conn, owned = self.target.open(write=True)
        try:
            if self.target.kind == "sqlite":
                return _SqliteWriter(self, conn, owned)
            return _PostgresWriter(self, conn, owned)
        except BaseException:
            if owned:
                conn.close()
            raise

    def open_checkpointed(self, key: str, store: Any) -> _Checkpointed:
        """A writer for a checkpointed run (``hosepipe._checkpoint``) of job *key*."""
        return _Checkpointed(self._open(), key, store)


class _Writer:
    """One run of a ``to_sql`` sink: turns items into rows, buffers and flushes batches."""

    def __init__(self, sink: _SqlSink, conn: Any, owned: bool) -> None:
        self.conn = conn
        self.owned = owned
        self.table_parts = tuple(sink.table.split("."))
        self.batch_size = sink.batch_size
        self.per_batch = sink.per_batch
        self.columns: tuple[str, ...] = ()
        self.keys: frozenset[str] = frozenset()
        self.values: Callable[[Mapping[str, Any]], tuple[Any, ...]] = tuple
        self.rows: list[Sequence[Any]] = []
        self.items = 0  # items received
        self.written = 0  # rows inserted (committed, with commit="batch")
        self.done = False
        if sink.columns is not None:
            self._set_columns(sink.columns)

    # -- what a backend provides ------------------------------------------------------------

    def _prepare(self) -> None:
        """The columns are known: build the insert statement."""
        raise NotImplementedError

    def _insert(self, rows: list[Sequence[Any]]) -> None:
        """Insert *rows* into the table, in the run's transaction."""
        raise NotImplementedError

    def _begin(self) -> None:
        raise NotImplementedError

    def _end(self, ok: bool) -> None:
        """Commit (*ok*) or roll back the transaction ``_begin`` started."""
        raise NotImplementedError

    # -- the writer protocol ----------------------------------------------------------------

    def _set_columns(self, columns: tuple[str, ...]) -> None:
        self.columns = columns
        self.keys = frozenset(columns)
        if len(columns) == 1:
            only = columns[0]
            self.values = lambda item: (item[only],)
        else:
            self.values = itemgetter(*columns)
        self._prepare()

    def write(self, item: Item, /) -> None:
        index = self.items
        self.items += 1
        row: Sequence[Any]
        if isinstance(item, Mapping):
            if not self.columns:
                for key in item:
                    _check_name("to_sql", f"item {index}: every key", key)
                self._set_columns(tuple(item))
            elif item.keys() != self.keys:
                raise DataError(self._key_mismatch(index, item))
            row = self.values(item)
        elif isinstance(item, tuple | list):
            if not self.columns:
                raise TypeError(
                    f"to_sql(): item {index} is a {type(item).__name__}; to write tuples or "
                    "lists, say which column each value goes to with `columns=`"
                )
            if len(item) != len(self.columns):
                raise DataError(
                    f"to_sql(): item {index} has {len(item)} values for the "
                    f"{len(self.columns)} columns {self.columns!r}"
                )
            row = tuple(item)  # a copy: the producer may reuse and change its list
        else:
            raise TypeError(
                f"to_sql(): item {index} must be a dict (or other mapping), a tuple or a "
                f"list, got {item!r} ({type(item).__name__})"
            )
        self.rows.append(row)
        if len(self.rows) >= self.batch_size:
            self._flush()

    def _key_mismatch(self, index: int, item: Mapping[str, Any]) -> str:
        missing = [c for c in self.columns if c not in item]
        extra = [k for k in item if k not in self.keys]
        what = []
        if missing:
            what.append(f"missing {', '.join(map(repr, missing))}")
        if extra:
            what.append(f"unexpected {', '.join(map(repr, extra))}")
        return (
            f"to_sql(): item {index} does not have the columns {self.columns!r}: {'; '.join(what)}"
        )

    def _flush(self) -> None:
        rows, self.rows = self.rows, []
        if not rows:
            return
        if self.per_batch:
            self._begin()
            try:
                self._insert(rows)
            except BaseException:
                self._end(ok=False)
                raise
            self._end(ok=True)
        else:
            self._insert(rows)
        self.written += len(rows)

    def commit(self) -> int:
        if self.done:
            return self.written
        self.done = True
        try:
            self._flush()
            if not self.per_batch:
                self._end(ok=True)
        except BaseException:
            if not self.per_batch:
                self._end(ok=False)
            raise
        finally:
            self._close()
        return self.written

    def flush(self) -> None:
        """Commit the rows written so far and go on in a new transaction: a broker source
        acks its messages after this (``stream.to(sink)`` registers it)."""
        if self.done:
            return
        self._flush()
        if not self.per_batch:
            self._end(ok=True)
            self._begin()

    def abort(self) -> None:
        if self.done:
            return
        self.done = True
        self.rows = []
        try:
            if not self.per_batch:
                self._end(ok=False)
        finally:
            self._close()

    def _close(self) -> None:
        if self.owned:
            self.conn.close()


class _SqliteWriter(_Writer):
    """Transactions are savepoints: a transaction of their own on a connection outside
    one, nested in the connection's transaction otherwise."""

    def __init__(self, sink: _SqlSink, conn: Any, owned: bool) -> None:
        self.savepoint = f'"hosepipe_to_sql_{next(_savepoint_ids)}"'
        self.statement = ""
        super().__init__(sink, conn, owned)
        if not self.per_batch:
            self._begin()

    def _prepare(self) -> None:
        marks = ", ".join("?" * len(self.columns))
        self.statement = (
            f"INSERT INTO {quote_sqlite(self.table_parts)} "
            f"({', '.join(quote_sqlite([c]) for c in self.columns)}) VALUES ({marks})"
        )

    def _insert(self, rows: list[Sequence[Any]]) -> None:
        self.conn.executemany(self.statement, rows)

    def _begin(self) -> None:
        self.conn.execute(f"SAVEPOINT {self.savepoint}")

    def _end(self, ok: bool) -> None:
        if ok:
            self.conn.execute(f"RELEASE {self.savepoint}")
            return
        import sqlite3

        try:
            self.conn.execute(f"ROLLBACK TO {self.savepoint}")
            self.conn.execute(f"RELEASE {self.savepoint}")
        except sqlite3.Error:  # some errors make SQLite roll the whole transaction back
            pass


class _PostgresWriter(_Writer):
    """Transactions are psycopg transaction blocks (``conn.transaction()``): ``BEGIN`` on
    a connection outside a transaction, a savepoint inside one."""

    def __init__(self, sink: _SqlSink, conn: Any, owned: bool) -> None:
        from psycopg import sql

        self.sql = sql
        self.statement: Any = None
        self.block: Any = None
        self.tx: Any = None
        super().__init__(sink, conn, owned)
        if not self.per_batch:
            self._begin()

    def _prepare(self) -> None:
        sql = self.sql
        self.statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
            sql.Identifier(*self.table_parts),
            sql.SQL(", ").join(sql.Identifier(c) for c in self.columns),
        )

    def _insert(self, rows: list[Sequence[Any]]) -> None:
        with self.conn.cursor() as cursor, cursor.copy(self.statement) as copy:
            write_row = copy.write_row
            for row in rows:
                write_row(row)

    def _begin(self) -> None:
        self.block = self.conn.transaction()  # a context manager around a psycopg.Transaction
        self.tx = self.block.__enter__()

    def _end(self, ok: bool) -> None:
        block, tx, self.block, self.tx = self.block, self.tx, None, None
        if block is None:
            return
        # psycopg's documented force_rollback: roll back when the block ends, no error needed
        tx.force_rollback = not ok
        block.__exit__(None, None, None)


def to_sql(
    conn_or_url: Connectable,
    table: str,
    *,
    columns: Sequence[str] | None = None,
    batch_size: int = 500,
    commit: Literal["batch", "run"] = "batch",
) -> Sink[Item, int]:
    """A sink that inserts items into *table* in batches; its result is the number of rows.

    *conn_or_url* is a ``sqlite3.Connection`` or a ``psycopg.Connection`` (used as it is,
    never closed), or a ``sqlite:///path`` or ``postgresql://user:password@host/dbname``
    URL or a ``pathlib.Path`` to a SQLite file (opened for each run, closed when it ends;
    the file must exist). *table* is a name or ``schema.name`` (a dot always separates
    them); names are quoted, so they are matched exactly, case included. The table must
    exist.

    Items are dicts (any mapping) from column name to value, or tuples or lists of values
    in the order of *columns*. *columns* names the table's columns to fill; without it
    they are the keys of the first item, which must then be a dict. Every dict must have
    exactly these keys: a missing or unexpected key is a ``DataError`` (a ``ValueError``)
    naming the item's index, as is a tuple of the wrong length.

    Rows are written *batch_size* at a time: one ``executemany`` for SQLite, one ``COPY
    ... FROM STDIN`` for PostgreSQL. With ``commit="batch"`` each batch is committed as it
    is written, and a failed or interrupted run keeps the full batches written before it
    (it drops the one it was filling); with ``commit="run"`` the run is one transaction,
    rolled back when the run fails or is interrupted, so the table is left as it was.

    >>> import sqlite3
    >>> import hosepipe as hp
    >>> conn = sqlite3.connect(":memory:")
    >>> _ = conn.execute("CREATE TABLE events (id INTEGER, kind TEXT)")
    >>> hp.Stream(range(5)).map(lambda i: {"id": i, "kind": "click"}).to(hp.to_sql(conn, "events"))
    5
    >>> hp.Stream([(5, "view"), (6, "view")]) | hp.to_sql(conn, "events", columns=["id", "kind"])
    2
    >>> conn.execute("SELECT kind, count(*) FROM events GROUP BY kind").fetchall()
    [('click', 5), ('view', 2)]
    >>> hp.to_sql("sqlite:///events.db", "events", commit="run")
    to_sql('sqlite:///events.db', 'events')
    >>> conn.close()
    """
    target = Target.parse("to_sql", conn_or_url)
    if target.memory:
        raise ValueError(
            f"to_sql(): `conn_or_url` {target.shown} opens a new, empty database for each "
            "run and throws it away when the run ends; pass a sqlite3.Connection to keep it"
        )
    if not isinstance(table, str):
        raise TypeError(f"to_sql(): `table` must be a str, got {table!r} ({type(table).__name__})")
    parts = table.split(".")
    if len(parts) > 2 or not all(parts) or "\x00" in table:
        raise ValueError(f"to_sql(): `table` must be 'name' or 'schema.name', got {table!r}")
    names = _check_columns("to_sql", columns)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"to_sql(): `batch_size` must be an int >= 1, got {batch_size!r}")
    if commit not in ("batch", "run"):
        raise ValueError(f"to_sql(): `commit` must be 'batch' or 'run', got {commit!r}")
    return _SqlSink(target, table, names, batch_size, commit == "batch")


# -- checkpointed runs (hosepipe._checkpoint) ------------------------------------------------

CHECKPOINTS = "hosepipe_checkpoints"


class _Checkpointed:
    """A ``to_sql`` writer in a checkpointed run: one transaction per checkpoint interval,
    which also writes the checkpoint record into the table ``hosepipe_checkpoints`` (a row
    per job), so rows and position are committed together. That row is what a resumed run
    trusts; the checkpoint file is written after it, and names the job."""

    keeps_records = True

    def __init__(self, writer: _Writer, key: str, store: Any) -> None:
        self.writer = writer
        self.key = key
        self.store = store
        self.postgres = isinstance(writer, _PostgresWriter)
        if writer.per_batch:  # the checkpoint says when to commit, not the batches
            writer.per_batch = False
            writer._begin()
        self.write = writer.write
        blob = "BYTEA" if self.postgres else "BLOB"
        self._execute(
            f"CREATE TABLE IF NOT EXISTS {CHECKPOINTS} "
            f"(job TEXT PRIMARY KEY, record {blob} NOT NULL)"
        )

    def _execute(self, statement: str, *params: Any) -> Any:
        if not self.postgres:
            statement = statement.replace("%s", "?")
        return self.writer.conn.execute(statement, params)

    def load(self) -> dict[str, Any] | None:
        from hosepipe._checkpoint import decode

        row = self._execute(f"SELECT record FROM {CHECKPOINTS} WHERE job = %s", self.key)
        found = row.fetchone()
        if found is None:
            return None
        return decode(bytes(found[0]), f"{CHECKPOINTS} row {self.key}")

    def forget(self) -> None:
        self._execute(f"DELETE FROM {CHECKPOINTS} WHERE job = %s", self.key)

    def complete(self, record: dict[str, Any]) -> None:
        self.close()  # a finished job: its rows and record are committed

    def resume(self, saved: dict[str, Any] | None) -> None:
        if saved is not None:
            self.writer.written = int(saved["count"])

    def count(self) -> int:
        return self.writer.written + len(self.writer.rows)

    def commit(
        self, record: dict[str, Any], settle: Callable[[Any], Any] | None
    ) -> Callable[[], None]:
        """Insert the rows buffered, and *record*, in one transaction; return what writes
        the checkpoint file after it (which a resumed run does not trust for the position)."""
        from functools import partial

        from hosepipe._checkpoint import encode

        writer = self.writer
        writer._flush()
        record["sink"] = {"count": writer.written}
        data = encode(record)
        self._execute(
            f"INSERT INTO {CHECKPOINTS} (job, record) VALUES (%s, %s) "
            "ON CONFLICT (job) DO UPDATE SET record = excluded.record",
            self.key,
            data,
        )
        writer._end(ok=True)
        if not record["finished"]:
            writer._begin()
        return partial(self.store.write_bytes, data, record["finished"])

    def finish(self) -> int:
        writer = self.writer
        writer.done = True
        writer._close()
        return writer.written

    def close(self) -> None:
        self.writer.abort()
