"""Run statistics: what each stage of a run did, and ways to watch it.

Every run keeps per-stage counters (items in, items out, errors skipped, time); ``run()``
returns them as a ``RunStats`` and ``Stream.stats()`` gives them live. ``prometheus()``
exports them to a prometheus_client registry (the ``prometheus`` extra); progress bars are
the ``progress()`` operator (the ``progress`` extra).
"""

from hosepipe._typing import TYPE_CHECKING
from hosepipe.metrics._stats import RunStats as RunStats
from hosepipe.metrics._stats import StageStats as StageStats

__all__ = ["RunStats", "StageStats", "prometheus"]

if TYPE_CHECKING:
    from hosepipe.metrics._prometheus import prometheus as prometheus
else:
    from hosepipe._lazy import lazy_exports

    __getattr__, __dir__ = lazy_exports(
        __name__, globals(), {"prometheus": "hosepipe.metrics._prometheus"}
    )
    del lazy_exports

del TYPE_CHECKING
