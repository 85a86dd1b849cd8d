"""Benchmark: `capacity backfill` from a real Prometheus over a simulated cluster's history.

For each shape (pods, days) — the base, twice the pods, twice the days — it builds a TSDB
(the simulated cluster rendered as kube-state-metrics v2 and cAdvisor series a day at a time,
each day's OpenMetrics text turned into blocks by promtool and deleted), starts `prometheus`
over it on a loopback port, and runs `capacity backfill` as its own process. Prints, from one
run on this machine:
  - how long the TSDB took to build and how big it is,
  - the backfill's wall time, its peak RSS, snapshots written and queries made,
  - Prometheus' RSS when idle and its peak during the backfill (Prometheus does not compact the
    fresh blocks meanwhile), and their ratio; and the same for
    its anonymous memory alone (RssAnon: its heap, without the TSDB's memory-mapped file pages,
    which grow with the data read and which the kernel reclaims at will),
  - how much faster than collecting the same snapshots live at the step (instants x step / wall),
  - the ratios between shapes: time against pods x days, and peak RSS against days.

`--base-only` runs the base shape alone (the others' TSDBs take most of an hour to build).
`--max-in-flight N` sets `prometheus.max_in_flight` (default 1): more queries at once, more
memory in Prometheus.

Usage: PYTHONPATH=. .venv/bin/python benchmarks/backfill_scale.py [--pods 1000] [--days 1]
           [--step 5m] [--base-only] [--workdir DIR [--reuse]]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from capacity.durations import parse_duration
from collectors.simulator import Fleet, FleetSpec
from collectors.simulator.exposition import Exposition
from tests.prometheus_harness import serve_prometheus

REPO = Path(__file__).resolve().parents[1]
END = datetime(2026, 11, 30, tzinfo=UTC)


@dataclass
class Run:
    pods: int
    days: float
    build_seconds: float
    tsdb_bytes: int
    samples: int
    wall: float
    peak_rss: int
    written: int
    queries: int
    prom_idle: int
    prom_peak: int
    instants: int
    step: float
    prom_anon_idle: int
    prom_anon_peak: int


def _rss(pid: int, field: str = "VmRSS") -> int:
    """Return a process' resident set (or ``VmHWM``, its peak since exec) in bytes; 0 once gone.

    The backfill's peak is read this way, not from wait4's ru_maxrss: that counts the pages the
    child shared with this (big) process between fork and exec."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    found = re.search(rf"{field}:\s+(\d+) kB", text)
    return int(found.group(1)) * 1024 if found else 0


def _build(pods: int, days: float, step: timedelta, root: Path) -> tuple[Path, float, int, int, str]:
    fleet = Fleet(
        FleetSpec(seed=5, clusters=1, teams=20, target_pods=pods), start=END - timedelta(days=days + 2)
    )
    cluster = fleet.cluster_names[0]
    data = root / "tsdb"
    started = time.perf_counter()
    exposition = Exposition(step_seconds=step.total_seconds())
    at, samples = END - timedelta(days=days), 0
    while at <= END:
        day_end = min(END, at.replace(hour=0, minute=0, second=0) + timedelta(days=1))
        while at <= day_end and at <= END:
            exposition.add(fleet.source(cluster, at), at, cluster=cluster)
            at += step
        text = root / "day.om"
        with text.open("w", encoding="utf-8") as out:
            samples += exposition.write(out)  # clears the day's series; counters carry on
        subprocess.run(
            ["promtool", "tsdb", "create-blocks-from", "openmetrics", "--quiet", str(text), str(data)],
            check=True,
            capture_output=True,
        )
        text.unlink()
    size = sum(f.stat().st_size for f in data.rglob("*") if f.is_file())
    return data, time.perf_counter() - started, size, samples, cluster


def _measure(
    pods: int, days: float, step: timedelta, workdir: Path, reuse: bool, in_flight: int | None
) -> Run:
    root = workdir / f"p{pods}-d{days:g}"
    sidecar = root / "tsdb.json"
    if reuse and sidecar.exists():  # the TSDB a previous run built for this shape
        data, (build, size, samples, cluster) = root / "tsdb", json.loads(sidecar.read_text())
        (root / "store.db").unlink(missing_ok=True)
    else:
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        data, build, size, samples, cluster = _build(pods, days, step, root)
        sidecar.write_text(json.dumps([build, size, samples, cluster]))
    # Fresh two-hour blocks would be compacted by Prometheus while the backfill runs, taking CPU
    # and memory that a long-running Prometheus spent long ago: blocks stay as promtool wrote them.
    no_compaction = ("--storage.tsdb.min-block-duration=2h", "--storage.tsdb.max-block-duration=2h")
    with serve_prometheus(data, *no_compaction) as server:
        time.sleep(1.0)
        idle, anon_idle = _rss(server.process.pid), _rss(server.process.pid, "RssAnon")
        peak = [idle, 0, anon_idle]
        done = threading.Event()
        child: list[int] = []

        def watch() -> None:
            while not done.is_set():
                peak[0] = max(peak[0], _rss(server.process.pid))
                peak[2] = max(peak[2], _rss(server.process.pid, "RssAnon"))
                if child:
                    peak[1] = max(peak[1], _rss(child[0], "VmHWM"))
                time.sleep(0.05)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        config = root / "config.yaml"
        config.write_text(f"prometheus: {{max_in_flight: {in_flight}}}\n" if in_flight else "{}\n")
        command = [
            sys.executable,
            "-m",
            "capacity.cli",
            "--config",
            str(config),
            "--db",
            f"sqlite:///{root / 'store.db'}",
            "backfill",
            "--prometheus",
            server.url,
            "--cluster",
            cluster,
            "--prometheus-selector",
            f'cluster="{cluster}"',
            "--start",
            (END - timedelta(days=days)).isoformat(),
            "--end",
            END.isoformat(),
            "--step",
            f"{int(step.total_seconds())}s",
        ]
        started = time.perf_counter()
        with (root / "out").open("wb") as out_file, (root / "err").open("wb") as err_file:
            process = subprocess.Popen(command, stdout=out_file, stderr=err_file, cwd=REPO)
            child.append(process.pid)
            _, status, _usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        out, err = (root / "out").read_text(), (root / "err").read_text()
        done.set()
        watcher.join()
    if status != 0:
        raise SystemExit(f"backfill failed: {err.strip()[-2000:]}")
    written = int(re.search(r"(\d+) snapshots written", out).group(1))  # type: ignore[union-attr]
    queries = int(re.search(r"in (\d+) queries", out).group(1))  # type: ignore[union-attr]
    instants = int(days * 86400 / step.total_seconds()) + 1
    return Run(
        pods,
        days,
        build,
        size,
        samples,
        wall,
        peak[1],
        written,
        queries,
        idle,
        peak[0],
        instants,
        step.total_seconds(),
        anon_idle,
        peak[2],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=1000)
    parser.add_argument("--days", type=float, default=1.0)
    parser.add_argument("--step", default="5m")
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--reuse", action="store_true", help="with --workdir: the TSDBs a previous run built")
    parser.add_argument("--base-only", action="store_true", help="only the base shape")
    parser.add_argument("--max-in-flight", type=int, help="prometheus.max_in_flight (default 1)")
    args = parser.parse_args()
    if shutil.which("prometheus") is None or shutil.which("promtool") is None:
        raise SystemExit("needs prometheus and promtool (Debian package prometheus)")
    step = timedelta(seconds=parse_duration(args.step))
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="backfill-scale-"))
    shapes = [(args.pods, args.days)]
    if not args.base_only:
        shapes += [(2 * args.pods, args.days), (args.pods, 2 * args.days)]
    runs = []
    load = os.getloadavg()[0]
    for pods, days in shapes:
        run = _measure(pods, days, step, workdir, args.reuse, args.max_in_flight)
        runs.append(run)
        print(
            f"{run.pods:>6,} pods {run.days:>5g} d: TSDB {run.samples:>11,} samples {run.tsdb_bytes / 2**20:7.1f} MiB "
            f"built in {run.build_seconds:6.1f} s | backfill {run.written:>5,} snapshots in {run.wall:7.1f} s "
            f"({run.wall / max(1, run.written) * 1000:5.1f} ms each), peak RSS {run.peak_rss / 2**20:6.1f} MiB, "
            f"{run.queries:,} queries | prometheus RSS idle {run.prom_idle / 2**20:6.1f} MiB, peak "
            f"{run.prom_peak / 2**20:6.1f} MiB ({run.prom_peak / max(1, run.prom_idle):.2f}x); anonymous "
            f"{run.prom_anon_idle / 2**20:.1f} -> {run.prom_anon_peak / 2**20:.1f} MiB "
            f"({run.prom_anon_peak / max(1, run.prom_anon_idle):.2f}x) | "
            f"{run.instants * run.step / run.wall:,.0f}x faster than live",
            flush=True,
        )
    print(f"load average {load:.2f} before, {os.getloadavg()[0]:.2f} after, on {os.cpu_count()} CPUs")
    if not args.base_only:
        _ratios(*runs)
    worst = max(r.prom_peak / max(1, r.prom_idle) for r in runs)
    anon = max(r.prom_anon_peak / max(1, r.prom_anon_idle) for r in runs)
    print(f"prometheus peak / idle RSS, worst: {worst:.2f}x, anonymous memory alone {anon:.2f}x (goal < 2x)")
    if args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)


def _ratios(base: Run, pods2: Run, days2: Run) -> None:
    print(
        f"time x2 pods: {pods2.wall / base.wall:.2f}x (pods x days: 2x); x2 days: {days2.wall / base.wall:.2f}x (2x)"
    )
    largest = max(r.peak_rss for r in (base, pods2, days2)) / 2**20
    print(
        f"peak RSS x2 days: {days2.peak_rss / base.peak_rss:.2f}x (goal: flat); x2 pods: "
        f"{pods2.peak_rss / base.peak_rss:.2f}x; largest {largest:.0f} MiB (goal < 400)"
    )


if __name__ == "__main__":
    main()
