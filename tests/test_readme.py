"""The README's examples run, in order, in one namespace, as a reader would paste them."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)


def test_readme_opens_with_the_two_commands() -> None:
    head = README.read_text().split("## ")[0]
    assert "make demo" in head
    assert "make test" in head


def test_readme_examples_run() -> None:
    blocks = python_blocks()
    assert len(blocks) >= 8
    namespace: dict[str, object] = {"__name__": "readme"}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        for i, block in enumerate(blocks):
            try:
                exec(compile(block, f"README.md block {i + 1}", "exec"), namespace)
            except Exception as e:  # pragma: no cover - shows which block failed
                raise AssertionError(f"README python block {i + 1} failed: {e!r}") from e
    # the printed stats table has the shape the README shows
    printed = out.getvalue().splitlines()
    assert printed[0].split() == ["stage", "in", "out", "errors", "time*", "items/s"]
    assert printed[3].split()[:5] == ["2", "filter(<lambda>)", "1,000", "271", "0"]
