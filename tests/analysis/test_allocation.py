"""Allocation = max(request, usage), never past a node's capacity; histograms of usage."""

from __future__ import annotations

import itertools
import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from capacity.config import Config
from capacity.costing import allocation_costs, node_costs, price_table
from capacity.histogram import bucket_of, bucket_start, merge, percentile
from capacity.pricing import key_prices
from capacity.records import Resources, Snapshot
from capacity.store.engine import open_store
from capacity.store.priced import ALLOCATIONS, NODE_PRICES, price_keys
from capacity.store.snapshots import write_snapshot
from capacity.store.windows import grain_window
from collectors.node_facts import node_facts
from collectors.normalize import PodPass
from collectors.owners import OwnerIndex

GIB = 1024.0**3


def node(name: str, cpu: str = "4", memory: str = "16Gi") -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": {"node.kubernetes.io/instance-type": "x9.custom"}},
        "status": {"capacity": {"cpu": cpu, "memory": memory, "pods": "110"}},
    }


def pod(name: str, node_name: str, cpu: str, memory: str = "1Gi") -> dict[str, Any]:
    return {
        "metadata": {"namespace": "shop", "name": name},
        "spec": {
            "nodeName": node_name,
            "containers": [{"name": "app", "resources": {"requests": {"cpu": cpu, "memory": memory}}}],
        },
        "status": {"phase": "Running"},
    }


def fold(
    nodes: list[dict[str, Any]], pods: list[dict[str, Any]], usage: dict[str, tuple[float, float]]
) -> PodPass:
    warnings: list[str] = []
    pricing = Config().pricing
    facts = {}
    for item in nodes:
        f = node_facts(item, pricing, warnings.append)
        assert f is not None
        facts[f.name] = f
    metrics = {("shop", name): {"app": Resources(cpu, mem, 0.0)} for name, (cpu, mem) in usage.items()}
    passed = PodPass(
        nodes=facts,
        owners=OwnerIndex(),
        metrics=metrics,
        warn=warnings.append,
    )
    passed.add_page(pods)
    assert warnings == []
    return passed


def test_usage_beyond_requests_is_capped_at_node_capacity() -> None:
    # 4-core node: A requests 2 and idles, B requests nothing and bursts to 3. Uncapped, the
    # node would be allocated 2 + 3 = 5 cores; B's excess is scaled into the 2 cores of room.
    passed = fold(
        [node("n1")], [pod("a", "n1", "2"), pod("b", "n1", "0")], {"a": (0.0, GIB), "b": (3.0, GIB)}
    )
    samples = {c.workload.name: c for c in passed.containers()}
    [n1] = passed.finish_nodes()
    assert samples["a"].cpu_allocated == pytest.approx(2.0)
    assert samples["b"].cpu_allocated == pytest.approx(2.0)
    assert n1.allocated.cpu == pytest.approx(4.0)
    assert n1.overcommit.cpu == pytest.approx(1.0)
    # allocations by the node's price key: the node's whole CPU, so its idle CPU is exactly zero
    assert samples["a"].allocations == {n1.price_key: (2.0, GIB, 0.0)}
    assert samples["b"].allocations[n1.price_key][0] == pytest.approx(2.0)
    allocated = samples["a"].allocations[n1.price_key][0] + samples["b"].allocations[n1.price_key][0]
    assert allocated == pytest.approx(n1.capacity.cpu)


def test_allocation_is_max_of_request_and_usage_when_it_fits() -> None:
    # The DESIGN's worked examples: 1.0 requested, 2.2 used -> 2.2; 1.0 requested, 0.01 used -> 1.0
    passed = fold(
        [node("n1", cpu="8")],
        [pod("hot", "n1", "1"), pod("cold", "n1", "1")],
        {"hot": (2.2, GIB), "cold": (0.01, GIB)},
    )
    samples = {c.workload.name: c for c in passed.containers()}
    assert samples["hot"].cpu_allocated == pytest.approx(2.2)
    assert samples["cold"].cpu_allocated == pytest.approx(1.0)
    [n1] = passed.finish_nodes()
    assert n1.allocated.cpu == pytest.approx(3.2)
    assert n1.overcommit.cpu == 0.0
    assert samples["hot"].allocations[n1.price_key] == pytest.approx((2.2, GIB, 0.0))
    assert n1.price_key.instance_type == "x9.custom" and n1.price_key.cpu == 8.0


def test_usage_histogram_per_replica() -> None:
    pods = [pod(f"web-{i}", "n1", "100m") for i in range(4)]
    usage = {"web-0": (0.05, GIB), "web-1": (0.05, GIB), "web-2": (0.5, GIB), "web-3": (0.5, GIB)}
    passed = fold([node("n1")], pods, usage)
    merged: dict[int, float] = {}
    for c in passed.containers():
        merged = merge([merged, c.cpu_usage_hist])
    assert sum(merged.values()) == 4
    assert merged == {bucket_of(0.05): 2.0, bucket_of(0.5): 2.0}


@pytest.mark.parametrize("value", [0.004, 0.01, 0.05, 0.25, 1.0, 3.7, 64.0])
def test_histogram_buckets_are_five_percent_wide(value: float) -> None:
    index = bucket_of(value)
    assert bucket_start(index) <= value < bucket_start(index + 1)
    width = bucket_start(index + 1) - bucket_start(index)
    # every bucket is 10m plus 5 % of where it starts wide: percentiles are good to 5 % + 10m
    assert width == pytest.approx(0.01 + 0.05 * bucket_start(index))


def test_percentile_of_a_histogram() -> None:
    hist = {bucket_of(0.1): 90.0, bucket_of(1.0): 10.0}
    assert percentile(hist, 0.5) == pytest.approx(bucket_start(bucket_of(0.1) + 1))
    p95 = percentile(hist, 0.95)
    assert p95 is not None and 1.0 <= p95 <= 1.05
    assert percentile({}, 0.95) is None
    # CPU p95 of 4m lands in the first bucket, whose upper edge is the 10m floor
    assert percentile({bucket_of(0.004): 1.0}, 0.95) == pytest.approx(0.01)


@settings(max_examples=60, deadline=None, database=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 3000), st.integers(0, 6000), st.integers(0, 4096), st.integers(0, 8192)),
        min_size=1,
        max_size=12,
    )
)
def test_idle_plus_allocated_is_the_node_cost(pods: list[tuple[int, int, int, int]]) -> None:
    # pods of (cpu request m, cpu usage m, memory request Mi, memory usage Mi) on one 8-core 16Gi node;
    # the scheduler never lets requests exceed allocatable, so drop pods that would not fit
    fitting, cpu, mem = [], 0, 0
    for req_cpu, use_cpu, req_mem, use_mem in pods:
        if cpu + req_cpu <= 7800 and mem + req_mem <= 15 * 1024:
            fitting.append((req_cpu, use_cpu, req_mem, use_mem))
            cpu, mem = cpu + req_cpu, mem + req_mem
    items = [pod(f"p{i}", "n1", f"{c}m", f"{m}Mi") for i, (c, _, m, _) in enumerate(fitting)]
    usage = {f"p{i}": (u / 1000, um * 2**20) for i, (_, u, _, um) in enumerate(fitting)}
    passed = fold([node("n1", cpu="8", memory="16Gi")], items, usage)
    [n1] = passed.finish_nodes()
    snapshot = Snapshot(
        cluster=f"c{next(_CLUSTERS)}",
        taken_at=T0,
        source="test",
        usage_known=True,
        nodes=[n1],
        containers=passed.containers(),
        pods=passed.pods,
    )
    # through the product: the store's idle (per node and sample) and the cost module's prices
    with _ENGINE.begin() as conn:
        write_snapshot(conn, snapshot, nominal_interval_seconds=3600.0)
    with _ENGINE.connect() as conn:
        window = {"start": T0, "end": T0 + timedelta(hours=1), "clusters": (snapshot.cluster,)}
        nodes = grain_window(conn, NODE_PRICES, **window)  # type: ignore[arg-type]
        allocations = grain_window(conn, ALLOCATIONS, **window)  # type: ignore[arg-type]
        prices = price_table(price_keys(conn, list(nodes["price_key_id"])), Config().pricing)
    [billed] = node_costs(nodes, prices, ["cluster"]).to_dict("records")
    charged = allocation_costs(allocations, prices, ["cluster"]) if len(allocations) else None
    unit = key_prices(Config().pricing, n1.price_key)
    assert billed["cost"] == pytest.approx(unit.node_hourly)  # one hour of the node
    for resource in ("cpu", "memory"):
        allocated_cost = float(charged[f"{resource}_cost"].sum()) if charged is not None else 0.0
        idle = billed[f"{resource}_idle_cost"]
        assert allocated_cost >= 0 and idle >= 0
        assert allocated_cost + idle == pytest.approx(billed[f"{resource}_cost"], rel=1e-9, abs=1e-12)


T0 = datetime(2026, 11, 1, tzinfo=UTC)
_CLUSTERS = itertools.count()
_DB = Path(tempfile.mkdtemp(prefix="capacity-allocation-")) / "allocation.db"
_ENGINE = open_store(f"sqlite:///{_DB}")


@pytest.fixture(scope="module", autouse=True)
def _dispose_engine() -> Iterator[None]:
    yield
    _ENGINE.dispose()
    shutil.rmtree(_DB.parent, ignore_errors=True)
