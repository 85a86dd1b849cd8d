"""Priced window reads: the money of the priced grains' quantities (``capacity.store.priced``),
summed in the database at a configuration's unit prices (``capacity.charges`` decides the epochs
and ``capacity.costing`` the prices). Reads frames: reports import it, the collector does not.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

import pandas as pd
from sqlalchemy import Connection, Double, Integer, case, func, select, values
from sqlalchemy import column as sql_column

from capacity.store import schema as m
from capacity.store.buckets import Range, utc
from capacity.store.grains import Grain, aggregate, driver_rows, table_of
from capacity.store.windows import _frame, _in_periods, _row_sources, _scopes

UnitPrices = Mapping[int, tuple[float, ...]]  # price key id -> unit prices, in ``units`` order
Money = Sequence[tuple[str, str, str]]  # (quantity, unit price, money column): capacity.costing


def priced_periods(
    conn: Connection,
    grain: Grain,
    *,
    periods: Sequence[Range],
    clusters: tuple[str, ...],
    epoch_of: Callable[[datetime], int],
    prices: Sequence[UnitPrices],
    units: Sequence[str],
    money: Money,
    price_key: str = "price_key_id",
) -> pd.DataFrame:
    """Return the money of a priced grain's quantities per period, cluster and grain key but the
    price key, summed in the database: each quantity times its unit price at the key and the
    epoch of the period (``epoch_of(period start)`` indexes ``prices``), over 3600.

    Columns: ``period_start``, ``cluster``, ``cluster_id``, the grain's other keys, the money
    columns. A stored price key without a price raises ValueError.
    """
    by = [k for k in grain.keys if k != price_key]
    outs = [column for _, _, column in money]
    columns = ["period_start", "cluster", "cluster_id", *by, *outs]
    unit_rows = [(e, k, *unit) for e, table in enumerate(prices) for k, unit in table.items()]
    cluster_table = table_of(m.Cluster)

    def read(window: Range, part: Sequence[Range]) -> pd.DataFrame:
        sources = _row_sources(grain, _scopes(conn, part, *window, clusters))
        if not sources or not unit_rows:
            return pd.DataFrame(columns=columns)
        totals = aggregate(grain, sources, bucketed=True).subquery("totals")
        epochs = (
            values(sql_column("label", Integer()), sql_column("epoch", Integer()), name="label_epochs")
            .data([(label, epoch_of(lo)) for label, (lo, _) in enumerate(part)])
            .cte("label_epochs")
        )
        unit = (
            values(
                sql_column("epoch", Integer()),
                sql_column("price_key", Integer()),
                *(sql_column(u, Double()) for u in units),
                name="unit_prices",
            )
            .data(unit_rows)
            .cte("unit_prices")
        )
        group = [totals.c.bucket_start, cluster_table.c.name, totals.c.cluster_id, *(totals.c[k] for k in by)]
        query = (
            select(
                *group,
                *(func.sum(totals.c[q] * unit.c[u] / 3600.0).label(out) for q, u, out in money),
                func.sum(case((unit.c.price_key.is_(None), 1), else_=0)).label("unpriced"),
            )
            .select_from(
                totals.join(cluster_table, cluster_table.c.id == totals.c.cluster_id)
                .join(epochs, epochs.c.label == totals.c.bucket_start)
                .outerjoin(unit, (unit.c.epoch == epochs.c.epoch) & (unit.c.price_key == totals.c[price_key]))
            )
            .group_by(*group)
        )
        frame = _frame(driver_rows(conn, query), [*columns, "unpriced"], [*outs, "unpriced"])
        if len(frame) and (frame["unpriced"] > 0).any():
            raise ValueError("stored quantities of a price key that has no price")
        starts = pd.DatetimeIndex([utc(lo) for lo, _ in part])
        frame["period_start"] = starts[frame["period_start"].astype("int64").to_numpy()]
        return frame.drop(columns="unpriced")

    return _in_periods(conn, periods, clusters, read, columns[1:])
