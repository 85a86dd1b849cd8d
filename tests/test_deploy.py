"""deploy/, Dockerfile, .dockerignore: the manifests a cluster runs, checked offline.

The kustomize layout is rendered by a small renderer here (no kustomize binary needed) that
handles exactly the kustomize features deploy/ uses and refuses any other; where `kubectl`
is installed, its built-in kustomize renders the same directories and must agree object for
object. Every rendered object is validated against the Kubernetes OpenAPI schemas shipped by
`kubernetes-validate`, strictly (unknown fields rejected), for every Kubernetes minor version
it ships. The policy checks (read-only RBAC, pod security, resources, probes, wiring) are
functions returning a list of problems, and each is shown to catch a broken manifest.
"""

from __future__ import annotations

import copy
import re
import shlex
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import kubernetes_validate
import pytest
import yaml
from kubernetes.utils.quantity import parse_quantity as _parse_quantity
from kubernetes_validate.utils import all_versions

from capacity.config import config_from_mapping
from capacity.durations import parse_duration
from capacity.errors import ConfigError
from collectors.source import Kind

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
BASE = DEPLOY / "base"
DASHBOARD_COMPONENT = DEPLOY / "components" / "dashboard"
OVERLAYS = sorted(p for p in (DEPLOY / "overlays").iterdir() if (p / "kustomization.yaml").is_file())
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"

NAMESPACE = "capacity"
COLLECTOR = "capacity-collector"  # ServiceAccount, ClusterRole, ClusterRoleBinding, CronJob
DASHBOARD = "capacity-dashboard"  # ServiceAccount, Deployment, Service
DATABASE_SECRET = ("capacity-database", "url")  # created by hand in every cluster, never in git
IMAGE_PLACEHOLDER = "capacity"  # the image name in deploy/base, set by every overlay
STREAMLIT_HEALTH = "/_stcore/health"
DASHBOARD_PORT = 8501
# benchmarks/collect_scale.py: peak RSS of one collection of 150,000 pods stays under this
# (it prints MB of 2**20 bytes).
COLLECTOR_PEAK_RSS_BYTES = 400 * 2**20

Obj = dict[str, Any]


def parse_quantity(text: str) -> float:
    """Cores or bytes from "100m", "512Mi" (the Kubernetes client's own parser)."""
    return float(_parse_quantity(text))


# ---------------------------------------------------------------------------------------------
# A kustomize renderer for exactly what deploy/ uses
# ---------------------------------------------------------------------------------------------

KUSTOMIZATION_FIELDS = {
    "apiVersion", "kind", "namespace", "labels", "resources", "components", "configMapGenerator", "images",
}  # fmt: skip
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding"}
NAMESPACED = {"ServiceAccount", "ConfigMap", "Secret", "Service", "Deployment", "CronJob", "Job"}
BINDINGS = {"RoleBinding", "ClusterRoleBinding"}


class Unsupported(Exception):
    """The kustomization uses something this renderer does not reproduce exactly."""


def load_objects(path: Path) -> list[Obj]:
    with path.open() as f:
        objects = [o for o in yaml.safe_load_all(f) if o is not None]
    for obj in objects:
        kind = obj.get("kind")
        if kind not in CLUSTER_SCOPED | NAMESPACED:
            raise Unsupported(f"{path}: kind {kind!r} unknown to this renderer (is it namespaced?)")
        if kind in BINDINGS:
            for subject in obj.get("subjects", []):
                # kustomize fills a ServiceAccount subject's namespace from the ServiceAccount and
                # follows it into an overlay's namespace; a namespace written in the file stays
                # behind when an overlay moves everything, and the binding then binds nothing.
                if subject.get("kind") == "ServiceAccount" and "namespace" in subject:
                    raise Unsupported(f"{path}: write no namespace on ServiceAccount subjects")
    return objects


def render(directory: Path) -> list[Obj]:
    """Return the objects `kustomize build directory` gives, for the features deploy/ uses."""
    return _build(directory, [], expect_kind="Kustomization")


def _build(directory: Path, accumulated: list[Obj], *, expect_kind: str) -> list[Obj]:
    with (directory / "kustomization.yaml").open() as f:
        k = yaml.safe_load(f)
    api = {
        "Kustomization": "kustomize.config.k8s.io/v1beta1",
        "Component": "kustomize.config.k8s.io/v1alpha1",
    }
    if (k.get("kind"), k.get("apiVersion")) != (expect_kind, api[expect_kind]):
        raise Unsupported(f"{directory}: expected kind {expect_kind} ({api[expect_kind]})")
    if unknown := set(k) - KUSTOMIZATION_FIELDS:
        raise Unsupported(f"{directory}: fields {sorted(unknown)}")
    objects = list(accumulated)
    for entry in k.get("resources", []):
        path = (directory / entry).resolve()
        objects += render(path) if path.is_dir() else load_objects(path)
    # kustomize 5 runs a kustomization's own generators before its components.
    for generator in k.get("configMapGenerator", []):
        _generate_configmap(directory, generator, objects)
    for entry in k.get("components", []):
        objects = _build((directory / entry).resolve(), objects, expect_kind="Component")
    if "namespace" in k:
        _set_namespace(objects, k["namespace"])
    for entry in k.get("labels", []):
        _add_labels(objects, entry)
    for entry in k.get("images", []):
        _set_image(objects, entry)
    # kustomize's name-reference pass: a ServiceAccount subject takes its account's namespace.
    accounts = {o["metadata"]["name"]: o for o in objects if o["kind"] == "ServiceAccount"}
    for obj in objects:
        for subject in obj.get("subjects", []) if obj["kind"] in BINDINGS else []:
            account = accounts.get(subject["name"])
            if subject.get("kind") == "ServiceAccount" and account and "namespace" in account["metadata"]:
                subject["namespace"] = account["metadata"]["namespace"]
    return objects


def _generate_configmap(directory: Path, generator: Obj, objects: list[Obj]) -> None:
    if unknown := set(generator) - {"name", "behavior", "files", "literals", "options"}:
        raise Unsupported(f"configMapGenerator fields {sorted(unknown)}")
    options = generator.get("options", {})
    if unknown := set(options) - {"disableNameSuffixHash", "labels", "annotations"}:
        raise Unsupported(f"configMapGenerator options {sorted(unknown)}")
    if options.get("disableNameSuffixHash") is not True:
        # The hash suffix is kustomize's own algorithm: this renderer does not reproduce it.
        raise Unsupported(f"configMapGenerator {generator['name']}: set options.disableNameSuffixHash")
    data: dict[str, str] = {}
    for literal in generator.get("literals", []):
        key, sep, value = literal.partition("=")
        if not sep or value[:1] in {"'", '"'}:
            raise Unsupported(f"literal {literal!r}")
        data[key] = value
    for entry in generator.get("files", []):
        key, sep, path = entry.partition("=")
        path = path if sep else key
        data[key if sep else PurePosixPath(path).name] = (directory / path).read_text()
    existing = [o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"] == generator["name"]]
    behavior = generator.get("behavior", "create")
    if (behavior == "create") == bool(existing) or behavior not in {"create", "replace", "merge"}:
        raise Unsupported(f"configMapGenerator {generator['name']}: behavior {behavior} here")
    metadata: Obj = {"name": generator["name"]}
    if existing:
        target = existing[0]
        target["data"] = {**target.get("data", {}), **data} if behavior == "merge" else data
        metadata = target["metadata"]
    else:
        objects.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": data})
    for key in ("labels", "annotations"):
        if key in options:
            metadata[key] = {**metadata.get(key, {}), **options[key]}


def _set_namespace(objects: list[Obj], namespace: str) -> None:
    for obj in objects:
        if obj["kind"] == "Namespace":
            obj["metadata"]["name"] = namespace  # kustomize 5 renames a Namespace it builds
        elif obj["kind"] in NAMESPACED:
            obj["metadata"]["namespace"] = namespace


def _add_labels(objects: list[Obj], entry: Obj) -> None:
    if set(entry) - {"pairs", "includeSelectors", "includeTemplates"} or any(
        entry.get(key) for key in ("includeSelectors", "includeTemplates")
    ):
        raise Unsupported(f"labels entry {entry}: only pairs on metadata.labels")
    for obj in objects:
        obj["metadata"].setdefault("labels", {}).update(entry["pairs"])


def split_image(image: str) -> tuple[str, str | None]:
    """("registry:5000/team/app", "1.2") from "registry:5000/team/app:1.2"."""
    if "@" in image:
        raise Unsupported(f"image digest {image}")
    name, sep, tag = image.rpartition(":")
    return (name, tag) if sep and "/" not in tag else (image, None)


def _set_image(objects: list[Obj], entry: Obj) -> None:
    if set(entry) - {"name", "newName", "newTag"}:
        raise Unsupported(f"images entry {entry}")
    for container in all_containers(objects):
        name, tag = split_image(container["image"])
        if name == entry["name"]:
            name, tag = entry.get("newName", name), entry.get("newTag", tag)
            container["image"] = f"{name}:{tag}" if tag else name


def all_containers(objects: list[Obj]) -> Iterator[Obj]:
    def walk(node: Any) -> Iterator[Obj]:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in {"containers", "initContainers"} and isinstance(value, list):
                    yield from value
                else:
                    yield from walk(value)
        elif isinstance(node, list):
            for item in node:
                yield from walk(item)

    for obj in objects:
        yield from walk(obj)


# ---------------------------------------------------------------------------------------------
# Looking things up in rendered objects
# ---------------------------------------------------------------------------------------------


def find(objects: list[Obj], kind: str, name: str) -> Obj:
    matches = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(matches) == 1, f"{kind}/{name}: {len(matches)} objects"
    return matches[0]


def find_all(objects: list[Obj], kind: str) -> list[Obj]:
    return [o for o in objects if o["kind"] == kind]


def pod_spec(workload: Obj) -> Obj:
    if workload["kind"] == "CronJob":
        return workload["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return workload["spec"]["template"]["spec"]


def workloads(objects: list[Obj]) -> list[Obj]:
    return [o for o in objects if o["kind"] in {"Deployment", "CronJob", "Job"}]


def env_of(container: Obj) -> dict[str, Obj]:
    return {e["name"]: e for e in container.get("env", [])}


def container_port(container: Obj, port: int | str) -> int:
    """The container port a probe or Service target names (by number or by port name)."""
    if isinstance(port, int):
        assert port in {p["containerPort"] for p in container.get("ports", [])}, port
        return port
    (number,) = [p["containerPort"] for p in container.get("ports", []) if p.get("name") == port]
    return int(number)


@dataclass
class Rendered:
    path: Path
    objects: list[Obj] = field(default_factory=list)


@pytest.fixture(scope="module", params=OVERLAYS, ids=[p.name for p in OVERLAYS])
def overlay(request: pytest.FixtureRequest) -> Rendered:
    return Rendered(request.param, render(request.param))


def test_layout() -> None:
    assert (BASE / "kustomization.yaml").is_file()
    assert (DASHBOARD_COMPONENT / "kustomization.yaml").is_file()
    assert {p.name for p in OVERLAYS} >= {"example-cluster", "example-other-cluster"}


# ---------------------------------------------------------------------------------------------
# Schema validation, every Kubernetes version kubernetes-validate ships
# ---------------------------------------------------------------------------------------------


def _minor(version: str) -> tuple[int, int]:
    major, minor = version.split(".")[:2]
    return int(major), int(minor)


KUBERNETES_VERSIONS = sorted({"{}.{}".format(*_minor(v)) for v in all_versions()}, key=_minor)


def test_schemas_cover_current_kubernetes() -> None:
    assert _minor(KUBERNETES_VERSIONS[-1]) >= (1, 37), KUBERNETES_VERSIONS
    assert len(KUBERNETES_VERSIONS) >= 5, KUBERNETES_VERSIONS


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("directory", [BASE, *OVERLAYS], ids=["base", *[p.name for p in OVERLAYS]])
def test_every_object_validates_against_the_schema(directory: Path, version: str) -> None:
    errors = []
    for obj in render(directory):
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path)
            errors.append(f"{obj['kind']}/{obj['metadata']['name']}: {path}: {exc.message}")
    assert not errors, f"{directory.name} is invalid for Kubernetes {version}:\n" + "\n".join(errors)


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda c: c["spec"].update(schedul="*/5 * * * *"), id="unknown-field"),
        pytest.param(
            lambda c: pod_spec(c)["containers"][0]["resources"]["limits"].update(memory=[512]), id="bad-type"
        ),
        pytest.param(lambda c: pod_spec(c)["containers"][0].pop("name"), id="missing-required"),
    ],
)
def test_strict_schema_validation_rejects_broken_manifests(mutate: Callable[[Obj], Any]) -> None:
    cronjob = copy.deepcopy(find(render(OVERLAYS[0]), "CronJob", COLLECTOR))
    kubernetes_validate.validate(cronjob, KUBERNETES_VERSIONS[-1], strict=True)
    mutate(cronjob)
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(cronjob, KUBERNETES_VERSIONS[-1], strict=True)


# ---------------------------------------------------------------------------------------------
# RBAC: read-only, exactly what the collector lists
# ---------------------------------------------------------------------------------------------

READ_VERBS = {"get", "list", "watch"}
COLLECTOR_VERBS = {"get", "list"}


def api_group_and_resource(kind: Kind) -> tuple[str, str]:
    """("apps", "replicasets") from the collector's list path /apis/apps/v1/replicasets."""
    parts = kind.path.strip("/").split("/")
    if parts[0] == "api":  # /api/v1/<resource>: the core group
        return "", parts[2]
    return parts[1], parts[3]  # /apis/<group>/<version>/<resource>


COLLECTOR_NEEDS = {api_group_and_resource(kind) for kind in Kind}


def test_collector_needs_match_the_readme() -> None:
    readme = {
        ("", "namespaces"), ("", "nodes"), ("", "pods"), ("", "resourcequotas"), ("", "persistentvolumes"),
        ("", "persistentvolumeclaims"), ("", "services"), ("storage.k8s.io", "storageclasses"),
        ("autoscaling", "horizontalpodautoscalers"),
        ("apps", "replicasets"), ("batch", "jobs"), ("metrics.k8s.io", "pods"), ("metrics.k8s.io", "nodes"),
    }  # fmt: skip
    assert readme == COLLECTOR_NEEDS


def role_problems(role: Obj) -> list[str]:
    """What in a Role/ClusterRole goes beyond read-only access to what the collector lists."""
    problems = []
    where = f"{role['kind']}/{role['metadata']['name']}"
    if "aggregationRule" in role:
        problems.append(f"{where}: aggregationRule pulls in other roles' rules")
    granted: dict[tuple[str, str], set[str]] = {}
    for rule in role.get("rules", []):
        values = [
            v for key in ("apiGroups", "resources", "verbs", "resourceNames") for v in rule.get(key, [])
        ]
        if "*" in values or any("*" in str(v) for v in values):
            problems.append(f"{where}: wildcard in {rule}")
        if rule.get("nonResourceURLs"):
            problems.append(f"{where}: nonResourceURLs {rule['nonResourceURLs']}")
        if rule.get("resourceNames"):
            problems.append(f"{where}: resourceNames limit a cluster-wide list to nothing: {rule}")
        if writes := set(rule.get("verbs", [])) - READ_VERBS:
            problems.append(f"{where}: write verbs {sorted(writes)}")
        for group in rule.get("apiGroups", []):
            for resource in rule.get("resources", []):
                granted.setdefault((group, resource), set()).update(rule.get("verbs", []))
    for pair in sorted(set(granted) - COLLECTOR_NEEDS):
        problems.append(f"{where}: grants {pair}, which the collector does not read")
    for pair in sorted(COLLECTOR_NEEDS - set(granted)):
        problems.append(f"{where}: misses {pair}: the collector would get 403 Forbidden")
    for pair, verbs in sorted(granted.items()):
        if verbs != COLLECTOR_VERBS and pair in COLLECTOR_NEEDS:
            problems.append(f"{where}: verbs {sorted(verbs)} on {pair}, want exactly get and list")
    return problems


def rbac_problems(objects: list[Obj]) -> list[str]:
    """Every role is the collector's read-only role; only the collector's account is bound to it."""
    problems = []
    roles = [o for o in objects if o["kind"] in {"Role", "ClusterRole"}]
    if [(r["kind"], r["metadata"]["name"]) for r in roles] != [("ClusterRole", COLLECTOR)]:
        problems.append(f"roles {[(r['kind'], r['metadata']['name']) for r in roles]}: want only {COLLECTOR}")
    for role in roles:
        problems += role_problems(role)
    bindings = [o for o in objects if o["kind"] in BINDINGS]
    want_subject = {"kind": "ServiceAccount", "name": COLLECTOR, "namespace": NAMESPACE}
    for binding in bindings:
        ref, subjects = binding["roleRef"], binding.get("subjects", [])
        if (ref["apiGroup"], ref["kind"], ref["name"]) != (
            "rbac.authorization.k8s.io",
            "ClusterRole",
            COLLECTOR,
        ):
            problems.append(f"binding {binding['metadata']['name']} refers to {ref}")
        if subjects != [want_subject]:
            problems.append(
                f"binding {binding['metadata']['name']} binds {subjects}, want only {want_subject}"
            )
    if len(bindings) != 1:
        problems.append(f"{len(bindings)} bindings, want the collector's one")
    return problems


def test_rbac_is_read_only_and_exactly_what_the_collector_reads(overlay: Rendered) -> None:
    assert rbac_problems(overlay.objects) == []
    role = find(overlay.objects, "ClusterRole", COLLECTOR)
    verbs = {verb for rule in role["rules"] for verb in rule["verbs"]}
    assert verbs == {"get", "list"} and verbs <= READ_VERBS
    resources = {r for rule in role["rules"] for r in rule["resources"]}
    assert not resources & {"secrets", "configmaps", "serviceaccounts"}


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        pytest.param(lambda r: r["rules"][0]["verbs"].append("create"), "write verbs", id="create"),
        pytest.param(lambda r: r["rules"][1]["verbs"].extend(["patch", "delete"]), "write verbs", id="patch"),
        pytest.param(lambda r: r["rules"][0]["verbs"].append("*"), "wildcard", id="verb-wildcard"),
        pytest.param(lambda r: r["rules"][2]["resources"].append("*"), "wildcard", id="resource-wildcard"),
        pytest.param(lambda r: r["rules"][1]["apiGroups"].append("*"), "wildcard", id="group-wildcard"),
        pytest.param(lambda r: r["rules"][0]["resources"].append("secrets"), "('', 'secrets')", id="secrets"),
        pytest.param(
            lambda r: r["rules"].append({"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}),
            "('', 'configmaps')",
            id="configmaps",
        ),
        pytest.param(
            lambda r: r["rules"][0]["verbs"].append("watch"), "want exactly get and list", id="watch"
        ),
        pytest.param(lambda r: r["rules"][0]["resources"].remove("nodes"), "403", id="missing-nodes"),
        pytest.param(lambda r: r["rules"][3]["verbs"].remove("list"), "want exactly", id="no-list"),
        pytest.param(
            lambda r: r["rules"].append({"nonResourceURLs": ["/metrics"], "verbs": ["get"]}),
            "nonResourceURLs",
            id="non-resource",
        ),
        pytest.param(
            lambda r: r.update(aggregationRule={"clusterRoleSelectors": []}), "aggregation", id="agg"
        ),
    ],
)
def test_rbac_checker_flags_a_broken_role(mutate: Callable[[Obj], Any], expected: str) -> None:
    objects = copy.deepcopy(render(OVERLAYS[0]))
    mutate(find(objects, "ClusterRole", COLLECTOR))
    problems = rbac_problems(objects)
    assert any(expected in p for p in problems), problems


def test_rbac_checker_flags_the_dashboard_bound_or_extra_roles() -> None:
    objects = copy.deepcopy(render(OVERLAYS[0]))
    binding = find(objects, "ClusterRoleBinding", COLLECTOR)
    binding["subjects"].append({"kind": "ServiceAccount", "name": DASHBOARD, "namespace": NAMESPACE})
    assert any("binds" in p for p in rbac_problems(objects))
    objects = copy.deepcopy(render(OVERLAYS[0]))
    objects.append({**find(objects, "ClusterRole", COLLECTOR), "metadata": {"name": "more"}})
    assert any("want only" in p for p in rbac_problems(objects))


# ---------------------------------------------------------------------------------------------
# Pods: security, resources, the database secret, the config file
# ---------------------------------------------------------------------------------------------


def pod_problems(workload: Obj, objects: list[Obj]) -> list[str]:
    """What in a workload's pod breaks the restricted Pod Security Standard or our wiring."""
    problems: list[str] = []
    spec = pod_spec(workload)
    pod_sc = spec.get("securityContext", {})
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    for c in spec.get("initContainers", []) + spec["containers"]:
        where = f"{workload['kind']}/{workload['metadata']['name']}/{c['name']}"
        sc = c.get("securityContext", {})

        def effective(key: str, sc: Obj = sc) -> Any:
            return sc.get(key, pod_sc.get(key))

        if effective("runAsNonRoot") is not True:
            problems.append(f"{where}: runAsNonRoot is not true")
        if not isinstance(effective("runAsUser"), int) or effective("runAsUser") == 0:
            problems.append(f"{where}: no fixed non-root runAsUser")
        if sc.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{where}: root filesystem is writable")
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{where}: allowPrivilegeEscalation is not false")
        if sc.get("capabilities", {}).get("drop") != ["ALL"] or sc.get("capabilities", {}).get("add"):
            problems.append(f"{where}: capabilities are not exactly drop [ALL]")
        if (effective("seccompProfile") or {}).get("type") != "RuntimeDefault":
            problems.append(f"{where}: seccompProfile is not RuntimeDefault")
        if sc.get("privileged"):
            problems.append(f"{where}: privileged")
        resources = c.get("resources", {})
        requests, limits = resources.get("requests", {}), resources.get("limits", {})
        if not {"cpu", "memory"} <= set(requests):
            problems.append(f"{where}: requests {requests} lack cpu or memory")
        if "memory" not in limits:
            problems.append(f"{where}: no memory limit")
        elif "memory" in requests and parse_quantity(requests["memory"]) > parse_quantity(limits["memory"]):
            problems.append(f"{where}: memory request above its limit")
        env = env_of(c)
        url = env.get("CAPACITY_DATABASE_URL", {})
        ref = url.get("valueFrom", {}).get("secretKeyRef", {})
        if (ref.get("name"), ref.get("key")) != DATABASE_SECRET or "value" in url:
            problems.append(f"{where}: CAPACITY_DATABASE_URL not from Secret {DATABASE_SECRET}")
        if any("://" in str(e.get("value", "")) for e in env.values()):
            problems.append(f"{where}: a URL written into the manifest")
        mounts = {m["mountPath"]: m for m in c.get("volumeMounts", [])}
        home = env.get("HOME", {}).get("value")
        home_volume = volumes.get(mounts.get(home, {}).get("name", ""), {})
        if "emptyDir" not in home_volume or mounts[home].get("readOnly"):
            problems.append(f"{where}: HOME={home} is not a writable emptyDir on a read-only root")
        problems += config_problems(where, env, mounts, volumes, objects)
    return problems


def config_problems(
    where: str, env: dict[str, Obj], mounts: dict[str, Obj], volumes: dict[str, Obj], objects: list[Obj]
) -> list[str]:
    """CAPACITY_CONFIG names a key of a ConfigMap mounted read-only, and the file is a valid config."""
    path = PurePosixPath(env.get("CAPACITY_CONFIG", {}).get("value", "/nonexistent"))
    mount = mounts.get(str(path.parent))
    volume = volumes.get(mount["name"], {}) if mount else {}
    if not mount or not mount.get("readOnly") or "configMap" not in volume:
        return [f"{where}: CAPACITY_CONFIG={path} is not in a ConfigMap mounted read-only"]
    configmap = find(objects, "ConfigMap", volume["configMap"]["name"])
    if path.name not in configmap.get("data", {}):
        return [f"{where}: ConfigMap {configmap['metadata']['name']} has no key {path.name}"]
    config_from_mapping(yaml.safe_load(configmap["data"][path.name]), origin=f"{where}:{path}")
    return []


def test_every_pod_is_restricted_and_wired(overlay: Rendered) -> None:
    assert workloads(overlay.objects)
    for workload in workloads(overlay.objects):
        assert pod_problems(workload, overlay.objects) == []
    ns = find(overlay.objects, "Namespace", NAMESPACE)
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def _container(workload: Obj) -> Obj:
    return pod_spec(workload)["containers"][0]


@pytest.mark.parametrize("kind", ["CronJob", "Deployment"])
@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        pytest.param(
            lambda w: _container(w)["resources"]["limits"].pop("memory"), "no memory limit", id="limit"
        ),
        pytest.param(lambda w: _container(w)["resources"]["requests"].pop("cpu"), "lack cpu", id="request"),
        pytest.param(
            lambda w: _container(w)["resources"]["requests"].update(memory="2Gi"),
            "above its limit",
            id="req>lim",
        ),
        pytest.param(
            lambda w: _container(w)["securityContext"].update(readOnlyRootFilesystem=False),
            "writable",
            id="rw-root",
        ),
        pytest.param(
            lambda w: (
                _container(w)["securityContext"].pop("runAsNonRoot"),
                pod_spec(w)["securityContext"].pop("runAsNonRoot"),
            ),
            "runAsNonRoot",
            id="root",
        ),
        pytest.param(lambda w: pod_spec(w)["securityContext"].update(runAsUser=0), "runAsUser", id="uid0"),
        pytest.param(
            lambda w: _container(w)["securityContext"]["capabilities"].update(add=["NET_RAW"]),
            "capabilities",
            id="cap",
        ),
        pytest.param(
            lambda w: _container(w)["securityContext"].pop("allowPrivilegeEscalation"),
            "Escalation",
            id="escalation",
        ),
        pytest.param(lambda w: pod_spec(w)["securityContext"].pop("seccompProfile"), "seccomp", id="seccomp"),
        pytest.param(
            lambda w: env_of(_container(w))["CAPACITY_DATABASE_URL"].update(
                value="postgresql://capacity:hunter2@db:5432/capacity"
            ),
            "Secret",
            id="inline-url",
        ),
        pytest.param(lambda w: pod_spec(w)["volumes"].pop(), "HOME", id="no-tmp"),
        pytest.param(
            lambda w: _container(w)["volumeMounts"][0].pop("readOnly"), "CAPACITY_CONFIG", id="config-rw"
        ),
        pytest.param(
            lambda w: env_of(_container(w))["CAPACITY_CONFIG"].update(value="/etc/capacity/other.yaml"),
            "no key",
            id="config-key",
        ),
    ],
)
def test_pod_checker_flags_a_broken_pod(kind: str, mutate: Callable[[Obj], Any], expected: str) -> None:
    objects = copy.deepcopy(render(OVERLAYS[0]))
    (workload,) = find_all(objects, kind)
    assert pod_problems(workload, objects) == []
    mutate(workload)
    problems = pod_problems(workload, objects)
    assert any(expected in p for p in problems), problems


def test_pod_checker_validates_the_mounted_config() -> None:
    objects = copy.deepcopy(render(OVERLAYS[0]))
    find(objects, "ConfigMap", "capacity-config")["data"]["capacity.yaml"] = "pricing: {bogus: 1}\n"
    with pytest.raises(ConfigError, match=r"pricing\.bogus"):
        pod_problems(find(objects, "CronJob", COLLECTOR), objects)


def test_references_resolve_except_the_database_secret(overlay: Rendered) -> None:
    present = {(o["kind"], o["metadata"]["name"]) for o in overlay.objects}
    wanted: set[tuple[str, str]] = set()
    for workload in workloads(overlay.objects):
        spec = pod_spec(workload)
        wanted.add(("ServiceAccount", spec["serviceAccountName"]))
        wanted |= {("ConfigMap", v["configMap"]["name"]) for v in spec.get("volumes", []) if "configMap" in v}
        for c in spec["containers"]:
            for e in c.get("env", []):
                ref = e.get("valueFrom", {})
                if "configMapKeyRef" in ref:
                    cm = find(overlay.objects, "ConfigMap", ref["configMapKeyRef"]["name"])
                    assert ref["configMapKeyRef"]["key"] in cm["data"], e
                    wanted.add(("ConfigMap", cm["metadata"]["name"]))
                if "secretKeyRef" in ref:
                    wanted.add(("Secret", ref["secretKeyRef"]["name"]))
    assert wanted - present == {("Secret", DATABASE_SECRET[0])}
    for obj in overlay.objects:
        if obj["kind"] in NAMESPACED:
            assert obj["metadata"]["namespace"] == NAMESPACE, obj["metadata"]


def test_no_secret_is_kept_in_the_manifests() -> None:
    for path in DEPLOY.rglob("*.yaml"):
        text = path.read_text()
        assert "kind: Secret" not in text, path
        assert not re.search(r"postgres(ql)?://[^\s.]*:[^\s@.]+@", text), path


# ---------------------------------------------------------------------------------------------
# The collector CronJob
# ---------------------------------------------------------------------------------------------


def cron_period_seconds(schedule: str) -> int | None:
    """300 for "*/5 * * * *"; None for a schedule that is not every N minutes."""
    match = re.fullmatch(r"\*/(\d+) \* \* \* \*", schedule)
    return int(match[1]) * 60 if match and 60 % int(match[1]) == 0 else None


def cronjob_problems(objects: list[Obj]) -> list[str]:
    problems = []
    cronjob = find(objects, "CronJob", COLLECTOR)
    spec = cronjob["spec"]
    if spec["schedule"] != "*/5 * * * *":
        problems.append(f"schedule {spec['schedule']!r}, want every 5 minutes")
    period = cron_period_seconds(spec["schedule"]) or 0
    if spec.get("concurrencyPolicy") != "Forbid":
        problems.append(f"concurrencyPolicy {spec.get('concurrencyPolicy')}: runs of one cluster may overlap")
    if not 0 < spec.get("startingDeadlineSeconds", 0) < period:
        problems.append("startingDeadlineSeconds not set under the period")
    if not (spec.get("successfulJobsHistoryLimit", 0) >= 1 and spec.get("failedJobsHistoryLimit", 0) >= 1):
        problems.append("no Job history kept")
    job = spec["jobTemplate"]["spec"]
    # A stuck run is stopped before the next is due: Forbid never skips a run because of it.
    if not 0 < job.get("activeDeadlineSeconds", 0) < period:
        problems.append(f"activeDeadlineSeconds {job.get('activeDeadlineSeconds')} not under the period")
    if not 0 <= job.get("backoffLimit", 6) <= 2:
        problems.append(f"backoffLimit {job.get('backoffLimit', 6)}: want a small one")
    pod = pod_spec(cronjob)
    if pod.get("restartPolicy") not in {"Never", "OnFailure"}:
        problems.append(f"restartPolicy {pod.get('restartPolicy')}")
    if pod.get("serviceAccountName") != COLLECTOR or pod.get("automountServiceAccountToken") is False:
        problems.append("the collector does not run with its service account's token")
    (container,) = pod["containers"]
    if container.get("args") != ["collect", "--cluster", "$(CLUSTER_NAME)"] or "command" in container:
        problems.append(f"command {container.get('command')} args {container.get('args')}")
    ref = env_of(container).get("CLUSTER_NAME", {}).get("valueFrom", {}).get("configMapKeyRef", {})
    if not ref:
        problems.append("CLUSTER_NAME is not from the overlay's ConfigMap")
    # The config's nominal interval is the schedule's period (a snapshot covers at most twice it).
    config = find(objects, "ConfigMap", "capacity-config")["data"]["capacity.yaml"]
    interval = config_from_mapping(yaml.safe_load(config)).collection.interval_seconds
    if interval != period:
        problems.append(f"collection.interval_seconds {interval} is not the schedule's period {period}")
    return problems


def test_collector_cronjob(overlay: Rendered) -> None:
    assert cronjob_problems(overlay.objects) == []
    assert cron_period_seconds("*/5 * * * *") == 300 == parse_duration("5m")
    container = _container(find(overlay.objects, "CronJob", COLLECTOR))
    ref = env_of(container)["CLUSTER_NAME"]["valueFrom"]["configMapKeyRef"]
    assert find(overlay.objects, "ConfigMap", ref["name"])["data"][ref["key"]]


def _cronjob_spec(objects: list[Obj]) -> Obj:
    return find(objects, "CronJob", COLLECTOR)["spec"]


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        pytest.param(lambda o: _cronjob_spec(o).update(schedule="*/15 * * * *"), "schedule", id="schedule"),
        pytest.param(lambda o: _cronjob_spec(o).update(concurrencyPolicy="Allow"), "overlap", id="allow"),
        pytest.param(lambda o: _cronjob_spec(o).pop("concurrencyPolicy"), "overlap", id="default-policy"),
        pytest.param(lambda o: _cronjob_spec(o).pop("startingDeadlineSeconds"), "starting", id="start"),
        pytest.param(
            lambda o: _cronjob_spec(o)["jobTemplate"]["spec"].update(activeDeadlineSeconds=600),
            "activeDeadline",
            id="deadline",
        ),
        pytest.param(
            lambda o: _cronjob_spec(o)["jobTemplate"]["spec"].pop("backoffLimit"), "backoff", id="6"
        ),
        pytest.param(lambda o: _cronjob_spec(o).update(failedJobsHistoryLimit=0), "history", id="history"),
        pytest.param(
            lambda o: _container(find(o, "CronJob", COLLECTOR)).update(command=["capacity"]),
            "command",
            id="cmd",
        ),
        pytest.param(
            lambda o: find(o, "ConfigMap", "capacity-config")["data"].update(
                {"capacity.yaml": "collection: {interval_seconds: 1m}\n"}
            ),
            "interval_seconds",
            id="interval",
        ),
    ],
)
def test_cronjob_checker_flags_a_broken_cronjob(mutate: Callable[[list[Obj]], Any], expected: str) -> None:
    objects = copy.deepcopy(render(OVERLAYS[0]))
    mutate(objects)
    problems = cronjob_problems(objects)
    assert any(expected in p for p in problems), problems


def test_collector_resources_fit_the_benchmark(overlay: Rendered) -> None:
    resources = _container(find(overlay.objects, "CronJob", COLLECTOR))["resources"]
    assert parse_quantity(resources["requests"]["cpu"]) == pytest.approx(0.1)
    assert parse_quantity(resources["requests"]["memory"]) == 256 * 2**20
    limit = parse_quantity(resources["limits"]["memory"])
    assert limit == 512 * 2**20
    assert limit >= 1.25 * COLLECTOR_PEAK_RSS_BYTES  # headroom over the 150,000-pod peak
    assert "cpu" not in resources["limits"]  # no CFS throttling of a 5-minute batch


def test_cluster_names_are_set_per_overlay_and_unique() -> None:
    names = {}
    for path in OVERLAYS:
        objects = render(path)
        if find_all(objects, "CronJob"):
            ref = env_of(_container(find(objects, "CronJob", COLLECTOR)))["CLUSTER_NAME"]["valueFrom"]
            names[path.name] = find(objects, "ConfigMap", ref["configMapKeyRef"]["name"])["data"]["name"]
    assert len(names) >= 2 and len(set(names.values())) == len(names), names
    assert "change-me" not in names.values()
    # The base leaves the cluster name to the overlay: applied alone, its jobs would not start.
    assert not [
        o for o in render(BASE) if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "capacity-cluster"
    ]


# ---------------------------------------------------------------------------------------------
# The dashboard
# ---------------------------------------------------------------------------------------------


def dashboard_problems(objects: list[Obj]) -> list[str]:
    problems = []
    deployment = find(objects, "Deployment", DASHBOARD)
    spec = pod_spec(deployment)
    (container,) = spec["containers"]
    for probe_name in ("readinessProbe", "livenessProbe"):
        probe = container.get(probe_name, {}).get("httpGet", {})
        if probe.get("path") != STREAMLIT_HEALTH:
            problems.append(f"{probe_name}: path {probe.get('path')}, want {STREAMLIT_HEALTH}")
        elif container_port(container, probe["port"]) != DASHBOARD_PORT:
            problems.append(f"{probe_name}: port {probe['port']} is not {DASHBOARD_PORT}")
    args = container.get("args", [])
    port_arg = args[args.index("--port") + 1] if "--port" in args[:-1] else None
    if args[:1] != ["dashboard"] or port_arg != str(DASHBOARD_PORT):
        problems.append(f"args {args}: want dashboard --port {DASHBOARD_PORT}")
    service = find(objects, "Service", DASHBOARD)
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    selector = service["spec"]["selector"]
    if not selector.items() <= labels.items() or selector != deployment["spec"]["selector"]["matchLabels"]:
        problems.append(f"Service selector {selector} does not select the dashboard pods {labels}")
    for other in workloads(objects):
        if other is not deployment and selector.items() <= other_pod_labels(other).items():
            problems.append(
                f"Service selector {selector} also selects {other['kind']}/{other['metadata']['name']}"
            )
    (port,) = service["spec"]["ports"]
    if port["port"] != 80 or container_port(container, port["targetPort"]) != DASHBOARD_PORT:
        problems.append(f"Service port {port}: want 80 -> {DASHBOARD_PORT}")
    account = find(objects, "ServiceAccount", spec.get("serviceAccountName", "default"))
    if account["metadata"]["name"] == COLLECTOR:
        problems.append("the dashboard runs as the collector's account")
    if (
        spec.get("automountServiceAccountToken") is not False
        or account.get("automountServiceAccountToken") is not False
    ):
        problems.append("the dashboard gets a service account token it never uses")
    return problems


def other_pod_labels(workload: Obj) -> dict[str, str]:
    spec = workload["spec"]
    template = spec["jobTemplate"]["spec"]["template"] if workload["kind"] == "CronJob" else spec["template"]
    return dict(template["metadata"].get("labels", {}))


DASHBOARD_OVERLAYS = [p for p in OVERLAYS if find_all(render(p), "Deployment")]


def test_dashboard_only_where_an_overlay_adds_it() -> None:
    assert [p.name for p in DASHBOARD_OVERLAYS] == ["example-cluster"]
    assert not find_all(render(BASE), "Deployment")


@pytest.mark.parametrize("path", DASHBOARD_OVERLAYS, ids=[p.name for p in DASHBOARD_OVERLAYS])
def test_dashboard_deployment_and_service(path: Path) -> None:
    overlay = Rendered(path, render(path))
    assert dashboard_problems(overlay.objects) == []
    container = _container(find(overlay.objects, "Deployment", DASHBOARD))
    resources = container["resources"]
    assert parse_quantity(resources["requests"]["cpu"]) == pytest.approx(0.1)
    assert parse_quantity(resources["requests"]["memory"]) == 256 * 2**20
    assert parse_quantity(resources["limits"]["memory"]) == 2**30
    assert env_of(container)["STREAMLIT_SERVER_ADDRESS"]["value"] == "0.0.0.0"
    # The dashboard reads the database only: no role, no binding names its account.
    subjects = [s["name"] for b in overlay.objects if b["kind"] in BINDINGS for s in b["subjects"]]
    assert DASHBOARD not in subjects and subjects == [COLLECTOR]


def _mutate_dashboard(objects: list[Obj], what: str) -> None:
    deployment = find(objects, "Deployment", DASHBOARD)
    container = _container(deployment)
    if what == "probe-path":
        container["livenessProbe"]["httpGet"]["path"] = "/healthz"
    elif what == "no-readiness":
        del container["readinessProbe"]
    elif what == "probe-port":
        container["readinessProbe"]["httpGet"]["port"] = 8080
        container["ports"].append({"name": "other", "containerPort": 8080})
    elif what == "target-port":
        find(objects, "Service", DASHBOARD)["spec"]["ports"][0]["targetPort"] = "other"
        container["ports"].append({"name": "other", "containerPort": 9000})
    elif what == "selector":
        find(objects, "Service", DASHBOARD)["spec"]["selector"] = {"app.kubernetes.io/name": "capacity"}
    elif what == "args-port":
        container["args"] = ["dashboard", "--port", "9999"]
    elif what == "token":
        pod_spec(deployment)["automountServiceAccountToken"] = True
    elif what == "collector-account":
        pod_spec(deployment)["serviceAccountName"] = COLLECTOR


@pytest.mark.parametrize(
    ("what", "expected"),
    [
        ("probe-path", "livenessProbe: path /healthz"),
        ("no-readiness", "readinessProbe: path None"),
        ("probe-port", "readinessProbe: port 8080"),
        ("target-port", "Service port"),
        ("selector", "also selects CronJob/capacity-collector"),
        ("args-port", "args"),
        ("token", "token"),
        ("collector-account", "collector's account"),
    ],
)
def test_dashboard_checker_flags_a_broken_dashboard(what: str, expected: str) -> None:
    objects = copy.deepcopy(render(DEPLOY / "overlays" / "example-cluster"))
    assert dashboard_problems(objects) == []
    _mutate_dashboard(objects, what)
    problems = dashboard_problems(objects)
    assert any(expected in p for p in problems), problems


def test_images_are_set_by_every_overlay(overlay: Rendered) -> None:
    base_images = {c["image"] for c in all_containers(render(BASE))}
    assert base_images == {IMAGE_PLACEHOLDER}
    for container in all_containers(overlay.objects):
        name, tag = split_image(container["image"])
        assert name != IMAGE_PLACEHOLDER and "/" in name, container["image"]
        assert tag and tag != "latest", container["image"]
        assert container["imagePullPolicy"] == "IfNotPresent"
    assert len({c["image"] for c in all_containers(overlay.objects)}) == 1


# ---------------------------------------------------------------------------------------------
# The renderer against kubectl's kustomize, where kubectl is installed
# ---------------------------------------------------------------------------------------------

KUBECTL = shutil.which("kubectl")


def kubectl_kustomize(directory: Path) -> list[Obj]:
    assert KUBECTL
    out = subprocess.run(
        [KUBECTL, "kustomize", str(directory)], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    return [o for o in yaml.safe_load_all(out) if o is not None]


def by_id(objects: list[Obj]) -> dict[tuple[str, str, str], Obj]:
    ids = {(o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"]): o for o in objects}
    assert len(ids) == len(objects)
    return ids


def _moved_overlay(tmp_path: Path) -> Path:
    """An overlay of the real base and component in another namespace, with its own config file."""
    overlay = tmp_path / "deploy" / "overlays" / "moved"
    overlay.mkdir(parents=True)
    for part in ("base", "components"):
        shutil.copytree(DEPLOY / part, tmp_path / "deploy" / part)
    (overlay / "capacity.yaml").write_text("pricing: {currency: EUR}\n")
    (overlay / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: finops\n"
        "resources: [../../base]\ncomponents: [../../components/dashboard]\n"
        "labels: [{pairs: {team: platform}}]\n"
        "configMapGenerator:\n"
        "  - {name: capacity-config, behavior: replace, files: [capacity.yaml],"
        " options: {disableNameSuffixHash: true}}\n"
        "  - {name: capacity-cluster, literals: [name=moved], options: {disableNameSuffixHash: true}}\n"
        "images: [{name: capacity, newTag: '1.2.3'}]\n"
    )
    return overlay


def test_renderer_follows_a_namespace_change(tmp_path: Path) -> None:
    objects = render(_moved_overlay(tmp_path))
    assert find(objects, "Namespace", "finops")
    assert find(objects, "ClusterRoleBinding", COLLECTOR)["subjects"][0]["namespace"] == "finops"
    assert find(objects, "ConfigMap", "capacity-config")["data"] == {
        "capacity.yaml": "pricing: {currency: EUR}\n"
    }
    assert {c["image"] for c in all_containers(objects)} == {"capacity:1.2.3"}


@pytest.mark.skipif(KUBECTL is None, reason="kubectl (its built-in kustomize) is not installed")
@pytest.mark.parametrize("which", [*[p.name for p in OVERLAYS], "base", "moved"])
def test_renderer_agrees_with_kubectl_kustomize(which: str, tmp_path: Path) -> None:
    directory = {"base": BASE, "moved": None}.get(which, DEPLOY / "overlays" / which) or _moved_overlay(
        tmp_path
    )
    ours, theirs = by_id(render(directory)), by_id(kubectl_kustomize(directory))
    assert sorted(ours) == sorted(theirs)
    for key, obj in ours.items():
        assert obj == theirs[key], key


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("patches: [{path: p.yaml}]\n", "fields"),
        ("configMapGenerator: [{name: x, literals: [a=b]}]\n", "disableNameSuffixHash"),
        ("images: [{name: capacity, digest: 'sha256:00'}]\n", "images entry"),
        ("labels: [{pairs: {a: b}, includeSelectors: true}]\n", "only pairs"),
    ],
)
def test_renderer_refuses_what_it_does_not_reproduce(tmp_path: Path, text: str, expected: str) -> None:
    (tmp_path / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n" + text
    )
    with pytest.raises(Unsupported, match=expected):
        render(tmp_path)


def test_renderer_refuses_a_pinned_subject_namespace(tmp_path: Path) -> None:
    text = (BASE / "collector-clusterrolebinding.yaml").read_text()
    (tmp_path / "b.yaml").write_text(text + "    namespace: capacity\n")
    with pytest.raises(Unsupported, match="no namespace on ServiceAccount subjects"):
        load_objects(tmp_path / "b.yaml")


# ---------------------------------------------------------------------------------------------
# Dockerfile and .dockerignore
# ---------------------------------------------------------------------------------------------


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def args(self, instruction: str) -> list[str]:
        return [a for i, a in self.instructions if i == instruction]


def parse_dockerfile(text: str) -> list[Stage]:
    """Stages of a Dockerfile: (INSTRUCTION, arguments) with continuations joined, ARGs expanded."""
    logical, current = [], ""
    for line in text.splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            current += line.rstrip()[:-1] + " "
        else:
            logical.append(current + line)
            current = ""
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for entry in logical:
        instruction, _, args = entry.strip().partition(" ")
        instruction, args = instruction.upper(), " ".join(args.split())
        if instruction == "ARG" and not stages:
            key, _, value = args.partition("=")
            global_args[key] = value
        elif instruction == "FROM":
            image, _, alias = re.sub(r"\$\{(\w+)\}", lambda m: global_args[m[1]], args).partition(" AS ")
            stages.append(Stage(image.strip(), alias.strip() or None))
        else:
            stages[-1].instructions.append((instruction, args))
    return stages


BUILD_TOOLS = re.compile(r"\b(apt-get|apt|apk|gcc|g\+\+|make|build-essential|python3?-dev|pip wheel|git)\b")


def dockerfile_problems(text: str) -> list[str]:
    problems = []
    stages = parse_dockerfile(text)
    final = stages[-1]
    if len(stages) < 2 or not any("pip wheel" in a for a in stages[0].args("RUN")):
        problems.append("not a multi-stage build whose first stage builds the wheels")
    for stage in stages:
        if stage.base != "python:3.11-slim":
            problems.append(f"stage {stage.name}: base {stage.base}")
    users = final.args("USER")
    uid = users[-1].split(":")[0] if users else "0"
    if not uid.isdigit() or int(uid) == 0:
        problems.append(f"final stage runs as {users[-1:] or ['root']}: want a numeric non-root USER")
    for run in final.args("RUN"):
        if BUILD_TOOLS.search(run):
            problems.append(f"final stage installs or runs build tools: {run}")
        if "pip install" in run and (
            "--no-index" not in run or "[dev]" in run or re.search(r"\s\.(\s|$)", run)
        ):
            problems.append(f"final stage installs other than the built wheels: {run}")
    if final.args("COPY") or final.args("ADD"):
        problems.append(f"final stage copies sources: {final.args('COPY') + final.args('ADD')}")
    if any("[dev]" in a or ".[" in a for s in stages for _, a in s.instructions):
        problems.append("dev extras in the image")
    env = " ".join(final.args("ENV"))
    for setting in ("PYTHONDONTWRITEBYTECODE=1", "PYTHONUNBUFFERED=1"):
        if setting not in env:
            problems.append(f"final stage lacks ENV {setting}")
    if final.args("ENTRYPOINT") != ['["capacity"]'] or final.args("CMD") != ['["--help"]']:
        problems.append(f"ENTRYPOINT {final.args('ENTRYPOINT')} CMD {final.args('CMD')}")
    if str(DASHBOARD_PORT) not in " ".join(final.args("EXPOSE")).split():
        problems.append(f"does not EXPOSE {DASHBOARD_PORT}")
    return problems


def test_dockerfile() -> None:
    text = DOCKERFILE.read_text()
    assert dockerfile_problems(text) == []
    stages = parse_dockerfile(text)
    assert [s.name for s in stages] == ["build", None]
    # The pods' runAsUser is the image's user: files the image owns are the pods' own.
    uid = int(stages[-1].args("USER")[-1].split(":")[0])
    for path in OVERLAYS:
        for workload in workloads(render(path)):
            assert pod_spec(workload)["securityContext"]["runAsUser"] == uid == 10001


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("USER 10001:10001", "USER root", "non-root"),
        ("USER 10001:10001", "USER capacity", "numeric"),
        ("USER 10001:10001\n", "", "root"),
        ("ENTRYPOINT", "RUN apt-get update && apt-get install -y gcc\nENTRYPOINT", "build tools"),
        ("ENTRYPOINT", "COPY . /src\nENTRYPOINT", "copies sources"),
        ("--find-links=/wheels", "--find-links=/wheels '.[dev]'", "dev extras"),
        ("--no-index ", "", "other than the built wheels"),
        ("FROM ${PYTHON_IMAGE}\nRUN groupadd", "FROM python:3.12\nRUN groupadd", "base python:3.12"),
        ("    PYTHONUNBUFFERED=1 \\\n", "", "PYTHONUNBUFFERED"),
        ('CMD ["--help"]', 'CMD ["collect"]', "CMD"),
    ],
)
def test_dockerfile_checker_flags_a_broken_dockerfile(old: str, new: str, expected: str) -> None:
    text = DOCKERFILE.read_text()
    assert old in text
    problems = dockerfile_problems(text.replace(old, new, 1))
    assert any(expected in p for p in problems), problems


def dockerignore_excludes(patterns: list[str], path: str) -> bool:
    """Whether Docker leaves `path` out of the build context: the last pattern matching the path
    or one of its parent directories wins; `!` re-includes; `*` stays within one path element."""

    def regex(pattern: str) -> re.Pattern[str]:
        out = ""
        for token in re.split(r"(\*\*/|\*\*|\*|\?)", pattern):
            out += {"**/": "(.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}.get(token, re.escape(token))
        return re.compile(out)

    parts = PurePosixPath(path).parts
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        compiled = regex(pattern.lstrip("!").strip("/"))
        if any(compiled.fullmatch(p) for p in prefixes):
            excluded = not negate
    return excluded


def test_dockerignore_keeps_what_the_build_copies_and_nothing_else() -> None:
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    copied = [
        src
        for stage in parse_dockerfile(DOCKERFILE.read_text())
        for args in stage.args("COPY")
        if not args.startswith("--from")
        for src in shlex.split(args)[:-1]
    ]
    assert copied
    for src in copied:
        src = src.rstrip("/")
        assert (REPO / src).exists(), src
        assert not dockerignore_excludes(patterns, src), src
        for path in (REPO / src).rglob("*.py") if (REPO / src).is_dir() else []:
            rel = path.relative_to(REPO).as_posix()
            assert dockerignore_excludes(patterns, rel) == ("__pycache__" in rel), rel
    left_out = [
        ".git/config", ".venv/bin/python", "tests/test_deploy.py", "capacity.egg-info/PKG-INFO",
        "capacity.db", "capacity/cli.pyc", "collectors/__pycache__/kube.cpython-311.pyc", "deploy/base",
    ]  # fmt: skip
    for path in left_out:
        assert dockerignore_excludes(patterns, path), path


def test_dockerignore_matcher() -> None:
    assert dockerignore_excludes(["*", "!capacity/"], "capacity.egg-info/x")
    assert not dockerignore_excludes(["*", "!capacity/"], "capacity/db/x.py")
    assert dockerignore_excludes(["**/*.db"], "a/b/c.db") and dockerignore_excludes(["**/*.db"], "c.db")
    assert not dockerignore_excludes(["*.db"], "a/c.db")


# ---------------------------------------------------------------------------------------------
# docs/deploy.md names real files
# ---------------------------------------------------------------------------------------------


def test_deploy_docs_name_existing_paths() -> None:
    text = (REPO / "docs" / "deploy.md").read_text()
    paths = set(re.findall(r"\bdeploy/[\w./-]*[\w/]", text))
    assert len(paths) >= 3, paths
    for path in paths:
        assert (REPO / path).exists(), path
    for name in ("capacity-database", "CAPACITY_DATABASE_URL", "capacity db upgrade", "capacity-cluster"):
        assert name in text, name


# --- constraints.txt: the tested versions are the installed ones ------------------------------


def _pins() -> dict[str, str]:
    from packaging.utils import canonicalize_name

    pins: dict[str, str] = {}
    for line in (REPO / "constraints.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"constraints.txt: {line!r} is not pinned with =="
            pins[canonicalize_name(name)] = version
    return pins


def test_every_declared_dependency_is_pinned_within_its_range() -> None:
    import tomllib

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    pins = _pins()
    for text in declared:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement.name} is not in constraints.txt"
        assert requirement.specifier.contains(pins[name], prereleases=True), (text, pins[name])


def test_the_installed_versions_are_the_pinned_ones() -> None:
    from importlib import metadata

    mismatched = {}
    for name, version in _pins().items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            mismatched[name] = (version, None)
            continue
        if installed != version:
            mismatched[name] = (version, installed)
    assert mismatched == {}, "installed without -c constraints.txt? (pinned, installed): " + repr(mismatched)


def test_make_and_the_image_install_with_the_constraints() -> None:
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    assert '-m pip install --quiet -c constraints.txt -e ".[dev]"' in makefile
    assert "$(STAMP): pyproject.toml constraints.txt" in makefile
    dockerfile = (REPO / "Dockerfile").read_text(encoding="utf-8")
    assert "pip wheel --constraint constraints.txt" in dockerfile and "constraints.txt ./" in dockerfile
    assert "make test" in (REPO / ".ci" / "run").read_text(encoding="utf-8")
