"""Type-checked, not run: what mypy --strict infers for hosepipe.http.

Lines marked ``# type: ignore[...]`` must stay errors: mypy reports an unused ignore
(warn_unused_ignores under --strict) if the library ever stops rejecting them.
"""

from __future__ import annotations

from typing import Any, assert_type

import httpx

import hosepipe as hp  # `hp.http` needs no `import hosepipe.http` for the type checker
from hosepipe.http import Exponential, HTTPError, paginate

URL = "http://127.0.0.1:8000/items"

records = hp.http.paginate(URL)
assert_type(records, hp.Stream[Any])
assert_type(records.map(lambda r: str(r["id"])), hp.Stream[str])
assert_type(paginate(httpx.URL(URL), style="page", items="data", start_page=0), hp.Stream[Any])
paginate(URL, style="cursor", items=lambda body: body["data"], next_cursor="meta.next")
paginate(URL, timeout=httpx.Timeout(5.0), retries=0, backoff=Exponential(0.1, 2.0, False))
with httpx.Client() as client:
    paginate(URL, client=client, max_pages=3, params={"per_page": 100}, headers={"X": "y"})

assert_type(Exponential().delay(1), float)
assert_type(Exponential().max, float)


def status_of(e: HTTPError) -> int | None:
    assert_type(e.attempts, int)
    assert_type(e.url, str)
    return e.status


paginate(URL, style="offset")  # type: ignore[arg-type]
paginate(URL, "link")  # type: ignore[call-arg]
paginate(URL, retries="3")  # type: ignore[arg-type]
paginate(URL, items=3)  # type: ignore[arg-type]
paginate(URL, backoff=2.0)  # type: ignore[arg-type]
hp.http.no_such_name  # type: ignore[attr-defined]
