"""Run statistics: what each stage of a run did.

Every run keeps per-stage counters (items in, items out, errors skipped, time); ``run()``
returns them as a ``RunStats``. Exporters (Prometheus, logging) and progress bars come as
optional extras.
"""

from hosepipe.metrics._stats import RunStats as RunStats
from hosepipe.metrics._stats import StageStats as StageStats

__all__ = ["RunStats", "StageStats"]
