"""Report output for people: numbers formatted by what they hold, default columns, --columns, totals."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from io import StringIO

import numpy as np
import pandas as pd
import pytest

from capacity.cli import main
from capacity.errors import UsageError
from capacity.tables import DEFAULT_COLUMNS, render, table
from tests.conftest import Fleet

NOW = datetime(2026, 11, 20, 15, 7, tzinfo=UTC)
WINDOW = ["--start", "2026-11-19T00:00", "--end", "2026-11-20T12:00"]


def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "team": ["payments", "search", "__idle__"],
            "cluster": ["prod", "prod,staging,dev", "prod"],
            "cpu_efficiency": [0.4213, 1.5, np.nan],
            "memory_request_bytes": [1.5 * 2**30, 512 * 2**20, 0.0],
            "cpu_request": [0.0125, 2.0, 0.0],
            "total_cost": [23910.5, 0.004, 1234567.891],
            "pods": [12, 3400, 0],
        }
    )


def cells(text: str) -> list[list[str]]:
    return [
        re.split(r"\s{2,}", line.strip())
        for line in text.splitlines()
        if line and not line.startswith(("-", "("))
    ]


def test_numbers_are_formatted_by_what_they_hold() -> None:
    text = table(frame(), "unknown-kind", currency="EUR")
    rows = cells(text)
    assert rows[0] == list(frame().columns)
    assert rows[1] == ["payments", "prod", "42.1%", "1.50 GiB", "0.013", "23,910.50", "12"]
    assert rows[2] == ["search", "3 clusters", "150.0%", "0.50 GiB", "2.000", "0.00", "3,400"]
    assert rows[3][2] == "-"  # NaN
    assert "e+" not in text and "e-" not in text
    assert text.rstrip().endswith("(money in EUR)")


def test_a_total_row_adds_what_adds_up() -> None:
    rows = cells(table(frame(), "unknown-kind"))
    total = rows[-1]
    assert total[0] == "total"
    assert total[-2:] == ["1,258,478.40", "3,412"]  # money and counts; not efficiencies, not cores
    assert "%" not in " ".join(total)


def test_no_total_for_one_row() -> None:
    assert not re.search(r"^total ", table(frame().head(1), "teams"), re.MULTILINE)


def test_columns_choose_and_order_in_every_format() -> None:
    picked = ["total_cost", "team"]
    assert cells(table(frame(), "teams", columns=picked))[0] == picked
    assert render(frame(), "csv", columns=picked).splitlines()[0] == "total_cost,team"
    assert list(json.loads(render(frame(), "json", columns=picked))[0]) == picked
    with pytest.raises(UsageError, match=r"--columns nope: no such column .*team, cluster"):
        render(frame(), "csv", columns=["nope"])


def test_default_columns_fit_and_say_what_is_hidden() -> None:
    wide = frame().assign(extra_a=1.0, extra_b=2.0)
    text = table(wide, "teams")
    header = cells(text)[0]
    assert header == [c for c in DEFAULT_COLUMNS["teams"] if c in wide.columns]
    assert "5 more columns: --columns or --format csv" in text


def test_the_cli_table_of_a_real_fleet(simulated_fleet: Fleet, capsys: pytest.CaptureFixture[str]) -> None:
    db = simulated_fleet(days=2, seed=2, now=NOW)
    assert main(["report", "teams", "--db", db, *WINDOW]) == 0
    text = capsys.readouterr().out
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 200
    assert not re.search(r"\de[+-]\d", text)
    assert main(["report", "teams", "--db", db, *WINDOW, "--format", "csv"]) == 0
    full = pd.read_csv(StringIO(capsys.readouterr().out))
    total = cells(text)[-1]
    # the total row's money is the CSV's column sum, to the cent
    assert total[-2] == f"{full['total_cost'].sum():,.2f}"
    assert main(["report", "teams", "--db", db, *WINDOW, "--columns", "team,total_cost"]) == 0
    assert cells(capsys.readouterr().out)[0] == ["team", "total_cost"]


def test_an_unknown_column_is_a_usage_error(
    simulated_fleet: Fleet, capsys: pytest.CaptureFixture[str]
) -> None:
    db = simulated_fleet(days=2, seed=2, now=NOW)
    assert main(["report", "nodes", "--db", db, *WINDOW, "--columns", "node,price"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--columns price: no such column" in err and "total_cost" in err
