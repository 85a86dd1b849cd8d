"""The dashboard under Streamlit's AppTest, against real SQLite databases."""

from __future__ import annotations

from pathlib import Path

import factories as f
import pytest
from streamlit.testing.v1 import AppTest

from capacity.db.engine import open_store
from capacity.db.store import write_snapshot

APP = str(Path(__file__).resolve().parents[1] / "dashboard" / "app.py")


def run_app(url: str, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("CAPACITY_DATABASE_URL", url)
    app = AppTest.from_file(APP, default_timeout=30)
    app.run()
    return app


def test_empty_database_says_how_to_start(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    app = run_app(sqlite_url, monkeypatch)
    assert not app.exception
    assert any("No snapshots yet" in i.value for i in app.info)
    assert any("capacity demo" in i.value for i in app.info)


def test_clusters_page_shows_the_latest_snapshots(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = open_store(sqlite_url)
    with engine.begin() as conn:
        write_snapshot(conn, f.snapshot("prod", workloads=3, nodes=2), nominal_interval_seconds=300)
        write_snapshot(conn, f.snapshot("staging", workloads=1, nodes=1), nominal_interval_seconds=300)
    engine.dispose()
    app = run_app(sqlite_url, monkeypatch)
    assert not app.exception and not app.error
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Clusters"] == "2"
    assert metrics["Nodes"] == "3"
    assert metrics["Pods"] == "8"
    frame = app.dataframe[0].value
    assert list(frame["cluster"]) == ["prod", "staging"]
    assert list(frame["pods"]) == [6, 2]


def test_unreachable_database_is_an_error_box_with_masked_url(monkeypatch: pytest.MonkeyPatch) -> None:
    app = run_app("postgresql://capacity:s3cret@127.0.0.1:1/capacity", monkeypatch)
    assert not app.exception
    [error] = app.error
    assert "127.0.0.1:1" in error.value and "***" in error.value and "s3cret" not in error.value
    assert [b.label for b in app.button] == ["Retry"]
