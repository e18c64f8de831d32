"""hosepipe: lazy, typed, constant-memory streaming pipelines, connected like garden hose.

>>> import hosepipe as hp
>>> hp.Stream(range(10)).map(lambda x: x * 2).filter(lambda x: x > 4).to_list()
[6, 8, 10, 12, 14, 16, 18]
>>> p = hp.map(lambda x: x * 2) | hp.filter(lambda x: x > 4)
>>> list(range(10) | p) == list(p(range(10))) == hp.Stream(range(10)).pipe(p).to_list()
True
"""

from hosepipe import backoff as backoff
from hosepipe._drive._procpool import ProcessPool as ProcessPool
from hosepipe._errors import CheckpointError as CheckpointError
from hosepipe._errors import DataError as DataError
from hosepipe._errors import EmptyStreamError as EmptyStreamError
from hosepipe._errors import HosepipeError as HosepipeError
from hosepipe._errors import StreamConsumedError as StreamConsumedError
from hosepipe._functions import compose as compose
from hosepipe._functions import pipe as pipe
from hosepipe._operators import batch as batch
from hosepipe._operators import buffer as buffer
from hosepipe._operators import catch as catch
from hosepipe._operators import chain as chain
from hosepipe._operators import distinct as distinct
from hosepipe._operators import drop_while as drop_while
from hosepipe._operators import enumerate as enumerate
from hosepipe._operators import filter as filter
from hosepipe._operators import flat_map as flat_map
from hosepipe._operators import flatten as flatten
from hosepipe._operators import group_by as group_by
from hosepipe._operators import map as map
from hosepipe._operators import merge as merge
from hosepipe._operators import observe as observe
from hosepipe._operators import progress as progress
from hosepipe._operators import retry as retry
from hosepipe._operators import scan as scan
from hosepipe._operators import skip as skip
from hosepipe._operators import take as take
from hosepipe._operators import take_while as take_while
from hosepipe._operators import tap as tap
from hosepipe._operators import throttle as throttle
from hosepipe._operators import window as window
from hosepipe._operators import zip as zip
from hosepipe._steps._catch import DeadLetter as DeadLetter
from hosepipe._stream import Pipeline as Pipeline
from hosepipe._stream import Stream as Stream
from hosepipe._terminals import Iteration as Iteration
from hosepipe.metrics import RunStats as RunStats
from hosepipe.metrics import StageStats as StageStats
from hosepipe.sinks import _LAZY as _sinks_lazy
from hosepipe.sinks._base import Sink as Sink
from hosepipe.sources import _LAZY as _sources_lazy
from hosepipe.sources._base import Reader as Reader

__version__ = "0.1.0"

__all__ = [
    "CheckpointError",
    "DataError",
    "DeadLetter",
    "EmptyStreamError",
    "HosepipeError",
    "Iteration",
    "Pipeline",
    "ProcessPool",
    "Reader",
    "RunStats",
    "Seekable",
    "Sink",
    "StageStats",
    "Stream",
    "StreamConsumedError",
    "backoff",
    "batch",
    "broadcast_to",
    "buffer",
    "catch",
    "chain",
    "compose",
    "coroutine",
    "distinct",
    "engines",
    "drop_while",
    "enumerate",
    "filter",
    "flat_map",
    "flatten",
    "follow",
    "group_by",
    "map",
    "merge",
    "observe",
    "paginate",
    "partitioned",
    "pipe",
    "progress",
    "read_bytes",
    "read_csv",
    "read_jsonl",
    "read_lines",
    "read_sql",
    "retry",
    "scan",
    "skip",
    "take",
    "take_while",
    "tap",
    "throttle",
    "to_sql",
    "window",
    "write_csv",
    "write_jsonl",
    "write_lines",
    "zip",
]

# Sources, sinks, hp.http and the brokers (hp.redis, hp.nats, hp.amqp) are imported on first
# use (PEP 562), so `import hosepipe` loads only the core; hosepipe.http imports httpx (and
# each broker module its client) only when one of its functions is called.
_LAZY = {
    **_sinks_lazy,
    **_sources_lazy,
    "http": "hosepipe.http",
    "redis": "hosepipe.redis",
    "nats": "hosepipe.nats",
    "amqp": "hosepipe.amqp",
    "engines": "hosepipe.engines",
    "Seekable": "hosepipe._checkpoint",
    "broadcast_to": "hosepipe._push",
    "coroutine": "hosepipe._push",
}
del _sinks_lazy, _sources_lazy

# Reprs, tracebacks and docs show hosepipe.Stream, not hosepipe._stream.Stream.
for _name in __all__:
    if _name not in _LAZY and _name != "backoff":
        globals()[_name].__module__ = "hosepipe"
del _name

from hosepipe._typing import TYPE_CHECKING  # noqa: E402

if TYPE_CHECKING:
    from hosepipe import amqp as amqp
    from hosepipe import engines as engines
    from hosepipe import http as http
    from hosepipe import nats as nats
    from hosepipe import redis as redis
    from hosepipe._checkpoint import Seekable as Seekable
    from hosepipe._push import broadcast_to as broadcast_to
    from hosepipe._push import coroutine as coroutine
    from hosepipe.sinks._files import write_csv as write_csv
    from hosepipe.sinks._files import write_jsonl as write_jsonl
    from hosepipe.sinks._files import write_lines as write_lines
    from hosepipe.sinks._sql import to_sql as to_sql
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


del TYPE_CHECKING
