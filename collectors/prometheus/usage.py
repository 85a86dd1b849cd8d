"""Usage from Prometheus for a cluster without metrics-server (``collect --usage-from prometheus``).

``PrometheusUsage`` wraps the API's source: every kind comes from the API as usual, but the
metrics.k8s.io kinds are answered from cAdvisor series at the collection's instant (the same
queries a backfill makes, as instant queries). Prometheus down, or without those series,
degrades the snapshot to "usage unknown", as a missing metrics-server does.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from collectors.prometheus.client import Labels, PrometheusClient
from collectors.prometheus.families import BY_NAME
from collectors.prometheus.promql import Selectors
from collectors.prometheus.rebuild import InstantSource
from collectors.source import Kind, KindUnavailable, RawObject, Source, SourceError

USAGE_FAMILIES = (
    "container_cpu_usage_seconds_total",
    "container_memory_working_set_bytes",
    'container_cpu_usage_seconds_total{id="/"}',
    'container_memory_working_set_bytes{id="/"}',
)


class PrometheusUsage:
    """A ``Source``: ``inner``'s objects, with pod and node metrics from Prometheus."""

    def __init__(
        self, inner: Source, client: PrometheusClient, selectors: Selectors, *, rate_window: str = "5m"
    ) -> None:
        self.inner = inner
        self.client = client
        self.selectors = selectors
        self.rate_window = rate_window
        self._usage: InstantSource | None = None
        self._failed: str | None = None

    def __getattr__(self, name: str) -> Any:  # tls_verified and the like, from the API's source
        return getattr(self.inner, name)

    def pages(self, kind: Kind) -> Iterator[list[RawObject]]:
        if kind not in (Kind.POD_METRICS, Kind.NODE_METRICS):
            yield from self.inner.pages(kind)
            return
        if self._failed is None and self._usage is None:
            try:
                self._usage = self._read()
            except SourceError as exc:
                self._failed = f"usage from Prometheus: {exc}"
        if self._usage is None:
            raise KindUnavailable(kind, None, self._failed or "usage from Prometheus unknown")
        yield from self._usage.pages(kind)

    def _read(self) -> InstantSource:
        """Read the usage series at this instant (once per collection)."""
        at = datetime.now(UTC)
        samples: dict[str, list[tuple[Labels, float]]] = {}
        for name in USAGE_FAMILIES:
            query = BY_NAME[name].query(self.selectors, self.rate_window)
            samples[name] = [(s.labels, s.points[0][1]) for s in self.client.query(query, at) if s.points]
        missing = frozenset(name for name, rows in samples.items() if not rows)
        return InstantSource(samples, restore={}, missing=missing)
