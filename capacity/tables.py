"""Report output: CSV and JSON for machines, an aligned table for people.

The table formats each column by what its name says it holds (money, a ratio, bytes, an instant,
an amount), shows a default set of columns per report kind that fits a terminal, and ends with
a total row where the rows add up (money, resource-hours, node and pod counts). ``columns``
chooses the columns of every format.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from datetime import datetime

import pandas as pd

from capacity.errors import UsageError

GIB = 1024.0**3
TOTAL = "total"

# What a person reading a terminal wants first; every column stays available through --columns.
DEFAULT_COLUMNS: dict[str, tuple[str, ...]] = {
    "teams": (
        "team", "cluster", "cpu_efficiency", "memory_efficiency", "cpu_cost", "memory_cost", "gpu_cost",
        "storage_cost", "network_cost", "shared_cost", "idle_cost", "total_cost", "monthly_savings",
    ),
    "namespaces": (
        "cluster", "namespace", "team", "cpu_efficiency", "memory_efficiency", "cpu_cost", "memory_cost",
        "storage_cost", "idle_cost", "total_cost", "monthly_savings",
    ),
    "workloads": (
        "cluster", "namespace", "kind", "workload", "cpu_efficiency", "memory_efficiency", "total_cost",
        "monthly_savings",
    ),
    "nodes": (
        "cluster", "node", "instance_type", "capacity_type", "hours", "cpu_allocation", "cpu_utilization",
        "memory_allocation", "memory_utilization", "total_cost", "idle_cost",
    ),
    "clusters": (
        "cluster", "nodes_average", "cpu_allocation", "cpu_utilization", "memory_allocation",
        "memory_utilization", "total_cost", "idle_cost",
    ),
    "recommendations": (
        "cluster", "namespace", "workload", "container", "replicas", "cpu_request", "cpu_recommended",
        "memory_request_bytes", "memory_recommended_bytes", "monthly_savings", "action", "hpa",
        "replicas_projected",
    ),
    "volumes": (
        "cluster", "volume", "claim_namespace", "claim_name", "team", "storage_class", "size_gib",
        "price_source", "mounted_hours", "cost", "unmounted_cost",
    ),
    "binpacking": (
        "cluster", "pool", "nodes", "nodes_needed", "nodes_needed_rightsized", "nodes_lower_bound",
        "removable", "monthly_cost", "monthly_savings_packing", "monthly_savings_rightsized",
        "cpu_allocation", "memory_allocation",
    ),
    "nodetypes": (
        "cluster", "pool", "instance_type", "nodes", "monthly_cost", "best_instance_type", "best_nodes",
        "best_monthly_cost", "monthly_savings", "note",
    ),
    "forecast": (
        "cluster", "days", "cpu_allocatable", "cpu_requested", "cpu_requested_growth_per_week",
        "cpu_full_on", "memory_allocatable_gib", "memory_requested_gib", "memory_full_on",
    ),
}  # fmt: skip
_RATIOS = ("_efficiency", "_allocation", "_utilization", "_allocation_packed", "_utilization_packed")
_COUNTS = frozenset(
    {"nodes", "nodes_needed", "nodes_needed_rightsized", "pods", "oversized_pods", "replicas"}
)


def is_money(column: str) -> bool:
    return column.endswith("_cost") or "savings" in column


def is_ratio(column: str) -> bool:
    return column.endswith(_RATIOS)


def is_bytes(column: str) -> bool:
    """Bytes: ``*_bytes``, and the bare ``memory_*`` amounts (``_gib*`` columns are already GiB)."""
    if column.endswith("_bytes"):
        return True
    return column.startswith("memory_") and not (
        "_gib" in column or is_ratio(column) or is_money(column) or column.endswith("_days")
    )


def is_additive(column: str) -> bool:
    """Whether a column's total means something: money, resource-hours, node and pod counts."""
    if is_money(column):
        return True
    return (
        column.endswith(("_core_hours", "_gib_hours")) or column in {"gpu_hours", "nodes_average"} | _COUNTS
    )


def select_columns(frame: pd.DataFrame, columns: Sequence[str] | None) -> pd.DataFrame:
    """Return ``frame`` with only ``columns`` (in that order); UsageError names an unknown one."""
    if not columns:
        return frame
    unknown = [c for c in columns if c not in frame.columns]
    if unknown:
        known = ", ".join(map(str, frame.columns))
        raise UsageError(f"--columns {','.join(unknown)}: no such column (this report has: {known})")
    return frame[list(dict.fromkeys(columns))]


def _cell(column: str, value: object, decimals: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
        return "-"
    if isinstance(value, pd.Timestamp | datetime):
        stamp = pd.Timestamp(value)
        stamp = stamp.tz_convert("UTC") if stamp.tzinfo else stamp
        return (
            stamp.strftime("%Y-%m-%d %H:%M")
            if (stamp.hour, stamp.minute) != (0, 0)
            else stamp.strftime("%Y-%m-%d")
        )
    if column == "cluster" and isinstance(value, str) and "," in value:
        return f"{value.count(',') + 1} clusters"  # a team spread over many: the CSV names them
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return str(value)
    number = float(value)
    if is_ratio(column):
        return f"{number:.1%}"
    if is_money(column):
        return f"{number:,.2f}"
    if is_bytes(column):
        return f"{number / GIB:,.2f} GiB"
    if isinstance(value, int) or (number.is_integer() and column in _COUNTS):
        return f"{int(number):,}"
    return f"{number:,.{decimals}f}"


def _decimals(column: str, values: pd.Series) -> int:
    """Two decimals; three (millicores) for cores and for a column of small amounts."""
    if column.startswith("cpu_") and not (column.endswith("_hours") or is_ratio(column) or is_money(column)):
        return 3
    if not pd.api.types.is_float_dtype(values):
        return 2
    largest = values.abs().max(skipna=True)
    return 3 if pd.notna(largest) and largest < 1 else 2


def _total_row(frame: pd.DataFrame) -> list[str] | None:
    additive = [c for c in frame.columns if is_additive(str(c)) and pd.api.types.is_numeric_dtype(frame[c])]
    if len(frame) < 2 or not additive:
        return None
    row = ["" for _ in frame.columns]
    label_at = next(
        (i for i, c in enumerate(frame.columns) if not pd.api.types.is_numeric_dtype(frame[c])), 0
    )
    row[label_at] = TOTAL
    for i, column in enumerate(frame.columns):
        if column in additive:
            row[i] = _cell(str(column), float(frame[column].sum(skipna=True)))
    return row


def table(frame: pd.DataFrame, kind: str, *, columns: Sequence[str] | None = None, currency: str = "") -> str:
    """Return the report as an aligned table for a terminal: see the module's docstring."""
    if frame.empty:
        return "(no rows)\n"
    if not columns:
        default = DEFAULT_COLUMNS.get(kind)
        lead = [c for c in ("period_start",) if c in frame.columns]
        columns = [*lead, *(c for c in default if c in frame.columns)] if default else list(frame.columns)
    shown = select_columns(frame, columns)
    names = [str(c) for c in shown.columns]
    decimals = [_decimals(name, shown[name]) for name in names]
    body = [
        [_cell(name, value, d) for name, value, d in zip(names, row, decimals, strict=True)]
        for row in shown.itertuples(index=False)
    ]
    total = _total_row(shown)
    numeric = [pd.api.types.is_numeric_dtype(shown[c]) for c in shown.columns]
    rows = [names, *body, *([total] if total else [])]
    widths = [max(len(r[i]) for r in rows) for i in range(len(names))]

    def line(cells: list[str]) -> str:
        parts = [
            c.rjust(w) if right else c.ljust(w) for c, w, right in zip(cells, widths, numeric, strict=True)
        ]
        return "  ".join(parts).rstrip()

    out = [line(names), *(line(r) for r in body)]
    if total:
        out += ["  ".join("-" * w for w in widths), line(total)]
    hidden = len(frame.columns) - len(names)
    notes = [f"money in {currency}"] if currency and any(is_money(n) for n in names) else []
    if hidden > 0:
        notes.append(f"{hidden} more columns: --columns or --format csv")
    return "\n".join(out) + ("\n(" + "; ".join(notes) + ")" if notes else "") + "\n"


def render(
    frame: pd.DataFrame, fmt: str, kind: str = "", *, columns: Sequence[str] | None = None, currency: str = ""
) -> str:
    """Return the report as CSV, JSON (records) or a table for people (``table``)."""
    if fmt == "table":
        return table(frame, kind, columns=columns, currency=currency)
    frame = select_columns(frame, columns)
    if fmt == "csv":
        return str(frame.to_csv(index=False, float_format="%.10g"))
    return str(frame.to_json(orient="records", indent=2, date_format="iso"))
