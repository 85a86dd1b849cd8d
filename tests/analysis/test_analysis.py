"""The analysis layer's pure functions on hand-built windowed sums: published worked examples,
attribution, shared and idle costs, right-sizing, and properties that must always hold."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from capacity.analysis.attribution import UNALLOCATED, attribute
from capacity.analysis.costs import IDLE, allocate, total_efficiency, with_groups
from capacity.analysis.rightsizing import Policy, recommend_cpu, recommend_memory, recommendations
from capacity.config import Attribution, DimensionRules, NamespaceRule, Overhead, ResourceRates, Shared
from capacity.histogram import bucket_of

MIB = 1024.0**2
GIB = 1024.0**3
HOUR = 3600.0
RATES = ResourceRates(cpu_core_hour=0.031611, memory_gib_hour=0.004237, gpu_hour=0.95)


def container(
    *,
    cluster: str = "prod",
    namespace: str = "shop",
    workload: str = "web",
    name: str = "app",
    hours: float = 24.0,
    replicas: float = 2.0,
    cpu_request: float = 1.0,
    cpu_usage: float = 0.5,
    memory_request: float = GIB,
    memory_usage: float = 0.5 * GIB,
    cpu_price: float = 0.03,
    memory_price_gib: float = 0.004,
    pod_labels: dict[str, str] | None = None,
    namespace_labels: dict[str, str] | None = None,
    hist: dict[int, float] | None = None,
    memory_peak: float | None = None,
    oom_kills: int = 0,
    memory_limit: float | None = None,
) -> dict[str, Any]:
    """One windowed container row; per-replica figures held constant over ``hours``."""
    s = hours * HOUR
    cpu_alloc = max(cpu_request, cpu_usage) * replicas * s
    mem_alloc = max(memory_request, memory_usage) * replicas * s
    return {
        "cluster": cluster,
        "namespace": namespace,
        "kind": "Deployment",
        "workload": workload,
        "container": name,
        "workload_id": hash((cluster, namespace, workload)) % 10**6,
        "samples": int(hours * 4),
        "seconds": s,
        "replica_seconds": replicas * s,
        "cpu_request_cs": cpu_request * replicas * s,
        "memory_request_bs": memory_request * replicas * s,
        "gpu_request_s": 0.0,
        "usage_replica_seconds": replicas * s,
        "cpu_usage_cs": cpu_usage * replicas * s,
        "memory_usage_bs": memory_usage * replicas * s,
        "cpu_request_known_cs": cpu_request * replicas * s,
        "memory_request_known_bs": memory_request * replicas * s,
        "cpu_allocated_cs": cpu_alloc,
        "memory_allocated_bs": mem_alloc,
        "cpu_cost": cpu_alloc / HOUR * cpu_price,
        "memory_cost": mem_alloc / GIB / HOUR * memory_price_gib,
        "gpu_cost": 0.0,
        "cpu_usage_max": cpu_usage,
        "memory_usage_max": memory_peak if memory_peak is not None else memory_usage,
        "memory_limit_max": memory_limit,
        "restarts_max": oom_kills,
        "oom_kills_max": oom_kills,
        "pending_replica_seconds": 0.0,
        "pending_cpu_cs": 0.0,
        "pending_memory_bs": 0.0,
        "cpu_usage_hist": hist if hist is not None else {bucket_of(cpu_usage): replicas * s},
        "pod_labels": pod_labels or {},
        "namespace_labels": namespace_labels or {},
    }


def node(
    cluster: str, name: str, *, cost_cpu: float, cost_mem: float, idle_cpu: float, idle_mem: float
) -> dict[str, Any]:
    return {
        "cluster": cluster,
        "node": name,
        "seconds": 24 * HOUR,
        "cost": cost_cpu + cost_mem,
        "cpu_cost": cost_cpu,
        "memory_cost": cost_mem,
        "gpu_cost": 0.0,
        "cpu_idle_cost": idle_cpu,
        "memory_idle_cost": idle_mem,
        "gpu_idle_cost": 0.0,
    }


# -- published worked examples ---------------------------------------------------------------


def test_kubecost_total_efficiency_example() -> None:
    # 2 CPU / 1 GB requested, 0.5 / 0.5 used, at 10 per CPU and 1 per GB: CPU 25 %, memory 50 %,
    # weighted by cost (20 and 1): (0.25 x 20 + 0.5 x 1) / 21 = 26.2 %
    eff = total_efficiency(pd.Series([0.25]), pd.Series([0.5]), pd.Series([20.0]), pd.Series([1.0]))
    assert eff[0] == pytest.approx(5.5 / 21)
    assert round(eff[0] * 100) == 26


def test_rightsizing_worked_examples() -> None:
    policy = Policy()
    # memory: peak 256 MiB + 15 % = 294.4 MiB, rounded up to 295 MiB
    assert recommend_memory(256 * MIB, policy) == 295 * MIB
    # CPU: p95 of 4m is below the 10m floor
    assert recommend_cpu({bucket_of(0.004): 100.0}, policy) == 0.010
    # memory floor: 20 MiB
    assert recommend_memory(5 * MIB, policy) == 20 * MIB


# -- attribution -----------------------------------------------------------------------------


RULES = DimensionRules(
    label_keys=["team", "app.kubernetes.io/team"],
    namespace_rules=[NamespaceRule(pattern="^payments-", value="payments")],
)


@pytest.mark.parametrize(
    ("namespace", "pod_labels", "namespace_labels", "expected"),
    [
        ("shop", {"team": "checkout"}, {"team": "storefront"}, "checkout"),  # pod labels first
        ("shop", {}, {"team": "storefront"}, "storefront"),  # then namespace labels
        ("shop", {"app.kubernetes.io/team": "search"}, {}, "search"),  # any configured key
        ("payments-eu", {}, {}, "payments"),  # then namespace regex
        ("payments-eu", {}, {"team": "risk"}, "risk"),  # labels win over regex
        ("sandbox", {}, {}, UNALLOCATED),
    ],
)
def test_attribution_order(
    namespace: str, pod_labels: dict[str, str], namespace_labels: dict[str, str], expected: str
) -> None:
    assert (
        attribute(RULES, namespace=namespace, pod_labels=pod_labels, namespace_labels=namespace_labels)
        == expected
    )


# -- allocation, shared, idle ----------------------------------------------------------------


def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    containers = pd.DataFrame(
        [
            container(workload="web", pod_labels={"team": "checkout"}),
            container(workload="api", pod_labels={"team": "search"}, cpu_request=2.0),
            container(namespace="kube-system", workload="coredns", cpu_request=0.1),
            container(cluster="staging", workload="web", pod_labels={"team": "checkout"}),
        ]
    )
    nodes = pd.DataFrame(
        [
            node("prod", "n1", cost_cpu=10.0, cost_mem=2.0, idle_cpu=3.0, idle_mem=1.0),
            node("staging", "s1", cost_cpu=4.0, cost_mem=1.0, idle_cpu=2.0, idle_mem=0.5),
        ]
    )
    return containers, nodes


def grouped(idle: str, shared: Shared | None = None) -> pd.DataFrame:
    containers, nodes = frames()
    shared = shared or Shared(namespaces=["kube-system"])
    attribution = Attribution(team=RULES)
    frame = with_groups(containers, attribution, "team", shared).rename(columns={"group": "team"})
    return allocate(frame, nodes, keys=["team"], shared=shared, idle=idle)  # type: ignore[arg-type]


def direct_total() -> float:
    containers, _ = frames()
    return float((containers["cpu_cost"] + containers["memory_cost"] + containers["gpu_cost"]).sum())


def test_idle_separate_rows_per_cluster_and_totals_add_up() -> None:
    table = grouped("separate")
    idle = table[table["team"] == IDLE].set_index("cluster")["total_cost"]
    assert idle.to_dict() == pytest.approx({"prod": 4.0, "staging": 2.5})
    assert table["total_cost"].sum() == pytest.approx(direct_total() + 6.5)
    assert set(table["team"]) == {"checkout", "search", IDLE}  # kube-system is shared, not a team


def test_idle_shared_in_proportion_to_allocated_cost_per_resource() -> None:
    table = grouped("share").set_index("team")
    assert IDLE not in table.index
    assert table["total_cost"].sum() == pytest.approx(direct_total() + 6.5)
    containers, _ = frames()
    prod = containers[(containers["cluster"] == "prod") & (containers["namespace"] == "shop")]
    cpu_share = prod.iloc[0]["cpu_cost"] / prod["cpu_cost"].sum()  # checkout's share of prod CPU
    mem_share = prod.iloc[0]["memory_cost"] / prod["memory_cost"].sum()
    expected = 3.0 * cpu_share + 1.0 * mem_share + 2.0 + 0.5  # + all of staging's idle
    assert table.loc["checkout", "idle_cost"] == pytest.approx(expected)


def test_idle_hidden() -> None:
    table = grouped("hide")
    assert IDLE not in set(table["team"]) and table["idle_cost"].sum() == 0


def test_shared_namespace_and_overheads_are_distributed_by_cost_or_evenly() -> None:
    containers, _ = frames()
    coredns = containers[containers["workload"] == "coredns"].iloc[0]
    coredns_cost = coredns["cpu_cost"] + coredns["memory_cost"]
    overhead = Overhead(name="control-plane", hourly=0.10, cluster="prod")
    by_cost = grouped("separate", Shared(namespaces=["kube-system"], overheads=[overhead])).set_index("team")
    pool = coredns_cost + 0.10 * 24
    prod = containers[(containers["cluster"] == "prod") & (containers["namespace"] == "shop")]
    costs = (prod["cpu_cost"] + prod["memory_cost"]).to_numpy()
    assert by_cost.loc["search", "shared_cost"] == pytest.approx(pool * costs[1] / costs.sum())
    assert by_cost["shared_cost"].sum() == pytest.approx(pool)  # nothing lost, nothing twice
    even = grouped("separate", Shared(namespaces=["kube-system"], distribute="even")).set_index("team")
    assert even.loc["search", "shared_cost"] == pytest.approx(coredns_cost / 2)


def test_efficiency_ignores_samples_without_usage() -> None:
    row = container(cpu_request=1.0, cpu_usage=0.25)
    unknown = container(cpu_request=1.0, cpu_usage=0.0, hours=24.0)
    unknown.update(
        cpu_usage_cs=0.0, cpu_request_known_cs=0.0, memory_usage_bs=0.0, memory_request_known_bs=0.0
    )
    frame = pd.DataFrame([row, unknown]).assign(shared=False, team="checkout")
    table = allocate(
        frame, pd.DataFrame(columns=["cluster", "seconds"]), keys=["team"], shared=Shared(), idle="hide"
    )
    assert table.loc[0, "cpu_efficiency"] == pytest.approx(0.25)  # not 0.125


# -- right-sizing table ------------------------------------------------------------------------


def test_recommendations_reduce_increase_and_not_enough_data() -> None:
    rows = pd.DataFrame(
        [
            container(
                workload="idle",
                cpu_request=1.0,
                cpu_usage=0.05,
                memory_request=GIB,
                memory_usage=100 * MIB,
                hours=48,
            ),
            container(
                workload="oom",
                cpu_request=0.5,
                cpu_usage=0.45,
                memory_request=256 * MIB,
                memory_usage=250 * MIB,
                memory_peak=256 * MIB,
                oom_kills=3,
                memory_limit=512 * MIB,
                hours=48,
            ),
            container(workload="new", hours=6),
        ]
    ).assign(group="checkout")
    recs = recommendations(rows, window_seconds=48 * HOUR, rates=RATES).set_index("workload")
    idle = recs.loc["idle"]
    assert idle["action"] == "reduce"
    assert idle["cpu_recommended"] == pytest.approx(recommend_cpu({bucket_of(0.05): 1.0}, Policy()))
    assert idle["memory_recommended_bytes"] == 115 * MIB  # 100 MiB + 15 %
    cpu_price = 0.03  # the container's own unit price: cost / allocated core-hours
    mem_price = 0.004 / GIB
    expected = ((1.0 - idle["cpu_recommended"]) * cpu_price + (GIB - 115 * MIB) * mem_price) * 2 * 730
    assert idle["monthly_savings"] == pytest.approx(expected)
    oom = recs.loc["oom"]
    assert oom["action"] == "increase"
    assert oom["memory_recommended_bytes"] >= 512 * MIB  # never below the limit it was killed at
    assert "OOM" in oom["reason"]
    assert recs.loc["new", "action"] == "not enough data" and recs.loc["new", "monthly_savings"] == 0


def test_replicas_average_over_the_time_each_cluster_was_observed() -> None:
    """2 replicas for 48 hours of a 14-day policy window are 2 replicas, not 2 x 48 / 336."""
    rows = pd.DataFrame(
        [
            container(cluster="prod", workload="a", hours=48, replicas=2.0),
            container(cluster="prod", workload="b", hours=24, replicas=4.0),  # half the time
            container(cluster="staging", workload="c", hours=10, replicas=3.0),
        ]
    ).assign(group="checkout")
    window = 14 * 24 * HOUR
    recs = recommendations(
        rows, window_seconds=window, rates=RATES, cluster_seconds={"prod": 48 * HOUR}
    ).set_index("workload")
    assert recs.loc["a", "replicas"] == pytest.approx(2.0)
    assert recs.loc["b", "replicas"] == pytest.approx(2.0)  # 4 replicas half the observed time
    # staging has no observed seconds (no node in its snapshots): at least as long as its containers
    assert recs.loc["c", "replicas"] == pytest.approx(3.0)
    # without cluster seconds, the whole window (as before)
    plain = recommendations(rows, window_seconds=window, rates=RATES).set_index("workload")
    assert plain.loc["a", "replicas"] == pytest.approx(2.0 * 48 / (14 * 24))


# -- properties ----------------------------------------------------------------------------------


@settings(max_examples=30, deadline=None, database=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["prod", "staging"]),
            st.sampled_from(["shop", "search", "kube-system", "payments-eu", "sandbox"]),
            st.floats(0, 8),
            st.floats(0, 8),
            st.floats(0.01, 4),
        ),
        min_size=1,
        max_size=12,
    ),
    st.sampled_from(["separate", "share"]),
    st.floats(0, 50),
    st.floats(0, 50),
)
def test_every_cent_is_charged_once_and_never_negative(
    rows: list[tuple[str, str, float, float, float]], idle: str, idle_prod: float, idle_staging: float
) -> None:
    containers = pd.DataFrame(
        [
            container(
                cluster=c,
                namespace=ns,
                workload=f"w{i}",
                cpu_request=req,
                cpu_usage=use,
                replicas=reps,
                namespace_labels={"team": "search"} if ns == "search" else {},
            )
            for i, (c, ns, req, use, reps) in enumerate(rows)
        ]
    )
    nodes = pd.DataFrame(
        [
            node("prod", "n1", cost_cpu=1.0, cost_mem=1.0, idle_cpu=idle_prod, idle_mem=0.0),
            node("staging", "s1", cost_cpu=1.0, cost_mem=1.0, idle_cpu=idle_staging, idle_mem=0.0),
        ]
    )
    shared = Shared(namespaces=["kube-system"])
    frame = with_groups(containers, Attribution(team=RULES), "team", shared).rename(columns={"group": "team"})
    table = allocate(frame, nodes, keys=["team"], shared=shared, idle=idle)  # type: ignore[arg-type]
    money = ["cpu_cost", "memory_cost", "gpu_cost", "shared_cost", "idle_cost", "total_cost"]
    assert (table[money] >= -1e-9).all().all()
    direct = float((containers["cpu_cost"] + containers["memory_cost"]).sum())
    # idle of every cluster, shared namespaces and all: nothing lost, nothing charged twice
    assert table["total_cost"].sum() == pytest.approx(direct + idle_prod + idle_staging, rel=1e-9, abs=1e-9)
    assert not table.duplicated(["team", "cluster"]).any()  # one row per team, one idle row per cluster


@pytest.mark.parametrize("idle", ["separate", "share"])
def test_periods_without_node_rows_still_allocate(idle: str) -> None:
    """A stepped report over containers whose nodes were never sampled: direct costs, no idle."""
    rows = [
        container(namespace="shop"),
        container(namespace="kube-system", workload="coredns"),
        container(cluster="staging", namespace="shop", workload="api"),
    ]
    frame = pd.DataFrame([{**r, "period_start": p} for p in ("2026-11-01", "2026-11-02") for r in rows])
    frame = with_groups(frame, Attribution(), "team", Shared(namespaces=["kube-system"]))
    nodes = pd.DataFrame(columns=["period_start", "cluster", "seconds", "cpu_idle_cost", "memory_idle_cost",
                                  "gpu_idle_cost"])  # fmt: skip
    shared = Shared(namespaces=["kube-system"], overheads=[Overhead(name="x", hourly=1.0)])
    table = allocate(
        frame,
        nodes,
        keys=["period_start", "group"],
        shared=shared,
        idle=idle,
        scope=["period_start", "cluster"],
    )
    direct = float((frame["cpu_cost"] + frame["memory_cost"]).sum())
    assert table["total_cost"].sum() == pytest.approx(direct)  # shared coredns carried, no idle
    assert table["idle_cost"].sum() == 0 and table["shared_cost"].sum() > 0
    assert sorted(set(table["period_start"])) == ["2026-11-01", "2026-11-02"]


def test_a_group_with_a_missing_key_still_names_its_clusters() -> None:
    frame = pd.DataFrame([container(cluster="a"), container(cluster="b", workload="api")])
    frame["group"] = [None, None]
    frame["shared"] = False
    table = allocate(frame, pd.DataFrame(), keys=["group"], shared=Shared(namespaces=[]), idle="hide")
    assert table["cluster"].tolist() == ["a,b"]
