"""Factories for normalized snapshot records (what collectors hand to the store)."""

from __future__ import annotations

from datetime import UTC, datetime

from capacity.records import (
    ContainerSample,
    NamespaceRecord,
    NodeRecord,
    PodRecord,
    PriceKey,
    QuotaRecord,
    Resources,
    Snapshot,
    WorkloadKey,
)

GIB = 1024.0**3
T0 = datetime(2026, 11, 1, tzinfo=UTC)


def node(name: str, *, cpu: float = 4.0, memory: float = 16 * GIB, requested_cpu: float = 1.0) -> NodeRecord:
    return NodeRecord(
        name=name,
        instance_type="m6i.xlarge",
        capacity_type="on-demand",
        zone="us-east-1a",
        region="us-east-1",
        node_pool="general",
        labels={"node.kubernetes.io/instance-type": "m6i.xlarge"},
        capacity=Resources(cpu, memory, 0.0),
        allocatable=Resources(cpu - 0.1, memory - GIB, 0.0),
        pods_allocatable=110,
        ready=True,
        unschedulable=False,
        requested=Resources(requested_cpu, 2 * GIB, 0.0),
        usage=Resources(0.5, GIB, 0.0),
        price_key=node_key(cpu=cpu, memory=memory),
    )


def node_key(*, cpu: float = 4.0, memory: float = 16 * GIB, hourly: float = 0.192) -> PriceKey:
    """The price key of a factory node: an m6i.xlarge priced by its override label at ``hourly``."""
    return PriceKey("m6i.xlarge", "on-demand", "us-east-1", hourly, cpu, memory, 0.0)


def container(
    namespace: str, name: str, *, replicas: int = 2, container_name: str = "app"
) -> ContainerSample:
    return ContainerSample(
        workload=WorkloadKey(namespace, "Deployment", name),
        container=container_name,
        replicas=replicas,
        cpu_request=0.5 * replicas,
        memory_request=GIB * replicas,
        gpu_request=0.0,
        cpu_limit=None,
        memory_limit=2 * GIB * replicas,
        usage_replicas=replicas,
        cpu_usage_sum=0.1 * replicas,
        memory_usage_sum=0.5 * GIB * replicas,
        cpu_usage_max=0.1,
        memory_usage_max=0.5 * GIB,
        cpu_allocated=0.5 * replicas,
        memory_allocated=GIB * replicas,
        restarts=0,
        oom_kills=0,
        pending_replicas=0,
        pending_cpu_request=0.0,
        pending_memory_request=0.0,
        allocations={node_key(): (0.5 * replicas, GIB * replicas, 0.0)},
    )


def pod(namespace: str, workload: str, name: str, node_name: str | None) -> PodRecord:
    return PodRecord(
        namespace=namespace,
        name=name,
        node=node_name,
        phase="Running" if node_name else "Pending",
        workload=WorkloadKey(namespace, "Deployment", workload),
        request=Resources(0.5, GIB, 0.0),
        usage=Resources(0.1, 0.5 * GIB, 0.0) if node_name else None,
        priority=0,
        node_selector={"kubernetes.io/os": "linux"},
        required_affinity=[],
        tolerations=[{"key": "spot", "operator": "Exists"}],
        daemonset=False,
        restarts=0,
        oom_kills=0,
    )


def snapshot(
    cluster: str = "prod", taken_at: datetime = T0, *, workloads: int = 3, nodes: int = 2
) -> Snapshot:
    """Return a consistent small snapshot: ``workloads`` Deployments of 2 replicas over ``nodes``."""
    node_records = [node(f"{cluster}-node-{i}") for i in range(nodes)]
    containers = [container("shop", f"web-{i}") for i in range(workloads)]
    pods = [
        pod("shop", f"web-{i}", f"web-{i}-abc-{r}", node_records[(i + r) % nodes].name)
        for i in range(workloads)
        for r in range(2)
    ]
    return Snapshot(
        cluster=cluster,
        taken_at=taken_at,
        source="test",
        usage_known=True,
        namespaces=[NamespaceRecord("shop", {"team": "checkout"}), NamespaceRecord("kube-system", {})],
        workload_labels={c.workload: {"app": c.workload.name} for c in containers},
        nodes=node_records,
        containers=containers,
        pods=pods,
        quotas=[QuotaRecord("shop", "compute", "requests.cpu", 10.0, 3.0)],
        warnings=["pod metrics: example warning"],
    )
