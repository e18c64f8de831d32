"""HTTP sources: read the records of a paged JSON API as one lazy stream.

``hosepipe.http.paginate(url)`` follows the pages of an API the three usual ways (a
``Link: <...>; rel="next"`` header, a next-cursor field in the body, or a page number) and
yields the records of each page, on an ``httpx.Client``. Like ``hp.read_sql``, it has an
async form, chosen by what you pass: an ``httpx.AsyncClient`` as ``client``, or
``async_=True`` (a client of its own per run); the same arguments, pages and errors, read on
the event loop. It needs the ``http`` extra (``pip install 'hosepipe[http]'``, which
installs httpx); httpx is imported when ``paginate()`` is called, not when ``hosepipe`` or
``hosepipe.http`` is imported. ``hp.http`` works after ``import hosepipe as hp`` alone.

The page logic (requests, retries, next pages) is written once, as generators that do no
I/O: they yield the request to send, the seconds to wait or the records to give, and a
small sync driver (``httpx.Client``, ``time.sleep``) or async driver
(``httpx.AsyncClient``, ``asyncio.sleep``) does it and sends the response back.

What they raise, besides ``MissingExtraError`` when httpx is not installed::

    HosepipeError
     +-- HTTPError          a request failed: a 4xx status or any other httpx error (too
     |                      many redirects, a proxy error, an unsupported protocol, a body
     |                      that cannot be decoded) at once, or a 429, a 5xx, a timeout or
     |                      a connection error still failing after `retries` retries;
     |                      carries url, status (None without a response), attempts
     +-- DataError          a response that is not JSON, JSON without the records or the
          (also ValueError) cursor where they were expected, or a next page already
                            fetched in this run (it would loop); path is the URL, raw the body

An ``HTTPError`` caused by an httpx exception (a timeout, a refused connection) has it as
``__cause__``. No label, message, ``HTTPError.url`` or ``DataError.path`` shows a URL's
password or the value of a query parameter whose name says it is secret (``api_key``,
``token``, ``password``, ``sig``...): they read ``***``. The requests use the real URL.

Why this module is longer than most: it is one integration, whose three pagination styles
share one sans-I/O page walker (``_Spec``), with thin sync and async readers around it.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping

from hosepipe._callables import fn_name
from hosepipe._ends import Reader
from hosepipe._errors import DataError, HosepipeError
from hosepipe._extras import require
from hosepipe._nodes import _check_int
from hosepipe._typing import TYPE_CHECKING, TypeVar
from hosepipe.backoff import Backoff, Exponential, check_backoff
from hosepipe.sources._sql import hide_password

if TYPE_CHECKING:
    from typing import Any, Literal

    import httpx

    from hosepipe._stream import Stream

    Style = Literal["link", "cursor", "page"]

T = TypeVar("T")

__all__ = ["Exponential", "HTTPError", "paginate"]

_STYLES = ("link", "cursor", "page")
_DEFAULT_BACKOFF = Exponential()

# How retries wait (the sync form, the async form); tests replace them to record the delays instead.
_sleep: Callable[[float], object] = time.sleep


async def _asleep(seconds: float) -> None:
    import asyncio

    await asyncio.sleep(seconds)


class HTTPError(HosepipeError):
    """A request of an HTTP source failed, after the retries it was allowed.

    *url* is the URL requested (with its query; a password and the values of secret query
    parameters read ``***``), *status* the last response's status code
    (``None`` when no response came: a timeout or a connection error) and *attempts* the
    number of requests made for it.

    >>> e = HTTPError("GET http://api.test/items failed", url="http://api.test/items",
    ...               status=503, attempts=4)
    >>> (e.status, e.attempts)
    (503, 4)
    >>> import hosepipe as hp
    >>> isinstance(e, hp.HosepipeError)
    True
    """

    def __init__(self, message: str, *, url: str, status: int | None, attempts: int) -> None:
        self.message = message
        self.url = url
        self.status = status
        self.attempts = attempts
        super().__init__(message)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_http_error, (self.message, self.url, self.status, self.attempts))


def _rebuild_http_error(message: str, url: str, status: int | None, attempts: int) -> HTTPError:
    return HTTPError(message, url=url, status=status, attempts=attempts)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _retry_after(value: str | None) -> float | None:
    """The seconds a ``Retry-After`` header asks for (delay-seconds or an HTTP date)."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return seconds if seconds >= 0 else None  # NaN and negatives are not valid
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _kind(value: object) -> str:
    """How a decoded JSON value is described in error messages."""
    if isinstance(value, dict):
        return "a JSON object"
    if isinstance(value, list):
        return "a JSON list"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return "a number"


def _keys(obj: Mapping[str, Any]) -> str:
    shown = [repr(k) for k in list(obj)[:10]]
    more = ", ..." if len(obj) > 10 else ""
    return f"keys {', '.join(shown)}{more}" if shown else "no keys"


def _check_path(op: str, param: str, value: object) -> tuple[str, ...]:
    if not isinstance(value, str):
        raise TypeError(
            f"{op}: `{param}` must be a key or a dotted path such as 'meta.next', "
            f"got {value!r} ({type(value).__name__})"
        )
    path = tuple(value.split("."))
    if not all(path):
        raise ValueError(
            f"{op}: `{param}` must be a key or a dotted path such as 'meta.next', got {value!r}"
        )
    return path


def _check_name(op: str, param: str, value: object) -> None:
    if not isinstance(value, str) or not value:
        raise (ValueError if isinstance(value, str) else TypeError)(
            f"{op}: `{param}` must be a non-empty string, got {value!r}"
        )


# -- one run, without I/O -----------------------------------------------------------------
#
# The page logic (requests, retries and their waits, records, next pages, loops) exists
# once, in generators that do no I/O: they yield what is to be done next, and a driver does
# it and sends back the outcome. `_HTTPPages.open` drives them with an httpx.Client and
# time.sleep (the sync form), `_HTTPPagesAsync.__aiter__` with an httpx.AsyncClient and
# asyncio.sleep (the async form). A run yields three kinds of step:
#
#   an httpx.Request   send it; send back the httpx.Response, or throw in the
#                      httpx.HTTPError that sending raised
#   a float            sleep that many seconds (a retry's wait); send back None
#   a list             give these records to the consumer; send back None when the next
#                      item is wanted (only then is the next page requested)

if TYPE_CHECKING:
    from collections.abc import Generator

    Step = httpx.Request | float | list[Any]
    Steps = Generator[Step, Any, T]


class _Spec:
    """What one paginated URL is read with: the arguments of ``paginate()``, checked."""

    def __init__(
        self,
        op: str,
        url: str,
        style: Style,
        params: dict[str, Any],
        headers: dict[str, str],
        items: tuple[str, ...] | Callable[[Any], Iterable[Any]] | None,
        cursor_param: str,
        next_cursor: tuple[str, ...],
        page_param: str,
        start_page: int,
        timeout: float | httpx.Timeout | None,
        retries: int,
        backoff: Backoff,
        max_pages: int | None,
    ) -> None:
        self.op = op
        self.url = url
        self.style = style
        self.params = params
        self.headers = headers
        self.items = items
        self.cursor_param = cursor_param
        self.next_cursor = next_cursor
        self.page_param = page_param
        self.start_page = start_page
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.max_pages = max_pages

    def run(
        self,
        client: httpx.Client | httpx.AsyncClient,
        run: _Run | None = None,
        start: dict[str, Any] | None = None,
    ) -> Steps[None]:
        """The steps of one run: page after page until the last, or *max_pages*; from the
        position *start* (checkpoints: a page's cursor, its records to skip, pages before)."""
        run = _Run() if run is None else run
        cursor: Any = None  # None asks for the first page
        skip = 0
        if start is not None:
            cursor, skip, run.pages = start["cursor"], start["skip"], start["pages"]
        while True:
            run.cursor, run.skip = cursor, skip  # the page being read, for position()
            records, cursor = yield from self._page(client, run, cursor)
            if skip:
                records, skip = records[skip:], 0
            if records:
                yield records
            if cursor is None or (self.max_pages is not None and run.pages >= self.max_pages):
                return

    # -- one page --------------------------------------------------------------------------

    def _page(
        self, client: httpx.Client | httpx.AsyncClient, run: _Run, cursor: Any
    ) -> Steps[tuple[list[Any], Any]]:
        """Fetch the page at *cursor*; return its records and the next page's cursor.

        A next link or cursor that *run* fetched already is a loop, unless this page is the
        last one `max_pages` allows (the next page will not be fetched).
        """
        run.pages += 1
        seen = run.seen
        last = self.max_pages is not None and run.pages >= self.max_pages
        op = self.op
        if self.style == "link":
            url, params = (self.url, self.params) if cursor is None else (cursor, {})
            response = yield from self._get(client, url, params)
            seen.update((str(response.request.url), str(response.url)))
            records, link = self._records(_json(response), response), _next_link(response)
            if link == str(response.url) and not last:
                raise _data_error(
                    f"the response's next link is the URL just requested: {op} would "
                    "fetch the same page forever",
                    response,
                )
            if link is not None and link in seen and not last:
                raise _data_error(
                    f"the response's next link {hide_password(link)!r} is a page this run "
                    f"fetched already: {op} would fetch the same pages forever",
                    response,
                )
            return records, link
        if self.style == "cursor":
            params = self.params if cursor is None else {**self.params, self.cursor_param: cursor}
            response = yield from self._get(client, self.url, params)
            seen.add(cursor)
            body = _json(response)
            records, after = self._records(body, response), self._next_cursor(body, response)
            if after is not None and after == cursor and not last:
                raise _data_error(
                    f"the response's next cursor {after!r} is the one this request sent as "
                    f"{self.cursor_param!r}: {op} would fetch the same page forever "
                    "(does the API read its cursor from a parameter other than `cursor_param`?)",
                    response,
                )
            if after is not None and after in seen and not last:
                raise _data_error(
                    f"the response's next cursor {after!r} was sent as {self.cursor_param!r} "
                    f"by an earlier request of this run: {op} would fetch the same pages "
                    "forever",
                    response,
                )
            return records, after
        page = self.start_page if cursor is None else cursor
        response = yield from self._get(client, self.url, {**self.params, self.page_param: page})
        records = self._records(_json(response), response)
        return records, (page + 1 if records else None)

    def _get(
        self, client: httpx.Client | httpx.AsyncClient, url: str, params: Mapping[str, Any]
    ) -> Steps[httpx.Response]:
        """GET *url*, retrying connection errors, timeouts, 429 and 5xx with backoff."""
        import httpx

        # httpx's params= would replace the URL's query; merge them into it instead.
        full = httpx.URL(url).copy_merge_params(params) if params else url
        request = client.build_request("GET", full, headers=self.headers, timeout=self.timeout)
        shown = hide_password(str(request.url))
        where = f"GET {shown}"
        attempt = 0
        while True:
            attempt += 1
            tried = f"after {_plural(attempt, 'attempt')} (retries={self.retries})"
            try:
                response: httpx.Response = yield request
            except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as e:
                if attempt > self.retries:
                    raise HTTPError(
                        f"{where} failed {tried}: {type(e).__name__}: {e}",
                        url=shown,
                        status=None,
                        attempts=attempt,
                    ) from e
                wait = self.backoff.delay(attempt)
            except httpx.HTTPError as e:  # too many redirects, a proxy error, ...: not retried
                raise HTTPError(
                    f"{where} failed: {type(e).__name__}: {e} (not retried)",
                    url=shown,
                    status=None,
                    attempts=attempt,
                ) from e
            else:
                status = response.status_code
                if 200 <= status < 300:
                    return response
                what = f"status {status} {response.reason_phrase}".rstrip()
                if status != 429 and status < 500:
                    why = "a client error other than 429" if status >= 400 else "not a success"
                    raise HTTPError(
                        f"{where} failed: {what} ({why}: not retried)",
                        url=shown,
                        status=status,
                        attempts=attempt,
                    )
                if attempt > self.retries:
                    raise HTTPError(
                        f"{where} failed {tried}: {what}",
                        url=shown,
                        status=status,
                        attempts=attempt,
                    )
                asked = _retry_after(response.headers.get("Retry-After"))
                if asked is None:
                    wait = self.backoff.delay(attempt)
                else:
                    wait = min(asked, float(self.backoff.max))
            yield float(wait)

    def _records(self, body: Any, response: httpx.Response) -> list[Any]:
        items = self.items
        if callable(items):
            got = items(body)
            if not hasattr(got, "__iter__") or isinstance(got, str | bytes | dict):
                raise TypeError(
                    f"{self.op}: `items` function {fn_name(items)}(body) must return an "
                    f"iterable of records, got {got!r} ({type(got).__name__})"
                )
            return list(got)
        if items is None:
            if not isinstance(body, list):
                hint = f" with {_keys(body)}" if isinstance(body, dict) else ""
                raise _data_error(
                    f"expected the response body to be a JSON list of records, got "
                    f"{_kind(body)}{hint}; pass `items=` to say where the records are",
                    response,
                )
            return body
        found = _lookup(body, items, "items", response)
        if not isinstance(found, list):
            raise _data_error(
                f"expected a JSON list of records at {'.'.join(items)!r} (`items`), "
                f"got {_kind(found)}",
                response,
            )
        return found

    def _next_cursor(self, body: Any, response: httpx.Response) -> Any:
        value: Any = body
        for depth, key in enumerate(self.next_cursor):
            if value is None:
                return None
            if not isinstance(value, dict):
                at = ".".join(self.next_cursor[:depth]) or "the top level"
                raise _data_error(
                    f"expected a JSON object at {at} to hold the next cursor "
                    f"{'.'.join(self.next_cursor)!r} (`next_cursor`), got {_kind(value)}",
                    response,
                )
            value = value.get(key)
        if value is None or value == "":
            return None
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise _data_error(
                f"expected the next cursor at {'.'.join(self.next_cursor)!r} (`next_cursor`) "
                f"to be a string or a number, got {_kind(value)}",
                response,
            )
        return value


# -- the drivers ----------------------------------------------------------------------------


class _Positions:
    """Where a run of either form is, for checkpoints: ``position()`` and ``seek(pos)``."""

    _start: dict[str, Any] | None = None  # where the next run starts (seek)
    _at: tuple[_Run, int, Any] | None = None  # the latest run: its page, records, iterator

    def position(self) -> dict[str, Any] | None:
        """Where the latest run is (checkpoints): the cursor (or URL) of the page of the
        last record handed out, how many records of that page were, and pages before it."""
        if self._at is None:
            return None
        run, size, rows = self._at
        taken = run.skip + size - rows.__length_hint__()
        return {"cursor": run.cursor, "skip": taken, "pages": run.pages - 1}

    def seek(self, pos: dict[str, Any]) -> None:
        """Make the next run start at *pos*, a ``position()``: that page is fetched again
        and its records up to there skipped."""
        self._start = pos


class _HTTPPages(_Positions, Reader[object]):
    """The source of ``paginate()``'s sync form: each run opens an httpx.Client (unless one
    was passed) and closes it at the end."""

    def __init__(self, spec: _Spec, client: httpx.Client | None) -> None:
        self.spec = spec
        self.client = client
        self.label = f"http.paginate({hide_password(spec.url)!r})"

    def open(self, report: Callable[[BaseException], None]) -> Iterator[Any]:
        require("httpx", "http", "hosepipe.http.paginate()")
        import httpx

        client = self.client
        own = client is None
        if client is None:
            client = httpx.Client(headers={"Accept": "application/json"})
        run = _Run()
        start, self._start, self._at = self._start, None, None
        steps = self.spec.run(client, run, start)
        try:
            reply: httpx.Response | None = None
            error: httpx.HTTPError | None = None
            while True:
                try:
                    step = steps.send(reply) if error is None else steps.throw(error)
                except StopIteration:
                    return
                reply = error = None
                if isinstance(step, httpx.Request):
                    try:
                        reply = client.send(step, follow_redirects=True)
                    except httpx.HTTPError as e:
                        error = e
                elif isinstance(step, list):
                    rows = iter(step)
                    self._at = (run, len(step), rows)
                    yield from rows
                else:
                    _sleep(step)
        finally:
            steps.close()
            if own:
                client.close()


class _HTTPPagesAsync(_Positions):
    """The source of ``paginate()``'s async form, an async iterable: each ``async for``
    over it is a run, which opens an httpx.AsyncClient (unless one was passed) and closes it
    at the end. Its label ends with ``async_=True``, however the async form was chosen."""

    def __init__(self, spec: _Spec, client: httpx.AsyncClient | None) -> None:
        self.spec = spec
        self.client = client
        self.label = f"http.paginate({hide_password(spec.url)!r}, async_=True)"

    def __repr__(self) -> str:
        return self.label

    async def __aiter__(self) -> AsyncIterator[Any]:
        # Twice on purpose: the sync loop's twin with awaits; both only carry out the steps of
        # the one sans-I/O ``_Spec.run`` (as httpx's sync and async clients share their models).
        require("httpx", "http", "hosepipe.http.paginate()")
        import httpx

        client = self.client
        own = client is None
        if client is None:
            client = httpx.AsyncClient(headers={"Accept": "application/json"})
        run = _Run()
        start, self._start, self._at = self._start, None, None
        steps = self.spec.run(client, run, start)
        try:
            reply: httpx.Response | None = None
            error: httpx.HTTPError | None = None
            while True:
                try:
                    step = steps.send(reply) if error is None else steps.throw(error)
                except StopIteration:
                    return
                reply = error = None
                if isinstance(step, httpx.Request):
                    try:
                        reply = await client.send(step, follow_redirects=True)
                    except httpx.HTTPError as e:
                        error = e
                elif isinstance(step, list):
                    rows = iter(step)
                    self._at = (run, len(step), rows)
                    for record in rows:
                        yield record
                else:
                    await _asleep(step)
        finally:
            steps.close()
            if own:
                await client.aclose()


class _Run:
    """What one run of an HTTP source has fetched: pages, and the URLs (link style) or
    cursors (cursor style) requested, to catch a next page that would loop."""

    __slots__ = ("cursor", "pages", "seen", "skip")

    def __init__(self) -> None:
        self.pages = 0
        self.seen: set[Any] = set()
        self.cursor: Any = None  # the cursor of the page being read (None: the first)
        self.skip = 0  # its records skipped (a resumed run)


def _data_error(message: str, response: httpx.Response) -> DataError:
    return DataError(message, path=hide_password(str(response.url)), raw=response.text)


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError as e:  # JSONDecodeError, UnicodeDecodeError
        raise _data_error(f"the response is not JSON: {e}", response) from e


def _lookup(body: Any, path: tuple[str, ...], param: str, response: httpx.Response) -> Any:
    """The value at dotted *path* in *body*, or a DataError that says where the path broke."""
    value = body
    for depth, key in enumerate(path):
        at = repr(".".join(path[:depth])) if depth else "the top level"
        if not isinstance(value, dict):
            raise _data_error(
                f"expected a JSON object at {at} to find {'.'.join(path)!r} (`{param}`), "
                f"got {_kind(value)}",
                response,
            )
        if key not in value:
            raise _data_error(
                f"the response has no {'.'.join(path)!r} (`{param}`): the object at {at} "
                f"has {_keys(value)}",
                response,
            )
        value = value[key]
    return value


def _next_link(response: httpx.Response) -> str | None:
    """The ``rel="next"`` URL of the ``Link`` header, resolved against the response's URL."""
    for link in response.links.values():
        if "next" in link.get("rel", "").split() and link.get("url"):
            return str(response.url.join(link["url"]))
    return None


def paginate(
    url: str | httpx.URL,
    *,
    style: Style = "link",
    params: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    items: str | Callable[[Any], Iterable[Any]] | None = None,
    cursor_param: str = "cursor",
    next_cursor: str = "next",
    page_param: str = "page",
    start_page: int = 1,
    timeout: float | httpx.Timeout | None = 10.0,
    retries: int = 3,
    backoff: Backoff = _DEFAULT_BACKOFF,
    client: httpx.Client | httpx.AsyncClient | None = None,
    max_pages: int | None = None,
    async_: bool = False,
) -> Stream[Any]:
    """A stream over the records of a paginated JSON API at *url*, fetched page by page.

    Each page is one ``GET`` whose JSON body holds a list of records; the stream yields the
    records in order and asks for the next page only when the records of the page before
    have been used (``.take(3)`` of a 100-record page makes one request). Every run of the
    stream starts again from the first page.

    *style* says how the next page is found:

    * ``"link"`` (the default): the URL in the response's ``Link: <...>; rel="next"``
      header (RFC 8288, as GitHub's API sends), resolved against the response's URL; the
      end is a response without one. *params* are sent with the first request only, as the
      next URLs carry their own query.
    * ``"cursor"``: a field of the body, named by *next_cursor* (a key or a dotted path such
      as ``"meta.next"``), whose value is sent back as the query parameter *cursor_param*;
      the end is a page where it is missing, null or ``""``. *items* is required.
    * ``"page"``: the query parameter *page_param* counts pages from *start_page*; the end
      is the first page with no records.

    *items* says where the records are in a page's JSON body: ``None`` when the body is
    the list itself, a key or dotted path (``"data"``, ``"result.rows"``), or a function
    from the body to an iterable of records.

    *params* are added to the query of *url* (replacing a parameter of the same name), and
    *headers* are sent with every request (a JSON ``Accept`` header is added unless *client*
    is given). *timeout* (seconds, an ``httpx.Timeout``, or ``None`` for
    none) applies to each request, also through a *client* of yours. A request that times
    out, cannot connect, or gets a 429 or a 5xx status is tried again up to *retries* times,
    waiting as *backoff* says, or as the response's ``Retry-After`` header says (seconds or
    an HTTP date), capped by ``backoff.max``; then the stream raises ``HTTPError`` with the
    URL, the last status and the number of attempts. Any other 4xx raises ``HTTPError`` at
    once, as does any other httpx error (too many redirects, a proxy error, a body that
    cannot be decoded). A body that is not JSON, has no records where *items* says, or
    points to a page this run fetched already as the next one (a next link or cursor seen
    before, which would loop forever) raises ``hp.DataError`` naming the URL. *max_pages*
    stops after that many pages. No label or error shows the password of *url* or the
    value of a secret query parameter (``api_key``, ``token``, ...): they read ``***``.

    Each run opens its own ``httpx.Client`` and closes it when the run ends, however it
    ends (exhausted, an error, ``close()`` after a ``break``). A *client* you pass (for
    auth, proxies, certificates) is used instead, and left open.

    Every argument is checked when ``paginate()`` is called:

    >>> import hosepipe as hp, hosepipe.http
    >>> hp.http.paginate("http://127.0.0.1:8000/items", style="offset")
    Traceback (most recent call last):
    ...
    ValueError: paginate(): `style` must be 'link', 'cursor' or 'page', got 'offset'
    >>> hp.http.paginate("http://127.0.0.1:8000/items", style="cursor", next_cursor="meta.next")
    Traceback (most recent call last):
    ...
    ValueError: paginate(): `items` is required with style='cursor' (the body is an object ...
    >>> hp.http.paginate("http://127.0.0.1:8000/items", items="data")
    Stream(http.paginate('http://127.0.0.1:8000/items'))

    **The async form** reads with ``httpx.AsyncClient``, so a request or a retry's wait does
    not block the event loop: pass an ``httpx.AsyncClient`` as *client* (used as it is, left
    open), or ``async_=True`` without a client (each run then opens an ``httpx.AsyncClient``
    and closes it when the run ends, however it ends: exhausted, an error, ``aclose()`` or
    leaving ``async with stream.aiterate()`` after a ``break``). The arguments, pages,
    laziness, retries and errors are the ones above (both forms run one implementation of
    the page logic); only the I/O differs: requests are awaited on the event loop and
    retries wait with ``asyncio.sleep``. Read it with ``async for`` (in ``async with
    stream.aiterate()``), ``ato_list()`` and the other async terminals, or from sync code
    (``for``, ``to_list()``), each run then on an event loop of its own. In async code, use
    this form: a sync stream read with ``async for`` blocks the event loop during each
    request. A client is tied to the event loop it is used in: read a stream with an
    ``AsyncClient`` of yours in that loop (``async for``, the async terminals); sync code
    runs each run on a new loop, where the client's open connections cannot be used, so
    give it ``async_=True`` and no client. The label of the async form ends with
    ``async_=True``, however it was chosen.

    Here an in-memory API (``httpx.MockTransport``) stands in for a server:

    >>> import asyncio, httpx
    >>> def api(request):  # page 1 and 2 hold two records each; page 3 is empty
    ...     page = int(request.url.params["page"])
    ...     records = [f"r{page}.{i}" for i in (1, 2)] if page <= 2 else []
    ...     return httpx.Response(200, json={"items": records})
    >>> async def main():
    ...     async with httpx.AsyncClient(transport=httpx.MockTransport(api)) as client:
    ...         s = hp.http.paginate("https://api.test/items", style="page",
    ...                              items="items", client=client)
    ...         return await s.ato_list()
    >>> asyncio.run(main())
    ['r1.1', 'r1.2', 'r2.1', 'r2.2']
    >>> hp.http.paginate("http://127.0.0.1:8000/items", async_=True)
    Stream(http.paginate('http://127.0.0.1:8000/items', async_=True))
    >>> with httpx.Client() as sync_client:
    ...     hp.http.paginate("https://api.test/items", client=sync_client, async_=True)
    Traceback (most recent call last):
    ...
    ValueError: paginate(): `async_=True` needs an httpx.AsyncClient or no `client`, got an
    httpx.Client; an httpx.Client is sync: pass an httpx.AsyncClient instead, or leave out
    `async_` to read with this client in the sync form

    Against a server (not run here)::

        >>> issues = hp.http.paginate(  # doctest: +SKIP
        ...     "https://api.github.com/repos/python/cpython/issues",
        ...     params={"state": "open", "per_page": 100},
        ...     headers={"Accept": "application/vnd.github+json"},
        ... )
        >>> issues.map(lambda issue: issue["title"]).take(5).to_list()  # doctest: +SKIP
        >>> hp.http.paginate(  # doctest: +SKIP
        ...     "https://api.example.com/events", style="cursor", items="data",
        ...     next_cursor="meta.next_cursor", cursor_param="after", retries=5,
        ... ).to_list()
        >>> async def titles():  # doctest: +SKIP
        ...     issues = hp.http.paginate(
        ...         "https://api.github.com/repos/python/cpython/issues",
        ...         params={"state": "open", "per_page": 100},
        ...         headers={"Accept": "application/vnd.github+json"},
        ...         async_=True,
        ...     )
        ...     async with issues.map(lambda issue: issue["title"]).aiterate() as it:
        ...         async for title in it:
        ...             print(title)
    """
    require("httpx", "http", "hosepipe.http.paginate()")
    import httpx

    from hosepipe._stream import Stream

    spec = _spec(
        "paginate()",
        url,
        style=style,
        params=params,
        headers=headers,
        items=items,
        cursor_param=cursor_param,
        next_cursor=next_cursor,
        page_param=page_param,
        start_page=start_page,
        timeout=timeout,
        retries=retries,
        backoff=backoff,
        max_pages=max_pages,
    )
    if not isinstance(async_, bool):
        raise TypeError(f"paginate(): `async_` must be a bool, got {async_!r}")
    _check_client("paginate()", client, async_)
    if isinstance(client, httpx.AsyncClient) or (client is None and async_):
        return Stream(_HTTPPagesAsync(spec, client))
    return Stream(_HTTPPages(spec, client))


def _check_client(op: str, client: object, async_: bool) -> None:
    """*client* must be None, an open httpx.Client (the sync form, so not with *async_*)
    or an open httpx.AsyncClient (the async form)."""
    import httpx

    if client is None:
        return
    if not isinstance(client, httpx.Client | httpx.AsyncClient):
        raise TypeError(
            f"{op}: `client` must be None, an httpx.Client or an httpx.AsyncClient, "
            f"got {client!r} ({type(client).__name__})"
        )
    if async_ and isinstance(client, httpx.Client):
        raise ValueError(
            f"{op}: `async_=True` needs an httpx.AsyncClient or no `client`, got an "
            "httpx.Client; an httpx.Client is sync: pass an httpx.AsyncClient instead, or "
            "leave out `async_` to read with this client in the sync form"
        )
    if client.is_closed:
        kind = "httpx.AsyncClient" if isinstance(client, httpx.AsyncClient) else "httpx.Client"
        raise ValueError(f"{op}: `client` is closed; pass an open {kind}")


def _spec(
    op: str,
    url: str | httpx.URL,
    *,
    style: Style,
    params: Mapping[str, Any] | None,
    headers: Mapping[str, str] | None,
    items: str | Callable[[Any], Iterable[Any]] | None,
    cursor_param: str,
    next_cursor: str,
    page_param: str,
    start_page: int,
    timeout: float | httpx.Timeout | None,
    retries: int,
    backoff: Backoff,
    max_pages: int | None,
) -> _Spec:
    """The arguments of ``paginate()`` (*op*) checked, as a ``_Spec``."""
    import httpx

    name = op.removesuffix("()")
    if style not in _STYLES:
        raise ValueError(f"{op}: `style` must be 'link', 'cursor' or 'page', got {style!r}")
    if not isinstance(url, str | httpx.URL):
        raise TypeError(f"{op}: `url` must be a str or an httpx.URL, got {url!r}")
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as e:
        raise ValueError(
            f"{op}: `url` is not a valid URL ({hide_password(str(e))}), "
            f"got {hide_password(str(url))!r}"
        ) from e
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValueError(
            f"{op}: `url` must be an absolute http:// or https:// URL, "
            f"got {hide_password(str(url))!r}"
        )
    if params is None:
        params = {}
    elif not isinstance(params, Mapping) or not all(isinstance(k, str) for k in params):
        raise TypeError(
            f"{op}: `params` must be None or a mapping of names to values, got {params!r}"
        )
    if headers is None:
        headers = {}
    elif not isinstance(headers, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
    ):
        raise TypeError(f"{op}: `headers` must be None or a mapping of str to str, got {headers!r}")
    where: tuple[str, ...] | Callable[[Any], Iterable[Any]] | None
    if items is None or callable(items):
        where = items
    elif isinstance(items, str):
        where = _check_path(op, "items", items)
    else:
        raise TypeError(
            f"{op}: `items` must be None (the body is the list), a key or dotted path, "
            f"or a function of the body, got {items!r} ({type(items).__name__})"
        )
    if style == "cursor" and items is None:
        raise ValueError(
            f"{op}: `items` is required with style='cursor' (the body is an object holding "
            f"the records and the next cursor): pass the key of the records, e.g. items='data'"
        )
    _check_name(op, "cursor_param", cursor_param)
    cursor_path = _check_path(op, "next_cursor", next_cursor)
    _check_name(op, "page_param", page_param)
    for param, value, needed in (
        ("cursor_param", cursor_param, "cursor"),
        ("page_param", page_param, "page"),
    ):
        if style == needed and value in params:
            raise ValueError(
                f"{op}: `params` must not contain {value!r}: {op} sets that parameter "
                f"(`{param}`) on each request"
            )
    _check_int(name, "start_page", start_page, 0)
    seconds = isinstance(timeout, int | float) and not isinstance(timeout, bool) and timeout > 0
    if not (timeout is None or seconds or isinstance(timeout, httpx.Timeout)):
        raise ValueError(
            f"{op}: `timeout` must be a number of seconds > 0, an httpx.Timeout or None, "
            f"got {timeout!r}"
        )
    _check_int(name, "retries", retries, 0)
    check_backoff(op, backoff)
    if max_pages is not None:
        _check_int(name, "max_pages", max_pages, 1)
    return _Spec(
        op,
        str(url),
        style,
        dict(params),
        dict(headers),
        where,
        cursor_param,
        cursor_path,
        page_param,
        start_page,
        timeout,
        retries,
        backoff,
        max_pages,
    )
