"""What a node's labels say: instance type, zone, region, node pool, on-demand or spot."""

from __future__ import annotations

from collections.abc import Mapping

ZONE_LABELS = ("topology.kubernetes.io/zone", "failure-domain.beta.kubernetes.io/zone")
REGION_LABELS = ("topology.kubernetes.io/region", "failure-domain.beta.kubernetes.io/region")
NODE_POOL_LABELS = (
    "karpenter.sh/nodepool",
    "karpenter.sh/provisioner-name",
    "eks.amazonaws.com/nodegroup",
    "alpha.eksctl.io/nodegroup-name",
    "cloud.google.com/gke-nodepool",
    "kubernetes.azure.com/agentpool",
    "agentpool",
    "doks.digitalocean.com/node-pool",
    "kops.k8s.io/instancegroup",
    "node.kubernetes.io/pool",
    "nodepool",
)

# label → values meaning spot/preemptible capacity (compared lower-case)
_SPOT_LABELS: dict[str, frozenset[str]] = {
    "karpenter.sh/capacity-type": frozenset({"spot"}),
    "eks.amazonaws.com/capacityType": frozenset({"spot"}),
    "cloud.google.com/gke-spot": frozenset({"true"}),
    "cloud.google.com/gke-preemptible": frozenset({"true"}),
    "cloud.google.com/gke-provisioning": frozenset({"spot", "preemptible"}),
    "kubernetes.azure.com/scalesetpriority": frozenset({"spot"}),
    "node.kubernetes.io/capacity-type": frozenset({"spot"}),
    "node-lifecycle": frozenset({"spot"}),
    "lifecycle": frozenset({"ec2spot", "spot"}),
}
SPOT_LABEL_KEYS = tuple(_SPOT_LABELS)


def first_label(labels: Mapping[str, str], keys: tuple[str, ...]) -> str | None:
    """Return the value of the first of ``keys`` present (and non-empty) in ``labels``."""
    for key in keys:
        value = labels.get(key)
        if value:
            return value
    return None


def capacity_type(labels: Mapping[str, str]) -> str:
    """Return ``spot`` when the usual EKS/GKE/AKS/Karpenter labels say so, else ``on-demand``."""
    for key, spot_values in _SPOT_LABELS.items():
        value = labels.get(key)
        if value is not None and value.lower() in spot_values:
            return "spot"
    return "on-demand"


def region_of(labels: Mapping[str, str], zone: str | None) -> str | None:
    """Return the region label, or derive it from an AWS/GCP/Azure-style zone name."""
    region = first_label(labels, REGION_LABELS)
    if region or not zone:
        return region
    if zone[-1].isalpha() and zone[-2:-1].isdigit():  # AWS: us-east-1a
        return zone[:-1]
    head, _, tail = zone.rpartition("-")
    if head and len(tail) == 1 and tail.isalpha():  # GCP: us-central1-a
        return head
    if head and tail.isdigit():  # Azure: eastus-1
        return head
    return None
