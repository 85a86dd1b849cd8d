"""Report-time money on window reads: each part of a window priced at the prices in force then.

A window read (``capacity.store.windows``) carries the money stored with rows written before
price keys; rows written since carry quantities by price key and no money. ``with_*_costs``
add to a read the money of those quantities at the configuration's prices, cutting the window
at every ``pricing.changes`` boundary so a price change mid-window charges each part its own
price. The rule itself is ``capacity.costing`` (pricing) over ``capacity.pricing`` (resolution).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from itertools import pairwise
from typing import Any

import pandas as pd
from sqlalchemy import Connection

from capacity.config import Pricing
from capacity.costing import (
    ALLOCATION_MONEY,
    ASSET_MONEY,
    ASSET_UNITS,
    NODE_MONEY,
    PRICE_COLUMNS,
    VOLUME_MONEY,
    asset_unit_prices,
    unit_prices,
)
from capacity.store.grains import Grain
from capacity.store.priced import (
    ALLOCATIONS,
    ASSETS,
    CLUSTER_PRICES,
    NODE_PRICES,
    VOLUMES,
    asset_keys,
    price_keys,
)
from capacity.store.priced_reads import priced_periods

Range = tuple[datetime, datetime]
PERIOD = "period_start"


def price_epochs(
    pricing: Pricing, start: datetime, end: datetime
) -> list[tuple[datetime, datetime, Pricing]]:
    """Return [start, end) cut where prices change, each part with the prices in force in it."""
    edges = [start, *(b for b in pricing.boundaries() if start < b < end), end]
    return [(lo, hi, pricing.at(lo)) for lo, hi in pairwise(edges) if lo < hi]


@dataclass(frozen=True)
class Priced:
    """How a priced grain becomes money: the keys its ``price_key`` column points to (read from
    the store), their unit prices under a configuration in ``units`` order, and which quantity
    times which unit makes which money column."""

    grain: Grain
    price_key: str
    units: tuple[str, ...]
    money: tuple[tuple[str, str, str], ...]
    keys: Callable[[Connection], Mapping[int, Any]]
    unit_prices: Callable[[Any, Pricing], Mapping[int, tuple[float, ...]]]

    @property
    def costs(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(column for _, _, column in self.money))


ALLOCATION_MONEY_OF = Priced(
    ALLOCATIONS, "price_key_id", PRICE_COLUMNS, ALLOCATION_MONEY, price_keys, unit_prices
)
NODE_MONEY_OF = Priced(NODE_PRICES, "price_key_id", PRICE_COLUMNS, NODE_MONEY, price_keys, unit_prices)
CLUSTER_MONEY_OF = Priced(CLUSTER_PRICES, "price_key_id", PRICE_COLUMNS, NODE_MONEY, price_keys, unit_prices)
ASSET_MONEY_OF = Priced(ASSETS, "asset_key_id", ASSET_UNITS, ASSET_MONEY, asset_keys, asset_unit_prices)
VOLUME_MONEY_OF = Priced(VOLUMES, "asset_key_id", ASSET_UNITS, VOLUME_MONEY, asset_keys, asset_unit_prices)


def priced_sums(
    conn: Connection,
    priced: Priced,
    pricing: Pricing,
    window: Range,
    clusters: tuple[str, ...],
    spans: Sequence[Range] | None = None,
) -> pd.DataFrame:
    """Return the grain's quantities priced, per cluster and grain key but the price key (led by
    ``period_start`` with spans): columns ``cluster``, ``cluster_id``, the keys, the money.

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
    by = ["cluster", "cluster_id", *(k for k in priced.grain.keys if k != priced.price_key)]
    lead = [PERIOD] if spans is not None else []
    keys = priced.keys(conn)
    frame = priced_periods(
        conn,
        priced.grain,
        periods=pieces,
        clusters=clusters,
        epoch_of=lambda start: owner[start][1],
        prices=[priced.unit_prices(keys, at) for _, _, at in epochs],
        units=priced.units,
        money=priced.money,
        price_key=priced.price_key,
    )
    if frame.empty:
        return pd.DataFrame(columns=[*lead, *by, *priced.costs])
    if spans is not None:
        by_start = pd.Series({pd.Timestamp(a): p for a, (p, _) in owner.items()})
        frame[PERIOD] = pd.to_datetime(frame[PERIOD], utc=True).map(by_start).to_numpy()
    group = [*lead, *by]
    if len(pieces) == len(spans if spans is not None else [window]):
        return frame[[*group, *priced.costs]]  # one piece per period: nothing to add up
    return frame.groupby(group, sort=False, dropna=False)[list(priced.costs)].sum().reset_index()


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
    # read kind: (how its quantities are priced, its keys in the read)
    "containers": (ALLOCATION_MONEY_OF, ["cluster_id", "workload_id", "container"]),
    "nodes": (NODE_MONEY_OF, ["cluster_id", "node_id"]),
    "clusters": (CLUSTER_MONEY_OF, ["cluster_id"]),
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
    priced, by = _ADDED[kind]
    money = priced_sums(conn, priced, pricing, window, clusters, spans)
    return _added(frame, money, [*([PERIOD] if spans is not None else []), *by], priced.costs)


with_container_costs = partial(with_costs, "containers")
with_node_costs = partial(with_costs, "nodes")
with_cluster_costs = partial(with_costs, "clusters")
