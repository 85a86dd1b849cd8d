"""collectors.nodes: instance type, zone, region, node pool and capacity type from node labels."""

from __future__ import annotations

import pytest

from capacity.analysis.scheduling import INSTANCE_TYPE_LABELS
from collectors.nodes import (
    NODE_POOL_LABELS,
    REGION_LABELS,
    ZONE_LABELS,
    capacity_type,
    first_label,
    region_of,
)
from tests import k8s_fixtures as fx


@pytest.mark.parametrize(
    "labels",
    [
        {"karpenter.sh/capacity-type": "spot"},
        {"eks.amazonaws.com/capacityType": "SPOT"},
        {"cloud.google.com/gke-spot": "true"},
        {"cloud.google.com/gke-preemptible": "true"},
        {"kubernetes.azure.com/scalesetpriority": "spot"},
        {"kubernetes.io/os": "linux", "karpenter.sh/capacity-type": "spot"},
    ],
)
def test_spot_labels(labels: dict[str, str]) -> None:
    assert capacity_type(labels) == "spot"


@pytest.mark.parametrize(
    "labels",
    [
        {},
        {"kubernetes.io/os": "linux"},
        {"eks.amazonaws.com/capacityType": "ON_DEMAND"},
        {"karpenter.sh/capacity-type": "on-demand"},
        {"karpenter.sh/capacity-type": "reserved"},
        {"cloud.google.com/gke-spot": "false"},
        {"cloud.google.com/gke-preemptible": "false"},
        {"kubernetes.azure.com/scalesetpriority": "regular"},
        {"spot": "true"},  # not a label any provider sets
    ],
)
def test_on_demand_labels(labels: dict[str, str]) -> None:
    assert capacity_type(labels) == "on-demand"


def test_first_label_prefers_the_ga_label_and_skips_empty_values() -> None:
    both = {
        "node.kubernetes.io/instance-type": "m6i.xlarge",
        "beta.kubernetes.io/instance-type": "m5.xlarge",
    }
    assert first_label(both, INSTANCE_TYPE_LABELS) == "m6i.xlarge"
    empty_ga = {"node.kubernetes.io/instance-type": "", "beta.kubernetes.io/instance-type": "m5.xlarge"}
    assert first_label(empty_ga, INSTANCE_TYPE_LABELS) == "m5.xlarge"
    assert first_label({}, INSTANCE_TYPE_LABELS) is None


@pytest.mark.parametrize(
    ("zone", "region"),
    [
        ("us-east-1a", "us-east-1"),  # AWS
        ("ap-southeast-2c", "ap-southeast-2"),
        ("us-central1-a", "us-central1"),  # GCP
        ("europe-west4-b", "europe-west4"),
        ("eastus-1", "eastus"),  # Azure
        ("westeurope-3", "westeurope"),
    ],
)
def test_region_derived_from_zone(zone: str, region: str) -> None:
    assert region_of({}, zone) == region


@pytest.mark.parametrize("zone", [None, "", "0", "sfo2", "zone"])
def test_region_unknown_without_label_or_recognisable_zone(zone: str | None) -> None:
    assert region_of({}, zone) is None


def test_explicit_region_label_wins_over_the_zone() -> None:
    labels = {"topology.kubernetes.io/region": "eu-west-1", "topology.kubernetes.io/zone": "us-east-1a"}
    assert region_of(labels, "us-east-1a") == "eu-west-1"
    beta = {"failure-domain.beta.kubernetes.io/region": "us-west-2"}
    assert region_of(beta, "us-east-1a") == "us-west-2"
    assert region_of({"topology.kubernetes.io/region": "sfo2"}, None) == "sfo2"


# -- real payloads -------------------------------------------------------------------------


def test_sonobuoy_nodes_have_only_beta_labels() -> None:
    nodes = fx.sonobuoy_nodes()
    assert len(nodes) == 3
    for node in nodes:
        labels = node["metadata"]["labels"]
        assert "node.kubernetes.io/instance-type" not in labels  # the point of this fixture
        zone = first_label(labels, ZONE_LABELS)
        assert first_label(labels, INSTANCE_TYPE_LABELS) == "m3.medium"
        assert zone == "us-west-2a"
        assert region_of(labels, zone) == "us-west-2"
        assert first_label(labels, REGION_LABELS) == "us-west-2"
        # without the region label, derived from the zone
        no_region = {k: v for k, v in labels.items() if k not in REGION_LABELS}
        assert region_of(no_region, zone) == "us-west-2"
        assert capacity_type(labels) == "on-demand"
        assert first_label(labels, NODE_POOL_LABELS) is None


def test_doks_nodes() -> None:
    got = {}
    for node in fx.doks_nodes():
        labels = node["metadata"].get("labels") or {}
        zone = first_label(labels, ZONE_LABELS)
        got[node["metadata"]["name"]] = (
            first_label(labels, INSTANCE_TYPE_LABELS),
            first_label(labels, NODE_POOL_LABELS),
            region_of(labels, zone),
            capacity_type(labels),
        )
    assert got == {
        # microk8s node without any cloud labels
        "repldev-marc": (None, None, None, "on-demand"),
        # DigitalOcean pools: doks.digitalocean.com/node-pool; region sfo2, no zone label
        "biggernode-3i745": ("g-8vcpu-32gb", "biggernode", "sfo2", "on-demand"),
        "pool-yd23sqk7u-3i7i7": ("s-2vcpu-4gb", "pool-yd23sqk7u", "sfo2", "on-demand"),
        "pool-yd23sqk7u-3i7it": ("s-2vcpu-4gb", "pool-yd23sqk7u", "sfo2", "on-demand"),
        "pool-yd23sqk7u-3i7v3": ("s-2vcpu-4gb", "pool-yd23sqk7u", "sfo2", "on-demand"),
        "smallnode-3i74t": ("s-1vcpu-2gb", "smallnode", "sfo2", "on-demand"),
        # kURL GPU node on AWS (nvidia.com/gpu.machine says g4dn.xlarge, but no instance-type label)
        "ip-172-31-21-92": (None, None, None, "on-demand"),
    }
