"""PromQL builders: quoting, the user's matcher list, selectors, deduplication, chunking."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collectors.prometheus.families import FAMILIES
from collectors.prometheus.promql import MAX_POINTS, Selectors, chunks, dedup, parse_matchers, points, quote

AT = datetime(2026, 11, 20, tzinfo=UTC)


def test_quote_escapes_backslashes_quotes_and_newlines() -> None:
    assert quote('a"b\\c\nd') == '"a\\"b\\\\c\\nd"'


@pytest.mark.parametrize(
    ("text", "matchers"),
    [
        ("", ()),
        ('cluster="prod-eu"', ('cluster="prod-eu"',)),
        ('{cluster = "prod-eu" , env=~"p.*"}', ('cluster="prod-eu"', 'env=~"p.*"')),
        ('a!="x\\"y", b!~"z"', ('a!="x\\"y"', 'b!~"z"')),
    ],
)
def test_matcher_lists_are_read_and_normalized(text: str, matchers: tuple[str, ...]) -> None:
    assert parse_matchers(text) == matchers


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("cluster=prod", "not a label matcher at 'cluster=prod'"),
        ('cluster="a" env="b"', "expected a comma"),
        ('1x="a"', "not a label matcher"),
        ('cluster="unterminated', "not a label matcher"),
    ],
)
def test_bad_matcher_lists_are_refused_naming_the_place(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_matchers(text)


def test_selectors_carry_the_extra_matchers_after_their_own() -> None:
    select = Selectors(('cluster="eu"',))
    assert select("kube_pod_info") == 'kube_pod_info{cluster="eu"}'
    assert select("up", 'job="x"') == 'up{job="x", cluster="eu"}'
    assert Selectors()("up") == "up"
    with pytest.raises(ValueError, match="not a metric name"):
        select("up{}")


def test_selectors_within_a_list_of_values_add_one_regex_of_them_escaped() -> None:
    select = Selectors(('cluster="eu"',)).within("namespace", ["shop", "kube-system", "a.b"])
    # the regex is shop|kube\-system|a\.b; in a PromQL string each backslash is doubled
    assert select("kube_pod_info") == r'kube_pod_info{cluster="eu", namespace=~"shop|kube\\-system|a\\.b"}'
    assert (
        select.within("pod", ["x"])("up")
        == r'up{cluster="eu", namespace=~"shop|kube\\-system|a\\.b", pod=~"x"}'
    )


def test_every_family_query_has_the_cluster_matcher_in_each_selector() -> None:
    select = Selectors(('cluster="eu"',))
    for family in FAMILIES:
        query = family.query(select, "5m")
        selectors = query.count("{")
        assert selectors >= 1 and query.count('cluster="eu"') == selectors, query
        assert query.startswith("max "), query  # deduplicated: never a sum over duplicates


def test_dedup_by_or_without() -> None:
    assert dedup("x", by=("a", "b")) == "max by (a, b) (x)"
    assert dedup("x", without=("job",)) == "max without (job) (x)"


@settings(deadline=None, max_examples=60)
@given(
    minutes=st.integers(min_value=0, max_value=60 * 24 * 90),
    step_seconds=st.sampled_from([15, 60, 300, 3600]),
    span_hours=st.integers(min_value=1, max_value=24 * 40),
)
def test_chunks_cover_every_instant_once_within_the_points_limit(
    minutes: int, step_seconds: int, span_hours: int
) -> None:
    step = timedelta(seconds=step_seconds)
    end = AT + timedelta(minutes=minutes)
    pieces = chunks(AT, end, step, span=timedelta(hours=span_hours))
    covered = [lo + i * step for lo, hi in pieces for i in range(points(lo, hi, step))]
    assert covered == [AT + i * step for i in range(points(AT, end, step))]
    assert all(
        points(lo, hi, step) <= MAX_POINTS and hi - lo <= timedelta(hours=span_hours) for lo, hi in pieces
    )


def test_chunks_refuse_a_step_that_is_not_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        chunks(AT, AT, timedelta(0), span=timedelta(hours=1))
