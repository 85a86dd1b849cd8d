"""Owner resolution: Pod → ReplicaSet → Deployment (or Argo Rollout), Pod → Job → CronJob,
StatefulSet, DaemonSet, static (mirror) pods, bare pods.

Only the owner chain of ReplicaSets and Jobs is kept (a few strings each), never the objects.
When ReplicaSets or Jobs cannot be listed (RBAC), names are resolved by the controllers'
naming conventions, which is what the controllers themselves guarantee.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from capacity.records import WorkloadKey
from collectors.raw import name_of

# CronJob controller names Jobs <cronjob>-<scheduled time in minutes since epoch>.
_CRONJOB_JOB = re.compile(r"^(?P<cronjob>.+)-\d{8,10}$")


def controller_of(meta: Mapping[str, Any]) -> tuple[str, str] | None:
    """Return (kind, name) of the controlling owner reference, or of the first owner."""
    owners = meta.get("ownerReferences")
    chosen = None
    for ref in owners if isinstance(owners, list) else ():
        if not isinstance(ref, Mapping):
            continue
        if ref.get("controller"):
            chosen = ref
            break
        if chosen is None:
            chosen = ref
    if chosen is None:
        return None
    kind, name = name_of(chosen.get("kind")), name_of(chosen.get("name"))
    return None if kind is None or name is None else (kind, name)


@dataclass
class OwnerIndex:
    """The controller of every ReplicaSet and Job, by (namespace, name)."""

    replicasets: dict[tuple[str, str], tuple[str, str] | None] = field(default_factory=dict)
    jobs: dict[tuple[str, str], tuple[str, str] | None] = field(default_factory=dict)
    replicasets_listed: bool = False
    jobs_listed: bool = False

    def add_replicasets(self, items: Iterable[Mapping[str, Any]]) -> None:
        for item in items:
            meta = item.get("metadata") or {}
            self.replicasets[(str(meta.get("namespace", "")), str(meta.get("name", "")))] = controller_of(
                meta
            )
        self.replicasets_listed = True

    def add_jobs(self, items: Iterable[Mapping[str, Any]]) -> None:
        for item in items:
            meta = item.get("metadata") or {}
            self.jobs[(str(meta.get("namespace", "")), str(meta.get("name", "")))] = controller_of(meta)
        self.jobs_listed = True

    def workload(self, namespace: str, pod_name: str, meta: Mapping[str, Any]) -> WorkloadKey:
        """Return the top-level workload that owns a pod."""
        owner = controller_of(meta)
        if owner is None:
            return WorkloadKey(namespace, "Pod", pod_name)
        kind, name = owner
        if kind == "ReplicaSet":
            return self._replicaset_owner(namespace, name, meta)
        if kind == "Job":
            return self._job_owner(namespace, name)
        if kind == "Node":
            # Static pod mirrored by the kubelet: name is <manifest name>-<node name>.
            base = pod_name.removesuffix("-" + name) if pod_name.endswith("-" + name) else pod_name
            return WorkloadKey(namespace, "StaticPod", base)
        return WorkloadKey(namespace, kind, name)

    def _replicaset_owner(self, namespace: str, rs: str, meta: Mapping[str, Any]) -> WorkloadKey:
        key = (namespace, rs)
        if key in self.replicasets:
            parent = self.replicasets[key]
            if parent is None:
                return WorkloadKey(namespace, "ReplicaSet", rs)
            return WorkloadKey(namespace, parent[0], parent[1])
        # Not listed (RBAC) or gone: the Deployment controller names ReplicaSets
        # <deployment>-<pod-template-hash>, and stamps that hash on the pods.
        labels = meta.get("labels")
        labels = labels if isinstance(labels, dict) else {}
        template_hash = labels.get("pod-template-hash") or labels.get("rollouts-pod-template-hash")
        if template_hash and rs.endswith("-" + str(template_hash)):
            kind = "Rollout" if "rollouts-pod-template-hash" in labels else "Deployment"
            return WorkloadKey(namespace, kind, rs[: -len(str(template_hash)) - 1])
        return WorkloadKey(namespace, "ReplicaSet", rs)

    def _job_owner(self, namespace: str, job: str) -> WorkloadKey:
        key = (namespace, job)
        if key in self.jobs:
            parent = self.jobs[key]
            if parent is None:
                return WorkloadKey(namespace, "Job", job)
            return WorkloadKey(namespace, parent[0], parent[1])
        match = _CRONJOB_JOB.match(job)
        if match:
            return WorkloadKey(namespace, "CronJob", match.group("cronjob"))
        return WorkloadKey(namespace, "Job", job)
