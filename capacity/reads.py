"""The window reads of reports, memoized: a report request reads its containers once.

``Reads`` hands out the window reads of ``capacity.store.windows`` with their money at the
configuration's prices (``capacity.charges``) and the workloads' labels, each read once per
set of arguments, so that several reports over the same window (a dashboard page) read the
database once. ``Reads.prefetch`` reads, in one labelled read, the union of a report's window
(or its periods) and the right-sizing window that ends where it ends, and files both.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Mapping
from datetime import datetime
from itertools import pairwise
from types import MappingProxyType

import pandas as pd
from sqlalchemy import Connection

from capacity.analysis.costs import SUM_COLUMNS
from capacity.charges import (
    ASSET_MONEY_OF,
    priced_sums,
    with_cluster_costs,
    with_container_costs,
    with_node_costs,
)
from capacity.config import Pricing
from capacity.store.grains import HISTOGRAMS, PER_REPLICA
from capacity.store.labels import workload_labels
from capacity.store.windows import (
    cluster_periods,
    cluster_window,
    container_histograms,
    container_periods,
    container_window,
    node_periods,
    node_window,
    workloads_in_window,
)

Range = tuple[datetime, datetime]
Spans = tuple[Range, ...]
PERIOD = "period_start"
KEYS = ["cluster", "cluster_id", "workload_id", "namespace", "kind", "workload", "container"]
_ORDER = ["cluster", "namespace", "kind", "workload", "container"]
_PER_WORKLOAD = ("pod_labels", "namespace_labels")
_EMPTY: Mapping[int, float] = MappingProxyType({})


class Reads:
    """Window reads memoized by their arguments: reports over the same window share them.

    Frames handed out are shared: callers must not modify them. Thread-safe (a dashboard
    serves several sessions): one lock per read, so a read in flight is never started twice
    and sessions reading other windows do not wait for it.
    """

    def __init__(self, pricing: Pricing | None = None) -> None:
        # the prices every read's money is at (capacity.charges): one Reads, one configuration
        self.pricing = pricing or Pricing()
        # node money read as stored (rows from before price keys), not priced: reports say so
        self.stored_cost = 0.0
        self._memo: dict[Hashable, pd.DataFrame] = {}
        self._locks: dict[Hashable, threading.Lock] = {}
        self._guard = threading.Lock()

    def _get(self, key: Hashable, read: Callable[[], pd.DataFrame]) -> pd.DataFrame:
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:  # reads nest (recommendations read containers), never under the same key
            if key not in self._memo:
                self._memo[key] = read()
            return self._memo[key]

    def _held(self, key: Hashable) -> bool:
        with self._guard:
            return key in self._memo

    def containers(
        self,
        conn: Connection,
        start: datetime,
        end: datetime,
        clusters: tuple[str, ...],
        *,
        histograms: bool,
        spans: Spans | None = None,
    ) -> pd.DataFrame:
        """Container sums with labels merged (``pod_labels``, ``namespace_labels``), per period with spans.

        With ``histograms`` every sum, maximum and the usage histograms (right-sizing);
        without, at least the sums cost allocation needs (``SUM_COLUMNS``).
        """
        if not histograms and self._held(_containers_key(start, end, clusters, True, spans)):
            histograms = True  # a read with histograms serves one without

        def read() -> pd.DataFrame:
            if not histograms and spans is None:
                # the periods of this window, read for a stepped report, add up to it
                wanted = ("containers", start, end, clusters, False)
                for held, frame in list(self._memo.items()):
                    if isinstance(held, tuple) and len(held) == 6 and held[:5] == wanted and held[5]:
                        return combined(frame, [])
            sums = None if histograms else SUM_COLUMNS
            merged = PER_REPLICA if histograms else ()  # the totals: only for HPAs (reports)
            if spans is None:
                frame = container_window(
                    conn, start=start, end=end, clusters=clusters, histograms=merged, sums=sums
                )
            else:
                frame = container_periods(
                    conn, periods=spans, clusters=clusters, histograms=merged, sums=sums
                )
            return with_labels(
                conn, with_container_costs(conn, frame, self.pricing, (start, end), clusters, spans)
            )

        return self._get(_containers_key(start, end, clusters, histograms, spans), read)

    def prefetch(
        self,
        conn: Connection,
        window: Range,
        spans: Spans | None,
        since: datetime,
        clusters: tuple[str, ...],
    ) -> None:
        """Read the containers of a report over ``window`` (per ``spans``) and of the right-sizing
        window [since, window end) as one read of their union, cut where either starts, and file
        both (and the report window's workloads) as ``containers`` and ``workloads`` would.

        Nothing is read when either is held already (a dashboard's other window lengths).
        """
        start, end = window
        wanted = _containers_key(start, end, clusters, False, spans)
        rightsizing = _containers_key(since, end, clusters, True, None)
        if (
            self._held(wanted)
            or self._held(rightsizing)
            or self._held(_containers_key(*window, clusters, True, spans))
        ):
            return
        edges = {min(start, since), since, end, *(e for span in (spans or (window,)) for e in span)}
        pieces = tuple(pairwise(sorted(edges)))
        frame = container_periods(conn, periods=pieces, clusters=clusters, histograms=False)
        frame = with_container_costs(conn, frame, self.pricing, (pieces[0][0], end), clusters, pieces)
        labels = _labels(conn, frame)
        at = pd.to_datetime(frame[PERIOD], utc=True)
        hists = container_histograms(conn, start=since, end=end, clusters=clusters, columns=PER_REPLICA)
        sized = combined(frame[(at >= pd.Timestamp(since)).to_numpy()], [])
        keys = list(zip(sized["cluster_id"], sized["workload_id"], sized["container"], strict=True))
        for column, found in hists.items():
            sized[column] = pd.Series([found.get(k, {}) for k in keys], index=sized.index, dtype=object)
        in_window = frame[(at >= pd.Timestamp(start)).to_numpy()]
        if spans is None:
            report = combined(in_window, [])
        else:
            starts = pd.DatetimeIndex([pd.Timestamp(lo) for lo, _ in spans])
            held = pd.to_datetime(in_window[PERIOD], utc=True)
            report = combined(
                in_window.assign(**{PERIOD: starts[starts.searchsorted(held, "right") - 1]}), [PERIOD]
            )
        ran = report[["workload_id", "namespace"]].drop_duplicates("workload_id")
        with self._guard:
            self._memo.setdefault(rightsizing, _with_labels(sized, labels))
            if spans is not None or start != since:  # else the right-sizing read serves the report
                self._memo.setdefault(wanted, _with_labels(report, labels))
            self._memo.setdefault(
                ("workloads", start, end, clusters), ran.sort_values("workload_id").reset_index(drop=True)
            )

    def assets(
        self, conn: Connection, start: datetime, end: datetime, clusters: tuple[str, ...],
        spans: Spans | None = None,
    ) -> pd.DataFrame:  # fmt: skip
        """What workloads held of volumes and load balancers, priced: ``storage_cost`` and
        ``network_cost`` per cluster and workload (per period with spans), with the workload's
        ``namespace``, ``kind``, ``workload`` and labels, as container rows carry them."""

        def read() -> pd.DataFrame:
            frame = priced_sums(conn, ASSET_MONEY_OF, self.pricing, (start, end), clusters, spans)
            ids = [int(w) for w in frame["workload_id"].unique()]
            names = workload_labels(conn, ids, names=True)
            # beside container rows, a row that holds no container and none of their sums
            frame = frame.assign(container="", **dict.fromkeys(SUM_COLUMNS, 0.0))
            return _with_labels(frame.merge(names, on="workload_id", how="left"), pd.DataFrame())

        return self._get(("assets", start, end, clusters, spans), read)

    def workloads(
        self, conn: Connection, start: datetime, end: datetime, clusters: tuple[str, ...]
    ) -> pd.DataFrame:
        """The workloads with container rows in [start, end) (``workloads_in_window``): ids only."""
        return self._get(
            ("workloads", start, end, clusters),
            lambda: workloads_in_window(conn, start=start, end=end, clusters=clusters),
        )

    def memo(self, key: Hashable, compute: Callable[[], pd.DataFrame]) -> pd.DataFrame:
        """Return ``compute()``, computed once per key (for results derived from reads)."""
        return self._get(key, compute)

    def nodes(
        self, conn: Connection, start: datetime, end: datetime, clusters: tuple[str, ...],
        spans: Spans | None = None,
    ) -> pd.DataFrame:  # fmt: skip
        """Node sums (``node_window``), per period with spans."""
        return self._sums("nodes", conn, start, end, clusters, spans)

    def clusters(
        self, conn: Connection, start: datetime, end: datetime, clusters: tuple[str, ...],
        spans: Spans | None = None,
    ) -> pd.DataFrame:  # fmt: skip
        """Cluster sums (``cluster_window``), per period with spans."""
        return self._sums("clusters", conn, start, end, clusters, spans)

    def _sums(
        self, kind: str, conn: Connection, start: datetime, end: datetime, clusters: tuple[str, ...],
        spans: Spans | None,
    ) -> pd.DataFrame:  # fmt: skip
        window, per_period, charged = _SUMS[kind]

        def read() -> pd.DataFrame:
            if spans is None:
                frame = window(conn, start=start, end=end, clusters=clusters)
            else:
                frame = per_period(conn, periods=spans, clusters=clusters)
            if "cost" in frame.columns and len(frame):
                self.stored_cost = max(self.stored_cost, float(frame["cost"].sum()))
            return charged(conn, frame, self.pricing, (start, end), clusters, spans)

        return self._get((kind, start, end, clusters, spans), read)


_SUMS: dict[
    str, tuple[Callable[..., pd.DataFrame], Callable[..., pd.DataFrame], Callable[..., pd.DataFrame]]
] = {
    "nodes": (node_window, node_periods, with_node_costs),
    "clusters": (cluster_window, cluster_periods, with_cluster_costs),
}


def _containers_key(
    start: datetime, end: datetime, clusters: tuple[str, ...], histograms: bool, spans: Spans | None
) -> Hashable:
    return ("containers", start, end, clusters, histograms, spans)


def combined(frame: pd.DataFrame, lead: list[str]) -> pd.DataFrame:
    """Return a read of several periods as one read per ``lead`` (none: the whole window): each
    container's sums added and its maxima taken over the periods, in window-read order."""
    by = [*lead, *KEYS]
    values = [c for c in frame.columns if c not in (*by, PERIOD, *HISTOGRAMS, *_PER_WORKLOAD)]
    how = {c: "max" if c.endswith("_max") else "sum" for c in values}
    out = (
        frame.groupby(by, sort=False, dropna=False).agg(how).reset_index()
        if len(frame)
        else frame[by + values]
    )
    per_workload = [c for c in _PER_WORKLOAD if c in frame.columns]
    if per_workload:
        out = out.merge(
            frame.drop_duplicates("workload_id")[["workload_id", *per_workload]], on="workload_id"
        )
    for column in HISTOGRAMS if HISTOGRAMS[0] in frame.columns else ():
        out[column] = pd.Series([_EMPTY] * len(out), index=out.index, dtype=object)
    out = out.sort_values([*lead, *_ORDER], kind="stable")
    return out[[c for c in frame.columns if c != PERIOD or lead]].reset_index(drop=True)


def with_labels(conn: Connection, frame: pd.DataFrame) -> pd.DataFrame:
    """Return the frame (with a ``workload_id`` column) with its workloads' labels merged."""
    return _with_labels(frame, _labels(conn, frame))


def _labels(conn: Connection, frame: pd.DataFrame) -> pd.DataFrame:
    return (
        workload_labels(conn, [int(w) for w in frame["workload_id"].unique()])
        if len(frame)
        else pd.DataFrame()
    )


def _with_labels(frame: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """Return the frame with its workloads' ``pod_labels`` and ``namespace_labels`` ({} when none)."""
    frame = frame.copy() if labels.empty else frame.merge(labels, on="workload_id", how="left")
    for column in _PER_WORKLOAD:
        held = frame[column] if column in frame.columns else pd.Series(None, index=frame.index, dtype=object)
        frame[column] = pd.Series(
            [v if isinstance(v, dict) else {} for v in held], index=frame.index, dtype=object
        )
    return frame
