"""Workload controllers (ReplicaSets, Jobs), namespaces and ResourceQuotas of an instant."""

from __future__ import annotations

import math
from collections.abc import Iterator

from collectors.simulator._instant import Instant, owner_uid, rs_name, rs_uid
from collectors.simulator._model import Workload
from collectors.simulator._plan import ClusterModel
from collectors.simulator._render_common import Obj, resource_version
from collectors.simulator._templates import template
from collectors.simulator._util import (
    fmt_bytes,
    fmt_cpu,
    mix,
    skey,
    ts,
    uid,
)

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
        "resourceVersion": resource_version(max(when, m.start), mix(w.key, r)),
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
            "resourceVersion": resource_version(min(t, run.end), run.uid.__len__() + run.k),
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
            "resourceVersion": resource_version(ns.created, h),
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
                "resourceVersion": resource_version(t - h % 300, h),
                "creationTimestamp": ts(created),
            },
            "spec": {"hard": hard},
            "status": {"hard": hard, "used": dict(sorted(use.items()))},
        }


# --- autoscalers -----------------------------------------------------------------------------------


def _hpa_metrics(w: Workload) -> list[Obj]:
    """CPU utilization for most; memory for some, an external queue metric for a few."""
    pick = mix(w.key, 0x4A7) % 11
    if pick == 0:
        return [{"type": "External", "external": {
            "metric": {"name": "sqs_messages_visible", "selector": {"matchLabels": {"queue": w.name}}},
            "target": {"type": "AverageValue", "averageValue": "30"}}}]  # fmt: skip
    resource = "memory" if pick in (1, 2) else "cpu"
    target = 80 if resource == "memory" else 60 + 5 * (mix(w.key, 0x4A8) % 4)
    utilization = {"type": "Utilization", "averageUtilization": target}
    return [{"type": "Resource", "resource": {"name": resource, "target": utilization}}]


def autoscalers(inst: Instant) -> Iterator[Obj]:
    """A HorizontalPodAutoscaler (autoscaling/v2) for every workload whose replicas follow load."""
    t = inst.t
    out: list[Obj] = []
    for w in inst.m.replicated:
        if w.hpa is None or w.born > t or t >= w.died:
            continue
        lo, hi = w.hpa
        replicas = inst.reps[w.idx]
        h = mix(w.key, 0x4A9)
        api = "argoproj.io/v1alpha1" if w.kind == "Rollout" else "apps/v1"
        out.append({
            "metadata": {"name": w.name, "namespace": w.namespace, "uid": uid(h),
                         "resourceVersion": resource_version(t - h % 60, h),
                         "creationTimestamp": ts(inst.m.start)},
            "spec": {"scaleTargetRef": {"apiVersion": api, "kind": w.kind, "name": w.name},
                     "minReplicas": lo, "maxReplicas": hi, "metrics": _hpa_metrics(w)},
            "status": {"currentReplicas": replicas, "desiredReplicas": replicas},
        })  # fmt: skip
    yield from sorted(out, key=lambda o: (o["metadata"]["namespace"], o["metadata"]["name"]))
