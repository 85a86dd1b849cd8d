"""What the kubelet keeps of a node before pods get any: kube-reserved CPU as EKS and GKE compute
it (6 % of the first core, 1 % of the second, 0.5 % of the next two, 0.25 % above four),
kube-reserved memory (EKS: 11 MiB per pod + 255 MiB; GKE: tiers of the memory), the 100 MiB
eviction threshold, and the memory the firmware and kernel keep before the kubelet counts
capacity (3.45 % on AWS, measured on m6i). Plain arithmetic, no imports: the simulator uses it.
"""

from __future__ import annotations

MIB = 1024.0**2
GIB = 1024.0**3
EVICTION_HARD = 100 * MIB
AWS_KEPT = 0.9655  # of RAM, what the kubelet reports as capacity on AWS


def kube_reserved_cpu_millicores(vcpu: int) -> int:
    """kube-reserved CPU as EKS and GKE compute it (6 % of the first core, 1 %, 0.5 %, 0.25 %)."""
    reserved = 60
    if vcpu >= 2:
        reserved += 10
    if vcpu >= 3:
        reserved += 5 * min(vcpu - 2, 2)
    if vcpu > 4:
        reserved += int(2.5 * (vcpu - 4))
    return reserved


def eks_reserved_memory(max_pods: int) -> float:
    """kube-reserved memory on EKS (11 MiB per pod + 255 MiB) and the eviction threshold, in bytes."""
    return (11 * max_pods + 255) * MIB + EVICTION_HARD


def gke_reserved_memory(memory_gib: float) -> float:
    """kube-reserved memory on GKE (25 % of the first 4 GiB, 20 % of the next 4, 10 % of the next
    8, 6 % of the next 112, 2 % above) and the eviction threshold, in bytes."""
    reserved, left = 0.0, memory_gib
    for width, rate in ((4, 0.25), (4, 0.20), (8, 0.10), (112, 0.06), (1 << 20, 0.02)):
        part = min(left, width)
        reserved += part * rate
        left -= part
        if left <= 0:
            break
    return reserved * GIB + EVICTION_HARD
