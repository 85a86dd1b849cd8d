"""One instant's kube-state-metrics series → PersistentVolumes, claims, StorageClasses and
LoadBalancer Services, as the live API would have listed them (``rebuild.InstantSource``).

What kube-state-metrics does not expose stays out: StorageClass parameters (so a class is priced
as its provisioner's default disk type, an io2 or pd-balanced class too, unless
``pricing.storage_classes`` names it), Service selectors (so a backfilled load balancer is its
namespace's, never its pods') and ``loadBalancerClass`` (so it costs ``load_balancer_hourly``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from collectors.prometheus.client import Labels
from collectors.source import RawObject

Of = Callable[[str], list[tuple[Labels, float]]]  # family name -> its samples at the instant
# kube_persistentvolume_info labels that name the volume's source
_SOURCES = {"host_path": "hostPath", "local_path": "local"}


def storage_classes(of: Of) -> list[RawObject]:
    found = {
        lab.get("storageclass", ""): lab.get("provisioner", "") for lab, _ in of("kube_storageclass_info")
    }
    return [{"metadata": {"name": n}, "provisioner": p} for n, p in sorted(found.items()) if n]


def volumes(of: Of) -> list[RawObject]:
    capacity = {lab.get("persistentvolume", ""): v for lab, v in of("kube_persistentvolume_capacity_bytes")}
    info = {lab.get("persistentvolume", ""): lab for lab, _ in of("kube_persistentvolume_info")}
    phase = {
        lab.get("persistentvolume", ""): lab.get("phase", "")
        for lab, _ in of("kube_persistentvolume_status_phase")
    }
    claim = {
        lab.get("persistentvolume", ""): {
            "namespace": lab.get("claim_namespace", ""),
            "name": lab.get("name", ""),
        }
        for lab, _ in of("kube_persistentvolume_claim_ref")
    }
    out: list[RawObject] = []
    for name in sorted(set(capacity) | set(info)):
        if not name:
            continue
        labels = info.get(name, {})
        spec: dict[str, object] = (
            {"capacity": {"storage": str(round(capacity[name]))}} if name in capacity else {}
        )
        if labels.get("storageclass"):
            spec["storageClassName"] = labels["storageclass"]
        if labels.get("csi_driver"):
            spec["csi"] = {"driver": labels["csi_driver"]}
        for label, source in _SOURCES.items():
            if labels.get(label):
                spec[source] = {"path": labels[label]}
        if name in claim and claim[name]["name"]:
            spec["claimRef"] = claim[name]
        out.append(
            {"metadata": {"name": name}, "spec": spec, "status": {"phase": phase.get(name) or "Unknown"}}
        )
    return out


def claims(of: Of) -> list[RawObject]:
    found: dict[tuple[str, str], str] = {}
    for lab, _ in of("kube_persistentvolumeclaim_info"):
        found.setdefault(
            (lab.get("namespace", ""), lab.get("persistentvolumeclaim", "")), lab.get("volumename", "")
        )
    return [
        {"metadata": {"namespace": ns, "name": name}, "spec": {"volumeName": volume} if volume else {}}
        for (ns, name), volume in sorted(found.items())
        if name
    ]


def pod_claims(of: Of) -> dict[tuple[str, str], list[RawObject]]:
    """Return each pod's (namespace, name) volumes that name a claim, as its spec would list them."""
    found: dict[tuple[str, str], list[RawObject]] = defaultdict(list)
    for lab, _ in of("kube_pod_spec_volumes_persistentvolumeclaims_info"):
        found[(lab.get("namespace", ""), lab.get("pod", ""))].append(
            {
                "name": lab.get("volume", ""),
                "persistentVolumeClaim": {"claimName": lab.get("persistentvolumeclaim", "")},
            }
        )
    return found


def load_balancers(of: Of) -> list[RawObject]:
    ingress: dict[tuple[str, str], list[dict[str, str]]] = defaultdict(list)
    for lab, _ in of("kube_service_status_load_balancer_ingress"):
        entry = {k: lab[k] for k in ("ip", "hostname") if lab.get(k)}
        if entry:
            ingress[(lab.get("namespace", ""), lab.get("service", ""))].append(entry)
    found = {
        (lab.get("namespace", ""), lab.get("service", ""))
        for lab, _ in of("kube_service_spec_type")
        if lab.get("type") == "LoadBalancer"
    }
    return [
        {"metadata": {"namespace": ns, "name": name}, "spec": {"type": "LoadBalancer"},
         "status": {"loadBalancer": {"ingress": ingress.get((ns, name), [])}}}
        for ns, name in sorted(found)
        if name
    ]  # fmt: skip
