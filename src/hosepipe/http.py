"""HTTP sources: read the records of a paged JSON API as one lazy stream.

``hosepipe.http.paginate(url)`` follows the pages of an API the three usual ways (a
``Link: <...>; rel="next"`` header, a next-cursor field in the body, or a page number) and
yields the records of each page. It needs the ``http`` extra (``pip install
'hosepipe[http]'``, which installs httpx); httpx is imported when ``paginate()`` is called,
not when ``hosepipe`` or ``hosepipe.http`` is imported. ``hp.http`` works after ``import
hosepipe as hp`` alone.

What it raises, besides ``MissingExtraError`` when httpx is not installed::

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
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable, Iterator, Mapping

from hosepipe._errors import DataError, HosepipeError
from hosepipe._extras import require
from hosepipe._nodes import _check_int, fn_name
from hosepipe._typing import TYPE_CHECKING
from hosepipe.backoff import Backoff, Exponential, check_backoff
from hosepipe.sources._base import Reader
from hosepipe.sources._paginate import _Pages
from hosepipe.sources._sql import hide_password

if TYPE_CHECKING:
    from typing import Any, Literal

    import httpx

    from hosepipe._stream import Stream

    Style = Literal["link", "cursor", "page"]

__all__ = ["Exponential", "HTTPError", "paginate"]

_NAME = "paginate"
_OP = f"{_NAME}()"
_STYLES = ("link", "cursor", "page")
_DEFAULT_BACKOFF = Exponential()

# How retries wait; tests replace it to record the delays instead of sleeping.
_sleep: Callable[[float], object] = time.sleep


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


def _check_path(param: str, value: object) -> tuple[str, ...]:
    if not isinstance(value, str):
        raise TypeError(
            f"{_OP}: `{param}` must be a key or a dotted path such as 'meta.next', "
            f"got {value!r} ({type(value).__name__})"
        )
    path = tuple(value.split("."))
    if not all(path):
        raise ValueError(
            f"{_OP}: `{param}` must be a key or a dotted path such as 'meta.next', got {value!r}"
        )
    return path


def _check_name(param: str, value: object) -> None:
    if not isinstance(value, str) or not value:
        raise (ValueError if isinstance(value, str) else TypeError)(
            f"{_OP}: `{param}` must be a non-empty string, got {value!r}"
        )


class _HTTPPages(Reader[object]):
    """The pages of one paginated URL; each run opens a client and closes it at the end."""

    def __init__(
        self,
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
        client: httpx.Client | None,
        max_pages: int | None,
    ) -> None:
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
        self.client = client
        self.max_pages = max_pages
        self.label = f"http.paginate({hide_password(url)!r})"

    def open(self, report: Callable[[BaseException], None]) -> Iterator[Any]:
        require("httpx", "http", "hosepipe.http.paginate()")
        import httpx

        client = self.client
        own = client is None
        if client is None:
            client = httpx.Client(headers={"Accept": "application/json"})
        try:
            # Cursor None asks for the first page; _Pages stops after a page whose next is None.
            run = _Run()
            pages = _Pages(functools.partial(self._page, client, run), None, self.max_pages)
            yield from pages.open(report)
        finally:
            if own:
                client.close()

    # -- one page --------------------------------------------------------------------------

    def _page(self, client: httpx.Client, run: _Run, cursor: Any) -> tuple[list[Any], Any]:
        """Fetch the page at *cursor* and return its records and the next page's cursor.

        A next link or cursor that *run* fetched already is a loop, unless this page is the
        last one `max_pages` allows (the next page will not be fetched).
        """
        run.pages += 1
        seen = run.seen
        last = self.max_pages is not None and run.pages >= self.max_pages
        if self.style == "link":
            url, params = (self.url, self.params) if cursor is None else (cursor, {})
            response = self._get(client, url, params)
            seen.update((str(response.request.url), str(response.url)))
            records, link = self._records(_json(response), response), _next_link(response)
            if link == str(response.url) and not last:
                raise _data_error(
                    "the response's next link is the URL just requested: paginate() would "
                    "fetch the same page forever",
                    response,
                )
            if link is not None and link in seen and not last:
                raise _data_error(
                    f"the response's next link {hide_password(link)!r} is a page this run "
                    f"fetched already: paginate() would fetch the same pages forever",
                    response,
                )
            return records, link
        if self.style == "cursor":
            params = self.params if cursor is None else {**self.params, self.cursor_param: cursor}
            response = self._get(client, self.url, params)
            seen.add(cursor)
            body = _json(response)
            records, after = self._records(body, response), self._next_cursor(body, response)
            if after is not None and after == cursor and not last:
                raise _data_error(
                    f"the response's next cursor {after!r} is the one this request sent as "
                    f"{self.cursor_param!r}: paginate() would fetch the same page forever "
                    "(does the API read its cursor from a parameter other than `cursor_param`?)",
                    response,
                )
            if after is not None and after in seen and not last:
                raise _data_error(
                    f"the response's next cursor {after!r} was sent as {self.cursor_param!r} "
                    "by an earlier request of this run: paginate() would fetch the same pages "
                    "forever",
                    response,
                )
            return records, after
        page = self.start_page if cursor is None else cursor
        response = self._get(client, self.url, {**self.params, self.page_param: page})
        records = self._records(_json(response), response)
        return records, (page + 1 if records else None)

    def _get(self, client: httpx.Client, url: str, params: Mapping[str, Any]) -> httpx.Response:
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
                response = client.send(request, follow_redirects=True)
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
            _sleep(wait)

    def _records(self, body: Any, response: httpx.Response) -> list[Any]:
        items = self.items
        if callable(items):
            got = items(body)
            if not hasattr(got, "__iter__") or isinstance(got, str | bytes | dict):
                raise TypeError(
                    f"{_OP}: `items` function {fn_name(items)}(body) must return an iterable "
                    f"of records, got {got!r} ({type(got).__name__})"
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


class _Run:
    """What one run of an HTTP source has fetched: pages, and the URLs (link style) or
    cursors (cursor style) requested, to catch a next page that would loop."""

    __slots__ = ("pages", "seen")

    def __init__(self) -> None:
        self.pages = 0
        self.seen: set[Any] = set()


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
    client: httpx.Client | None = None,
    max_pages: int | None = None,
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
    """
    require("httpx", "http", "hosepipe.http.paginate()")
    import httpx

    from hosepipe._stream import Stream

    if style not in _STYLES:
        raise ValueError(f"{_OP}: `style` must be 'link', 'cursor' or 'page', got {style!r}")
    if not isinstance(url, str | httpx.URL):
        raise TypeError(f"{_OP}: `url` must be a str or an httpx.URL, got {url!r}")
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as e:
        raise ValueError(
            f"{_OP}: `url` is not a valid URL ({hide_password(str(e))}), "
            f"got {hide_password(str(url))!r}"
        ) from e
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValueError(
            f"{_OP}: `url` must be an absolute http:// or https:// URL, "
            f"got {hide_password(str(url))!r}"
        )
    if params is None:
        params = {}
    elif not isinstance(params, Mapping) or not all(isinstance(k, str) for k in params):
        raise TypeError(
            f"{_OP}: `params` must be None or a mapping of names to values, got {params!r}"
        )
    if headers is None:
        headers = {}
    elif not isinstance(headers, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
    ):
        raise TypeError(
            f"{_OP}: `headers` must be None or a mapping of str to str, got {headers!r}"
        )
    where: tuple[str, ...] | Callable[[Any], Iterable[Any]] | None
    if items is None or callable(items):
        where = items
    elif isinstance(items, str):
        where = _check_path("items", items)
    else:
        raise TypeError(
            f"{_OP}: `items` must be None (the body is the list), a key or dotted path, "
            f"or a function of the body, got {items!r} ({type(items).__name__})"
        )
    if style == "cursor" and items is None:
        raise ValueError(
            f"{_OP}: `items` is required with style='cursor' (the body is an object holding "
            f"the records and the next cursor): pass the key of the records, e.g. items='data'"
        )
    _check_name("cursor_param", cursor_param)
    cursor_path = _check_path("next_cursor", next_cursor)
    _check_name("page_param", page_param)
    for param, name, needed in (
        ("cursor_param", cursor_param, "cursor"),
        ("page_param", page_param, "page"),
    ):
        if style == needed and name in params:
            raise ValueError(
                f"{_OP}: `params` must not contain {name!r}: paginate() sets that parameter "
                f"(`{param}`) on each request"
            )
    _check_int(_NAME, "start_page", start_page, 0)
    seconds = isinstance(timeout, int | float) and not isinstance(timeout, bool) and timeout > 0
    if not (timeout is None or seconds or isinstance(timeout, httpx.Timeout)):
        raise ValueError(
            f"{_OP}: `timeout` must be a number of seconds > 0, an httpx.Timeout or None, "
            f"got {timeout!r}"
        )
    _check_int(_NAME, "retries", retries, 0)
    check_backoff(_OP, backoff)
    if client is not None:
        if not isinstance(client, httpx.Client):
            raise TypeError(
                f"{_OP}: `client` must be None or an httpx.Client, got {client!r} "
                f"({type(client).__name__})"
            )
        if client.is_closed:
            raise ValueError(f"{_OP}: `client` is closed; pass an open httpx.Client")
    if max_pages is not None:
        _check_int(_NAME, "max_pages", max_pages, 1)
    return Stream(
        _HTTPPages(
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
            client,
            max_pages,
        )
    )
