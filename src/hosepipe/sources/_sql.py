"""Database sources: rows of a SQL query, from SQLite (standard library) or PostgreSQL.

``read_sql`` reads with constant memory: SQLite rows are fetched ``batch_size`` at a time
from one cursor, PostgreSQL rows through a server-side (named) cursor, ``batch_size`` per
round trip, so a query over a billion rows streams. The query runs when a run starts and
again on every run.

It has two forms over one argument check, label and row shaping: the sync form (a
``Reader``) and, for PostgreSQL, the async form (an async iterable that the async driver
reads), chosen by a ``psycopg.AsyncConnection`` or by ``async_=True`` with a URL. Both run
the query in a transaction with a named cursor and fetch ``batch_size`` rows per
``fetchmany``; only the awaits differ.

Where to read from (``conn_or_url``):

* a ``sqlite3.Connection``, a ``psycopg.Connection`` or (read_sql only) a
  ``psycopg.AsyncConnection``: used as it is and never closed;
* a URL: ``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db``,
  ``sqlite:///:memory:``, ``postgresql://user:password@host:5432/dbname`` (also
  ``postgres://``; any libpq parameter may follow as ``?connect_timeout=2``), or a
  ``pathlib.Path`` (any ``os.PathLike``) to a SQLite file: a connection is opened for each
  run and closed when the run ends, however it ends. A SQLite file is opened read-only.

This module also holds what ``hosepipe.sinks._sql`` shares with it: checking and opening
the target, and labels that never show a password.

Why this module is longer than most: SQLite and PostgreSQL, sync and async, and the key
order a checkpoint resumes from share one argument check, label and row shaping.
"""

from __future__ import annotations

import copy
import itertools
import os
import re
import sys
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence

from hosepipe._typing import TYPE_CHECKING, TypeVar, overload
from hosepipe.sources._base import Reader

if TYPE_CHECKING:
    import sqlite3
    from typing import Any, Literal

    import psycopg

    from hosepipe._stream import Stream

    Connectable = (
        str
        | os.PathLike[str]
        | sqlite3.Connection
        | psycopg.Connection[Any]
        | psycopg.AsyncConnection[Any]
    )
    Params = Sequence[Any] | Mapping[str, Any]
    Report = Callable[[BaseException], None]

__all__ = ["read_sql"]

Row = TypeVar("Row")

_SQLITE_PREFIX = "sqlite:///"
_PG_PREFIXES = ("postgresql://", "postgres://")
_LABEL_QUERY_MAX = 40
_cursor_ids = itertools.count(1)


# -- where to connect -------------------------------------------------------------------------


def _loaded(module: str, cls: str) -> type | None:
    """``module.cls`` if *module* was imported already: an object of that class cannot
    exist otherwise, so hosepipe needs not import the driver to recognise its connections."""
    mod = sys.modules.get(module)
    found = getattr(mod, cls, None) if mod is not None else None
    return found if isinstance(found, type) else None


# Names of query parameters (and libpq keys) whose values are secret, compared lowercased
# with "-" read as "_"; a name ending in one of _SECRET_SUFFIXES is secret too.
_SECRET_NAMES = frozenset(
    {
        "password",
        "passwd",
        "pwd",
        "secret",
        "token",
        "access_token",
        "api_key",
        "apikey",
        "key",
        "signature",
        "sig",
    }
)
_SECRET_SUFFIXES = (
    "password",
    "passwd",
    "secret",
    "_api_key",
    "_apikey",
    "access_token",
    "refresh_token",
    "auth_token",
    "id_token",
    "_signature",
)
# scheme://user:password@ : the userinfo ends at the last "@" before the path, query or
# fragment, so a raw "@" in the password is hidden with the rest of it.
_URL_SCHEME = re.compile(r"^[a-zA-Z][\w+.-]*://")
_URL_PASSWORD = re.compile(r"^([a-zA-Z][\w+.-]*://[^:/?#@]*):[^/?#]*@")
_QUERY_PARAM = re.compile(r"([?&;])([^=&;#]*)=([^&;#]*)")
# libpq conninfo: key = value, the value bare or in single quotes with backslash escapes
_CONNINFO_PARAM = re.compile(r"(?<![^\s])([A-Za-z_][\w.-]*)(\s*=\s*)('(?:[^'\\]|\\.)*'?|[^\s']*)")


def _secret_name(name: str) -> bool:
    from urllib.parse import unquote_plus

    name = unquote_plus(name).strip().lower().replace("-", "_")
    return name in _SECRET_NAMES or name.endswith(_SECRET_SUFFIXES)


def hide_password(url: str) -> str:
    """*url* with its secrets replaced by ``***``, for labels, reprs and messages.

    What is hidden: the password of a URL's userinfo (``user:***@``), the values of query
    parameters whose name says they are secret (``password``, ``passwd``, ``pwd``,
    ``secret``, ``token``, ``access_token``, ``api_key``, ``apikey``, ``key``,
    ``signature``, ``sig``, any case, and names ending in ``password``, ``secret``,
    ``_api_key``, ``access_token`` and the like) and, in a libpq ``key=value`` connection
    string, the values of such keys (``password=***``). Used by every label and message
    of hosepipe that shows a database URL or an HTTP URL.

    >>> hide_password("postgresql://app:s3cret@db:5432/prod?sslmode=require&password=x")
    'postgresql://app:***@db:5432/prod?sslmode=require&password=***'
    >>> hide_password("postgres://db/prod")
    'postgres://db/prod'
    >>> hide_password("postgresql://app:p@ss@db/prod")
    'postgresql://app:***@db/prod'
    >>> hide_password("https://api.test/items?page=2&API_KEY=abc&sig=def")
    'https://api.test/items?page=2&API_KEY=***&sig=***'
    >>> hide_password("host=db user=app password='s3 cret' sslpassword=x")
    'host=db user=app password=*** sslpassword=***'
    """
    hidden, userinfo = _URL_PASSWORD.subn(r"\1:***@", url, count=1)
    if userinfo or _URL_SCHEME.match(url):
        return _QUERY_PARAM.sub(
            lambda m: f"{m[1]}{m[2]}=***" if _secret_name(m[2]) else m[0], hidden
        )
    return _CONNINFO_PARAM.sub(lambda m: f"{m[1]}{m[2]}***" if _secret_name(m[1]) else m[0], url)


class Target:
    """Where a database source or sink connects: a connection given by the user (used as is,
    never closed) or a location (a SQLite path or a PostgreSQL URL) opened for each run.
    An async target (``is_async``) connects with a ``psycopg.AsyncConnection``."""

    __slots__ = ("conn", "is_async", "kind", "location", "shown")

    def __init__(
        self, kind: str, conn: Any, location: str | None, shown: str, is_async: bool = False
    ) -> None:
        self.kind = kind  # "sqlite" or "postgres"
        self.conn = conn
        self.location = location
        self.shown = shown  # what labels show: a URL without its password, or <...Connection>
        self.is_async = is_async

    @classmethod
    def parse(cls, op: str, conn_or_url: object, *, async_ok: bool = False) -> Target:
        """Check *conn_or_url* for the function *op* and say where it connects; a
        ``psycopg.AsyncConnection`` is accepted only when *async_ok*."""
        sqlite_conn = _loaded("sqlite3", "Connection")
        if sqlite_conn is not None and isinstance(conn_or_url, sqlite_conn):
            return cls("sqlite", conn_or_url, None, "<sqlite3.Connection>")
        pg_conn = _loaded("psycopg", "Connection")
        if pg_conn is not None and isinstance(conn_or_url, pg_conn):
            return cls("postgres", conn_or_url, None, "<psycopg.Connection>")
        async_conn = _loaded("psycopg", "AsyncConnection")
        if async_conn is not None and isinstance(conn_or_url, async_conn):
            if async_ok:
                return cls("postgres", conn_or_url, None, "<psycopg.AsyncConnection>", True)
            raise TypeError(
                f"{op}(): `conn_or_url` is a psycopg.AsyncConnection; {op}() needs a "
                "psycopg.Connection (or a URL, to open its own)"
            )
        if isinstance(conn_or_url, os.PathLike):
            path = os.fspath(conn_or_url)
            if isinstance(path, str):
                return cls("sqlite", None, path, repr(conn_or_url))
        if isinstance(conn_or_url, str):
            if conn_or_url.startswith(_SQLITE_PREFIX) and len(conn_or_url) > len(_SQLITE_PREFIX):
                return cls("sqlite", None, conn_or_url[len(_SQLITE_PREFIX) :], repr(conn_or_url))
            if conn_or_url.startswith(_PG_PREFIXES):
                from hosepipe._extras import require

                require("psycopg", "postgres", f"{op}() with a PostgreSQL URL")
                return cls("postgres", None, conn_or_url, repr(hide_password(conn_or_url)))
            shown = hide_password(conn_or_url)
            hint = ""
            if "://" not in conn_or_url and "=" in conn_or_url:
                hint = (
                    " (libpq 'key=value' connection strings are not accepted: write a "
                    "'postgresql://user:password@host:port/dbname' URL)"
                )
            elif "://" not in conn_or_url:
                hint = f" (for a SQLite file, write 'sqlite:///{shown}' or pass a pathlib.Path)"
            raise ValueError(
                f"{op}(): `conn_or_url` must be a 'sqlite:///path' or 'postgresql://...' URL, "
                f"got {shown!r}{hint}"
            )
        raise TypeError(
            f"{op}(): `conn_or_url` must be a sqlite3.Connection, a psycopg.Connection, a "
            "'sqlite:///path' or 'postgresql://...' URL, or a pathlib.Path to a SQLite file, "
            f"got {conn_or_url!r} ({type(conn_or_url).__name__})"
        )

    def as_async(self, op: str) -> Target:
        """This target read with a ``psycopg.AsyncConnection`` (``async_=True``): a
        PostgreSQL URL or an AsyncConnection; anything else is refused, saying why."""
        if self.is_async:
            return self
        if self.kind == "postgres" and self.conn is None:
            return Target(self.kind, None, self.location, self.shown, is_async=True)
        if self.kind == "sqlite":
            hint = (
                "SQLite has no async driver: leave out `async_` (`async for` and the a* "
                "terminals then read it inline, in the event loop's thread)"
            )
        else:
            hint = "a psycopg.Connection is sync: pass a psycopg.AsyncConnection instead"
        raise ValueError(
            f"{op}(): `async_=True` needs a 'postgresql://...' URL or a "
            f"psycopg.AsyncConnection, got {self.shown}; {hint}"
        )

    @property
    def memory(self) -> bool:
        """True for a SQLite in-memory database opened per run (empty every time)."""
        return self.kind == "sqlite" and self.conn is None and self.location in ("", ":memory:")

    def open(self, *, write: bool) -> tuple[Any, bool]:
        """The connection for one run, and whether this run owns it (and must close it).

        A SQLite file must exist: it is opened read-only to read, read-write to write, and
        never created. A PostgreSQL connection is opened in autocommit mode; transactions
        are explicit blocks.
        """
        if self.conn is not None:
            return self.conn, False
        assert self.location is not None
        assert not self.is_async
        if self.kind == "postgres":
            return _psycopg().connect(self.location, autocommit=True), True
        import sqlite3

        if self.memory:
            return sqlite3.connect(":memory:", check_same_thread=False), True
        path = os.path.abspath(self.location)
        if not os.path.isfile(path):
            where = "" if path == self.location else f" ({path})"
            raise FileNotFoundError(f"no SQLite database at {self.location!r}{where}")
        from pathlib import Path

        uri = f"{Path(path).as_uri()}?mode={'rw' if write else 'ro'}"
        # isolation_level=None: no implicit transactions; the sink's are explicit savepoints.
        # The run owns the connection and uses it from one thread at a time, whichever.
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        return conn, True

    async def aopen(self) -> tuple[Any, bool]:
        """The ``psycopg.AsyncConnection`` for one run of an async target, and whether this
        run owns it; opened, as ``open`` does, in autocommit mode."""
        assert self.is_async
        if self.conn is not None:
            return self.conn, False
        return await _psycopg().AsyncConnection.connect(self.location, autocommit=True), True


def _psycopg() -> Any:
    from hosepipe._extras import require

    return require("psycopg", "postgres", "a PostgreSQL URL")


def shorten_query(query: str) -> str:
    """*query* on one line, cut to 40 characters, for labels."""
    one_line = " ".join(query.split())
    if len(one_line) > _LABEL_QUERY_MAX:
        one_line = one_line[: _LABEL_QUERY_MAX - 3] + "..."
    return one_line


# -- read_sql ---------------------------------------------------------------------------------
#
# Both forms share everything but the awaits: the arguments are checked once (read_sql),
# _SqlRead holds the query, the label and the row shaping, and each run of either form
# declares a named cursor in a transaction and loops on fetchmany(batch_size).


def _column_names(
    op: str, description: Sequence[Sequence[Any]] | None, unique: bool
) -> tuple[str, ...]:
    if description is None:
        raise ValueError(
            f"{op}(): the query returns no rows (it is not a SELECT, VALUES or ... RETURNING)"
        )
    names = tuple(str(d[0]) for d in description)
    if unique and len(set(names)) != len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(
            f"{op}(): the query returns more than one column named "
            f"{', '.join(map(repr, twice))}; name them apart with AS, or use rows='tuple'"
        )
    return names


def _fetch(
    fetchmany: Callable[[int], Sequence[Any]],
    batch_size: int,
    shape: Callable[[Sequence[Any]], Iterable[Any]],
    at: list[Any] | None = None,
) -> Iterator[Any]:
    """The rows of an executed cursor, fetched *batch_size* at a time (the sync loop).

    With *at* (a keyed reader), each batch and the iterator handing it out are noted
    there, so ``position()`` can tell the last row handed out (the iterator's length hint).
    """
    while True:
        batch = fetchmany(batch_size)
        rows = iter(batch)
        if at is not None and batch:
            at[0], at[1] = batch, rows
        yield from shape(rows)  # type: ignore[arg-type]
        if len(batch) < batch_size:
            return


class _SqlRead:
    """One ``read_sql`` query, for either form: what to run, its label, how rows look, and
    with ``key=`` its position (checkpoints)."""

    def __init__(
        self, target: Target, query: str, params: Params, batch_size: int, as_dict: bool
    ) -> None:
        self.target = target
        self.query = query
        self.params = params
        self.batch_size = batch_size
        self.as_dict = as_dict
        shown = f"{target.shown}, {shorten_query(query)!r}"
        if target.is_async and target.conn is None:
            shown += ", async_=True"  # an AsyncConnection says it by its name
        self.label = f"read_sql({shown})"

    def shaper(
        self, description: Sequence[Sequence[Any]] | None
    ) -> Callable[[Sequence[Any]], Iterable[Any]]:
        """How a run turns a fetched batch of tuples into rows, once the query ran."""
        names = _column_names("read_sql", description, unique=self.as_dict)
        if not self.as_dict:
            return _same
        return lambda batch: map(dict, map(zip, itertools.repeat(names), batch))

    key: str | None = None  # read_sql(key=): the column the rows are ordered by
    partitions = 1  # read_sql(partitions=): key ranges an engine reads apart
    bounds = "equal"  # read_sql(bounds=): how key_ranges cuts the key ("equal", "quantiles")
    keys: tuple[int | None, int | None] | None = None  # a partition: low <= key < high
    _after: tuple[Any] | None = None  # seek: start after this key value
    _at: list[Any] | None = None  # the latest run: [batch, its iterator, key index, start]
    _start: dict[str, Any] | None = None

    # -- checkpoints: the position is the key of the last row handed out ------------------

    def check_checkpoint(self) -> None:
        from hosepipe._errors import CheckpointError

        if self.key is None:
            raise CheckpointError(
                f"checkpoint: the source {self.label} can resume only from a key: pass "
                "read_sql(..., key='id'), the name of a unique column to order the rows by"
            )

    def position(self) -> dict[str, Any] | None:
        """The key of the last row the latest run handed out (checkpoints)."""
        if not self._at:
            return None
        batch, rows, index, start = self._at
        taken = len(batch) - rows.__length_hint__()
        return {"after": batch[taken - 1][index]} if taken else start

    def seek(self, pos: dict[str, Any]) -> None:
        """Make the next run read the rows after *pos*, a ``position()``."""
        self._after = (pos["after"],)

    def _quoted_key(self) -> str:
        assert self.key is not None
        return '"' + self.key.replace('"', '""') + '"'

    def _statement(self, postgres: bool) -> tuple[str, Any]:
        """The query and parameters to run: keyed, ordered by the key, in the partition's
        key range (``keys``) and after a seek."""
        if self.key is None:
            return self.query, (self.pg_params if postgres else self.params)
        after, self._after = self._after, None
        self._start = None if after is None else {"after": after[0]}
        query, params = self.query, self.params
        key = self._quoted_key()
        # a partition's bounds are ints checked by key_ranges: written into the statement
        bounds = [] if self.keys is None else self.keys
        conditions = [f"{key} {op} {int(v)}" for op, v in zip((">=", "<"), bounds) if v is not None]
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        if after is not None:
            named = isinstance(params, Mapping)
            mark = (
                ("%(hosepipe_after)s" if named else "%s")
                if postgres
                else (":hosepipe_after" if named else "?")
            )
            where += f"{' AND' if where else ' WHERE'} {key} > {mark}"
            if postgres and not params:
                query = query.replace("%", "%%")  # the query now has a parameter
            params = {**params, "hosepipe_after": after[0]} if named else (*params, after[0])  # type: ignore[dict-item]
        statement = f"SELECT * FROM ({query}) AS hosepipe_keyed{where} ORDER BY {key}"
        return statement, (params or None) if postgres else params

    def _key_index(self, description: Any) -> int:
        """Where the key is in the query's rows; ``ValueError`` naming it when absent."""
        names = [d[0] for d in description or ()]
        if self.key not in names:
            raise ValueError(
                f"read_sql(): `key` {self.key!r} is not a column of the query's rows "
                f"(they have {', '.join(map(repr, names))})"
            )
        return names.index(self.key)

    def _keyed(self, description: Any) -> list[Any] | None:
        if self.key is None:
            return None
        self._at = at = [(), iter(()), self._key_index(description), self._start]
        return at

    def cursor_name(self) -> str:
        """A name for a PostgreSQL server-side cursor, unique in this process."""
        return f"hosepipe_read_sql_{next(_cursor_ids)}"

    @property
    def pg_params(self) -> Params | None:
        # without parameters, the query is sent as written: '%' needs no escaping
        return self.params or None


def _same(batch: Sequence[Any]) -> Sequence[Any]:
    return batch


# A PostgreSQL read runs in a transaction (a block of its own, or a savepoint of the one the
# connection is in), as a server-side cursor must. It ends with the run: committed when the
# rows ran out or the run was closed (early, or because a later stage failed), so that
# statements run on the same connection while iterating are kept, as in autocommit mode;
# rolled back if reading failed (the query, a fetch, an interrupt or a cancellation during
# one). Closing is GeneratorExit at a yield: the reader returns instead, which closes the
# cursor and commits; any other exception leaves the transaction and rolls it back.


class _SqlReader(_SqlRead, Reader[Row]):
    """The sync form: SQLite or a ``psycopg.Connection``."""

    # -- engines: the rows cut into ranges of the key ---------------------------------------

    def key_ranges(self) -> list[_SqlReader[Row]]:
        """The partitions of this reader for an engine: copies reading ranges of its key.

        With ``bounds="equal"``, runs ``SELECT min(key), max(key), ...`` over the query
        here, then cuts ``[min, max]`` into ``partitions`` ranges of equal width (at most
        one per key value). With ``bounds="quantiles"``, runs one query that numbers the
        rows in key order into ``partitions`` tiles (``NTILE``, in SQLite and PostgreSQL)
        and cuts at the smallest key of each tile, so each range holds as many rows, to
        one. The first range is open below and the last above, so each row lies in exactly
        one. Read one after the other, in key order, they give the rows of the whole keyed
        query in its order. ``HosepipeError`` when this reader cannot be cut.
        """
        from hosepipe._errors import HosepipeError

        where = f"cannot cut the source {self.label} into partitions"
        if self.key is None:
            raise HosepipeError(
                f"{where}: give read_sql() a `key` (a unique integer column) and "
                "`partitions=N`, to read ranges of the key on the workers"
            )
        if self.target.conn is not None:
            raise HosepipeError(
                f"{where}: a connection object cannot travel to the workers; give "
                "read_sql() a 'postgresql://...' URL or a SQLite path, which each worker opens"
            )
        if self.partitions == 1:
            return [self]
        key = self._quoted_key()
        postgres = self.target.kind == "postgres"
        params = self.pg_params if postgres else self.params
        keyed = f"FROM ({self.query}) AS hosepipe_keyed"
        if self.bounds == "quantiles":
            # one row per tile of the rows in key order: its smallest and largest key, its
            # NULL keys (NTILE sorts them with the others, so they are counted too)
            statement = (
                "SELECT min(hosepipe_k), max(hosepipe_k), count(*) - count(hosepipe_k) FROM "
                f"(SELECT {key} AS hosepipe_k, NTILE({int(self.partitions)}) OVER "
                f"(ORDER BY {key}) AS hosepipe_tile {keyed}) AS hosepipe_tiles "
                "GROUP BY hosepipe_tile ORDER BY hosepipe_tile"
            )
        else:
            statement = f"SELECT min({key}), max({key}), count(*) - count({key}) {keyed}"
        conn, owned = self.target.open(write=False)
        try:
            cursor = conn.cursor()
            try:  # the columns first (LIMIT 0), so a wrong key is named as such
                cursor.execute(f"SELECT * {keyed} LIMIT 0", params)
                cursor.fetchall()
                self._key_index(cursor.description)
                cursor.execute(statement, params)
                tiles = cursor.fetchall()
            finally:
                cursor.close()
        finally:
            if owned:
                conn.close()
        nulls = sum(n for _, _, n in tiles)
        if nulls:
            raise HosepipeError(
                f"{where}: `key` {self.key!r} is NULL in {nulls} row(s), which no key range "
                "holds; use a key column without NULLs"
            )
        if not tiles or tiles[0][0] is None:  # no rows
            return [self]
        for value in (v for tile in tiles for v in tile[:2]):
            if not isinstance(value, int) or isinstance(value, bool):
                raise HosepipeError(
                    f"{where}: partitions are ranges of an integer `key`, and {self.key!r} "
                    f"holds {type(value).__name__} values ({value!r}); key the rows by an "
                    "integer column (an id), or cut them with hp.partitioned([...])"
                )
        if self.bounds == "quantiles":
            # a cut at each later tile's smallest key; a key repeated across tiles (not
            # unique) gives the same cut twice, kept once: no range is empty by design
            inner = sorted({low for low, _, _ in tiles[1:]} - {tiles[0][0]})
        else:
            low, high = tiles[0][0], tiles[0][1]
            n = min(self.partitions, high - low + 1)
            inner = [low + (high - low + 1) * i // n for i in range(1, n)]
        if not inner:
            return [self]
        cuts: list[int | None] = [None, *inner, None]
        parts = []
        for low_i, high_i in itertools.pairwise(cuts):
            part = copy.copy(self)
            part._at = part._start = part._after = None
            part.partitions = 1
            part.keys = (low_i, high_i)
            shown = self.key if low_i is None else f"{low_i} <= {self.key}"
            shown += "" if high_i is None else f" < {high_i}"
            part.label = f"{self.label[:-1]}, {shown})"
            parts.append(part)
        return parts

    def open(self, report: Report) -> Iterator[Row]:
        conn, owned = self.target.open(write=False)
        try:
            if self.target.kind == "sqlite":
                yield from self._sqlite(conn)
            else:
                yield from self._postgres(conn)
        finally:
            if owned:
                conn.close()

    def _sqlite(self, conn: sqlite3.Connection) -> Iterator[Row]:
        cursor = conn.cursor()
        try:
            cursor.row_factory = None  # plain tuples, whatever the connection's row_factory
            cursor.arraysize = self.batch_size
            cursor.execute(*self._statement(postgres=False))
            at = self._keyed(cursor.description)
            shape = self.shaper(cursor.description)
            yield from _fetch(cursor.fetchmany, self.batch_size, shape, at)
        finally:
            cursor.close()

    def _postgres(self, conn: psycopg.Connection[Any]) -> Iterator[Row]:
        from psycopg.rows import tuple_row

        name = self.cursor_name()
        with (
            conn.transaction(),
            conn.cursor(name, row_factory=tuple_row, scrollable=False) as cursor,
        ):
            cursor.execute(*self._statement(postgres=True))
            at = self._keyed(cursor.description)
            shape = self.shaper(cursor.description)
            try:
                yield from _fetch(cursor.fetchmany, self.batch_size, shape, at)
            except GeneratorExit:
                return  # closed (a break, or a later stage failed): close, commit


class _AsyncSqlReader(_SqlRead):
    """The async form: a ``psycopg.AsyncConnection``, given or opened for each run.

    An async iterable (each ``__aiter__`` is a run), so the async driver reads it; closing
    the run (``aclose``) closes the cursor and the run's own connection at once.
    """

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._run()

    async def _run(self) -> AsyncIterator[Any]:
        from psycopg.rows import tuple_row

        conn, owned = await self.target.aopen()
        try:
            name = self.cursor_name()
            async with (
                conn.transaction(),
                conn.cursor(name, row_factory=tuple_row, scrollable=False) as cursor,
            ):
                await cursor.execute(*self._statement(postgres=True))
                at = self._keyed(cursor.description)
                shape = self.shaper(cursor.description)
                try:
                    while True:  # the loop of _fetch, with awaits
                        batch = await cursor.fetchmany(self.batch_size)
                        rows = iter(batch)
                        if at is not None and batch:
                            at[0], at[1] = batch, rows
                        for row in shape(rows):
                            yield row
                        if len(batch) < self.batch_size:
                            return
                except GeneratorExit:
                    return  # closed (a break, or a later stage failed): close, commit
        finally:
            if owned:
                await conn.close()

    def __repr__(self) -> str:
        return self.label


# The overloads differ only in `rows` and the item type they give: typing needs each written out.
@overload
def read_sql(
    conn_or_url: Connectable,
    query: str,
    params: Params = ...,
    *,
    batch_size: int = ...,
    rows: Literal["dict"] = ...,
    async_: bool = ...,
    key: str | None = ...,
    partitions: int = ...,
    bounds: Literal["equal", "quantiles"] = ...,
) -> Stream[dict[str, Any]]: ...
@overload
def read_sql(
    conn_or_url: Connectable,
    query: str,
    params: Params = ...,
    *,
    batch_size: int = ...,
    rows: Literal["tuple"],
    async_: bool = ...,
    key: str | None = ...,
    partitions: int = ...,
    bounds: Literal["equal", "quantiles"] = ...,
) -> Stream[tuple[Any, ...]]: ...
def read_sql(
    conn_or_url: Connectable,
    query: str,
    params: Params = (),
    *,
    batch_size: int = 1000,
    rows: Literal["dict", "tuple"] = "dict",
    async_: bool = False,
    key: str | None = None,
    partitions: int = 1,
    bounds: Literal["equal", "quantiles"] = "equal",
) -> Stream[dict[str, Any]] | Stream[tuple[Any, ...]]:
    """A stream over the rows of a SQL *query*: dicts by column name, or tuples.

    *conn_or_url* is a ``sqlite3.Connection``, a ``psycopg.Connection`` or a
    ``psycopg.AsyncConnection`` (used as it is, never closed), or a ``sqlite:///path``,
    ``sqlite:///:memory:`` or ``postgresql://user:password@host/dbname`` URL or a
    ``pathlib.Path`` to a SQLite file (opened for each run, closed when the run ends).
    *query* is run with *params* in the driver's own placeholder style: ``?`` or ``:name``
    for SQLite, ``%s`` or ``%(name)s`` for PostgreSQL (without *params*, a ``%`` in the
    query needs no escaping).

    Nothing runs until the stream is iterated, and every run runs the query again. Rows
    are fetched *batch_size* at a time, so memory stays constant: from one SQLite cursor,
    or from a PostgreSQL server-side cursor (``DECLARE ... CURSOR``) in a transaction
    block that ends with the run. *rows* is ``"dict"`` (column name to value; two columns
    of the same name are an error) or ``"tuple"``.

    *key* names a unique column of the rows: they are then read in its order (the query is
    run as ``SELECT * FROM (query) ORDER BY key``), and a checkpointed run
    (``to(..., checkpoint=)``, or ``ato`` for the async form) records the key of the last
    row, resuming with ``WHERE key > last``.

    *partitions* (with *key*, an integer column) is for engines: run on
    ``hp.engines.Dask()``, the rows are read as that many ranges of the key, one task
    each. *bounds* says where the ranges are cut. ``"equal"`` (the default) asks for
    ``min`` and ``max`` of the key and cuts ``[min, max]`` into ranges of equal width: one
    cheap aggregate, balanced when the keys are spread evenly (ids). ``"quantiles"`` asks
    for the key's quantiles (``NTILE``, one query), so each range holds as many rows, to one,
    however skewed the keys are; the database sorts the keys for it, which costs about as
    much as reading them in order once, so choose it for keys with large gaps or clusters.
    Run here, *partitions* changes nothing: the rows come in key order, as the ranges read
    one after the other give them. The workers open their own connections, so give a URL
    or a path, not a connection object.

    >>> import sqlite3
    >>> import hosepipe as hp
    >>> conn = sqlite3.connect(":memory:")
    >>> _ = conn.execute("CREATE TABLE users (id INTEGER, name TEXT)")
    >>> _ = conn.executemany("INSERT INTO users VALUES (?, ?)", [(1, "ada"), (2, "alan")])
    >>> users = hp.read_sql(conn, "SELECT id, name FROM users ORDER BY id")
    >>> users.to_list()
    [{'id': 1, 'name': 'ada'}, {'id': 2, 'name': 'alan'}]
    >>> hp.read_sql(conn, "SELECT name FROM users WHERE id > ?", (1,), rows="tuple").to_list()
    [('alan',)]
    >>> users.map(lambda u: u["name"].title()).first()
    'Ada'
    >>> users
    Stream(read_sql(<sqlite3.Connection>, 'SELECT id, name FROM users ORDER BY id'))
    >>> conn.close()

    A URL or a path opens a connection for each run; the label hides its password:

    >>> hp.read_sql("postgresql://app:s3cret@db.internal/prod", "SELECT * FROM events")
    Stream(read_sql('postgresql://app:***@db.internal/prod', 'SELECT * FROM events'))

    Cut into key ranges of as many rows each, for an engine:

    >>> hp.read_sql("sqlite:///a.db", "SELECT 1 AS n", key="n", partitions=4, bounds="quantiles")
    Stream(read_sql('sqlite:///a.db', 'SELECT 1 AS n', key='n', partitions=4, bounds='quantiles'))

    **The async form** reads PostgreSQL with psycopg's ``AsyncConnection``, so a query
    does not block the event loop: pass a ``psycopg.AsyncConnection``, or a PostgreSQL URL
    with ``async_=True`` (each run then opens an ``AsyncConnection`` and closes it when the
    run ends). Rows, batches, the server-side cursor and its transaction are as above, with
    each ``fetchmany`` awaited. Read it with ``async for`` (in ``async with
    stream.aiterate()``, which closes the cursor when the block is left), ``ato_list()``
    and the other async terminals, or from sync code through the bridge (``to_list()``, a
    ``for`` loop), as any async stream. SQLite has no async form.

    >>> import asyncio
    >>> events = hp.read_sql("postgresql://app@db.internal/prod", "SELECT * FROM events",
    ...                      async_=True)
    >>> events
    Stream(read_sql('postgresql://app@db.internal/prod', 'SELECT * FROM events', async_=True))
    >>> async def main():
    ...     async with events.aiterate() as it:
    ...         async for event in it:
    ...             print(event)
    >>> asyncio.run(main())  # doctest: +SKIP
    {'id': 1, 'kind': 'click'}
    >>> hp.read_sql("sqlite:///events.db", "SELECT * FROM events", async_=True)
    Traceback (most recent call last):
    ...
    ValueError: read_sql(): `async_=True` needs a 'postgresql://...' URL or a
    psycopg.AsyncConnection, got 'sqlite:///events.db'; SQLite has no async driver: leave
    out `async_` (`async for` and the a* terminals then read it inline, in the event loop's
    thread)
    """
    from hosepipe._stream import Stream

    target = Target.parse("read_sql", conn_or_url, async_ok=True)
    if not isinstance(query, str):
        raise TypeError(f"read_sql(): `query` must be a str, got {query!r}")
    if not query.strip():
        raise ValueError(f"read_sql(): `query` must not be empty, got {query!r}")
    if isinstance(params, str | bytes) or not isinstance(params, Sequence | Mapping):
        raise TypeError(
            "read_sql(): `params` must be a sequence (tuple, list) or a mapping of query "
            f"parameters, got {params!r} ({type(params).__name__})"
        )
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"read_sql(): `batch_size` must be an int >= 1, got {batch_size!r}")
    if rows not in ("dict", "tuple"):
        raise ValueError(f"read_sql(): `rows` must be 'dict' or 'tuple', got {rows!r}")
    if not isinstance(async_, bool):
        raise TypeError(f"read_sql(): `async_` must be a bool, got {async_!r}")
    if key is not None and (not isinstance(key, str) or not key):
        raise TypeError(f"read_sql(): `key` must be a column name (a str), got {key!r}")
    if isinstance(partitions, bool) or not isinstance(partitions, int) or partitions < 1:
        raise ValueError(f"read_sql(): `partitions` must be an int >= 1, got {partitions!r}")
    if partitions > 1 and key is None:
        raise ValueError(
            "read_sql(): `partitions` cuts the rows into ranges of a key: give `key` too, "
            "the name of a unique integer column"
        )
    if bounds not in ("equal", "quantiles"):
        raise ValueError(f"read_sql(): `bounds` must be 'equal' or 'quantiles', got {bounds!r}")
    if bounds != "equal" and partitions == 1:
        raise ValueError(
            "read_sql(): `bounds` says how `partitions` cuts the key: give `partitions` too"
        )
    if partitions > 1 and (async_ or target.is_async):
        raise ValueError(
            "read_sql(): `partitions` is for the sync form (engines run the sync reader "
            "on their workers)"
        )
    if async_:
        target = target.as_async("read_sql")
    as_dict = rows == "dict"
    reader: _SqlRead = (_AsyncSqlReader if target.is_async else _SqlReader)(
        target, query, params, batch_size, as_dict
    )
    if key is not None:
        reader.key = key
        reader.label = f"{reader.label[:-1]}, key={key!r})"
    if partitions > 1:
        reader.partitions = partitions
        reader.label = f"{reader.label[:-1]}, partitions={partitions})"
    if bounds != "equal":
        reader.bounds = bounds
        reader.label = f"{reader.label[:-1]}, bounds={bounds!r})"
    return Stream(reader)  # type: ignore[arg-type]
