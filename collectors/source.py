"""The seam between where Kubernetes objects come from and how they are normalized.

A source yields pages of raw API objects (decoded JSON, as the API serves them) for each
kind the collector reads. The live API (``collectors.kube``) and the simulated fleet
(``collectors.simulator``) are both sources, so simulated data takes exactly the
normalization, pricing and storage path that live data takes.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from typing import Any, Protocol


class Kind(enum.Enum):
    """Every kind the collector reads, with its API path (cluster-wide list)."""

    NAMESPACES = ("namespaces", "/api/v1/namespaces")
    NODES = ("nodes", "/api/v1/nodes")
    PODS = ("pods", "/api/v1/pods")
    REPLICASETS = ("replicasets", "/apis/apps/v1/replicasets")
    JOBS = ("jobs", "/apis/batch/v1/jobs")
    RESOURCEQUOTAS = ("resourcequotas", "/api/v1/resourcequotas")
    PERSISTENTVOLUMES = ("persistentvolumes", "/api/v1/persistentvolumes")
    PERSISTENTVOLUMECLAIMS = ("persistentvolumeclaims", "/api/v1/persistentvolumeclaims")
    STORAGECLASSES = ("storageclasses", "/apis/storage.k8s.io/v1/storageclasses")
    SERVICES = ("services", "/api/v1/services")
    HORIZONTALPODAUTOSCALERS = ("horizontalpodautoscalers", "/apis/autoscaling/v2/horizontalpodautoscalers")
    POD_METRICS = ("pod metrics", "/apis/metrics.k8s.io/v1beta1/pods")
    NODE_METRICS = ("node metrics", "/apis/metrics.k8s.io/v1beta1/nodes")

    def __init__(self, label: str, path: str) -> None:
        self.label = label
        self.path = path


# Kinds whose absence (403 Forbidden, 404 Not Found, 503 from an aggregated API) degrades
# the snapshot with a warning instead of failing it.
OPTIONAL_KINDS = frozenset(
    {
        Kind.REPLICASETS, Kind.JOBS, Kind.RESOURCEQUOTAS, Kind.PERSISTENTVOLUMES,
        Kind.PERSISTENTVOLUMECLAIMS, Kind.STORAGECLASSES, Kind.SERVICES, Kind.HORIZONTALPODAUTOSCALERS,
        Kind.POD_METRICS, Kind.NODE_METRICS,
    }
)  # fmt: skip

RawObject = dict[str, Any]


class SourceError(Exception):
    """A source failed; the message is one line meant for the user."""


class ClusterUnreachable(SourceError):
    """The cluster could not be reached or refused us: nothing of the snapshot is usable."""


class KindUnavailable(SourceError):
    """One kind cannot be listed (forbidden, not served); the snapshot degrades without it."""

    def __init__(self, kind: Kind, status: int | None, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.status = status


class CollectionStopped(SourceError):
    """A stop was requested (SIGTERM/SIGINT) while the collection waited to retry; nothing is written."""


class ListExpired(SourceError):
    """The list's continue token expired (410 Gone) after pages were already handed out.

    The caller must drop what it folded in from this list and call ``pages`` again: a
    restarted list is a new consistent snapshot.
    """


class Source(Protocol):
    """Anything that lists raw Kubernetes objects of one cluster, a page at a time."""

    def pages(self, kind: Kind) -> Iterator[list[RawObject]]:
        """Yield the items of ``kind``, one page (list of raw objects) at a time.

        Raises ``ListExpired`` when the list expired after pages were yielded (start over),
        ``KindUnavailable`` when the kind cannot be listed and ``ClusterUnreachable``
        when the cluster cannot be reached at all.
        """
        ...
