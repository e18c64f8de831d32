"""Every guide's examples run, in order, in one namespace, as a reader would paste them.

A block may sit indented in a content tab (``=== "toolz"``). A block fenced as
```` ```python title="NAME" ```` needs the module *NAME* (the peer libraries of
``coming-from.md``): where it is not installed the block is skipped and the test, having run
every other block, reports the skip.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import re
import textwrap
from pathlib import Path

import pytest

from hosepipe.testing import assert_no_leaks

GUIDES = sorted((Path(__file__).resolve().parent.parent / "docs" / "guide").glob("*.md"))

_BLOCK = re.compile(
    r'^(?P<indent>[ ]*)```python(?: title="(?P<title>[^"]+)")?\n(?P<body>.*?)^(?P=indent)```',
    flags=re.DOTALL | re.MULTILINE,
)


def python_blocks(text: str) -> list[tuple[str | None, str]]:
    """The (title, code) of each ```python block of a guide, in order, dedented.

    >>> python_blocks('x\\n\\n    ```python title="toolz"\\n    a = 1\\n    ```\\n')
    [('toolz', 'a = 1\\n')]
    """
    return [(m["title"], textwrap.dedent(m["body"])) for m in _BLOCK.finditer(text)]


def test_there_are_guides() -> None:
    assert [g.name for g in GUIDES] == [
        "async.md", "brokers.md", "checkpoint.md", "coming-from.md", "concurrency.md",
        "dask.md", "push.md", "watching.md",
    ]  # fmt: skip


def _need_brokers() -> None:
    """brokers.md runs against the local Redis, NATS and RabbitMQ servers."""
    import socket

    from _brokers import need_server

    for what, port in (("Redis server", 6379), ("NATS server", 4222), ("RabbitMQ server", 5672)):
        need_server(
            what, lambda port=port: socket.create_connection(("127.0.0.1", port), 2).close()
        )


def test_every_python_block_is_found() -> None:
    for guide in GUIDES:
        text = guide.read_text()
        assert len(python_blocks(text)) == text.count("```python"), guide.name


def test_coming_from_shows_each_peer_library() -> None:
    text = (GUIDES[0].parent / "coming-from.md").read_text()
    titles = {title for title, _ in python_blocks(text)}
    assert titles == {"hosepipe", "toolz", "streamable", "aiostream", "pypeln", "mpire", None}


def run_guide(guide: Path) -> int:
    """Run the python blocks of *guide* in order, in one namespace, and return how many
    ran; skip (at the end) when a titled block's library is not installed."""
    blocks = python_blocks(guide.read_text())
    assert blocks, f"{guide.name} has no python examples"
    namespace: dict[str, object] = {"__name__": f"guide_{guide.stem}"}
    if guide.name == "dask.md":
        _start_dask_offload_thread()
    if guide.name == "brokers.md":
        _need_brokers()
    missing: list[str] = []
    ran = 0
    with assert_no_leaks(), contextlib.redirect_stdout(io.StringIO()):
        for i, (title, block) in enumerate(blocks):
            if title is not None and importlib.util.find_spec(title) is None:
                missing.append(title)
                continue
            try:
                exec(compile(block, f"{guide.name} block {i + 1}", "exec"), namespace)
            except Exception as e:  # pragma: no cover - shows which block failed
                raise AssertionError(f"{guide.name} python block {i + 1} failed: {e!r}") from e
            ran += 1
    if missing:
        pytest.skip(
            f"{guide.name}: ran the other blocks; skipped those of {sorted(set(missing))}, "
            "not installed (pip install -e '.[dev]')"
        )
    return ran


def _start_dask_offload_thread() -> None:
    """dask.distributed keeps one thread for the life of the process (its offload pool);
    start it before the leak check, which then sees that the guide's cluster left nothing."""
    pytest.importorskip("distributed", reason="the Dask guide needs pip install 'hosepipe[dask]'")
    from distributed.utils import _offload_executor

    _offload_executor.submit(lambda: None).result()


@pytest.mark.parametrize("guide", GUIDES, ids=lambda p: p.name)
def test_guide_examples_run(guide: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if importlib.util.find_spec("tqdm") is not None:
        import tqdm

        # mpire makes a (hidden) tqdm bar per imap, which starts tqdm's process-wide monitor
        # thread; it outlives every bar, so assert_no_leaks would blame the guide for it.
        monkeypatch.setattr(tqdm.tqdm, "monitor_interval", 0)
    assert run_guide(guide) == len(python_blocks(guide.read_text()))  # every block ran


def test_a_block_of_a_library_not_installed_is_skipped_after_the_others_ran(
    tmp_path: Path,
) -> None:
    guide = tmp_path / "peer.md"
    guide.write_text(
        '```python\nran = ["plain"]\n```\n\n=== "x"\n\n'
        '    ```python title="no_such_library_xyz"\n'
        '    raise RuntimeError("must not run")\n'
        "    ```\n\n"
        '```python title="hosepipe"\n'
        'ran.append("hosepipe")\n'
        'assert ran == ["plain", "hosepipe"]\n'
        "```\n"
    )
    with pytest.raises(
        pytest.skip.Exception,
        match=r"^peer.md: ran the other blocks; skipped those of \['no_such_library_xyz'\], "
        r"not installed \(pip install -e '\.\[dev\]'\)$",
    ):
        run_guide(guide)
    guide.write_text(guide.read_text().replace('"plain", "hosepipe"', '"hosepipe"'))
    with pytest.raises(
        AssertionError, match=r"^peer.md python block 3 failed: AssertionError\(\)$"
    ):
        run_guide(guide)
