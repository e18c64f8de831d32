"""Push pipelines: coroutines (PEP 342) fed with ``send()``, the other model beside pull.

``PushStream`` and ``PushPipeline`` are mixed into ``Stream`` and ``Pipeline`` and hold
their push methods.
"""

from __future__ import annotations

__all__ = ["PushPipeline", "PushStream"]


class PushStream:
    """The push methods of ``Stream``."""

    __slots__ = ()


class PushPipeline:
    """The push methods of ``Pipeline``."""

    __slots__ = ()
