"""Pod templates: the parts of a workload revision's pods that do not change with time, built once
and shared between its pods (what ``kubectl get pod -o json`` shows under ``spec``)."""

from __future__ import annotations

from typing import Any

from collectors.simulator._catalog import SA_MOUNT
from collectors.simulator._model import ContainerT, Workload
from collectors.simulator._plan import ClusterModel
from collectors.simulator._render_common import Obj, fields
from collectors.simulator._util import (
    hex_digest,
    mix,
    skey,
    template_hash,
)

SA_PROJECTED: Obj = {
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
EMPTY: Obj = {}
_TOLERATE_ALL: list[Obj] = [{"operator": "Exists"}]
_COND_FIELDS: Obj = {".": {}, "f:lastProbeTime": {}, "f:lastTransitionTime": {}, "f:status": {}, "f:type": {}}
KUBELET_STATUS: Obj = {
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
        if w.spread:
            spec["topologySpreadConstraints"] = w.spread
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
                f["f:env"] = {".": {}, **{f'k:{{"name":"{k}"}}': fields(("name", "value")) for k, _ in c.env}}
            if c.ports:
                f["f:ports"] = {
                    ".": {},
                    **{
                        f'k:{{"containerPort":{p},"protocol":"TCP"}}': fields(
                            ("containerPort", "name", "protocol")
                        )
                        for _, p in c.ports
                    },
                }
            res: Obj = {".": {}}
            if c.limits:
                res["f:limits"] = fields(c.limits)
            if c.requests:
                res["f:requests"] = fields(c.requests)
            f["f:resources"] = res
            f["f:terminationMessagePath"] = {}
            f["f:terminationMessagePolicy"] = {}
            f["f:volumeMounts"] = {
                ".": {},
                f'k:{{"mountPath":"{SA_MOUNT}"}}': fields(("mountPath", "name", "readOnly")),
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
        fmeta: Obj = {"f:labels": fields(self.labels)}
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
