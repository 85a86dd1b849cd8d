"""How a backfill cuts a query Prometheus finds too big: by namespace first, then by time.

A stand-in for Prometheus' query API that refuses any query over a few series, as
``--query.max-samples`` does, answers these unit tests of the cutting. The real server's
refusals are in test_backfill.py (``--query.max-samples``, ``--query.timeout``).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from collectors.backfill import _Query, _range_query
from collectors.prometheus.client import QueryRejected, Series
from collectors.prometheus.families import BY_NAME
from collectors.prometheus.promql import Selectors

T0 = datetime(2026, 11, 1, tzinfo=UTC)
STEP = timedelta(minutes=5)
# namespace -> pods; "orphan" has series but no pod and no namespace labels at any instant
PODS = {"a": 3, "b": 3, "c": 3, "d": 3, "orphan": 2}
LISTED = ("a", "b", "c", "d")
TOO_BIG = "query processing would load too many samples into memory in query execution"


class Refusing:
    """Answers with one series per pod of the namespaces a query selects; refuses more than
    ``limit`` series times points."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.queries: list[str] = []

    def query_range(self, expr: str, lo: datetime, hi: datetime, step: timedelta) -> list[Series]:
        self.queries.append(expr)
        stamps = [(lo + i * step).timestamp() for i in range(int((hi - lo) / step) + 1)]
        if "group by (namespace)" in expr:
            return [Series({"namespace": ns}, tuple((t, 1.0) for t in stamps)) for ns in LISTED]
        chosen = set(PODS)
        if found := re.search(r'namespace(=~|!~)"([^"]*)"', expr):
            names = {n.replace("\\\\", "") for n in found.group(2).split("|")}
            chosen = names if found.group(1) == "=~" else chosen - names
        series = [
            Series({"namespace": ns, "pod": f"{ns}-{i}"}, tuple((t, 1.0) for t in stamps))
            for ns in sorted(chosen)
            for i in range(PODS.get(ns, 0))
        ]
        if len(series) * len(stamps) > self.limit:
            raise QueryRejected(f"Prometheus rejected a query (execution: {TOO_BIG}): {expr}")
        return series


def _read(client: Refusing, family: str, hours: int) -> list[Series]:
    query = _Query(Selectors(('cluster="eu"',)), "300s")
    return _range_query(client, BY_NAME[family], query, T0, T0 + timedelta(hours=hours), STEP)  # type: ignore[arg-type]


def test_a_namespaced_query_too_big_is_read_by_namespace_over_its_whole_range() -> None:
    client = Refusing(limit=6 * 13)  # two namespaces of an hour at once, not more
    series = _read(client, "kube_pod_info", 1)
    assert sorted(s.labels["pod"] for s in series) == sorted(
        f"{ns}-{i}" for ns, n in PODS.items() for i in range(n)
    )
    assert all(len(s.points) == 13 for s in series)  # never cut in time: every part is the hour
    # the whole, the list, halves of a..d, the namespaces it missed (the orphan's)
    assert len(client.queries) == 5
    assert 'namespace!~"a|b|c|d"' in client.queries[-1]


def test_a_namespace_still_too_big_is_read_in_halves_of_the_range() -> None:
    client = Refusing(limit=3 * 7)  # one namespace of half an hour
    series = _read(client, "kube_pod_info", 1)
    points = {s.labels["pod"]: 0 for s in series}
    for s in series:
        points[s.labels["pod"]] += len(s.points)
    assert points == {f"{ns}-{i}": 13 for ns, n in PODS.items() for i in range(n)}


def test_a_node_family_too_big_at_one_instant_names_the_query() -> None:
    client = Refusing(limit=0)
    with pytest.raises(QueryRejected, match="too many samples"):
        _read(client, "kube_node_status_capacity", 1)
    assert not any("group by (namespace)" in q for q in client.queries)  # no namespaces to cut by
