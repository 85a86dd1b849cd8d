"""collectors.owners: which top-level workload owns a pod."""

from __future__ import annotations

from typing import Any

import pytest

from capacity.records import WorkloadKey
from collectors.owners import OwnerIndex, controller_of
from tests import k8s_fixtures as fx

NS = "shop"


def ref(kind: str, name: str, *, controller: bool | None = True) -> dict[str, Any]:
    out: dict[str, Any] = {"apiVersion": "v1", "kind": kind, "name": name, "uid": f"uid-{name}"}
    if controller is not None:
        out["controller"] = controller
    return out


def meta(name: str, *owners: dict[str, Any], labels: dict[str, str] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "namespace": NS, "ownerReferences": list(owners)}
    if labels is not None:
        out["labels"] = labels
    return out


def rs_item(name: str, *owners: dict[str, Any], namespace: str = NS) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": namespace, "ownerReferences": list(owners)}}


def job_item(name: str, *owners: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": NS, "ownerReferences": list(owners)}}


# -- ReplicaSets ---------------------------------------------------------------------------


def test_pod_replicaset_deployment_with_replicasets_listed() -> None:
    index = OwnerIndex()
    index.add_replicasets([rs_item("web-5d8f7b9c4", ref("Deployment", "web"))])
    pod = meta("web-5d8f7b9c4-x7k2p", ref("ReplicaSet", "web-5d8f7b9c4"))
    assert index.workload(NS, "web-5d8f7b9c4-x7k2p", pod) == WorkloadKey(NS, "Deployment", "web")


def test_listed_replicaset_owner_wins_over_name_convention() -> None:
    # The label would suggest Deployment "web"; the listed RS says its controller is "frontend".
    index = OwnerIndex()
    index.add_replicasets([rs_item("web-abc12", ref("Deployment", "frontend"))])
    pod = meta("web-abc12-x", ref("ReplicaSet", "web-abc12"), labels={"pod-template-hash": "abc12"})
    assert index.workload(NS, "web-abc12-x", pod) == WorkloadKey(NS, "Deployment", "frontend")


def test_replicaset_owned_by_argo_rollout() -> None:
    index = OwnerIndex()
    index.add_replicasets([rs_item("checkout-6f9c8d7b5", ref("Rollout", "checkout"))])
    pod = meta("checkout-6f9c8d7b5-abcde", ref("ReplicaSet", "checkout-6f9c8d7b5"))
    assert index.workload(NS, "checkout-6f9c8d7b5-abcde", pod) == WorkloadKey(NS, "Rollout", "checkout")


def test_listed_replicaset_without_owner_is_the_workload() -> None:
    index = OwnerIndex()
    index.add_replicasets([rs_item("standalone-rs")])
    pod = meta("standalone-rs-q2w3e", ref("ReplicaSet", "standalone-rs"), labels={"app": "x"})
    assert index.workload(NS, "standalone-rs-q2w3e", pod) == WorkloadKey(NS, "ReplicaSet", "standalone-rs")


def test_replicaset_lookup_is_per_namespace() -> None:
    index = OwnerIndex()
    index.add_replicasets([rs_item("web-5d8f7b9c4", ref("Deployment", "other"), namespace="elsewhere")])
    pod = meta(
        "web-5d8f7b9c4-x7k2p", ref("ReplicaSet", "web-5d8f7b9c4"), labels={"pod-template-hash": "5d8f7b9c4"}
    )
    # not listed in NS: falls back to the name convention
    assert index.workload(NS, "web-5d8f7b9c4-x7k2p", pod) == WorkloadKey(NS, "Deployment", "web")


def test_replicaset_not_listed_uses_pod_template_hash() -> None:
    index = OwnerIndex()  # RBAC: ReplicaSets could not be listed
    pod = meta(
        "api-7c9d8f6b5-zz9xq", ref("ReplicaSet", "api-7c9d8f6b5"), labels={"pod-template-hash": "7c9d8f6b5"}
    )
    assert index.workload(NS, "api-7c9d8f6b5-zz9xq", pod) == WorkloadKey(NS, "Deployment", "api")


def test_replicaset_not_listed_with_hyphenated_deployment_name() -> None:
    index = OwnerIndex()
    pod = meta(
        "my-api-v2-7c9d8f6b5-a",
        ref("ReplicaSet", "my-api-v2-7c9d8f6b5"),
        labels={"pod-template-hash": "7c9d8f6b5"},
    )
    assert index.workload(NS, "my-api-v2-7c9d8f6b5-a", pod) == WorkloadKey(NS, "Deployment", "my-api-v2")


def test_replicaset_not_listed_with_rollouts_hash_is_a_rollout() -> None:
    index = OwnerIndex()
    pod = meta(
        "checkout-6f9c8d7b5-abcde",
        ref("ReplicaSet", "checkout-6f9c8d7b5"),
        labels={"rollouts-pod-template-hash": "6f9c8d7b5"},
    )
    assert index.workload(NS, "checkout-6f9c8d7b5-abcde", pod) == WorkloadKey(NS, "Rollout", "checkout")


@pytest.mark.parametrize(
    "labels",
    [
        None,  # no labels at all
        {"app": "api"},  # no hash label
        {"pod-template-hash": "deadbeef"},  # hash that is not the RS name's suffix
    ],
)
def test_replicaset_not_listed_without_usable_hash_stays_replicaset(labels: dict[str, str] | None) -> None:
    index = OwnerIndex()
    pod = meta("api-7c9d8f6b5-zz9xq", ref("ReplicaSet", "api-7c9d8f6b5"), labels=labels)
    assert index.workload(NS, "api-7c9d8f6b5-zz9xq", pod) == WorkloadKey(NS, "ReplicaSet", "api-7c9d8f6b5")


# -- Jobs ----------------------------------------------------------------------------------


def test_job_owned_by_listed_cronjob() -> None:
    index = OwnerIndex()
    index.add_jobs([job_item("backup-manual-run", ref("CronJob", "backup"))])
    pod = meta("backup-manual-run-xk2p9", ref("Job", "backup-manual-run"))
    assert index.workload(NS, "backup-manual-run-xk2p9", pod) == WorkloadKey(NS, "CronJob", "backup")


def test_listed_job_without_owner_is_a_job() -> None:
    index = OwnerIndex()
    # named like a CronJob's Job, but the listed Job says it has no owner
    index.add_jobs([job_item("import-28566720")])
    pod = meta("import-28566720-abcde", ref("Job", "import-28566720"))
    assert index.workload(NS, "import-28566720-abcde", pod) == WorkloadKey(NS, "Job", "import-28566720")


def test_job_not_listed_uses_cronjob_name_convention() -> None:
    index = OwnerIndex()
    pod = meta("nightly-report-28566720-7hx2k", ref("Job", "nightly-report-28566720"))
    assert index.workload(NS, "nightly-report-28566720-7hx2k", pod) == WorkloadKey(
        NS, "CronJob", "nightly-report"
    )


@pytest.mark.parametrize("job", ["db-migrate", "pi", "release-v2", "seed-123"])
def test_plain_job_not_listed(job: str) -> None:
    index = OwnerIndex()
    pod = meta(f"{job}-abcde", ref("Job", job))
    assert index.workload(NS, f"{job}-abcde", pod) == WorkloadKey(NS, "Job", job)


# -- other controllers, static and bare pods -----------------------------------------------


@pytest.mark.parametrize(
    ("kind", "name", "pod"),
    [
        ("StatefulSet", "postgres", "postgres-0"),
        ("DaemonSet", "node-exporter", "node-exporter-8k9zt"),
    ],
)
def test_direct_controllers(kind: str, name: str, pod: str) -> None:
    assert OwnerIndex().workload(NS, pod, meta(pod, ref(kind, name))) == WorkloadKey(NS, kind, name)


def test_static_mirror_pod() -> None:
    pod = meta("etcd-minikube", ref("Node", "minikube"))
    assert OwnerIndex().workload("kube-system", "etcd-minikube", pod) == WorkloadKey(
        "kube-system", "StaticPod", "etcd"
    )


def test_static_pod_with_hyphenated_manifest_and_node_names() -> None:
    pod = meta("kube-apiserver-ip-10-0-1-5.ec2.internal", ref("Node", "ip-10-0-1-5.ec2.internal"))
    assert OwnerIndex().workload(
        "kube-system", "kube-apiserver-ip-10-0-1-5.ec2.internal", pod
    ) == WorkloadKey("kube-system", "StaticPod", "kube-apiserver")


@pytest.mark.parametrize("owners", [None, []])
def test_bare_pod(owners: list[Any] | None) -> None:
    pod: dict[str, Any] = {"name": "debug-shell", "namespace": NS}
    if owners is not None:
        pod["ownerReferences"] = owners
    assert OwnerIndex().workload(NS, "debug-shell", pod) == WorkloadKey(NS, "Pod", "debug-shell")


def test_only_the_controller_reference_counts() -> None:
    index = OwnerIndex()
    index.add_replicasets([rs_item("web-5d8f7b9c4", ref("Deployment", "web"))])
    pod = meta(
        "web-5d8f7b9c4-x7k2p",
        ref("ConfigMap", "adopter", controller=False),
        ref("ReplicaSet", "web-5d8f7b9c4", controller=True),
        ref("Service", "other", controller=None),
    )
    assert index.workload(NS, "web-5d8f7b9c4-x7k2p", pod) == WorkloadKey(NS, "Deployment", "web")


def test_controller_of_picks_controller_then_first() -> None:
    assert controller_of(meta("p", ref("A", "a", controller=False), ref("B", "b", controller=True))) == (
        "B",
        "b",
    )
    assert controller_of(meta("p", ref("A", "a", controller=None), ref("B", "b", controller=None))) == (
        "A",
        "a",
    )
    assert controller_of(meta("p")) is None
    assert controller_of({}) is None


# -- the real minikube cluster -------------------------------------------------------------


def _workloads(index: OwnerIndex, namespace: str) -> set[tuple[str, str]]:
    out = set()
    for pod in fx.minikube_pods():
        m = pod["metadata"]
        if m["namespace"] == namespace:
            key = index.workload(m["namespace"], m["name"], m)
            out.add((key.kind, key.name))
    return out


def test_minikube_kube_system_without_replicasets_listed() -> None:
    assert _workloads(OwnerIndex(), "kube-system") == {
        ("Deployment", "coredns"),  # coredns-7d764666f9 + pod-template-hash 7d764666f9
        ("Deployment", "metrics-server"),
        ("DaemonSet", "kindnet"),
        ("DaemonSet", "kube-proxy"),
        ("StaticPod", "etcd"),  # etcd-datagen-1-35 owned by Node datagen-1-35
        ("StaticPod", "kube-apiserver"),
        ("StaticPod", "kube-controller-manager"),
        ("StaticPod", "kube-scheduler"),
        ("Pod", "storage-provisioner"),  # no ownerReferences
    }


def test_minikube_scraper_without_anything_listed() -> None:
    assert _workloads(OwnerIndex(), "scraper") == {
        ("Pod", "e2e-container-creating"),
        ("Pod", "e2e-container-pending"),
        ("CronJob", "e2e-cronjob"),  # Jobs e2e-cronjob-29707813 and -29707814
        ("DaemonSet", "e2e-daemonset"),
        ("Deployment", "e2e-deployment"),
        ("Job", "e2e-failjob"),
        ("Deployment", "e2e-hpa"),
        ("Deployment", "e2e-kube-state-metrics"),
        ("Deployment", "e2e-scraper"),
        ("StatefulSet", "e2e-statefulset"),
    }
