"""HPA-aware right-sizing on hand-built series with known answers: an HPA at minReplicas, in
between, held at maxReplicas by a raised request, pinned at maxReplicas, on memory, on an
external metric; and the property that the projected utilization never exceeds the target."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from capacity.analysis.autoscaling import Autoscaler, Demand, Projection, project
from capacity.analysis.rightsizing import recommendations
from capacity.histogram import MEMORY_FIRST_BUCKET, bucket_of, bucket_start, percentile
from capacity.records import HpaMetric
from tests.analysis.test_analysis import GIB, HOUR, MIB, RATES, container

DAY = 24 * HOUR
CPU_50 = HpaMetric("Resource", "cpu", "Utilization", 50.0)


def edge(value: float, first: float = 0.01) -> float:
    """What a histogram knows of ``value``: the upper edge of its bucket."""
    return bucket_start(bucket_of(value, first=first) + 1, first=first)


def hpa(lo: int, hi: int, *metrics: HpaMetric, name: str = "web") -> Autoscaler:
    return Autoscaler(name, lo, hi, metrics or (CPU_50,))


def demand(
    *,
    cpu: float = 1.0,
    memory: float = GIB,
    cpu_peak: float = 0.5,
    memory_peak: float = 0.5 * GIB,
    cpu_totals: dict[float, float] | None = None,
    memory_totals: dict[float, float] | None = None,
    container: str = "app",
) -> Demand:
    """A container whose total usage held each value for its seconds (default: 4 cores, a day)."""
    return Demand(
        container=container,
        request={"cpu": cpu, "memory": memory},
        recommended={"cpu": cpu_peak * 0.8, "memory": memory_peak * 1.15},
        peak={"cpu": cpu_peak, "memory": memory_peak},
        totals={
            "cpu": {bucket_of(v): s for v, s in (cpu_totals or {4.0: DAY}).items()},
            "memory": {
                bucket_of(v, first=MEMORY_FIRST_BUCKET): s
                for v, s in (memory_totals or {8 * GIB: DAY}).items()
            },
        },
    )


def run(autoscalers: list[Autoscaler], *demands: Demand, replicas: float = 8.0) -> Projection:
    return project(autoscalers, list(demands), replicas=replicas, cpu_percentile=0.95, min_seconds=DAY)


def test_in_between_the_request_rises_to_the_peak_and_replicas_follow_the_total() -> None:
    got = run([hpa(2, 40)], demand(cpu=1.0, cpu_peak=0.5))
    assert not got.held
    assert got.requests["app"]["cpu"] == 0.5  # the peak, above the plain 0.4
    assert got.replicas == math.ceil(edge(4.0) / (0.5 * 0.5))  # 4.2 cores / 0.25 per replica = 17
    assert got.replicas == 17 and got.average_replicas == 17.0


def test_at_min_replicas_a_smaller_request_saves_what_it_lowers() -> None:
    got = run([hpa(6, 20)], demand(cpu=1.0, cpu_peak=0.3, cpu_totals={0.6: DAY}), replicas=6.0)
    assert got.replicas == 6 and got.average_replicas == 6.0  # 0.63 / 0.15 = 4.2: held at min
    assert got.requests["app"]["cpu"] == 0.3
    # through recommendations: (1 x 6 - 0.306 x 6) cores x price x 730, memory unchanged
    row = container(replicas=6.0, cpu_request=1.0, cpu_usage=0.3, memory_usage=GIB / 1.15, hours=24)
    row |= {
        "cpu_total_hist": {bucket_of(0.6): DAY},
        "memory_total_hist": {bucket_of(6 * GIB / 1.15, first=MEMORY_FIRST_BUCKET): DAY},
    }
    recs = recommendations(
        pd.DataFrame([row]).assign(group="shop"),
        window_seconds=DAY,
        rates=RATES,
        autoscalers={("prod", "shop", "Deployment", "web"): [hpa(6, 20)]},
    )
    [rec] = recs.to_dict("records")
    assert rec["action"] == "reduce" and rec["replicas_projected"] == 6
    assert rec["hpa"] == "web" and rec["hpa_target"] == "cpu 50%"
    assert rec["memory_recommended_bytes"] == math.ceil(GIB / MIB) * MIB
    # the p95 of 0.3 cores per replica is its bucket's upper edge, above the peak
    assert rec["cpu_recommended"] == math.ceil(edge(0.3) * 1000) / 1000 == 0.306
    assert rec["monthly_savings"] == pytest.approx((1.0 - 0.306) * 6 * 0.03 * 730)
    assert "HPA web on cpu 50%: 6 replicas" in rec["reason"]


def test_a_request_lowered_past_max_replicas_rises_until_max_holds_the_load() -> None:
    got = run([hpa(2, 15)], demand(cpu=1.0, cpu_peak=0.5, cpu_totals={6.0: DAY}))
    # at 0.5 cores the load needs 25 replicas: 15 at most, so each needs 6.3 / (0.5 x 15)
    assert got.replicas == 15
    assert got.requests["app"]["cpu"] == math.ceil(edge(6.0) / (0.5 * 15) * 1000) / 1000
    assert edge(6.0) / (15 * got.requests["app"]["cpu"]) <= 0.5


def test_pinned_at_max_replicas_is_held_and_says_why() -> None:
    got = run([hpa(2, 15)], demand(cpu=1.0, cpu_totals={10.0: DAY}))
    assert got.held and got.replicas is None
    assert got.requests["app"] == {"cpu": 1.0, "memory": GIB}
    assert "pinned at maxReplicas 15" in got.reason and f"{edge(10.0) / 0.5:.1f} replicas" in got.reason


def test_on_memory_the_memory_total_at_its_peak_sets_the_replicas() -> None:
    memory_80 = HpaMetric("Resource", "memory", "Utilization", 80.0)
    totals = {4 * GIB: DAY / 2, 8 * GIB: DAY / 2}
    got = run([hpa(1, 30, memory_80)], demand(memory=2 * GIB, memory_peak=GIB, memory_totals=totals))
    request = math.ceil(1.15 * GIB / MIB) * MIB
    assert got.requests["app"]["memory"] == request
    high = math.ceil(edge(8 * GIB, MEMORY_FIRST_BUCKET) / (0.8 * request))
    low = math.ceil(edge(4 * GIB, MEMORY_FIRST_BUCKET) / (0.8 * request))
    assert (got.replicas, low, high) == (high, 5, 9)
    assert got.average_replicas == pytest.approx((low + high) / 2)  # half the day each


def test_the_average_follows_the_distribution_of_the_total() -> None:
    got = run([hpa(1, 40)], demand(cpu_peak=0.5, cpu_totals={1.0: DAY * 0.75, 8.0: DAY * 0.25}))
    quiet, busy = math.ceil(edge(1.0) / 0.25), math.ceil(edge(8.0) / 0.25)
    assert got.replicas == busy  # the p95 falls in the busy quarter
    assert got.average_replicas == pytest.approx(0.75 * quiet + 0.25 * busy)


@pytest.mark.parametrize(
    ("autoscalers", "why"),
    [
        ([hpa(1, 10, HpaMetric("External", "queue_depth", "AverageValue", 30.0))], "external queue_depth 30"),
        ([hpa(1, 10, HpaMetric("Pods", "rps", "AverageValue", 100.0))], "pods rps 100"),
        ([hpa(1, 10), hpa(1, 10, name="other")], "2 HPAs (web, other)"),
    ],
    ids=["external", "pods", "two-hpas"],
)
def test_what_cannot_be_projected_is_held(autoscalers: list[Autoscaler], why: str) -> None:
    got = run(autoscalers, demand())
    assert got.held and why in got.reason and got.requests["app"] == {"cpu": 1.0, "memory": GIB}


def test_too_little_total_history_is_held() -> None:
    got = run([hpa(1, 10)], demand(cpu_totals={4.0: DAY / 2}))
    assert got.held and "12.0 h of total cpu usage; needs 24 h" in got.reason


def test_a_container_resource_metric_counts_only_its_container() -> None:
    metric = HpaMetric("ContainerResource", "cpu", "Utilization", 50.0, container="app")
    app = demand(cpu_totals={4.0: DAY})
    sidecar = demand(container="proxy", cpu=0.1, cpu_peak=0.05, cpu_totals={9.0: DAY})
    got = run([hpa(1, 40, metric)], app, sidecar)
    assert got.replicas == math.ceil(edge(4.0) / 0.25)  # the sidecar's busy total does not count
    assert got.requests["proxy"]["cpu"] == 0.05


@settings(max_examples=300, deadline=None)
@given(
    totals=st.dictionaries(st.floats(0.05, 200.0), st.floats(60.0, DAY), min_size=1, max_size=6),
    request=st.floats(0.05, 4.0),
    peak=st.floats(0.01, 4.0),
    target=st.integers(10, 100),
    lo=st.integers(1, 5),
    span=st.integers(0, 60),
)
def test_projected_utilization_never_exceeds_the_target(
    totals: dict[float, float], request: float, peak: float, target: int, lo: int, span: int
) -> None:
    hi = lo + span
    metric = HpaMetric("Resource", "cpu", "Utilization", float(target))
    one = demand(cpu=request, cpu_peak=peak, cpu_totals=totals)
    got = project([hpa(lo, hi, metric)], [one], replicas=float(lo), cpu_percentile=0.95, min_seconds=0.0)
    if got.held:
        assert "pinned at maxReplicas" in got.reason
        return
    assert got.replicas is not None and lo <= got.replicas <= hi
    assert lo <= got.average_replicas <= hi
    proposed = got.requests["app"]["cpu"]
    assert proposed >= peak - 1e-9  # never below the observed peak per replica
    busy = percentile(one.totals["cpu"], 0.95)
    assert busy is not None
    assert busy / (got.replicas * proposed) <= target / 100.0 + 1e-9
