"""Turn the plan of an instant into API-shaped JSON objects (what ``kubectl get -o json`` shows).

Items are built from per-revision templates: the parts of a pod that do not change with time are
built once and shared between pods, and an object whose state did not change is reused from an
earlier instant. Each item's top level and ``metadata`` are its own (adding ``kind``/``apiVersion``
or popping ``managedFields`` is safe); treat everything below them as read-only. List items carry
no ``kind``/``apiVersion``, as the API server serves them.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from capacity.records import FINISHED_PHASES
from collectors.simulator._catalog import SA_MOUNT
from collectors.simulator._model import ContainerT, Workload
from collectors.simulator._plan import ClusterModel, Instant, NodeP, PodP, RunP, owner_uid, rs_name, rs_uid
from collectors.simulator._util import (
    KI,
    fmt_bytes,
    fmt_cpu,
    hex_digest,
    mix,
    skey,
    suffix,
    template_hash,
    ts,
    uid,
    unit,
)

Obj = dict[str, Any]

_SA_PROJECTED: Obj = {
    "sources": [
        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
        {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
        {
            "downwardAPI": {
                "items": [
                    {"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}
                ]
            }
        },
    ],
    "defaultMode": 420,
}
_DEFAULT_TOLERATIONS: list[Obj] = [
    {
        "key": "node.kubernetes.io/not-ready",
        "operator": "Exists",
        "effect": "NoExecute",
        "tolerationSeconds": 300,
    },
    {
        "key": "node.kubernetes.io/unreachable",
        "operator": "Exists",
        "effect": "NoExecute",
        "tolerationSeconds": 300,
    },
]
_DS_TOLERATIONS: list[Obj] = [
    {"operator": "Exists"},
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/disk-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/memory-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/pid-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/network-unavailable", "operator": "Exists", "effect": "NoSchedule"},
]
_EMPTY: Obj = {}
_TOLERATE_ALL: list[Obj] = [{"operator": "Exists"}]
_COND_FIELDS: Obj = {".": {}, "f:lastProbeTime": {}, "f:lastTransitionTime": {}, "f:status": {}, "f:type": {}}
_KUBELET_STATUS: Obj = {
    "f:conditions": {
        f'k:{{"type":"{c}"}}': _COND_FIELDS
        for c in ("ContainersReady", "Initialized", "PodReadyToStartContainers", "PodScheduled", "Ready")
    },
    "f:containerStatuses": {},
    "f:hostIP": {},
    "f:hostIPs": {},
    "f:phase": {},
    "f:podIP": {},
    "f:startTime": {},
}


def _rv(t: float, h: int) -> str:
    """A resourceVersion: grows with the time of the object's last change."""
    return str(int(t - 1_500_000_000) * 4 + (h & 3))


def _f(keys: Any) -> Obj:
    return {".": {}, **{f"f:{k}": {} for k in keys}}


class PodTemplate:
    """The time-invariant parts of the pods of one workload revision."""

    __slots__ = (
        "ann",
        "containers",
        "hash",
        "image_ids",
        "images",
        "init",
        "labels",
        "mf_spec",
        "mounts",
        "rs_spec",
        "spec",
        "volumes",
    )

    def __init__(self, m: ClusterModel, w: Workload, rev: int) -> None:
        self.hash = template_hash(mix(w.key, rev, 0x45))
        n = w.image_tag0 + rev
        version = f"v{1 + n // 200}.{(n // 10) % 20}.{n % 10}"
        labels = {k: (version if v == "__version__" else v) for k, v in w.labels.items()}
        if w.kind == "Deployment":
            labels["pod-template-hash"] = self.hash
        elif w.kind == "Rollout":
            labels["rollouts-pod-template-hash"] = self.hash
        elif w.kind == "StatefulSet":
            labels["controller-revision-hash"] = f"{w.name}-{self.hash}"
        elif w.kind == "DaemonSet":
            labels["controller-revision-hash"] = self.hash
            labels["pod-template-generation"] = str(rev + 1)
        self.labels = labels
        self.ann: Obj | None = None
        if w.kind == "Static":
            self.ann = {"kubernetes.io/config.source": "file"}
        elif w.team and w.replicated:
            self.ann = {"prometheus.io/scrape": "true", "prometheus.io/port": "9090"}
        elif w.annotations:
            self.ann = dict(w.annotations)
        shape = w.shape_for(rev)
        self.images: list[str] = []
        self.image_ids: list[str] = []
        self.volumes: list[Obj] = []
        self.mounts: list[list[Obj]] = []
        app_mounts: list[Obj] = []
        if w.team or w.kind == "Bare":
            self.volumes = [
                {"name": "config", "configMap": {"name": f"{w.name}-config", "defaultMode": 420}},
                {"name": "tmp", "emptyDir": {}},
            ]
            app_mounts = [
                {"name": "config", "mountPath": f"/etc/{w.app}", "readOnly": True},
                {"name": "tmp", "mountPath": "/tmp"},
            ]
        elif w.host_network or w.kind in ("DaemonSet", "Static"):
            self.volumes = [
                {"name": "varlog", "hostPath": {"path": "/var/log", "type": ""}},
                {"name": "xtables-lock", "hostPath": {"path": "/run/xtables.lock", "type": "FileOrCreate"}},
            ]
            app_mounts = [
                {"name": "varlog", "mountPath": "/var/log"},
                {"name": "xtables-lock", "mountPath": "/run/xtables.lock"},
            ]
        self.containers = [self._container(c, app_mounts, version) for c in shape.containers]
        self.init = [self._container(c, [] if c.restartable else app_mounts[:1], version) for c in shape.init]
        spec: Obj = {
            "restartPolicy": w.restart_policy,
            "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirstWithHostNet" if w.host_network else "ClusterFirst",
        }
        if w.node_selector:
            spec["nodeSelector"] = w.node_selector
        spec["serviceAccountName"] = w.service_account
        spec["serviceAccount"] = w.service_account
        if w.host_network:
            spec["hostNetwork"] = True
        spec["securityContext"] = {"runAsNonRoot": True, "fsGroup": 2000} if w.team else {}
        if w.affinity:
            spec["affinity"] = w.affinity
        spec["schedulerName"] = "default-scheduler"
        per_node = w.kind in ("DaemonSet", "Static")
        spec["tolerations"] = _DS_TOLERATIONS if per_node else [*w.tolerations, *_DEFAULT_TOLERATIONS]
        if w.priority_class:
            spec["priorityClassName"] = w.priority_class
        spec["priority"] = w.priority
        if w.runtime_class:
            spec["runtimeClassName"] = w.runtime_class
        spec["enableServiceLinks"] = True
        spec["preemptionPolicy"] = "PreemptLowerPriority"
        if shape.overhead:
            spec["overhead"] = shape.overhead
        self.spec = spec
        rs_spec = {k: v for k, v in spec.items() if k not in ("priority", "tolerations")}
        if w.tolerations and not per_node:
            rs_spec["tolerations"] = w.tolerations
        elif per_node:
            rs_spec["tolerations"] = _TOLERATE_ALL
        if self.volumes:
            rs_spec["volumes"] = self.volumes
        rs_spec["containers"] = self.containers
        if self.init:
            rs_spec["initContainers"] = self.init
        self.rs_spec = rs_spec
        self.mf_spec: Obj | None = None
        if m.managed_fields:
            self.mf_spec = self._fields(w, shape.containers, shape.init, spec)

    def _container(self, c: ContainerT, mounts: list[Obj], version: str) -> Obj:
        image = f"{c.image}:{version}" if c.versioned else c.image
        self.images.append(image)
        self.image_ids.append(f"{image.rsplit(':', 1)[0]}@sha256:{hex_digest(skey(image))}")
        d: Obj = {"name": c.name, "image": image}
        if c.args:
            d["args"] = list(c.args)
        if c.ports:
            d["ports"] = [{"name": n, "containerPort": p, "protocol": "TCP"} for n, p in c.ports]
        if c.env:
            d["env"] = [{"name": k, "value": v} for k, v in c.env]
        res: Obj = {}
        if c.limits:
            res["limits"] = c.limits
        if c.requests:
            res["requests"] = c.requests
        d["resources"] = res
        self.mounts.append(mounts)
        if c.probes and c.ports:
            port = c.ports[0][1]
            d["livenessProbe"] = {
                "httpGet": {"path": "/healthz", "port": port, "scheme": "HTTP"},
                "initialDelaySeconds": 10,
                "timeoutSeconds": 1,
                "periodSeconds": 10,
                "successThreshold": 1,
                "failureThreshold": 3,
            }
            d["readinessProbe"] = {
                "httpGet": {"path": "/ready", "port": port, "scheme": "HTTP"},
                "timeoutSeconds": 1,
                "periodSeconds": 5,
                "successThreshold": 1,
                "failureThreshold": 3,
            }
        d["terminationMessagePath"] = "/dev/termination-log"
        d["terminationMessagePolicy"] = "File"
        d["imagePullPolicy"] = "IfNotPresent"
        if c.restartable:
            d["restartPolicy"] = "Always"
        d["volumeMounts"] = mounts
        return d

    def _fields(self, w: Workload, conts: Any, init: Any, spec: Obj) -> Obj:
        def cfields(c: ContainerT) -> Obj:
            f: Obj = {".": {}, "f:image": {}, "f:imagePullPolicy": {}, "f:name": {}}
            if c.args:
                f["f:args"] = {}
            if c.env:
                f["f:env"] = {".": {}, **{f'k:{{"name":"{k}"}}': _f(("name", "value")) for k, _ in c.env}}
            if c.ports:
                f["f:ports"] = {
                    ".": {},
                    **{
                        f'k:{{"containerPort":{p},"protocol":"TCP"}}': _f(
                            ("containerPort", "name", "protocol")
                        )
                        for _, p in c.ports
                    },
                }
            res: Obj = {".": {}}
            if c.limits:
                res["f:limits"] = _f(c.limits)
            if c.requests:
                res["f:requests"] = _f(c.requests)
            f["f:resources"] = res
            f["f:terminationMessagePath"] = {}
            f["f:terminationMessagePolicy"] = {}
            f["f:volumeMounts"] = {
                ".": {},
                f'k:{{"mountPath":"{SA_MOUNT}"}}': _f(("mountPath", "name", "readOnly")),
            }
            return f

        fspec: Obj = {"f:containers": {f'k:{{"name":"{c.name}"}}': cfields(c) for c in conts}}
        if init:
            fspec["f:initContainers"] = {f'k:{{"name":"{c.name}"}}': cfields(c) for c in init}
        for k in spec:
            if k not in ("containers", "initContainers"):
                fspec[f"f:{k}"] = {}
        fspec["f:volumes"] = {
            ".": {},
            **{f'k:{{"name":"{v["name"]}"}}': {".": {}, "f:name": {}} for v in self.volumes},
        }
        fmeta: Obj = {"f:labels": _f(self.labels)}
        if w.kind not in ("Static", "Bare"):
            fmeta = {"f:generateName": {}, **fmeta}
        return {"f:metadata": fmeta, "f:spec": fspec}


def template(m: ClusterModel, w: Workload, rev: int) -> PodTemplate:
    key = (w.idx, rev)
    tpl = m.cache.get(key)
    if tpl is None:
        tpl = PodTemplate(m, w, rev)
        m.cache.put(key, tpl)
    assert isinstance(tpl, PodTemplate)
    return tpl


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
        meta["resourceVersion"] = _rv(last_change, pod.ident)
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
        spec["volumes"] = [*tpl.volumes, {"name": vol, "projected": _SA_PROJECTED}]
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
            st = {**_KUBELET_STATUS, "f:podIPs": {".": {}, f'k:{{"ip":"{ip}"}}': {".": {}, "f:ip": {}}}}
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
            _cond("PodReadyToStartContainers", not done and not young, ts(pod.created + 2)),
            _cond("Initialized", True, ts(pod.created + 1 + (4 if tpl.init else 0)), reason_nr),
            _cond("Ready", ready, ts(pod.finished or (pod.last_start + (20 if ready else 0))), reason_nr),
            _cond(
                "ContainersReady",
                ready,
                ts(pod.finished or (pod.last_start + (20 if ready else 0))),
                reason_nr,
            ),
            _cond("PodScheduled", True, created),
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
                    "lastState": _EMPTY,
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
                    "lastState": _EMPTY,
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
                    "lastState": _EMPTY,
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
        last: Obj = _EMPTY
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


def _cond(kind: str, ok: bool, when: str, reason: str | None = None) -> Obj:
    c: Obj = {
        "type": kind,
        "status": "True" if ok else "False",
        "lastProbeTime": None,
        "lastTransitionTime": when,
    }
    if reason and kind != "PodReadyToStartContainers":
        c["reason"] = reason
    return c


# --- metrics ---------------------------------------------------------------------------------------


def pod_metrics(inst: Instant) -> Iterator[Obj]:
    t = inst.t
    now = ts(t)
    m = inst.m
    for pod in inst.pods:
        if not pod.metrics or pod.usage is None:
            continue
        h = pod.ident
        tpl = template(m, pod.w, pod.rev)
        names = [c.name for c in pod.shape.containers] + [c.name for c in pod.shape.init if c.restartable]
        labels = tpl.labels if pod.run is None else {**tpl.labels, "job-name": pod.run.name}
        yield {
            "metadata": {
                "name": pod.name,
                "namespace": pod.w.namespace,
                "creationTimestamp": now,
                "labels": labels,
            },
            "timestamp": ts(t - 5 - h % 25),
            "window": f"{15 + h % 6}.{h % 997:03d}s",
            "containers": [
                {"name": n, "usage": {"cpu": f"{u[0]}n", "memory": f"{u[1] // KI}Ki"}}
                for n, u in zip(names, pod.usage, strict=False)
            ],
        }


def node_metrics(inst: Instant, labels: dict[str, Obj]) -> Iterator[Obj]:
    t = inst.t
    now = ts(t)
    for node in inst.nodes:
        if not node.ready:
            continue
        h = node.ident
        yield {
            "metadata": {"name": node.name, "creationTimestamp": now, "labels": labels[node.name]},
            "timestamp": ts(t - 3 - h % 20),
            "window": f"{10 + h % 11}.{h % 991:03d}s",
            "usage": {"cpu": f"{node.use_cpu_n}n", "memory": f"{node.use_mem_b // KI}Ki"},
        }


# --- nodes -----------------------------------------------------------------------------------------


def node_labels(m: ClusterModel, node: NodeP) -> Obj:
    key = ("labels", node.ident, node.name)
    got = m.cache.get(key)
    if isinstance(got, dict):
        return got
    it, p, tpl = node.itype, node.pool, m.tpl
    spot = p.tpl.spot
    lab: Obj = {
        "beta.kubernetes.io/arch": "amd64",
        "beta.kubernetes.io/instance-type": it.name,
        "beta.kubernetes.io/os": "linux",
    }
    if tpl.provider == "aws":
        if p.tpl.provisioner == "nodegroup":
            lab["eks.amazonaws.com/capacityType"] = "SPOT" if spot else "ON_DEMAND"
            lab["eks.amazonaws.com/nodegroup"] = p.tpl.name
            lab["eks.amazonaws.com/nodegroup-image"] = f"ami-0{mix(p.key, 0xA1) & 0xFFFFFFFFFFFFFFF:015x}"
            lab["eks.amazonaws.com/sourceLaunchTemplateId"] = (
                f"lt-0{mix(p.key, 0xA2) & 0xFFFFFFFFFFFFFFF:015x}"
            )
            lab["eks.amazonaws.com/sourceLaunchTemplateVersion"] = str(1 + mix(p.key, 0xA3) % 9)
        lab["failure-domain.beta.kubernetes.io/region"] = tpl.region
        lab["failure-domain.beta.kubernetes.io/zone"] = node.zone
        lab["k8s.io/cloud-provider-aws"] = hex_digest(mix(m.key, 0xC1), 32)
        if p.tpl.provisioner == "karpenter":
            lab["karpenter.k8s.aws/ec2nodeclass"] = "default"
            lab["karpenter.k8s.aws/instance-category"] = it.family[0]
            lab["karpenter.k8s.aws/instance-cpu"] = str(it.vcpu)
            lab["karpenter.k8s.aws/instance-family"] = it.family
            lab["karpenter.k8s.aws/instance-generation"] = "".join(ch for ch in it.family if ch.isdigit())
            lab["karpenter.k8s.aws/instance-hypervisor"] = "nitro"
            lab["karpenter.k8s.aws/instance-memory"] = str(it.memory_gib * 1024)
            lab["karpenter.k8s.aws/instance-size"] = it.size
            lab["karpenter.sh/capacity-type"] = "spot" if spot else "on-demand"
            lab["karpenter.sh/initialized"] = "true"
            lab["karpenter.sh/nodepool"] = p.tpl.name
            lab["karpenter.sh/registered"] = "true"
        if it.gpu:
            lab["k8s.amazonaws.com/accelerator"] = "nvidia-a10g"
    else:
        lab["cloud.google.com/gke-boot-disk"] = "pd-balanced"
        lab["cloud.google.com/gke-container-runtime"] = "containerd"
        lab["cloud.google.com/gke-cpu-scaling-level"] = str(it.vcpu)
        lab["cloud.google.com/gke-logging-variant"] = "DEFAULT"
        lab["cloud.google.com/gke-max-pods-per-node"] = "110"
        lab["cloud.google.com/gke-nodepool"] = p.tpl.name
        lab["cloud.google.com/gke-os-distribution"] = "cos"
        lab["cloud.google.com/gke-provisioning"] = "spot" if spot else "standard"
        if spot:
            lab["cloud.google.com/gke-spot"] = "true"
        lab["cloud.google.com/gke-stack-type"] = "IPV4"
        lab["cloud.google.com/machine-family"] = it.family
        lab["cloud.google.com/private-node"] = "false"
        lab["failure-domain.beta.kubernetes.io/region"] = tpl.region
        lab["failure-domain.beta.kubernetes.io/zone"] = node.zone
    lab["kubernetes.io/arch"] = "amd64"
    lab["kubernetes.io/hostname"] = node.name
    lab["kubernetes.io/os"] = "linux"
    lab["node.kubernetes.io/instance-type"] = it.name
    if it.gpu:
        lab["nvidia.com/gpu.count"] = str(it.gpu)
        lab["nvidia.com/gpu.present"] = "true"
        lab["nvidia.com/gpu.product"] = it.gpu_product
    if tpl.provider == "aws":
        lab["topology.ebs.csi.aws.com/zone"] = node.zone
        lab["topology.k8s.aws/zone-id"] = (
            f"{tpl.region.split('-')[0][:2]}{tpl.region.split('-')[1][0]}"
            f"{tpl.region[-1]}-az{1 + tpl.zones.index(node.zone)}"
        )
    else:
        lab["topology.gke.io/zone"] = node.zone
    lab["topology.kubernetes.io/region"] = tpl.region
    lab["topology.kubernetes.io/zone"] = node.zone
    m.cache.put(key, lab)
    return lab


def node(inst: Instant, n: NodeP, labels: Obj) -> Obj:
    m, t = inst.m, inst.t
    tpl = m.tpl
    it = n.itype
    aws = tpl.provider == "aws"
    h = n.ident
    iid = f"i-0{h & 0xFFFFFFFFFFFFFFFF:016x}"[:19]
    ann: Obj = {"alpha.kubernetes.io/provided-node-ip": n.ip}
    if aws:
        ann["csi.volume.kubernetes.io/nodeid"] = f'{{"ebs.csi.aws.com":"{iid}"}}'
    if n.pool.tpl.provisioner == "karpenter":
        ann["karpenter.k8s.aws/ec2nodeclass-hash"] = str(mix(n.pool.key, 0xEC) % 10**19)
        ann["karpenter.k8s.aws/ec2nodeclass-hash-version"] = "v4"
        ann["karpenter.sh/nodepool-hash"] = str(mix(n.pool.key, 0x9F) % 10**19)
        ann["karpenter.sh/nodepool-hash-version"] = "v3"
    ann["node.alpha.kubernetes.io/ttl"] = "0"
    ann["volumes.kubernetes.io/controller-managed-attach-detach"] = "true"
    manual = unit(mix(h, t // 7200, 0xC0D)) < 0.004 and t - n.created > 7200
    meta: Obj = {
        "name": n.name,
        "uid": n.uid,
        "resourceVersion": _rv(t - h % 40, h),
        "creationTimestamp": ts(n.created),
        "labels": labels,
        "annotations": ann,
    }
    spec: Obj = {}
    if not aws:
        cidr = f"10.{64 + (n.slot >> 8) % 64}.{n.slot & 255}.0/24"
        spec["podCIDR"] = cidr
        spec["podCIDRs"] = [cidr]
        spec["providerID"] = f"gce://acme-{tpl.env}/{n.zone}/{n.name}"
    else:
        spec["providerID"] = f"aws:///{n.zone}/{iid}"
    taints: list[Obj] = []
    if it.gpu:
        taints.append({"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"})
    if n.cordoned:
        if n.pool.tpl.provisioner == "karpenter":
            taints.append({"key": "karpenter.sh/disrupted", "effect": "NoSchedule"})
        else:
            taints.append(
                {
                    "key": "ToBeDeletedByClusterAutoscaler",
                    "value": str(t - t % 900 + 600),
                    "effect": "NoSchedule",
                }
            )
    if manual:
        taints.append(
            {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule", "timeAdded": ts(t - t % 7200)}
        )
        spec["unschedulable"] = True
    if not n.ready:
        since = ts(t - t % 900 + 40)
        taints.append({"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule", "timeAdded": since})
        taints.append({"key": "node.kubernetes.io/unreachable", "effect": "NoExecute", "timeAdded": since})
    if taints:
        spec["taints"] = taints
    cap_ki = it.memory_capacity_ki
    alloc_ki = n.alloc_mem // KI
    capacity: Obj = {
        "cpu": str(it.vcpu),
        "ephemeral-storage": "104845292Ki",
        "hugepages-1Gi": "0",
        "hugepages-2Mi": "0",
        "memory": f"{cap_ki}Ki",
    }
    alloc: Obj = {
        "cpu": fmt_cpu(n.alloc_cpu),
        "ephemeral-storage": "95551679740",
        "hugepages-1Gi": "0",
        "hugepages-2Mi": "0",
        "memory": f"{alloc_ki}Ki",
    }
    if it.gpu:
        capacity["nvidia.com/gpu"] = str(it.gpu)
        alloc["nvidia.com/gpu"] = str(it.gpu)
    capacity["pods"] = str(it.max_pods)
    alloc["pods"] = str(n.alloc_pods)
    beat = ts(t - h % 40)
    since = ts(n.created + 30)
    conds = [
        {
            "type": "MemoryPressure",
            "status": "False",
            "lastHeartbeatTime": beat,
            "lastTransitionTime": since,
            "reason": "KubeletHasSufficientMemory",
            "message": "kubelet has sufficient memory available",
        },
        {
            "type": "DiskPressure",
            "status": "False",
            "lastHeartbeatTime": beat,
            "lastTransitionTime": since,
            "reason": "KubeletHasNoDiskPressure",
            "message": "kubelet has no disk pressure",
        },
        {
            "type": "PIDPressure",
            "status": "False",
            "lastHeartbeatTime": beat,
            "lastTransitionTime": since,
            "reason": "KubeletHasSufficientPID",
            "message": "kubelet has sufficient PID available",
        },
    ]
    if n.ready:
        conds.append(
            {
                "type": "Ready",
                "status": "True",
                "lastHeartbeatTime": beat,
                "lastTransitionTime": since,
                "reason": "KubeletReady",
                "message": "kubelet is posting ready status",
            }
        )
    else:
        lost = ts(t - t % 900 + 40)
        for c in conds:
            c.update(
                status="Unknown",
                reason="NodeStatusUnknown",
                message="Kubelet stopped posting node status.",
                lastTransitionTime=lost,
                lastHeartbeatTime=ts(t - t % 900),
            )
        conds.append(
            {
                "type": "Ready",
                "status": "Unknown",
                "lastHeartbeatTime": ts(t - t % 900),
                "lastTransitionTime": lost,
                "reason": "NodeStatusUnknown",
                "message": "Kubelet stopped posting node status.",
            }
        )
    addresses = [{"type": "InternalIP", "address": n.ip}]
    if aws:
        addresses.append({"type": "InternalDNS", "address": n.name})
    addresses.append({"type": "Hostname", "address": n.name})
    info = {
        "machineID": hex_digest(mix(h, 0x3A), 32),
        "systemUUID": f"ec2{hex_digest(mix(h, 0x3B), 29)}" if aws else uid(mix(h, 0x3B)),
        "bootID": uid(mix(h, 0x3C)),
        "kernelVersion": "6.1.119-129.201.amzn2023.x86_64" if aws else "6.1.112+",
        "osImage": "Amazon Linux 2023.6.20250107" if aws else "Container-Optimized OS from Google",
        "containerRuntimeVersion": "containerd://1.7.25" if aws else "containerd://1.7.24",
        "kubeletVersion": tpl.version,
        "kubeProxyVersion": tpl.version,
        "operatingSystem": "linux",
        "architecture": "amd64",
    }
    status = {
        "capacity": capacity,
        "allocatable": alloc,
        "conditions": conds,
        "addresses": addresses,
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
        "nodeInfo": info,
    }
    return {"metadata": meta, "spec": spec, "status": status}


# --- workload objects ------------------------------------------------------------------------------


def replicasets(inst: Instant) -> Iterator[Obj]:
    m, t = inst.m, inst.t
    counts: dict[tuple[int, int], list[int]] = {}
    for pod in inst.pods:
        if pod.owner is not None and pod.owner[1] == "ReplicaSet" and pod.phase in ("Running", "Pending"):
            c = counts.setdefault((pod.w.idx, pod.rev), [0, 0])
            c[0] += 1
            if pod.phase == "Running" and t - pod.last_start >= 20:
                c[1] += 1
    out = []
    for w in m.replicated:
        if w.kind == "StatefulSet" or w.born > t or inst.reps[w.idx] == 0:
            continue
        rev = w.rev_at(t)
        desired = inst.reps[w.idx]
        for r in range(max(0, rev - w.history), rev + 1):
            n, ready = counts.get((w.idx, r), (0, 0))
            key = ("rs", w.idx, r, r == rev, n, ready, desired)
            obj = m.cache.get(key)
            if obj is None:
                obj = _replicaset(m, w, r, rev, n, ready, desired)
                m.cache.put(key, obj)
            out.append((w.namespace, obj["metadata"]["name"], {**obj, "metadata": dict(obj["metadata"])}))
    out.sort(key=lambda x: (x[0], x[1]))
    for _, _, obj in out:
        yield obj


def _replicaset(m: ClusterModel, w: Workload, r: int, cur: int, n: int, ready: int, desired: int) -> Obj:
    tpl = template(m, w, r)
    rollout = w.kind == "Rollout"
    hash_label = "rollouts-pod-template-hash" if rollout else "pod-template-hash"
    sel = {
        k: v
        for k, v in tpl.labels.items()
        if k in ("app.kubernetes.io/name", "app.kubernetes.io/instance", "app")
    }
    sel[hash_label] = tpl.hash
    gen = 1 + (2 if r == cur else 3)
    when = w.rev_start(r)
    if rollout:
        ann = {
            "rollout.argoproj.io/desired-replicas": str(desired),
            "rollout.argoproj.io/revision": str(r + 1),
        }
        ref = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout"}
    else:
        ann = {
            "deployment.kubernetes.io/desired-replicas": str(desired),
            "deployment.kubernetes.io/max-replicas": str(desired + math.ceil(desired / 4)),
            "deployment.kubernetes.io/revision": str(r + 1),
        }
        ref = {"apiVersion": "apps/v1", "kind": "Deployment"}
    meta = {
        "name": rs_name(w, r),
        "namespace": w.namespace,
        "uid": rs_uid(w, r),
        "resourceVersion": _rv(max(when, m.start), mix(w.key, r)),
        "generation": gen,
        "creationTimestamp": ts(when),
        "labels": tpl.labels,
        "annotations": ann,
        "ownerReferences": [
            {**ref, "name": w.name, "uid": owner_uid(w), "controller": True, "blockOwnerDeletion": True}
        ],
    }
    tmeta: Obj = {"creationTimestamp": None, "labels": tpl.labels}
    if tpl.ann:
        tmeta["annotations"] = tpl.ann
    status: Obj = {"replicas": n}
    if n:
        status.update(fullyLabeledReplicas=n, readyReplicas=ready, availableReplicas=ready)
    status["observedGeneration"] = gen
    return {
        "metadata": meta,
        "spec": {
            "replicas": n,
            "selector": {"matchLabels": sel},
            "template": {"metadata": tmeta, "spec": tpl.rs_spec},
        },
        "status": status,
    }


def jobs(inst: Instant) -> Iterator[Obj]:
    m, t = inst.m, inst.t
    for run in sorted(inst.runs, key=lambda r: (r.w.namespace, r.name)):
        w = run.w
        assert w.cron is not None
        tpl = template(m, w, w.rev_at(run.sched))
        active = run.end > t
        labels = {
            "batch.kubernetes.io/controller-uid": run.uid,
            "batch.kubernetes.io/job-name": run.name,
            "controller-uid": run.uid,
            "job-name": run.name,
        }
        meta: Obj = {
            "name": run.name,
            "namespace": w.namespace,
            "uid": run.uid,
            "resourceVersion": _rv(min(t, run.end), run.uid.__len__() + run.k),
            "generation": 1,
            "creationTimestamp": ts(run.sched + 1),
            "labels": labels,
        }
        if w.kind == "CronJob":
            meta["annotations"] = {"batch.kubernetes.io/cronjob-scheduled-timestamp": ts(run.sched)}
            meta["ownerReferences"] = [
                {
                    "apiVersion": "batch/v1",
                    "kind": "CronJob",
                    "name": w.name,
                    "uid": owner_uid(w),
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ]
        else:
            meta["annotations"] = dict(w.annotations)
        par = w.cron.parallelism
        spec = {
            "parallelism": par,
            "completions": par,
            "backoffLimit": w.cron.backoff_limit,
            "completionMode": "NonIndexed",
            "suspend": False,
            "podReplacementPolicy": "TerminatingOrFailed",
            "manualSelector": False,
            "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": run.uid}},
            "template": {
                "metadata": {"creationTimestamp": None, "labels": {**tpl.labels, **labels}},
                "spec": tpl.rs_spec,
            },
        }
        status: Obj = {"startTime": ts(run.start)}
        if active:
            running = [p for p in run.pods if p.node is not None and p.phase == "Running"]
            status.update(active=len(run.pods), ready=len(running), terminating=0, uncountedTerminatedPods={})
        elif run.failed:
            end = ts(run.end)
            status.update(
                conditions=[
                    {
                        "type": "FailureTarget",
                        "status": "True",
                        "reason": "BackoffLimitExceeded",
                        "message": "Job has reached the specified backoff limit",
                        "lastProbeTime": end,
                        "lastTransitionTime": end,
                    },
                    {
                        "type": "Failed",
                        "status": "True",
                        "reason": "BackoffLimitExceeded",
                        "message": "Job has reached the specified backoff limit",
                        "lastProbeTime": end,
                        "lastTransitionTime": end,
                    },
                ],
                failed=1,
                ready=0,
                terminating=0,
                uncountedTerminatedPods={},
            )
        else:
            end = ts(run.end)
            status.update(
                conditions=[
                    {
                        "type": "SuccessCriteriaMet",
                        "status": "True",
                        "reason": "CompletionsReached",
                        "message": "Reached expected number of succeeded pods",
                        "lastProbeTime": end,
                        "lastTransitionTime": end,
                    },
                    {
                        "type": "Complete",
                        "status": "True",
                        "reason": "CompletionsReached",
                        "message": "Reached expected number of succeeded pods",
                        "lastProbeTime": end,
                        "lastTransitionTime": end,
                    },
                ],
                completionTime=end,
                succeeded=par,
                ready=0,
                terminating=0,
                uncountedTerminatedPods={},
            )
        yield {"metadata": meta, "spec": spec, "status": status}


def namespaces(inst: Instant) -> Iterator[Obj]:
    t = inst.t
    for ns in sorted(inst.m.namespaces, key=lambda n: n.name):
        if ns.created > t:
            continue
        h = skey(ns.name)
        meta: Obj = {
            "name": ns.name,
            "uid": uid(mix(inst.m.key, h)),
            "resourceVersion": _rv(ns.created, h),
            "creationTimestamp": ts(ns.created),
            "labels": ns.labels,
        }
        if ns.annotations:
            meta["annotations"] = ns.annotations
        yield {"metadata": meta, "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}


def quotas(inst: Instant) -> Iterator[Obj]:
    t = inst.t
    used: dict[str, list[int]] = {}
    for pod in inst.pods:
        if pod.phase in ("Running", "Pending"):
            u = used.setdefault(pod.w.namespace, [0, 0, 0, 0])
            s = pod.shape
            u[0] += s.eff_cpu_m
            u[1] += s.eff_mem_b
            u[2] += s.lim_mem_b
            u[3] += 1
    for ns in sorted(inst.m.namespaces, key=lambda n: n.name):
        if ns.quota is None or ns.created > t:
            continue
        u = used.get(ns.name, [0, 0, 0, 0])
        hard = ns.quota
        use = {"pods": str(u[3]), "requests.cpu": fmt_cpu(u[0]), "requests.memory": fmt_bytes(u[1])}
        if "limits.memory" in hard:
            use["limits.memory"] = fmt_bytes(u[2])
        h = skey(ns.name + "/quota")
        created = ns.created + 3600
        yield {
            "metadata": {
                "name": "compute-quota",
                "namespace": ns.name,
                "uid": uid(mix(inst.m.key, h)),
                "resourceVersion": _rv(t - h % 300, h),
                "creationTimestamp": ts(created),
            },
            "spec": {"hard": hard},
            "status": {"hard": hard, "used": dict(sorted(use.items()))},
        }
