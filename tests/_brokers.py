"""What the broker tests share: finding the local server, unique names, a killed consumer."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest

T = TypeVar("T")


def need_server(what: str, check: Callable[[], object]) -> None:
    """Skip (or fail, when ``CI`` is set) when *check* cannot reach the server."""
    try:
        check()
    except Exception as e:
        message = f"no {what} on 127.0.0.1 ({type(e).__name__}: {e})"
        if os.environ.get("CI"):
            pytest.fail(f"CI is set, so the {what} tests must run: {message}")
        pytest.skip(message)


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run *coro* with ``asyncio.run`` in a thread of its own (a test's sink may call this
    from inside the event loop that runs an async source)."""
    done: list[T] = []
    thread = threading.Thread(target=lambda: done.append(asyncio.run(coro)))
    thread.start()
    thread.join()
    return done[0]


# Names made by this test process start with RUN: a clean-up deletes only its own, never
# those of another run against the same server (a developer's beside CI's).
RUN = f"hp-test-{uuid.uuid4().hex[:8]}"


def unique(prefix: str) -> str:
    return f"{RUN}-{prefix}-{uuid.uuid4().hex[:10]}"


def kill_when(
    script: str,
    args: list[str],
    tmp: Path,
    ready: Callable[[], bool],
    sig: signal.Signals = signal.SIGKILL,
) -> None:
    """Run *script* in a subprocess and send it *sig* (SIGKILL, or SIGINT: Ctrl-C) as soon
    as *ready()* is true; it must die of that signal."""
    path = tmp / "consumer.py"
    path.write_text(script)
    child = subprocess.Popen([sys.executable, str(path), *args], stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not ready():
            if child.poll() is not None:
                raise AssertionError(
                    "the consumer ended before it was killed: "
                    + child.communicate()[1].decode(errors="replace")[-3000:]
                )
            if time.monotonic() > deadline:
                raise AssertionError("the consumer made no progress in 60 s")
            time.sleep(0.005)
        child.send_signal(sig)
    finally:
        _, err = child.communicate()  # reads stderr as it waits: a full pipe cannot block it
    text = err.decode(errors="replace")
    # a Ctrl-C ends a Python process by SIGINT, or (when the KeyboardInterrupt surfaces
    # while the interpreter shuts down threads) with status 1 and its traceback
    stopped = child.returncode == -sig or (
        sig == signal.SIGINT and child.returncode == 1 and "KeyboardInterrupt" in text
    )
    assert stopped, (
        f"the consumer ended with {child.returncode}, not stopped by {sig.name}; its "
        f"stderr:\n{text[-3000:]}"
    )


def run_to_end(script: str, args: list[str], tmp: Path) -> None:
    """Run *script* in a subprocess until it ends by itself (its feed went idle)."""
    path = tmp / "consumer.py"
    path.write_text(script)
    done = subprocess.run(
        [sys.executable, str(path), *args], capture_output=True, text=True, timeout=100
    )
    assert done.returncode == 0, done.stderr


def ack_after_script(module: str, feed: str) -> str:
    """A consumer (argv: url, name, stored file) whose ``map(store)`` appends each payload
    to the stored file and whose sink, after a ``batch`` that fills only at the feed's end,
    writes ``sink``: *feed* is the source, built with ``ack_after='map(store)'``."""
    return (
        f"import os, sys, time, hosepipe as hp, hosepipe.{module}\n"
        "url, name, stored = sys.argv[1:4]\n"
        "fd = os.open(stored, os.O_WRONLY | os.O_APPEND | os.O_CREAT)\n"
        "def store(m):\n"
        "    time.sleep(0.002)\n"
        "    os.write(fd, m.data + b'\\n')\n"
        "    return m\n"
        f"feed = {feed}\n"
        "feed.map(store).batch(100_000).for_each(lambda b: os.write(fd, b'sink\\n'))\n"
    )


def stored_lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines() if path.exists() else []
