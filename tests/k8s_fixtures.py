"""Loaders for the real public Kubernetes payloads in the shared fixtures folder.

Every loader returns the raw item dicts exactly as the API serves them in a list's
``items`` (nothing added, nothing fixed: the quirks are the point), ready for
``FakeKubeAPI.set_items``. The folder is ``$CAPACITY_FIXTURES`` if set, else
``<repo root>/../shared/fixtures``; its README.md describes every file.

Each call parses the file afresh, so callers may mutate what they get.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import orjson
import yaml

RawObject = dict[str, Any]

REPO_ROOT = Path(__file__).resolve().parent.parent


def fixtures_dir() -> Path:
    """The shared fixtures folder (``$CAPACITY_FIXTURES`` or ``<repo>/../shared/fixtures``)."""
    env = os.environ.get("CAPACITY_FIXTURES")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "fixtures"


def fixture_path(*parts: str) -> Path:
    return fixtures_dir().joinpath(*parts)


_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@functools.cache
def _parsed(path: Path) -> bytes:
    data = path.read_bytes()
    if path.suffix in (".yaml", ".yml"):
        # kubectl quotes timestamps, so YAML yields only JSON types here.
        return orjson.dumps(yaml.load(data, Loader=_YAML_LOADER))
    orjson.loads(data)  # fail early on invalid JSON
    return data


def _load(path: Path) -> Any:
    """The parsed document; a fresh copy on every call (the parse is cached per path)."""
    return orjson.loads(_parsed(path.resolve()))


def _list_items(*parts: str) -> list[RawObject]:
    """``items`` of a List document (``kind: XList`` or a kubectl ``kind: List``)."""
    doc = _load(fixture_path(*parts))
    if not isinstance(doc, dict) or not isinstance(doc.get("items"), list):
        raise ValueError(f"{fixture_path(*parts)} is not a List object")
    return list(doc["items"])


def _array(*parts: str) -> list[RawObject]:
    """A bare JSON array of objects."""
    doc = _load(fixture_path(*parts))
    if not isinstance(doc, list):
        raise ValueError(f"{fixture_path(*parts)} is not a JSON array")
    return doc


# -- minikube 1.35 (kubectl get -o yaml) ----------------------------------------------


def minikube_pods() -> list[RawObject]:
    """25 pods: 18 Running, 4 Failed, 2 Succeeded, 1 Pending with no nodeName."""
    return _list_items("minikube-1.35", "pods.yaml")


def minikube_nodes() -> list[RawObject]:
    """1 node (cpu "14", memory "8024304Ki")."""
    return _list_items("minikube-1.35", "nodes.yaml")


def minikube_namespaces() -> list[RawObject]:
    return _list_items("minikube-1.35", "namespaces.yaml")


def minikube_kubelet_pods() -> list[RawObject]:
    """The kubelet's /pods view at the same moment (pods on the node only)."""
    return _list_items("minikube-1.35", "kubelet_pods.json")


def minikube_stats_summary() -> RawObject:
    """The kubelet's /stats/summary (``node`` and ``pods``) as served."""
    doc = _load(fixture_path("minikube-1.35", "kubelet_stats_summary.json"))
    if not isinstance(doc, dict):
        raise ValueError("kubelet_stats_summary.json is not an object")
    return doc


def _memory_ki(working_set_bytes: int) -> str:
    return f"{working_set_bytes // 1024}Ki"


def _has_usage(stats: RawObject) -> bool:
    cpu = stats.get("cpu") or {}
    memory = stats.get("memory") or {}
    return cpu.get("usageNanoCores") is not None and memory.get("workingSetBytes") is not None


def minikube_pod_metrics(window: str = "15s") -> list[RawObject]:
    """metrics.k8s.io/v1beta1 PodMetrics built from the kubelet summary, as metrics-server does.

    CPU is ``usageNanoCores`` as ``"<n>n"``, memory ``workingSetBytes`` in Ki. Containers
    without cpu or memory usage are skipped, and pods left without containers. The
    timestamp (and creationTimestamp) is the latest container sample time.
    """
    out: list[RawObject] = []
    for pod in minikube_stats_summary().get("pods") or []:
        containers: list[RawObject] = []
        times: list[str] = []
        for container in pod.get("containers") or []:
            if not _has_usage(container):
                continue
            cpu, memory = container["cpu"], container["memory"]
            containers.append(
                {
                    "name": container["name"],
                    "usage": {
                        "cpu": f"{cpu['usageNanoCores']}n",
                        "memory": _memory_ki(memory["workingSetBytes"]),
                    },
                }
            )
            times.extend(t for t in (cpu.get("time"), memory.get("time")) if t)
        if not containers:
            continue
        timestamp = max(times) if times else pod.get("startTime")
        ref = pod["podRef"]
        out.append(
            {
                "kind": "PodMetrics",
                "apiVersion": "metrics.k8s.io/v1beta1",
                "metadata": {
                    "name": ref["name"],
                    "namespace": ref["namespace"],
                    "creationTimestamp": timestamp,
                },
                "timestamp": timestamp,
                "window": window,
                "containers": containers,
            }
        )
    return out


def minikube_node_metrics(window: str = "15s") -> list[RawObject]:
    """metrics.k8s.io/v1beta1 NodeMetrics for the node of the kubelet summary."""
    node = minikube_stats_summary()["node"]
    if not _has_usage(node):
        return []
    cpu, memory = node["cpu"], node["memory"]
    timestamp = max(t for t in (cpu.get("time"), memory.get("time"), node.get("startTime")) if t)
    return [
        {
            "kind": "NodeMetrics",
            "apiVersion": "metrics.k8s.io/v1beta1",
            "metadata": {"name": node["nodeName"], "creationTimestamp": timestamp},
            "timestamp": timestamp,
            "window": window,
            "usage": {"cpu": f"{cpu['usageNanoCores']}n", "memory": _memory_ki(memory["workingSetBytes"])},
        }
    ]


# -- other clusters --------------------------------------------------------------------


def doks_nodes() -> list[RawObject]:
    """7 DigitalOcean nodes (one unlabeled, one GPU); capacity in Ki, allocatable in Mi."""
    return _list_items("doks-nodes", "nodes.json")


def eks_pods() -> list[RawObject]:
    """6 pods on one EKS node (us-east-1, 2022)."""
    return _list_items("eks-node-pods", "pods.json")


def gke_node_metrics() -> list[RawObject]:
    """metrics-server v0.3.6 NodeMetrics items (1 node; items carry no kind)."""
    return _list_items("gke-metrics-2021", "_apis_metrics_k8s_io_v1beta1_nodes.json")


def gke_pod_metrics() -> list[RawObject]:
    """metrics-server v0.3.6 PodMetrics items (10 pods; window 30s; no kind per item)."""
    return _list_items("gke-metrics-2021", "_apis_metrics_k8s_io_v1beta1_pods.json")


def sonobuoy_nodes() -> list[RawObject]:
    """3 AWS m3.medium nodes (Kubernetes 1.8, old beta labels only)."""
    return _array("more", "sonobuoy-aws-us-west-2-2017", "Nodes.json")


def sonobuoy_pods() -> list[RawObject]:
    """Pods of every namespace file (Pods-<namespace>.json), namespaces in name order."""
    folder = fixture_path("more", "sonobuoy-aws-us-west-2-2017")
    pods: list[RawObject] = []
    for file in sorted(folder.glob("Pods-*.json")):
        pods.extend(_array("more", "sonobuoy-aws-us-west-2-2017", file.name))
    return pods


def k3s_nodes() -> list[RawObject]:
    """1 k3s arm64 node (``instance-type: k3s``)."""
    return _list_items("more", "troubleshoot-k3s-supportbundle", "nodes.json")


def _k3s_per_namespace(folder: str) -> list[RawObject]:
    items: list[RawObject] = []
    for file in sorted(fixture_path("more", "troubleshoot-k3s-supportbundle", folder).glob("*.json")):
        items.extend(_list_items("more", "troubleshoot-k3s-supportbundle", folder, file.name))
    return items


def k3s_pods() -> list[RawObject]:
    """Pods of every namespace PodList (pods/<namespace>.json), namespaces in name order."""
    return _k3s_per_namespace("pods")


def k3s_volumes() -> list[RawObject]:
    """4 PersistentVolumes of 8Gi, hostPath (``local-path``), each bound to a redis claim."""
    return _list_items("more", "troubleshoot-k3s-supportbundle", "pvs.json")


def k3s_claims() -> list[RawObject]:
    """4 bound redis claims in ``default`` that no running pod mounts (orphaned disks)."""
    return _k3s_per_namespace("pvcs")


def k3s_storage_classes() -> list[RawObject]:
    """The ``local-path`` StorageClass (provisioner ``rancher.io/local-path``)."""
    return _list_items("more", "troubleshoot-k3s-supportbundle", "storage-classes.json")


def k3s_services() -> list[RawObject]:
    """ClusterIP Services and one ``LoadBalancer``: kube-system/traefik, with an ingress IP."""
    return _k3s_per_namespace("services")


def _openshift(nodes: bool) -> list[RawObject]:
    folder = fixture_path("more", "insights-operator-sample-pods")
    out: list[RawObject] = []
    for file in sorted(folder.glob("*.json")):
        if file.name.startswith("node__") == nodes:
            doc = _load(file)
            if not isinstance(doc, dict):
                raise ValueError(f"{file} is not an object")
            out.append(doc)
    return out


def openshift_pods() -> list[RawObject]:
    """Single Pod objects (no ``kind``) from real OpenShift clusters, in file name order."""
    return _openshift(nodes=False)


def openshift_nodes() -> list[RawObject]:
    """Single Node objects (no ``kind``): files named ``node__<name>.json``."""
    return _openshift(nodes=True)


def libcloud_nodes() -> list[RawObject]:
    """A 2016 Kubernetes 1.2 node (old schema, fields today's schema requires are missing)."""
    return _list_items("more", "libcloud-fixtures", "_api_v1_nodes.json")


def libcloud_pods() -> list[RawObject]:
    """A 2016 Kubernetes 1.2 pod (old schema)."""
    return _list_items("more", "libcloud-fixtures", "_api_v1_pods.json")
