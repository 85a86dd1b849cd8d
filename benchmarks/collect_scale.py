"""Benchmark: `capacity collect` against a loopback API serving a 5,000-node / 150,000-pod cluster.

Prints, from one run on this machine:
  - the time to merely download and JSON-decode every page through the `kubernetes` client
    (the floor any collector pays),
  - the wall time and peak RSS of `capacity collect` over the same pages, and their ratio,
  - peak RSS at a third of the pods, to show memory grows only with the rows written.

Every tenth pod mounts a claim of its own bound to a volume, as StatefulSet pods do (the
simulator's big cluster runs few StatefulSets), so the volumes, claims and their split are
measured at scale: 15,000 of each at 150,000 pods.

Usage: .venv/bin/python benchmarks/collect_scale.py [--nodes 5000] [--pods 150000] [--claim-every 10]
The API server runs in its own process with every page pre-encoded, so its cost is the
same for both measurements and does not count in the collector's memory.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PY = sys.executable
PAGE_SIZE = 500

SERVER = r"""
import sys, time, orjson, threading
from datetime import datetime, UTC
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit, parse_qs
from collectors.simulator import huge_cluster
from collectors.source import Kind

nodes, pods, port, claim_every = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
source = huge_cluster(nodes=nodes, pods=pods, seed=7, at=datetime(2026, 11, 2, 14, 0, tzinfo=UTC))

def with_claims(kind):
    # The simulator's items; every claim_every-th pod mounts a claim of its own, as a StatefulSet
    # pod does (data-<pod>, 10-320 GiB, bound to a gp3 volume).
    items = source.items(kind)
    if kind is Kind.PODS:
        for n, pod in enumerate(items):
            if n % claim_every == 0:
                name = "data-" + pod["metadata"]["name"]
                pod["spec"]["volumes"] = [{"name": "data", "persistentVolumeClaim": {"claimName": name}},
                                          *pod["spec"].get("volumes", [])]
        CLAIMED.extend((p["metadata"]["namespace"], "data-" + p["metadata"]["name"]) for p in items[::claim_every])
    elif kind is Kind.PERSISTENTVOLUMECLAIMS:
        items = items + [{"metadata": {"namespace": ns, "name": c}, "spec": {"volumeName": "pv-" + c,
                          "resources": {"requests": {"storage": f"{10 << (n % 6)}Gi"}}}} for n, (ns, c) in enumerate(CLAIMED)]
    elif kind is Kind.PERSISTENTVOLUMES:
        items = items + [{"metadata": {"name": "pv-" + c}, "spec": {"capacity": {"storage": f"{10 << (n % 6)}Gi"},
                          "storageClassName": "gp3", "csi": {"driver": "ebs.csi.aws.com"},
                          "claimRef": {"namespace": ns, "name": c}}, "status": {"phase": "Bound"}}
                         for n, (ns, c) in enumerate(CLAIMED)]
    return items

CLAIMED = []
LIST = {Kind.NAMESPACES: ("NamespaceList", "v1"), Kind.NODES: ("NodeList", "v1"),
        Kind.PODS: ("PodList", "v1"), Kind.REPLICASETS: ("ReplicaSetList", "apps/v1"),
        Kind.JOBS: ("JobList", "batch/v1"), Kind.RESOURCEQUOTAS: ("ResourceQuotaList", "v1"),
        Kind.PERSISTENTVOLUMES: ("PersistentVolumeList", "v1"),
        Kind.PERSISTENTVOLUMECLAIMS: ("PersistentVolumeClaimList", "v1"),
        Kind.STORAGECLASSES: ("StorageClassList", "storage.k8s.io/v1"), Kind.SERVICES: ("ServiceList", "v1"),
        Kind.HORIZONTALPODAUTOSCALERS: ("HorizontalPodAutoscalerList", "autoscaling/v2"),
        Kind.POD_METRICS: ("PodMetricsList", "metrics.k8s.io/v1beta1"),
        Kind.NODE_METRICS: ("NodeMetricsList", "metrics.k8s.io/v1beta1")}
PAGES = {}
total = 0
for kind in sorted(Kind, key=lambda k: k is not Kind.PODS):  # pods first: they name the claims
    items = with_claims(kind)
    chunks = [items[i:i + %(page)d] for i in range(0, len(items), %(page)d)] or [[]]
    encoded = []
    for n, chunk in enumerate(chunks):
        meta = {"resourceVersion": "1"}
        if n + 1 < len(chunks):
            meta["continue"] = str(n + 1)
        body = orjson.dumps({"kind": LIST[kind][0], "apiVersion": LIST[kind][1], "metadata": meta, "items": chunk})
        encoded.append(body)
        total += len(body)
    PAGES[kind.path] = encoded
    del items, chunks

class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    def log_message(self, *a): pass
    def do_GET(self):
        url = urlsplit(self.path)
        pages = PAGES.get(url.path)
        if pages is None:
            self.send_response(404); self.send_header("Content-Length", "0"); self.end_headers(); return
        token = parse_qs(url.query).get("continue", ["0"])[0]
        body = pages[int(token)]
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

server = ThreadingHTTPServer(("127.0.0.1", port), H)
print(f"READY {total} {sum(len(p) for p in PAGES.values())}", flush=True)
server.serve_forever()
""".replace("%(page)d", str(PAGE_SIZE))

BASELINE = r"""
import sys, time, orjson, gc
if sys.argv[2] == "nogc":
    gc.disable()  # as the collector does while folding pages in: the fastest possible floor
from kubernetes import client, config
cfg = client.Configuration()
config.load_kube_config(config_file=sys.argv[1], client_configuration=cfg)
api = client.ApiClient(cfg)
core, apps, batch, custom = client.CoreV1Api(api), client.AppsV1Api(api), client.BatchV1Api(api), client.CustomObjectsApi(api)
listers = [core.list_namespace, core.list_node, apps.list_replica_set_for_all_namespaces,
           batch.list_job_for_all_namespaces, core.list_resource_quota_for_all_namespaces,
           lambda **kw: custom.list_cluster_custom_object("metrics.k8s.io", "v1beta1", "nodes", **kw),
           lambda **kw: custom.list_cluster_custom_object("metrics.k8s.io", "v1beta1", "pods", **kw),
           core.list_persistent_volume, core.list_persistent_volume_claim_for_all_namespaces,
           client.StorageV1Api(api).list_storage_class, core.list_service_for_all_namespaces,
           client.AutoscalingV2Api(api).list_horizontal_pod_autoscaler_for_all_namespaces,
           core.list_pod_for_all_namespaces]
started = time.perf_counter()
items = 0
for lister in listers:
    token = None
    while True:
        kw = {"limit": %(page)d, "_preload_content": False, "_request_timeout": (10, 60)}
        if token:
            kw["_continue"] = token
        page = orjson.loads(lister(**kw).data)
        items += len(page["items"])
        token = page["metadata"].get("continue")
        if not token:
            break
print(f"{time.perf_counter() - started:.3f} {items}")
""".replace("%(page)d", str(PAGE_SIZE))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_measured(argv: list[str], env: dict[str, str]) -> tuple[float, int, str, str]:
    """Run a child; return wall seconds, its own peak RSS in bytes, stdout, stderr."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=err, text=True, env=env)
        # wait4 gives this child's own rusage (RUSAGE_CHILDREN would mix in every child).
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode != 0:
        raise SystemExit(f"{argv[:3]} failed ({proc.returncode}): {stderr.strip()[-2000:]}")
    return wall, usage.ru_maxrss * 1024, stdout, stderr


def measure(nodes: int, pods: int, workdir: Path, claim_every: int) -> dict[str, float]:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    server = subprocess.Popen(
        [PY, "-c", SERVER, str(nodes), str(pods), str(port), str(claim_every)],
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        assert server.stdout is not None
        ready = server.stdout.readline().split()
        if not ready or ready[0] != "READY":
            raise SystemExit("benchmark API server did not start")
        payload_bytes = int(ready[1])
        kubeconfig = workdir / f"kubeconfig-{pods}"
        kubeconfig.write_text(
            "apiVersion: v1\nkind: Config\ncurrent-context: bench\n"
            f"clusters: [{{name: bench, cluster: {{server: 'http://127.0.0.1:{port}'}}}}]\n"
            "users: [{name: bench, user: {token: bench}}]\n"
            "contexts: [{name: bench, context: {cluster: bench, user: bench}}]\n"
        )
        db = workdir / f"bench-{pods}.db"
        # Warm the server's page cache and the OS; then measure each once, baseline first.
        run_measured([PY, "-c", BASELINE, str(kubeconfig), "gc"], env)
        base_wall, _, out, _ = run_measured([PY, "-c", BASELINE, str(kubeconfig), "gc"], env)
        base_inner = float(out.split()[0])
        nogc_wall, _, _, _ = run_measured([PY, "-c", BASELINE, str(kubeconfig), "nogc"], env)
        capacity = str(Path(PY).with_name("capacity"))
        collect_wall, collect_rss, _, err = run_measured(
            [
                capacity,
                "--db",
                f"sqlite:///{db}",
                "collect",
                "--cluster",
                "bench",
                "--kubeconfig",
                str(kubeconfig),
            ],
            env,
        )
        line = next((ln for ln in err.splitlines() if "snapshot cluster=" in ln), "")
        return {
            "payload_mb": payload_bytes / 1e6,
            "baseline_wall": base_wall,
            "baseline_inner": base_inner,
            "baseline_nogc": nogc_wall,
            "collect_wall": collect_wall,
            "collect_rss_mb": collect_rss / 2**20,
            "db_mb": db.stat().st_size / 1e6
            + (db.with_suffix(".db-wal").stat().st_size / 1e6 if db.with_suffix(".db-wal").exists() else 0.0),
            "line": line,  # type: ignore[dict-item]
        }
    finally:
        server.terminate()
        server.wait()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--nodes", type=int, default=5000)
    parser.add_argument("--pods", type=int, default=150_000)
    parser.add_argument(
        "--claim-every",
        type=int,
        default=10,
        help="every Nth pod mounts a claim of its own (a StatefulSet's)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        small = measure(args.nodes // 3, args.pods // 3, work, args.claim_every)
        big = measure(args.nodes, args.pods, work, args.claim_every)
    print(
        f"cluster: {args.nodes:,} nodes, {args.pods:,} pods ({args.pods // args.claim_every:,} with a claim and "
        f"its volume), {big['payload_mb']:,.0f} MB of JSON in pages of {PAGE_SIZE}"
    )
    print(
        f"download + JSON-decode only (kubernetes client, raw pages): {big['baseline_wall']:.1f} s "
        f"({big['baseline_inner']:.1f} s after imports)"
    )
    print(f"capacity collect (list, normalize, price, write SQLite):    {big['collect_wall']:.1f} s")
    print(f"download + JSON-decode only, cyclic GC paused:              {big['baseline_nogc']:.1f} s")
    print(
        f"ratio collect / download+decode:                            {big['collect_wall'] / big['baseline_wall']:.2f}x"
    )
    print(
        f"ratio collect / download+decode with GC paused (strictest): {big['collect_wall'] / big['baseline_nogc']:.2f}x"
    )
    print(
        f"peak RSS of capacity collect: {big['collect_rss_mb']:.0f} MB at {args.pods:,} pods, "
        f"{small['collect_rss_mb']:.0f} MB at {args.pods // 3:,} pods"
    )
    print(f"database after one snapshot: {big['db_mb']:.0f} MB")
    print(f"collector log: {big['line']}")


if __name__ == "__main__":
    main()
