"""Sources: where streams start (files, paged APIs, databases). Also exported as ``hp.<name>``."""

from hosepipe.sources._base import Reader as Reader
from hosepipe.sources._files import read_bytes as read_bytes
from hosepipe.sources._files import read_csv as read_csv
from hosepipe.sources._files import read_jsonl as read_jsonl
from hosepipe.sources._files import read_lines as read_lines
from hosepipe.sources._follow import follow as follow
from hosepipe.sources._paginate import paginate as paginate
from hosepipe.sources._sql import read_sql as read_sql

__all__ = [
    "Reader",
    "follow",
    "paginate",
    "read_bytes",
    "read_csv",
    "read_jsonl",
    "read_lines",
    "read_sql",
]
