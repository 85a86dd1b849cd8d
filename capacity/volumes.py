"""The volumes report: one row per PersistentVolume (per period with a step): its claim, the
claim namespace's team (who its unmounted time is charged to; while pods mount it, their teams
carry it, as the teams report shows), its class and provisioner, size, price source, cost, the
hours a pod mounted it and the cost of the time none did (an unmounted claim is its
namespace's; a volume with no claim is nobody's: the cluster's ``__unmounted__``).

Costs are the store's provisioned byte-seconds priced at the configuration (``capacity.charges``,
each part of the window at the prices in force then); the price source is the one in force at
the window's end.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import pandas as pd
from sqlalchemy import Connection

from capacity.analysis.attribution import attribute_frame, rules_for
from capacity.analysis.costs import UNMOUNTED
from capacity.charges import VOLUME_MONEY_OF, priced_sums
from capacity.config import Config
from capacity.costing import asset_sources
from capacity.store.labels import namespace_labels
from capacity.store.priced import VOLUMES, asset_keys
from capacity.store.windows import grain_periods, grain_window

GIB = 1024.0**3
PERIOD = "period_start"
CLAIM = ["volume", "claim_namespace", "claim_name"]
VOLUME_COLUMNS = [
    "cluster", "volume", "claim_namespace", "claim_name", "team", "storage_class", "provisioner", "size_gib",
    "price_source", "hours", "mounted_hours", "cost", "unmounted_cost",
]  # fmt: skip


def volume_report(
    conn: Connection,
    config: Config,
    window: tuple[datetime, datetime],
    clusters: tuple[str, ...],
    spans: Sequence[tuple[datetime, datetime]] | None = None,
) -> pd.DataFrame:
    """Return one row per volume and claim it was bound to (per period with ``spans``), costliest first."""
    lead = [PERIOD] if spans is not None else []
    if spans is None:
        sums = grain_window(conn, VOLUMES, start=window[0], end=window[1], clusters=clusters)
    else:
        sums = grain_periods(conn, VOLUMES, periods=spans, clusters=clusters)
    if sums.empty:
        return pd.DataFrame(columns=[*lead, *VOLUME_COLUMNS])
    by = [*lead, "cluster", "cluster_id", *CLAIM]
    # a volume whose class changed in the window: described by the key it held longest
    described = sums.sort_values("seconds", ascending=False, kind="stable").drop_duplicates(by)
    summed = (
        sums.groupby(by, sort=False)
        .agg(seconds=("seconds", "sum"), mounted_seconds=("mounted_seconds", "sum"),
             capacity_bytes_max=("capacity_bytes_max", "max"))
        .reset_index()
    )  # fmt: skip
    out = described[[*by, "asset_key_id"]].merge(summed, on=by)
    money = priced_sums(conn, VOLUME_MONEY_OF, config.pricing, window, clusters, spans)
    if spans is not None:
        money[PERIOD] = pd.to_datetime(money[PERIOD], utc=True)
        out[PERIOD] = pd.to_datetime(out[PERIOD], utc=True)
    out = out.merge(money.drop(columns="cluster"), on=[*lead, "cluster_id", *CLAIM], how="left")
    keys = asset_keys(conn)
    sources = asset_sources(keys, config.pricing.at(window[1]))
    out["storage_class"] = [keys[int(k)].storage_class for k in out["asset_key_id"]]
    out["provisioner"] = [keys[int(k)].provisioner for k in out["asset_key_id"]]
    out["price_source"] = [sources[int(k)] for k in out["asset_key_id"]]
    out["size_gib"] = out["capacity_bytes_max"] / GIB
    out["hours"] = out["seconds"] / 3600.0
    out["mounted_hours"] = out["mounted_seconds"] / 3600.0
    out[["cost", "unmounted_cost"]] = out[["cost", "unmounted_cost"]].fillna(0.0)
    out["team"] = _teams(conn, config, out)
    out = out.sort_values(
        [*lead, "cost", "volume"], ascending=[*([True] * len(lead)), False, True], kind="stable"
    )
    return out[[*lead, *VOLUME_COLUMNS]].reset_index(drop=True)


def _teams(conn: Connection, config: Config, volumes: pd.DataFrame) -> list[str]:
    """Return the team of each volume's claim namespace (by namespace labels and rules); unclaimed:
    ``__unmounted__``."""
    labels = namespace_labels(conn)
    frame = pd.DataFrame(
        {
            "namespace": volumes["claim_namespace"].to_numpy(),
            "pod_labels": [{} for _ in range(len(volumes))],
            "namespace_labels": [
                labels.get((int(c), str(n)), {})
                for c, n in zip(volumes["cluster_id"], volumes["claim_namespace"], strict=True)
            ],
        }
    )
    teams = attribute_frame(frame, rules_for(config.attribution, "team")) if len(frame) else pd.Series([])
    return [UNMOUNTED if not ns else str(t) for ns, t in zip(volumes["claim_namespace"], teams, strict=True)]
