"""``hosepipe stats``: show a saved ``RunStats`` (JSON) as the table ``str(RunStats)`` gives.

The JSON is what ``hosepipe run --stats-file`` writes, and what
``json.dump(stats.to_dict(), f)`` writes from a program. ``RunStats.from_dict`` rebuilds
the records from it, checking every field: a file of another shape is reported with the
path of the first bad field (``stages[1].items_in``), never shown half-read.
"""

from __future__ import annotations

import sys

from hosepipe._typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hosepipe.metrics import RunStats

__all__ = ["StatsFileError", "load_run_stats"]


class StatsFileError(ValueError):
    """A stats file that cannot be read, or is not ``RunStats.to_dict()`` JSON.

    >>> raise StatsFileError("stats.json: not JSON")
    Traceback (most recent call last):
    ...
    hosepipe.cli._stats.StatsFileError: stats.json: not JSON
    """


def load_run_stats(path: str) -> RunStats:
    """Read a ``RunStats`` from the JSON file *path* (``-``: standard input).

    Raises ``StatsFileError`` saying what is wrong with the file.

    >>> import os, tempfile
    >>> name = os.path.join(tempfile.mkdtemp(), "stats.json")
    >>> with open(name, "w") as f:
    ...     _ = f.write('{"stages": [')
    >>> load_run_stats(name)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    hosepipe.cli._stats.StatsFileError: .../stats.json is not valid JSON: ...
    """
    import json

    from hosepipe.metrics import RunStats

    try:
        if path == "-":
            data = json.load(sys.stdin)
        else:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
    except FileNotFoundError:
        raise StatsFileError(f"no such file: {path!r}") from None
    except IsADirectoryError:
        raise StatsFileError(f"{path} is a folder, not a stats file") from None
    except OSError as e:
        raise StatsFileError(f"cannot read {path}: {e.strerror or e}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise StatsFileError(f"{path} is not valid JSON: {e}") from None
    try:
        return RunStats.from_dict(data)
    except ValueError as e:
        raise StatsFileError(
            f"{path} does not hold RunStats JSON (as `hosepipe run --stats-file` writes): {e}"
        ) from None
