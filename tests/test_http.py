"""hosepipe.http.paginate against a real HTTP server on 127.0.0.1: styles, laziness, retries,
errors, cleanup and argument checks. Backoff policies (hosepipe.backoff) too.

The server is a ``ThreadingHTTPServer`` speaking HTTP/1.1 with keep-alive, so a client that
is not closed keeps its connection open and the server sees when it is closed.
"""

from __future__ import annotations

import email.utils
import json
import pickle
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import pytest

import hosepipe as hp
import hosepipe.http
from hosepipe._extras import MissingExtraError
from hosepipe.backoff import Exponential
from hosepipe.http import HTTPError, paginate

# -- the server -----------------------------------------------------------------------------


class _State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: list[str] = []  # path and query of each request, in order
        self.headers: list[dict[str, str]] = []
        self.failures: dict[str, int] = {}  # /flaky: failures served per key
        self.open_connections = 0
        self.stop = threading.Event()


class _Server(ThreadingHTTPServer):
    state: _State

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client that timed out
            super().handle_error(request, client_address)


def _page_of(query: dict[str, str], first: int) -> list[int]:
    n, size = int(query.get("n", 10)), int(query.get("size", 3))
    return list(range(first, min(first + size, n)))


class _Handler(BaseHTTPRequestHandler):
    """Routes, each with knobs in the query string:

    /link?page=&size=&n=      a JSON list; a Link header with rel="next" (relative URL; with
                              abs=1 absolute) next to a rel="last" link, while more remain;
                              with stuck=1 the next link is the URL requested
    /cursor?cursor=&size=&n=  {"data": [...], "meta": {"next": "c3" or null}}
    /page?page=&size=&n=      {"items": [...]}, empty past the end; the page number is read
                              from the parameter named by pp= (default page); with
                              missing_from=N, pages from N on are 404
    /flaky?run=&fails=&status=&retry_after=   fails `fails` times per run, then [1, 2, 3]
    /missing                  404;  /notjson: an HTML page;  /slow?delay=: waits, then []
    /cycle?page=              [page]; page 1 links to page 2, page 2 back to page 1
    /cursorcycle?cursor=      {"data": [...], "next": ...}: none -> "a" -> "b" -> "a"
    /redirect                 a 302 to itself;  /badgzip: a "gzip" body that is not gzip
    """

    protocol_version = "HTTP/1.1"  # keep-alive: the connection lives as long as the client's
    disable_nagle_algorithm = True  # headers and body are separate writes: no 40 ms stalls
    server: _Server

    def setup(self) -> None:
        super().setup()
        with self.server.state.lock:
            self.server.state.open_connections += 1

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            with self.server.state.lock:
                self.server.state.open_connections -= 1

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        state = self.server.state
        parts = urlsplit(self.path)
        query = dict(parse_qsl(parts.query))
        with state.lock:
            state.requests.append(self.path)
            state.headers.append(dict(self.headers))
        route = parts.path
        if route == "/link":
            page = int(query.get("page", 1))
            records = _page_of(query, (page - 1) * int(query.get("size", 3)))
            headers = {}
            if records and records[-1] + 1 < int(query.get("n", 10)):
                base = f"http://127.0.0.1:{self.server.server_port}" if "abs" in query else ""
                nxt = urlencode(query if "stuck" in query else {**query, "page": page + 1})
                headers["Link"] = (
                    f'<{base}/link?page=99>; rel="last", <{base}/link?{nxt}>; rel="next"'
                )
            self._send(200, records, headers)
        elif route == "/cursor":
            first = int(query.get("cursor", "c0")[1:])
            records = _page_of(query, first)
            more = records and records[-1] + 1 < int(query.get("n", 10))
            self._send(
                200,
                {"data": records, "meta": {"next": f"c{first + len(records)}" if more else None}},
            )
        elif route == "/page":
            size, name = int(query.get("size", 3)), query.get("pp", "page")
            if name not in query:
                self._send(400, {"error": f"no {name!r} parameter"})
                return
            page = int(query[name])
            if page >= int(query.get("missing_from", 10**9)):
                self._send(404, {"error": "not found"})
                return
            self._send(200, {"items": _page_of(query, (page - 1) * size)})
        elif route == "/flaky":
            key = query["run"]
            with state.lock:
                failed = state.failures.get(key, 0)
                state.failures[key] = failed + 1
            if failed < int(query["fails"]):
                extra = {"Retry-After": query["retry_after"]} if "retry_after" in query else {}
                self._send(int(query["status"]), {"error": "try later"}, extra)
            else:
                self._send(200, [1, 2, 3])
        elif route == "/cycle":
            page = int(query.get("page", 1))
            self._send(200, [page], {"Link": f'</cycle?page={3 - page}>; rel="next"'})
        elif route == "/cursorcycle":
            cursor = query.get("cursor")
            after = {None: "a", "a": "b", "b": "a"}[cursor]
            self._send(200, {"data": [cursor], "next": after})
        elif route == "/redirect":
            self._send(302, b"", {"Location": self.path})
        elif route == "/badgzip":
            self._send(200, b"not gzip at all", {"Content-Encoding": "gzip"})
        elif route == "/notjson":
            self._send(200, b"<html>oops</html>")
        elif route == "/slow":
            state.stop.wait(float(query["delay"]))
            self._send(200, [])
        else:
            self._send(404, {"error": "not found"})


class Server:
    def __init__(self, server: _Server) -> None:
        self._server = server
        self.state = server.state
        self.base = f"http://127.0.0.1:{server.server_port}"

    def url(self, path: str) -> str:
        return self.base + path

    @property
    def requests(self) -> list[str]:
        with self.state.lock:
            return list(self.state.requests)

    def wait_connections_closed(self, timeout: float = 2.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.state.open_connections == 0:
                return True
            time.sleep(0.005)
        return False


@pytest.fixture(scope="module")
def _http_server() -> Iterator[_Server]:
    server = _Server(("127.0.0.1", 0), _Handler)
    server.state = _State()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield server
    finally:
        server.state.stop.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def server(_http_server: _Server) -> Iterator[Server]:
    s = Server(_http_server)
    assert s.wait_connections_closed(), "a connection from an earlier test is still open"
    with s.state.lock:
        s.state.requests.clear()
        s.state.headers.clear()
    yield s
    assert s.wait_connections_closed(), "the test left a connection open"


@pytest.fixture
def slept(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The delays retries waited, recorded instead of slept."""
    delays: list[float] = []
    monkeypatch.setattr(hosepipe.http, "_sleep", delays.append)
    return delays


def _key() -> str:
    return uuid.uuid4().hex[:8]


# -- the three styles -----------------------------------------------------------------------


def test_link_style_follows_the_next_link_with_params_on_the_first_request_only(
    server: Server,
) -> None:
    s = paginate(server.url("/link"), params={"size": 3, "n": 10})
    assert s.to_list() == list(range(10))
    assert server.requests == [
        "/link?size=3&n=10",
        "/link?size=3&n=10&page=2",
        "/link?size=3&n=10&page=3",
        "/link?size=3&n=10&page=4",
    ]


def test_link_style_with_absolute_next_urls(server: Server) -> None:
    s = paginate(server.url("/link?abs=1&size=4&n=9"))
    assert s.to_list() == list(range(9))
    assert len(server.requests) == 3


def test_cursor_style_sends_the_next_cursor_back(server: Server) -> None:
    s = paginate(
        server.url("/cursor"),
        style="cursor",
        items="data",
        next_cursor="meta.next",
        params={"size": 4},
    )
    assert s.to_list() == list(range(10))
    assert server.requests == [
        "/cursor?size=4",
        "/cursor?size=4&cursor=c4",
        "/cursor?size=4&cursor=c8",
    ]


def test_cursor_style_with_an_items_function(server: Server) -> None:
    s = paginate(
        server.url("/cursor?size=5"),
        style="cursor",
        items=lambda body: body["data"][::-1],
        next_cursor="meta.next",
    )
    assert s.to_list() == [4, 3, 2, 1, 0, 9, 8, 7, 6, 5]


def test_a_cursor_that_repeats_raises_instead_of_looping(server: Server) -> None:
    # The server reads `cursor`; sent as `after`, it is ignored and the next cursor repeats.
    s = paginate(
        server.url("/cursor?size=5"),
        style="cursor",
        items="data",
        next_cursor="meta.next",
        cursor_param="after",
    )
    got: list[int] = []
    with pytest.raises(hp.DataError) as info:
        s.for_each(got.append)
    assert str(info.value).startswith(
        "the response's next cursor 'c5' is the one this request sent as 'after': paginate() "
        "would fetch the same page forever (does the API read its cursor from a parameter "
        f"other than `cursor_param`?) ({server.url('/cursor?size=5&after=c5')}: "
    )
    assert got == [0, 1, 2, 3, 4]  # not the same page again
    assert server.requests == ["/cursor?size=5", "/cursor?size=5&after=c5"]


def test_a_next_link_to_the_same_page_raises_instead_of_looping(server: Server) -> None:
    with pytest.raises(hp.DataError, match=r"^the response's next link is the URL just requested"):
        paginate(server.url("/link?stuck=1")).to_list()
    assert len(server.requests) == 1


def test_a_next_link_back_to_an_earlier_page_raises_instead_of_looping(server: Server) -> None:
    s = paginate(server.url("/cycle?page=1"))
    got: list[int] = []
    with pytest.raises(hp.DataError) as info:
        s.for_each(got.append)
    assert str(info.value).startswith(
        f"the response's next link {server.url('/cycle?page=1')!r} is a page this run fetched "
        f"already: paginate() would fetch the same pages forever ({server.url('/cycle?page=2')}"
    )
    assert got == [1]  # the page that points back raises instead of giving its records
    assert server.requests == ["/cycle?page=1", "/cycle?page=2"]
    # /cycle is not spelt as the links spell page 1: page 1 is fetched again, then it stops
    with pytest.raises(hp.DataError, match=r"next link '.*/cycle\?page=2' is a page this run"):
        paginate(server.url("/cycle")).to_list()
    # each run starts afresh
    s = paginate(server.url("/cycle?page=2"), max_pages=2)
    assert (s.to_list(), s.to_list()) == ([2, 1], [2, 1])


def test_a_cursor_seen_earlier_in_the_run_raises_instead_of_looping(server: Server) -> None:
    s = paginate(server.url("/cursorcycle"), style="cursor", items="data")
    got: list[Any] = []
    with pytest.raises(hp.DataError) as info:
        s.for_each(got.append)
    assert str(info.value).startswith(
        "the response's next cursor 'a' was sent as 'cursor' by an earlier request of this "
        "run: paginate() would fetch the same pages forever "
        f"({server.url('/cursorcycle?cursor=b')}: "
    )
    assert got == [None, "a"]  # the page that points back raises instead of giving its records
    assert server.requests == ["/cursorcycle", "/cursorcycle?cursor=a", "/cursorcycle?cursor=b"]
    assert s.take(2).to_list() == [None, "a"]  # a new run: the cursors seen start empty


def test_page_style_counts_pages_until_an_empty_one(server: Server) -> None:
    s = paginate(server.url("/page?size=4"), style="page", items="items")
    assert s.to_list() == list(range(10))
    assert server.requests == [f"/page?size=4&page={n}" for n in (1, 2, 3, 4)]


def test_page_style_from_another_start_page_and_page_param(server: Server) -> None:
    s = paginate(server.url("/page?size=4"), style="page", items="items", start_page=2)
    assert s.to_list() == [4, 5, 6, 7, 8, 9]
    s = paginate(server.url("/page?pp=p&n=5"), style="page", items="items", page_param="p")
    assert s.to_list() == [0, 1, 2, 3, 4]
    assert server.requests[-3:] == [f"/page?pp=p&n=5&p={n}" for n in (1, 2, 3)]


def test_max_pages_stops_early(server: Server) -> None:
    s = paginate(server.url("/link?size=3"), max_pages=2)
    assert s.to_list() == [0, 1, 2, 3, 4, 5]
    assert len(server.requests) == 2


def test_params_and_headers_are_sent(server: Server) -> None:
    s = paginate(server.url("/page"), style="page", items="items", params={"size": 20},
                 headers={"X-Token": "secret"})  # fmt: skip
    assert s.count() == 10
    assert server.requests == ["/page?size=20&page=1", "/page?size=20&page=2"]
    sent = server.state.headers[0]
    assert (sent["X-Token"], sent["Accept"]) == ("secret", "application/json")


# -- laziness and re-running ----------------------------------------------------------------


def test_pulling_a_few_items_fetches_one_page(server: Server) -> None:
    s = paginate(server.url("/page?size=100&n=1000"), style="page", items="items")
    assert s.take(3).to_list() == [0, 1, 2]
    assert server.requests == ["/page?size=100&n=1000&page=1"]
    assert s.first() == 0
    assert len(server.requests) == 2
    assert s.take(101).count() == 101
    assert len(server.requests) == 4  # 2 pages for 101 items


def test_nothing_is_fetched_until_the_stream_runs(server: Server) -> None:
    s = paginate(server.url("/link")).map(lambda x: x * 2)
    assert server.requests == []
    assert s.to_list()[:3] == [0, 2, 4]


def test_each_run_fetches_afresh(server: Server) -> None:
    s = paginate(server.url("/link?size=5"))
    assert s.to_list() == list(range(10))
    assert s.sum() == 45
    assert server.requests == ["/link?size=5", "/link?size=5&page=2"] * 2


def test_repr_and_stats_name_the_url(server: Server) -> None:
    url = server.url("/link")
    s = paginate(url)
    assert repr(s) == f"Stream(http.paginate({url!r}))"
    assert repr(s.take(2)) == f"Stream(http.paginate({url!r})).take(2)"
    assert s.run().stages[0].label == f"http.paginate({url!r})"


# -- retries --------------------------------------------------------------------------------


def test_429_is_retried_as_retry_after_says(server: Server, slept: list[float]) -> None:
    key = _key()
    s = paginate(server.url("/flaky"), params={"run": key, "fails": 2, "status": 429,
                                               "retry_after": 7})  # fmt: skip
    assert s.to_list() == [1, 2, 3]
    assert slept == [7.0, 7.0]
    assert len(server.requests) == 3


def test_retry_after_as_an_http_date_is_capped_by_the_backoff_max(
    server: Server, slept: list[float]
) -> None:
    later = email.utils.formatdate(time.time() + 3600, usegmt=True)
    s = paginate(
        server.url("/flaky"),
        params={"run": _key(), "fails": 1, "status": 503, "retry_after": later},
        backoff=Exponential(base=0.1, max=2.0),
    )
    assert s.to_list() == [1, 2, 3]
    assert slept == [2.0]


def test_a_retry_after_date_in_the_past_means_now(server: Server, slept: list[float]) -> None:
    earlier = email.utils.formatdate(time.time() - 60, usegmt=True)
    s = paginate(server.url("/flaky"), params={"run": _key(), "fails": 1, "status": 429,
                                               "retry_after": earlier})  # fmt: skip
    assert s.to_list() == [1, 2, 3]
    assert slept == [0.0]


def test_5xx_without_retry_after_backs_off_exponentially(
    server: Server, slept: list[float]
) -> None:
    s = paginate(
        server.url("/flaky"),
        params={"run": _key(), "fails": 3, "status": 503},
        backoff=Exponential(base=0.1, max=0.3, jitter=False),
    )
    assert s.to_list() == [1, 2, 3]
    assert slept == [0.1, 0.2, 0.3]


def test_default_backoff_has_jitter_within_bounds(server: Server, slept: list[float]) -> None:
    s = paginate(server.url("/flaky"), params={"run": _key(), "fails": 3, "status": 500})
    assert s.to_list() == [1, 2, 3]
    assert [0.25 <= slept[0] <= 0.5, 0.5 <= slept[1] <= 1.0, 1.0 <= slept[2] <= 2.0] == [True] * 3


def test_gives_up_after_the_retries_with_url_status_and_attempts(
    server: Server, slept: list[float]
) -> None:
    key = _key()
    s = paginate(server.url("/flaky"), params={"run": key, "fails": 100, "status": 503},
                 retries=2)  # fmt: skip
    url = server.url(f"/flaky?run={key}&fails=100&status=503")
    with pytest.raises(HTTPError) as info:
        s.to_list()
    assert str(info.value) == (
        f"GET {url} failed after 3 attempts (retries=2): status 503 Service Unavailable"
    )
    assert (info.value.url, info.value.status, info.value.attempts) == (url, 503, 3)
    assert isinstance(info.value, hp.HosepipeError)
    assert info.value.__notes__ == [
        f"hosepipe: in the source http.paginate({server.url('/flaky')!r}), item index 0"
    ]
    assert len(slept) == 2
    assert len(server.requests) == 3


def test_no_retries(server: Server, slept: list[float]) -> None:
    s = paginate(server.url("/flaky"), params={"run": _key(), "fails": 1, "status": 429},
                 retries=0)  # fmt: skip
    with pytest.raises(
        HTTPError, match=r"failed after 1 attempt \(retries=0\): status 429 Too Many"
    ):
        s.to_list()
    assert slept == []


def test_a_404_raises_at_once(server: Server, slept: list[float]) -> None:
    url = server.url("/missing")
    with pytest.raises(HTTPError) as info:
        paginate(url, retries=5).to_list()
    assert str(info.value) == (
        f"GET {url} failed: status 404 Not Found (a client error other than 429: not retried)"
    )
    assert (info.value.status, info.value.attempts) == (404, 1)
    assert slept == []
    assert server.requests == ["/missing"]


def test_an_error_on_a_later_page_comes_after_the_earlier_records(server: Server) -> None:
    s = paginate(server.url("/page?missing_from=2"), style="page", items="items")
    got: list[int] = []
    with pytest.raises(HTTPError, match=r"failed: status 404 Not Found"):
        s.for_each(got.append)
    assert got == [0, 1, 2]


def test_retries_really_sleep(server: Server) -> None:
    s = paginate(
        server.url("/flaky"),
        params={"run": _key(), "fails": 2, "status": 502},
        backoff=Exponential(base=0.02, max=0.05, jitter=False),
    )
    start = time.perf_counter()
    assert s.to_list() == [1, 2, 3]
    assert time.perf_counter() - start >= 0.06  # 0.02 + 0.04


def test_a_timeout_raises_and_is_retried(server: Server, slept: list[float]) -> None:
    url = server.url("/slow?delay=0.3")
    with pytest.raises(HTTPError) as info:
        paginate(url, timeout=0.05, retries=0).to_list()
    assert (
        str(info.value) == f"GET {url} failed after 1 attempt (retries=0): ReadTimeout: timed out"
    )
    assert info.value.status is None
    assert isinstance(info.value.__cause__, httpx.ReadTimeout)
    with pytest.raises(HTTPError, match=r"failed after 2 attempts \(retries=1\): ReadTimeout"):
        paginate(url, timeout=httpx.Timeout(0.05), retries=1).to_list()
    assert len(slept) == 1


def test_a_refused_connection_is_retried_then_raises(slept: list[float]) -> None:
    with socket.socket() as sock:  # a port that was free a moment ago, and nothing listens
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/items"
    with pytest.raises(
        HTTPError, match=r"^GET .* failed after 3 attempts \(retries=2\): ConnectError"
    ):
        paginate(url, retries=2).to_list()
    assert len(slept) == 2


def test_too_many_redirects_raises_http_error(server: Server, slept: list[float]) -> None:
    url = server.url("/redirect?token=TOPSECRET")
    with httpx.Client(max_redirects=2) as client, pytest.raises(HTTPError) as info:
        paginate(url, client=client, retries=3).to_list()
    shown = server.url("/redirect?token=***")
    assert str(info.value) == (
        f"GET {shown} failed: TooManyRedirects: Exceeded maximum allowed redirects. (not retried)"
    )
    assert (info.value.url, info.value.status, info.value.attempts) == (shown, None, 1)
    assert isinstance(info.value.__cause__, httpx.TooManyRedirects)
    assert slept == []
    assert len(server.requests) == 3


def test_a_body_that_cannot_be_decoded_raises_http_error(server: Server) -> None:
    with pytest.raises(HTTPError, match=r"^GET .*/badgzip failed: DecodingError: ") as info:
        paginate(server.url("/badgzip")).to_list()
    assert (info.value.status, info.value.attempts) == (None, 1)
    assert isinstance(info.value.__cause__, httpx.DecodingError)


@pytest.mark.parametrize(
    "error", [httpx.ProxyError, httpx.UnsupportedProtocol, httpx.LocalProtocolError]
)
def test_other_httpx_errors_raise_http_error_at_once(
    error: type[httpx.HTTPError], slept: list[float]
) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise error("it broke", request=request)

    client = httpx.Client(transport=httpx.MockTransport(fail))
    with client, pytest.raises(HTTPError) as info:
        paginate("http://127.0.0.1:9/items", client=client).to_list()
    assert str(info.value) == (
        f"GET http://127.0.0.1:9/items failed: {error.__name__}: it broke (not retried)"
    )
    assert (info.value.status, info.value.attempts) == (None, 1)
    assert type(info.value.__cause__) is error
    assert slept == []


# -- secrets --------------------------------------------------------------------------------


def test_urls_are_shown_without_passwords_or_secret_query_values(
    server: Server, slept: list[float]
) -> None:
    port = server.base.rsplit(":", 1)[1]
    secret = f"http://app:s3cret@127.0.0.1:{port}"
    shown = f"http://app:***@127.0.0.1:{port}"
    s = paginate(f"{secret}/missing?api_key=TOPSECRET&Token=T2&page=3")
    assert repr(s) == f"Stream(http.paginate('{shown}/missing?api_key=***&Token=***&page=3'))"
    with pytest.raises(HTTPError) as info:
        s.to_list()
    message = str(info.value)
    assert message == (
        f"GET {shown}/missing?api_key=***&Token=***&page=3 failed: status 404 Not Found "
        "(a client error other than 429: not retried)"
    )
    assert info.value.url == f"{shown}/missing?api_key=***&Token=***&page=3"
    assert "s3cret" not in repr(pickle.loads(pickle.dumps(info.value)).url)
    # the request itself used the real URL and credentials
    assert server.requests == ["/missing?api_key=TOPSECRET&Token=T2&page=3"]
    assert server.state.headers[0]["Authorization"] == "Basic YXBwOnMzY3JldA=="

    stats = paginate(f"{secret}/link?n=2&sig=SIG").run()
    assert stats.stages[0].label == f"http.paginate('{shown}/link?n=2&sig=***')"

    with pytest.raises(hp.DataError) as data_info:
        paginate(f"{secret}/notjson", params={"access_token": "TOPSECRET"}).to_list()
    assert data_info.value.path == f"{shown}/notjson?access_token=***"
    assert "TOPSECRET" not in str(data_info.value)
    assert "s3cret" not in str(data_info.value)

    with pytest.raises(ValueError) as bad:
        paginate("ftp://app:s3cret@127.0.0.1/x?key=TOPSECRET")
    assert str(bad.value) == (
        "paginate(): `url` must be an absolute http:// or https:// URL, "
        "got 'ftp://app:***@127.0.0.1/x?key=***'"
    )


def test_a_refused_connection_does_not_show_the_password(slept: list[float]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(HTTPError) as info:
        paginate(f"http://u:s3cret@127.0.0.1:{port}/x?password=p4ss", retries=0).to_list()
    assert str(info.value).startswith(
        f"GET http://u:***@127.0.0.1:{port}/x?password=*** failed after 1 attempt"
    )
    assert "s3cret" not in str(info.value)
    assert "p4ss" not in str(info.value)
    assert isinstance(info.value.__cause__, httpx.ConnectError)


# -- bad bodies -----------------------------------------------------------------------------


def test_a_body_that_is_not_json_names_the_url(server: Server) -> None:
    url = server.url("/notjson")
    with pytest.raises(hp.DataError) as info:
        paginate(url).to_list()
    assert str(info.value) == (
        f"the response is not JSON: Expecting value: line 1 column 1 (char 0) "
        f"({url}: '<html>oops</html>')"
    )
    assert (info.value.path, info.value.raw) == (url, "<html>oops</html>")


def test_an_object_body_without_items_says_to_pass_items(server: Server) -> None:
    with pytest.raises(hp.DataError, match=(
        r"^expected the response body to be a JSON list of records, got a JSON object with "
        r"keys 'data', 'meta'; pass `items=` to say where the records are \(http://"
    )):  # fmt: skip
        paginate(server.url("/cursor")).to_list()


def test_items_at_a_missing_key(server: Server) -> None:
    with pytest.raises(hp.DataError, match=(
        r"^the response has no 'meta.rows' \(`items`\): the object at 'meta' has keys 'next' "
    )):  # fmt: skip
        paginate(server.url("/cursor"), style="cursor", items="meta.rows").to_list()
    with pytest.raises(hp.DataError, match=(
        r"^expected a JSON list of records at 'meta' \(`items`\), got a JSON object "
    )):  # fmt: skip
        paginate(server.url("/cursor"), style="cursor", items="meta").to_list()


def test_an_items_function_must_return_an_iterable(server: Server) -> None:
    def nothing(body: Any) -> Any:
        return None

    with pytest.raises(TypeError, match=r"^paginate\(\): `items` function nothing\(body\) must"):
        paginate(server.url("/link"), items=nothing).to_list()


def test_a_cursor_that_is_not_a_string_or_number(server: Server) -> None:
    with pytest.raises(hp.DataError, match=(
        r"^expected the next cursor at 'meta' \(`next_cursor`\) to be a string or a number, "
        r"got a JSON object"
    )):  # fmt: skip
        paginate(server.url("/cursor"), style="cursor", items="data", next_cursor="meta").to_list()


# -- cleanup --------------------------------------------------------------------------------


@pytest.fixture
def clients(monkeypatch: pytest.MonkeyPatch) -> list[httpx.Client]:
    """Every httpx.Client that paginate() creates (a real client that remembers itself)."""
    made: list[httpx.Client] = []

    class Recorded(httpx.Client):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(httpx, "Client", Recorded)
    return made


def _end_by_close(it: Iterator[Any]) -> None:
    it.close()  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "end",
    [
        pytest.param(_end_by_close, id="close"),
        pytest.param(lambda it: None, id="with"),
    ],
)
def test_an_early_close_closes_the_client(
    server: Server, clients: list[httpx.Client], end: Callable[[Iterator[Any]], None]
) -> None:
    s = paginate(server.url("/link?size=5"))
    with s.iterate() as it:
        for x in it:
            if x == 1:
                break
        assert len(clients) == 1
        assert not clients[0].is_closed
        assert server.state.open_connections == 1
        end(it)
    assert clients[0].is_closed
    assert server.wait_connections_closed()
    assert server.requests == ["/link?size=5"]


def test_each_run_has_its_own_client_closed_at_the_end(
    server: Server, clients: list[httpx.Client]
) -> None:
    s = paginate(server.url("/link?size=5"))
    assert s.count() == 10
    assert s.take(1).to_list() == [0]
    assert len(clients) == 2
    assert all(c.is_closed for c in clients)


def test_an_error_closes_the_client(server: Server, clients: list[httpx.Client]) -> None:
    with pytest.raises(hp.DataError):
        paginate(server.url("/notjson")).to_list()
    assert [c.is_closed for c in clients] == [True]


def test_a_client_you_pass_is_used_and_left_open(server: Server) -> None:
    with httpx.Client(headers={"X-Token": "mine"}) as client:
        s = paginate(server.url("/link?size=5"), client=client, max_pages=1)
        assert s.to_list() == [0, 1, 2, 3, 4]
        with s.iterate() as it:
            assert next(it) == 0
        assert not client.is_closed
        assert client.get(server.url("/link?size=2")).json() == [0, 1]  # still usable
        assert server.state.headers[0]["X-Token"] == "mine"
        assert "application/json" not in server.state.headers[0].get("Accept", "")


# -- arguments ------------------------------------------------------------------------------

URL = "http://127.0.0.1:9/items"


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"style": "x"}, ValueError, "`style` must be 'link', 'cursor' or 'page', got 'x'"),
        ({"url": 3}, TypeError, "`url` must be a str or an httpx.URL, got 3"),
        ({"url": "/items"}, ValueError,
         "`url` must be an absolute http:// or https:// URL, got '/items'"),
        ({"url": "ftp://h/x"}, ValueError,
         "`url` must be an absolute http:// or https:// URL, got 'ftp://h/x'"),
        ({"params": [("a", 1)]}, TypeError,
         "`params` must be None or a mapping of names to values, got [('a', 1)]"),
        ({"headers": {"X": 1}}, TypeError,
         "`headers` must be None or a mapping of str to str, got {'X': 1}"),
        ({"items": 3}, TypeError, "`items` must be None (the body is the list), a key or "
         "dotted path, or a function of the body, got 3 (int)"),
        ({"items": "a..b"}, ValueError,
         "`items` must be a key or a dotted path such as 'meta.next', got 'a..b'"),
        ({"style": "cursor"}, ValueError,
         "`items` is required with style='cursor' (the body is an object holding the records "
         "and the next cursor): pass the key of the records, e.g. items='data'"),
        ({"cursor_param": ""}, ValueError, "`cursor_param` must be a non-empty string, got ''"),
        ({"next_cursor": None}, TypeError,
         "`next_cursor` must be a key or a dotted path such as 'meta.next', got None (NoneType)"),
        ({"page_param": 1}, TypeError, "`page_param` must be a non-empty string, got 1"),
        ({"style": "page", "params": {"page": 2}}, ValueError,
         "`params` must not contain 'page': paginate() sets that parameter (`page_param`) on "
         "each request"),
        ({"style": "cursor", "items": "d", "cursor_param": "c", "params": {"c": 2}}, ValueError,
         "`params` must not contain 'c': paginate() sets that parameter (`cursor_param`) on "
         "each request"),
        ({"start_page": -1}, ValueError, "`start_page` must be >= 0, got -1"),
        ({"start_page": "1"}, TypeError, "`start_page` must be an int, got '1' (str)"),
        ({"timeout": 0}, ValueError,
         "`timeout` must be a number of seconds > 0, an httpx.Timeout or None, got 0"),
        ({"timeout": True}, ValueError,
         "`timeout` must be a number of seconds > 0, an httpx.Timeout or None, got True"),
        ({"retries": -1}, ValueError, "`retries` must be >= 0, got -1"),
        ({"retries": 1.5}, TypeError, "`retries` must be an int, got 1.5 (float)"),
        ({"backoff": 2}, TypeError,
         "`backoff` must be a backoff policy such as Exponential(base=0.5, max=30.0) (an "
         "object with a delay(attempt) method and a numeric `max`), got 2"),
        ({"client": "c"}, TypeError,
         "`client` must be None, an httpx.Client or an httpx.AsyncClient, got 'c' (str)"),
        ({"max_pages": 0}, ValueError, "`max_pages` must be >= 1, got 0"),
    ],
)  # fmt: skip
def test_arguments_are_checked_when_called(
    kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    kwargs = {"url": URL, **kwargs}
    with pytest.raises(error) as info:
        paginate(**kwargs)
    assert str(info.value) == "paginate(): " + message


def test_a_closed_client_is_refused() -> None:
    client = httpx.Client()
    client.close()
    with pytest.raises(ValueError, match=r"^paginate\(\): `client` is closed"):
        paginate(URL, client=client)


def test_valid_arguments_build_without_a_request() -> None:
    s = paginate(httpx.URL(URL), style="page", items=lambda b: b["x"], timeout=None, retries=0,
                 backoff=Exponential(base=0, max=0), max_pages=3, start_page=0)  # fmt: skip
    assert repr(s) == f"Stream(http.paginate({URL!r}))"


def test_without_httpx_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "httpx", None)  # as if not installed: import fails
    with pytest.raises(MissingExtraError) as info:
        paginate(URL)
    assert str(info.value) == (
        "hosepipe.http.paginate() needs the httpx package: pip install 'hosepipe[http]'"
    )
    assert isinstance(info.value, ImportError)


def test_import_hosepipe_imports_neither_http_nor_httpx() -> None:
    code = (
        "import sys, hosepipe as hp\n"
        "assert 'httpx' not in sys.modules and 'hosepipe.http' not in sys.modules\n"
        "assert hp.http.paginate is not None and 'httpx' not in sys.modules\n"
        "hp.http.paginate('http://127.0.0.1:9/')\n"
        "assert 'httpx' in sys.modules\n"
        "try:\n    hp.no_such_name\nexcept AttributeError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout == "module 'hosepipe' has no attribute 'no_such_name'\n"


def test_hp_http_is_the_module() -> None:
    assert hp.http is hosepipe.http
    assert hp.http.paginate is paginate
    assert sorted(hosepipe.http.__all__) == ["Exponential", "HTTPError", "paginate"]


def test_http_error_pickles() -> None:
    e = HTTPError("GET x failed", url="x", status=503, attempts=4)
    back = pickle.loads(pickle.dumps(e))
    assert (str(back), back.url, back.status, back.attempts) == ("GET x failed", "x", 503, 4)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("3", 3.0), (" 1.5 ", 1.5), ("-1", None), ("soon", None), ("", None), (None, None)],
)
def test_retry_after_header_values(header: str | None, seconds: float | None) -> None:
    assert hosepipe.http._retry_after(header) == seconds


# -- backoff policies -----------------------------------------------------------------------


def test_exponential_delays_grow_and_stay_within_bounds() -> None:
    b = Exponential(base=0.5, max=30.0)
    for _ in range(200):
        delays = [b.delay(n) for n in range(1, 12)]
        for n, d in enumerate(delays, start=1):
            full = min(30.0, 0.5 * 2 ** (n - 1))
            assert full / 2 <= d <= full
        # Below the cap (0.5 * 2**5 = 16 < 30), equal jitter never shortens the next wait.
        assert delays[:6] == sorted(delays[:6])
    assert len({b.delay(3) for _ in range(20)}) > 1  # jittered


def test_exponential_without_jitter() -> None:
    b = Exponential(base=0.5, max=30.0, jitter=False)
    assert [b.delay(n) for n in range(1, 9)] == [0.5, 1, 2, 4, 8, 16, 30, 30]
    assert b.delay(10_000) == 30.0
    assert Exponential(base=0, max=0).delay(5) == 0.0


def test_exponential_is_a_value() -> None:
    b = Exponential(base=0.1, max=2.0, jitter=False)
    assert repr(b) == "Exponential(base=0.1, max=2.0, jitter=False)"
    assert pickle.loads(pickle.dumps(b)) == b
    assert hash(b) == hash(Exponential(base=0.1, max=2, jitter=False))
    assert b != Exponential(base=0.1, max=2.0)
    assert (b.base, b.max, b.jitter) == (0.1, 2.0, False)
    with pytest.raises(AttributeError):
        b.base = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"base": -1}, ValueError, "Exponential(): `base` must be a number >= 0, got -1"),
        ({"base": "1"}, ValueError, "Exponential(): `base` must be a number >= 0, got '1'"),
        ({"max": 0.1}, ValueError,
         "Exponential(): `max` must be a number >= `base` (0.5), got 0.1"),
        ({"max": float("inf")}, ValueError,
         "Exponential(): `max` must be a number >= `base` (0.5), got inf"),
        ({"jitter": 1}, TypeError, "Exponential(): `jitter` must be True or False, got 1"),
    ],
)  # fmt: skip
def test_exponential_arguments(
    kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error) as info:
        Exponential(**kwargs)
    assert str(info.value) == message


def test_exponential_delay_wants_an_attempt_from_1() -> None:
    with pytest.raises(ValueError, match=r"^delay\(\): `attempt` must be an int >= 1, got 0$"):
        Exponential().delay(0)
