"""``capacity backfill``: a cluster's history read from Prometheus into the store.

The flags override ``prometheus:`` in the configuration; the work is ``collectors.backfill``.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from capacity.config import Config
from capacity.durations import parse_duration
from capacity.errors import CollectionError, UsageError
from capacity.matchers import parse_matchers
from capacity.progress import ProgressBar
from capacity.store.engine import open_store


def add_parser(sub: Any, common: argparse.ArgumentParser, duration: Any, number: Any) -> None:
    parser = sub.add_parser(
        "backfill",
        parents=[common],
        help="read a cluster's history from Prometheus (kube-state-metrics, cAdvisor) into the database",
        description="Write one snapshot per step over a past range, rebuilt from kube-state-metrics v2 and "
        "cAdvisor series in Prometheus, through the same normalization, pricing and rollups as a live "
        "collection. Instants already stored are skipped: a backfill can be resumed or re-run.",
    )
    parser.add_argument("--prometheus", metavar="URL", help="Prometheus base URL (default: prometheus.url)")
    parser.add_argument("--cluster", required=True, metavar="NAME", help="name to store the cluster under")
    parser.add_argument("--days", type=number(float, 0.001, 400), help="the last N days, ending --end")
    parser.add_argument("--start", metavar="WHEN", help="UTC date or timestamp (inclusive)")
    parser.add_argument("--end", metavar="WHEN", help="UTC date or timestamp (default now)")
    parser.add_argument(
        "--step",
        type=duration,
        metavar="DURATION",
        help="time between snapshots (default: collection.interval_seconds)",
    )
    parser.add_argument(
        "--prometheus-selector",
        metavar="MATCHERS",
        help="label matchers added to every selector, e.g. 'cluster=\"prod-eu\"'",
    )
    parser.add_argument("--prometheus-token-file", metavar="FILE", help="bearer token file")
    parser.add_argument(
        "--prometheus-header",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a header sent with every query (repeatable), e.g. X-Scope-OrgID=team-a",
    )
    parser.add_argument("--prometheus-ca-file", metavar="FILE", help="CA bundle to verify Prometheus' TLS")
    parser.set_defaults(handler=cmd_backfill)


def _when(text: str, flag: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"{flag} {text!r} is not a date or timestamp (e.g. 2026-11-01 or 2026-11-01T06:00)"
        ) from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _range(args: argparse.Namespace) -> tuple[datetime, datetime]:
    end = _when(args.end, "--end") if args.end else datetime.now(UTC).replace(microsecond=0)
    if args.days is not None and args.start:
        raise UsageError("give either --days or --start, not both")
    if args.days is not None:
        return end - timedelta(days=args.days), end
    if not args.start:
        raise UsageError("give --days N or --start WHEN (and --end WHEN) for the range to backfill")
    start = _when(args.start, "--start")
    if start >= end:
        raise UsageError(f"--start {args.start} is not before the end ({end:%Y-%m-%dT%H:%M:%SZ})")
    return start, end


def _headers(pairs: list[str], configured: dict[str, str]) -> dict[str, str]:
    headers = dict(configured)
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"--prometheus-header {pair!r} is not NAME=VALUE")
        headers[name.strip()] = value.strip()
    return headers


def cmd_backfill(args: argparse.Namespace, config: Config) -> int:
    from collectors.backfill import Plan, backfill
    from collectors.prometheus.client import Access, PrometheusClient
    from collectors.prometheus.promql import Selectors
    from collectors.schedule import stop_on_signals
    from collectors.source import SourceError

    settings = config.prometheus
    url = args.prometheus or settings.url
    if not url:
        raise UsageError("give --prometheus URL (or prometheus.url in the configuration)")
    selector = args.prometheus_selector if args.prometheus_selector is not None else settings.selector
    try:
        matchers = parse_matchers(selector)
    except ValueError as exc:
        raise UsageError(f"--prometheus-selector: {exc}") from None
    start, end = _range(args)
    step = timedelta(seconds=parse_duration(args.step) if args.step else config.collection.interval_seconds)
    access = Access(
        url=url,
        headers=_headers(args.prometheus_header, settings.headers),
        token_file=args.prometheus_token_file or settings.token_file,
        username=settings.username,
        password_file=settings.password_file,
        ca_file=args.prometheus_ca_file or settings.ca_file,
        timeout_seconds=settings.timeout_seconds,
        retries=settings.retries,
        max_in_flight=settings.max_in_flight,
    )
    plan = Plan(
        start=start,
        end=end,
        step=step,
        chunk=timedelta(seconds=settings.chunk_seconds),
        rate_window=timedelta(seconds=settings.rate_window_seconds),
    )
    engine = open_store(getattr(args, "db", None))
    try:
        with stop_on_signals() as stop:
            client = PrometheusClient(access, stop=stop)
            try:
                result = backfill(
                    client,
                    engine,
                    cluster=args.cluster,
                    config=config,
                    plan=plan,
                    selectors=Selectors(matchers),
                    progress=ProgressBar("backfill"),
                    stop=stop,
                )
            except SourceError as exc:
                raise CollectionError(f"{exc}; snapshots written before this are kept") from None
            finally:
                client.close()
    finally:
        engine.dispose()
    for warning in result.warnings[:20]:
        print(f"warning: {warning}", file=sys.stderr)
    if len(result.warnings) > 20:
        print(f"warning: ... and {len(result.warnings) - 20} more", file=sys.stderr)
    print(result.summary())
    return 0
