"""Fault suite, bad input: flags, configuration, database URLs and report filters. Each is one line on
stderr naming the culprit, a non-zero exit code, never a traceback, and no secret in the message.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from capacity.cli import main
from capacity.errors import StoreError
from capacity.store.engine import masked, open_store, resolve_url
from capacity.store.snapshots import write_snapshot
from tests import factories as f
from tests.conftest import Fleet


def one_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Traceback" not in err, err
    assert ": error: " in err, err
    return err


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["report", "teams", "--window", "garbage"], "argument --window: not a duration: 'garbage'"),
        (["report", "teams", "--window", "0d"], "duration must be at least a second"),
        (["report", "teams", "--window", "1y"], "not a duration: '1y'"),
        (["report", "teams", "--window", "100000000d"], "duration too long"),
        (["report", "teams", "--start", "yesterday"], "--start 'yesterday' is not a date"),
        (["report", "teams", "--start", "2026-11-02", "--end", "2026-11-01"], "empty window"),
        (["report", "teams", "--by", "galaxy"], "--by galaxy: not a configured dimension"),
        (["collect", "--every", "garbage"], "argument --every: not a duration"),
        (["collect", "--every", "0s"], "argument --every: duration must be at least a second"),
        (["collect", "--timeout", "-1"], "argument --timeout: -1 is out of range"),
        (["collect", "--timeout", "nan"], "argument --timeout: nan is out of range"),
        (["collect", "--page-size", "-1"], "argument --page-size: -1 is out of range"),
        (["collect", "--page-size", "ten"], "argument --page-size: not an integer: 'ten'"),
        (["demo", "--interval", "garbage"], "argument --interval: not a duration"),
        (["demo", "--days", "1e12"], "argument --days: 1e12 is out of range"),
        (["dashboard", "--port", "99999"], "argument --port: 99999 is out of range"),
        (["report", "galaxies"], "argument KIND: invalid choice: 'galaxies'"),
        (["nonsense"], "invalid choice: 'nonsense'"),
    ],
)
def test_bad_flags_are_one_line_with_exit_2(
    argv: list[str], expected: str, sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        code = main(["--db", sqlite_url, *argv])
        raise SystemExit(code)
    line = one_line(capsys)
    assert exit_info.value.code == 2
    assert expected in line


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        (
            "retention: {raw_days: 100000000}\n",
            "retention.raw_days: Input should be less than or equal to 36500",
        ),
        ("rightsizing: {window_days: 1e12}\n", "rightsizing.window_days"),
        ("rightsizing: {window_days: .nan}\n", "rightsizing.window_days"),
        ("collection: {request_timeout_seconds: .inf}\n", "collection.request_timeout_seconds"),
        ("collection: {interval_seconds: 100000000}\n", "collection.interval_seconds"),
        ("collection: {deadline_seconds: 1s}\n", "collection.deadline_seconds"),
        ("collection: {interval_seconds: 1y}\n", "not a duration: '1y'"),
    ],
)
def test_config_values_out_of_range_fail_at_load(
    yaml_text: str, expected: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(yaml_text)
    assert main(["--config", str(config), "--db", f"{tmp_path}/c.db", "status"]) == 2
    line = one_line(capsys)
    assert str(config) in line and expected in line


def _bomb(levels: int) -> str:
    lines = ["pricing:", "  instance_types:", "    a: &a {on_demand: 1}"]
    previous = "a"
    for level in range(1, levels):
        name = chr(ord("a") + level)
        regions = ", ".join(f"r{i}: *{previous}" for i in range(9))
        lines.append(f"    {name}: &{name} {{on_demand: 1, regions: {{{regions}}}}}")
        previous = name
    return "\n".join(lines) + "\n"


@pytest.mark.timeout(60)
def test_a_yaml_alias_bomb_is_refused_at_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "bomb.yaml"
    config.write_text(_bomb(9))  # under 1 KB; 9**8 = 43 million values once expanded
    assert config.stat().st_size < 1024
    started = time.monotonic()
    assert main(["--config", str(config), "--db", f"{tmp_path}/c.db", "status"]) == 2
    assert time.monotonic() - started < 5
    line = one_line(capsys)
    assert "expands to more than 100,000 values (YAML aliases nested or recursive?)" in line


def test_aliases_of_a_sensible_size_are_fine(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(_bomb(3))  # 1 + 9 + 81 instance prices: a real config's scale
    assert main(["--config", str(config), "--db", f"{tmp_path}/c.db", "status"]) == 0


def test_a_recursive_alias_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("shared: &loop\n  namespaces: [*loop]\n")
    assert main(["--config", str(config), "--db", f"{tmp_path}/c.db", "status"]) == 2
    assert "YAML aliases" in one_line(capsys)


# --- database URLs and their secrets --------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://capacity:s3cret@127.0.0.1:1/capacity",
        "postgresql://capacity@127.0.0.1:1/capacity?password=s3cret",
        "postgresql://capacity@127.0.0.1:1/capacity?sslmode=disable&password=s3cret",
        "postgresql:/capacity:s3cret@127.0.0.1:1/capacity",
        "postgres ql://capacity:s3cret@127.0.0.1:1/capacity",
        "postgresql://capacity:s3cret@127.0.0.1:port/capacity",
        "mysql://capacity:s3cret@127.0.0.1:1/capacity",
    ],
    ids=["userinfo", "query", "query-later", "one-slash", "space", "bad-port", "no-driver"],
)
def test_a_password_never_reaches_the_message(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--db", url, "status"])
    line = one_line(capsys)
    assert code == 3
    assert "s3cret" not in line and "***" in line


def test_masking_leaves_urls_without_secrets_alone() -> None:
    assert masked("sqlite:////var/lib/capacity/capacity.db") == "sqlite:////var/lib/capacity/capacity.db"
    assert masked("postgresql+psycopg://u:pw@db:5432/c?sslmode=require") == (
        "postgresql+psycopg://u:***@db:5432/c?sslmode=require"
    )


def test_a_mistyped_url_is_not_taken_for_a_file_name(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match=r"not a database URL: postgresql:/u:\*\*\*@h/db"):
        resolve_url("postgresql:/u:pw@h/db")
    assert resolve_url(str(tmp_path / "c.db")) == f"sqlite:///{tmp_path}/c.db"
    assert resolve_url("relative/c.db") == "sqlite:///relative/c.db"


# --- readers do not create databases; filters that match nothing say so ----------------------------


def test_the_dashboard_refuses_a_missing_sqlite_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "typo.db"
    assert main(["--db", str(missing), "dashboard", "--port", "18599"]) == 3
    line = one_line(capsys)
    assert "typo.db does not exist: collect into it first" in line
    assert not missing.exists()


def test_the_dashboards_store_refuses_a_missing_sqlite_file(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="does not exist"):
        open_store(f"sqlite:///{tmp_path}/typo.db", must_exist=True)
    assert not (tmp_path / "typo.db").exists()


@pytest.fixture
def stored(sqlite_url: str) -> str:
    engine = open_store(sqlite_url)
    with engine.begin() as conn:
        write_snapshot(conn, f.snapshot("prod"), nominal_interval_seconds=300)
        write_snapshot(conn, f.snapshot("staging"), nominal_interval_seconds=300)
    engine.dispose()
    return sqlite_url


WINDOW = ["--start", "2026-10-31", "--end", "2026-11-02"]


def test_report_for_an_unknown_cluster_names_the_known_ones(
    stored: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--db", stored, "report", "teams", *WINDOW, "--cluster", "prod-typo"]) == 2
    line = one_line(capsys)
    assert "--cluster prod-typo: no such cluster in the store (known: prod, staging)" in line


def test_report_for_a_team_with_no_rows_says_which_teams_there_are(
    stored: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--db", stored, "report", "teams", *WINDOW, "--team", "checkuot"]) == 0
    out, err = capsys.readouterr()
    assert "(no rows)" in out
    assert "--team checkuot matched nothing in the window (teams in it: checkout)" in err
    assert main(["--db", stored, "report", "teams", *WINDOW, "--team", "checkout"]) == 0
    assert "matched nothing" not in capsys.readouterr().err


def test_help_still_works_everywhere_after_the_one_line_errors() -> None:
    exe = Path(sys.executable).with_name("capacity")
    done = subprocess.run([str(exe), "report", "--help"], capture_output=True, text=True, check=False)
    assert done.returncode == 0 and "usage: capacity report" in done.stdout


def _checked_options() -> list[tuple[str, ...]]:
    """(subcommand..., option) for every flag of every subcommand that parses its value."""
    import argparse

    from capacity.cli import build_parser

    found: list[tuple[str, ...]] = []

    def walk(parser: argparse.ArgumentParser, path: tuple[str, ...]) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(sub, (*path, name))
            elif action.option_strings and (action.type is not None or action.choices is not None):
                found.append((*path, action.option_strings[-1]))

    walk(build_parser(), ())
    return found


CHECKED_OPTIONS = _checked_options()
MALFORMED = {"--columns": ", ,"}  # any text names columns; a list of no names is malformed


def test_every_subcommand_is_walked() -> None:
    commands = {path[0] for path in CHECKED_OPTIONS}
    assert {"collect", "backfill", "report", "demo", "dashboard", "status"} <= commands, commands
    assert len(CHECKED_OPTIONS) >= 12


@pytest.mark.parametrize("path", CHECKED_OPTIONS, ids=lambda p: " ".join(p))
def test_every_checked_flag_refuses_a_malformed_value(
    path: tuple[str, ...], sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    *command, option = path
    positional = ["teams"] if command == ["report"] else []
    with pytest.raises(SystemExit) as exit_info:
        malformed = MALFORMED.get(option, "12 parsecs")
        raise SystemExit(main(["--db", sqlite_url, *command, *positional, option, malformed]))
    line = one_line(capsys)
    assert exit_info.value.code == 2
    assert f"argument {option}" in line or option in line, line


def test_a_bare_window_is_days_and_m_is_minutes_everywhere(
    simulated_fleet: Fleet, capsys: pytest.CaptureFixture[str]
) -> None:
    from datetime import UTC, datetime

    from capacity.durations import duration_days, parse_duration

    fleet_db = simulated_fleet(days=2, seed=2, now=datetime(2026, 11, 20, 15, 7, tzinfo=UTC))

    assert parse_duration("30", bare="d") == 30 * 86400 == parse_duration("30d")
    assert parse_duration("90m", bare="d") == 5400 == parse_duration("90m")
    assert duration_days("90m") == 1 and duration_days("3w") == 21
    end = ["--end", "2026-11-20T14:00", "--format", "json"]
    assert main(["report", "clusters", "--db", fleet_db, "--window", "30", *end]) == 0
    bare = capsys.readouterr().out
    assert main(["report", "clusters", "--db", fleet_db, "--window", "30d", *end]) == 0
    assert capsys.readouterr().out == bare != "[]"
