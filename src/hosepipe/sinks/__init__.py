"""Sinks: where streams end (files, databases). All are also exported as ``hp.<name>``."""

from hosepipe.sinks._base import Sink as Sink
from hosepipe.sinks._base import SinkWriter as SinkWriter
from hosepipe.sinks._files import write_csv as write_csv
from hosepipe.sinks._files import write_jsonl as write_jsonl
from hosepipe.sinks._files import write_lines as write_lines
from hosepipe.sinks._sql import to_sql as to_sql

__all__ = ["Sink", "SinkWriter", "to_sql", "write_csv", "write_jsonl", "write_lines"]
