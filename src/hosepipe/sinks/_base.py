"""What a sink is: the end of a stream, written to one item at a time, then committed.

A ``Sink`` is an inert description (a path, a table, options), like a stage node; each run
opens a fresh ``SinkWriter`` from it. The writer is fed items with ``write``; when the stream
has ended it is ``commit``-ed (a file is renamed into place, a transaction committed) and
returns the sink's result; when the stream fails or is interrupted it is ``abort``-ed
instead, which leaves the target as it was. The drivers know sinks by the protocol in
``_ends`` (``SinkBase``); ``Sink`` adds ``source | sink``, which makes a ``Stream``.
"""

from __future__ import annotations

from hosepipe._ends import SinkBase, SinkWriter
from hosepipe._stream import Stream
from hosepipe._typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from typing import Any

__all__ = ["Sink", "SinkWriter"]

T = TypeVar("T", contravariant=True)
R = TypeVar("R", covariant=True)


class Sink(SinkBase[T, R]):
    """Base class of hosepipe's sinks: ``stream.to(sink)`` or ``stream | sink`` runs into it.

    Subclasses implement ``open()`` and ``label``. A sink can also be a ``catch``'s
    ``dead_letter``: it then receives one dict per skipped item (``DeadLetter.to_dict()``)
    and is committed when the run ends, however it ends.

    >>> import hosepipe as hp
    >>> class Total(hp.Sink):
    ...     label = "total()"
    ...     def open(self):
    ...         return _Adder()
    >>> class _Adder:
    ...     def __init__(self): self.n = 0
    ...     def write(self, item): self.n += item
    ...     def commit(self): return self.n
    ...     def abort(self): pass
    >>> hp.Stream(range(5)).to(Total())
    10
    """

    def __ror__(self, stream: Any) -> R:
        return Stream(stream).to(self)
