"""The public face of the simulator: a fleet of clusters, and one cluster at one instant as a Source."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice
from typing import Any

from collectors.gcpause import cyclic_gc_paused
from collectors.simulator._catalog import CLUSTER_TEMPLATES, ClusterTemplate, PoolTemplate
from collectors.simulator._instant import Instant
from collectors.simulator._model import B
from collectors.simulator._plan import ClusterModel
from collectors.simulator._render_nodes import node, node_labels, node_metrics, pod_metrics
from collectors.simulator._render_objects import autoscalers, jobs, namespaces, quotas, replicasets
from collectors.simulator._render_pods import Renderer
from collectors.simulator._render_storage import claims, services, storage_classes, volumes
from collectors.simulator._system import nodes_needed, nominal_demand_of
from collectors.simulator._util import mix, skey, unit
from collectors.source import Kind, KindUnavailable

PAGE_SIZE = 500
RawObject = dict[str, Any]


@dataclass(frozen=True)
class FleetSpec:
    """What fleet to simulate. The same spec always simulates the same fleet."""

    seed: int = 0
    clusters: int = 3
    teams: int = 40
    target_pods: int = 2000  # total across clusters at the start (nominal load)
    managed_fields: bool = False  # include metadata.managedFields (realistic size, slower)
    metrics_outages: bool = False  # metrics-server is sometimes down (503) on non-production clusters


def _epoch(at: datetime) -> int:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"instant must be timezone-aware (UTC), got {at!r}")
    return math.floor(at.timestamp())


class Fleet:
    """A deterministic multi-cluster fleet whose history starts at ``start``."""

    def __init__(self, spec: FleetSpec, *, start: datetime) -> None:
        self.spec = spec
        self.start = start
        self._start = _epoch(start)
        n = max(1, spec.clusters)
        self._templates: dict[str, ClusterTemplate] = {}
        for i in range(n):
            tpl = CLUSTER_TEMPLATES[i % len(CLUSTER_TEMPLATES)]
            name = tpl.name if i < len(CLUSTER_TEMPLATES) else f"{tpl.name}-{i // len(CLUSTER_TEMPLATES) + 1}"
            self._templates[name] = tpl
        self.cluster_names: list[str] = list(self._templates)
        self._weight = sum(t.weight for t in self._templates.values())
        self._models: dict[str, ClusterModel] = {}

    @property
    def teams(self) -> list[str]:
        """Every team that owns workloads somewhere in the fleet."""
        seen: dict[str, None] = {}
        for name in self.cluster_names:
            for w in self.model(name).workloads:
                if w.team:
                    seen[w.team] = None
        return list(seen)

    def model(self, cluster: str) -> ClusterModel:
        m = self._models.get(cluster)
        if m is None:
            if cluster not in self._templates:
                raise KeyError(f"no cluster {cluster!r} in the fleet (have {', '.join(self.cluster_names)})")
            tpl = self._templates[cluster]
            target = max(50, round(self.spec.target_pods * tpl.weight / self._weight))
            m = ClusterModel(
                tpl,
                cluster,
                seed=self.spec.seed,
                teams=self.spec.teams,
                target_pods=target,
                start=self._start,
                managed_fields=self.spec.managed_fields,
            )
            self._models[cluster] = m
        return m

    def source(self, cluster: str, at: datetime) -> SimulatedSource:
        """The cluster as the API would show it at instant ``at``."""
        m = self.model(cluster)
        t = _epoch(at)
        down = False
        if self.spec.metrics_outages and m.tpl.env != "production":
            b = t // B
            local = (t + m.off_s) % (7 * 86400)
            weekly = 6 * 86400 + 3 * 3600 <= local < 6 * 86400 + 5 * 3600  # Wednesday 03:00-05:00 local
            down = weekly or unit(mix(m.key, b, 0x0D7)) < 0.01
        return SimulatedSource(m, t, metrics_down=down)


# kinds rendered from the instant alone
_OBJECTS: dict[Kind, Callable[[Instant], Iterator[RawObject]]] = {
    Kind.NAMESPACES: namespaces,
    Kind.REPLICASETS: replicasets,
    Kind.JOBS: jobs,
    Kind.RESOURCEQUOTAS: quotas,
    Kind.PERSISTENTVOLUMES: volumes,
    Kind.PERSISTENTVOLUMECLAIMS: claims,
    Kind.STORAGECLASSES: storage_classes,
    Kind.SERVICES: services,
    Kind.HORIZONTALPODAUTOSCALERS: autoscalers,
}


class SimulatedSource:
    """One cluster at one instant; implements ``collectors.source.Source``.

    Objects are built on demand, a page at a time, and share their unchanging parts with each
    other: treat them as read-only.
    """

    page_size = PAGE_SIZE

    def __init__(self, model: ClusterModel, t: int, *, metrics_down: bool = False) -> None:
        self.model = model
        self.cluster = model.name
        self.t = t
        self.metrics_down = metrics_down
        self._inst: Instant | None = None

    @property
    def at(self) -> datetime:
        return datetime.fromtimestamp(self.t, UTC)

    @property
    def instant(self) -> Instant:
        if self._inst is None:
            with cyclic_gc_paused():
                self._inst = Instant(self.model, self.t)
        return self._inst

    @property
    def resource_version(self) -> str:
        """A list resourceVersion for this instant."""
        return str(int(self.t - 1_500_000_000) * 4 + 3)

    def _iter(self, kind: Kind) -> Iterator[RawObject]:
        if kind in (Kind.POD_METRICS, Kind.NODE_METRICS) and self.metrics_down:
            raise KindUnavailable(
                kind,
                503,
                f"the server is currently unable to handle the request (get {kind.path.rsplit('/', 1)[1]}"
                ".metrics.k8s.io)",
            )
        inst = self.instant
        self.model.cache.tick(self.t)
        if kind is Kind.PODS:
            return Renderer(inst).pods()
        if kind is Kind.NODES:
            return self._nodes(inst)
        render = _OBJECTS.get(kind)
        if render is not None:
            return render(inst)
        if kind is Kind.POD_METRICS:
            return pod_metrics(inst)
        if kind is Kind.NODE_METRICS:
            m = self.model
            return node_metrics(inst, {n.name: node_labels(m, n) for n in inst.nodes})
        raise KindUnavailable(kind, 404, f"the server could not find the requested resource ({kind.label})")

    def _nodes(self, inst: Instant) -> Iterator[RawObject]:
        m = self.model
        for n in inst.nodes:
            yield node(inst, n, node_labels(m, n))

    def pages(self, kind: Kind) -> Iterator[list[RawObject]]:
        """Yield the items of ``kind`` in pages of ``page_size``, each page built when asked for.

        A kind with no objects yields one empty page, as the API answers a list with no items.
        """
        with cyclic_gc_paused():
            objs = self._iter(kind)
            page = list(islice(objs, self.page_size))
        yield page
        while len(page) == self.page_size:
            with cyclic_gc_paused():
                page = list(islice(objs, self.page_size))
            if not page:
                return
            yield page

    def items(self, kind: Kind) -> list[RawObject]:
        """Every item of ``kind`` at once."""
        with cyclic_gc_paused():
            return list(self._iter(kind))


_HUGE = ClusterTemplate(
    "bench-us-east-1",
    "aws",
    "us-east-1",
    ("us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d"),
    "production",
    -5.0,
    1.0,
    1.0,
    (
        PoolTemplate("system", "nodegroup", ("system",), ("m6i.2xlarge",)),
        PoolTemplate("general", "karpenter", ("general",), ("m6i.8xlarge", "m6i.4xlarge", "m7i.2xlarge")),
        PoolTemplate("compute", "karpenter", ("compute",), ("c6i.4xlarge", "c6a.4xlarge")),
        PoolTemplate("memory", "karpenter", ("memory",), ("r6i.4xlarge",)),
        PoolTemplate("spot", "karpenter", ("spot",), ("m6i.4xlarge", "m6a.2xlarge", "m5.2xlarge"), spot=True),
        PoolTemplate("gpu", "karpenter", ("gpu",), ("g5.2xlarge",)),
    ),
    "v1.31.4-eks-aeac579",
    "karpenter",
)


def huge_cluster(
    *, nodes: int = 5000, pods: int = 150_000, seed: int = 0, at: datetime, managed_fields: bool = True
) -> SimulatedSource:
    """One very large cluster at one instant (benchmarks): ``nodes`` nodes, about ``pods`` pods.

    Node counts are fixed per pool (split by what the pods request); replica counts do not
    autoscale, so the pod count is close to ``pods`` at any instant.
    """
    t = _epoch(at)
    teams = max(46, pods // 350)

    def split(m: ClusterModel) -> dict[str, int]:
        dem = nominal_demand_of(m.pools, m.workloads)
        need = []
        for p in m.pools:
            cpu, mem, gpu, pods, cpu_sq, mem_sq = dem[p.idx]
            need.append(max(0.5, nodes_needed(p, cpu, mem, gpu, pods, cpu_sq, mem_sq, eff=0.8)))
        total = sum(need)
        counts = [max(1, math.floor(nodes * x / total)) for x in need]
        counts[1] += nodes - sum(counts)
        return {p.tpl.name: c for p, c in zip(m.pools, counts, strict=True)}

    m = ClusterModel(
        _HUGE,
        _HUGE.name,
        seed=mix(seed, skey("huge")),
        teams=teams,
        target_pods=pods,
        start=t - 14 * 86400,
        managed_fields=managed_fields,
        total_nodes=nodes,
        split=split,
    )
    return SimulatedSource(m, t)
