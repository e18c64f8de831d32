"""Database sources: rows of a SQL query, from SQLite (standard library) or PostgreSQL.

``read_sql`` reads with constant memory: SQLite rows are fetched ``batch_size`` at a time
from one cursor, PostgreSQL rows through a server-side (named) cursor, ``batch_size`` per
round trip, so a query over a billion rows streams. The query runs when a run starts and
again on every run.

Where to read from (``conn_or_url``):

* a ``sqlite3.Connection`` or a ``psycopg.Connection``: used as it is and never closed;
* a URL: ``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db``,
  ``sqlite:///:memory:``, ``postgresql://user:password@host:5432/dbname`` (also
  ``postgres://``; any libpq parameter may follow as ``?connect_timeout=2``), or a
  ``pathlib.Path`` (any ``os.PathLike``) to a SQLite file: a connection is opened for each
  run and closed when the run ends, however it ends. A SQLite file is opened read-only.

This module also holds what ``hosepipe.sinks._sql`` shares with it: checking and opening
the target, and labels that never show a password.
"""

from __future__ import annotations

import itertools
import os
import re
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence

from hosepipe._typing import TYPE_CHECKING, TypeVar, overload
from hosepipe.sources._base import Reader

if TYPE_CHECKING:
    import sqlite3
    from typing import Any, Literal

    import psycopg

    from hosepipe._stream import Stream

    Connectable = str | os.PathLike[str] | sqlite3.Connection | psycopg.Connection[Any]
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
    never closed) or a location (a SQLite path or a PostgreSQL URL) opened for each run."""

    __slots__ = ("conn", "kind", "location", "shown")

    def __init__(self, kind: str, conn: Any, location: str | None, shown: str) -> None:
        self.kind = kind  # "sqlite" or "postgres"
        self.conn = conn
        self.location = location
        self.shown = shown  # what labels show: a URL without its password, or <...Connection>

    @classmethod
    def parse(cls, op: str, conn_or_url: object) -> Target:
        """Check *conn_or_url* for the function *op* and say where it connects."""
        sqlite_conn = _loaded("sqlite3", "Connection")
        if sqlite_conn is not None and isinstance(conn_or_url, sqlite_conn):
            return cls("sqlite", conn_or_url, None, "<sqlite3.Connection>")
        pg_conn = _loaded("psycopg", "Connection")
        if pg_conn is not None and isinstance(conn_or_url, pg_conn):
            return cls("postgres", conn_or_url, None, "<psycopg.Connection>")
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
        async_conn = _loaded("psycopg", "AsyncConnection")
        if async_conn is not None and isinstance(conn_or_url, async_conn):
            raise TypeError(
                f"{op}(): `conn_or_url` is a psycopg.AsyncConnection; {op}() needs a "
                "psycopg.Connection (or a URL, to open its own)"
            )
        raise TypeError(
            f"{op}(): `conn_or_url` must be a sqlite3.Connection, a psycopg.Connection, a "
            "'sqlite:///path' or 'postgresql://...' URL, or a pathlib.Path to a SQLite file, "
            f"got {conn_or_url!r} ({type(conn_or_url).__name__})"
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
        if self.kind == "postgres":
            from hosepipe._extras import require

            psycopg = require("psycopg", "postgres", "a PostgreSQL URL")
            return psycopg.connect(self.location, autocommit=True), True
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


def shorten_query(query: str) -> str:
    """*query* on one line, cut to 40 characters, for labels."""
    one_line = " ".join(query.split())
    if len(one_line) > _LABEL_QUERY_MAX:
        one_line = one_line[: _LABEL_QUERY_MAX - 3] + "..."
    return one_line


# -- read_sql ---------------------------------------------------------------------------------


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


def _fetch(cursor: Any, batch_size: int, as_dict: bool, op: str) -> Iterator[Any]:
    """The rows of an executed *cursor*, fetched *batch_size* at a time."""
    names = _column_names(op, cursor.description, unique=as_dict)
    fetchmany = cursor.fetchmany
    while True:
        batch = fetchmany(batch_size)
        if as_dict:
            for values in batch:
                yield dict(zip(names, values))
        else:
            yield from batch
        if len(batch) < batch_size:
            return


class _SqlReader(Reader[Row]):
    def __init__(
        self, target: Target, query: str, params: Params, batch_size: int, as_dict: bool
    ) -> None:
        self.target = target
        self.query = query
        self.params = params
        self.batch_size = batch_size
        self.as_dict = as_dict
        self.label = f"read_sql({target.shown}, {shorten_query(query)!r})"

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
            cursor.execute(self.query, self.params)
            yield from _fetch(cursor, self.batch_size, self.as_dict, "read_sql")
        finally:
            cursor.close()

    def _postgres(self, conn: psycopg.Connection[Any]) -> Iterator[Row]:
        from psycopg.rows import tuple_row

        # A server-side cursor lives in a transaction: a block of its own, or a savepoint
        # of the one the connection is in. It ends with the run: committed when the rows
        # ran out or the run was closed (so statements run on the same connection while
        # iterating are kept, as in autocommit mode), rolled back if the query failed.
        tx = conn.transaction()
        tx.__enter__()
        try:
            name = f"hosepipe_read_sql_{next(_cursor_ids)}"
            with conn.cursor(name, row_factory=tuple_row, scrollable=False) as cursor:
                cursor.itersize = self.batch_size
                # without parameters, the query is sent as written: '%' needs no escaping
                cursor.execute(self.query, self.params or None)
                yield from _fetch(cursor, self.batch_size, self.as_dict, "read_sql")
        except GeneratorExit:
            tx.__exit__(None, None, None)
            raise
        except BaseException as e:
            tx.__exit__(type(e), e, e.__traceback__)
            raise
        else:
            tx.__exit__(None, None, None)


@overload
def read_sql(
    conn_or_url: Connectable,
    query: str,
    params: Params = ...,
    *,
    batch_size: int = ...,
    rows: Literal["dict"] = ...,
) -> Stream[dict[str, Any]]: ...
@overload
def read_sql(
    conn_or_url: Connectable,
    query: str,
    params: Params = ...,
    *,
    batch_size: int = ...,
    rows: Literal["tuple"],
) -> Stream[tuple[Any, ...]]: ...
def read_sql(
    conn_or_url: Connectable,
    query: str,
    params: Params = (),
    *,
    batch_size: int = 1000,
    rows: Literal["dict", "tuple"] = "dict",
) -> Stream[dict[str, Any]] | Stream[tuple[Any, ...]]:
    """A stream over the rows of a SQL *query*: dicts by column name, or tuples.

    *conn_or_url* is a ``sqlite3.Connection`` or a ``psycopg.Connection`` (used as it is,
    never closed), or a ``sqlite:///path``, ``sqlite:///:memory:`` or
    ``postgresql://user:password@host/dbname`` URL or a ``pathlib.Path`` to a SQLite file
    (opened for each run, closed when the run ends). *query* is run with *params* in the
    driver's own placeholder style: ``?`` or ``:name`` for SQLite, ``%s`` or ``%(name)s``
    for PostgreSQL (without *params*, a ``%`` in the query needs no escaping).

    Nothing runs until the stream is iterated, and every run runs the query again. Rows
    are fetched *batch_size* at a time, so memory stays constant: from one SQLite cursor,
    or from a PostgreSQL server-side cursor (``DECLARE ... CURSOR``) in a transaction
    block that ends with the run. *rows* is ``"dict"`` (column name to value; two columns
    of the same name are an error) or ``"tuple"``.

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
    """
    from hosepipe._stream import Stream

    target = Target.parse("read_sql", conn_or_url)
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
    reader: _SqlReader[Any] = _SqlReader(target, query, params, batch_size, rows == "dict")
    return Stream(reader)
