"""Instance shapes and what a node of one offers pods: the node-type search's catalog.

- AWS: vCPUs, memory, GPUs and architecture per EC2 instance type (``data/aws_instance_shapes.csv``,
  the cluster-autoscaler's static list); the GPU model by family (AWS's published families).
- What the kubelet keeps: kube-reserved CPU as EKS and GKE compute it (6 % of the first core,
  1 % of the second, 0.5 % of the next two, 0.25 % above four), kube-reserved memory (EKS: 11 MiB
  per pod + 255 MiB; GKE: tiers of the memory), 100 MiB eviction threshold, and the memory the
  firmware and kernel keep before the kubelet counts capacity (3.45 % on AWS, measured on m6i).
- EKS max pods depends on the instance's network interfaces, which the list does not hold:
  approximated as 14 per vCPU + 2, at most 110 (the VPC CNI's figures for m5 and m6i: 29 for
  large, 58 for xlarge and 2xlarge, 110 above).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

from capacity.analysis.node_types import Offer
from capacity.catalog import catalog_price, table_rows
from capacity.records import Resources

MIB = 1024.0**2
GIB = 1024.0**3
EVICTION_HARD = 100 * MIB
AWS_KEPT = 0.9655  # of RAM, what the kubelet reports as capacity on AWS
# GPU model per EC2 family (AWS's accelerated computing instance pages)
_GPU_MODELS = {
    "p3": "NVIDIA-V100", "p3dn": "NVIDIA-V100", "p4d": "NVIDIA-A100", "p4de": "NVIDIA-A100",
    "p5": "NVIDIA-H100", "p5e": "NVIDIA-H200", "p5en": "NVIDIA-H200", "p6-b200": "NVIDIA-B200",
    "g4dn": "NVIDIA-T4", "g4ad": "AMD-Radeon-Pro-V520", "g5": "NVIDIA-A10G", "g5g": "NVIDIA-T4G",
    "g6": "NVIDIA-L4", "g6e": "NVIDIA-L40S", "g6f": "NVIDIA-L4",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Shape:
    instance_type: str
    vcpu: int
    memory: float  # bytes of RAM
    gpu: int
    architecture: str  # amd64 | arm64
    gpu_model: str  # "" without GPUs; the family when its model is not known here


def family(instance_type: str) -> str:
    return instance_type.split(".", 1)[0]


def gpu_model(instance_type: str, gpus: int) -> str:
    if gpus <= 0:
        return ""
    return _GPU_MODELS.get(family(instance_type), family(instance_type))


@cache
def aws_shapes() -> tuple[Shape, ...]:
    return tuple(
        Shape(
            r["instance_type"],
            int(r["vcpu"]),
            float(r["memory_mib"]) * MIB,
            int(r["gpu"]),
            r["architecture"],
            gpu_model(r["instance_type"], int(r["gpu"])),
        )
        for r in table_rows("aws_instance_shapes.csv")
    )


@cache
def aws_shape(instance_type: str) -> Shape | None:
    return next((s for s in aws_shapes() if s.instance_type == instance_type), None)


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


def eks_max_pods(vcpu: int) -> int:
    return min(110, 14 * vcpu + 2)


def eks_allocatable(shape: Shape) -> tuple[float, float, float, float]:
    """What an EKS node of ``shape`` offers pods: (cores, bytes, GPUs, pod slots)."""
    pods = eks_max_pods(shape.vcpu)
    cpu = shape.vcpu - kube_reserved_cpu_millicores(shape.vcpu) / 1000
    memory = shape.memory * AWS_KEPT - eks_reserved_memory(pods)
    return cpu, max(memory, 0.0), float(shape.gpu), float(pods)


@cache
def _offers(region: str | None, currency: str) -> tuple[Offer, ...]:
    found = []
    for shape in aws_shapes():
        if is_burstable(shape.instance_type):
            continue
        price = catalog_price(
            shape.instance_type,
            region=region,
            capacity_type="on-demand",
            capacity=Resources(float(shape.vcpu), shape.memory, float(shape.gpu)),
            currency=currency,
        )
        if price is not None and price.hourly > 0:
            found.append(Offer(shape.instance_type, eks_allocatable(shape), price.hourly, shape.architecture,
                               shape.gpu_model))  # fmt: skip
    return tuple(found)


def is_burstable(instance_type: str) -> bool:
    """T-family types run on CPU credits: their vCPUs are not there all the time."""
    name = family(instance_type)
    return len(name) > 1 and name[0] == "t" and name[1].isdigit()


def offers_in(region: str | None, currency: str) -> Sequence[Offer]:
    """Return the instance types the catalog prices in ``region`` (its list prices, in
    ``currency``), with what an EKS node of each offers pods; burstable types left out."""
    return _offers(region, currency)
