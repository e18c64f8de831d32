"""Export a stream's live per-stage metrics to a prometheus_client registry.

One collector per registry serves every stream exported to it, so each metric family
appears once with a ``pipeline`` label per stream. Nothing is counted twice: at each
scrape the collector reads ``Stream.stats()`` (the latest run's live snapshot), so the
items' own path pays nothing for the counters. Latency histograms come from the fused
loop's timed samples (about one item in 256 per stage, every item when items are slow),
kept only for runs of an exported stream (``metrics._latency``).
"""

from __future__ import annotations

import threading
import weakref

from hosepipe._extras import require
from hosepipe._typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

    from hosepipe._stream import Stream
    from hosepipe.metrics._stats import StageStats

__all__ = ["Exporter", "prometheus"]

_collectors: weakref.WeakKeyDictionary[Any, _Collector] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


class Exporter:
    """A stream exported to a registry; ``close()`` stops exporting it."""

    __slots__ = ("collector", "pipeline", "stream")

    def __init__(self, collector: _Collector, stream: Stream[Any], pipeline: str) -> None:
        self.collector = collector
        self.stream = stream
        self.pipeline = pipeline

    def close(self) -> None:
        """Stop exporting the stream (its series disappear at the next scrape)."""
        self.collector.remove(self)
        exporters = getattr(self.stream, "_exporters", None)
        if exporters and self in exporters:
            exporters.remove(self)

    def __repr__(self) -> str:
        return f"<hosepipe prometheus exporter pipeline={self.pipeline!r}>"


class _Collector:
    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self.exporters: list[Exporter] = []
        self.lock = threading.Lock()

    def add(self, exporter: Exporter) -> None:
        with self.lock:
            if any(e.pipeline == exporter.pipeline for e in self.exporters):
                raise ValueError(
                    f"prometheus(): a stream is already exported as pipeline="
                    f"{exporter.pipeline!r} to this registry; give each stream its own name"
                )
            self.exporters.append(exporter)

    def remove(self, exporter: Exporter) -> None:
        with self.lock:
            if exporter in self.exporters:
                self.exporters.remove(exporter)

    def describe(self) -> list[Any]:
        return []  # the families are fixed by this module; registering needs no scrape

    def collect(self) -> Iterator[Any]:
        core = require("prometheus_client.core", "prometheus", "hosepipe.metrics.prometheus()")
        ns = self.namespace
        labels = ["pipeline", "position", "stage"]
        fam = {
            **_count_families(core, ns, "", "", labels),
            "depth": core.GaugeMetricFamily(
                f"{ns}_queue_depth",
                "Items held in a stage's queue now (a broker source: its backlog)",
                labels=labels,
            ),
            "peak": core.GaugeMetricFamily(
                f"{ns}_queue_peak", "Most items a stage's queue has held", labels=labels
            ),
            "capacity": core.GaugeMetricFamily(
                f"{ns}_queue_capacity", "A stage's queue bound", labels=labels
            ),
            "wait": core.CounterMetricFamily(
                f"{ns}_backpressure_wait_seconds",
                "Time a stage's producer waited on its full queue",
                labels=labels,
            ),
            "latency": core.HistogramMetricFamily(
                f"{ns}_stage_latency_seconds",
                "Per-item time in a stage (sampled)",
                labels=labels,
            ),
            "wall": core.GaugeMetricFamily(
                f"{ns}_run_seconds", "Wall time of the latest run so far", labels=["pipeline"]
            ),
        }
        # an engine's workers: each one's share of the stages they ran, in families of
        # their own, so that summing a stage's series over workers gives its total
        wfam = _count_families(core, ns, "worker_", " on a worker", [*labels, "worker"])
        with self.lock:
            exporters = list(self.exporters)
        from hosepipe.metrics._latency import BUCKETS

        for e in exporters:
            run = getattr(e.stream, "_last", None)
            if run is None:
                continue
            # a run on an engine gives its workers' rows too (``RunStats.workers``)
            stats = run.stats(by_worker=True) if getattr(run, "has_workers", False) else run.stats()
            latency = run.latency.snapshot() if run.latency is not None else {}
            fam["wall"].add_metric([e.pipeline], stats.wall_time)
            for s in stats.stages:
                key = [e.pipeline, str(s.position), s.label]
                _add_counts(fam, key, s)
                q = s.queue
                if q is not None:
                    fam["depth"].add_metric(key, q.depth)
                    fam["peak"].add_metric(key, q.peak)
                    fam["capacity"].add_metric(key, q.capacity)
                    fam["wait"].add_metric(key, q.send_wait)
                got = latency.get(s.position)
                if got is not None:
                    counts, total = got
                    cumulative, buckets = 0, []
                    for bound, n in zip((*BUCKETS, float("inf")), counts):
                        cumulative += n
                        buckets.append(
                            ("+Inf" if bound == float("inf") else repr(bound), cumulative)
                        )
                    fam["latency"].add_metric(key, buckets, total)
            for worker, rows in stats.workers.items():
                for row in rows:
                    _add_counts(wfam, [e.pipeline, str(row.position), row.label, worker], row)
        yield from fam.values()
        yield from wfam.values()


def _count_families(
    core: Any, ns: str, prefix: str, where: str, labels: list[str]
) -> dict[str, Any]:
    """The per-stage counter families (a stage's, or with *prefix* ``worker_`` a worker's
    share of it: *where* says so in the help texts)."""
    counter, name = core.CounterMetricFamily, f"{ns}_{prefix}"
    return {
        "in": counter(f"{name}items_in", f"Items a stage took in{where}", labels=labels),
        "out": counter(f"{name}items_out", f"Items a stage passed on{where}", labels=labels),
        "errors": counter(
            f"{name}errors",
            f"Errors skipped at a stage by catch{where}",
            labels=[*labels, "type"],
        ),
        "retries": counter(f"{name}retries", f"Calls made again by retry{where}", labels=labels),
        "time": counter(
            f"{name}stage_seconds", f"A stage's own time{where} (sampled estimate)", labels=labels
        ),
    }


def _add_counts(fam: dict[str, Any], key: list[str], s: StageStats) -> None:
    """A stage's (or a worker's row's) counts into the families of ``_count_families``."""
    fam["in"].add_metric(key, s.items_in if s.position else s.items_out)
    fam["out"].add_metric(key, s.items_out)
    fam["retries"].add_metric(key, s.retries)
    fam["time"].add_metric(key, s.time)
    for kind, n in s.errors_by_type.items():
        fam["errors"].add_metric([*key, kind], n)


def prometheus(
    stream: Stream[Any],
    *,
    registry: Any = None,
    pipeline: str | None = None,
    namespace: str = "hosepipe",
) -> Exporter:
    """Export *stream*'s live per-stage metrics to a prometheus_client *registry*.

    Needs the ``prometheus`` extra. Each scrape reads the stream's latest run
    (``Stream.stats()``), running or finished: counters ``<namespace>_items_in_total``,
    ``_items_out_total``, ``_errors_total`` (by exception ``type``), ``_retries_total``,
    ``_stage_seconds_total`` and ``_backpressure_wait_seconds_total``; gauges
    ``_queue_depth``, ``_queue_peak``, ``_queue_capacity`` (stages with a queue) and
    ``_run_seconds``; and the histogram ``_stage_latency_seconds`` (sampled per-item time
    of the element-wise and stateful stages and of the source). Every series has the
    labels ``pipeline`` (default: the stream's source label), ``position`` and ``stage``.
    A run on an engine with workers (``hp.engines.Dask``) also gives each worker's share of
    the stages the workers ran, with a ``worker`` label (its address), in the families
    ``<namespace>_worker_items_in_total``, ``_worker_items_out_total``,
    ``_worker_errors_total``, ``_worker_retries_total`` and ``_worker_stage_seconds_total``:
    a stage's worker series add up to its total.
    *registry* defaults to prometheus_client's global ``REGISTRY``. Serve it as usual, e.g.
    ``prometheus_client.start_http_server(9100, addr="127.0.0.1", registry=registry)``.

    >>> import hosepipe as hp
    >>> from prometheus_client import CollectorRegistry, generate_latest
    >>> registry = CollectorRegistry()
    >>> stream = hp.Stream(range(10)).filter(lambda x: x % 2)
    >>> exporter = hp.metrics.prometheus(stream, registry=registry, pipeline="odd")
    >>> stream.run().items_out
    5
    >>> text = generate_latest(registry).decode()
    >>> [l for l in text.splitlines() if l.startswith("hosepipe_items_out_total")][1]
    'hosepipe_items_out_total{pipeline="odd",position="1",stage="filter(<lambda>)"} 5.0'
    >>> exporter.close()
    """
    from hosepipe._stream import Stream

    if not isinstance(stream, Stream):
        raise TypeError(f"prometheus(): `stream` must be a Stream, got {stream!r}")
    if pipeline is not None and (not isinstance(pipeline, str) or not pipeline):
        raise ValueError(f"prometheus(): `pipeline` must be a non-empty str, got {pipeline!r}")
    client = require("prometheus_client", "prometheus", "hosepipe.metrics.prometheus()")
    if registry is None:
        registry = client.REGISTRY
    with _lock:
        collector = _collectors.get(registry)
        if collector is None or collector.namespace != namespace:
            collector = _Collector(namespace)
            registry.register(collector)
            _collectors[registry] = collector
    exporter = Exporter(collector, stream, pipeline or stream._source.label)
    collector.add(exporter)
    exporters = getattr(stream, "_exporters", None)
    if exporters is None:
        exporters = stream._exporters = []
    exporters.append(exporter)
    return exporter
