"""Type-checked, not run: what mypy --strict infers for the async form of
hosepipe.http.paginate (an httpx.AsyncClient as `client`, or `async_=True`).

Lines marked ``# type: ignore[...]`` must stay errors: mypy reports an unused ignore
(warn_unused_ignores under --strict) if the library ever stops rejecting them.
"""

from __future__ import annotations

from typing import Any, assert_type

import httpx

import hosepipe as hp
from hosepipe.http import Exponential, paginate

URL = "http://127.0.0.1:8000/items"

records = hp.http.paginate(URL, async_=True)
assert_type(records, hp.Stream[Any])
assert_type(records.map(lambda r: str(r["id"])), hp.Stream[str])
assert_type(
    paginate(httpx.URL(URL), style="page", items="data", start_page=0, async_=True),
    hp.Stream[Any],
)
assert_type(paginate(URL, async_=False), hp.Stream[Any])
paginate(URL, style="cursor", items=lambda body: body["data"], next_cursor="meta.next", async_=True)
paginate(
    URL, timeout=httpx.Timeout(5.0), retries=0, backoff=Exponential(0.1, 2.0, False), async_=True
)


async def use(client: httpx.AsyncClient) -> None:
    s = paginate(URL, client=client, max_pages=3, params={"per_page": 100}, headers={"X": "y"})
    assert_type(s, hp.Stream[Any])
    assert_type(await s.ato_list(), list[Any])
    assert_type(paginate(URL, client=client, async_=True), hp.Stream[Any])

    # An async stage over the records (Any): its parameter must not be typed with Any,
    # or mypy cannot choose between map's async and plain overloads and gives Stream[Any].
    issues: hp.Stream[dict[str, object]] = paginate(URL, client=client)

    async def title(issue: dict[str, object]) -> str:
        return str(issue["title"])

    assert_type(issues.map(title), hp.Stream[str])
    async with issues.map(title).aiterate() as it:
        async for t in it:
            assert_type(t, str)


paginate(URL, style="offset", async_=True)  # type: ignore[arg-type]
paginate(URL, "link", async_=True)  # type: ignore[call-arg]
paginate(URL, retries="3", async_=True)  # type: ignore[arg-type]
paginate(URL, async_="yes")  # type: ignore[arg-type]
paginate(URL, async_=None)  # type: ignore[arg-type]
paginate(URL, client="http://127.0.0.1:8000", async_=True)  # type: ignore[arg-type]
hp.http.apaginate  # type: ignore[attr-defined]
