"""The whole bill in reports: volumes and load balancers charged to teams, re-priced from config,
split at a price change, and Σ teams + idle + unmounted = nodes + volumes + LBs + fees, to the cent.

A real k3s cluster's objects (four orphaned 8Gi redis claims on ``local-path``, a traefik
LoadBalancer) and generated ones (gp3 claims mounted by StatefulSet pods, a volume without a
claim, an NLB) are served by the loopback API and collected three times by the real client.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from capacity.analysis.costs import IDLE, UNMOUNTED
from capacity.cli import main
from capacity.config import Config, config_from_mapping
from capacity.reports import ReportRequest, build_report
from capacity.store.engine import open_store
from tests.collect_harness import claim_object, collect_at, pod_object, serve_k3s, volume_object
from tests.kubeapi import FakeKubeAPI

GIB = 1024.0**3
STEP = timedelta(minutes=5)
FIRST = datetime(2026, 11, 30, 23, 50, tzinfo=UTC)
INSTANTS = [FIRST + i * STEP for i in range(4)]  # 23:50 .. 00:05, each standing for 5 minutes
WINDOW = (FIRST - STEP, INSTANTS[-1] + STEP)
LOCAL_GIB_HOUR, GP3_GIB_HOUR, NLB_HOURLY, FEE_HOURLY = 0.0001, 0.0002, 0.03, 0.10


def config(**pricing: Any) -> Config:
    return config_from_mapping({
        "pricing": {
            "storage_classes": {"local-path": {"gib_hour": LOCAL_GIB_HOUR},
                                "gp3": {"gib_hour": GP3_GIB_HOUR}},
            "load_balancer_classes": {"service.k8s.aws/nlb": NLB_HOURLY},
            **pricing,
        },
        "attribution": {"team": {"label_keys": ["team"]}},
        "shared": {"overheads": [{"name": "control plane", "hourly": FEE_HOURLY}]},
    })  # fmt: skip


@pytest.fixture
def store(db_url: str) -> Iterator[str]:
    gp3 = {"metadata": {"name": "gp3"}, "provisioner": "ebs.csi.aws.com", "parameters": {"type": "gp3"}}
    nlb = {
        "metadata": {"namespace": "shop", "name": "front"},
        "spec": {
            "type": "LoadBalancer",
            "selector": {"app": "db"},
            "loadBalancerClass": "service.k8s.aws/nlb",
        },
    }
    with FakeKubeAPI() as api:
        serve_k3s(
            api,
            namespaces=[],
            storageclasses=[gp3],
            persistentvolumeclaims=[claim_object("shop", "data-db-0", "pv-db-0")],
            persistentvolumes=[volume_object("pv-db-0", "100Gi", ("shop", "data-db-0")),
                               volume_object("pv-spare", "50Gi", None, phase="Available")],
            pods=[pod_object("db-0", "db", ["data-db-0"], {"app": "db", "team": "shop-team"})],
            services=[nlb],
        )  # fmt: skip
        api.set_items("/api/v1/namespaces", [
            {"metadata": {"name": "default", "labels": {"team": "redis-team"}}},
            {"metadata": {"name": "kube-system", "labels": {"team": "platform"}}},
            {"metadata": {"name": "shop", "labels": {"team": "shop-team"}}},
        ])  # fmt: skip
        collect_at(api, db_url, "k3s", config(), INSTANTS)
    yield db_url


def report(url: str, kind: str, cfg: Config, **request: Any) -> pd.DataFrame:
    engine = open_store(url)
    try:
        with engine.connect() as conn:
            return build_report(conn, ReportRequest(kind, *WINDOW, **request), cfg)
    finally:
        engine.dispose()


HOURS = len(INSTANTS) * STEP.total_seconds() / 3600.0
REDIS = 4 * 8 * LOCAL_GIB_HOUR * HOURS  # the k3s bundle's four orphaned claims: their namespace's
DB = 100 * GP3_GIB_HOUR * HOURS
SPARE = 50 * GP3_GIB_HOUR * HOURS  # no claim: __unmounted__
TRAEFIK = 0.025 * HOURS  # the default LB price: it has no class
FRONT = NLB_HOURLY * HOURS


def test_teams_are_charged_their_volumes_and_load_balancers(store: str) -> None:
    teams = report(store, "teams", config()).set_index("team")
    assert teams.loc["redis-team", "storage_cost"] == pytest.approx(REDIS)
    assert teams.loc["shop-team", "storage_cost"] == pytest.approx(DB)
    assert teams.loc["shop-team", "network_cost"] == pytest.approx(FRONT)
    # kube-system is shared (the default): traefik's LB is in the fees and shared costs teams carry
    namespaces = report(store, "namespaces", config()).set_index("namespace")
    assert namespaces.loc["kube-system", "network_cost"] == pytest.approx(TRAEFIK)
    assert "platform" not in teams.index
    shared = namespaces.loc["kube-system", "total_cost"] + FEE_HOURLY * HOURS
    assert teams["shared_cost"].sum() == pytest.approx(shared)
    assert teams.loc[UNMOUNTED, "storage_cost"] == pytest.approx(SPARE)
    assert teams.loc[UNMOUNTED, "total_cost"] == pytest.approx(SPARE)
    assert teams.loc[UNMOUNTED, "shared_cost"] == 0.0  # nobody's: it carries no fee


def test_teams_idle_and_unmounted_add_up_to_the_whole_bill(store: str) -> None:
    nodes = report(store, "clusters", config())["total_cost"].sum()
    fees = FEE_HOURLY * HOURS
    for idle in ("separate", "share"):
        teams = report(store, "teams", config(), idle=idle)
        assert round(teams["total_cost"].sum(), 2) == round(
            nodes + REDIS + DB + SPARE + TRAEFIK + FRONT + fees, 2
        )
        assert teams["total_cost"].sum() == pytest.approx(nodes + REDIS + DB + SPARE + TRAEFIK + FRONT + fees)
        assert (IDLE in set(teams["team"])) == (idle == "separate")
    chargeback = report(store, "chargeback", config())
    assert chargeback["total_cost"].sum() == pytest.approx(
        nodes + REDIS + DB + SPARE + TRAEFIK + FRONT + fees
    )


def test_a_price_in_config_reprices_history_and_a_dated_change_splits_at_midnight(store: str) -> None:
    doubled = report(
        store,
        "teams",
        config(
            storage_classes={
                "local-path": {"gib_hour": LOCAL_GIB_HOUR},
                "gp3": {"gib_hour": 2 * GP3_GIB_HOUR},
            }
        ),
    ).set_index("team")
    assert doubled.loc["shop-team", "storage_cost"] == pytest.approx(2 * DB)
    assert doubled.loc[UNMOUNTED, "storage_cost"] == pytest.approx(2 * SPARE)
    assert doubled.loc["redis-team", "storage_cost"] == pytest.approx(REDIS)  # another class: unchanged
    # from 2026-12-01 gp3 costs three times as much: the snapshots at 00:00 and 00:05 pay it
    dated = report(
        store,
        "teams",
        config(changes=[{"since": "2026-12-01", "storage_classes": {"gp3": {"gib_hour": 3 * GP3_GIB_HOUR}}}]),
    ).set_index("team")
    assert dated.loc["shop-team", "storage_cost"] == pytest.approx(DB / 2 + 3 * DB / 2)
    assert dated.loc["redis-team", "storage_cost"] == pytest.approx(REDIS)


def test_the_volumes_report_lists_every_volume_with_its_cost_and_unmounted_time(store: str) -> None:
    volumes = report(store, "volumes", config()).set_index("volume")
    assert len(volumes) == 4 + 2
    db = volumes.loc["pv-db-0"]
    assert (db["claim_namespace"], db["claim_name"], db["team"], db["storage_class"]) == (
        "shop", "data-db-0", "shop-team", "gp3")  # fmt: skip
    assert (db["size_gib"], db["price_source"], db["mounted_hours"], db["unmounted_cost"]) == (
        100.0, "config", pytest.approx(HOURS), 0.0)  # fmt: skip
    assert db["cost"] == pytest.approx(DB)
    spare = volumes.loc["pv-spare"]
    assert (spare["team"], spare["claim_name"], spare["mounted_hours"]) == (UNMOUNTED, "", 0.0)
    assert spare["unmounted_cost"] == pytest.approx(spare["cost"]) and spare["cost"] == pytest.approx(SPARE)
    redis = volumes[volumes["claim_namespace"] == "default"]
    assert (
        len(redis) == 4 and set(redis["team"]) == {"redis-team"} and set(redis["price_source"]) == {"config"}
    )
    assert redis["unmounted_cost"].sum() == pytest.approx(REDIS)  # orphaned disks
    assert list(volumes["cost"]) == sorted(volumes["cost"], reverse=True)
    # without a price for local-path, hostPath volumes are part of the node: no cost of their own
    plain = report(store, "volumes", Config())
    assert set(plain.loc[plain["storage_class"] == "local-path", "price_source"]) == {"node"}
    assert plain.loc[plain["storage_class"] == "local-path", "cost"].sum() == 0.0
    by_day = report(store, "volumes", config(), step="day")
    assert set(by_day["period_start"]) == {"2026-11-30T23:45:00Z", "2026-12-01T00:00:00Z"}
    assert by_day["cost"].sum() == pytest.approx(volumes["cost"].sum())
    assert set(report(store, "volumes", config(), teams=("shop-team",))["volume"]) == {"pv-db-0"}


def test_the_cli_says_how_volumes_and_load_balancers_were_priced(
    store: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config_file = tmp_path / "config.yaml"
    config_file.write_text(
        yaml.safe_dump({"pricing": {"storage_classes": {"gp3": {"gib_hour": GP3_GIB_HOUR}}}})
    )
    window = ["--start", WINDOW[0].isoformat(), "--end", WINDOW[1].isoformat()]
    assert (
        main(["--db", store, "--config", str(config_file), "report", "volumes", *window, "--format", "csv"])
        == 0
    )
    out, err = capsys.readouterr()
    volumes = pd.read_csv(io.StringIO(out))
    assert len(volumes) == 6 and set(volumes["price_source"]) == {"config", "node"}
    # local-path has no price here: its four hostPath volumes are part of the node
    assert "pricing of the 6 volumes in the latest snapshots: 2 by config, 4 by node" in err
    assert "pricing of the 2 load balancers in the latest snapshots: 2 by default" in err
