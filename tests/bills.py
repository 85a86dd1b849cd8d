"""The volumes' and load balancers' bill of a window, from their raw samples: what reports must
add up to beside the nodes, computed without the allocation (who held what) it checks."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, func, select

from capacity.asset_pricing import asset_price
from capacity.config import Pricing
from capacity.store import schema as m
from capacity.store.priced import asset_keys


def asset_bill(engine: Engine, start: datetime, end: datetime, pricing: Pricing | None = None) -> float:
    """Every volume's capacity and every LoadBalancer Service for the seconds of its snapshot in
    [start, end), at ``pricing`` (default: the built-in; no ``changes`` for volumes or load
    balancers in the window); its raw rows must still be kept."""
    pricing = pricing or Pricing()
    with engine.connect() as conn:
        keys = asset_keys(conn)
        total = 0.0
        for model, amount in ((m.VolumeSample, m.VolumeSample.capacity_bytes), (m.LoadBalancerSample, 1.0)):
            query = (
                select(model.asset_key_id, func.sum(amount * m.Snapshot.interval_seconds))  # type: ignore[attr-defined]
                .join(m.Snapshot, m.Snapshot.id == model.snapshot_id)  # type: ignore[attr-defined]
                .where(m.Snapshot.taken_at >= start, m.Snapshot.taken_at < end)
                .group_by(model.asset_key_id)  # type: ignore[attr-defined]
            )
            for key, held in conn.execute(query):
                total += float(held) * asset_price(pricing, keys[int(key)]).unit_hourly / 3600.0
    return total
