"""The async form of hosepipe.http.paginate, on httpx.AsyncClient (chosen by passing an
httpx.AsyncClient, or by async_=True), against a real HTTP server on 127.0.0.1 (the server
of tests/test_http.py).

The behaviour both forms share is tested over three ways of reading: ``sync`` (paginate,
read with ``to_list()``), ``async`` (paginate with ``async_=True``, read with ``await
ato_list()`` or ``async for``) and ``bridge`` (the async form read from sync code: a private
event loop per run). Each test starts with no connection open and ends with none (the
``server`` fixture checks).
"""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

import hosepipe as hp
import hosepipe.http
import test_http
from hosepipe.backoff import Exponential
from hosepipe.http import HTTPError, paginate
from test_http import URL, Server, _key

# The server of tests/test_http.py: its routes are described in test_http._Handler.
_http_server = test_http._http_server  # module-scoped: one server for this module
server = test_http.server  # no connection open before or after each test

FORMS = ["sync", "async", "bridge"]


class Form:
    """One way of reading an HTTP source: which form of paginate() builds it, how it is read."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.async_ = name != "sync"
        self.label_end = "', async_=True)" if self.async_ else "')"  # how the label ends

    def paginate(self, url: str, **kwargs: Any) -> hp.Stream[Any]:
        return paginate(url, async_=self.async_, **kwargs)

    def to_list(self, stream: hp.Stream[Any]) -> list[Any]:
        if self.name == "async":
            return asyncio.run(stream.ato_list())
        return stream.to_list()

    def for_each(self, stream: hp.Stream[Any], fn: Callable[[Any], object]) -> None:
        """Give *fn* each item, reading with ``async for`` in the async form."""
        if self.name != "async":
            stream.for_each(fn)
            return

        async def main() -> None:
            async with stream.aiterate() as it:
                async for item in it:
                    fn(item)

        asyncio.run(main())

    def first_then_close(self, stream: hp.Stream[Any], while_open: Callable[[], object]) -> Any:
        """Read the first item, call *while_open*, then close the iteration (leaving
        ``with stream.iterate()`` or ``async with stream.aiterate()``); return the item."""
        if self.name != "async":
            with stream.iterate() as it:
                first = next(it)
                while_open()
            return first

        async def main() -> Any:
            async with stream.aiterate() as it:
                first = await anext(it)
                while_open()
            assert asyncio.all_tasks() == {asyncio.current_task()}  # no task left behind
            return first

        return asyncio.run(main())


@pytest.fixture(params=FORMS)
def form(request: pytest.FixtureRequest) -> Form:
    return Form(request.param)


@pytest.fixture
def slept(monkeypatch: pytest.MonkeyPatch, form: Form) -> list[float]:
    """The delays retries waited, recorded instead of slept. The async form must wait with
    an await (`_asleep`), never with the blocking `_sleep`, and the sync form the reverse."""
    delays: list[float] = []

    def blocking(seconds: float) -> None:
        assert form.name == "sync", "the async form blocked the event loop with time.sleep"
        delays.append(seconds)

    async def awaited(seconds: float) -> None:
        assert form.name != "sync", "the sync form awaited"
        delays.append(seconds)

    monkeypatch.setattr(hosepipe.http, "_sleep", blocking)
    monkeypatch.setattr(hosepipe.http, "_asleep", awaited)
    return delays


@pytest.fixture
def clients(monkeypatch: pytest.MonkeyPatch) -> list[httpx.AsyncClient]:
    """Every httpx.AsyncClient that the async form creates (a real client that remembers
    itself)."""
    made: list[httpx.AsyncClient] = []

    class Recorded(httpx.AsyncClient):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(httpx, "AsyncClient", Recorded)
    return made


@pytest.fixture
def owned(
    monkeypatch: pytest.MonkeyPatch, form: Form, clients: list[httpx.AsyncClient]
) -> list[httpx.Client] | list[httpx.AsyncClient]:
    """Every client the form's source creates: httpx.Client for the sync form."""
    if form.name != "sync":
        return clients
    made: list[httpx.Client] = []

    class Recorded(httpx.Client):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(httpx, "Client", Recorded)
    return made


def _free_port() -> int:
    with socket.socket() as sock:  # a port that was free a moment ago, and nothing listens
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- the same pages -------------------------------------------------------------------------


def test_link_style(form: Form, server: Server) -> None:
    s = form.paginate(server.url("/link"), params={"size": 3, "n": 10})
    assert form.to_list(s) == list(range(10))
    assert server.requests == [
        "/link?size=3&n=10",
        "/link?size=3&n=10&page=2",
        "/link?size=3&n=10&page=3",
        "/link?size=3&n=10&page=4",
    ]


def test_cursor_style(form: Form, server: Server) -> None:
    s = form.paginate(
        server.url("/cursor"), style="cursor", items="data", next_cursor="meta.next",
        params={"size": 4},
    )  # fmt: skip
    assert form.to_list(s) == list(range(10))
    assert server.requests == [
        "/cursor?size=4",
        "/cursor?size=4&cursor=c4",
        "/cursor?size=4&cursor=c8",
    ]


def test_page_style_with_an_items_function_and_max_pages(form: Form, server: Server) -> None:
    s = form.paginate(
        server.url("/page?size=4"), style="page", items=lambda body: body["items"][::-1],
        page_param="page", start_page=2,
    )  # fmt: skip
    assert form.to_list(s) == [7, 6, 5, 4, 9, 8]
    assert server.requests == ["/page?size=4&page=2", "/page?size=4&page=3", "/page?size=4&page=4"]
    assert form.to_list(form.paginate(server.url("/link?size=2"), max_pages=2)) == [0, 1, 2, 3]


def test_params_and_headers_are_sent(form: Form, server: Server) -> None:
    s = form.paginate(
        server.url("/link?n=2"), params={"size": 5, "q": "a b"}, headers={"X-Api": "v2"}
    )
    assert form.to_list(s) == [0, 1]
    assert server.requests == ["/link?n=2&size=5&q=a+b"]
    assert server.state.headers[0]["X-Api"] == "v2"
    assert server.state.headers[0]["Accept"] == "application/json"


# -- laziness and re-running ----------------------------------------------------------------


def test_a_page_is_fetched_only_when_its_records_are_wanted(form: Form, server: Server) -> None:
    s = form.paginate(server.url("/link?size=5&n=20"))
    requests_at: list[int] = []  # the requests made when each item arrived
    got = form.to_list(s.tap(lambda _: requests_at.append(len(server.requests))).take(7))
    assert got == list(range(7))
    assert requests_at == [1, 1, 1, 1, 1, 2, 2]
    assert len(server.requests) == 2


def test_nothing_is_fetched_until_the_first_item_is_wanted(server: Server) -> None:
    s = paginate(server.url("/link"), async_=True)

    async def main() -> None:
        async with s.aiterate() as it:
            assert server.requests == []
            assert await it.__anext__() == 0
            assert len(server.requests) == 1

    asyncio.run(main())
    assert server.requests == ["/link"]


def test_each_run_starts_again_with_a_client_of_its_own(
    server: Server, clients: list[httpx.AsyncClient]
) -> None:
    s = paginate(server.url("/link?size=5"), async_=True)
    assert asyncio.run(s.ato_list()) == list(range(10))
    assert asyncio.run(s.take(1).ato_list()) == [0]
    assert s.to_list() == list(range(10))  # sync code: a loop of its own for the run
    assert s.count() == 10

    async def twice() -> list[int]:
        return await s.ato_list() + await s.take(2).ato_list()

    assert asyncio.run(twice()) == [*range(10), 0, 1]
    assert len(clients) == 6
    assert all(c.is_closed for c in clients)
    assert len(server.requests) == 2 + 1 + 2 + 2 + 2 + 1


# -- retries --------------------------------------------------------------------------------


def test_429_is_retried_as_retry_after_says(form: Form, server: Server, slept: list[float]) -> None:
    s = form.paginate(server.url("/flaky"), params={"run": _key(), "fails": 2, "status": 429,
                                                    "retry_after": 7})  # fmt: skip
    assert form.to_list(s) == [1, 2, 3]
    assert slept == [7.0, 7.0]
    assert len(server.requests) == 3


def test_5xx_backs_off_and_retry_after_is_capped(
    form: Form, server: Server, slept: list[float]
) -> None:
    backoff = Exponential(base=0.1, max=0.3, jitter=False)
    s = form.paginate(server.url("/flaky"), params={"run": _key(), "fails": 3, "status": 503},
                      backoff=backoff)  # fmt: skip
    assert form.to_list(s) == [1, 2, 3]
    assert slept == [0.1, 0.2, 0.3]
    s = form.paginate(server.url("/flaky"), params={"run": _key(), "fails": 1, "status": 503,
                      "retry_after": 3600}, backoff=backoff)  # fmt: skip
    assert form.to_list(s) == [1, 2, 3]
    assert slept[3:] == [0.3]


def test_gives_up_after_the_retries_with_the_same_error(
    form: Form, server: Server, slept: list[float]
) -> None:
    key = _key()
    s = form.paginate(server.url("/flaky"), params={"run": key, "fails": 100, "status": 503},
                      retries=2)  # fmt: skip
    url = server.url(f"/flaky?run={key}&fails=100&status=503")
    with pytest.raises(HTTPError) as info:
        form.to_list(s)
    assert str(info.value) == (
        f"GET {url} failed after 3 attempts (retries=2): status 503 Service Unavailable"
    )
    assert (info.value.url, info.value.status, info.value.attempts) == (url, 503, 3)
    assert len(info.value.__notes__) == 1
    assert info.value.__notes__[0].startswith("hosepipe: in the source http.paginate('")
    assert info.value.__notes__[0].endswith(f"{form.label_end}, item index 0")
    assert len(slept) == 2
    assert len(server.requests) == 3


def test_a_404_raises_at_once_after_the_earlier_records(
    form: Form, server: Server, slept: list[float]
) -> None:
    url = server.url("/page?missing_from=2")
    got: list[int] = []
    with pytest.raises(HTTPError) as info:
        form.for_each(form.paginate(url, style="page", items="items", retries=5), got.append)
    assert str(info.value) == (
        f"GET {url}&page=2 failed: status 404 Not Found "
        "(a client error other than 429: not retried)"
    )
    assert (info.value.status, info.value.attempts) == (404, 1)
    assert got == [0, 1, 2]
    assert slept == []
    assert len(server.requests) == 2


def test_a_timeout_is_retried_then_raises(form: Form, server: Server, slept: list[float]) -> None:
    url = server.url("/slow?delay=0.3")
    with pytest.raises(HTTPError) as info:
        form.to_list(form.paginate(url, timeout=0.05, retries=1))
    assert isinstance(info.value.__cause__, httpx.ReadTimeout)
    assert str(info.value) == (
        f"GET {url} failed after 2 attempts (retries=1): ReadTimeout: {info.value.__cause__}"
    )
    assert (info.value.status, info.value.attempts) == (None, 2)
    assert len(slept) == 1


def test_a_refused_connection_is_retried_then_raises(form: Form, slept: list[float]) -> None:
    port = _free_port()
    with pytest.raises(HTTPError) as info:
        form.to_list(form.paginate(f"http://u:s3cret@127.0.0.1:{port}/x?password=p4ss", retries=2))
    assert str(info.value).startswith(
        f"GET http://u:***@127.0.0.1:{port}/x?password=*** failed after 3 attempts "
        "(retries=2): ConnectError: "
    )
    assert "s3cret" not in str(info.value)
    assert "p4ss" not in str(info.value)
    assert isinstance(info.value.__cause__, httpx.ConnectError)
    assert len(slept) == 2


@pytest.mark.parametrize("form", [Form("async")], ids=["async"])
def test_too_many_redirects_is_not_retried(form: Form, server: Server, slept: list[float]) -> None:
    async def main() -> None:
        async with httpx.AsyncClient(max_redirects=2) as client:
            await paginate(server.url("/redirect?token=T"), client=client).ato_list()

    with pytest.raises(HTTPError) as info:
        asyncio.run(main())
    assert str(info.value) == (
        f"GET {server.url('/redirect?token=***')} failed: TooManyRedirects: Exceeded maximum "
        "allowed redirects. (not retried)"
    )
    assert isinstance(info.value.__cause__, httpx.TooManyRedirects)
    assert slept == []
    assert len(server.requests) == 3


def test_a_retry_waits_without_blocking_the_loop(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The retry's wait is released by another task: a blocking sleep could not be.
    gate = asyncio.Event()
    waits: list[float] = []

    async def wait(seconds: float) -> None:
        waits.append(seconds)
        await gate.wait()

    monkeypatch.setattr(hosepipe.http, "_asleep", wait)
    s = paginate(server.url("/flaky"), params={"run": _key(), "fails": 1, "status": 503},
                 backoff=Exponential(base=5.0, max=5.0, jitter=False), async_=True)  # fmt: skip

    async def main() -> list[Any]:
        task = asyncio.create_task(s.ato_list())
        while not waits:
            await asyncio.sleep(0.001)
        assert waits == [5.0]
        assert len(server.requests) == 1  # waiting: no second attempt yet
        gate.set()
        return await task

    assert asyncio.run(main()) == [1, 2, 3]
    assert len(server.requests) == 2


def test_retries_really_sleep_with_asyncio(server: Server) -> None:
    s = paginate(server.url("/flaky"), params={"run": _key(), "fails": 2, "status": 502,
                 "retry_after": 0.01}, async_=True)  # fmt: skip
    assert asyncio.run(s.ato_list()) == [1, 2, 3]
    assert len(server.requests) == 3


# -- bad bodies: the same DataError ---------------------------------------------------------


def test_a_body_that_is_not_json(form: Form, server: Server) -> None:
    url = server.url("/notjson")
    with pytest.raises(hp.DataError) as info:
        form.to_list(form.paginate(url))
    assert str(info.value) == (
        f"the response is not JSON: Expecting value: line 1 column 1 (char 0) "
        f"({url}: '<html>oops</html>')"
    )
    assert (info.value.path, info.value.raw) == (url, "<html>oops</html>")


def test_a_next_link_back_to_an_earlier_page(form: Form, server: Server) -> None:
    got: list[int] = []
    with pytest.raises(hp.DataError) as info:
        form.for_each(form.paginate(server.url("/cycle?page=1")), got.append)
    assert str(info.value).startswith(
        f"the response's next link {server.url('/cycle?page=1')!r} is a page this run fetched "
        "already: paginate() would fetch the same pages forever ("
    )
    assert got == [1]  # page 2 links back: its records are not given


def test_a_cursor_seen_earlier(form: Form, server: Server) -> None:
    with pytest.raises(hp.DataError) as info:
        form.to_list(form.paginate(server.url("/cursorcycle"), style="cursor", items="data"))
    assert str(info.value).startswith(
        "the response's next cursor 'a' was sent as 'cursor' by an earlier request of this "
        "run: paginate() would fetch the same pages forever ("
    )


def test_an_items_function_must_return_an_iterable(form: Form, server: Server) -> None:
    def count(body: Any) -> int:
        return len(body)

    with pytest.raises(TypeError) as info:
        form.to_list(form.paginate(server.url("/link"), items=count))
    assert str(info.value) == (
        "paginate(): `items` function count(body) must return an iterable of records, got 3 (int)"
    )


# -- cleanup --------------------------------------------------------------------------------


def test_an_early_close_closes_the_client_and_its_connection(
    form: Form, server: Server, owned: list[httpx.Client] | list[httpx.AsyncClient]
) -> None:
    def while_open() -> None:
        assert len(owned) == 1
        assert not owned[0].is_closed
        assert server.state.open_connections == 1

    assert form.first_then_close(form.paginate(server.url("/link?size=5")), while_open) == 0
    assert owned[0].is_closed
    assert server.wait_connections_closed()
    assert server.requests == ["/link?size=5"]


def test_an_error_closes_the_client(
    form: Form, server: Server, owned: list[httpx.Client] | list[httpx.AsyncClient]
) -> None:
    with pytest.raises(hp.DataError):
        form.to_list(form.paginate(server.url("/notjson")))
    assert [c.is_closed for c in owned] == [True]


def test_aclose_closes_the_client(server: Server, clients: list[httpx.AsyncClient]) -> None:
    async def main() -> None:
        it = aiter(paginate(server.url("/link?size=5"), async_=True))
        assert await anext(it) == 0
        assert not clients[0].is_closed
        await it.aclose()  # type: ignore[attr-defined]
        assert clients[0].is_closed

    asyncio.run(main())
    assert server.wait_connections_closed()


def test_a_sync_break_closes_the_client_and_the_loop(
    server: Server, clients: list[httpx.AsyncClient]
) -> None:
    s = paginate(server.url("/link?size=5"), async_=True)
    with s.iterate() as it:
        assert next(it) == 0
        assert server.state.open_connections == 1
    assert clients[0].is_closed
    assert server.wait_connections_closed()
    it2: Iterator[Any] = iter(s)
    assert next(it2) == 0
    it2.close()  # type: ignore[attr-defined]
    assert clients[1].is_closed


def test_cancelling_a_request_closes_the_client(
    server: Server, clients: list[httpx.AsyncClient]
) -> None:
    async def main() -> None:
        task = asyncio.create_task(paginate(server.url("/slow?delay=0.3"), async_=True).ato_list())
        while not server.requests:
            await asyncio.sleep(0.001)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert clients[0].is_closed
        assert asyncio.all_tasks() == {asyncio.current_task()}

    asyncio.run(main())
    assert server.wait_connections_closed()


def test_closing_a_concurrent_stage_over_it_cancels_everything(
    server: Server, clients: list[httpx.AsyncClient]
) -> None:
    async def slow_double(x: int) -> int:
        await asyncio.sleep(0 if x < 3 else 10)
        return 2 * x

    s = paginate(server.url("/link?size=4&n=40"), async_=True).map(slow_double, concurrency=4)

    async def main() -> list[int]:
        async with s.aiterate() as it:
            got = [await it.__anext__() for _ in range(3)]
        assert asyncio.all_tasks() == {asyncio.current_task()}
        return got

    assert asyncio.run(main()) == [0, 2, 4]
    assert clients[0].is_closed
    assert len(server.requests) <= 2  # read ahead at most 2 * concurrency items: 2 pages


def test_a_client_you_pass_is_used_and_left_open(server: Server) -> None:
    async def main() -> None:
        async with httpx.AsyncClient(headers={"X-Token": "mine"}) as client:
            s = paginate(server.url("/link?size=5"), client=client, max_pages=1)
            assert await s.ato_list() == [0, 1, 2, 3, 4]
            async with s.aiterate() as it:
                assert await it.__anext__() == 0
            assert await s.acount() == 5  # again, in the same loop
            assert not client.is_closed
            assert (await client.get(server.url("/link?size=2"))).json() == [0, 1]
        assert server.state.headers[0]["X-Token"] == "mine"
        assert "application/json" not in server.state.headers[0].get("Accept", "")

    asyncio.run(main())
    assert len(server.requests) == 4


def test_sync_code_inside_a_running_loop_is_refused(server: Server) -> None:
    async def main() -> None:
        with pytest.raises(hp.HosepipeError, match="use `async for item in stream`"):
            paginate(server.url("/link"), async_=True).to_list()

    asyncio.run(main())
    assert server.requests == []


# -- choosing the async form ------------------------------------------------------------------


@pytest.mark.parametrize("form", [Form("async")], ids=["async"])
def test_an_async_client_chooses_the_async_form(
    form: Form, server: Server, slept: list[float]
) -> None:
    # The `slept` fixture fails the test if a retry waits with the blocking time.sleep.
    async def main() -> None:
        async with httpx.AsyncClient(headers={"X-Token": "mine"}) as client:
            url = server.url("/flaky")
            s = paginate(url, params={"run": _key(), "fails": 1, "status": 503}, client=client)
            assert repr(s) == f"Stream(http.paginate({url!r}, async_=True))"
            assert await s.ato_list() == [1, 2, 3]
            with pytest.raises(hp.HosepipeError, match="use `async for item in stream`"):
                s.to_list()  # an async stream: sync reading inside the loop is refused
            for async_ in (True, False):  # async_ adds nothing to an AsyncClient
                s = paginate(server.url("/link?n=2"), client=client, async_=async_)
                assert repr(s) == f"Stream(http.paginate({server.url('/link?n=2')!r}, async_=True))"
                assert await s.ato_list() == [0, 1]
        assert [h["X-Token"] for h in server.state.headers] == ["mine"] * 4

    asyncio.run(main())
    assert len(slept) == 1


@pytest.mark.parametrize("form", [Form("async")], ids=["async"])
def test_async_true_without_a_client_opens_an_async_client_per_run(
    form: Form, server: Server, slept: list[float], owned: list[httpx.AsyncClient]
) -> None:
    synced: list[httpx.Client] = []

    class NoSyncClient(httpx.Client):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            synced.append(self)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(httpx, "Client", NoSyncClient)
        url = server.url("/flaky")
        s = paginate(url, params={"run": _key(), "fails": 1, "status": 429}, async_=True)
        assert owned == []  # nothing is opened before a run
        assert asyncio.run(s.ato_list()) == [1, 2, 3]
        assert s.to_list() == [1, 2, 3]  # sync code: a loop of its own, a client of its own
    assert len(owned) == 2
    assert all(c.is_closed for c in owned)
    assert synced == []
    assert len(slept) == 1
    assert server.state.headers[0]["Accept"] == "application/json"


def test_async_true_with_a_sync_client_is_refused_saying_what_to_do(server: Server) -> None:
    with httpx.Client() as client, pytest.raises(ValueError) as info:
        paginate(server.url("/link"), client=client, async_=True)
    assert str(info.value) == (
        "paginate(): `async_=True` needs an httpx.AsyncClient or no `client`, got an "
        "httpx.Client; an httpx.Client is sync: pass an httpx.AsyncClient instead, or leave "
        "out `async_` to read with this client in the sync form"
    )
    assert server.requests == []


@pytest.mark.parametrize("value", [1, 0, "yes", None, "True"])
def test_async_must_be_a_bool(value: object) -> None:
    with pytest.raises(TypeError) as info:
        paginate(URL, async_=value)  # type: ignore[arg-type]
    assert str(info.value) == f"paginate(): `async_` must be a bool, got {value!r}"


def test_async_false_is_the_sync_form(server: Server) -> None:
    s = paginate(server.url("/link?n=2"), async_=False)
    assert repr(s) == f"Stream(http.paginate({server.url('/link?n=2')!r}))"

    async def main() -> None:
        assert s.to_list() == [0, 1]  # a sync stream: read inline, even inside a loop

    asyncio.run(main())


# -- names, labels, secrets -----------------------------------------------------------------


def test_the_label_names_the_async_form_without_secrets(server: Server) -> None:
    port = server.base.rsplit(":", 1)[1]
    url = f"http://app:s3cret@127.0.0.1:{port}/missing?api_key=TOPSECRET&page=3"
    s = paginate(url, async_=True)
    assert repr(s) == (
        f"Stream(http.paginate('http://app:***@127.0.0.1:{port}/missing?api_key=***&page=3', "
        "async_=True))"
    )
    with pytest.raises(HTTPError) as info:
        asyncio.run(s.ato_list())
    assert info.value.url == f"http://app:***@127.0.0.1:{port}/missing?api_key=***&page=3"
    assert "s3cret" not in info.value.__notes__[0]
    assert "TOPSECRET" not in info.value.__notes__[0]
    assert server.requests == ["/missing?api_key=TOPSECRET&page=3"]  # the real URL was used
    assert server.state.headers[0]["Authorization"] == "Basic YXBwOnMzY3JldA=="
    stats = asyncio.run(paginate(server.url("/link?n=2"), async_=True).arun())
    assert stats.stages[0].label == f"http.paginate({server.url('/link?n=2')!r}, async_=True)"
    assert stats.stages[0].items_out == 2


def test_the_label_is_the_whole_url(form: Form, server: Server) -> None:
    s = form.paginate(server.url("/link"))
    assert repr(s) == f"Stream(http.paginate({server.url('/link')!r}{form.label_end[1:]})"


def test_the_label_of_a_stage_over_the_async_form(server: Server) -> None:
    s = paginate(server.url("/link"), async_=True).map(str).take(2)
    assert repr(s).startswith(f"Stream(http.paginate({server.url('/link')!r}, async_=True))")


# -- arguments ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"style": "x"}, ValueError, "`style` must be 'link', 'cursor' or 'page', got 'x'"),
        ({"url": "/items"}, ValueError,
         "`url` must be an absolute http:// or https:// URL, got '/items'"),
        ({"items": "a..b"}, ValueError,
         "`items` must be a key or a dotted path such as 'meta.next', got 'a..b'"),
        ({"style": "page", "params": {"page": 2}}, ValueError,
         "`params` must not contain 'page': paginate() sets that parameter (`page_param`) on "
         "each request"),
        ({"start_page": -1}, ValueError, "`start_page` must be >= 0, got -1"),
        ({"retries": 1.5}, TypeError, "`retries` must be an int, got 1.5 (float)"),
        ({"max_pages": 0}, ValueError, "`max_pages` must be >= 1, got 0"),
        ({"client": "c"}, TypeError,
         "`client` must be None, an httpx.Client or an httpx.AsyncClient, got 'c' (str)"),
    ],
)  # fmt: skip
def test_arguments_are_checked_when_called(
    kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    kwargs = {"url": URL, "async_": True, **kwargs}
    with pytest.raises(error) as info:
        paginate(**kwargs)
    assert str(info.value) == "paginate(): " + message


def test_a_closed_client_is_refused() -> None:
    async def main() -> None:
        client = httpx.AsyncClient()
        await client.aclose()
        for async_ in (False, True):
            with pytest.raises(ValueError) as info:
                paginate(URL, client=client, async_=async_)
            assert str(info.value) == (
                "paginate(): `client` is closed; pass an open httpx.AsyncClient"
            )

    asyncio.run(main())


def test_without_httpx_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "httpx", None)  # as if not installed: import fails
    with pytest.raises(ImportError) as info:
        paginate(URL, async_=True)
    assert str(info.value) == (
        "hosepipe.http.paginate() needs the httpx package: pip install 'hosepipe[http]'"
    )


def test_paginate_is_the_one_function() -> None:
    assert hp.http.paginate is paginate
    assert not hasattr(hosepipe.http, "apaginate")
    assert "apaginate" not in hosepipe.http.__all__
