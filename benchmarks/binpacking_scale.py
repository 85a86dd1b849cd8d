"""Benchmark: the bin-packing simulation at fleet scale, in process.

Builds the simulation's input frames for a fleet of N nodes (3 clusters, 8 pools each, mixed
node sizes, two DaemonSet pods per node) and ~30 pods per node from workloads of 1-60 replicas
with requests scaled to their pool's nodes, grouped as ``inventory.packing_inputs`` reads them
(a row per workload and request shape, DaemonSet pods a row per node), plus a recommendations
frame that right-sizes every workload, then times ``capacity.analysis.binpacking.simulate`` (both packings) at 1/10 of the
fleet and at the full fleet, in one run. Prints seconds, pods per second, the scaling ratio
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

GIB = 1024.0**3
SIZES = [(3.92, 14.8 * GIB, 0.0, 58), (7.91, 29.8 * GIB, 0.0, 110), (15.89, 60.6 * GIB, 0.0, 110),
         (7.91, 61.0 * GIB, 1.0, 110)]  # fmt: skip


def fleet(nodes: int, pods_per_node: int, seed: int = 7) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    node_rows = []
    for i in range(nodes):
        cluster = f"c{i % 3}"
        pool = f"pool-{(i // 3) % 8}"
        size = SIZES[((i // 3) % 8) % len(SIZES)]
        node_rows.append((cluster, f"{cluster}-n{i}", pool, *size, 0.2 + 0.1 * (size[0] // 4)))
    node_frame = pd.DataFrame(node_rows, columns=NODE_COLUMNS)
    by_pool = node_frame.groupby(["cluster", "pool"])["node"].apply(list).to_dict()
    pod_rows: list[tuple[object, ...]] = []
    rec_rows = []
    target = nodes * pods_per_node
    workload = 0
    pools = list(by_pool)
    placed = 0
    while placed < target:
        cluster, pool = pools[rng.integers(len(pools))]
        names = by_pool[(cluster, pool)]
        replicas = int(rng.integers(1, 61))
        # requests scaled to the pool's node size: the fleet is about 60 % allocated
        node_cpu = float(node_frame.loc[node_frame["node"] == names[0], "cpu_allocatable"].iloc[0])
        cpu = float(rng.choice([0.05, 0.1, 0.15, 0.25, 0.4])) * node_cpu / 8
        memory = float(rng.choice([0.125, 0.25, 0.5, 0.75, 1.0])) * GIB * node_cpu / 8
        gpu = 1.0 if pool.endswith(("3", "7")) and replicas <= 3 and rng.random() < 0.1 else 0.0
        name = f"w{workload}"
        # one row per workload: what packing_inputs reads, grouped by pool, workload and requests
        pod_rows.append(
            (cluster, pool, None, "ns", "Deployment", name, False, replicas, cpu, memory, gpu,
             replicas * cpu * 0.4, replicas * memory * 0.6)
        )  # fmt: skip
        placed += replicas
        rec_rows.append((cluster, "ns", "Deployment", name, "app", cpu, cpu * 0.6, memory, memory * 0.8))
        workload += 1
    for cluster, node, pool in zip(
        node_frame["cluster"], node_frame["node"], node_frame["pool"], strict=True
    ):
        for ds in ("agent", "cni"):  # DaemonSet pods: a group per node
            pod_rows.append(
                (
                    cluster,
                    pool,
                    node,
                    "kube-system",
                    "DaemonSet",
                    ds,
                    True,
                    1,
                    0.1,
                    0.2 * GIB,
                    0.0,
                    0.05,
                    0.1 * GIB,
                )
            )
    pods = pd.DataFrame(pod_rows, columns=POD_COLUMNS)
    recs = pd.DataFrame(
        rec_rows,
        columns=["cluster", "namespace", "workload_kind", "workload", "container", "cpu_request",
                 "cpu_recommended", "memory_request_bytes", "memory_recommended_bytes"],
    )  # fmt: skip
    return pods, node_frame, recs


def timed(nodes: int, pods_per_node: int) -> tuple[float, int, int, pd.DataFrame]:
    """Return (seconds, pods, peak traced bytes, table): timed untraced, then run again traced."""
    pods, node_frame, recs = fleet(nodes, pods_per_node)
    started = time.perf_counter()
    table = simulate(pods, node_frame, recs)
    seconds = time.perf_counter() - started
    tracemalloc.start()  # tracing slows allocation down: a second run, for the peak only
    simulate(pods, node_frame, recs)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return seconds, int(pods["pods"].sum()), peak, table


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
    for label, (seconds, pods, peak, _) in (("1/10 fleet", small), ("full fleet", full)):
        print(
            f"{label}: {pods:,} pods -> {seconds:.2f} s ({pods / seconds:,.0f} pods/s), peak {peak / 1e6:.0f} MB"
        )
    print(f"scaling: {full[1] / small[1]:.1f}x the pods cost {full[0] / small[0]:.1f}x the time")
    table = full[3]
    print(
        f"full fleet: {int(table['nodes'].sum()):,} nodes now, {int(table['nodes_needed'].sum()):,} needed as "
        f"requested, {int(table['nodes_needed_rightsized'].sum()):,} right-sized, in {len(table)} pools"
    )


if __name__ == "__main__":
    main()
