"""Benchmark: the bin-packing simulation at fleet scale, in process.

Builds the simulation's input frames for a fleet of N nodes (3 clusters, 8 pools each, mixed
node sizes, 3 zones, a spot pool, an arm64 pool, tainted GPU pools, two DaemonSet pods per node)
and ~30 pods per node from workloads of 1-60 replicas with requests scaled to their pool's nodes,
a third of them constrained (a nodeSelector, required affinity on arch and zones, anti-affinity
on the hostname, a zone spread), grouped as ``inventory.packing_inputs`` reads them
(a row per workload and request shape, DaemonSet pods a row per node), plus a recommendations
frame that right-sizes every workload, then times ``capacity.analysis.binpacking.simulate`` (both packings) and the node-type search
over the whole bundled catalog (``capacity.analysis.node_types.search``) at 1/10 of the fleet and
at the full fleet, in one run. Prints seconds, pods per second, the scaling ratio
(10x the pods should cost about 10x), and the peak Python memory of the simulation.

Usage: .venv/bin/python benchmarks/binpacking_scale.py [--nodes 5000] [--pods-per-node 30]
"""

from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from capacity.analysis.binpacking import NODE_COLUMNS, POD_COLUMNS, simulate
from capacity.analysis.node_types import search
from capacity.node_shapes import offers_in

GIB = 1024.0**3
SIZES = [(3.92, 14.8 * GIB, 0.0, 58), (7.91, 29.8 * GIB, 0.0, 110), (15.89, 60.6 * GIB, 0.0, 110),
         (7.91, 61.0 * GIB, 1.0, 110)]  # fmt: skip
TYPES = ["m5.xlarge", "m5.2xlarge", "m5.4xlarge", "g5.4xlarge"]  # what each size is


ZONES = ("us-east-1a", "us-east-1b", "us-east-1c")
GPU_TAINT = {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}
GPU_TOLERATION = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]


def constraints(kind: int, pool: str, gpu: bool) -> dict[str, object]:
    """A third of the workloads pinned or repelled: a nodeSelector on the pool, required
    affinity on an architecture and two zones, anti-affinity on the hostname, a zone spread."""
    pinned: dict[str, object] = {"node_selector": {}, "required_affinity": [],
                                 "tolerations": GPU_TOLERATION if gpu else [], "repels_own": False, "zone_skew": None}  # fmt: skip
    if kind == 0:
        pinned["node_selector"] = {"pool": pool}
    elif kind == 1:
        pinned["required_affinity"] = [{"matchExpressions": [
            {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]},
            {"key": "topology.kubernetes.io/zone", "operator": "NotIn", "values": [ZONES[2]]},
        ]}]  # fmt: skip
    elif kind == 2:
        pinned["repels_own"] = True
    elif kind == 3:
        pinned["zone_skew"] = 1
    return pinned


def fleet(nodes: int, pods_per_node: int, seed: int = 7) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    node_rows = []
    for i in range(nodes):
        cluster = f"c{i % 3}"
        number = (i // 3) % 8
        pool, size = f"pool-{number}", SIZES[number % len(SIZES)]
        zone = ZONES[(i // 24) % 3]
        labels = {"pool": pool, "kubernetes.io/arch": "arm64" if number == 5 else "amd64",
                  "topology.kubernetes.io/zone": zone, "kubernetes.io/hostname": f"{cluster}-n{i}"}  # fmt: skip
        node_rows.append((cluster, f"{cluster}-n{i}", pool, *size, 0.2 + 0.1 * (size[0] // 4), zone,
                          "spot" if number == 6 else "on-demand", labels, [GPU_TAINT] if size[2] else [],
                          TYPES[number % len(TYPES)], "us-east-1"))  # fmt: skip
    node_frame = pd.DataFrame(node_rows, columns=NODE_COLUMNS)
    by_pool = node_frame.groupby(["cluster", "pool"]).first()
    pod_rows: list[dict[str, object]] = []
    rec_rows = []
    target = nodes * pods_per_node
    workload = 0
    pools = list(by_pool.index)
    placed = 0
    while placed < target:
        cluster, pool = pools[rng.integers(len(pools))]
        home = by_pool.loc[(cluster, pool)]
        replicas = int(rng.integers(1, 61))
        # requests scaled to the pool's node size: the fleet is about 60 % allocated
        node_cpu = float(home["cpu_allocatable"])
        cpu = float(rng.choice([0.05, 0.1, 0.15, 0.25, 0.4])) * node_cpu / 8
        memory = float(rng.choice([0.125, 0.25, 0.5, 0.75, 1.0])) * GIB * node_cpu / 8
        on_gpu = bool(home["gpu_allocatable"])
        gpu = 1.0 if on_gpu and replicas <= 3 and rng.random() < 0.1 else 0.0
        kind = int(rng.integers(0, 12))  # 0-3: constrained (a third), the rest free
        name = f"w{workload}"
        # one row per workload: what packing_inputs reads, grouped by pool, workload and requests
        pod_rows.append({
            "cluster": cluster, "pool": pool, "node": None, "namespace": "ns", "kind": "Deployment",
            "workload": name, "daemonset": False, "pods": replicas, "cpu_request": cpu, "memory_request": memory,
            "gpu_request": gpu, "cpu_usage": replicas * cpu * 0.4, "memory_usage": replicas * memory * 0.6,
            "zone": home["zone"], "capacity_type": home["capacity_type"], **constraints(kind, pool, on_gpu),
        })  # fmt: skip
        placed += replicas
        rec_rows.append((cluster, "ns", "Deployment", name, "app", cpu, cpu * 0.6, memory, memory * 0.8))
        workload += 1
    for cluster, node, pool, zone, ctype in zip(
        node_frame["cluster"], node_frame["node"], node_frame["pool"], node_frame["zone"],
        node_frame["capacity_type"], strict=True,
    ):  # fmt: skip
        for ds in ("agent", "cni"):  # DaemonSet pods: a group per node
            pod_rows.append({
                "cluster": cluster, "pool": pool, "node": node, "namespace": "kube-system", "kind": "DaemonSet",
                "workload": ds, "daemonset": True, "pods": 1, "cpu_request": 0.1, "memory_request": 0.2 * GIB,
                "gpu_request": 0.0, "cpu_usage": 0.05, "memory_usage": 0.1 * GIB, "zone": zone,
                "capacity_type": ctype, **constraints(-1, pool, True),
            })  # fmt: skip
    pods = pd.DataFrame(pod_rows, columns=POD_COLUMNS)
    recs = pd.DataFrame(
        rec_rows,
        columns=["cluster", "namespace", "workload_kind", "workload", "container", "cpu_request",
                 "cpu_recommended", "memory_request_bytes", "memory_recommended_bytes"],
    )  # fmt: skip
    return pods, node_frame, recs


def timed(nodes: int, pods_per_node: int) -> tuple[float, int, int, pd.DataFrame, float, pd.DataFrame]:
    """Return (seconds, pods, peak traced bytes, table, node-type search seconds, its table):
    timed untraced, then the packing run again traced."""
    pods, node_frame, recs = fleet(nodes, pods_per_node)
    started = time.perf_counter()
    table = simulate(pods, node_frame, recs)
    seconds = time.perf_counter() - started
    started = time.perf_counter()
    types = search(pods, node_frame, lambda region: offers_in(region, "USD"))
    search_seconds = time.perf_counter() - started
    tracemalloc.start()  # tracing slows allocation down: a second run, for the peak only
    simulate(pods, node_frame, recs)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return seconds, int(pods["pods"].sum()), peak, table, search_seconds, types


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--nodes", type=int, default=5000)
    parser.add_argument("--pods-per-node", type=int, default=30)
    args = parser.parse_args()
    timed(30, 5)  # warm-up: first calls into pandas and numpy paths
    small = timed(max(args.nodes // 10, 30), args.pods_per_node)
    full = timed(args.nodes, args.pods_per_node)
    offers_in("us-east-1", "USD")  # the catalog is read once per process
    for label, (seconds, pods, peak, _, searched, types) in (("1/10 fleet", small), ("full fleet", full)):
        print(
            f"{label}: {pods:,} pods -> {seconds:.2f} s ({pods / seconds:,.0f} pods/s), peak {peak / 1e6:.0f} MB; "
            f"node-type search over {int(types['candidates'].sum()):,} candidates "
            f"({int(types['packed'].sum()):,} packed) {searched:.2f} s"
        )
    print(f"scaling: {full[1] / small[1]:.1f}x the pods cost {full[0] / small[0]:.1f}x the time")
    table = full[3]
    print(
        f"full fleet: {int(table['nodes'].sum()):,} nodes now, {int(table['nodes_needed'].sum()):,} needed as "
        f"requested, {int(table['nodes_needed_rightsized'].sum()):,} right-sized, in {len(table)} pools"
    )
    types = full[5]
    print(
        f"node types: {types['monthly_cost'].sum():,.0f} a month now, {types['best_monthly_cost'].sum():,.0f} "
        f"on each pool's best type ({int((types['best_instance_type'] != types['instance_type']).sum())} "
        f"of {len(types)} pools change type)"
    )
    print(
        f"lower bounds: {int(table['nodes_lower_bound'].sum()):,} as requested, "
        f"{int(table['nodes_lower_bound_rightsized'].sum()):,} right-sized; "
        f"{int(table['removable'].sum())} pools could be removed"
    )


if __name__ == "__main__":
    main()
