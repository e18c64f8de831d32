"""Sources: where streams start (files, paged APIs, databases). Also exported as ``hp.<name>``."""

from hosepipe._typing import TYPE_CHECKING
from hosepipe.sources._base import Reader as Reader

__all__ = [
    "Reader",
    "follow",
    "paginate",
    "partitioned",
    "read_bytes",
    "read_csv",
    "read_jsonl",
    "read_lines",
    "read_sql",
]

# The integrations load on first use, so importing the base classes stays light.
_LAZY = {
    "follow": "hosepipe.sources._follow",
    "paginate": "hosepipe.sources._paginate",
    "partitioned": "hosepipe.sources._partition",
    "read_bytes": "hosepipe.sources._files",
    "read_csv": "hosepipe.sources._csv",
    "read_jsonl": "hosepipe.sources._files",
    "read_lines": "hosepipe.sources._files",
    "read_sql": "hosepipe.sources._sql",
}

if TYPE_CHECKING:
    from hosepipe.sources._csv import read_csv as read_csv
    from hosepipe.sources._files import read_bytes as read_bytes
    from hosepipe.sources._files import read_jsonl as read_jsonl
    from hosepipe.sources._files import read_lines as read_lines
    from hosepipe.sources._follow import follow as follow
    from hosepipe.sources._paginate import paginate as paginate
    from hosepipe.sources._partition import partitioned as partitioned
    from hosepipe.sources._sql import read_sql as read_sql
else:
    from hosepipe._lazy import lazy_exports

    __getattr__, __dir__ = lazy_exports(__name__, globals(), _LAZY)
    del lazy_exports
