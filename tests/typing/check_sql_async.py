"""Type-checked, not run: what mypy --strict infers for read_sql's sync and async forms.

Lines marked ``# type: ignore[...]`` must stay errors: mypy reports an unused ignore
(warn_unused_ignores under --strict) if the library ever stops rejecting them.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any, assert_type

import psycopg

import hosepipe as hp

URL = "postgresql://app@127.0.0.1:5432/test"


async def main() -> None:
    async with await psycopg.AsyncConnection.connect(URL) as aconn:
        rows = hp.read_sql(aconn, "SELECT id, name FROM users WHERE id > %s", (1,))
        assert_type(rows, hp.Stream[dict[str, Any]])
        assert_type(await rows.ato_list(), list[dict[str, Any]])
        async for row in rows:
            assert_type(row, dict[str, Any])
        tuples = hp.read_sql(aconn, "SELECT id FROM users", rows="tuple", batch_size=500)
        assert_type(tuples, hp.Stream[tuple[Any, ...]])
        ids = tuples.map(lambda t: int(t[0]))
        assert_type(ids, hp.Stream[int])
        assert_type(await ids.acount(), int)


assert_type(hp.read_sql(URL, "SELECT 1", async_=True), hp.Stream[dict[str, Any]])
assert_type(
    hp.read_sql(URL, "SELECT %(x)s", {"x": 1}, rows="tuple", async_=True),
    hp.Stream[tuple[Any, ...]],
)
assert_type(hp.read_sql(sqlite3.connect(":memory:"), "SELECT 1"), hp.Stream[dict[str, Any]])
assert_type(hp.read_sql(Path("app.db"), "SELECT 1", rows="tuple"), hp.Stream[tuple[Any, ...]])
with psycopg.connect(URL) as conn:
    assert_type(hp.read_sql(conn, "SELECT 1"), hp.Stream[dict[str, Any]])

hp.read_sql(URL, "SELECT 1", async_="yes")  # type: ignore[call-overload]
hp.read_sql(URL, "SELECT 1", rows="list", async_=True)  # type: ignore[call-overload]
hp.read_sql(URL, "SELECT 1", (), 100)  # type: ignore[call-overload]
hp.read_sql(42, "SELECT 1", async_=True)  # type: ignore[call-overload]
hp.read_sql(URL, b"SELECT 1", async_=True)  # type: ignore[call-overload]
