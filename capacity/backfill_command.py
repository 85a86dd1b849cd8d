"""``capacity backfill``: a cluster's history read from Prometheus into the store.

The flags override ``prometheus:`` in the configuration; the work is ``collectors.backfill``.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from capacity.config import Config
from capacity.durations import parse_duration, parse_instant
from capacity.errors import CollectionError, UsageError
from capacity.progress import ProgressBar
from capacity.prometheus_options import add_prometheus_flags, prometheus_client
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
    add_prometheus_flags(parser)
    parser.set_defaults(handler=cmd_backfill)


def _when(text: str, flag: str) -> datetime:
    try:
        return parse_instant(text, flag)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


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


def cmd_backfill(args: argparse.Namespace, config: Config) -> int:
    from collectors.backfill import Plan, backfill
    from collectors.schedule import stop_on_signals
    from collectors.source import SourceError

    settings = config.prometheus
    start, end = _range(args)
    step = timedelta(seconds=parse_duration(args.step) if args.step else config.collection.interval_seconds)
    plan = Plan(
        start=start,
        end=end,
        step=step,
        chunk=timedelta(seconds=settings.chunk_seconds),
        rate_window=timedelta(seconds=settings.rate_window_seconds),
    )
    with stop_on_signals() as stop:
        try:
            client, selectors = prometheus_client(args, config, stop)
        except SourceError as exc:
            raise CollectionError(str(exc)) from None
        engine = open_store(getattr(args, "db", None))
        try:
            result = backfill(
                client,
                engine,
                cluster=args.cluster,
                config=config,
                plan=plan,
                selectors=selectors,
                progress=ProgressBar("backfill"),
                stop=stop,
            )
        except SourceError as exc:
            raise CollectionError(f"{exc}; snapshots written before this are kept") from None
        finally:
            client.close()
            engine.dispose()
    if result.instants and result.gaps == result.instants:
        raise CollectionError(
            f"Prometheus has no kube_pod_info or kube_node_status_capacity series for cluster {args.cluster} "
            "in the range: is kube-state-metrics scraped, and is --prometheus-selector right? nothing written"
        )
    for warning in result.warnings[:20]:
        print(f"warning: {warning}", file=sys.stderr)
    if len(result.warnings) > 20:
        print(f"warning: ... and {len(result.warnings) - 20} more", file=sys.stderr)
    print(result.summary())
    return 0
