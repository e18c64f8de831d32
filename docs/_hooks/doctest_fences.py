"""A griffe extension for the API reference: doctest examples render as Python sessions.

hosepipe's docstrings are prose with ``>>>`` examples (run by pytest's doctests). Markdown
would read a ``>>>`` line as a quote, so each example (from a ``>>>`` line to the next blank
line, as doctest reads it) is put in a ``pycon`` fence, without its ``# doctest:`` directives.
A paragraph ending in reST's ``::`` (an indented block follows, which Markdown shows as code
too) ends in one colon.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_DIRECTIVE = re.compile(r"\s*# doctest:.*$")


def fence_doctests(text: str) -> str:
    """*text* with every doctest example in a ``pycon`` code fence.

    >>> fence_doctests("Add.\\n\\n>>> 1 + 1  # doctest: +SKIP\\n2\\n\\nDone.").splitlines()
    ['Add.', '', '```pycon', '>>> 1 + 1', '2', '```', '', 'Done.']
    >>> fence_doctests("The tree::\\n\\n    Exception").splitlines()
    ['The tree:', '', '    Exception']
    """
    out: list[str] = []
    in_example = in_fence = False
    for line in text.split("\n"):
        stripped = line.strip()
        if in_example and not stripped:
            out.append("```")
            in_example = False
        elif not in_example and not in_fence and stripped.startswith(">>>"):
            out.append("```pycon")
            in_example = True
        elif not in_example and stripped.startswith("```"):
            in_fence = not in_fence
        elif not in_example and not in_fence and line.endswith("::"):
            line = line[:-1]
        out.append(_DIRECTIVE.sub("", line) if in_example else line)
    if in_example:
        out.append("```")
    return "\n".join(out)


class DoctestFences(griffe.Extension):
    """Fence the doctest examples of every docstring griffe loads."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = fence_doctests(obj.docstring.value)
