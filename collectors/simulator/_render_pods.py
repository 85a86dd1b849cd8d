"""Pods of an instant: each pod's metadata, owners and status over its workload revision's template.

Each item's top level and ``metadata`` are its own (adding ``kind``/``apiVersion`` or popping
``managedFields`` is safe); treat everything below them as read-only. List items carry no
``kind``/``apiVersion``, as the API server serves them.
"""

from __future__ import annotations

from collections.abc import Iterator

from capacity.records import FINISHED_PHASES
from collectors.simulator._catalog import SA_MOUNT
from collectors.simulator._instant import Instant, NodeP, PodP, RunP
from collectors.simulator._model import ContainerT
from collectors.simulator._render_common import Obj, condition, resource_version
from collectors.simulator._templates import EMPTY, KUBELET_STATUS, SA_PROJECTED, PodTemplate, template
from collectors.simulator._util import (
    KI,
    fmt_bytes,
    hex_digest,
    mix,
    suffix,
    ts,
    uid,
)

# --- pods ------------------------------------------------------------------------------------------


class Renderer:
    def __init__(self, inst: Instant) -> None:
        self.inst = inst
        self.m = inst.m
        self.t = inst.t
        self._pending_msg: dict[int, str] = {}
        self._run_labels: dict[str, Obj] = {}
        self._mf_cache: dict[tuple[int, int, str], Obj] = {}

    def pod_ip(self, pod: PodP, node: NodeP) -> str:
        if pod.w.host_network:
            return node.ip
        h = pod.ident
        if self.m.tpl.provider == "aws":
            return f"10.{16 + (h >> 16) % 16}.{(h >> 8) & 255}.{h & 255}"
        return f"10.{64 + (node.slot >> 8) % 64}.{node.slot & 255}.{2 + h % 250}"

    def pods(self) -> Iterator[Obj]:
        for pod in self.inst.pods:
            yield self.pod(pod)

    def pod(self, pod: PodP) -> Obj:
        """The pod object; a pod whose state has not changed since an earlier instant is reused."""
        node = pod.node
        steady = pod.phase == "Running" and pod.run is None and self.t - pod.last_start >= 60
        if node is not None and steady and self.m.reuse:
            key = ("pod", pod.ident, node.name, pod.restarts)
            got = self.m.cache.get(key)
            if got is None:
                got = self._pod(pod)
                self.m.cache.put(key, got)
            # fresh top level and metadata: adding kind/apiVersion or dropping managedFields is safe
            return {**got, "metadata": dict(got["metadata"])}
        return self._pod(pod)

    def _pod(self, pod: PodP) -> Obj:
        m, t, w = self.m, self.t, pod.w
        tpl = template(m, w, pod.rev)
        labels = tpl.labels
        run = pod.run
        if run is not None:
            labels = self._run_labels.get(run.name) or self._job_labels(run, tpl.labels)
        elif w.kind == "StatefulSet":
            labels = {
                **labels,
                "apps.kubernetes.io/pod-index": str(pod.index),
                "statefulset.kubernetes.io/pod-name": pod.name,
            }
        node = pod.node
        last_change = pod.finished or max(pod.created, pod.last_start)
        meta: Obj = {"name": pod.name}
        if w.kind == "StatefulSet":
            meta["generateName"] = f"{w.name}-"
        elif w.kind not in ("Static", "Bare"):
            meta["generateName"] = pod.name[:-5]
        meta["namespace"] = w.namespace
        meta["uid"] = uid(pod.ident)
        meta["resourceVersion"] = resource_version(last_change, pod.ident)
        meta["creationTimestamp"] = ts(pod.created)
        meta["labels"] = labels
        if w.kind == "Static" and node is not None:
            h = hex_digest(mix(w.key, node.ident), 32)
            meta["annotations"] = {
                "kubernetes.io/config.hash": h,
                "kubernetes.io/config.mirror": h,
                "kubernetes.io/config.seen": ts(pod.created)[:-1] + ".187260125Z",
                "kubernetes.io/config.source": "file",
            }
        elif tpl.ann:
            meta["annotations"] = tpl.ann
        if pod.owner is not None:
            av, kind, oname, ouid = pod.owner
            ref: Obj = {"apiVersion": av, "kind": kind, "name": oname, "uid": ouid, "controller": True}
            if kind != "Node":
                ref["blockOwnerDeletion"] = True
            meta["ownerReferences"] = [ref]
        tok = suffix(mix(pod.ident, 0x70C))
        vol = f"kube-api-access-{tok}"
        sa_mount = {"name": vol, "readOnly": True, "mountPath": SA_MOUNT}
        spec = dict(tpl.spec)
        spec["volumes"] = [*tpl.volumes, {"name": vol, "projected": SA_PROJECTED}]
        if w.kind == "StatefulSet":  # its claim, from the volumeClaimTemplate "data"
            spec["volumes"].insert(
                0, {"name": "data", "persistentVolumeClaim": {"claimName": f"data-{pod.name}"}}
            )
        spec["containers"] = [
            {**c, "volumeMounts": [*mt, sa_mount]} for c, mt in zip(tpl.containers, tpl.mounts, strict=False)
        ]
        if tpl.init:
            off = len(tpl.containers)
            spec["initContainers"] = [
                {**c, "volumeMounts": [*tpl.mounts[off + i], sa_mount]} for i, c in enumerate(tpl.init)
            ]
        if node is not None:
            spec["nodeName"] = node.name
        if m.managed_fields and tpl.mf_spec is not None:
            meta["managedFields"] = self._managed(pod, tpl, node)
        return {"metadata": meta, "spec": spec, "status": self._status(pod, tpl, node, t)}

    def _job_labels(self, run: RunP, base: Obj) -> Obj:
        lab = {k: v for k, v in base.items()}
        lab.update(
            {
                "batch.kubernetes.io/controller-uid": run.uid,
                "batch.kubernetes.io/job-name": run.name,
                "controller-uid": run.uid,
                "job-name": run.name,
            }
        )
        self._run_labels[run.name] = lab
        return lab

    def _managed(self, pod: PodP, tpl: PodTemplate, node: NodeP | None) -> list[Obj]:
        assert tpl.mf_spec is not None
        owner = pod.owner[3] if pod.owner else ""
        key = (pod.w.idx, pod.rev, owner)
        fields = self._mf_cache.get(key)
        if fields is None:
            meta = dict(tpl.mf_spec["f:metadata"])
            if owner:
                meta["f:ownerReferences"] = {".": {}, f'k:{{"uid":"{owner}"}}': {}}
            fields = {"f:metadata": meta, "f:spec": tpl.mf_spec["f:spec"]}
            self._mf_cache[key] = fields
        manager = (
            "kubelet" if pod.w.kind == "Static" else "kube-controller-manager" if pod.owner else "kubectl-run"
        )
        out = [
            {
                "manager": manager,
                "operation": "Update",
                "apiVersion": "v1",
                "time": ts(pod.created),
                "fieldsType": "FieldsV1",
                "fieldsV1": fields,
            }
        ]
        if node is not None:
            ip = self.pod_ip(pod, node)
            st = {**KUBELET_STATUS, "f:podIPs": {".": {}, f'k:{{"ip":"{ip}"}}': {".": {}, "f:ip": {}}}}
            if tpl.init:
                st["f:initContainerStatuses"] = {}
            out.append(
                {
                    "manager": "kubelet",
                    "operation": "Update",
                    "apiVersion": "v1",
                    "time": ts(max(pod.last_start, pod.finished) + 3),
                    "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:status": st},
                    "subresource": "status",
                }
            )
        else:
            out.append(
                {
                    "manager": "kube-scheduler",
                    "operation": "Update",
                    "apiVersion": "v1",
                    "time": ts(pod.created),
                    "fieldsType": "FieldsV1",
                    "fieldsV1": {
                        "f:status": {
                            "f:conditions": {
                                ".": {},
                                'k:{"type":"PodScheduled"}': {
                                    ".": {},
                                    "f:lastProbeTime": {},
                                    "f:lastTransitionTime": {},
                                    "f:message": {},
                                    "f:reason": {},
                                    "f:status": {},
                                    "f:type": {},
                                },
                            }
                        }
                    },
                    "subresource": "status",
                }
            )
        return out

    def _pending_message(self, pod: PodP) -> str:
        p = pod.w.pool
        msg = self._pending_msg.get(p)
        if msg is None:
            total = len(self.inst.nodes)
            pool_n = sum(1 for n in self.inst.nodes if n.pool.idx == p)
            other = total - pool_n
            res = (
                "nvidia.com/gpu" if pod.shape.eff_gpu else ("cpu" if pod.w.profile != "memory" else "memory")
            )
            parts = [f"{pool_n} Insufficient {res}"]
            if other:
                parts.append(f"{other} node(s) didn't match Pod's node affinity/selector")
            msg = (
                f"0/{total} nodes are available: {', '.join(parts)}. "
                f"preemption: 0/{total} nodes are available: "
                f"{pool_n} No preemption victims found for incoming pod, "
                f"{other} Preemption is not helpful for scheduling."
            )
            self._pending_msg[p] = msg
        return msg

    def _status(self, pod: PodP, tpl: PodTemplate, node: NodeP | None, t: int) -> Obj:
        qos = pod.shape.qos
        created = ts(pod.created)
        if node is None:
            return {
                "phase": "Pending",
                "conditions": [
                    {
                        "type": "PodScheduled",
                        "status": "False",
                        "lastProbeTime": None,
                        "lastTransitionTime": created,
                        "reason": "Unschedulable",
                        "message": self._pending_message(pod),
                    }
                ],
                "qosClass": qos,
            }
        ip = self.pod_ip(pod, node)
        phase = pod.phase
        started = ts(pod.created + 1)
        st: Obj = {"phase": phase}
        if phase == "Failed" and pod.reason == "Evicted":
            c0 = pod.shape.containers[0]
            st["message"] = (
                f"The node was low on resource: memory. Threshold quantity: 100Mi, available: "
                f"{80000 + pod.ident % 20000}Ki. Container {c0.name} was using "
                f"{int(c0.mem_req_b * 1.6) // KI}Ki, request is {fmt_bytes(c0.mem_req_b)}, has larger "
                "consumption of its request. "
            )
            st["reason"] = "Evicted"
        young = phase == "Pending"
        ready = phase == "Running" and t - pod.last_start >= 20
        done = phase in FINISHED_PHASES
        reason_nr = "PodCompleted" if done else None
        conds = [
            condition("PodReadyToStartContainers", not done and not young, ts(pod.created + 2)),
            condition("Initialized", True, ts(pod.created + 1 + (4 if tpl.init else 0)), reason_nr),
            condition("Ready", ready, ts(pod.finished or (pod.last_start + (20 if ready else 0))), reason_nr),
            condition(
                "ContainersReady",
                ready,
                ts(pod.finished or (pod.last_start + (20 if ready else 0))),
                reason_nr,
            ),
            condition("PodScheduled", True, created),
        ]
        if not ready and not done:
            names = ",".join(c["name"] for c in tpl.containers)
            for c in conds[2:4]:
                c["reason"] = "ContainersNotReady"
                c["message"] = f"containers with unready status: [{names}]"
        st["conditions"] = conds
        st["hostIP"] = node.ip
        st["hostIPs"] = [{"ip": node.ip}]
        if not (phase == "Failed" and pod.reason == "Evicted"):
            st["podIP"] = ip
            st["podIPs"] = [{"ip": ip}]
        st["startTime"] = started
        if tpl.init:
            st["initContainerStatuses"] = [
                self._cstatus(pod, tpl, i, c, "init") for i, c in enumerate(pod.shape.init)
            ]
        st["containerStatuses"] = [
            self._cstatus(pod, tpl, i, c, "app") for i, c in enumerate(pod.shape.containers)
        ]
        st["qosClass"] = qos
        return st

    def _cstatus(self, pod: PodP, tpl: PodTemplate, i: int, c: ContainerT, role: str) -> Obj:
        idx = i if role == "app" else len(tpl.containers) + i
        image = tpl.images[idx]
        phase = pod.phase
        base: Obj = {"name": c.name}
        if phase == "Pending":
            base.update(
                {
                    "state": {"waiting": {"reason": "ContainerCreating"}},
                    "lastState": EMPTY,
                    "ready": False,
                    "restartCount": 0,
                    "image": image,
                    "imageID": "",
                    "started": False,
                }
            )
            return base
        cid = "containerd://" + hex_digest(mix(pod.ident, idx, pod.restarts))
        if role == "init" and not c.restartable:
            state: Obj = {
                "terminated": {
                    "exitCode": 0,
                    "reason": "Completed",
                    "startedAt": ts(pod.created + 1),
                    "finishedAt": ts(pod.created + 3),
                    "containerID": cid,
                }
            }
            base.update(
                {
                    "state": state,
                    "lastState": EMPTY,
                    "ready": True,
                    "restartCount": 0,
                    "image": image,
                    "imageID": tpl.image_ids[idx],
                    "containerID": cid,
                    "started": False,
                }
            )
            return base
        if phase in FINISHED_PHASES:
            if pod.reason == "Evicted":
                term: Obj = {
                    "exitCode": 137,
                    "reason": "ContainerStatusUnknown",
                    "message": "The container could not be located when the pod was terminated",
                    "startedAt": None,
                    "finishedAt": None,
                }
            else:
                ok = phase == "Succeeded"
                term = {
                    "exitCode": 0 if ok else 1,
                    "reason": "Completed" if ok else "Error",
                    "startedAt": ts(pod.created + 2),
                    "finishedAt": ts(pod.finished),
                    "containerID": cid,
                }
            base.update(
                {
                    "state": {"terminated": term},
                    "lastState": EMPTY,
                    "ready": False,
                    "restartCount": 0,
                    "image": image,
                    "imageID": tpl.image_ids[idx],
                    "containerID": cid,
                    "started": False,
                }
            )
            return base
        restarts = pod.restarts if (role == "app" and i == 0) else 0
        last: Obj = EMPTY
        start = pod.last_start if restarts else pod.created + 2
        if restarts and pod.term is not None:
            reason, code, t0, t1 = pod.term
            last = {
                "terminated": {
                    "exitCode": code,
                    "reason": reason,
                    "startedAt": ts(t0),
                    "finishedAt": ts(t1),
                    "containerID": "containerd://" + hex_digest(mix(pod.ident, idx, restarts - 1)),
                }
            }
        ready = self.t - pod.last_start >= 20 or not restarts
        base.update(
            {
                "state": {"running": {"startedAt": ts(start)}},
                "lastState": last,
                "ready": ready,
                "restartCount": restarts,
                "image": image,
                "imageID": tpl.image_ids[idx],
                "containerID": cid,
                "started": True,
            }
        )
        return base
