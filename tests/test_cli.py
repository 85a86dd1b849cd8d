"""The `capacity` command: help, one-line errors with exit codes, db upgrade, status output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from capacity.cli import main
from capacity.store.engine import head_revision, open_store
from capacity.store.snapshots import write_snapshot
from tests import factories as f

STATUS_KEYS = {
    "cluster", "snapshots", "first_snapshot", "latest_snapshot", "nodes", "pods", "containers",
    "cpu_allocatable_cores", "memory_allocatable_bytes", "cpu_requested_cores", "memory_requested_bytes",
    "cpu_usage_cores", "memory_usage_bytes", "warnings",
}  # fmt: skip


def one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("capacity: error: ")
    assert "\n" not in err and "Traceback" not in err
    return err


def test_console_script_and_help_everywhere() -> None:
    exe = Path(sys.executable).with_name("capacity")
    for argv in ([], ["collect"], ["status"], ["db"], ["db", "upgrade"]):
        done = subprocess.run([str(exe), *argv, "--help"], capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr
        assert "usage: capacity" in done.stdout


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        ("pricing:\n  currencyy: EUR\n", "pricing.currencyy: unknown key"),
        ("pricing:\n  default_rates:\n    on_demand:\n"
         "      {cpu_core_hour: cheap, memory_gib_hour: 1, gpu_hour: 1}\n",
         "pricing.default_rates.on_demand.cpu_core_hour"),
        ("attribution:\n  team:\n    namespace_rules: [{pattern: '(unclosed', value: x}]\n",
         "attribution.team.namespace_rules.0.pattern: bad regular expression"),
        ("collection:\n  interval_seconds: 5 parsecs\n", "collection.interval_seconds"),
        ("pricing: [\n", "line"),
    ],
)  # fmt: skip
def test_bad_config_is_one_line_naming_key_and_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], yaml_text: str, expected: str
) -> None:
    config = tmp_path / "capacity.yaml"
    config.write_text(yaml_text)
    code = main(["--db", str(tmp_path / "c.db"), "--config", str(config), "status"])
    err = one_line_error(capsys)
    assert code == 2
    assert str(config) in err and expected in err


def test_missing_config_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["status", "--db", str(tmp_path / "c.db"), "--config", str(tmp_path / "nope.yaml")])
    assert code == 2
    assert "nope.yaml" in one_line_error(capsys)


def test_unreachable_postgres_is_one_line_with_password_masked(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--db", "postgresql://capacity:s3cret@127.0.0.1:1/capacity", "status"])
    err = one_line_error(capsys)
    assert code == 3
    assert "s3cret" not in err and "***" in err and "127.0.0.1:1" in err


def test_sqlite_in_missing_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--db", f"sqlite:///{tmp_path}/no/such/dir/c.db", "status"])
    err = one_line_error(capsys)
    assert code == 3 and f"its folder {tmp_path}/no/such/dir does not exist" in err


def test_db_upgrade_then_again(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "upgrade", "--db", db_url]) == 0
    assert f"upgraded from empty to {head_revision()}" in capsys.readouterr().out
    assert main(["db", "upgrade", "--db", db_url]) == 0
    assert f"already at {head_revision()}" in capsys.readouterr().out


def test_status_empty_and_with_data(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status", "--db", db_url]) == 0
    assert "no snapshots yet" in capsys.readouterr().out
    assert main(["status", "--db", db_url, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == []

    engine = open_store(db_url)
    with engine.begin() as conn:
        write_snapshot(conn, f.snapshot("prod"), nominal_interval_seconds=300)
        write_snapshot(conn, f.snapshot("prod", f.T0.replace(hour=1)), nominal_interval_seconds=300)
        write_snapshot(conn, f.snapshot("staging", workloads=1, nodes=1), nominal_interval_seconds=300)
    engine.dispose()

    assert main(["status", "--db", db_url, "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["cluster"] for r in rows] == ["prod", "staging"]
    prod = rows[0]
    assert prod.keys() >= STATUS_KEYS
    assert prod["snapshots"] == 2
    assert prod["first_snapshot"] == "2026-11-01T00:00:00Z"
    assert prod["latest_snapshot"] == "2026-11-01T01:00:00Z"
    assert prod["nodes"] == 2 and prod["pods"] == 6 and prod["containers"] == 6
    assert prod["cpu_allocatable_cores"] == pytest.approx(2 * 3.9)
    assert prod["cpu_requested_cores"] == pytest.approx(2 * 1.0)
    assert prod["cpu_usage_cores"] == pytest.approx(3 * 0.2)
    assert prod["warnings"] == ["pod metrics: example warning"]

    assert main(["status", "--db", db_url, "--cluster", "staging"]) == 0
    table = capsys.readouterr().out
    assert "staging" in table and "prod " not in table
    assert "warning: staging: pod metrics: example warning" in table
