"""Volumes and load balancers of an instant: the cloud's StorageClasses, a claim and its volume per
StatefulSet ordinal (kept after a scale-down, as StatefulSets keep them: unmounted claims), a few
volumes left behind (Released with their claim deleted, Available), and LoadBalancer Services:
the ingress controller's and one for a share of the teams' services (a Service that selects no
pod warns in every snapshot: the tests build that case, not the fleet)."""

from __future__ import annotations

from collections.abc import Iterator

from collectors.simulator._instant import Instant
from collectors.simulator._model import Workload
from collectors.simulator._render_common import Obj, resource_version
from collectors.simulator._util import ip4, mix, skey, ts, uid

GIB = 1024**3
# per cloud: (class name, provisioner, parameters); the first is the default class
_CLASSES = {
    "aws": (("gp3", "ebs.csi.aws.com", {"type": "gp3", "fsType": "ext4"}),
            ("io2", "ebs.csi.aws.com", {"type": "io2", "iopsPerGB": "50"})),
    "gcp": (("standard-rwo", "pd.csi.storage.gke.io", {"type": "pd-balanced"}),
            ("premium-rwo", "pd.csi.storage.gke.io", {"type": "pd-ssd"})),
}  # fmt: skip
_LEFT_BEHIND = (("Released", 200), ("Released", 50), ("Available", 500))  # phase, GiB
LB_SHARE = 12  # one team service in this many gets a LoadBalancer
_SELECTED = ("app.kubernetes.io/name", "app.kubernetes.io/instance")  # the pod labels a Service selects


def _classes(inst: Instant) -> tuple[tuple[str, str, dict[str, str]], ...]:
    return _CLASSES.get(inst.m.tpl.provider, _CLASSES["aws"])


def storage_classes(inst: Instant) -> Iterator[Obj]:
    for number, (name, provisioner, parameters) in enumerate(_classes(inst)):
        meta: Obj = {
            "name": name,
            "uid": uid(mix(inst.m.key, skey(name))),
            "creationTimestamp": ts(inst.m.start),
        }
        if number == 0:
            meta["annotations"] = {"storageclass.kubernetes.io/is-default-class": "true"}
        yield {"metadata": meta, "provisioner": provisioner, "parameters": parameters,
               "reclaimPolicy": "Delete", "volumeBindingMode": "WaitForFirstConsumer"}  # fmt: skip


def _stateful(inst: Instant) -> Iterator[tuple[Workload, int]]:
    """Each (StatefulSet, ordinal) with a claim at the instant: every ordinal up to its usual size."""
    for w in inst.m.replicated:
        if w.kind == "StatefulSet" and w.born <= inst.t < w.died:
            for ordinal in range(max(round(w.r0), inst.reps[w.idx])):
                yield w, ordinal


def claim_name(w: Workload, ordinal: int) -> str:
    return f"data-{w.name}-{ordinal}"


def _size_gib(w: Workload) -> int:
    return int(10 * 2 ** (mix(w.key, 0x5707) % 6))  # 10 to 320 GiB


def _class_of(inst: Instant, w: Workload) -> str:
    classes = _classes(inst)
    return classes[1][0] if mix(w.key, 0x5708) % 5 == 0 else classes[0][0]


def _volume_name(inst: Instant, key: int) -> str:
    return f"pvc-{uid(mix(inst.m.key, key, 0x5709))}"


def claims(inst: Instant) -> Iterator[Obj]:
    for w, ordinal in _stateful(inst):
        name, key = claim_name(w, ordinal), mix(w.key, ordinal)
        size, created = f"{_size_gib(w)}Gi", max(w.born, inst.m.start)
        yield {
            "metadata": {"name": name, "namespace": w.namespace, "uid": uid(mix(key, 0x570A)),
                         "resourceVersion": resource_version(created, key), "creationTimestamp": ts(created),
                         "labels": {k: v for k, v in w.labels.items() if k == "app.kubernetes.io/name"}},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}},
                     "storageClassName": _class_of(inst, w), "volumeName": _volume_name(inst, key),
                     "volumeMode": "Filesystem"},
            "status": {"phase": "Bound", "accessModes": ["ReadWriteOnce"], "capacity": {"storage": size}},
        }  # fmt: skip


def _volume(inst: Instant, name: str, gib: int, storage_class: str, phase: str, claim: Obj | None) -> Obj:
    provisioner = next(p for c, p, _ in _classes(inst) if c == storage_class)
    zone = inst.m.tpl.zones[skey(name) % len(inst.m.tpl.zones)]
    spec: Obj = {
        "capacity": {"storage": f"{gib}Gi"},
        "csi": {"driver": provisioner, "volumeHandle": f"vol-{uid(skey(name))[:17]}", "fsType": "ext4"},
        "accessModes": ["ReadWriteOnce"],
        "persistentVolumeReclaimPolicy": "Delete" if phase == "Bound" else "Retain",
        "storageClassName": storage_class,
        "volumeMode": "Filesystem",
        "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
            {"key": "topology.kubernetes.io/zone", "operator": "In", "values": [zone]}]}]}},
    }  # fmt: skip
    if claim is not None:
        spec["claimRef"] = {"kind": "PersistentVolumeClaim", "apiVersion": "v1", **claim}
    return {
        "metadata": {"name": name, "uid": uid(skey(name)), "labels": {"topology.kubernetes.io/zone": zone},
                     "annotations": {"pv.kubernetes.io/provisioned-by": provisioner}},
        "spec": spec,
        "status": {"phase": phase},
    }  # fmt: skip


def volumes(inst: Instant) -> Iterator[Obj]:
    out = [
        _volume(inst, _volume_name(inst, mix(w.key, ordinal)), _size_gib(w), _class_of(inst, w), "Bound",
                {"namespace": w.namespace, "name": claim_name(w, ordinal)})
        for w, ordinal in _stateful(inst)
    ]  # fmt: skip
    teams = sorted({w.namespace for w in inst.m.replicated if w.team})
    default = _classes(inst)[0][0]
    for number, (phase, gib) in enumerate(_LEFT_BEHIND):
        # left behind: a claim deleted with its StatefulSet (Retain keeps the disk), a spare disk
        claim = {"namespace": teams[number % len(teams)], "name": f"data-retired-{number}"} if teams else None
        out.append(_volume(inst, f"pv-left-behind-{inst.m.key % 997}-{number}", gib, default, phase,
                           claim if phase == "Released" else None))  # fmt: skip
    yield from sorted(out, key=lambda v: v["metadata"]["name"])


def _load_balanced(inst: Instant) -> Iterator[Workload]:
    for w in inst.m.replicated:
        if w.born > inst.t or inst.t >= w.died or w.kind == "StatefulSet":
            continue
        if w.name == "ingress-nginx-controller" or (w.team and mix(w.key, 0x5E7) % LB_SHARE == 0):
            yield w


def services(inst: Instant) -> Iterator[Obj]:
    out: list[Obj] = []
    aws = inst.m.tpl.provider == "aws"
    for w in _load_balanced(inst):
        selector = {k: v for k, v in w.labels.items() if k in _SELECTED}
        out.append(_service(inst, w.namespace, w.name, selector, aws))
    yield from sorted(out, key=lambda s: (s["metadata"]["namespace"], s["metadata"]["name"]))


def _service(inst: Instant, namespace: str, name: str, selector: dict[str, str], aws: bool) -> Obj:
    key = mix(inst.m.key, skey(f"{namespace}/{name}"))
    port = {"name": "https", "port": 443, "protocol": "TCP", "targetPort": 8443}
    spec: Obj = {"type": "LoadBalancer", "selector": selector, "clusterIP": ip4(0xC80000 + key % 65000),
                 "ports": [port]}  # fmt: skip
    ingress: Obj = {"ip": ip4(0x22000000 + key % 1_000_000)}
    if aws:
        spec["loadBalancerClass"] = "service.k8s.aws/nlb"
        ingress = {"hostname": f"k8s-{name[:20]}-{uid(key)[:10]}.elb.{inst.m.tpl.region}.amazonaws.com"}
    return {
        "metadata": {"name": name, "namespace": namespace, "uid": uid(key),
                     "creationTimestamp": ts(inst.m.start),
                     "resourceVersion": resource_version(inst.m.start, key)},
        "spec": spec,
        "status": {"loadBalancer": {"ingress": [ingress]}},
    }  # fmt: skip
