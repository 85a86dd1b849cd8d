"""Volumes and load balancers, end to end: the real client against the loopback API serving a
real k3s cluster's PVs, claims, StorageClass and Services beside generated ones; what lands in
the store is checked against figures computed here from the same JSON."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes.utils.quantity import parse_quantity
from sqlalchemy import create_engine, select

from capacity.records import CLAIM_HOLDER, SERVICE_HOLDER, VOLUME_HOLDER
from capacity.store import schema as m
from collectors.source import Kind
from tests import k8s_fixtures as fx
from tests.collect_harness import claim_object, collect, pod_object, serve_k3s, status, volume_object
from tests.kubeapi import Body, FakeKubeAPI, Html

GIB = 1024.0**3


@pytest.fixture
def api() -> Iterator[FakeKubeAPI]:
    with FakeKubeAPI() as server:
        yield server


def _rows(url: str, model: Any, *columns: str) -> list[tuple[Any, ...]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            table = model.__table__
            return sorted((tuple(r) for r in conn.execute(select(*(table.c[c] for c in columns)))), key=repr)
    finally:
        engine.dispose()


def _held(url: str) -> dict[tuple[str, str, str], float]:
    """What each workload (namespace, kind, name) held in the one snapshot: summed amounts."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            query = select(
                m.Workload.namespace, m.Workload.kind, m.Workload.name, m.AssetAllocation.amount
            ).join(m.AssetAllocation, m.AssetAllocation.workload_id == m.Workload.id)
            held: dict[tuple[str, str, str], float] = {}
            for ns, kind, name, amount in conn.execute(query):  # a row per asset key: volumes, LBs
                held[(ns, kind, name)] = held.get((ns, kind, name), 0.0) + float(amount)
            return held
    finally:
        engine.dispose()


def test_k3s_orphaned_claims_and_traefik_load_balancer_land_as_in_the_json(
    api: FakeKubeAPI, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    serve_k3s(api)
    assert collect(api, db_url, tmp_path, cluster="k3s") == 0

    pvs = fx.k3s_volumes()
    columns = ("volume", "capacity_bytes", "phase", "claim_namespace", "claim_name", "mounted_pods",
               "reclaim_policy")  # fmt: skip
    volumes = _rows(db_url, m.VolumeSample, *columns)
    expected = [
        (
            pv["metadata"]["name"],
            float(parse_quantity(pv["spec"]["capacity"]["storage"])),
            pv["status"]["phase"],
            pv["spec"]["claimRef"]["namespace"],
            pv["spec"]["claimRef"]["name"],
            0,  # no running pod mounts a redis claim: orphaned disks
            pv["spec"]["persistentVolumeReclaimPolicy"],
        )
        for pv in pvs
    ]
    assert volumes == sorted(expected, key=repr)
    requested = {
        (c["metadata"]["namespace"], c["metadata"]["name"]): float(
            parse_quantity(c["spec"]["resources"]["requests"]["storage"])
        )
        for c in fx.k3s_claims()
    }
    stored = _rows(db_url, m.VolumeSample, "claim_namespace", "claim_name", "claim_requested_bytes")
    assert {(ns, name): bytes_ for ns, name, bytes_ in stored} == requested
    [(kind, storage_class, provisioner, local)] = {
        r
        for r in _rows(db_url, m.AssetKeyRow, "kind", "storage_class", "provisioner", "local")
        if r[0] == "volume"
    }
    [sc] = fx.k3s_storage_classes()
    assert (storage_class, provisioner, local) == ("local-path", sc["provisioner"], True)  # hostPath volumes

    held = _held(db_url)
    # each orphaned claim is its namespace's, whole; the traefik LB selects the one traefik pod
    claims = {(c["metadata"]["namespace"], CLAIM_HOLDER, c["metadata"]["name"]): c for c in fx.k3s_claims()}
    for key, claim in claims.items():
        assert held[key] == float(parse_quantity(claim["status"]["capacity"]["storage"]))
    [lb] = [s for s in fx.k3s_services() if s["spec"]["type"] == "LoadBalancer"]
    selected = [
        p for p in fx.k3s_pods()
        if p["metadata"]["namespace"] == lb["metadata"]["namespace"] and p["status"]["phase"] == "Running"
        and all(p["metadata"].get("labels", {}).get(k) == v for k, v in lb["spec"]["selector"].items())
    ]  # fmt: skip
    assert len(selected) == 1
    [(namespace, kind, name)] = [k for k in held if k not in claims]
    assert (namespace, name) == (lb["metadata"]["namespace"], "traefik")
    assert kind not in (SERVICE_HOLDER, CLAIM_HOLDER, VOLUME_HOLDER)  # a workload of pods: the Deployment's
    assert held[(namespace, kind, name)] == 1.0
    [(lb_name, ingress, pods)] = _rows(db_url, m.LoadBalancerSample, "name", "ingress", "selected_pods")
    assert (lb_name, ingress, pods) == ("traefik", [lb["status"]["loadBalancer"]["ingress"][0]["ip"]], 1)
    [row] = status(db_url, capsys)
    assert not [w for w in row["warnings"] if "volume" in w or "service" in w], row["warnings"]


def test_claims_split_between_the_pods_mounting_them_and_bad_objects_warn(
    api: FakeKubeAPI, sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gp3 = {"metadata": {"name": "gp3"}, "provisioner": "ebs.csi.aws.com", "parameters": {"type": "gp3"}}
    lb = {"metadata": {"namespace": "shop", "name": "front"},
          "spec": {"type": "LoadBalancer", "selector": {"app": "front"},
                   "loadBalancerClass": "service.k8s.aws/nlb"},
          "status": {"loadBalancer": {"ingress": [{"hostname": "front.elb.example"}]}}}  # fmt: skip
    idle_lb = copy.deepcopy(lb)
    idle_lb["metadata"]["name"], idle_lb["spec"]["selector"] = "nobody", {"app": "gone"}
    serve_k3s(
        api,
        storageclasses=[gp3],
        persistentvolumeclaims=[
            claim_object("shop", "shared", "pv-shared"),
            claim_object("shop", "data-db-0", "pv-db-0"),
            claim_object("shop", "lost", "pv-missing"),
            claim_object("shop", "waiting", None),
        ],
        persistentvolumes=[
            volume_object("pv-shared", "30Gi", ("shop", "shared")),
            volume_object("pv-db-0", "100Gi", ("shop", "data-db-0")),
            volume_object("pv-released", "5Gi", ("shop", "deleted"), phase="Released"),
            volume_object("pv-free", "1Ti", None, phase="Available"),
            volume_object("pv-empty", None, None, phase="Available"),
            volume_object("pv-odd", "1Gi", None, storage_class="nowhere"),
        ],
        pods=[
            # three pods of two workloads mount the shared claim; db-0 its own claim too
            pod_object("db-0", "db", ["data-db-0", "shared"]),
            pod_object("web-0", "web", ["shared"], {"app": "front"}),
            pod_object("web-1", "web", ["shared"], {"app": "front"}),
        ],
        services=[lb, idle_lb],
    )
    assert collect(api, sqlite_url, tmp_path, cluster="k3s") == 0
    held = _held(sqlite_url)
    shop = {k: v for k, v in held.items() if k[0] in ("shop", "")}
    assert shop == pytest.approx({
        ("shop", "StatefulSet", "db"): 100 * GIB + 30 * GIB / 3,
        ("shop", "StatefulSet", "web"): 30 * GIB * 2 / 3 + 1.0,  # and the whole front LB
        ("shop", SERVICE_HOLDER, "nobody"): 1.0,
        ("", VOLUME_HOLDER, "pv-released"): 5 * GIB,  # its claim is gone: nobody's
        ("", VOLUME_HOLDER, "pv-free"): 1024 * GIB,
        ("", VOLUME_HOLDER, "pv-empty"): 0.0,
        ("", VOLUME_HOLDER, "pv-odd"): GIB,
    })  # fmt: skip
    classes = {
        r[0]: r[1:]
        for r in _rows(sqlite_url, m.AssetKeyRow, "storage_class", "provisioner", "parameters")
        if r[0]
    }
    assert classes["gp3"] == ("ebs.csi.aws.com", {"type": "gp3"})
    assert classes["nowhere"] == ("ebs.csi.aws.com", {})  # from the volume's CSI driver
    [row] = status(sqlite_url, capsys)
    warnings = "\n".join(row["warnings"])
    assert (
        "persistentvolumeclaim shop/lost is bound to volume pv-missing, which is not in the volume list"
        in warnings
    )
    assert "persistentvolume pv-empty has no capacity" in warnings
    assert "persistentvolume pv-odd: storage class nowhere is not in the StorageClass list" in warnings
    assert (
        "1 LoadBalancer service(s) select no running pod, billed to their namespace: shop/nobody" in warnings
    )


def test_forbidden_volume_kinds_degrade_with_warnings(
    api: FakeKubeAPI, sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    serve_k3s(api)
    for kind in (Kind.PERSISTENTVOLUMES, Kind.PERSISTENTVOLUMECLAIMS, Kind.STORAGECLASSES, Kind.SERVICES):
        api.inject(kind.path, 403)
    assert collect(api, sqlite_url, tmp_path, cluster="k3s") == 0
    [row] = status(sqlite_url, capsys)
    forbidden = [w for w in row["warnings"] if "forbidden" in w.lower()]
    assert len(forbidden) == 4, row["warnings"]
    assert any("volumes not billed" in w for w in forbidden)
    assert any("load balancers not billed" in w for w in forbidden)
    assert row["pods"] > 0
    assert _held(sqlite_url) == {}


def test_malformed_and_duplicated_objects_warn_and_the_snapshot_lands(
    api: FakeKubeAPI, sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    [traefik] = [s for s in fx.k3s_services() if s["spec"]["type"] == "LoadBalancer"]
    bad_claim = claim_object("shop", "odd", None)
    bad_claim["spec"]["resources"]["requests"]["storage"] = "lots"
    serve_k3s(
        api,
        persistentvolumes=[volume_object("pv-bad", "ten gigs", None)],
        persistentvolumeclaims=[bad_claim],
        services=[
            copy.deepcopy(traefik),
            {"metadata": {"namespace": "shop", "name": "odd"}, "spec": ["LoadBalancer"]},
        ],
    )  # the traefik Service listed twice: billed once
    assert collect(api, sqlite_url, tmp_path, cluster="k3s") == 0
    [row] = status(sqlite_url, capsys)
    warnings = row["warnings"]
    assert any(w.startswith("persistentvolume pv-bad: malformed object ignored") for w in warnings)
    assert any(
        w.startswith("persistentvolumeclaim shop/odd: requested storage 'lots' ignored") for w in warnings
    )
    assert "service kube-system/traefik listed twice: the first kept" in warnings
    assert any(w.startswith("service shop/odd spec is a list") for w in warnings)
    names = [r[0] for r in _rows(sqlite_url, m.VolumeSample, "volume")]
    assert "pv-bad" not in names and len(names) == len(fx.k3s_volumes())
    assert [r[0] for r in _rows(sqlite_url, m.LoadBalancerSample, "name")] == ["traefik"]
    assert _held(sqlite_url)[("kube-system", "Deployment", "traefik")] == 1.0


def test_without_claims_a_released_volume_is_nobodys_and_without_volumes_no_claim_warns(
    api: FakeKubeAPI, sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    released = volume_object("pv-old", "5Gi", ("default", "deleted-claim"), phase="Released")
    serve_k3s(api, persistentvolumes=[released])
    api.inject(Kind.PERSISTENTVOLUMECLAIMS.path, 403)
    assert collect(api, sqlite_url, tmp_path, cluster="k3s") == 0
    held = _held(sqlite_url)
    # the bound redis volumes follow their claimRef; the Released one's claim is gone
    assert held[("", VOLUME_HOLDER, "pv-old")] == 5 * GIB
    assert ("default", CLAIM_HOLDER, "deleted-claim") not in held
    assert sum(1 for k in held if k[1] == CLAIM_HOLDER) == len(fx.k3s_claims())

    db = tmp_path / "second.db"
    serve_k3s(api)
    api.inject(Kind.PERSISTENTVOLUMES.path, 403)
    assert collect(api, f"sqlite:///{db}", tmp_path, cluster="k3s") == 0
    [row] = status(f"sqlite:///{db}", capsys)
    assert [w for w in row["warnings"] if "persistentvolume" in w.lower()] == [
        next(w for w in row["warnings"] if "volumes not billed" in w)
    ]  # one line for the list, none per claim


def test_a_volume_or_service_list_that_is_not_a_page_degrades_in_one_line(
    api: FakeKubeAPI, sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    serve_k3s(api)
    api.persist(Kind.PERSISTENTVOLUMES.path, Html())
    api.persist(Kind.SERVICES.path, Body({"kind": "ServiceList", "metadata": {}, "items": None}))
    assert collect(api, sqlite_url, tmp_path, cluster="k3s") == 0
    [row] = status(sqlite_url, capsys)
    html = (
        "cluster k3s: the persistentvolumes list answered with HTML, not JSON (a proxy or a login page "
        "in the way?) (after 5 attempts); volumes not billed"
    )
    assert html in row["warnings"]
    assert (
        "cluster k3s: the services list answered without an items array (null); load balancers not billed"
        in (row["warnings"])
    )
    assert _held(sqlite_url) == {} and row["pods"] > 0  # no volume listed: no claim is billed either
