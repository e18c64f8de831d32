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
    names = ["async.md", "concurrency.md", "dask.md", "push.md", "watching.md"]
    assert [g.name for g in GUIDES] == names


@pytest.mark.parametrize("guide", GUIDES, ids=lambda p: p.name)
def test_guide_examples_run(guide: Path) -> None:
    blocks = re.findall(r"```python\n(.*?)```", guide.read_text(), flags=re.DOTALL)
    assert blocks, f"{guide.name} has no python examples"
    namespace: dict[str, object] = {"__name__": f"guide_{guide.stem}"}
    if guide.name == "dask.md":
        _start_dask_offload_thread()
    with assert_no_leaks(), contextlib.redirect_stdout(io.StringIO()):
        for i, block in enumerate(blocks):
            try:
                exec(compile(block, f"{guide.name} block {i + 1}", "exec"), namespace)
            except Exception as e:  # pragma: no cover - shows which block failed
                raise AssertionError(f"{guide.name} python block {i + 1} failed: {e!r}") from e


def _start_dask_offload_thread() -> None:
    """dask.distributed keeps one thread for the life of the process (its offload pool);
    start it before the leak check, which then sees that the guide's cluster left nothing."""
    pytest.importorskip("distributed", reason="the Dask guide needs pip install 'hosepipe[dask]'")
    from distributed.utils import _offload_executor

    _offload_executor.submit(lambda: None).result()
