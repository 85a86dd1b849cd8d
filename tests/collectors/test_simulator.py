"""The simulated fleet: deterministic, API-shaped, internally consistent, and realistic enough."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import cache
from typing import Any

import pytest
from kubernetes.utils.quantity import parse_quantity

from collectors.simulator import Fleet, FleetSpec, SimulatedSource, huge_cluster
from collectors.source import Kind, KindUnavailable

START = datetime(2025, 3, 3, tzinfo=UTC)  # a Monday
DAY2 = START + timedelta(days=2)  # Wednesday
Obj = dict[str, Any]


@cache
def fleet(seed: int = 0, managed_fields: bool = False) -> Fleet:
    return Fleet(FleetSpec(seed=seed, managed_fields=managed_fields), start=START)


@cache
def snapshot(cluster: str, at: datetime, seed: int = 0) -> dict[Kind, list[Obj]]:
    src = fleet(seed).source(cluster, at)
    return {k: src.items(k) for k in Kind}


def dump(items: list[Obj]) -> bytes:
    return json.dumps(items, sort_keys=True).encode()


def q(value: str) -> Decimal:
    return Decimal(parse_quantity(value))


def effective_request(spec: Obj) -> dict[str, Decimal]:
    """What the scheduler reserves, computed from the payload (independently of the simulator)."""
    out: dict[str, Decimal] = {}
    for res in ("cpu", "memory", "nvidia.com/gpu"):

        def req(c: Obj, res: str = res) -> Decimal:
            v = c.get("resources", {}).get("requests", {}).get(res)
            return q(v) if v is not None else Decimal(0)

        total = sum((req(c) for c in spec["containers"]), Decimal(0))
        sidecars = Decimal(0)
        init_max = Decimal(0)
        for c in spec.get("initContainers", []):
            if c.get("restartPolicy") == "Always":
                total += req(c)
                sidecars += req(c)
            else:
                init_max = max(init_max, req(c) + sidecars)
        overhead = spec.get("overhead", {}).get(res)
        out[res] = max(total, init_max) + (q(overhead) if overhead else Decimal(0))
    return out


def holds_resources(pod: Obj) -> bool:
    return bool(pod["spec"].get("nodeName")) and pod["status"]["phase"] in ("Running", "Pending")


# --- determinism --------------------------------------------------------------------------------


def test_same_inputs_give_identical_bytes_whatever_was_computed_before() -> None:
    at = DAY2 + timedelta(hours=14, minutes=7)
    a = Fleet(FleetSpec(seed=7), start=START)
    b = Fleet(FleetSpec(seed=7), start=START)
    # b first computes other instants (later, earlier, another cluster): memo state must not matter
    for other in (at + timedelta(hours=5), at - timedelta(days=1, minutes=3)):
        b.source("prod-us-east-1", other).items(Kind.PODS)
    b.source("prod-eu-west-1", at).items(Kind.NODES)
    for kind in Kind:
        assert dump(a.source("prod-us-east-1", at).items(kind)) == dump(
            b.source("prod-us-east-1", at).items(kind)
        )


def test_different_seeds_differ() -> None:
    at = DAY2 + timedelta(hours=12)
    assert dump(snapshot("prod-us-east-1", at, 0)[Kind.PODS]) != dump(
        snapshot("prod-us-east-1", at, 1)[Kind.PODS]
    )


def test_pages_are_the_items_in_pages_of_500() -> None:
    src = fleet().source("prod-us-east-1", DAY2 + timedelta(hours=15))
    pages = list(src.pages(Kind.PODS))
    assert all(len(p) == 500 for p in pages[:-1]) and 0 < len(pages[-1]) <= 500
    assert dump([o for p in pages for o in p]) == dump(src.items(Kind.PODS))
    assert list(src.pages(Kind.JOBS))  # every kind yields at least one (possibly empty) page


def test_mutating_a_returned_item_does_not_leak_into_later_instants() -> None:
    f = Fleet(FleetSpec(seed=11, managed_fields=True), start=START)
    at = DAY2 + timedelta(hours=10)
    first = f.source("prod-us-east-1", at).items(Kind.PODS)
    for pod in first:
        pod["kind"] = "Pod"
        pod["metadata"].pop("managedFields")
    again = f.source("prod-us-east-1", at).items(Kind.PODS)
    fresh = Fleet(FleetSpec(seed=11, managed_fields=True), start=START).source("prod-us-east-1", at)
    assert dump(again) == dump(fresh.items(Kind.PODS))


def test_naive_instant_is_rejected() -> None:
    with pytest.raises(ValueError):
        fleet().source("prod-us-east-1", datetime(2025, 3, 4, 12))


def test_simulator_imports_no_heavy_or_forbidden_module() -> None:
    code = (
        "import sys, collectors.simulator as s; from datetime import datetime, UTC;"
        "f = s.Fleet(s.FleetSpec(target_pods=300), start=datetime(2025, 1, 1, tzinfo=UTC));"
        "f.source(f.cluster_names[0], datetime(2025, 1, 2, tzinfo=UTC)).items(__import__('collectors.source')"
        ".source.Kind.PODS);"
        "bad = [m for m in sys.modules"
        " if m.split('.')[0] in ('kubernetes', 'sqlalchemy', 'streamlit', 'numpy')"
        " or m.startswith('capacity.store')];"
        "print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- consistency of one instant -----------------------------------------------------------------


@pytest.mark.parametrize("cluster", ["prod-us-east-1", "prod-eu-west-1", "staging-us-central1"])
def test_pods_sit_on_existing_nodes_within_allocatable(cluster: str) -> None:
    snap = snapshot(cluster, DAY2 + timedelta(hours=14))
    nodes = {n["metadata"]["name"]: n for n in snap[Kind.NODES]}
    assert len(nodes) == len(snap[Kind.NODES])
    for kind in (Kind.PODS, Kind.REPLICASETS, Kind.JOBS, Kind.POD_METRICS):
        keys = [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in snap[kind]]
        assert keys == sorted(set(keys)), kind  # unique, listed in key order like the API
    used: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    count: Counter[str] = Counter()
    for pod in snap[Kind.PODS]:
        name = pod["spec"].get("nodeName")
        if name is None:
            assert pod["status"]["phase"] == "Pending"
            continue
        assert name in nodes, pod["metadata"]["name"]
        if holds_resources(pod):
            for res, v in effective_request(pod["spec"]).items():
                used[name][res] += v
            count[name] += 1
    for name, node in nodes.items():
        alloc = node["status"]["allocatable"]
        cap = node["status"]["capacity"]
        assert q(alloc["cpu"]) < q(cap["cpu"]) and q(alloc["memory"]) < q(cap["memory"])
        assert used[name]["cpu"] <= q(alloc["cpu"]), name
        assert used[name]["memory"] <= q(alloc["memory"]), name
        assert used[name]["nvidia.com/gpu"] <= q(alloc.get("nvidia.com/gpu", "0")), name
        assert count[name] <= int(alloc["pods"]), name


@pytest.mark.parametrize("cluster", ["prod-us-east-1", "staging-us-central1"])
def test_per_node_pods_on_every_node(cluster: str) -> None:
    snap = snapshot(cluster, DAY2 + timedelta(hours=9))
    nodes = {n["metadata"]["name"] for n in snap[Kind.NODES]}
    per_node: dict[str, Counter[str]] = defaultdict(Counter)
    for pod in snap[Kind.PODS]:
        for ref in pod["metadata"].get("ownerReferences", []):
            if ref["kind"] == "DaemonSet":
                per_node[ref["name"]][pod["spec"]["nodeName"]] += 1
            if ref["kind"] == "Node":  # static (mirror) pods
                assert pod["metadata"]["annotations"]["kubernetes.io/config.source"] == "file"
                assert ref["name"] == pod["spec"]["nodeName"]
                per_node["static:" + pod["metadata"]["name"].split("-gke-")[0]][ref["name"]] += 1
    assert per_node["node-exporter"].keys() == nodes
    assert all(v == 1 for v in per_node["node-exporter"].values())
    kube_proxy = per_node["kube-proxy"] if cluster.startswith("prod") else per_node["static:kube-proxy"]
    assert kube_proxy.keys() == nodes


def test_metrics_only_for_running_pods_and_consistent_with_nodes() -> None:
    snap = snapshot("prod-eu-west-1", DAY2 + timedelta(hours=13, minutes=20))
    at = DAY2 + timedelta(hours=13, minutes=20)
    pods = {(p["metadata"]["namespace"], p["metadata"]["name"]): p for p in snap[Kind.PODS]}
    node_of: dict[str, list[Obj]] = defaultdict(list)
    for pm in snap[Kind.POD_METRICS]:
        pod = pods[(pm["metadata"]["namespace"], pm["metadata"]["name"])]
        assert pod["status"]["phase"] == "Running"
        created = datetime.fromisoformat(pod["metadata"]["creationTimestamp"])
        assert at - created >= timedelta(seconds=60)  # metrics-server has no sample in a pod's first minute
        names = {c["name"] for c in pod["spec"]["containers"]}
        names |= {
            c["name"] for c in pod["spec"].get("initContainers", []) if c.get("restartPolicy") == "Always"
        }
        assert {c["name"] for c in pm["containers"]} == names
        for c in pm["containers"]:
            assert c["usage"]["cpu"].endswith("n") and c["usage"]["memory"].endswith("Ki")
        node_of[pod["spec"]["nodeName"]].append(pm)
    running = sum(1 for p in snap[Kind.PODS] if p["status"]["phase"] == "Running")
    assert len(snap[Kind.POD_METRICS]) > 0.8 * running
    for nm in snap[Kind.NODE_METRICS]:
        pods_cpu = sum(
            q(c["usage"]["cpu"]) for pm in node_of[nm["metadata"]["name"]] for c in pm["containers"]
        )
        pods_mem = sum(
            q(c["usage"]["memory"]) for pm in node_of[nm["metadata"]["name"]] for c in pm["containers"]
        )
        assert q(nm["usage"]["cpu"]) > pods_cpu
        assert q(nm["usage"]["memory"]) > pods_mem


def test_owner_chains_resolve() -> None:
    kinds: Counter[str] = Counter()
    for cluster in fleet().cluster_names:
        snap = snapshot(cluster, DAY2 + timedelta(hours=14))
        rs = {(r["metadata"]["namespace"], r["metadata"]["name"]): r for r in snap[Kind.REPLICASETS]}
        jobs = {(j["metadata"]["namespace"], j["metadata"]["name"]): j for j in snap[Kind.JOBS]}
        for pod in snap[Kind.PODS]:
            refs = pod["metadata"].get("ownerReferences", [])
            if not refs:
                kinds["bare"] += 1
                continue
            (ref,) = refs
            assert ref["controller"] is True
            kinds[ref["kind"]] += 1
            key = (pod["metadata"]["namespace"], ref["name"])
            if ref["kind"] == "ReplicaSet":
                owner = rs[key]
                assert owner["metadata"]["uid"] == ref["uid"]
                (up,) = owner["metadata"]["ownerReferences"]
                assert (up["apiVersion"], up["kind"]) in (
                    ("apps/v1", "Deployment"),
                    ("argoproj.io/v1alpha1", "Rollout"),
                )
                kinds["rs-" + up["kind"]] += 1
                h = pod["metadata"]["labels"].get("pod-template-hash") or pod["metadata"]["labels"].get(
                    "rollouts-pod-template-hash"
                )
                assert owner["metadata"]["name"].endswith("-" + h)
            elif ref["kind"] == "Job":
                job = jobs[key]
                assert job["metadata"]["uid"] == ref["uid"]
                up_refs = job["metadata"].get("ownerReferences", [])
                if up_refs:
                    assert up_refs[0]["kind"] == "CronJob"
                    kinds["job-CronJob"] += 1
                else:
                    assert "helm.sh/hook" in job["metadata"]["annotations"]  # a one-off hook Job
                if job["status"].get("succeeded"):
                    assert pod["status"]["phase"] == "Succeeded"
            else:
                assert ref["kind"] in ("StatefulSet", "DaemonSet", "Node")
        for r in snap[Kind.REPLICASETS]:  # RS replicas match the pods that hold a place
            n = sum(
                1
                for p in snap[Kind.PODS]
                if p["metadata"]["namespace"] == r["metadata"]["namespace"]
                and p["status"]["phase"] in ("Running", "Pending")
                and any(o["name"] == r["metadata"]["name"] for o in p["metadata"].get("ownerReferences", []))
            )
            assert r["status"]["replicas"] == r["spec"]["replicas"] == n
    for k in (
        "ReplicaSet",
        "rs-Deployment",
        "rs-Rollout",
        "Job",
        "job-CronJob",
        "StatefulSet",
        "DaemonSet",
        "Node",
        "bare",
    ):
        assert kinds[k] > 0, k


def test_quantities_parse_with_the_kubernetes_parser() -> None:
    snap = snapshot("prod-us-east-1", DAY2 + timedelta(hours=16))
    seen = 0

    def check(d: Obj | None) -> None:
        nonlocal seen
        for v in (d or {}).values():
            parse_quantity(v)
            seen += 1

    for pod in snap[Kind.PODS]:
        for c in pod["spec"]["containers"] + pod["spec"].get("initContainers", []):
            check(c["resources"].get("requests"))
            check(c["resources"].get("limits"))
        check(pod["spec"].get("overhead"))
    for n in snap[Kind.NODES]:
        check(n["status"]["capacity"])
        check(n["status"]["allocatable"])
    for pm in snap[Kind.POD_METRICS]:
        for c in pm["containers"]:
            check(c["usage"])
    for nm in snap[Kind.NODE_METRICS]:
        check(nm["usage"])
    for rq in snap[Kind.RESOURCEQUOTAS]:
        check(rq["spec"]["hard"])
        check(rq["status"]["used"])
        assert rq["status"]["used"].keys() == rq["spec"]["hard"].keys()
    assert seen > 5000


def test_request_forms_are_varied() -> None:
    snap = snapshot("prod-us-east-1", DAY2 + timedelta(hours=16))
    cpu: set[str] = set()
    mem: set[str] = set()
    no_limits = sidecars = overhead = init = 0
    for pod in snap[Kind.PODS]:
        spec = pod["spec"]
        for c in spec["containers"]:
            cpu.add(c["resources"].get("requests", {}).get("cpu", ""))
            mem.add(c["resources"].get("requests", {}).get("memory", ""))
            no_limits += "limits" not in c["resources"]
        for c in spec.get("initContainers", []):
            sidecars += c.get("restartPolicy") == "Always"
            init += c.get("restartPolicy") != "Always"
        overhead += "overhead" in spec
    assert {"250m", "1", "100m"} <= cpu and any("." in v for v in cpu)
    assert any(v.endswith("Mi") for v in mem) and any(v.endswith("Gi") for v in mem)
    assert any(v.endswith(("M", "G")) for v in mem)
    assert no_limits and sidecars and overhead and init


# --- fleet behaviour ------------------------------------------------------------------------------


def test_teams_and_labels() -> None:
    f = fleet()
    assert len(f.teams) >= 40
    labelled = unlabelled = pod_labelled = 0
    team_ns = set(f.teams)
    snap = snapshot("prod-us-east-1", DAY2 + timedelta(hours=14))
    for ns in snap[Kind.NAMESPACES]:
        name = ns["metadata"]["name"]
        assert ns["metadata"]["labels"]["kubernetes.io/metadata.name"] == name
        if name in team_ns:
            if "team" in ns["metadata"]["labels"]:
                labelled += 1
            else:
                unlabelled += 1
    for pod in snap[Kind.PODS]:
        pod_labelled += "team" in pod["metadata"]["labels"]
    assert labelled >= 10 and unlabelled >= 5 and pod_labelled >= 50
    names = {ns["metadata"]["name"] for ns in snap[Kind.NAMESPACES]}
    assert {"kube-system", "monitoring", "ingress-nginx", "cert-manager"} <= names


def test_node_pools_spot_and_gpu() -> None:
    snap = snapshot("prod-us-east-1", DAY2 + timedelta(hours=18))
    labels = [n["metadata"]["labels"] for n in snap[Kind.NODES]]
    assert any(lab.get("eks.amazonaws.com/capacityType") == "SPOT" for lab in labels)
    gpu = [n for n in snap[Kind.NODES] if "nvidia.com/gpu" in n["status"]["capacity"]]
    assert gpu and all(any(t["key"] == "nvidia.com/gpu" for t in n["spec"]["taints"]) for n in gpu)
    for lab in labels:
        for key in (
            "node.kubernetes.io/instance-type",
            "topology.kubernetes.io/zone",
            "topology.kubernetes.io/region",
        ):
            assert key in lab
    karpenter = snapshot("prod-eu-west-1", DAY2 + timedelta(hours=13))[Kind.NODES]
    assert any(n["metadata"]["labels"].get("karpenter.sh/capacity-type") == "spot" for n in karpenter)
    assert len({n["metadata"]["labels"]["node.kubernetes.io/instance-type"] for n in karpenter}) >= 3
    gke = snapshot("staging-us-central1", DAY2 + timedelta(hours=13))[Kind.NODES]
    assert any(n["metadata"]["labels"].get("cloud.google.com/gke-spot") == "true" for n in gke)


def test_oom_kills_are_visible() -> None:
    snap = snapshot("prod-us-east-1", DAY2 + timedelta(hours=20))
    ooms = [
        cs
        for pod in snap[Kind.PODS]
        for cs in pod["status"].get("containerStatuses", [])
        if cs.get("lastState", {}).get("terminated", {}).get("reason") == "OOMKilled"
    ]
    assert ooms
    assert all(cs["lastState"]["terminated"]["exitCode"] == 137 and cs["restartCount"] >= 1 for cs in ooms)


def test_pending_pods_at_peak_and_autoscaling_over_a_day() -> None:
    counts: dict[str, list[int]] = defaultdict(list)
    pending_at: list[tuple[str, int]] = []
    for cluster in fleet().cluster_names:
        for hour in range(0, 24, 2):
            src = fleet().source(cluster, DAY2 + timedelta(hours=hour, minutes=1))
            nodes = src.items(Kind.NODES)
            counts[cluster].append(len(nodes))
            for pod in src.items(Kind.PODS):
                if "nodeName" not in pod["spec"]:
                    (cond,) = pod["status"]["conditions"]
                    assert (cond["type"], cond["status"], cond["reason"]) == (
                        "PodScheduled",
                        "False",
                        "Unschedulable",
                    )
                    pending_at.append((cluster, hour))
    for cluster, c in counts.items():
        assert max(c) >= 1.2 * min(c), (cluster, c)  # the cluster autoscaler follows the daily load
    us_hours = Counter(h for c, h in pending_at if c == "prod-us-east-1")
    assert us_hours[18] + us_hours[20] > 0  # 13:00-15:00 local: the daily peak fills a pool to its max
    assert us_hours[8] == 0  # 03:00 local: quiet, room everywhere


def test_node_names_are_stable_between_nearby_instants() -> None:
    a = {n["metadata"]["name"] for n in snapshot("prod-us-east-1", DAY2 + timedelta(hours=10))[Kind.NODES]}
    b = {
        n["metadata"]["name"]
        for n in fleet().source("prod-us-east-1", DAY2 + timedelta(hours=10, minutes=5)).items(Kind.NODES)
    }
    assert len(a & b) >= 0.9 * max(len(a), len(b))


def _usage(cluster: str, at: datetime) -> Decimal:
    return sum(
        (q(c["usage"]["cpu"]) for pm in snapshot(cluster, at)[Kind.POD_METRICS] for c in pm["containers"]),
        Decimal(0),
    )


def test_diurnal_and_weekly_load() -> None:
    day = DAY2
    peak, night = (
        _usage("prod-eu-west-1", day + timedelta(hours=14)),
        _usage("prod-eu-west-1", day + timedelta(hours=3)),
    )
    assert peak > Decimal("1.4") * night
    sunday = START + timedelta(days=6, hours=14)
    assert _usage("prod-eu-west-1", sunday) < Decimal("0.95") * peak


def test_usage_profiles_make_interesting_efficiency() -> None:
    """Some workloads use a tenth of their requests, some use more than they request, some idle."""
    snap = snapshot("prod-us-east-1", DAY2 + timedelta(hours=17))
    pods = {(p["metadata"]["namespace"], p["metadata"]["name"]): p for p in snap[Kind.PODS]}
    ratios = []
    for pm in snap[Kind.POD_METRICS]:
        pod = pods[(pm["metadata"]["namespace"], pm["metadata"]["name"])]
        c0 = pod["spec"]["containers"][0]
        req = c0["resources"].get("requests", {}).get("cpu")
        if req and pm["metadata"]["namespace"] not in ("kube-system", "monitoring", "logging"):
            ratios.append(q(pm["containers"][0]["usage"]["cpu"]) / q(req))
    assert sum(r < Decimal("0.15") for r in ratios) > 0.15 * len(ratios)
    assert sum(r > Decimal("1.1") for r in ratios) > 3
    assert sum(r < Decimal("0.02") for r in ratios) > 3


def test_rollouts_change_requests_over_history() -> None:
    def requests(at: datetime) -> dict[tuple[str, str], str]:
        out = {}
        for rs in snapshot("prod-us-east-1", at)[Kind.REPLICASETS]:
            if rs["spec"]["replicas"]:
                owner = rs["metadata"]["ownerReferences"][0]["name"]
                c0 = rs["spec"]["template"]["spec"]["containers"][0]
                out[(rs["metadata"]["namespace"], owner)] = json.dumps(c0["resources"], sort_keys=True)
        return out

    early, late = requests(START + timedelta(hours=12)), requests(START + timedelta(days=21, hours=12))
    changed = [k for k in early.keys() & late.keys() if early[k] != late[k]]
    assert len(changed) >= 3


def test_growth_over_weeks() -> None:
    def team_pods(at: datetime) -> int:
        snap = snapshot("prod-us-east-1", at)
        return sum(
            1
            for p in snap[Kind.PODS]
            if p["status"]["phase"] == "Running"
            and p["metadata"]["namespace"] not in ("kube-system", "monitoring", "logging")
        )

    assert team_pods(START + timedelta(days=51, hours=15)) > 1.05 * team_pods(
        START + timedelta(days=2, hours=15)
    )


def test_quotas_and_managed_fields() -> None:
    snap = snapshot("prod-us-east-1", DAY2 + timedelta(hours=14))
    assert snap[Kind.RESOURCEQUOTAS]
    assert all("managedFields" not in p["metadata"] for p in snap[Kind.PODS])
    heavy = Fleet(FleetSpec(managed_fields=True), start=START).source(
        "prod-us-east-1", DAY2 + timedelta(hours=14)
    )
    pods = heavy.items(Kind.PODS)
    assert all(p["metadata"]["managedFields"] for p in pods)
    size = len(json.dumps(pods)) / len(pods)
    assert size > 5000  # managedFields make up a real share of a real pod's size


def test_metrics_outages_degrade_only_metrics() -> None:
    f = Fleet(FleetSpec(metrics_outages=True), start=START)
    src = f.source("staging-us-central1", DAY2 + timedelta(hours=9, minutes=30))  # Wednesday 03:30 local
    assert src.items(Kind.PODS)
    with pytest.raises(KindUnavailable) as err:
        list(src.pages(Kind.POD_METRICS))
    assert err.value.status == 503


# --- speed and the huge cluster -------------------------------------------------------------------


def test_speed_of_one_instant() -> None:
    f = Fleet(FleetSpec(seed=3), start=START)
    f.source("prod-us-east-1", DAY2).items(Kind.PODS)  # warm the memo of the day
    times = []
    for i in range(1, 13):
        t0 = time.perf_counter()
        src = f.source("prod-us-east-1", DAY2 + timedelta(minutes=20 * i))
        n = sum(len(page) for kind in Kind for page in src.pages(kind))
        times.append(time.perf_counter() - t0)
    pods = len(src.instant.pods)
    ms = sorted(times)[len(times) // 2] * 1000
    print(f"\none instant, all kinds: {ms:.1f} ms median ({pods} pods, {n} objects)")
    assert ms < 150


def test_huge_cluster_small_variant() -> None:
    t0 = time.perf_counter()
    src = huge_cluster(nodes=200, pods=6000, at=DAY2 + timedelta(hours=15), managed_fields=True)
    assert isinstance(src, SimulatedSource)
    nodes = src.items(Kind.NODES)
    n_pods = 0
    for page in src.pages(Kind.PODS):
        assert len(page) <= 500
        n_pods += len(page)
    assert len(nodes) == 200
    assert 0.9 * 6000 <= n_pods <= 1.1 * 6000
    print(f"\nhuge_cluster(200 nodes, {n_pods} pods): {time.perf_counter() - t0:.2f} s")


def test_pod_names_are_unique_in_a_big_cluster() -> None:
    # 1,500 nodes: each DaemonSet names 1,500 pods with five random characters, where the
    # birthday bound makes a collision likely somewhere unless names are made unique.
    src = huge_cluster(
        nodes=1500, pods=15_000, seed=11, at=datetime(2026, 11, 2, 14, tzinfo=UTC), managed_fields=False
    )
    keys = [
        (p["metadata"]["namespace"], p["metadata"]["name"]) for page in src.pages(Kind.PODS) for p in page
    ]
    assert len(keys) > 14_000
    assert len(keys) == len(set(keys))


def test_the_add_ons_file_names_only_what_the_simulator_reads() -> None:
    """data/addons.yaml: a misspelt key or condition would be silently ignored, so it is refused here."""
    from collectors.simulator import _system

    keys = {
        "when", "namespace", "name", "kind", "containers", "init", "r0", "pools", "priority",
        "host_network", "labels", "hpa", "profile", "pool",
    }  # fmt: skip
    container_keys = {
        "name",
        "image",
        "cpu",
        "mem",
        "cpu_lim",
        "mem_lim",
        "use_cpu",
        "use_mem",
        "probes",
        "ports",
    }
    addons = _system.addons()
    assert len(addons) > 20
    for addon in addons:
        assert set(addon) <= keys, addon["name"]
        assert addon.get("when") in {
            None,
            "aws",
            "not-aws",
            "karpenter",
            "cluster-autoscaler",
            "gpu",
            "linkerd",
            "rollouts",
        }
        assert addon.get("priority") in {None, *_system._PRIORITIES}
        assert addon["kind"] in {"DaemonSet", "Deployment", "StatefulSet", "Static"}
        for spec in [*addon["containers"], *addon.get("init", [])]:
            assert set(spec) <= container_keys, (addon["name"], spec["name"])
