"""collectors.pods: effective pod request (Kubernetes' PodRequests algorithm), limits, restarts, OOM kills."""

from __future__ import annotations

from typing import Any

import pytest

from capacity.records import Resources
from collectors.pods import ContainerState, container_states, pod_spec
from tests import k8s_fixtures as fx

MI = 1024**2
GI = 1024**3
WHERE = "pod shop/web-1"


def ctr(
    name: str,
    requests: dict[str, Any] | None = None,
    limits: dict[str, Any] | None = None,
    *,
    sidecar: bool = False,
) -> dict[str, Any]:
    resources: dict[str, Any] = {}
    if requests is not None:
        resources["requests"] = requests
    if limits is not None:
        resources["limits"] = limits
    out: dict[str, Any] = {"name": name, "image": "busybox", "resources": resources}
    if sidecar:
        out["restartPolicy"] = "Always"
    return out


class Warnings(list[str]):
    def __call__(self, message: str) -> None:
        self.append(message)


def effective(spec: dict[str, Any]) -> Resources:
    warn = Warnings()
    result = pod_spec(spec, WHERE, warn).effective
    assert warn == [], warn
    return result


def approx(r: Resources) -> tuple[Any, Any, Any]:
    return (pytest.approx(r.cpu), pytest.approx(r.memory), pytest.approx(r.gpu))


def as_tuple(r: Resources) -> tuple[float, float, float]:
    return (r.cpu, r.memory, r.gpu)


# -- effective request ----------------------------------------------------------------------


def test_app_containers_are_summed() -> None:
    spec = {
        "containers": [
            ctr("web", {"cpu": "250m", "memory": "64Mi"}),
            ctr("log", {"cpu": "500m", "memory": "128Mi"}),
        ]
    }
    # 0.25 + 0.5 = 0.75 cores; 64 + 128 = 192 MiB
    assert as_tuple(effective(spec)) == approx(Resources(0.75, 192 * MI, 0))


def test_containers_without_resources_request_nothing() -> None:
    spec = {"containers": [{"name": "a"}, ctr("b", {}), {"name": "c", "resources": None}]}
    assert effective(spec) == Resources(0.0, 0.0, 0.0)


def test_empty_spec_requests_nothing() -> None:
    assert effective({}) == Resources(0.0, 0.0, 0.0)


def test_larger_regular_init_container_dominates_per_resource() -> None:
    spec = {
        "initContainers": [ctr("migrate", {"cpu": "2", "memory": "64Mi"})],
        "containers": [ctr("app", {"cpu": "500m", "memory": "256Mi"})],
    }
    # cpu: max(0.5 app, 2 init) = 2; memory: max(256Mi app, 64Mi init) = 256Mi
    assert as_tuple(effective(spec)) == approx(Resources(2.0, 256 * MI, 0))


def test_regular_init_containers_take_the_max_not_the_sum() -> None:
    spec = {
        "initContainers": [ctr("a", {"cpu": "1"}), ctr("b", {"cpu": "1500m"})],
        "containers": [ctr("app", {"cpu": "100m"})],
    }
    # init containers run one after another: max(1, 1.5) = 1.5, not 2.5
    assert effective(spec).cpu == pytest.approx(1.5)


def test_sidecar_before_init_adds_to_init_and_to_apps() -> None:
    spec = {
        "initContainers": [
            ctr("proxy", {"cpu": "100m", "memory": "50Mi"}, sidecar=True),
            ctr("migrate", {"cpu": "1", "memory": "10Mi"}),
        ],
        "containers": [ctr("app", {"cpu": "500m", "memory": "100Mi"})],
    }
    # steady state: app 0.5 + sidecar 0.1 = 0.6 cpu; 100Mi + 50Mi = 150Mi
    # init peak:    migrate 1 + sidecar 0.1 = 1.1 cpu; 10Mi + 50Mi = 60Mi
    # effective:    max -> 1.1 cpu, 150Mi
    assert as_tuple(effective(spec)) == approx(Resources(1.1, 150 * MI, 0))


def test_sidecar_adds_to_app_sum_when_no_regular_init() -> None:
    spec = {
        "initContainers": [ctr("proxy", {"cpu": "100m", "memory": "50Mi"}, sidecar=True)],
        "containers": [ctr("app", {"cpu": "500m", "memory": "100Mi"})],
    }
    # 0.5 + 0.1 = 0.6 cpu; 100 + 50 = 150Mi
    assert as_tuple(effective(spec)) == approx(Resources(0.6, 150 * MI, 0))


def test_sidecar_after_regular_init_does_not_add_to_it() -> None:
    spec = {
        "initContainers": [
            ctr("migrate", {"cpu": "1"}),
            ctr("proxy", {"cpu": "100m"}, sidecar=True),
        ],
        "containers": [ctr("app", {"cpu": "500m"})],
    }
    # init peak: migrate alone = 1.0 (proxy starts after it); steady: 0.5 + 0.1 = 0.6
    # effective: max(1.0, 0.6) = 1.0  (1.1 would mean the sidecar was wrongly counted)
    assert effective(spec).cpu == pytest.approx(1.0)


def test_sidecars_accumulate_across_init_containers() -> None:
    spec = {
        "initContainers": [
            ctr("sc1", {"cpu": "100m"}, sidecar=True),
            ctr("init1", {"cpu": "300m"}),
            ctr("sc2", {"cpu": "200m"}, sidecar=True),
            ctr("init2", {"cpu": "500m"}),
        ],
        "containers": [ctr("app", {"cpu": "100m"})],
    }
    # init1: 0.3 + sc1 0.1 = 0.4
    # init2: 0.5 + sc1 0.1 + sc2 0.2 = 0.8
    # steady: app 0.1 + sc1 0.1 + sc2 0.2 = 0.4
    # effective: 0.8
    assert effective(spec).cpu == pytest.approx(0.8)


def test_restart_policy_other_than_always_is_a_regular_init() -> None:
    spec = {
        "initContainers": [{**ctr("once", {"cpu": "300m"}), "restartPolicy": "OnFailure"}],
        "containers": [ctr("app", {"cpu": "500m"})],
    }
    # regular init: max(0.3, 0.5) = 0.5 (a sidecar would give 0.8)
    assert effective(spec).cpu == pytest.approx(0.5)
    assert [c.name for c in pod_spec(spec, WHERE, Warnings()).running] == ["app"]


def test_overhead_is_added_on_top() -> None:
    spec = {
        "containers": [ctr("app", {"cpu": "500m", "memory": "128Mi"})],
        "overhead": {"cpu": "250m", "memory": "120Mi"},
    }
    # 0.5 + 0.25 = 0.75; 128 + 120 = 248Mi
    assert as_tuple(effective(spec)) == approx(Resources(0.75, 248 * MI, 0))


def test_overhead_is_added_to_the_init_peak() -> None:
    spec = {
        "initContainers": [ctr("migrate", {"cpu": "2"})],
        "containers": [ctr("app", {"cpu": "500m"})],
        "overhead": {"cpu": "250m"},
    }
    # max(0.5, 2) + 0.25 = 2.25
    assert effective(spec).cpu == pytest.approx(2.25)


def test_pod_level_requests_replace_the_container_sum_for_named_resources() -> None:
    spec = {
        "resources": {"requests": {"cpu": "2"}},
        "containers": [
            ctr("app", {"cpu": "500m", "memory": "128Mi", "nvidia.com/gpu": "1"}),
        ],
    }
    # cpu named at pod level: 2 (not 2.5, not 0.5); memory not named: container sum 128Mi;
    # GPUs are not a pod-level resource: container's 1
    assert as_tuple(effective(spec)) == approx(Resources(2.0, 128 * MI, 1))


def test_pod_level_requests_replace_even_a_larger_container_sum() -> None:
    # API validation keeps pod-level >= the containers' sum, but the helper replaces, not maxes:
    # a payload that skipped validation still gets the pod-level value.
    spec = {
        "resources": {"requests": {"cpu": "500m"}},
        "containers": [ctr("app", {"cpu": "1"})],
    }
    assert effective(spec).cpu == pytest.approx(0.5)


def test_pod_level_requests_then_overhead() -> None:
    spec = {
        "resources": {"requests": {"cpu": "1", "memory": "1Gi"}},
        "containers": [ctr("app", {"cpu": "200m", "memory": "256Mi"})],
        "overhead": {"cpu": "100m", "memory": "64Mi"},
    }
    # pod-level 1 cpu / 1Gi replaces 0.2 / 256Mi, then overhead: 1.1 cpu, 1Gi + 64Mi
    assert as_tuple(effective(spec)) == approx(Resources(1.1, GI + 64 * MI, 0))


def test_pod_level_limits_only_do_not_replace_requests() -> None:
    spec = {
        "resources": {"limits": {"cpu": "4"}},
        "containers": [ctr("app", {"cpu": "200m"})],
    }
    assert effective(spec).cpu == pytest.approx(0.2)


def test_limits_only_container_requests_its_limits() -> None:
    spec = {"containers": [ctr("app", limits={"cpu": "1", "memory": "1Gi"})]}
    shape = pod_spec(spec, WHERE, Warnings())
    assert as_tuple(shape.effective) == approx(Resources(1.0, GI, 0))
    (app,) = shape.running
    assert app.request == Resources(1.0, float(GI), 0.0)
    assert app.cpu_limit == 1.0
    assert app.memory_limit == float(GI)


def test_limit_defaults_request_per_resource() -> None:
    # requests name cpu only; memory request defaults to the memory limit
    spec = {"containers": [ctr("app", {"cpu": "100m"}, {"cpu": "1", "memory": "512Mi"})]}
    (app,) = pod_spec(spec, WHERE, Warnings()).running
    assert as_tuple(app.request) == approx(Resources(0.1, 512 * MI, 0))
    assert app.cpu_limit == 1.0
    assert app.memory_limit == 512 * MI


def test_no_limits_means_none() -> None:
    (app,) = pod_spec({"containers": [ctr("app", {"cpu": "1"})]}, WHERE, Warnings()).running
    assert app.cpu_limit is None
    assert app.memory_limit is None


def test_limits_only_sidecar_counts_its_limits() -> None:
    spec = {
        "initContainers": [ctr("proxy", limits={"cpu": "200m"}, sidecar=True)],
        "containers": [ctr("app", {"cpu": "300m"})],
    }
    # 0.3 + 0.2 (sidecar request defaulted from its limit) = 0.5
    assert effective(spec).cpu == pytest.approx(0.5)


def test_gpus_are_counted_from_requests_and_limits() -> None:
    spec = {
        "containers": [
            ctr("train", limits={"nvidia.com/gpu": "1"}),  # GPU only in limits: request defaults
            ctr("eval", {"nvidia.com/gpu": 2}, {"nvidia.com/gpu": 2}),
            ctr("cpu-only", {"cpu": "1"}),
        ]
    }
    # 1 + 2 + 0 = 3 devices
    assert effective(spec).gpu == 3.0


def test_gpu_init_container_takes_the_max() -> None:
    spec = {
        "initContainers": [ctr("warmup", {"nvidia.com/gpu": "4"})],
        "containers": [ctr("serve", {"nvidia.com/gpu": "1"})],
    }
    assert effective(spec).gpu == 4.0


def test_malformed_quantity_warns_counts_zero_and_keeps_the_rest() -> None:
    warn = Warnings()
    spec = {
        "containers": [
            ctr("app", {"cpu": "lots", "memory": "256Mi"}),
            ctr("helper", {"cpu": "200m", "memory": "64Mi"}),
        ]
    }
    shape = pod_spec(spec, WHERE, warn)
    # app's cpu counts 0: 0 + 0.2 = 0.2; memory intact: 256 + 64 = 320Mi
    assert as_tuple(shape.effective) == approx(Resources(0.2, 320 * MI, 0))
    assert len(warn) == 1
    (message,) = warn
    assert "shop/web-1" in message
    assert "app" in message
    assert "lots" in message
    assert "helper" not in message
    assert shape.running[0].request.memory == 256 * MI


def test_malformed_gpu_and_overhead_warn_and_count_zero() -> None:
    warn = Warnings()
    spec = {
        "containers": [ctr("train", {"cpu": "1", "nvidia.com/gpu": "one"})],
        "overhead": {"cpu": "bogus"},
    }
    shape = pod_spec(spec, WHERE, warn)
    assert as_tuple(shape.effective) == approx(Resources(1.0, 0, 0))
    assert len(warn) == 2
    assert all("shop/web-1" in m for m in warn)
    assert any("train" in m and "one" in m for m in warn)
    assert any("overhead" in m and "bogus" in m for m in warn)


def test_negative_request_warns_and_counts_zero() -> None:
    warn = Warnings()
    spec = {"containers": [ctr("app", {"cpu": "-1", "memory": "1Gi"})]}
    shape = pod_spec(spec, WHERE, warn)
    assert as_tuple(shape.effective) == approx(Resources(0.0, GI, 0))
    assert len(warn) == 1
    assert "app" in warn[0]
    assert "shop/web-1" in warn[0]


# -- running containers --------------------------------------------------------------------


def test_running_has_apps_and_sidecars_but_not_regular_inits() -> None:
    spec = {
        "initContainers": [
            ctr("setup", {"cpu": "1"}),
            ctr("proxy", {"cpu": "100m"}, sidecar=True),
            ctr("migrate", {"cpu": "2"}),
        ],
        "containers": [ctr("web", {"cpu": "250m"}), ctr("worker", {"cpu": "250m"})],
    }
    running = pod_spec(spec, WHERE, Warnings()).running
    assert [(c.name, c.sidecar) for c in running] == [
        ("web", False),
        ("worker", False),
        ("proxy", True),
    ]
    assert [c.request.cpu for c in running] == pytest.approx([0.25, 0.25, 0.1])


# -- real payloads -------------------------------------------------------------------------


def _minikube_pod(name: str) -> dict[str, Any]:
    (pod,) = [p for p in fx.minikube_pods() if p["metadata"]["name"] == name]
    return pod


def test_minikube_coredns_request_and_limit() -> None:
    # coredns: requests cpu 100m / memory 70Mi, limits memory 170Mi
    shape = pod_spec(_minikube_pod("coredns-7d764666f9-qdcxt")["spec"], WHERE, Warnings())
    assert as_tuple(shape.effective) == approx(Resources(0.1, 70 * MI, 0))
    (coredns,) = shape.running
    assert coredns.cpu_limit is None
    assert coredns.memory_limit == 170 * MI


def test_minikube_pod_level_resources() -> None:
    # e2e-deployment: container requests 40m / 15Mi, pod-level requests 50m / 20Mi
    spec = _minikube_pod("e2e-deployment-79967c5968-8bnn8")["spec"]
    assert as_tuple(effective(spec)) == approx(Resources(0.05, 20 * MI, 0))


def test_minikube_decimal_memory_suffix() -> None:
    # e2e-container-creating requests 5m cpu / 5M memory (decimal mega = 5,000,000 bytes)
    spec = _minikube_pod("e2e-container-creating")["spec"]
    assert as_tuple(effective(spec)) == approx(Resources(0.005, 5_000_000, 0))


def test_minikube_pods_parse_without_warnings() -> None:
    warn = Warnings()
    for pod in fx.minikube_pods():
        pod_spec(pod["spec"], WHERE, warn)
    assert warn == []


# -- container states ----------------------------------------------------------------------


def _status(
    name: str, restarts: Any = 0, *, last: str | None = None, now: str | None = None
) -> dict[str, Any]:
    cs: dict[str, Any] = {"name": name, "restartCount": restarts, "lastState": {}, "state": {"running": {}}}
    if last is not None:
        cs["lastState"] = {"terminated": {"reason": last, "exitCode": 137}}
    if now is not None:
        cs["state"] = {"terminated": {"reason": now, "exitCode": 137}}
    return cs


def test_container_states_restarts_and_oom_kills() -> None:
    status = {
        "containerStatuses": [
            _status("oom-before", 3, last="OOMKilled"),
            _status("oom-now", 0, now="OOMKilled"),
            _status("crashed", 5, last="Error"),
            _status("fine"),
            {"name": "bare"},  # no restartCount, no states
            {"name": "nulls", "restartCount": None, "lastState": {"terminated": None}, "state": None},
        ],
        "initContainerStatuses": [
            _status("proxy", 2, last="OOMKilled"),  # sidecar
            _status("setup", 0, now="Completed"),
        ],
    }
    assert container_states(status) == {
        "oom-before": ContainerState(restarts=3, oom_killed=True),
        "oom-now": ContainerState(restarts=0, oom_killed=True),
        "crashed": ContainerState(restarts=5, oom_killed=False),
        "fine": ContainerState(restarts=0, oom_killed=False),
        "bare": ContainerState(restarts=0, oom_killed=False),
        "nulls": ContainerState(restarts=0, oom_killed=False),
        "proxy": ContainerState(restarts=2, oom_killed=True),
        "setup": ContainerState(restarts=0, oom_killed=False),
    }


@pytest.mark.parametrize("status", [{}, {"containerStatuses": None}, {"containerStatuses": []}])
def test_container_states_of_a_pod_without_statuses(status: dict[str, Any]) -> None:
    assert container_states(status) == {}


def test_container_states_minikube_restarts() -> None:
    # e2e-container-creating: restartCount 2, last terminated "Completed" (not an OOM kill)
    status = _minikube_pod("e2e-container-creating")["status"]
    assert container_states(status) == {"alpine": ContainerState(restarts=2, oom_killed=False)}
