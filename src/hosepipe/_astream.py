"""The async side of ``Stream``: ``async for``, ``aiterate()`` and the ``a*`` terminals.

``AsyncStream`` is mixed into ``Stream`` and holds its async methods.
"""

from __future__ import annotations

__all__ = ["AsyncStream"]


class AsyncStream:
    """The async methods of ``Stream``."""

    __slots__ = ()
