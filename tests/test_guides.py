"""Every guide's examples run, in order, in one namespace, as a reader would paste them."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

from hosepipe.testing import assert_no_leaks

GUIDES = sorted((Path(__file__).resolve().parent.parent / "docs" / "guide").glob("*.md"))


def test_there_are_guides() -> None:
    assert [g.name for g in GUIDES] == [
        "async.md",
        "brokers.md",
        "concurrency.md",
        "push.md",
        "watching.md",
    ]


def _need_brokers() -> None:
    """brokers.md runs against the local Redis, NATS and RabbitMQ servers."""
    import socket

    from _brokers import need_server

    for what, port in (("Redis server", 6379), ("NATS server", 4222), ("RabbitMQ server", 5672)):
        need_server(
            what, lambda port=port: socket.create_connection(("127.0.0.1", port), 2).close()
        )


@pytest.mark.parametrize("guide", GUIDES, ids=lambda p: p.name)
def test_guide_examples_run(guide: Path) -> None:
    if guide.name == "brokers.md":
        _need_brokers()
    blocks = re.findall(r"```python\n(.*?)```", guide.read_text(), flags=re.DOTALL)
    assert blocks, f"{guide.name} has no python examples"
    namespace: dict[str, object] = {"__name__": f"guide_{guide.stem}"}
    with assert_no_leaks(), contextlib.redirect_stdout(io.StringIO()):
        for i, block in enumerate(blocks):
            try:
                exec(compile(block, f"{guide.name} block {i + 1}", "exec"), namespace)
            except Exception as e:  # pragma: no cover - shows which block failed
                raise AssertionError(f"{guide.name} python block {i + 1} failed: {e!r}") from e
