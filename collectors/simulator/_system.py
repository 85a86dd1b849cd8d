"""Cluster add-ons (DaemonSets, static pods, system Deployments) and the calibration of a cluster."""

from __future__ import annotations

import math
from typing import Any

from collectors.simulator._generator import Generator
from collectors.simulator._model import (
    ContainerT,
    Pool,
    Shape,
    Workload,
    container,
)
from collectors.simulator._util import GI, MI, mix, skey

NODE_CRITICAL = ("system-node-critical", 2000001000)
CLUSTER_CRITICAL = ("system-cluster-critical", 2000000000)
_TOLERATE_ALL: list[dict[str, Any]] = [{"operator": "Exists"}]


def _sys(
    gen: Generator,
    ns: str,
    name: str,
    kind: str,
    conts: list[ContainerT],
    *,
    init: tuple[ContainerT, ...] = (),
    r0: float = 1,
    pools: tuple[int, ...] | None = None,
    priority: tuple[str, int] | None = None,
    host_network: bool = False,
    labels: dict[str, str] | None = None,
    hpa: bool = False,
    profile: str = "system",
) -> Workload:
    gen.add_ns(ns)
    key = mix(gen.ckey, skey(ns), skey(name))
    per_node = kind in ("DaemonSet", "Static")
    pool = -1 if per_node else (gen.pool_for("system") or 0)
    w = Workload(
        0,
        key,
        ns,
        name,
        kind,
        None,
        name,
        profile,
        pool,
        (Shape(tuple(conts), init),),
        labels or {"app.kubernetes.io/name": name},
        r0=r0,
        hpa=(1, 1) if hpa else None,
        amp=0.3,
        dip=0.1,
        period=int(86400 * (20 + key % 40)),
        life=30 * 86400,
        priority=priority[1] if priority else 0,
        priority_class=priority[0] if priority else None,
        host_network=host_network,
        service_account=name,
        tolerations=list(_TOLERATE_ALL) if per_node else [],
        history=10,
    )
    w.anchor = gen.start - w.period * (3 + key % 10) - key % w.period
    w.image_tag0 = 0
    w.ds_pools = pools if pools is not None else tuple(p.idx for p in gen.pools)
    gen.add(w)
    return w


def build_system(gen: Generator) -> None:
    """The add-ons every real cluster of this provider runs."""
    aws = gen.tpl.provider == "aws"
    gpu_pools = tuple(p.idx for p in gen.pools if p.gpu)
    c = container
    if aws:
        _sys(
            gen,
            "kube-system",
            "aws-node",
            "DaemonSet",
            [
                c(
                    "aws-node",
                    "602401143452.dkr.ecr.us-east-1.amazonaws.com/amazon-k8s-cni:v1.19.2-eksbuild.1",
                    "25m",
                    use_cpu=4.0,
                    use_mem=48 * MI,
                    ports=(("metrics", 61678),),
                ),
                c(
                    "aws-eks-nodeagent",
                    "602401143452.dkr.ecr.us-east-1.amazonaws.com/amazon/aws-network-policy-agent:"
                    "v1.1.6-eksbuild.1",
                    "25m",
                    use_cpu=1.5,
                    use_mem=22 * MI,
                    probes=False,
                ),
            ],
            init=(
                c(
                    "aws-vpc-cni-init",
                    "602401143452.dkr.ecr.us-east-1.amazonaws.com/amazon-k8s-cni-init:v1.19.2-eksbuild.1",
                    probes=False,
                ),
            ),
            priority=NODE_CRITICAL,
            host_network=True,
            labels={"app.kubernetes.io/name": "aws-node", "k8s-app": "aws-node"},
        )
        _sys(
            gen,
            "kube-system",
            "kube-proxy",
            "DaemonSet",
            [
                c(
                    "kube-proxy",
                    "602401143452.dkr.ecr.us-east-1.amazonaws.com/eks/kube-proxy:v1.31.3-minimal-eksbuild.2",
                    "100m",
                    use_cpu=3.0,
                    use_mem=24 * MI,
                    probes=False,
                ),
            ],
            priority=NODE_CRITICAL,
            host_network=True,
            labels={"k8s-app": "kube-proxy"},
        )
        ebs = "public.ecr.aws/ebs-csi-driver/aws-ebs-csi-driver:v1.38.1"
        _sys(
            gen,
            "kube-system",
            "ebs-csi-node",
            "DaemonSet",
            [
                c("ebs-plugin", ebs, "10m", "40Mi", None, "256Mi", use_cpu=1.2, use_mem=17 * MI),
                c(
                    "node-driver-registrar",
                    "public.ecr.aws/csi-components/csi-node-driver-registrar:v2.12.0",
                    "10m",
                    "40Mi",
                    None,
                    "256Mi",
                    use_cpu=0.4,
                    use_mem=9 * MI,
                    probes=False,
                ),
                c(
                    "liveness-probe",
                    "public.ecr.aws/csi-components/livenessprobe:v2.14.0",
                    "10m",
                    "40Mi",
                    None,
                    "256Mi",
                    use_cpu=0.5,
                    use_mem=11 * MI,
                    probes=False,
                ),
            ],
            priority=NODE_CRITICAL,
            labels={"app": "ebs-csi-node", "app.kubernetes.io/name": "aws-ebs-csi-driver"},
        )
    else:
        _sys(
            gen,
            "kube-system",
            "kube-proxy",
            "Static",
            [
                c(
                    "kube-proxy",
                    "gke.gcr.io/kube-proxy-amd64:v1.31.5-gke.1068000",
                    "100m",
                    use_cpu=4.0,
                    use_mem=28 * MI,
                    probes=False,
                ),
            ],
            priority=NODE_CRITICAL,
            host_network=True,
            labels={"component": "kube-proxy", "tier": "node"},
        )
        _sys(
            gen,
            "kube-system",
            "fluentbit-gke",
            "DaemonSet",
            [
                c(
                    "fluentbit",
                    "gke.gcr.io/fluent-bit:v1.8.12-gke.37",
                    "50m",
                    "100Mi",
                    None,
                    "250Mi",
                    use_cpu=14.0,
                    use_mem=38 * MI,
                ),
                c(
                    "fluentbit-gke",
                    "gke.gcr.io/fluent-bit-gke-exporter:v0.28.0-gke.2",
                    "50m",
                    "100Mi",
                    None,
                    "250Mi",
                    use_cpu=6.0,
                    use_mem=27 * MI,
                    probes=False,
                ),
            ],
            priority=NODE_CRITICAL,
            labels={"k8s-app": "fluentbit-gke", "component": "fluentbit-gke"},
        )
        _sys(
            gen,
            "kube-system",
            "gke-metrics-agent",
            "DaemonSet",
            [
                c(
                    "gke-metrics-agent",
                    "gke.gcr.io/gke-metrics-agent:1.14.0-gke.1",
                    "8m",
                    "60Mi",
                    None,
                    "140Mi",
                    use_cpu=3.5,
                    use_mem=31 * MI,
                ),
                c(
                    "core-metrics-exporter",
                    "gke.gcr.io/gke-metrics-collector:20241024_2300_RC0",
                    "5m",
                    "30Mi",
                    None,
                    "45Mi",
                    use_cpu=0.8,
                    use_mem=9 * MI,
                    probes=False,
                ),
            ],
            priority=NODE_CRITICAL,
            labels={"component": "gke-metrics-agent", "k8s-app": "gke-metrics-agent"},
        )
        _sys(
            gen,
            "kube-system",
            "pdcsi-node",
            "DaemonSet",
            [
                c(
                    "csi-driver-registrar",
                    "gke.gcr.io/csi-node-driver-registrar:v2.12.0-gke.1",
                    "5m",
                    "10Mi",
                    use_cpu=0.3,
                    use_mem=6 * MI,
                    probes=False,
                ),
                c(
                    "gce-pd-driver",
                    "gke.gcr.io/gcp-compute-persistent-disk-csi-driver:v1.15.3-gke.0",
                    "5m",
                    "10Mi",
                    use_cpu=0.9,
                    use_mem=12 * MI,
                    probes=False,
                ),
            ],
            priority=NODE_CRITICAL,
            labels={"k8s-app": "gcp-compute-persistent-disk-csi-driver"},
        )
    _sys(
        gen,
        "monitoring",
        "node-exporter",
        "DaemonSet",
        [
            c(
                "node-exporter",
                "quay.io/prometheus/node-exporter:v1.8.2",
                "102m",
                "180Mi",
                "250m",
                "180Mi",
                use_cpu=11.0,
                use_mem=24 * MI,
                ports=(("https", 9100),),
            ),
            c(
                "kube-rbac-proxy",
                "quay.io/brancz/kube-rbac-proxy:v0.18.1",
                "10m",
                "20Mi",
                "20m",
                "40Mi",
                use_cpu=0.8,
                use_mem=14 * MI,
                probes=False,
            ),
        ],
        host_network=True,
        labels={
            "app.kubernetes.io/name": "node-exporter",
            "app.kubernetes.io/part-of": "kube-prometheus",
            "app.kubernetes.io/component": "exporter",
        },
    )
    if aws:
        _sys(
            gen,
            "logging",
            "fluent-bit",
            "DaemonSet",
            [
                c(
                    "fluent-bit",
                    "cr.fluentbit.io/fluent/fluent-bit:3.2.2",
                    "100m",
                    "128Mi",
                    None,
                    "256Mi",
                    use_cpu=38.0,
                    use_mem=74 * MI,
                    ports=(("http", 2020),),
                ),
            ],
            labels={"app.kubernetes.io/name": "fluent-bit", "app.kubernetes.io/instance": "fluent-bit"},
        )
    if gpu_pools:
        _sys(
            gen,
            "kube-system",
            "nvidia-device-plugin-daemonset",
            "DaemonSet",
            [
                c(
                    "nvidia-device-plugin-ctr",
                    "nvcr.io/nvidia/k8s-device-plugin:v0.17.0",
                    use_cpu=1.0,
                    use_mem=19 * MI,
                    probes=False,
                ),
            ],
            pools=gpu_pools,
            priority=NODE_CRITICAL,
            labels={"name": "nvidia-device-plugin-ds"},
        )
    # cluster services
    if aws:
        _sys(
            gen,
            "kube-system",
            "coredns",
            "Deployment",
            [
                c(
                    "coredns",
                    "602401143452.dkr.ecr.us-east-1.amazonaws.com/eks/coredns:v1.11.4-eksbuild.2",
                    "100m",
                    "70Mi",
                    None,
                    "170Mi",
                    use_cpu=9.0,
                    use_mem=31 * MI,
                    ports=(("dns", 53), ("metrics", 9153)),
                ),
            ],
            r0=2,
            priority=CLUSTER_CRITICAL,
            labels={"k8s-app": "kube-dns", "eks.amazonaws.com/component": "coredns"},
        )
        _sys(
            gen,
            "kube-system",
            "ebs-csi-controller",
            "Deployment",
            [
                c(
                    n,
                    f"public.ecr.aws/csi-components/{n}:v5.1.0",
                    "10m",
                    "40Mi",
                    None,
                    "256Mi",
                    use_cpu=1.0,
                    use_mem=21 * MI,
                    probes=False,
                )
                for n in ("ebs-plugin", "csi-provisioner", "csi-attacher", "csi-snapshotter", "csi-resizer")
            ],
            r0=2,
            priority=CLUSTER_CRITICAL,
            labels={"app": "ebs-csi-controller"},
        )
        if gen.tpl.autoscaler == "karpenter":
            _sys(
                gen,
                "karpenter",
                "karpenter",
                "Deployment",
                [
                    c(
                        "controller",
                        "public.ecr.aws/karpenter/controller:1.1.1",
                        "1",
                        "1Gi",
                        "1",
                        "1Gi",
                        use_cpu=85.0,
                        use_mem=420 * MI,
                        ports=(("http-metrics", 8080),),
                    ),
                ],
                r0=2,
                priority=CLUSTER_CRITICAL,
                labels={"app.kubernetes.io/name": "karpenter", "app.kubernetes.io/instance": "karpenter"},
            )
        else:
            _sys(
                gen,
                "kube-system",
                "cluster-autoscaler",
                "Deployment",
                [
                    c(
                        "cluster-autoscaler",
                        "registry.k8s.io/autoscaling/cluster-autoscaler:v1.31.1",
                        "100m",
                        "600Mi",
                        "100m",
                        "600Mi",
                        use_cpu=22.0,
                        use_mem=310 * MI,
                    ),
                ],
                priority=CLUSTER_CRITICAL,
                labels={"app.kubernetes.io/name": "aws-cluster-autoscaler"},
            )
        _sys(
            gen,
            "kube-system",
            "metrics-server",
            "Deployment",
            [
                c(
                    "metrics-server",
                    "registry.k8s.io/metrics-server/metrics-server:v0.7.2",
                    "100m",
                    "200Mi",
                    use_cpu=7.0,
                    use_mem=44 * MI,
                    ports=(("https", 10250),),
                ),
            ],
            r0=2,
            priority=CLUSTER_CRITICAL,
            labels={"k8s-app": "metrics-server"},
        )
    else:
        _sys(
            gen,
            "kube-system",
            "kube-dns",
            "Deployment",
            [
                c(
                    "kubedns",
                    "gke.gcr.io/k8s-dns-kube-dns:1.23.0-gke.9",
                    "100m",
                    "70Mi",
                    None,
                    "210Mi",
                    use_cpu=6.0,
                    use_mem=19 * MI,
                ),
                c(
                    "dnsmasq",
                    "gke.gcr.io/k8s-dns-dnsmasq-nanny:1.23.0-gke.9",
                    "150m",
                    "20Mi",
                    use_cpu=3.0,
                    use_mem=9 * MI,
                ),
                c(
                    "sidecar",
                    "gke.gcr.io/k8s-dns-sidecar:1.23.0-gke.9",
                    "10m",
                    "20Mi",
                    use_cpu=1.0,
                    use_mem=11 * MI,
                ),
            ],
            r0=2,
            priority=CLUSTER_CRITICAL,
            labels={"k8s-app": "kube-dns"},
        )
        _sys(
            gen,
            "kube-system",
            "metrics-server-v1.31.0",
            "Deployment",
            [
                c(
                    "metrics-server",
                    "gke.gcr.io/metrics-server:v0.7.1-gke.23",
                    "48m",
                    "95Mi",
                    "48m",
                    "95Mi",
                    use_cpu=6.0,
                    use_mem=29 * MI,
                ),
                c(
                    "metrics-server-nanny",
                    "gke.gcr.io/addon-resizer:1.8.22-gke.0",
                    "5m",
                    "50Mi",
                    "100m",
                    "300Mi",
                    use_cpu=0.5,
                    use_mem=11 * MI,
                    probes=False,
                ),
            ],
            priority=CLUSTER_CRITICAL,
            labels={"k8s-app": "metrics-server", "version": "v1.31.0"},
        )
        _sys(
            gen,
            "kube-system",
            "konnectivity-agent",
            "Deployment",
            [
                c(
                    "konnectivity-agent",
                    "gke.gcr.io/proxy-agent:v0.31.0-gke.0",
                    "10m",
                    "30Mi",
                    None,
                    "125Mi",
                    use_cpu=2.0,
                    use_mem=17 * MI,
                ),
            ],
            r0=3,
            priority=CLUSTER_CRITICAL,
            labels={"k8s-app": "konnectivity-agent"},
        )
    _sys(
        gen,
        "ingress-nginx",
        "ingress-nginx-controller",
        "Deployment",
        [
            c(
                "controller",
                "registry.k8s.io/ingress-nginx/controller:v1.12.0",
                "500m",
                "512Mi",
                None,
                "1Gi",
                use_cpu=260.0,
                use_mem=330 * MI,
                ports=(("http", 80), ("https", 443), ("metrics", 10254)),
            ),
        ],
        r0=3,
        hpa=True,
        profile="wellsized",
        labels={"app.kubernetes.io/name": "ingress-nginx", "app.kubernetes.io/component": "controller"},
    )
    for name, img in (
        ("cert-manager", "controller"),
        ("cert-manager-cainjector", "cainjector"),
        ("cert-manager-webhook", "webhook"),
    ):
        _sys(
            gen,
            "cert-manager",
            name,
            "Deployment",
            [
                c(
                    f"cert-manager-{img}",
                    f"quay.io/jetstack/cert-manager-{img}:v1.16.2",
                    use_cpu=2.5,
                    use_mem=36 * MI,
                ),
            ],
            labels={
                "app.kubernetes.io/name": name.replace("cert-manager-", "") or "cert-manager",
                "app.kubernetes.io/instance": "cert-manager",
            },
        )
    reloader = c(
        "config-reloader",
        "quay.io/prometheus-operator/prometheus-config-reloader:v0.79.2",
        "10m",
        "50Mi",
        "10m",
        "50Mi",
        use_cpu=0.6,
        use_mem=14 * MI,
        probes=False,
    )
    prom = _sys(
        gen,
        "monitoring",
        "prometheus-k8s",
        "StatefulSet",
        [
            c(
                "prometheus",
                "quay.io/prometheus/prometheus:v3.1.0",
                "1",
                "4Gi",
                None,
                "8Gi",
                use_cpu=420.0,
                use_mem=5.1 * GI,
                ports=(("web", 9090),),
            ),
            reloader,
        ],
        r0=2,
        labels={"app.kubernetes.io/name": "prometheus", "app.kubernetes.io/instance": "k8s"},
    )
    prom.pool = gen.pool_for("memory") or prom.pool
    _sys(
        gen,
        "monitoring",
        "alertmanager-main",
        "StatefulSet",
        [
            c(
                "alertmanager",
                "quay.io/prometheus/alertmanager:v0.28.0",
                "4m",
                "100Mi",
                "100m",
                "100Mi",
                use_cpu=2.0,
                use_mem=34 * MI,
            ),
            reloader,
        ],
        r0=3,
        labels={"app.kubernetes.io/name": "alertmanager", "app.kubernetes.io/instance": "main"},
    )
    _sys(
        gen,
        "monitoring",
        "grafana",
        "Deployment",
        [
            c(
                "grafana",
                "grafana/grafana:11.4.0",
                "100m",
                "100Mi",
                "200m",
                "200Mi",
                use_cpu=9.0,
                use_mem=96 * MI,
            ),
        ],
        labels={"app.kubernetes.io/name": "grafana"},
    )
    _sys(
        gen,
        "monitoring",
        "kube-state-metrics",
        "Deployment",
        [
            c(
                "kube-state-metrics",
                "registry.k8s.io/kube-state-metrics/kube-state-metrics:v2.14.0",
                "10m",
                "190Mi",
                "100m",
                "250Mi",
                use_cpu=24.0,
                use_mem=118 * MI,
            ),
            c(
                "kube-rbac-proxy-main",
                "quay.io/brancz/kube-rbac-proxy:v0.18.1",
                "20m",
                "20Mi",
                "40m",
                "40Mi",
                use_cpu=1.0,
                use_mem=15 * MI,
                probes=False,
            ),
        ],
        labels={"app.kubernetes.io/name": "kube-state-metrics"},
    )
    _sys(
        gen,
        "monitoring",
        "prometheus-operator",
        "Deployment",
        [
            c(
                "prometheus-operator",
                "quay.io/prometheus-operator/prometheus-operator:v0.79.2",
                "100m",
                "100Mi",
                "200m",
                "200Mi",
                use_cpu=4.0,
                use_mem=41 * MI,
            ),
        ],
        labels={"app.kubernetes.io/name": "prometheus-operator"},
    )
    if any(ns.annotations.get("linkerd.io/inject") for ns in gen.namespaces.values()):
        for name in ("linkerd-destination", "linkerd-identity", "linkerd-proxy-injector"):
            _sys(
                gen,
                "linkerd",
                name,
                "Deployment",
                [
                    c(
                        name.removeprefix("linkerd-"),
                        "cr.l5d.io/linkerd/controller:edge-24.11.8",
                        "100m",
                        "50Mi",
                        None,
                        "250Mi",
                        use_cpu=6.0,
                        use_mem=44 * MI,
                    ),
                ],
                r0=2,
                labels={"linkerd.io/control-plane-component": name.removeprefix("linkerd-")},
            )
    if any(w.kind == "Rollout" for w in gen.workloads):
        _sys(
            gen,
            "argo-rollouts",
            "argo-rollouts",
            "Deployment",
            [
                c(
                    "argo-rollouts",
                    "quay.io/argoproj/argo-rollouts:v1.7.2",
                    "50m",
                    "64Mi",
                    None,
                    "256Mi",
                    use_cpu=5.0,
                    use_mem=61 * MI,
                ),
            ],
            labels={"app.kubernetes.io/name": "argo-rollouts"},
        )


# --- calibration ---------------------------------------------------------------------------------

EFF = 0.85  # the cluster autoscaler keeps nodes about this full (by requests) before adding one


def pool_capacity(gen_pools: list[Pool], workloads: list[Workload]) -> None:
    """What the per-node pods reserve on each pool, and what is left per node on average."""
    for p in gen_pools:
        p.per_node = [w for w in workloads if w.kind in ("DaemonSet", "Static") and p.idx in w.ds_pools]
        shapes = [w.shapes[0] for w in p.per_node]
        p.ds_cpu_m = sum(s.eff_cpu_m for s in shapes)
        p.ds_mem_b = sum(s.eff_mem_b for s in shapes)
        p.ds_pods = len(shapes)
        allocs = [p.alloc(t) for t in p.types]
        n = len(allocs)
        p.avail_cpu_m = sum(a[0] for a in allocs) / n - p.ds_cpu_m
        p.avail_mem_b = sum(a[1] for a in allocs) / n - p.ds_mem_b
        p.avail_gpu = sum(a[2] for a in allocs) / n
        p.avail_pods = sum(a[3] for a in allocs) / n - p.ds_pods


def nodes_needed(
    p: Pool,
    cpu_m: float,
    mem_b: float,
    gpu: float,
    pods: float,
    cpu_sq: float = 0.0,
    mem_sq: float = 0.0,
    eff: float = EFF,
) -> float:
    """Nodes of pool ``p`` that hold this demand; ``*_sq`` (sums of squared pod sizes) let large pods
    count for the space they strand at the end of each node."""
    big_cpu = cpu_sq / cpu_m if cpu_m else 0.0
    big_mem = mem_sq / mem_b if mem_b else 0.0
    usable_cpu = max(p.avail_cpu_m * eff - 0.5 * big_cpu, 0.25 * p.avail_cpu_m)
    usable_mem = max(p.avail_mem_b * eff - 0.5 * big_mem, 0.25 * p.avail_mem_b)
    need = max(cpu_m / usable_cpu, mem_b / usable_mem, pods / (p.avail_pods * 0.92))
    if p.gpu and p.avail_gpu:
        need = max(need, gpu / p.avail_gpu)
    return need


def _cron_concurrency(w: Workload) -> float:
    assert w.cron is not None
    return w.cron.parallelism * min(1.0, w.cron.duration / w.cron.period)


def nominal_demand(gen: Generator) -> list[list[float]]:
    return nominal_demand_of(gen.pools, gen.workloads)


def nominal_demand_of(pools: list[Pool], workloads: list[Workload]) -> list[list[float]]:
    """Per pool: cpu, memory, gpu and pod count requested at nominal load."""
    dem = [[0.0, 0.0, 0.0, 0.0, 0.0, 0.0] for _ in pools]
    for w in workloads:
        if w.pool < 0:
            continue
        s = w.shapes[0]
        if w.replicated:
            n = w.r0
        elif w.kind == "CronJob":
            n = _cron_concurrency(w)
        else:
            continue
        d = dem[w.pool]
        d[0] += n * s.eff_cpu_m
        d[1] += n * s.eff_mem_b
        d[2] += n * s.eff_gpu
        d[3] += n
        d[4] += n * s.eff_cpu_m**2
        d[5] += n * s.eff_mem_b**2
    return dem


def calibrate(gen: Generator, target_pods: int, total_nodes: int | None = None) -> None:
    """Scale team replica counts so the cluster starts near ``target_pods`` pods, then size pools."""
    pool_capacity(gen.pools, gen.workloads)
    scalable = [
        w
        for w in gen.workloads
        if w.replicated and w.team is not None and w.profile != "idle" and w.kind != "StatefulSet"
    ]
    scalable_idx = {w.idx for w in scalable}
    for _ in range(4):
        dem = nominal_demand(gen)
        nodes = [max(p.min_nodes, math.ceil(nodes_needed(p, *dem[p.idx]))) for p in gen.pools]
        ds_pods = float(sum(n * p.ds_pods for n, p in zip(nodes, gen.pools, strict=True)))
        if total_nodes:
            ds_pods = total_nodes * sum(p.ds_pods for p in gen.pools) / len(gen.pools)
        fixed = sum(w.r0 for w in gen.workloads if w.replicated and w.idx not in scalable_idx)
        fixed += sum(
            _cron_concurrency(w) + w.cron.keep_succeeded * w.cron.parallelism
            for w in gen.workloads
            if w.cron is not None and w.kind == "CronJob"
        )
        have = sum(w.r0 for w in scalable)
        if have <= 0:
            break
        factor = max(0.05, min(50.0, (target_pods - ds_pods - fixed) / have))
        if abs(factor - 1) < 0.01:
            break
        for w in scalable:
            w.r0 = max(1.0, w.r0 * factor)
    # coredns follows the cluster size, as cluster-proportional-autoscaler makes it
    dem = nominal_demand(gen)
    total_nodes = sum(max(p.min_nodes, math.ceil(nodes_needed(p, *dem[p.idx]))) for p in gen.pools)
    for w in gen.workloads:
        if w.name in ("coredns", "kube-dns"):
            w.r0 = max(2, math.ceil(total_nodes / 16))
        if w.hpa is not None:
            lo = max(1, math.floor(w.r0 * 0.45))
            w.hpa = (lo, max(lo + 1, math.ceil(w.r0 * 2.2)))
    dem = nominal_demand(gen)
    for p in gen.pools:
        n_nom = nodes_needed(p, *dem[p.idx])
        p.min_nodes = max(p.tpl.min_nodes, math.floor(n_nom * 0.35))
        cap = math.floor(n_nom * p.tpl.headroom) if p.gpu else math.ceil(n_nom * p.tpl.headroom)
        p.max_nodes = max(p.min_nodes + 1, cap)
    _size_quotas(gen)


def _nice(x: float, unit: float) -> int:
    return max(1, math.ceil(x / unit))


def _size_quotas(gen: Generator) -> None:
    for ns in gen.namespaces.values():
        if ns.quota is None:
            continue
        ws = [w for w in gen.workloads if w.namespace == ns.name and (w.replicated or w.kind == "CronJob")]
        cpu = sum(
            w.shapes[-1].eff_cpu_m * (w.r0 * 2.2 if w.replicated else w.cron.parallelism * 4 if w.cron else 1)
            for w in ws
        )
        mem = sum(w.shapes[-1].eff_mem_b * (w.r0 * 2.2 if w.replicated else 4) for w in ws)
        pods = sum(w.r0 * 2.2 if w.replicated else 4 for w in ws)
        hard = {
            "requests.cpu": str(_nice(cpu * 1.3 / 1000, 1)),
            "requests.memory": f"{_nice(mem * 1.3 / GI, 1)}Gi",
            "pods": str(_nice(pods * 1.3, 10) * 10),
        }
        lims = [w.shapes[-1].lim_mem_b for w in ws]
        if lims and all(lims):
            lim = sum(w.shapes[-1].lim_mem_b * (w.r0 * 2.2 if w.replicated else 4) for w in ws)
            hard["limits.memory"] = f"{_nice(lim * 1.3 / GI, 1)}Gi"
        ns.quota = hard
