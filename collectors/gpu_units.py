"""GPU requests and capacities in whole physical GPUs, whatever device plugin shares them out.

A GPU's price is split across its slices, so every GPU quantity is stored in physical GPUs:
- whole devices (``nvidia.com/gpu``, AMD's ``amd.com/gpu``, Intel's ``gpu.intel.com/i915`` and
  ``gpu.intel.com/xe``): one each;
- MIG profiles (``nvidia.com/mig-3g.20gb``, compute instances ``nvidia.com/mig-1c.3g.20gb``): the
  profile's compute slices over the GPU's, seven (A100, H100, H200), four on the A30 (the only
  MIG GPU with 6 GB per slice);
- time-slicing and MPS (the NVIDIA device plugin's ``replicas``: ``nvidia.com/gpu`` or, renamed,
  ``nvidia.com/gpu.shared``, advertised ``replicas`` times per GPU, which GPU feature discovery
  labels ``nvidia.com/gpu.replicas``): one ``replicas``-th of a GPU on such a node, applied by
  the node (``replicas_of``) to its capacity and to the requests of the pods bound to it;
- fractional requests where a scheduler exposes them (HAMi's ``nvidia.com/gpucores``, a percent
  of each GPU's compute beside ``nvidia.com/gpu``): that share of each requested GPU.
So four pods on quarter slices pay one GPU-hour, and slices no pod holds show as GPU idle.
A node that is both MIG-partitioned and time-sliced counts its slices as time-sliced.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

DEVICES = ("nvidia.com/gpu", "nvidia.com/gpu.shared", "amd.com/gpu", "gpu.intel.com/i915", "gpu.intel.com/xe")
HAMI_CORES = "nvidia.com/gpucores"
REPLICAS_LABEL = "nvidia.com/gpu.replicas"
_MIG = re.compile(r"^nvidia\.com/mig-(?:\d+c\.)?(?P<slices>\d+)g\.(?P<gb>\d+)gb$")


def mig_share(resource: str) -> float | None:
    """The share of a GPU one MIG device of ``resource`` is; None when it is not a MIG profile."""
    found = _MIG.match(resource)
    if found is None:
        return None
    slices, gb = int(found["slices"]), int(found["gb"])
    per_gpu = 4 if gb == 6 * slices else 7  # the A30's profiles hold 6 GB a slice
    return min(slices / per_gpu, 1.0)


def is_gpu_resource(resource: str) -> bool:
    return resource in DEVICES or resource == HAMI_CORES or mig_share(resource) is not None


def gpu_units(block: Mapping[str, Any], quantity: Callable[[Any, str], float]) -> float:
    """Return the physical GPUs a requests, limits, capacity or allocatable block holds.

    ``quantity(raw, resource)`` parses one value (warning and counting 0 when malformed).
    Time-sliced replicas count whole here: the node divides them (``replicas_of``).
    """
    total = 0.0
    for resource, raw in block.items():
        if raw is None:
            continue
        if resource in DEVICES:
            devices = quantity(raw, resource)
            cores = block.get(HAMI_CORES) if resource == "nvidia.com/gpu" else None
            share = quantity(cores, HAMI_CORES) / 100 if cores is not None else 1.0
            total += devices * min(max(share, 0.0), 1.0)
        else:
            slice_share = mig_share(str(resource))
            if slice_share is not None:
                total += quantity(raw, str(resource)) * slice_share
    return total


def replicas_of(labels: Mapping[str, str]) -> int:
    """How many pods share each GPU of a time-sliced node (1 when it is not)."""
    raw = labels.get(REPLICAS_LABEL, "")
    return int(raw) if raw.isdigit() and int(raw) > 1 else 1
