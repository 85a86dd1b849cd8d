"""Benchmark: `capacity report` over 30 days of a 3-cluster, 1,500-node, 45,000-pod fleet at 15 minutes.

Prints, from one run on this machine:
  - what was generated and how long each step took,
  - rows per table, the database file size, and its size per day of collection by tier
    (raw samples, hourly rollups, daily rollups), with the size under the default retention,
  - the median (and best) wall time of `capacity report teams --window 1d/7d/30d` and
    `capacity report recommendations --window 14d` (real CLI, one process per run),
  - the median (and best) in-process time of `build_report` for the same windows (imports excluded),
    where the 30d window's time goes, and the ratios 30d / 1d.

How the database is built (the rows are the ones the collector writes, not an approximation):
  - one snapshot per cluster goes through the real normalization and pricing path
    (`huge_cluster` + `build_snapshot`); every 15-minute instant of the last day and a half is that
    snapshot with its usage scaled by a diurnal factor and a little noise per container and node
    (requests, allocation, costs and CPU histograms stay those of the base instant), written by
    `write_snapshot` in one transaction per snapshot, pod-grain rows only for the newest;
  - `compact` rolls those samples into hourly and daily rollups and applies a raw retention of
    1 day; the older days' hourly and daily rollups are that whole day's rollups copied back
    1..29 days (INSERT ... SELECT), which is what `compact` would have written for a fleet whose
    workloads and nodes did not change; the watermarks are the ones `compact` set;
  - so the database holds 30.5 days of collection: 30 whole days and the current half day in
    rollups, raw samples for the last day only. The default retention keeps 14 days of raw
    samples; the size for that is extrapolated from the size of one day of raw rows.

`--fanout K` splits every non-DaemonSet workload into K workloads (replicas and sums divided, the
pods dealt out among them) to see how the reports scale with the number of workloads: the
simulator's big cluster runs about 140 workloads of ~100 pods each per cluster.

Usage: .venv/bin/python benchmarks/report_scale.py [--clusters 3] [--nodes 500] [--pods 15000]
           [--days 30] [--fanout 1] [--runs 3] [--profile] [--workdir DIR [--reuse]]
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from contextlib import closing
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Engine, Table, bindparam, delete, func, insert, select, update

from capacity.config import Config, Retention
from capacity.records import ContainerSample, PodRecord, Resources, Snapshot, WorkloadKey
from capacity.store import schema as m
from capacity.store.buckets import BLOCKS
from capacity.store.buckets import STEP as STEPS
from capacity.store.compaction import compact
from capacity.store.engine import open_store
from capacity.store.snapshots import write_snapshot
from collectors.collect import build_snapshot
from collectors.simulator import huge_cluster

REPO = Path(__file__).resolve().parents[1]
PY = sys.executable
CAPACITY = str(Path(PY).with_name("capacity"))
STEP = timedelta(minutes=15)
NEWEST = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)  # mid-day: the current day is still in hours
END = NEWEST + timedelta(seconds=1)  # --end just after the newest snapshot
MB = 1e6

RAW_TABLES = (
    "snapshots", "node_samples", "container_samples", "container_allocations", "quota_samples",
    "asset_allocations", "volume_samples", "load_balancer_samples",
)  # fmt: skip
ROLLUP_TABLES = (
    "container_rollups", "node_rollups", "cluster_rollups", "allocation_rollups", "node_price_rollups",
    "cluster_price_rollups", "asset_rollups", "volume_rollups",
)  # fmt: skip

# In a fresh process: build_report's own time (imports, engine and first-query costs excluded).
IN_PROCESS = r"""
import cProfile, io, json, pstats, statistics, sys, time
from datetime import datetime, timedelta
from capacity.config import Config
from capacity.store.engine import open_store
from capacity.reports import ReportRequest, build_report
from capacity.store.windows import container_window, node_window
from sqlalchemy import event

url, end, runs, profile = sys.argv[1], datetime.fromisoformat(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1"
config = Config()
engine = open_store(url)
out = {"reports": {}, "parts": {}}

def median(fn):
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), min(times), result

with engine.connect() as conn:
    build_report(conn, ReportRequest("teams", end - timedelta(days=1), end), config)  # warm-up
    for kind, days in (("teams", 1), ("teams", 7), ("teams", 30), ("recommendations", 14)):
        request = ReportRequest(kind, end - timedelta(days=days), end)
        seconds, best, frame = median(lambda: build_report(conn, request, config))
        statements = []
        count = lambda *a: statements.append(1)
        event.listen(engine, "before_cursor_execute", count)
        build_report(conn, request, config)
        event.remove(engine, "before_cursor_execute", count)
        out["reports"][f"{kind} {days}d"] = [seconds, best, len(frame), len(statements)]
    for name, fn, days in (("container_window", container_window, 30), ("container_window", container_window, 14),
                           ("node_window", node_window, 30), ("container_window", container_window, 1),
                           ("node_window", node_window, 1)):
        seconds, best, frame = median(lambda: fn(conn, start=end - timedelta(days=days), end=end))
        out["parts"][f"{name} {days}d"] = [seconds, best, len(frame)]
    if profile:
        profiler = cProfile.Profile()
        request = ReportRequest("teams", end - timedelta(days=30), end)
        profiler.runcall(build_report, conn, request, config)
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(30)
        out["profile"] = text.getvalue()
engine.dispose()
print(json.dumps(out))
"""

FLOOR = r"""
import sys
import capacity.cli, capacity.reports
from capacity.store.engine import open_store
open_store(sys.argv[1]).dispose()
"""


def _table(model: type[m.Base]) -> Table:
    return cast(Table, model.__table__)


# --- snapshots ----------------------------------------------------------------------------------


def _split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def fan_out(snap: Snapshot, k: int) -> Snapshot:
    """Split every non-DaemonSet workload into ``k`` workloads: replicas, sums and pods divided."""
    if k <= 1:
        return snap

    def key(w: WorkloadKey, i: int) -> WorkloadKey:
        return w if i == 0 else WorkloadKey(w.namespace, w.kind, f"{w.name}-f{i}")

    def part(x: float | None, f: float) -> float | None:
        return None if x is None else x * f

    containers: list[ContainerSample] = []
    for c in snap.containers:
        if c.workload.kind == "DaemonSet":
            containers.append(c)
            continue
        reps, used, pend = (_split(n, k) for n in (c.replicas, c.usage_replicas, c.pending_replicas))
        for i in range(k):
            if i and not reps[i] and not pend[i]:
                continue
            fr = reps[i] / c.replicas if c.replicas else 0.0
            fu = used[i] / c.usage_replicas if c.usage_replicas else fr
            fp = pend[i] / c.pending_replicas if c.pending_replicas else 0.0
            containers.append(
                replace(
                    c,
                    workload=key(c.workload, i),
                    replicas=reps[i],
                    cpu_request=c.cpu_request * fr,
                    memory_request=c.memory_request * fr,
                    gpu_request=c.gpu_request * fr,
                    cpu_limit=part(c.cpu_limit, fr),
                    memory_limit=part(c.memory_limit, fr),
                    usage_replicas=used[i],
                    cpu_usage_sum=part(c.cpu_usage_sum, fu),
                    memory_usage_sum=part(c.memory_usage_sum, fu),
                    cpu_allocated=c.cpu_allocated * fr,
                    memory_allocated=c.memory_allocated * fr,
                    allocations={key: (a * fr, b * fr, g * fr) for key, (a, b, g) in c.allocations.items()},
                    pending_replicas=pend[i],
                    pending_cpu_request=c.pending_cpu_request * fp,
                    pending_memory_request=c.pending_memory_request * fp,
                    cpu_usage_hist={b: w * fu for b, w in c.cpu_usage_hist.items()},
                )
            )
    seen: dict[WorkloadKey, int] = defaultdict(int)
    pods: list[PodRecord] = []
    for p in snap.pods:
        if p.workload.kind == "DaemonSet":
            pods.append(p)
            continue
        i = seen[p.workload] % k
        seen[p.workload] += 1
        pods.append(replace(p, workload=key(p.workload, i)))
    labels = {
        key(w, i): v
        for w, v in snap.workload_labels.items()
        for i in range(1 if w.kind == "DaemonSet" else k)
    }
    return replace(snap, containers=containers, pods=pods, workload_labels=labels)


def at_instant(base: Snapshot, at: datetime, rng: random.Random) -> Snapshot:
    """Return ``base`` taken at ``at``, its usage scaled by a diurnal factor and per-row noise."""
    hour = at.hour + at.minute / 60.0
    diurnal = 1.0 + 0.15 * math.sin(2 * math.pi * (hour - 9.0) / 24.0)

    containers = []
    for c in base.containers:
        if c.cpu_usage_sum is None:
            containers.append(c)
            continue
        f = diurnal * rng.uniform(0.95, 1.05)
        containers.append(
            replace(
                c,
                cpu_usage_sum=c.cpu_usage_sum * f,
                memory_usage_sum=None if c.memory_usage_sum is None else float(round(c.memory_usage_sum * f)),
                cpu_usage_max=None if c.cpu_usage_max is None else c.cpu_usage_max * f,
                memory_usage_max=None if c.memory_usage_max is None else float(round(c.memory_usage_max * f)),
            )
        )
    nodes = []
    for n in base.nodes:
        if n.usage is None:
            nodes.append(n)
            continue
        f = diurnal * rng.uniform(0.97, 1.03)
        usage = Resources(n.usage.cpu * f, float(round(n.usage.memory * f)), n.usage.gpu)
        nodes.append(replace(n, usage=usage))
    return replace(base, taken_at=at, containers=containers, nodes=nodes)


# --- the database -------------------------------------------------------------------------------

_ROLLUPS: tuple[type[m.Base], ...] = (
    m.ContainerRollup, m.NodeRollup, m.ClusterRollup, m.AllocationRollup, m.NodePriceRollup,
    m.ClusterPriceRollup, m.AssetRollup, m.VolumeRollup,
)  # fmt: skip


def copy_rollups_back(engine: Engine, day0: datetime, days: int) -> int:
    """Copy day0's hourly and daily rollups (and its 6-hour blocks) to each of the ``days`` - 1
    days before it, and delete the blocks of days: the next ``compact`` rolls them over the whole
    history, as it does in a store from before blocks."""
    params = [
        {"tier": tier, "old_start": bucket, "new_start": bucket - timedelta(days=k)}
        for tier, buckets in (
            ("hour", [day0 + timedelta(hours=h) for h in range(24)]),
            ("h6", [day0 + timedelta(hours=h) for h in range(0, 24, 6)]),
            ("day", [day0]),
        )
        for bucket in buckets
        for k in range(1, days)
    ]
    with engine.begin() as conn:
        before = sum(conn.execute(select(func.count()).select_from(_table(t))).scalar_one() for t in _ROLLUPS)
        for model in _ROLLUPS:
            table = _table(model)
            names = [c.name for c in table.c]
            new_start = bindparam("new_start", type_=m.UTCDateTime())
            shifted = select(
                *(new_start.label(n) if n == "bucket_start" else table.c[n] for n in names)
            ).where(table.c.tier == bindparam("tier"), table.c.bucket_start == bindparam("old_start"))
            conn.execute(insert(table).from_select(names, shifted), params)
        day_blocks = [b.tier for b in BLOCKS if b.base == "day"]
        for model in (*_ROLLUPS, m.RollupWatermark):
            conn.execute(delete(_table(model)).where(_table(model).c.tier.in_(day_blocks)))
        after = sum(conn.execute(select(func.count()).select_from(_table(t))).scalar_one() for t in _ROLLUPS)
        # As if every namespace, workload and node had been there since the first day.
        first = day0 - timedelta(days=days - 1)
        for model in (m.Namespace, m.Workload, m.Node):
            conn.execute(update(_table(model)).values(first_seen_at=first))
        conn.execute(update(_table(m.Cluster)).values(created_at=first))
    return int(after - before)


def generate(url: str, args: argparse.Namespace) -> dict[str, Any]:
    timings: dict[str, float] = {}
    started = time.perf_counter()
    config = Config()
    bases = []
    for i in range(args.clusters):
        source = huge_cluster(nodes=args.nodes, pods=args.pods, seed=11 + i, at=NEWEST, managed_fields=False)
        snap = build_snapshot(
            source, cluster=f"bench-{i + 1}", config=config, taken_at=NEWEST, source_name="simulator"
        )
        bases.append(fan_out(snap, args.fanout))
        del source
    timings["simulate + normalize (1 snapshot per cluster)"] = time.perf_counter() - started

    day0 = datetime(NEWEST.year, NEWEST.month, NEWEST.day, tzinfo=UTC) - timedelta(days=1)
    instants = []
    at = day0
    while at <= NEWEST:
        instants.append(at)
        at += STEP
    engine = open_store(url)
    rng = random.Random(5)
    started = time.perf_counter()
    for at in instants:  # clusters interleaved in time, as collectors running side by side write
        for base in bases:
            snap = at_instant(base, at, rng)
            with engine.begin() as conn:
                write_snapshot(
                    conn, snap, nominal_interval_seconds=STEP.total_seconds(), pod_grain=at == NEWEST
                )
    written = len(instants) * len(bases)
    timings[f"write_snapshot x {written} ({len(instants)} instants x {len(bases)} clusters)"] = (
        time.perf_counter() - started
    )
    sample = bases[0]
    shape = {
        "nodes": sum(len(b.nodes) for b in bases),
        "pods": sum(len(b.pods) for b in bases),
        "containers": sum(len(b.containers) for b in bases),
        "workloads": sum(len({c.workload for c in b.containers}) for b in bases),
        "quotas": sum(len(b.quotas) for b in bases),
        "namespaces": sum(len(b.namespaces) for b in bases),
        "hist_buckets": sum(len(c.cpu_usage_hist) for c in sample.containers)
        / max(1, len(sample.containers)),
    }
    del bases, sample
    gc.collect()

    started = time.perf_counter()
    result = compact(engine, retention=Retention(raw_days=1), now=NEWEST)
    timings[
        f"compact: {result.hours_rolled} hours + {result.days_rolled} days rolled, raw older than 1 day deleted"
    ] = time.perf_counter() - started
    started = time.perf_counter()
    copied = copy_rollups_back(engine, day0, args.days)
    timings[f"copy day {day0:%m-%d}'s rollups back {args.days - 1} days ({copied:,} rows)"] = (
        time.perf_counter() - started
    )
    started = time.perf_counter()
    again = compact(engine, retention=Retention(raw_days=1), now=NEWEST)
    timings[f"compact: blocks of days over {args.days} days rolled ({again.rollup_rows:,} rows)"] = (
        time.perf_counter() - started
    )
    if again.hours_rolled or again.days_rolled or any(again.deleted.values()):
        raise SystemExit(f"a second compact was not a no-op: {again}")
    with engine.connect() as conn:
        wm = _table(m.RollupWatermark)
        marks = sorted({(str(t), u) for t, u in conn.execute(select(wm.c.tier, wm.c.complete_until))})
    engine.dispose()

    started = time.perf_counter()
    path = url.removeprefix("sqlite:///")
    with closing(sqlite3.connect(path)) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.execute("VACUUM")  # retention's deleted pages would be reused by the next collections
    timings["VACUUM"] = time.perf_counter() - started
    return {"timings": timings, "shape": shape, "marks": marks, "instants": len(instants), "day0": day0}


def sizes(path: str) -> dict[str, Any]:
    with closing(sqlite3.connect(path)) as db:
        tables = [
            r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        ]
        rows = {t: db.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}
        pages = dict(
            db.execute(
                "SELECT m.tbl_name, SUM(s.pgsize) FROM dbstat s JOIN sqlite_master m ON m.name = s.name "
                "GROUP BY m.tbl_name"
            ).fetchall()
        )
        tiers = {
            (t, tier): (n, buckets)
            for t in ROLLUP_TABLES
            for tier, n, buckets in db.execute(
                f'SELECT tier, count(*), count(DISTINCT bucket_start) FROM "{t}" GROUP BY tier'
            )
        }
        raw_instants = db.execute("SELECT count(DISTINCT taken_at) FROM snapshots").fetchone()[0]
    wal = Path(path + "-wal")
    return {
        "rows": rows,
        "bytes": pages,
        "tiers": tiers,
        "raw_instants": raw_instants,
        "file": Path(path).stat().st_size + (wal.stat().st_size if wal.exists() else 0),
    }


# --- timing -------------------------------------------------------------------------------------


def wall(argv: list[str], env: dict[str, str], runs: int) -> tuple[float, float]:
    """Run ``argv`` ``runs`` times; return the median and the best wall time."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        proc = subprocess.run(argv, env=env, capture_output=True, text=True)
        times.append(time.perf_counter() - started)
        if proc.returncode != 0:
            raise SystemExit(f"{argv[:4]} failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    return statistics.median(times), min(times)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clusters", type=int, default=3)
    parser.add_argument("--nodes", type=int, default=500, help="per cluster")
    parser.add_argument("--pods", type=int, default=15_000, help="per cluster")
    parser.add_argument("--days", type=int, default=30, help="whole days of rollups")
    parser.add_argument("--fanout", type=int, default=1, help="split each workload into this many")
    parser.add_argument("--runs", type=int, default=3, help="runs per timing (median and best printed)")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of the 30d teams report")
    parser.add_argument("--workdir", type=Path, help="keep the database here instead of a temp dir")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="with --workdir: time the database a run with the same options left there (no generation)",
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        work = args.workdir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        path = str(work / "report-scale.db")
        url = f"sqlite:///{path}"
        kept = work / "report-scale.json"  # what generated the kept database, and how
        shape_args = {k: getattr(args, k) for k in ("clusters", "nodes", "pods", "days", "fanout")}
        if args.reuse:
            if args.workdir is None or not kept.exists():
                raise SystemExit("--reuse needs a --workdir that a previous run left a database in")
            held = json.loads(kept.read_text())
            if held["args"] != shape_args:
                raise SystemExit(f"--reuse: the kept database was generated with {held['args']}")
            gen = {
                **held["gen"],
                "day0": datetime.fromisoformat(held["gen"]["day0"]),
                "marks": [(t, datetime.fromisoformat(u)) for t, u in held["gen"]["marks"]],
            }
            generation = float(held["generation"])
        else:
            for suffix in ("", "-wal", "-shm"):
                Path(path + suffix).unlink(missing_ok=True)
            started = time.perf_counter()
            gen = generate(url, args)
            generation = time.perf_counter() - started
            kept.write_text(
                json.dumps({"args": shape_args, "gen": gen, "generation": generation}, default=str)
            )
        size = sizes(path)

        env = {k: v for k, v in os.environ.items() if k not in ("CAPACITY_CONFIG", "CAPACITY_DATABASE_URL")}
        env["PYTHONPATH"] = str(REPO)
        end = END.isoformat().replace("+00:00", "Z")

        def cli_argv(kind: str, window: str) -> list[str]:
            return [CAPACITY, "report", kind, "--db", url, "--window", window, "--end", end]

        output = ["--format", "csv", "--output", os.devnull]
        load = [os.getloadavg()[0]]
        wall([*cli_argv("teams", "1d"), *output], env, 1)  # warms the OS caches once, unmeasured
        floor = wall([PY, "-c", FLOOR, url], env, args.runs)
        cli = {
            f"{kind} {window}": wall([*cli_argv(kind, window), *output], env, args.runs)
            for kind, window in (
                ("teams", "1d"),
                ("teams", "7d"),
                ("teams", "30d"),
                ("recommendations", "14d"),
            )
        }
        proc = subprocess.run(
            [PY, "-c", IN_PROCESS, url, END.isoformat(), str(args.runs), "1" if args.profile else "0"],
            env=env,
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            raise SystemExit(f"in-process timing failed: {proc.stderr.strip()[-2000:]}")
        inproc = json.loads(proc.stdout)
        load.append(os.getloadavg()[0])

    report(args, gen, generation, size, floor, cli, inproc, load)


def report(
    args: argparse.Namespace,
    gen: dict[str, Any],
    generation: float,
    size: dict[str, Any],
    floor: tuple[float, float],
    cli: dict[str, tuple[float, float]],
    inproc: dict[str, Any],
    load: list[float],
) -> None:
    shape = gen["shape"]
    history = (NEWEST - (gen["day0"] - timedelta(days=args.days - 1))).total_seconds() / 86400
    print(
        f"fleet: {args.clusters} clusters, {shape['nodes']:,} nodes, {shape['pods']:,} pods, "
        f"{shape['workloads']:,} workloads, {shape['containers']:,} container rows, {shape['quotas']} quota rows "
        f"per snapshot (fanout {args.fanout}; {shape['hist_buckets']:.1f} histogram buckets per container)"
    )
    print(
        f"history: {history:g} days at 15 min, newest snapshot {NEWEST:%Y-%m-%d %H:%M}Z; raw samples kept "
        f"for the last day ({size['raw_instants']} instants), rollups for the rest"
    )
    print(f"watermarks: {', '.join(f'{t} until {u:%Y-%m-%d %H:%M}' for t, u in gen['marks'])}")
    print(f"generation: {generation:.1f} s")
    for what, seconds in gen["timings"].items():
        print(f"  {seconds:7.1f} s  {what}")

    rows, nbytes = size["rows"], size["bytes"]
    print("rows and bytes per table (with its indexes):")
    for table in sorted(rows, key=lambda t: -nbytes.get(t, 0)):
        detail = ""
        if table in ROLLUP_TABLES:
            detail = (
                "  ("
                + ", ".join(
                    f"{tier} {n:,} rows in {b:,} buckets"
                    for (t, tier), (n, b) in sorted(size["tiers"].items())
                    if t == table
                )
                + ")"
            )
        print(f"  {table:20s} {rows[table]:>12,} rows {nbytes.get(table, 0) / MB:9.1f} MB{detail}")
    print(f"database file: {size['file'] / MB:.1f} MB (after VACUUM)")

    # Per day of collection, by tier; a rollup table's bytes are split between tiers by rows.
    raw_day = sum(nbytes.get(t, 0) for t in RAW_TABLES) * 96 / size["raw_instants"]
    per_tier = {"hour": 0.0, "day": 0.0}  # blocks count with the hours or days they stand for
    base = {"hour": "hour", "day": "day", **{b.tier: b.base for b in BLOCKS}}
    for (table, tier), (n, buckets) in size["tiers"].items():
        days = buckets * STEPS[tier] / timedelta(days=1)
        per_tier[base[tier]] += nbytes[table] * n / rows[table] / days
    fixed = sum(v for t, v in nbytes.items() if t not in RAW_TABLES + ROLLUP_TABLES)
    total_day = raw_day + per_tier["hour"] + per_tier["day"]
    print("size per day of collection:")
    print(f"  raw samples (96 snapshots x {args.clusters} clusters):  {raw_day / MB:8.1f} MB")
    print(f"  hourly rollups (24 buckets, 4 blocks):      {per_tier['hour'] / MB:8.1f} MB")
    print(f"  daily rollups (1 bucket, its blocks' share): {per_tier['day'] / MB:7.2f} MB")
    print(f"  total:                                      {total_day / MB:8.1f} MB")
    print(f"  fixed, not per day (pod grain of the newest snapshots, names, labels): {fixed / MB:.1f} MB")
    at30 = fixed + 14 * raw_day + 30 * (per_tier["hour"] + per_tier["day"])
    steady = fixed + 14 * raw_day + 400 * per_tier["hour"] + 1825 * per_tier["day"]
    print(f"database at 30 days with the default 14 days of raw samples (extrapolated): {at30 / MB:,.0f} MB")
    print(
        f"steady state under the default retention (raw 14 d, hourly 400 d, daily 1825 d; "
        f"extrapolated): {steady / 1e9:,.1f} GB"
    )

    print(
        f"timings: median (best) of {args.runs} runs; 1-minute load average {load[0]:.1f} before, "
        f"{load[1]:.1f} after, on {os.cpu_count()} CPUs"
    )
    print(
        f"process floor (python + imports of capacity.cli, capacity.reports + schema check): "
        f"{floor[0]:.2f} s ({floor[1]:.2f} s)"
    )
    print("capacity report (CLI, wall time of the process):")
    for what, (seconds, best) in cli.items():
        print(f"  {what:20s} {seconds:6.2f} s ({best:.2f} s)  {seconds - floor[0]:+.2f} s over the floor")
    print("build_report in-process (imports excluded):")
    for what, (seconds, best, n, statements) in inproc["reports"].items():
        print(f"  {what:20s} {seconds:6.3f} s ({best:.3f} s)  {n:,} rows, {statements} SQL statements")
    print("window reads in-process:")
    for what, (seconds, best, n) in inproc["parts"].items():
        print(f"  {what:20s} {seconds:6.3f} s ({best:.3f} s)  {n:,} rows")
    rep = inproc["reports"]
    print(
        f"ratio teams 30d / 1d: CLI {cli['teams 30d'][0] / cli['teams 1d'][0]:.2f}x "
        f"(best {cli['teams 30d'][1] / cli['teams 1d'][1]:.2f}x), build_report "
        f"{rep['teams 30d'][0] / rep['teams 1d'][0]:.2f}x (best {rep['teams 30d'][1] / rep['teams 1d'][1]:.2f}x); "
        f"requirement: at most 3x"
    )
    verdict = "under" if cli["teams 30d"][0] < 1.5 else "NOT under"
    print(
        f"capacity report teams --window 30d: {cli['teams 30d'][0]:.2f} s wall, {verdict} the 1.5 s requirement; "
        f"in-process {rep['teams 30d'][0]:.2f} s (requirement 0.5 s), 1d {rep['teams 1d'][0]:.2f} s (0.3 s)"
    )
    if "profile" in inproc:
        print("cProfile of build_report, teams 30d (cumulative):")
        print(inproc["profile"])


if __name__ == "__main__":
    main()
