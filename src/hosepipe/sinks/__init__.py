"""Sinks: where streams end (files, databases). All are also exported as ``hp.<name>``."""

from hosepipe.sinks._base import Sink as Sink
from hosepipe.sinks._base import SinkWriter as SinkWriter

__all__ = ["Sink", "SinkWriter"]
