"""capacity.pricing: node price resolution and OpenCost's split into unit prices."""

from __future__ import annotations

import math
from collections.abc import Mapping

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from capacity.config import InstancePrice, Pricing, ResourceRates
from capacity.pricing import default_price, key_prices, price_key, split_price
from capacity.records import Resources, UnitPrices

GIB = 1024.0**3
ON_DEMAND = ResourceRates(cpu_core_hour=0.031611, memory_gib_hour=0.004237, gpu_hour=0.95)
SPOT = ResourceRates(cpu_core_hour=0.006655, memory_gib_hour=0.000892, gpu_hour=0.95)
M6I = Resources(cpu=4, memory=16 * GIB, gpu=0)  # m6i.xlarge-like capacity
LABEL = "capacity.dev/hourly-price"


def prices(
    pricing: Pricing,
    *,
    instance_type: str | None = "m6i.xlarge",
    capacity_type: str = "on-demand",
    region: str | None = None,
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
    capacity: Resources = M6I,
    catalog: bool = False,
) -> UnitPrices:
    # The bundled catalog knows m6i.xlarge; tests of the other steps turn it off.
    pricing = pricing if catalog else pricing.model_copy(update={"catalog": False})
    key = price_key(
        pricing,
        capacity=capacity,
        instance_type=instance_type,
        capacity_type=capacity_type,
        region=region,
        labels=labels or {},
        annotations=annotations or {},
    )
    return key_prices(pricing, key)


def priced(**instance_types: InstancePrice) -> Pricing:
    return Pricing(instance_types=instance_types)


def recombined(p: UnitPrices, capacity: Resources) -> float:
    return (
        p.cpu_core_hourly * capacity.cpu
        + p.memory_byte_hourly * capacity.memory
        + p.gpu_hourly * capacity.gpu
    )


# -- split ---------------------------------------------------------------------------------


def test_opencost_worked_example() -> None:
    # 1 GPU, 1 CPU, 1 GB at 35 with base prices GPU 30, CPU 30, RAM 10: at base prices the node
    # would cost 70, so every base price is scaled by 35/70: 15 / 5 / 15.
    p = split_price(
        35,
        Resources(cpu=1, memory=GIB, gpu=1),
        ResourceRates(cpu_core_hour=30, memory_gib_hour=10, gpu_hour=30),
        "x",
    )
    assert p.cpu_core_hourly * 1 == pytest.approx(15)
    assert p.memory_byte_hourly * GIB == pytest.approx(5)
    assert p.gpu_hourly == pytest.approx(15)
    assert p.node_hourly == 35
    assert p.source == "x"


def test_split_of_a_cpu_memory_node_keeps_the_default_ratio() -> None:
    # 4 CPU / 16 GiB at 0.192: default price 0.194236, scale 0.192 / 0.194236
    p = split_price(0.192, M6I, ON_DEMAND, "config")
    scale = 0.192 / (4 * 0.031611 + 16 * 0.004237)
    assert p.cpu_core_hourly == pytest.approx(0.031611 * scale)
    assert p.memory_byte_hourly * GIB == pytest.approx(0.004237 * scale)
    assert recombined(p, M6I) == pytest.approx(0.192)


def test_split_of_a_node_without_capacity_does_not_divide_by_zero() -> None:
    p = split_price(1.0, Resources(), ON_DEMAND, "override")
    assert p.node_hourly == 1.0
    assert (p.cpu_core_hourly, p.memory_byte_hourly, p.gpu_hourly) == (0.0, 0.0, 0.0)


_cpu = st.one_of(st.just(0.0), st.floats(min_value=0.001, max_value=1024))
_memory = st.one_of(st.just(0.0), st.floats(min_value=2.0**20, max_value=2.0**45))
_gpu = st.integers(min_value=0, max_value=16).map(float)
_rate = st.floats(min_value=1e-6, max_value=100)


@settings(max_examples=200, deadline=None, database=None)
@given(
    cpu=_cpu,
    memory=_memory,
    gpu=_gpu,
    rates=st.one_of(
        st.sampled_from([ON_DEMAND, SPOT]),
        st.builds(ResourceRates, cpu_core_hour=_rate, memory_gib_hour=_rate, gpu_hour=_rate),
    ),
    node_price=st.floats(min_value=0, max_value=1000),
)
def test_unit_prices_times_capacity_add_up_to_the_node_price(
    cpu: float, memory: float, gpu: float, rates: ResourceRates, node_price: float
) -> None:
    capacity = Resources(cpu=cpu, memory=memory, gpu=gpu)
    if default_price(capacity, rates) <= 0:
        assume(False)  # nothing to split over (covered by the zero-capacity test)
    p = split_price(node_price, capacity, rates, "x")
    assert min(p.cpu_core_hourly, p.memory_byte_hourly, p.gpu_hourly) >= 0
    assert math.isclose(recombined(p, capacity), node_price, rel_tol=1e-9, abs_tol=1e-12)


# -- resolution order ----------------------------------------------------------------------


def test_default_price_of_an_unconfigured_on_demand_node() -> None:
    p = prices(Pricing())
    assert p.source == "default"
    # 4 * 0.031611 + 16 * 0.004237 = 0.126444 + 0.067792 = 0.194236
    assert p.node_hourly == pytest.approx(0.194236)
    assert p.cpu_core_hourly == pytest.approx(0.031611)
    assert p.memory_byte_hourly * GIB == pytest.approx(0.004237)


def test_default_price_of_an_unconfigured_spot_node() -> None:
    p = prices(Pricing(), capacity_type="spot")
    assert p.source == "default"
    # 4 * 0.006655 + 16 * 0.000892 = 0.02662 + 0.014272 = 0.040892
    assert p.node_hourly == pytest.approx(0.040892)


def test_default_price_counts_gpus() -> None:
    p = prices(Pricing(), instance_type=None, capacity=Resources(cpu=4, memory=16 * GIB, gpu=1))
    # 0.194236 + 0.95
    assert p.node_hourly == pytest.approx(1.144236)
    assert p.gpu_hourly == pytest.approx(0.95)


def test_configured_instance_type_beats_default() -> None:
    p = prices(priced(**{"m6i.xlarge": InstancePrice(on_demand=0.192)}))
    assert (p.source, p.node_hourly) == ("config", 0.192)


def test_other_instance_types_do_not_apply() -> None:
    p = prices(priced(**{"m6i.2xlarge": InstancePrice(on_demand=0.384)}))
    assert p.source == "default"
    assert p.node_hourly == pytest.approx(0.194236)


def test_override_label_beats_configured_instance_type() -> None:
    p = prices(priced(**{"m6i.xlarge": InstancePrice(on_demand=0.192)}), labels={LABEL: "0.5"})
    assert (p.source, p.node_hourly) == ("override", 0.5)
    assert recombined(p, M6I) == pytest.approx(0.5)


def test_override_annotation_beats_configured_instance_type() -> None:
    p = prices(priced(**{"m6i.xlarge": InstancePrice(on_demand=0.192)}), annotations={LABEL: "0.25"})
    assert (p.source, p.node_hourly) == ("override", 0.25)


def test_override_label_beats_annotation() -> None:
    p = prices(Pricing(), labels={LABEL: "0.5"}, annotations={LABEL: "0.25"})
    assert p.node_hourly == 0.5


def test_override_beats_default() -> None:
    p = prices(Pricing(), instance_type=None, labels={LABEL: "1.75"})
    assert (p.source, p.node_hourly) == ("override", 1.75)


def test_override_zero_is_a_price() -> None:
    p = prices(Pricing(), labels={LABEL: "0"})
    assert (p.source, p.node_hourly) == ("override", 0.0)
    assert p.cpu_core_hourly == 0.0


def test_override_label_name_is_configurable() -> None:
    pricing = Pricing(node_price_label="example.com/price")
    assert prices(pricing, labels={"example.com/price": "0.3"}).node_hourly == 0.3
    # the default label no longer counts
    assert prices(pricing, labels={LABEL: "0.3"}).source == "default"


def test_override_disabled() -> None:
    assert prices(Pricing(node_price_label=None), labels={LABEL: "0.3"}).source == "default"


@pytest.mark.parametrize("raw", ["free", "", "$0.50", "-0.1", "nan", "NaN"])
def test_malformed_override_raises(raw: str) -> None:
    with pytest.raises(ValueError, match=LABEL):
        prices(Pricing(), labels={LABEL: raw})


@pytest.mark.parametrize("raw", ["inf", "Infinity", "1e400"])
def test_infinite_override_raises(raw: str) -> None:
    # NaN and negatives are rejected; an infinite price is no more a price than NaN
    with pytest.raises(ValueError, match=LABEL):
        prices(Pricing(), labels={LABEL: raw})


def test_region_specific_price_beats_generic() -> None:
    pricing = priced(
        **{
            "m6i.xlarge": InstancePrice(
                on_demand=0.192, regions={"eu-west-1": InstancePrice(on_demand=0.214)}
            )
        }
    )
    assert prices(pricing, region="eu-west-1").node_hourly == 0.214
    assert prices(pricing, region="us-east-1").node_hourly == 0.192
    assert prices(pricing, region=None).node_hourly == 0.192


def test_region_without_the_capacity_type_falls_back_to_generic() -> None:
    pricing = priced(
        **{
            "m6i.xlarge": InstancePrice(
                on_demand=0.192, spot=0.0764, regions={"eu-west-1": InstancePrice(on_demand=0.214)}
            )
        }
    )
    p = prices(pricing, region="eu-west-1", capacity_type="spot")
    assert (p.source, p.node_hourly) == ("config", 0.0764)


def test_region_only_entry() -> None:
    pricing = priced(**{"m6i.xlarge": InstancePrice(regions={"eu-west-1": InstancePrice(on_demand=0.214)})})
    assert prices(pricing, region="eu-west-1").node_hourly == 0.214
    other = prices(pricing, region="us-east-1")
    assert other.source == "default"
    assert other.node_hourly == pytest.approx(0.194236)


def test_spot_price_chosen_for_spot_nodes() -> None:
    pricing = priced(**{"m6i.xlarge": InstancePrice(on_demand=0.192, spot=0.0764)})
    spot = prices(pricing, capacity_type="spot")
    assert (spot.source, spot.node_hourly) == ("config", 0.0764)
    assert prices(pricing, capacity_type="on-demand").node_hourly == 0.192


def test_spot_node_with_only_on_demand_configured_uses_default_spot_rates() -> None:
    pricing = priced(**{"m6i.xlarge": InstancePrice(on_demand=0.192)})
    p = prices(pricing, capacity_type="spot")
    assert p.source == "default"
    # 4 * 0.006655 + 16 * 0.000892 = 0.040892 (not the on-demand 0.192)
    assert p.node_hourly == pytest.approx(0.040892)


def test_spot_node_price_is_split_in_the_spot_ratio() -> None:
    pricing = priced(**{"m6i.xlarge": InstancePrice(spot=0.0764)})
    p = prices(pricing, capacity_type="spot")
    scale = 0.0764 / 0.040892
    assert p.cpu_core_hourly == pytest.approx(0.006655 * scale)
    assert p.memory_byte_hourly * GIB == pytest.approx(0.000892 * scale)


def test_configured_default_rates_are_used() -> None:
    rates = ResourceRates(cpu_core_hour=0.05, memory_gib_hour=0.01, gpu_hour=2.0)
    pricing = Pricing.model_validate({"default_rates": {"on_demand": rates.model_dump()}})
    # 4 * 0.05 + 16 * 0.01 = 0.36
    assert prices(pricing).node_hourly == pytest.approx(0.36)


# -- bundled catalog ------------------------------------------------------------------------


def test_catalog_prices_known_aws_types_by_region() -> None:
    # data/aws_ondemand_hourly.csv (Karpenter's generated table): m6i.xlarge 0.192 in us-east-1
    p = prices(Pricing(), instance_type="m6i.xlarge", region="us-east-1", catalog=True)
    assert (p.source, p.node_hourly) == ("catalog", pytest.approx(0.192))
    # an unknown region falls back to us-east-1; a configured price still wins over the catalog
    assert prices(
        Pricing(), instance_type="m6i.xlarge", region="mars-1", catalog=True
    ).node_hourly == pytest.approx(0.192)
    configured = prices(priced(**{"m6i.xlarge": InstancePrice(on_demand=0.15)}), catalog=True)
    assert (configured.source, configured.node_hourly) == ("config", 0.15)


def test_catalog_gce_family_rates_and_spot() -> None:
    n2 = Resources(cpu=8, memory=32 * GIB, gpu=0)
    p = prices(Pricing(), instance_type="n2-standard-8", capacity=n2, catalog=True)
    assert p.source == "catalog"
    assert p.node_hourly == pytest.approx(8 * 0.031611 + 32 * 0.004237)
    spot = prices(Pricing(), instance_type="n2-standard-8", capacity=n2, capacity_type="spot", catalog=True)
    assert spot.node_hourly == pytest.approx(8 * 0.007650 + 32 * 0.004237 * 0.007650 / 0.031611)


def test_catalog_skips_other_currencies_and_can_be_turned_off() -> None:
    assert prices(Pricing(currency="EUR"), catalog=True).source == "default"
    assert prices(Pricing(catalog=False), catalog=True).source == "default"
    # AWS spot prices are not in the catalog: default spot rates
    assert prices(Pricing(), capacity_type="spot", catalog=True).source == "default"
