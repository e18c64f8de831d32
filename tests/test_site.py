"""The documentation site as a reader sees it: built strict, served on 127.0.0.1, read with
headless Chromium.

The site is built once per session (``mkdocs build --strict``), or taken from
``$HOSEPIPE_SITE_DIR`` when ``make test`` has just built it. The browser tests need Debian's
``chromium``: without it they skip, except under ``CI``, where the Makefile installs it and a
missing browser fails. Chromium is driven over the DevTools protocol on a pipe
(``--remote-debugging-pipe``: JSON messages ending in NUL on file descriptors 3 and 4), so
the test needs no driver package and opens no debugging port.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import http.server
import importlib
import importlib.util
import json
import os
import pkgutil
import re
import select
import shutil
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import hosepipe as hp

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.site


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    given = os.environ.get("HOSEPIPE_SITE_DIR")
    if given:
        assert (Path(given) / "index.html").is_file(), f"HOSEPIPE_SITE_DIR={given}: no site"
        return Path(given)
    out = tmp_path_factory.mktemp("site")
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", out],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return out


def public_modules() -> list[str]:
    """hosepipe's public modules, found by importing (the site finds them on disk)."""
    found = ["hosepipe"]
    for info in pkgutil.walk_packages(hp.__path__, "hosepipe."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            found.append(info.name)
    return sorted(found)


def page(site: Path, path: str) -> str:
    return (site / path / "index.html").read_text()


def section(html: str, anchor: str) -> str:
    """The HTML of the object documented at *anchor*, up to the next object of its level."""
    start = html.index(f'id="{anchor}"')
    level = html.rfind("<h", 0, start)
    tag = html[level : level + 3]
    end = html.find(f'{tag} id="', start)
    return html[start : end if end != -1 else len(html)]


# -- the built pages -------------------------------------------------------------------


def test_every_public_module_has_an_api_page(site: Path) -> None:
    pages = sorted(p.name for p in (site / "reference").iterdir() if p.is_dir())
    assert pages == public_modules()


def test_every_exported_name_has_its_signature_and_example(site: Path) -> None:
    no_signature, no_example = [], []
    for module_name in public_modules():
        module = importlib.import_module(module_name)
        html = page(site, f"reference/{module_name}")
        for name in getattr(module, "__all__", []):
            value = getattr(module, name)
            if isinstance(value, type(hp)):  # a public submodule: its own page
                assert name in {m.rsplit(".", 1)[-1] for m in public_modules()}
                continue
            doc = section(html, f"{module_name}.{name}")
            # an exception class that keeps BaseException's constructor shows no signature
            plain_exception = isinstance(value, type) and issubclass(value, BaseException)
            if "doc-signature" not in doc and not (
                plain_exception and "__init__" not in vars(value)
            ):
                no_signature.append(f"{module_name}.{name}")
            if 'class="language-pycon' not in doc:
                no_example.append(f"{module_name}.{name}")
    assert no_signature == []
    assert no_example == []


def test_stream_map_shows_its_parameters(site: Path) -> None:
    doc = section(page(site, "reference/hosepipe"), "hosepipe.Stream.map")
    text = re.sub(r"<[^>]+>", "", doc)
    for part in ("map(", "concurrency", "ordered", "via", "initializer", "Apply fn"):
        assert part in text, part


def test_home_is_the_readme_tour_with_its_links_on_the_site(site: Path) -> None:
    html = page(site, "")
    assert "A quick tour" in html
    assert 'href="guide/concurrency/"' in html
    assert 'href="changelog/"' in html
    assert "<code>tests/typing/</code> (in the repository)" in html


def test_changelog_page(site: Path) -> None:
    assert "Unreleased" in page(site, "changelog")


def test_each_benchmark_has_a_page_with_plots_drawn_from_its_results(site: Path) -> None:
    names = {p.stem.rpartition("-")[0] for p in (ROOT / "benchmarks" / "results").glob("*.json")}
    for name in names:
        html = page(site, f"benchmarks/{name}")
        images = re.findall(r'<img alt="[^"]*" src="\.\./([^"]+\.png)"', html)
        assert images, name
        for image in images:
            assert (site / "benchmarks" / image).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_extras_page_lists_every_extra_with_its_requirements(site: Path) -> None:
    html = page(site, "extras")
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    rows = dict(re.findall(r"<tr>\s*<td[^>]*><code>([a-z-]+)</code></td>(.*?)</tr>", html, re.S))
    assert sorted(rows) == sorted(extras)
    for name, requirements in extras.items():
        for requirement in requirements:
            assert requirement.replace(">", "&gt;") in rows[name], (name, requirement)


def test_the_build_fails_when_the_extras_page_drifts_from_pyproject() -> None:
    spec = importlib.util.spec_from_file_location("pages", ROOT / "docs" / "_hooks" / "pages.py")
    assert spec is not None
    assert spec.loader is not None
    pages = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(pages)
    from mkdocs.exceptions import PluginError

    table = "| extra | what it brings |\n|:--|:--|\n| `http` | paginate |\n| `nope` | x |\n"
    with pytest.raises(PluginError, match=r"^docs/extras\.md and pyproject\.toml .* differ: "):
        pages.fill_extras_table(table)


# -- read by a browser -----------------------------------------------------------------


def _above_nine(fd: int) -> int:
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return moved


class Browser:
    """Headless Chromium over the DevTools protocol on a pipe, with one page open."""

    def __init__(self, chromium: str, profile: Path) -> None:
        self._to_chrome_r, self._to_chrome_w = os.pipe()
        self._from_chrome_r, self._from_chrome_w = os.pipe()
        # The child's ends go on descriptors 3 and 4: first move them above 9, so that
        # putting one there cannot overwrite the other.
        self._to_chrome_r = _above_nine(self._to_chrome_r)
        self._from_chrome_w = _above_nine(self._from_chrome_w)
        flags = [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={profile}", "--remote-debugging-pipe", "about:blank",
        ]  # fmt: skip
        # a Python trampoline puts the pipes on the descriptors Chromium reads (3) and
        # writes (4), then becomes Chromium
        trampoline = (
            "import os, sys; os.dup2(int(sys.argv[1]), 3); os.dup2(int(sys.argv[2]), 4); "
            "os.execv(sys.argv[3], sys.argv[3:])"
        )
        self._process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                trampoline,
                str(self._to_chrome_r),
                str(self._from_chrome_w),
                chromium,
                *flags,
            ],
            pass_fds=(self._to_chrome_r, self._from_chrome_w),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(self._to_chrome_r)
        os.close(self._from_chrome_w)
        self._buffer = b""
        self._next_id = 0
        self._events: list[dict[str, Any]] = []
        self._session = ""
        try:
            target = self.send("Target.createTarget", url="about:blank")["targetId"]
            attached = self.send("Target.attachToTarget", targetId=target, flatten=True)
            self._session = attached["sessionId"]
            self.send("Page.enable", session=True)
        except BaseException:
            self.close()
            raise

    def _receive(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._from_chrome_r], [], [], left)[0]:
                raise TimeoutError("chromium did not answer")
            chunk = os.read(self._from_chrome_r, 1 << 16)
            if not chunk:
                raise ConnectionError("chromium closed the pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        answer: dict[str, Any] = json.loads(message)
        return answer

    def send(self, method: str, *, session: bool = False, **params: Any) -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = self._session
        os.write(self._to_chrome_w, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + 60
        while True:
            answer = self._receive(deadline)
            if answer.get("id") == self._next_id:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                result: dict[str, Any] = answer["result"]
                return result
            self._events.append(answer)

    def open(self, url: str) -> None:
        """Load *url* and wait for its load event."""
        self._events.clear()
        self.send("Page.navigate", session=True, url=url)
        deadline = time.monotonic() + 60
        while not any(e.get("method") == "Page.loadEventFired" for e in self._events):
            self._events.append(self._receive(deadline))

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript *expression* in the page (awaited if a promise)."""
        result = self.send(
            "Runtime.evaluate",
            session=True,
            expression=expression,
            awaitPromise=True,
            returnByValue=True,
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str) -> Any:
        """The first truthy value of *expression*, polled in the page (at most 30 s)."""
        return self.evaluate(
            "new Promise((done, fail) => { const start = Date.now(); const poll = () => {"
            f" let v; try {{ v = ({expression}); }} catch (e) {{ v = null; }}"
            " if (v) done(v); else if (Date.now() - start > 30000) fail('timed out');"
            " else setTimeout(poll, 50); }; poll(); })"
        )

    def close(self) -> None:
        with contextlib.suppress(OSError, TimeoutError, ConnectionError):
            self.send("Browser.close")
        try:
            self._process.wait(timeout=30)
        except subprocess.TimeoutExpired:  # pragma: no cover - a stuck browser
            self._process.kill()
            self._process.wait()
        os.close(self._to_chrome_w)
        os.close(self._from_chrome_r)


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def served(site: Path) -> Iterator[str]:
    """The base URL of the built site, served on 127.0.0.1 from a thread."""
    handler = functools.partial(_Quiet, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="site-server")
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    chromium = shutil.which("chromium")
    if chromium is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing under CI: `make test` installs it (apt-get)")
        pytest.skip("chromium is not installed (apt-get install chromium): site not browsed")
    b = Browser(chromium, tmp_path_factory.mktemp("chromium-profile"))
    try:
        yield b
    finally:
        b.close()


@pytest.mark.parametrize(
    ("path", "heading"),
    [
        ("", "hosepipe"),
        ("guide/concurrency/", "Backpressure and concurrency"),
        ("guide/coming-from/", "Coming from ..."),
    ],
)
def test_a_page_loads_with_its_heading_and_the_nav(
    browser: Browser, served: str, path: str, heading: str
) -> None:
    browser.open(served + path)
    h1 = browser.wait_for("document.querySelector('article h1')?.textContent")
    assert h1 == f"{heading}¶"  # with its permalink
    nav = browser.evaluate(
        "[...document.querySelectorAll('.md-nav__link')].map(a => a.textContent.trim())"
    )
    assert {"Home", "Concurrency", "Coming from ...", "hosepipe", "Changelog"} <= set(nav)


def test_search_finds_batch(browser: Browser, served: str) -> None:
    browser.open(served + "?q=batch")
    titles = browser.wait_for(
        "[...document.querySelectorAll('.md-search-result__item')]"
        ".map(li => li.textContent).filter(t => t.trim()).length > 0 &&"
        " [...document.querySelectorAll('.md-search-result__item')].map(li => li.textContent)"
    )
    assert any("batch" in title.lower() for title in titles), titles
    links = browser.evaluate(
        "[...document.querySelectorAll('.md-search-result__link')].map(a => a.href)"
    )
    assert served + "reference/hosepipe/?h=batch#hosepipe.batch" in links, links  # highlighted
    meta = browser.evaluate("document.querySelector('.md-search-result__meta').textContent")
    assert re.fullmatch(r"\d+ matching documents?", meta.strip()), meta


def test_the_api_page_renders_stream_map(browser: Browser, served: str) -> None:
    browser.open(served + "reference/hosepipe/#hosepipe.Stream.map")
    signature = browser.wait_for(
        "document.getElementById('hosepipe.Stream.map')"
        "?.nextElementSibling?.classList.contains('doc-signature') &&"
        " document.getElementById('hosepipe.Stream.map').nextElementSibling.innerText"
    )
    assert signature.startswith("map(\n    fn: Callable[[T], Any],\n")
    parameters = (
        "concurrency: int = 1",
        "ordered: bool = True",
        "via: str | ProcessPool | None = None",
    )
    for parameter in parameters:
        assert f"\n    {parameter}," in signature, signature
    assert signature.rstrip().endswith(") -> Stream[Any]"), signature
    example = browser.evaluate(
        "document.getElementById('hosepipe.Stream.map').parentElement"
        ".querySelector('.language-pycon').innerText"
    )
    assert example.startswith(">>> Stream([1, 2, 3]).map(str).to_list()\n['1', '2', '3']")


def test_stream_shows_its_inherited_terminals(site: Path) -> None:
    # Stream's running half is a private base (Terminals): its methods must still be shown
    html = page(site, "reference/hosepipe")
    for name in ("to_list", "run", "count", "arun", "iterate"):
        assert f'id="hosepipe.Stream.{name}"' in html, name
