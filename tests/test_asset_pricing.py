"""Volume and load-balancer prices: the resolution order, the catalog, effective-dated changes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from capacity.asset_pricing import GIB, asset_price
from capacity.catalog import HOURS_PER_MONTH
from capacity.config import Pricing, config_from_mapping
from capacity.errors import ConfigError
from capacity.records import LOAD_BALANCER, VOLUME, AssetKey


def volume(
    storage_class: str | None, provisioner: str | None, local: bool = False, **parameters: str
) -> AssetKey:
    return AssetKey(VOLUME, storage_class, provisioner, tuple(sorted(parameters.items())), local=local)


def per_gib_hour(pricing: Pricing, key: AssetKey) -> tuple[float, str]:
    price = asset_price(pricing, key)
    return price.unit_hourly * GIB, price.source


def pricing(**fields: object) -> Pricing:
    return config_from_mapping({"pricing": fields}).pricing


@pytest.mark.parametrize(
    ("key", "gib_month"),
    [
        (volume("gp3", "ebs.csi.aws.com", type="gp3"), 0.08),
        (volume("fast", "ebs.csi.aws.com", type="io2", iops="4000"), 0.125),
        (volume("csi-default", "ebs.csi.aws.com"), 0.08),  # the EBS CSI driver's default type: gp3
        (volume("gp2", "kubernetes.io/aws-ebs"), 0.10),  # the in-tree plugin's default: gp2
        (volume("sc1", "ebs.csi.aws.com", type="sc1"), 0.015),
        (volume("balanced", "pd.csi.storage.gke.io", type="pd-balanced"), 0.10),  # OpenCost #2460
        (volume("ssd", "kubernetes.io/gce-pd", type="pd-ssd"), 0.17),
        (volume("hd", "pd.csi.storage.gke.io", type="hyperdisk-balanced"), 0.06),
        (volume("managed-premium", "disk.csi.azure.com", skuName="Premium_LRS"), 0.154),
        (volume("managed", "disk.csi.azure.com", skuname="standardssd_lrs"), 0.075),  # any case
        (volume("old-azure", "kubernetes.io/azure-disk", storageaccounttype="Standard_LRS"), 0.046),
    ],
)
def test_the_catalog_prices_disks_by_provisioner_and_type(key: AssetKey, gib_month: float) -> None:
    assert per_gib_hour(Pricing(), key) == (pytest.approx(gib_month / HOURS_PER_MONTH), "catalog")


def test_config_by_class_then_by_provisioner_and_parameters_then_catalog_then_default() -> None:
    configured = pricing(
        storage_classes={"gp3": {"gib_hour": 0.0002}},
        storage_provisioners=[
            {"provisioner": "ebs.csi.aws.com", "parameters": {"type": "io2"}, "gib_hour": 0.0003},
            {"provisioner": "nfs.csi.k8s.io", "gib_hour": 0.00001},
        ],
        default_storage_gib_hour=0.00007,
    )
    assert per_gib_hour(configured, volume("gp3", "ebs.csi.aws.com", type="io2")) == (
        0.0002,
        "config",
    )  # class
    assert per_gib_hour(configured, volume("fast", "ebs.csi.aws.com", type="io2")) == (0.0003, "config")
    assert per_gib_hour(configured, volume("nfs", "nfs.csi.k8s.io", server="x")) == (0.00001, "config")
    st1 = per_gib_hour(configured, volume("cold", "ebs.csi.aws.com", type="st1"))
    assert st1 == (pytest.approx(0.045 / HOURS_PER_MONTH), "catalog")  # a parameter configured above differs
    assert per_gib_hour(configured, volume("ceph", "rbd.csi.ceph.com")) == (0.00007, "default")
    assert per_gib_hour(Pricing(), volume(None, None)) == (pytest.approx(0.04 / 730), "default")  # OpenCost's
    no_catalog = pricing(catalog=False)
    assert per_gib_hour(no_catalog, volume("gp3", "ebs.csi.aws.com"))[1] == "default"
    assert per_gib_hour(pricing(currency="EUR"), volume("gp3", "ebs.csi.aws.com"))[1] == "default"


def test_local_volumes_are_part_of_their_node_unless_configured() -> None:
    local = volume("local-path", "rancher.io/local-path", local=True)
    assert per_gib_hour(Pricing(), local) == (0.0, "node")
    charged = pricing(storage_classes={"local-path": {"gib_hour": 0.0001}})
    assert per_gib_hour(charged, local) == (pytest.approx(0.0001), "config")  # on-prem disks (OpenCost #2328)


def test_load_balancers_by_class_else_the_default() -> None:
    nlb = AssetKey(LOAD_BALANCER, load_balancer_class="service.k8s.aws/nlb")
    plain = AssetKey(LOAD_BALANCER)
    configured = pricing(load_balancer_classes={"service.k8s.aws/nlb": 0.0225})
    assert asset_price(configured, nlb).unit_hourly == 0.0225
    assert (asset_price(configured, plain).unit_hourly, asset_price(configured, plain).source) == (
        0.025,
        "default",
    )
    assert asset_price(pricing(load_balancer_hourly=0.03), nlb).unit_hourly == 0.03


def test_storage_and_load_balancer_prices_change_on_their_day() -> None:
    dated = pricing(
        storage_classes={"gp3": {"gib_hour": 0.0001}},
        load_balancer_hourly=0.025,
        changes=[{"since": "2026-10-01", "storage_classes": {"gp3": {"gib_hour": 0.0002}},
                  "load_balancer_hourly": 0.05}],
    )  # fmt: skip
    gp3, lb = volume("gp3", "ebs.csi.aws.com"), AssetKey(LOAD_BALANCER)
    before, after = (
        dated.at(datetime(2026, 9, 30, 23, tzinfo=UTC)),
        dated.at(datetime(2026, 10, 1, tzinfo=UTC)),
    )
    assert per_gib_hour(before, gp3)[0] == pytest.approx(0.0001)
    assert per_gib_hour(after, gp3)[0] == pytest.approx(0.0002)
    assert (asset_price(before, lb).unit_hourly, asset_price(after, lb).unit_hourly) == (0.025, 0.05)


def test_a_negative_storage_price_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="gib_hour"):
        pricing(storage_classes={"gp3": {"gib_hour": -1}})
