"""Sinks: where streams end (files, databases). All are also exported as ``hp.<name>``."""

from hosepipe._typing import TYPE_CHECKING
from hosepipe.sinks._base import Sink as Sink
from hosepipe.sinks._base import SinkWriter as SinkWriter

__all__ = [
    "Sink",
    "SinkWriter",
    "to_sql",
    "write_csv",
    "write_jsonl",
    "write_lines",
]

# The integrations load on first use, so importing the base classes stays light.
_LAZY = {
    "to_sql": "hosepipe.sinks._sql",
    "write_csv": "hosepipe.sinks._files",
    "write_jsonl": "hosepipe.sinks._files",
    "write_lines": "hosepipe.sinks._files",
}

if TYPE_CHECKING:
    from hosepipe.sinks._files import write_csv as write_csv
    from hosepipe.sinks._files import write_jsonl as write_jsonl
    from hosepipe.sinks._files import write_lines as write_lines
    from hosepipe.sinks._sql import to_sql as to_sql
else:
    from hosepipe._lazy import lazy_exports

    __getattr__, __dir__ = lazy_exports(__name__, globals(), _LAZY)
    del lazy_exports
