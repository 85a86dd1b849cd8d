"""The volumes and load balancers a snapshot bills, and who holds them.

PersistentVolumes, their claims and StorageClasses, and Services of type LoadBalancer are read
before the pods; the pod pass then tells ``AssetPass`` which claims each pod bound to a node
mounts and which load balancers select it. A claim's bytes are split evenly between the pods
mounting it at the instant (over time: by overlap, then evenly, as OpenCost splits them);
a claim no pod mounts stays its namespace's (a workload of kind ``PersistentVolumeClaim``);
a volume with no claim (Available, Released) goes to ``__unmounted__`` (kind
``PersistentVolume``). A load balancer is split between the pods its selector matches, or
stays its namespace's (kind ``Service``) while it selects none.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from capacity.records import (
    CLAIM_HOLDER,
    LOAD_BALANCER,
    SERVICE_HOLDER,
    VOLUME,
    VOLUME_HOLDER,
    AssetKey,
    AssetShare,
    LoadBalancerRecord,
    VolumeRecord,
    WorkloadKey,
)
from collectors.quantity import parse
from collectors.raw import MALFORMED, describe, labels, mapping, name_of, sequence, well_formed

Warn = Callable[[str], None]
# in-tree volume sources -> the provisioner their disks are priced as
_IN_TREE = {
    "awsElasticBlockStore": "kubernetes.io/aws-ebs",
    "gcePersistentDisk": "kubernetes.io/gce-pd",
    "azureDisk": "kubernetes.io/azure-disk",
}
PHASES = frozenset({"Pending", "Available", "Bound", "Released", "Failed"})
RECLAIM_POLICIES = frozenset({"Retain", "Delete", "Recycle"})
_ZONE_KEYS = ("topology.kubernetes.io/zone", "failure-domain.beta.kubernetes.io/zone")


@dataclass(frozen=True, slots=True)
class StorageClass:
    provisioner: str | None
    parameters: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Volume:
    name: str
    key: AssetKey
    capacity: float
    phase: str
    reclaim_policy: str | None
    zone: str | None
    claim: tuple[str, str] | None  # (namespace, name) of its claimRef


@dataclass(frozen=True, slots=True)
class Claim:
    volume: str | None  # the volume it is bound to
    requested: float | None  # bytes asked for (a bound claim may have been given more)


@dataclass(frozen=True, slots=True)
class Service:
    namespace: str
    name: str
    key: AssetKey
    selector: dict[str, str]
    ingress: list[str]


def storage_classes(items: Iterable[Any], warn: Warn) -> dict[str, StorageClass]:
    """Return each StorageClass by name: its provisioner and parameters."""
    found: dict[str, StorageClass] = {}
    for item in well_formed(items, "storageclasses", warn):
        name = str(item["metadata"]["name"])
        parameters = labels(item, f"storageclass {name}", warn, key="parameters")
        found[name] = StorageClass(name_of(item.get("provisioner")), tuple(sorted(parameters.items())))
    return found


def _zone(meta: Mapping[str, Any], spec: Mapping[str, Any], where: str, warn: Warn) -> str | None:
    held = labels(meta, where, warn)
    for key in _ZONE_KEYS:
        if held.get(key):
            return held[key]
    required = mapping(mapping(spec.get("nodeAffinity"), where, warn).get("required"), where, warn)
    for term in sequence(required.get("nodeSelectorTerms"), where, warn):
        for expr in sequence(mapping(term, where, warn).get("matchExpressions"), where, warn):
            expr = mapping(expr, where, warn)
            values = sequence(expr.get("values"), where, warn)
            if str(expr.get("key", "")).endswith("/zone") and len(values) == 1:
                return str(values[0])
    return None


def _volume(item: Mapping[str, Any], classes: dict[str, StorageClass] | None, warn: Warn) -> Volume:
    meta = item["metadata"]
    name = str(meta["name"])
    where = f"persistentvolume {name}"
    spec = mapping(item.get("spec"), f"{where} spec", warn)
    class_name = name_of(spec.get("storageClassName"))
    csi = mapping(spec.get("csi"), f"{where} csi", warn)
    provisioner = (
        name_of(labels(meta, where, warn, key="annotations").get("pv.kubernetes.io/provisioned-by"))
        or name_of(csi.get("driver"))
        or next((p for source, p in _IN_TREE.items() if source in spec), None)
    )
    parameters: tuple[tuple[str, str], ...] = ()
    if class_name is not None and classes is not None:
        known = classes.get(class_name)
        if known is None:
            warn(
                f"{where}: storage class {class_name} is not in the StorageClass list; "
                "priced by its provisioner or the default"
            )
        else:
            provisioner, parameters = known.provisioner or provisioner, known.parameters
    raw = mapping(spec.get("capacity"), f"{where} capacity", warn).get("storage")
    capacity = 0.0
    if raw is None:
        warn(f"{where} has no capacity: billed nothing")
    else:
        capacity = parse(raw)
        if capacity < 0:
            raise ValueError(f"capacity {raw!r} is negative")
    ref = mapping(spec.get("claimRef"), f"{where} claimRef", warn)
    claim_ns, claim_name = name_of(ref.get("namespace")), name_of(ref.get("name"))
    reclaim = spec.get("persistentVolumeReclaimPolicy")
    phase = mapping(item.get("status"), f"{where} status", warn).get("phase")
    return Volume(
        name=name,
        key=AssetKey(
            VOLUME, class_name, provisioner, parameters, local="local" in spec or "hostPath" in spec
        ),
        capacity=capacity,
        phase=phase if phase in PHASES else "Unknown",
        reclaim_policy=reclaim if reclaim in RECLAIM_POLICIES else None,
        zone=_zone(meta, spec, where, warn),
        claim=(claim_ns, claim_name) if claim_ns and claim_name else None,
    )


def volumes(items: Iterable[Any], classes: dict[str, StorageClass] | None, warn: Warn) -> list[Volume]:
    """Return the PersistentVolumes (a malformed one warns and is left out)."""
    found: dict[str, Volume] = {}
    for item in well_formed(items, "persistentvolumes", warn):
        name = str(item["metadata"]["name"])
        if name in found:
            warn(f"persistentvolume {name} listed twice: the first kept")
            continue
        try:
            found[name] = _volume(item, classes, warn)
        except MALFORMED as exc:
            warn(f"persistentvolume {name}: malformed object ignored ({describe(exc)})")
    return list(found.values())


def claims(items: Iterable[Any], warn: Warn) -> dict[tuple[str, str], Claim]:
    """Return each PersistentVolumeClaim by (namespace, name): its volume and requested bytes."""
    found: dict[tuple[str, str], Claim] = {}
    for item in well_formed(items, "persistentvolumeclaims", warn):
        meta = item["metadata"]
        key = (name_of(meta.get("namespace")) or "", str(meta["name"]))
        where = f"persistentvolumeclaim {key[0]}/{key[1]}"
        spec = mapping(item.get("spec"), f"{where} spec", warn)
        raw = mapping(mapping(spec.get("resources"), where, warn).get("requests"), where, warn).get("storage")
        requested = None
        if raw is not None:
            try:
                requested = parse(raw)
            except ValueError as exc:
                warn(f"{where}: requested storage {raw!r} ignored ({describe(exc)})")
        found.setdefault(key, Claim(name_of(spec.get("volumeName")), requested))
    return found


def load_balancers(items: Iterable[Any], warn: Warn) -> list[Service]:
    """Return the Services of type LoadBalancer."""
    found: list[Service] = []
    seen: set[tuple[str, str]] = set()
    for item in well_formed(items, "services", warn):
        meta = item["metadata"]
        namespace, name = name_of(meta.get("namespace")) or "", str(meta["name"])
        where = f"service {namespace}/{name}"
        spec = mapping(item.get("spec"), f"{where} spec", warn)
        if spec.get("type") != "LoadBalancer":
            continue
        if (namespace, name) in seen:
            warn(f"{where} listed twice: the first kept")
            continue
        seen.add((namespace, name))
        status = mapping(mapping(item.get("status"), where, warn).get("loadBalancer"), where, warn)
        ingress = [
            str(entry.get("hostname") or entry.get("ip"))
            for entry in (mapping(e, where, warn) for e in sequence(status.get("ingress"), where, warn))
            if entry.get("hostname") or entry.get("ip")
        ]
        selector = labels(spec, where, warn, key="selector")
        key = AssetKey(LOAD_BALANCER, load_balancer_class=name_of(spec.get("loadBalancerClass")))
        found.append(Service(namespace, name, key, selector, ingress))
    return found


def pod_claims(spec: Mapping[str, Any], pod: str, where: str, warn: Warn) -> tuple[str, ...]:
    """Return the claims a pod's volumes name (generic ephemeral volumes: ``<pod>-<volume>``)."""
    found: list[str] = []
    for volume in sequence(spec.get("volumes"), f"{where} volumes", warn):
        volume = mapping(volume, f"{where} volume", warn)
        claim = name_of(mapping(volume.get("persistentVolumeClaim"), where, warn).get("claimName"))
        if claim is None and isinstance(volume.get("ephemeral"), dict) and name_of(volume.get("name")):
            claim = f"{pod}-{volume['name']}"
        if claim is not None:
            found.append(claim)
    return tuple(found)


@dataclass
class AssetPass:
    """Folds in, pod by pod, which workloads mount which claims and which load balancers select them."""

    volumes: list[Volume] | None  # None: volumes could not be listed
    claims: dict[tuple[str, str], Claim] | None  # None: claims could not be listed
    services: list[Service]
    warn: Warn
    mounts: dict[tuple[str, str], Counter[WorkloadKey]] = field(default_factory=lambda: defaultdict(Counter))
    selected: dict[int, Counter[WorkloadKey]] = field(default_factory=lambda: defaultdict(Counter))
    _by_namespace: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))

    def __post_init__(self) -> None:
        for number, service in enumerate(self.services):
            if service.selector:
                self._by_namespace[service.namespace].append(number)

    def add_pod(
        self,
        namespace: str,
        workload: WorkloadKey,
        pod_labels: Mapping[str, str],
        claim_names: tuple[str, ...],
    ) -> None:
        """Count one pod bound to a node: the claims it mounts, the load balancers selecting it."""
        for claim in dict.fromkeys(claim_names):  # a claim named by two of its volumes: one pod
            self.mounts[(namespace, claim)][workload] += 1
        for number in self._by_namespace.get(namespace, ()):
            selector = self.services[number].selector
            if all(pod_labels.get(k) == v for k, v in selector.items()):
                self.selected[number][workload] += 1

    def _claim_of(self, volume: Volume) -> tuple[str, str] | None:
        """Return the claim a volume is bound to: its claimRef, if that claim is listed and names it."""
        if volume.claim is None:
            return None
        if self.claims is None:  # claims unknown: a Bound volume's claimRef (a Released one's is gone)
            return volume.claim if volume.phase == "Bound" else None
        held = self.claims.get(volume.claim)
        return volume.claim if held is not None and held.volume == volume.name else None

    def records(self) -> tuple[list[VolumeRecord], list[LoadBalancerRecord], list[AssetShare]]:
        """Return the snapshot's volumes, load balancers and what each workload holds of them."""
        shares: list[AssetShare] = []
        volumes = self._volume_records(shares)
        return volumes, self._load_balancer_records(shares), _summed(shares)

    def _volume_records(self, shares: list[AssetShare]) -> list[VolumeRecord]:
        """Return the volumes' records, adding what each workload held of them to ``shares``."""
        if self.volumes is None:  # nothing is billed, and no claim is checked against a list not read
            return []
        named = {v.name for v in self.volumes}
        for (namespace, claim_name), held in sorted((self.claims or {}).items()):
            if held.volume is not None and held.volume not in named:
                self.warn(
                    f"persistentvolumeclaim {namespace}/{claim_name} is bound to volume {held.volume}, "
                    "which is not in the volume list: not billed"
                )
        out: list[VolumeRecord] = []
        for volume in self.volumes:
            claim = self._claim_of(volume)
            mounting: Counter[WorkloadKey] = Counter() if claim is None else self.mounts.get(claim, Counter())
            shares.extend(_split(volume.key, volume.capacity, mounting, _unmounted(volume, claim)))
            requested = None if claim is None or self.claims is None else self.claims[claim].requested
            out.append(
                VolumeRecord(
                    name=volume.name,
                    key=volume.key,
                    capacity_bytes=volume.capacity,
                    phase=volume.phase,
                    reclaim_policy=volume.reclaim_policy,
                    zone=volume.zone,
                    claim_namespace=None if claim is None else claim[0],
                    claim_name=None if claim is None else claim[1],
                    claim_requested_bytes=requested,
                    mounted_pods=sum(mounting.values()),
                )
            )
        return out

    def _load_balancer_records(self, shares: list[AssetShare]) -> list[LoadBalancerRecord]:
        """Return the load balancers' records, adding what each workload held of them to ``shares``."""
        out: list[LoadBalancerRecord] = []
        unselecting: list[str] = []
        for number, service in enumerate(self.services):
            selecting = self.selected.get(number, Counter())
            if not selecting:
                no_selector = "" if service.selector else " (no selector)"
                unselecting.append(f"{service.namespace}/{service.name}{no_selector}")
            holder = WorkloadKey(service.namespace, SERVICE_HOLDER, service.name)
            shares.extend(_split(service.key, 1.0, selecting, holder))
            out.append(
                LoadBalancerRecord(
                    service.namespace,
                    service.name,
                    service.key,
                    service.selector,
                    service.ingress,
                    sum(selecting.values()),
                )
            )
        if unselecting:  # one line per snapshot, however many
            shown = ", ".join(unselecting[:5]) + (
                f" and {len(unselecting) - 5} more" if len(unselecting) > 5 else ""
            )
            self.warn(f"{len(unselecting)} LoadBalancer service(s) select no running pod, billed to their "
                      f"namespace: {shown}")  # fmt: skip
        return out


def _unmounted(volume: Volume, claim: tuple[str, str] | None) -> WorkloadKey:
    """Who holds a volume no pod mounts: its claim's namespace, or ``__unmounted__`` without one."""
    if claim is None:
        return WorkloadKey("", VOLUME_HOLDER, volume.name)
    return WorkloadKey(claim[0], CLAIM_HOLDER, claim[1])


def _split(
    key: AssetKey, amount: float, holders: Counter[WorkloadKey], otherwise: WorkloadKey
) -> list[AssetShare]:
    """Return ``amount`` split evenly between the pods counted in ``holders`` (per workload)."""
    pods = sum(holders.values())
    if not pods:
        return [AssetShare(otherwise, key, amount)]
    return [AssetShare(workload, key, amount * n / pods) for workload, n in holders.items()]


def _summed(shares: list[AssetShare]) -> list[AssetShare]:
    """Return one share per (workload, key): several claims of one workload add up."""
    totals: dict[tuple[WorkloadKey, AssetKey], float] = defaultdict(float)
    for share in shares:
        totals[(share.workload, share.key)] += share.amount
    return [AssetShare(workload, key, amount) for (workload, key), amount in totals.items()]
