"""A node object → its facts (capacity, allocatable, labels, readiness) and its price key."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from capacity.analysis.scheduling import INSTANCE_TYPE_LABELS
from capacity.config import Pricing
from capacity.pricing import price_key
from capacity.records import (
    ZERO,
    PriceKey,
    Resources,
)
from collectors.gpu_units import replicas_of
from collectors.nodes import (
    NODE_POOL_LABELS,
    ZONE_LABELS,
    capacity_type,
    first_label,
    region_of,
)
from collectors.pods import resources_of
from collectors.quantity import parse
from collectors.raw import MALFORMED, describe, labels, mapping, name_of, sequence
from collectors.shapes import Node


@dataclass(slots=True)
class NodeFacts:
    """A node before the pods are folded in: everything but what is requested on it."""

    name: str
    instance_type: str | None
    capacity_type: str
    zone: str | None
    region: str | None
    node_pool: str | None
    labels: dict[str, str]
    capacity: Resources
    allocatable: Resources
    pods_allocatable: int
    ready: bool
    unschedulable: bool
    price_key: PriceKey
    usage: Resources | None = None
    requested: Resources = ZERO
    taints: list[object] = field(default_factory=list)
    gpu_share: float = 1.0  # of a physical GPU, one advertised GPU (time-slicing: 1 / replicas)


def node_facts(item: Node, pricing: Pricing, warn: Callable[[str], None]) -> NodeFacts | None:
    """Return a node's facts and prices; None (with a warning) when it cannot be read at all."""
    meta = item.get("metadata") or {}
    name = name_of(meta.get("name") if isinstance(meta, dict) else None)
    if not name:
        warn("node without a valid name ignored")
        return None
    where = f"node {name}"
    try:
        return _node_facts(item, name, pricing, warn)
    except MALFORMED as exc:
        warn(f"{where}: malformed object ignored ({describe(exc)})")
        return None


def _node_facts(item: Node, name: str, pricing: Pricing, warn: Callable[[str], None]) -> NodeFacts:
    where = f"node {name}"
    meta = item["metadata"]
    node_labels = labels(meta, where, warn)
    status = mapping(item.get("status"), f"{where} status", warn)
    capacity_block = mapping(status.get("capacity"), f"{where} capacity", warn)
    allocatable_block = mapping(status.get("allocatable"), f"{where} allocatable", warn)
    capacity = resources_of(capacity_block, f"{where} capacity", warn)
    allocatable = (
        resources_of(allocatable_block, f"{where} allocatable", warn) if allocatable_block else capacity
    )
    replicas = replicas_of(node_labels)
    if replicas > 1:  # time-sliced: each GPU advertised ``replicas`` times
        capacity = Resources(capacity.cpu, capacity.memory, capacity.gpu / replicas)
        allocatable = Resources(allocatable.cpu, allocatable.memory, allocatable.gpu / replicas)
    if capacity == ZERO:
        # Capacity is what is priced: without it the node would cost nothing and every pod on
        # it would be free.
        if allocatable != ZERO:
            warn(f"{where}: no capacity reported; its allocatable is priced instead")
            capacity = allocatable
        else:
            warn(f"{where}: reports neither capacity nor allocatable; priced by its instance type alone")
    pods_raw = (allocatable_block or capacity_block).get("pods")
    try:
        pods_allocatable = int(parse(pods_raw)) if pods_raw is not None else 0
    except ValueError:
        warn(f"{where}: malformed pods allocatable {pods_raw!r} ignored")
        pods_allocatable = 0
    zone = first_label(node_labels, ZONE_LABELS)
    instance_type = first_label(node_labels, INSTANCE_TYPE_LABELS)
    ctype = capacity_type(node_labels)
    region = region_of(node_labels, zone)
    annotations = labels(meta, where, warn, key="annotations")

    def key(with_pricing: Pricing) -> PriceKey:
        return price_key(
            with_pricing,
            capacity=capacity,
            instance_type=instance_type,
            capacity_type=ctype,
            region=region,
            labels=node_labels,
            annotations=annotations,
        )

    try:
        node_key = key(pricing)
    except ValueError as exc:
        warn(f"{where}: price override {exc}; priced by configuration instead")
        node_key = key(pricing.model_copy(update={"node_price_label": None}))
    spec = mapping(item.get("spec"), f"{where} spec", warn)
    taints: list[object] = [
        t for t in sequence(spec.get("taints"), f"{where} taints", warn) if isinstance(t, dict)
    ]
    conditions = sequence(status.get("conditions"), f"{where} conditions", warn)
    ready = any(
        isinstance(c, dict) and c.get("type") == "Ready" and c.get("status") == "True" for c in conditions
    )
    return NodeFacts(
        name=name,
        instance_type=instance_type,
        capacity_type=ctype,
        zone=zone,
        region=region,
        node_pool=first_label(node_labels, NODE_POOL_LABELS),
        labels=node_labels,
        capacity=capacity,
        allocatable=allocatable,
        pods_allocatable=pods_allocatable,
        ready=ready,
        unschedulable=bool(spec.get("unschedulable")),
        price_key=node_key,
        taints=taints,
        gpu_share=1.0 / replicas,
    )
