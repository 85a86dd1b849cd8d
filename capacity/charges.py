"""Report-time money on window reads: each part of a window priced at the prices in force then.

A window read (``capacity.store.windows``) carries the money stored with rows written before
price keys; rows written since carry quantities by price key and no money. ``with_*_costs``
add to a read the money of those quantities at the configuration's prices, cutting the window
at every ``pricing.changes`` boundary so a price change mid-window charges each part its own
price. The rule itself is ``capacity.costing`` (pricing) over ``capacity.pricing`` (resolution).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import partial
from itertools import pairwise

import pandas as pd
from sqlalchemy import Connection

from capacity.config import Pricing
from capacity.costing import (
    ALLOCATION_COSTS,
    ALLOCATION_MONEY,
    NODE_COSTS,
    NODE_MONEY,
    PRICE_COLUMNS,
    unit_prices,
)
from capacity.store.grains import Grain
from capacity.store.priced import ALLOCATIONS, CLUSTER_PRICES, NODE_PRICES, price_keys
from capacity.store.priced_reads import priced_periods

Range = tuple[datetime, datetime]
PERIOD = "period_start"


def price_epochs(
    pricing: Pricing, start: datetime, end: datetime
) -> list[tuple[datetime, datetime, Pricing]]:
    """Return [start, end) cut where prices change, each part with the prices in force in it."""
    edges = [start, *(b for b in pricing.boundaries() if start < b < end), end]
    return [(lo, hi, pricing.at(lo)) for lo, hi in pairwise(edges) if lo < hi]


def _priced_sums(
    conn: Connection,
    grain: Grain,
    pricing: Pricing,
    window: Range,
    clusters: tuple[str, ...],
    spans: Sequence[Range] | None,
    by: list[str],
    money: str,
) -> pd.DataFrame:
    """Return the grain's quantities priced and summed by ``by`` (led by ``period_start`` with spans).

    The window (or each span) is cut at every price change; the database multiplies each part's
    quantities by the unit prices of that part's epoch and sums them (``priced_periods``).
    """
    epochs = price_epochs(pricing, *window)
    pieces: list[Range] = []
    owner: dict[datetime, tuple[datetime | None, int]] = {}  # piece start -> (period start, epoch)
    for period in spans if spans is not None else [window]:
        for number, (lo, hi, _) in enumerate(epochs):
            a, b = max(period[0], lo), min(period[1], hi)
            if a < b:
                pieces.append((a, b))
                owner[a] = (period[0] if spans is not None else None, number)
    costs = ALLOCATION_COSTS if money == "allocations" else NODE_COSTS
    lead = [PERIOD] if spans is not None else []
    keys = price_keys(conn)
    frame = priced_periods(
        conn,
        grain,
        periods=pieces,
        clusters=clusters,
        epoch_of=lambda start: owner[start][1],
        prices=[unit_prices(keys, at) for _, _, at in epochs],
        units=PRICE_COLUMNS,
        money=ALLOCATION_MONEY if money == "allocations" else NODE_MONEY,
    )
    if frame.empty:
        return pd.DataFrame(columns=[*lead, *by, *costs])
    if spans is not None:
        by_start = pd.Series({pd.Timestamp(a): p for a, (p, _) in owner.items()})
        frame[PERIOD] = pd.to_datetime(frame[PERIOD], utc=True).map(by_start).to_numpy()
    group = [*lead, *by]
    if len(pieces) == len(spans if spans is not None else [window]):
        return frame[[*group, *costs]]  # one piece per period: nothing to add up
    return frame.groupby(group, sort=False, dropna=False)[list(costs)].sum().reset_index()


def _added(frame: pd.DataFrame, priced: pd.DataFrame, on: list[str], costs: tuple[str, ...]) -> pd.DataFrame:
    """Return ``frame`` with ``priced``'s money added to its stored money, row by row."""
    present = [c for c in costs if c in frame.columns]
    if frame.empty or not present or priced.empty:
        return frame
    if PERIOD in on:  # the same instants on both sides, whatever their types
        priced = priced.assign(**{PERIOD: pd.to_datetime(priced[PERIOD], utc=True)})
        frame = frame.assign(**{PERIOD: pd.to_datetime(frame[PERIOD], utc=True)})
    extra = frame[on].merge(priced[[*on, *present]], on=on, how="left", validate="one_to_one")
    out = frame.copy()
    for column in present:
        out[column] = frame[column].astype(float).to_numpy() + extra[column].fillna(0.0).to_numpy()
    return out


_ADDED = {
    # read kind: (the priced grain, its keys in the read, which money)
    "containers": (ALLOCATIONS, ["cluster_id", "workload_id", "container"], "allocations"),
    "nodes": (NODE_PRICES, ["cluster_id", "node_id"], "nodes"),
    "clusters": (CLUSTER_PRICES, ["cluster_id"], "nodes"),
}


def with_costs(
    kind: str,
    conn: Connection,
    frame: pd.DataFrame,
    pricing: Pricing,
    window: Range,
    clusters: tuple[str, ...],
    spans: Sequence[Range] | None = None,
) -> pd.DataFrame:
    """Add to a window read of ``kind`` (``containers``: ``container_window`` / ``container_periods``,
    ``nodes``, ``clusters``) the money of its priced quantities."""
    grain, by, money = _ADDED[kind]
    priced = _priced_sums(conn, grain, pricing, window, clusters, spans, by, money)
    costs = ALLOCATION_COSTS if money == "allocations" else NODE_COSTS
    return _added(frame, priced, [*([PERIOD] if spans is not None else []), *by], costs)


with_container_costs = partial(with_costs, "containers")
with_node_costs = partial(with_costs, "nodes")
with_cluster_costs = partial(with_costs, "clusters")
