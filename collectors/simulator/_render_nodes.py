"""Nodes of an instant, with their labels, and the metrics API's pod and node usage."""

from __future__ import annotations

from collections.abc import Iterator

from collectors.simulator._instant import Instant, NodeP
from collectors.simulator._plan import ClusterModel
from collectors.simulator._render_common import Obj, resource_version
from collectors.simulator._templates import template
from collectors.simulator._util import (
    KI,
    fmt_cpu,
    hex_digest,
    mix,
    ts,
    uid,
    unit,
)

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
        "resourceVersion": resource_version(t - h % 40, h),
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
