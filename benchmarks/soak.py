"""Soak: `capacity collect --all-contexts --every 10s` over three loopback clusters for a while, with
faults injected at random (seeded) while reports, status and the dashboard read the same store.

Prints, from one run:
  - per cluster: rounds the collector ran (snapshots expected), snapshots landed in the store, snapshot
    lines logged, failures logged, and the rounds skipped by backoff; landed must equal logged
    (nothing lost, nothing doubled) and every tick is one of landed, failed or skipped;
  - collector errors by kind, and faults injected by kind;
  - the collector's peak RSS per minute (it must stay flat), and the readers' outcomes.

Usage: .venv/bin/python benchmarks/soak.py [--minutes 10] [--seed 1] [--pods 2000] [--every 10]
       [--db sqlite:///soak.db]   (a temporary SQLite file by default)
This is a script that prints figures, not a test; the fault suite in tests/ holds the assertions.
"""

from __future__ import annotations

import argparse
import collections
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from kubeapi import Body, Delay, Drop, FakeKubeAPI, Html, Truncate, write_kubeconfig  # noqa: E402
from sqlalchemy import create_engine, func, select  # noqa: E402

from capacity.store import schema as m  # noqa: E402
from collectors.simulator import huge_cluster  # noqa: E402
from collectors.source import Kind  # noqa: E402

ENV = {**os.environ, "PYTHONPATH": str(REPO)}
CLUSTERS = ("alpha", "beta", "gamma")


def serve(api: FakeKubeAPI, *, pods: int, seed: int) -> dict[Kind, list[dict[str, object]]]:
    source = huge_cluster(nodes=max(3, pods // 33), pods=pods, seed=seed, at=datetime.now(UTC))
    items = {kind: list(source.items(kind)) for kind in Kind}
    for kind, listed in items.items():
        api.set_items(kind.path, listed)
    return items


def malformed(items: list[dict[str, object]], rng: random.Random) -> list[object]:
    """The list with a few broken objects in it: nulls, a duplicate, a string where a map goes."""
    broken: list[object] = [dict(i) for i in items]
    victim = dict(items[rng.randrange(len(items))])
    victim["spec"] = {
        **victim.get("spec", {}),
        "containers": [{"name": "x", "resources": {"requests": "lots"}}],
    }  # type: ignore[dict-item]
    broken[rng.randrange(len(broken))] = victim
    broken.insert(rng.randrange(len(broken)), None)
    broken.insert(rng.randrange(len(broken)), {"metadata": None})
    broken.append(items[0])
    return broken


FAULTS = ("500", "503", "429", "drop", "slow", "truncate", "html", "410-first", "410-mid", "malformed",
          "items-null", "outage-30s", "metrics-down-30s")  # fmt: skip


def injector(
    apis: dict[str, FakeKubeAPI],
    payloads: dict[str, dict[Kind, list[dict[str, object]]]],
    rng: random.Random,
    stop: threading.Event,
    injected: collections.Counter[str],
) -> None:
    restore: list[tuple[float, str, str, Kind]] = []
    while not stop.wait(rng.uniform(1.0, 4.0)):
        now = time.monotonic()
        for at, cluster, what, kind in [r for r in restore if r[0] <= now]:
            restore.remove((at, cluster, what, kind))
            apis[cluster].persist(kind.path, None)
            apis[cluster].set_items(kind.path, payloads[cluster][kind])
        cluster = rng.choice(CLUSTERS)
        api = apis[cluster]
        kind = rng.choice((Kind.PODS, Kind.PODS, Kind.NODES, Kind.POD_METRICS, Kind.NAMESPACES))
        fault = rng.choice(FAULTS)
        injected[fault] += 1
        if fault in ("500", "503", "429", "410-first"):
            api.inject(kind.path, *[int(fault.split("-")[0])] * rng.randint(1, 3))
        elif fault == "drop":
            api.inject(kind.path, Drop())
        elif fault == "slow":
            api.inject(kind.path, Delay(rng.uniform(0.5, 3.0)))
        elif fault == "truncate":
            api.inject(kind.path, Truncate(rng.uniform(0.1, 0.9)))
        elif fault == "html":
            api.inject(kind.path, Html(rng.choice((200, 502))))
        elif fault == "410-mid":
            api.expire_continue(Kind.PODS.path, rng.randint(1, 5))
        elif fault == "malformed":
            api.set_items(Kind.PODS.path, malformed(payloads[cluster][Kind.PODS], rng))  # type: ignore[arg-type]
            restore.append((now + 25, cluster, fault, Kind.PODS))
        elif fault == "items-null":
            api.inject(kind.path, Body({"kind": "List", "items": None}))
        elif fault == "outage-30s":
            api.persist(Kind.NODES.path, 503)
            restore.append((now + 30, cluster, fault, Kind.NODES))
        elif fault == "metrics-down-30s":
            api.persist(Kind.POD_METRICS.path, 503)
            restore.append((now + 30, cluster, fault, Kind.POD_METRICS))


def readers(db: str, stop: threading.Event, outcomes: collections.Counter[str], port: int) -> None:
    commands = [
        ["report", "teams", "--window", "1d", "--format", "csv"],
        ["status", "--format", "json"],
        ["report", "nodes", "--window", "1h", "--format", "csv"],
    ]
    n = 0
    while not stop.wait(3.0):
        argv = commands[n % len(commands)]
        n += 1
        done = subprocess.run(
            [sys.executable, "-m", "capacity.cli", "--db", db, *argv],
            capture_output=True, text=True, env=ENV, timeout=120, check=False,
        )  # fmt: skip
        ok = done.returncode == 0 and "Traceback" not in done.stderr
        outcomes[
            f"{argv[0]} {argv[1] if argv[0] == 'report' else ''}".strip() + (" ok" if ok else " FAILED")
        ] += 1
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=10) as answer:
                outcomes["dashboard health ok" if answer.status == 200 else "dashboard health FAILED"] += 1
        except OSError:
            outcomes["dashboard health FAILED"] += 1


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return 0  # the process has gone
    return 0


def landed(db: str) -> dict[str, int]:
    engine = create_engine(db)
    try:
        with engine.connect() as conn:
            query = (
                select(m.Cluster.name, func.count(m.Snapshot.id)).join(m.Snapshot).group_by(m.Cluster.name)
            )
            return {str(n): int(c) for n, c in conn.execute(query)}
    finally:
        engine.dispose()


def kind_of(error: str) -> str:
    for pattern, kind in (
        (r"timeout after", "timeout"), (r"410", "410 Gone"), (r"kept expiring", "list kept expiring"),
        (r"HTML", "HTML body"), (r"mid-response", "truncated body"), (r"items array", "items missing"),
        (r"HTTP 5\d\d|HTTP 429", "HTTP 5xx/429"), (r"closed by the server", "connection dropped"),
        (r"deadline", "deadline"), (r"internal error", "INTERNAL ERROR"), (r"database", "database"),
    ):  # fmt: skip
        if re.search(pattern, error):
            return kind
    return "other"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--pods", type=int, default=2000, help="pods per cluster")
    parser.add_argument("--every", type=int, default=10, help="collection period in seconds")
    parser.add_argument("--db", help="database URL (default: a temporary SQLite file)")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    workdir = Path(tempfile.mkdtemp(prefix="capacity-soak-"))
    db = args.db or f"sqlite:///{workdir}/soak.db"
    config = workdir / "config.yaml"
    config.write_text("collection: {retries: 3, request_timeout_seconds: 2}\n")
    apis = {name: FakeKubeAPI().start() for name in CLUSTERS}
    payloads = {name: serve(api, pods=args.pods, seed=i) for i, (name, api) in enumerate(apis.items())}
    kubeconfig = write_kubeconfig(workdir / "kubeconfig", apis)
    log_path = workdir / "collector.log"
    with log_path.open("w") as log:
        collector = subprocess.Popen(
            [sys.executable, "-m", "capacity.cli", "--db", db, "--config", str(config), "collect",
             "--kubeconfig", str(kubeconfig), "--all-contexts", "--every", f"{args.every}s"],
            stderr=log, env=ENV,
        )  # fmt: skip
    port = 18700 + args.seed % 100
    time.sleep(5)  # the schema exists once the first round is written
    dashboard = subprocess.Popen(
        [sys.executable, "-m", "capacity.cli", "--db", db, "dashboard", "--port", str(port),
         "--address", "127.0.0.1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV,
    )  # fmt: skip
    stop = threading.Event()
    injected: collections.Counter[str] = collections.Counter()
    outcomes: collections.Counter[str] = collections.Counter()
    threads = [
        threading.Thread(target=injector, args=(apis, payloads, rng, stop, injected), daemon=True),
        threading.Thread(target=readers, args=(db, stop, outcomes, port), daemon=True),
    ]
    for thread in threads:
        thread.start()
    started = time.monotonic()
    peaks: list[int] = []
    try:
        while time.monotonic() - started < args.minutes * 60 and collector.poll() is None:
            minute = int((time.monotonic() - started) // 60)
            while len(peaks) <= minute:
                peaks.append(0)
            peaks[minute] = max(peaks[minute], rss_kib(collector.pid))
            time.sleep(1.0)
    finally:
        stop.set()
        ran = time.monotonic() - started + 5
        collector.send_signal(signal.SIGTERM)
        exit_code = collector.wait(timeout=120)
        dashboard.send_signal(signal.SIGTERM)
        dashboard.wait(timeout=30)
        for thread in threads:
            thread.join(timeout=130)
        for api in apis.values():
            api.stop()
    log = log_path.read_text()
    stored = landed(db)
    found = re.search(r"stopped after rounds=(\d+)", log)
    rounds = int(found.group(1)) if found else int(ran // args.every)
    print(f"soak: {args.minutes:g} min, seed {args.seed}, {args.pods} pods x 3 clusters, every {args.every}s, "
          f"collector exit {exit_code}, log {log_path}")  # fmt: skip
    print(f"{'cluster':8} {'expected':>8} {'landed':>7} {'logged':>7} {'failed':>7} {'skipped':>8}")
    for name in CLUSTERS:
        logged = len(re.findall(rf"INFO snapshot cluster={name} ", log))
        failed = len(re.findall(rf"ERROR failed cluster={name} ", log))
        retries = [int(n) for n in re.findall(rf"retry cluster={name} in_periods=(\d+)", log)]
        skipped = sum(n - 1 for n in retries)
        expected = rounds
        print(f"{name:8} {expected:>8} {stored.get(name, 0):>7} {logged:>7} {failed:>7} {skipped:>8}")
    errors = collections.Counter(
        kind_of(e) for e in re.findall(r"ERROR failed cluster=\S+ .* error=(.*)", log)
    )
    print("collector errors by kind: " + (", ".join(f"{k} {n}" for k, n in errors.most_common()) or "none"))
    print("faults injected: " + ", ".join(f"{k} {n}" for k, n in injected.most_common()))
    print("readers: " + ", ".join(f"{k} {n}" for k, n in sorted(outcomes.items())))
    print("tracebacks in the collector log:", log.count("Traceback"))
    print("collector peak RSS per minute (MiB): " + " ".join(f"{p / 1024:.0f}" for p in peaks))
    return 0


if __name__ == "__main__":
    sys.exit(main())
