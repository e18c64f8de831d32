"""Type-checked, not run: what mypy --strict infers for hosepipe.http.apaginate.

Lines marked ``# type: ignore[...]`` must stay errors: mypy reports an unused ignore
(warn_unused_ignores under --strict) if the library ever stops rejecting them.
"""

from __future__ import annotations

from typing import Any, assert_type

import httpx

import hosepipe as hp
from hosepipe.http import Exponential, apaginate

URL = "http://127.0.0.1:8000/items"

records = hp.http.apaginate(URL)
assert_type(records, hp.Stream[Any])
assert_type(records.map(lambda r: str(r["id"])), hp.Stream[str])
assert_type(apaginate(httpx.URL(URL), style="page", items="data", start_page=0), hp.Stream[Any])
apaginate(URL, style="cursor", items=lambda body: body["data"], next_cursor="meta.next")
apaginate(URL, timeout=httpx.Timeout(5.0), retries=0, backoff=Exponential(0.1, 2.0, False))


async def use(client: httpx.AsyncClient) -> None:
    s = apaginate(URL, client=client, max_pages=3, params={"per_page": 100}, headers={"X": "y"})
    assert_type(await s.ato_list(), list[Any])

    # An async stage over the records (Any): its parameter must not be typed with Any,
    # or mypy cannot choose between map's async and plain overloads and gives Stream[Any].
    issues: hp.Stream[dict[str, object]] = apaginate(URL, client=client)

    async def title(issue: dict[str, object]) -> str:
        return str(issue["title"])

    assert_type(issues.map(title), hp.Stream[str])
    async with issues.map(title).aiterate() as it:
        async for t in it:
            assert_type(t, str)


apaginate(URL, style="offset")  # type: ignore[arg-type]
apaginate(URL, "link")  # type: ignore[call-arg]
apaginate(URL, retries="3")  # type: ignore[arg-type]
apaginate(URL, client=httpx.Client())  # type: ignore[arg-type]
