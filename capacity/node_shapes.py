"""Instance shapes and what a node of one offers pods: the node-type search's catalog.

- AWS: vCPUs, memory, GPUs and architecture per EC2 instance type (``data/aws_instance_shapes.csv``,
  the cluster-autoscaler's static list); the GPU model by family (AWS's published families).
- What the kubelet keeps of it: ``capacity.kubelet``.
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
from capacity.kubelet import AWS_KEPT, eks_reserved_memory, kube_reserved_cpu_millicores
from capacity.records import Resources

MIB = 1024.0**2
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
