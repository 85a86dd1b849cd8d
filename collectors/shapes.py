"""The raw API objects the collector reads, as the API server serves them (JSON, camelCase).

Only the fields the collector reads are named. Every field is optional (``total=False``): the
API leaves out what is empty, and a malformed object may hold anything, so readers still check
each value's type (``collectors.raw``) before they use it. The simulator renders these shapes.
"""

from __future__ import annotations

from typing import Any, TypedDict

Quantities = dict[str, str]  # {"cpu": "250m", "memory": "1Gi", "nvidia.com/gpu": "1"}


class OwnerReference(TypedDict, total=False):
    apiVersion: str
    kind: str
    name: str
    uid: str
    controller: bool


class ObjectMeta(TypedDict, total=False):
    name: str
    namespace: str
    uid: str
    labels: dict[str, str]
    annotations: dict[str, str]
    ownerReferences: list[OwnerReference]
    creationTimestamp: str


class ResourceRequirements(TypedDict, total=False):
    requests: Quantities
    limits: Quantities


class Container(TypedDict, total=False):
    name: str
    image: str
    resources: ResourceRequirements
    restartPolicy: str  # "Always" on an init container: a native sidecar


class PodSpec(TypedDict, total=False):
    nodeName: str
    containers: list[Container]
    initContainers: list[Container]
    overhead: Quantities
    priority: int
    nodeSelector: dict[str, str]
    affinity: dict[str, Any]
    tolerations: list[dict[str, Any]]
    volumes: list[dict[str, Any]]  # persistentVolumeClaim.claimName: the claims it mounts


class ContainerStatus(TypedDict, total=False):
    name: str
    restartCount: int
    state: dict[str, Any]
    lastState: dict[str, Any]


class PodStatus(TypedDict, total=False):
    phase: str
    containerStatuses: list[ContainerStatus]
    initContainerStatuses: list[ContainerStatus]


class Pod(TypedDict, total=False):
    metadata: ObjectMeta
    spec: PodSpec
    status: PodStatus


class NodeCondition(TypedDict, total=False):
    type: str
    status: str


class NodeSpec(TypedDict, total=False):
    unschedulable: bool
    taints: list[dict[str, Any]]


class NodeStatus(TypedDict, total=False):
    capacity: Quantities
    allocatable: Quantities
    conditions: list[NodeCondition]


class Node(TypedDict, total=False):
    metadata: ObjectMeta
    spec: NodeSpec
    status: NodeStatus
