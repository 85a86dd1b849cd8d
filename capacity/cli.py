"""The ``capacity`` command: collect, status, db upgrade.

The CLI is the composition root: it reads configuration once, opens the store, and hands
sources (from ``collectors``) to the collector. Errors reach the user as one line on
stderr and a non-zero exit code.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, NoReturn

from capacity import __version__
from capacity.backfill_command import add_parser as add_backfill_parser
from capacity.config import Config, load_config
from capacity.durations import parse_duration, parse_instant
from capacity.errors import CapacityError, CollectionError, ConfigError, StoreError, UsageError
from capacity.progress import ProgressBar
from capacity.prometheus_options import add_prometheus_flags, prometheus_client
from capacity.store.engine import masked, open_store, translate_db_errors, upgrade

if TYPE_CHECKING:
    import pandas as pd

    from capacity.store.status import ClusterStatus
    from collectors.collect import CollectResult

log = logging.getLogger("capacity")

GIB = 1024.0**3


class _Parser(argparse.ArgumentParser):
    """argparse, with a bad flag reported as one line (and exit code 2) like every other error."""

    def error(self, message: str) -> NoReturn:
        self.exit(ConfigError.exit_code, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _duration(text: str) -> str:
    """Return ``text`` if it is a duration (the command parses it again); else a flag error."""
    try:
        parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _window(text: str) -> str:
    """Return ``text`` if it is a window (a bare number is days); else a flag error."""
    try:
        parse_duration(text, bare="d")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _number(kind: type[int] | type[float], low: float, high: float) -> Callable[[str], float]:
    def convert(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"not {'an integer' if kind is int else 'a number'}: {text!r}"
            ) from None
        if not low <= value <= high:  # also refuses nan
            raise argparse.ArgumentTypeError(f"{text} is out of range ({low:g} to {high:g})")
        return value

    convert.__name__ = kind.__name__  # argparse names the type in its messages
    return convert


def _common() -> _Parser:
    # SUPPRESS: an option given before the subcommand is not reset by the subcommand's default.
    common = _Parser(add_help=False)
    common.add_argument(
        "--db",
        metavar="URL",
        default=argparse.SUPPRESS,
        help="database URL (default: $CAPACITY_DATABASE_URL, else sqlite:///capacity.db here)",
    )
    common.add_argument(
        "--config",
        metavar="FILE",
        default=argparse.SUPPRESS,
        help="YAML configuration: pricing (hourly), attribution, shared costs, retention "
        "(default: $CAPACITY_CONFIG, else built-in defaults)",
    )
    common.add_argument(
        "-v", "--verbose", action="count", default=argparse.SUPPRESS, help="more log output (repeatable)"
    )
    return common


_PORT = _number(int, 1, 65_535)


def _column_list(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"no column names in {text!r}")
    return names


def _duration_seconds(text: str) -> int:
    return parse_duration(_duration(text))


def build_parser() -> argparse.ArgumentParser:
    common = _common()
    parser = _Parser(
        prog="capacity",
        description="Multi-tenant Kubernetes capacity and cost reporting.",
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"capacity {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    collect = sub.add_parser(
        "collect",
        parents=[common],
        help="snapshot a cluster's pods, nodes and usage into the database",
        description="Take one snapshot of a cluster (nodes, pods, namespaces, ReplicaSets, Jobs, "
        "ResourceQuotas, metrics.k8s.io usage) and write it in one transaction. Uses the "
        "kubeconfig (--kubeconfig/--context) or, inside a pod, the service account.",
    )
    collect.add_argument(
        "--cluster", metavar="NAME", help="name to store the cluster under (default: context)"
    )
    collect.add_argument(
        "--kubeconfig", metavar="PATH", help="kubeconfig file (default: $KUBECONFIG or ~/.kube/config)"
    )
    collect.add_argument(
        "--context",
        metavar="CTX",
        action="append",
        help="kubeconfig context (default: the current one); repeat for several clusters",
    )
    collect.add_argument(
        "--all-contexts", action="store_true", help="collect every context of the kubeconfig"
    )
    collect.add_argument(
        "--every",
        metavar="DURATION",
        type=_duration_seconds,
        help="collect every DURATION (e.g. 5m) until SIGTERM/SIGINT, aligned to the period; "
        "failures are logged and retried with backoff",
    )
    collect.add_argument(
        "--page-size",
        type=_number(int, 1, 10_000),
        metavar="N",
        help="objects per list request, 1 to 10000 (default 500)",
    )
    collect.add_argument(
        "--timeout",
        type=_number(float, 0.1, 3600),
        metavar="SECONDS",
        help="timeout of every API request (default 30)",
    )
    collect.add_argument(
        "--usage-from",
        choices=("metrics-server", "prometheus"),
        default="metrics-server",
        help="where usage comes from: metrics.k8s.io (default), or cAdvisor series in Prometheus for "
        "clusters without metrics-server (with --prometheus or prometheus.url)",
    )
    add_prometheus_flags(collect)
    collect.set_defaults(handler=cmd_collect)
    add_backfill_parser(sub, common, _duration, _number)

    status = sub.add_parser(
        "status",
        parents=[common],
        help="per cluster: snapshots held and the totals of the latest one",
        description="Print, per cluster, the snapshot count, first and latest snapshot time, and for "
        "the latest snapshot its node, pod and container counts, allocatable, requested and used "
        "CPU and memory, and its warnings.",
    )
    status.add_argument("--format", choices=("table", "json"), default="table")
    status.add_argument("--cluster", action="append", default=[], metavar="NAME", help="only this cluster")
    status.set_defaults(handler=cmd_status)

    rep = sub.add_parser(
        "report",
        parents=[common],
        help="cost, utilization and savings reports (CSV, table, JSON)",
        description="Reports over a window: teams (by any configured dimension), namespaces, workloads, "
        "nodes, recommendations (right-sizing of the workloads that ran in the window, over "
        "rightsizing.window_days up to its end), chargeback (per team per month) and binpacking (nodes per "
        "pool now vs needed, as requested and right-sized, at the latest snapshots), nodetypes (the "
        "cheapest instance type of the catalog each pool could run its pods on), forecast (per "
        "cluster, the trend of requested CPU and memory over the window's days and the date it reaches "
        "allocatable) and volumes (per PersistentVolume: claim, team, class, size, cost, mounted hours, "
        "unmounted cost). Money is in the "
        "configured currency; column names carry their units.",
    )
    rep.add_argument("kind", choices=REPORT_KINDS, metavar="KIND", help=", ".join(REPORT_KINDS))
    rep.add_argument(
        "--window",
        metavar="DURATION",
        type=_window,
        help="window ending now, e.g. 12h, 7d, 2w; a bare number is days (default 7d)",
    )
    rep.add_argument("--start", metavar="WHEN", help="UTC date or timestamp, e.g. 2026-11-01 (inclusive)")
    rep.add_argument("--end", metavar="WHEN", help="UTC date or timestamp (exclusive; default now)")
    rep.add_argument(
        "--cluster", action="append", default=[], metavar="NAME", help="only this cluster (repeatable)"
    )
    rep.add_argument(
        "--team", action="append", default=[], metavar="TEAM", help="only this team (repeatable)"
    )
    rep.add_argument(
        "--by", default="team", metavar="DIMENSION", help="teams report: group by this dimension"
    )
    rep.add_argument("--step", choices=("day", "week", "month"), help="one row per group per period")
    rep.add_argument(
        "--idle",
        choices=("separate", "share", "hide"),
        default="separate",
        help="idle cost as __idle__ rows per cluster, shared to teams by allocated cost, or hidden",
    )
    rep.add_argument("--format", choices=("csv", "table", "json"), default="table")
    rep.add_argument(
        "--columns",
        type=_column_list,
        metavar="A,B,...",
        help="only these columns, in this order (every format; default for a table: a set that fits "
        "a terminal, for CSV and JSON: all)",
    )
    rep.add_argument("--output", metavar="FILE", help="write here instead of stdout")
    rep.set_defaults(handler=cmd_report)

    comp = sub.add_parser(
        "compact",
        parents=[common],
        help="build hourly/daily rollups and apply retention",
        description="Roll raw snapshot rows into hourly and daily sums (incremental and idempotent; also "
        "done after every collection), then delete raw rows, hourly and daily rollups past the "
        "retention configured (raw_days, hourly_days, daily_days). Nothing not yet rolled up is deleted.",
    )
    comp.set_defaults(handler=cmd_compact)

    demo = sub.add_parser(
        "demo",
        parents=[common],
        help="write a simulated fleet's history into the database, then start the dashboard",
        description="Simulate a multi-cluster fleet (deterministic for a seed) and write its history "
        "through the collector path (normalization, pricing, storage), then start the dashboard. "
        "Instants already stored are skipped, so re-running is safe and fast.",
    )
    demo.add_argument(
        "--days", type=_number(float, 0.01, 400), default=14.0, help="days of history, up to 400 (default 14)"
    )
    demo.add_argument(
        "--interval",
        default=DEMO_INTERVAL,
        metavar="DURATION",
        type=_duration,
        help=f"time between snapshots (default {DEMO_INTERVAL})",
    )
    demo.add_argument("--seed", type=int, default=1, help="simulation seed (default 1)")
    demo.add_argument(
        "--workers", type=_number(int, 1, 256), metavar="N", help="worker processes (default: CPU count)"
    )
    demo.add_argument("--no-dashboard", action="store_true", help="only write the history")
    demo.add_argument("--port", type=_PORT, default=8501, help="dashboard port (default 8501)")
    demo.set_defaults(handler=cmd_demo)

    dash = sub.add_parser(
        "dashboard",
        parents=[common],
        help="start the Streamlit dashboard",
        description="Start the dashboard on http://localhost:PORT over the database.",
    )
    dash.add_argument("--port", type=_PORT, default=8501, help="port (default 8501)")
    dash.add_argument("--address", default="0.0.0.0", help="address to listen on (default 0.0.0.0)")
    dash.set_defaults(handler=cmd_dashboard)

    db = sub.add_parser(
        "db", parents=[common], help="database maintenance", description="Database maintenance."
    )
    db_sub = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    up = db_sub.add_parser(
        "upgrade",
        parents=[common],
        help="apply pending schema migrations",
        description="Create or migrate the schema to this version's head revision.",
    )
    up.set_defaults(handler=cmd_db_upgrade)
    return parser


def cmd_db_upgrade(args: argparse.Namespace, config: Config) -> int:
    from capacity.store.engine import create_db_engine, current_revision

    engine = create_db_engine(getattr(args, "db", None))
    try:
        with translate_db_errors(engine.url):
            before = current_revision(engine)
        after = upgrade(engine)
    finally:
        engine.dispose()
    if before == after:
        print(f"{masked(engine.url)}: schema already at {after}")
    else:
        print(f"{masked(engine.url)}: schema upgraded from {before or 'empty'} to {after}")
    return 0


def cmd_collect(args: argparse.Namespace, config: Config) -> int:
    from capacity.store.compaction import compact
    from collectors.collect import collect_once
    from collectors.kube import KubeSource, cluster_name, kubeconfig_contexts
    from collectors.schedule import Target, run_every, run_once, stop_on_signals
    from collectors.source import CollectionStopped, SourceError

    contexts: list[str | None] = list(args.context or [])
    try:
        if args.all_contexts:
            contexts = list(kubeconfig_contexts(args.kubeconfig))
    except SourceError as exc:
        raise CollectionError(str(exc)) from None
    if not contexts:
        contexts = [None]
    if args.cluster and len(contexts) > 1:
        raise CollectionError(
            "--cluster names one cluster; with several contexts each is named after its context"
        )
    period = args.every
    nominal = float(period or config.collection.interval_seconds)
    stop = threading.Event()  # under --every, set by SIGTERM/SIGINT: a wait to retry ends at once
    options: dict[str, Any] = {
        "page_size": args.page_size or config.collection.page_size,
        "timeout_seconds": args.timeout or config.collection.request_timeout_seconds,
        "retries": config.collection.retries,
        "deadline_seconds": float(config.collection.deadline_seconds or max(nominal, 60.0)),
        "stop": stop,
    }
    config = config.model_copy(
        update={"collection": config.collection.model_copy(update={"interval_seconds": int(nominal)})}
    )
    rate_window = f"{config.prometheus.rate_window_seconds}s"
    usage = None
    if args.usage_from == "prometheus":
        try:
            usage = prometheus_client(args, config, stop)
        except SourceError as exc:
            raise CollectionError(str(exc)) from None
    engine = open_store(getattr(args, "db", None))

    def collector(context: str | None, name: str) -> Callable[[], CollectResult]:
        def collect() -> CollectResult:
            from collectors.prometheus.usage import PrometheusUsage

            # Connect afresh each time: exec-plugin and service-account tokens expire.
            with KubeSource.connect(
                cluster=name, kubeconfig=args.kubeconfig, context=context, **options
            ) as api:
                source = api if usage is None else PrometheusUsage(api, *usage, rate_window=rate_window)
                notes = () if api.tls_verified else (INSECURE_TLS_NOTE,)
                try:
                    result = collect_once(source, engine, cluster=name, config=config, notes=notes)
                except CollectionStopped:
                    raise  # not a failure: the loop ends
                except SourceError as exc:
                    raise CollectionError(f"{exc}; nothing written") from None
            try:
                # Roll up the hours this snapshot completed; cheap and incremental.
                with translate_db_errors(engine.url):
                    compact(engine, retention=config.retention, clusters=(name,))
            except CapacityError as exc:
                log.warning(
                    "compact failed after cluster=%s: %s (retried after the next collection)", name, exc
                )
            return result

        return collect

    try:
        targets = []
        for context in contexts:
            name = args.cluster or cluster_name(args.kubeconfig, context)
            targets.append(Target(cluster=name, collect=collector(context, name)))
        if period is None:
            failed = run_once(targets)
            if not failed:
                return 0
            # A database failure (3) says more than a cluster's (4): it fails every cluster.
            code = min(t.last_exit_code for t in failed)
            if len(targets) == 1:
                error = StoreError if code == StoreError.exit_code else CollectionError
                raise error(failed[0].last_error or "collection failed")
            for target in failed:
                print(f"capacity: error: {target.last_error}", file=sys.stderr)
            names = ", ".join(t.cluster for t in failed)
            print(
                f"capacity: error: {len(failed)} of {len(targets)} clusters failed: {names}", file=sys.stderr
            )
            return code
        with stop_on_signals(stop):
            run_every(targets, period=period, stop=stop)
        return 0
    finally:
        engine.dispose()
        if usage is not None:
            usage[0].close()


INSECURE_TLS_NOTE = (
    "the API server's TLS certificate is not verified (insecure-skip-tls-verify in the kubeconfig)"
)
DEMO_INTERVAL = "90m"
PRICED_KINDS = ("teams", "nodes", "clusters", "chargeback")
ASSET_PRICED_KINDS = ("teams", "chargeback", "volumes")
REPORT_KINDS = (
    "teams", "namespaces", "workloads", "nodes", "clusters", "recommendations", "chargeback", "binpacking",
    "nodetypes", "forecast", "volumes",
)  # fmt: skip


def _when(text: str, flag: str) -> datetime:
    try:
        return parse_instant(text, flag)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def cmd_compact(args: argparse.Namespace, config: Config) -> int:
    from capacity.store.compaction import compact

    engine = open_store(getattr(args, "db", None))
    try:
        with translate_db_errors(engine.url):
            result = compact(engine, retention=config.retention)
    finally:
        engine.dispose()
    deleted = (
        ", ".join(f"{table} {rows}" for table, rows in sorted(result.deleted.items()) if rows) or "nothing"
    )
    print(
        f"compact: {result.clusters} clusters; rolled up {result.hours_rolled} hours and "
        f"{result.days_rolled} days ({result.rollup_rows} rows); deleted {deleted}"
        + (f"; rolled {result.late_hours} hours again for late snapshots" if result.late_hours else "")
    )
    return 0


def cmd_report(args: argparse.Namespace, config: Config) -> int:
    from capacity.reads import Reads
    from capacity.reports import ReportRequest, build_report, team_names
    from capacity.store.status import asset_price_sources, cluster_names, price_sources
    from capacity.tables import render

    if args.by != "team" and args.by not in config.attribution.dimensions:
        known = ", ".join(["team", *config.attribution.dimensions])
        raise UsageError(f"--by {args.by}: not a configured dimension (known: {known})")
    end = _when(args.end, "--end") if args.end else datetime.now(UTC)
    if args.start:
        if args.window:
            raise UsageError("give either --window or --start/--end, not both")
        start = _when(args.start, "--start")
    else:
        try:
            start = end - timedelta(seconds=parse_duration(args.window or "7d", bare="d"))
        except OverflowError:
            raise UsageError(f"--window {args.window} reaches before the year 1") from None
    if start >= end:
        raise UsageError(f"empty window: --start {start.isoformat()} is not before --end {end.isoformat()}")
    request = ReportRequest(
        kind=args.kind,
        start=start,
        end=end,
        clusters=tuple(args.cluster),
        teams=tuple(args.team),
        by=args.by,
        step=args.step,
        idle=args.idle,
    )
    engine = open_store(getattr(args, "db", None))
    try:
        with translate_db_errors(engine.url), engine.connect() as conn:
            stored = cluster_names(conn)
            unknown = [c for c in request.clusters if c not in stored]
            if unknown:
                raise UsageError(
                    f"--cluster {', '.join(unknown)}: no such cluster in the store"
                    f" (known: {', '.join(stored) or 'none yet'})"
                )
            reads = Reads(config.pricing)
            frame = build_report(
                conn, request, config, progress=ProgressBar(f"report {args.kind}"), reads=reads
            )
            sources = (
                price_sources(conn, clusters=request.clusters, pricing=config.pricing)
                if args.kind in PRICED_KINDS
                else {}
            )
            asset_sources = (
                asset_price_sources(conn, clusters=request.clusters, pricing=config.pricing)
                if args.kind in ASSET_PRICED_KINDS
                else {}
            )
            if frame.empty and request.teams:
                teams = team_names(conn, start, end, request.clusters, config, reads=reads)
                shown = ", ".join(teams[:20]) + (f" and {len(teams) - 20} more" if len(teams) > 20 else "")
                print(
                    f"capacity: note: --team {', '.join(request.teams)} matched nothing in the window"
                    f" (teams in it: {shown or 'none'})",
                    file=sys.stderr,
                )
    finally:
        engine.dispose()
    text = render(frame, args.format, args.kind, columns=args.columns, currency=config.pricing.currency)
    if reads.stored_cost > 0:
        print(
            "capacity: note: part of this window was collected before price keys (schema 0003 or"
            " older): it is charged at the prices stored with it, not at this configuration's",
            file=sys.stderr,
        )
    if sources:
        # Say how much of the bill rests on fallback prices: a number to trust less.
        total = sum(sources.values())
        parts = ", ".join(f"{n} by {source}" for source, n in sorted(sources.items()))
        print(
            f"pricing of the {total} nodes in the latest snapshots: {parts}"
            + (f" ({sources['default']} at default per-resource rates)" if sources.get("default") else ""),
            file=sys.stderr,
        )
    if args.kind == "binpacking":
        _print_fleet_utilization(frame)
    for what, counted in asset_sources.items():
        if counted:
            parts = ", ".join(f"{n} by {source}" for source, n in sorted(counted.items()))
            print(
                f"pricing of the {sum(counted.values())} {what} in the latest snapshots: {parts}",
                file=sys.stderr,
            )
    if args.output:
        try:
            with open(args.output, "w", encoding="utf-8") as out:
                out.write(text)
        except OSError as exc:
            raise CapacityError(f"cannot write {args.output}: {exc.strerror or exc}") from None
    else:
        sys.stdout.write(text)
    return 0


def _print_fleet_utilization(packing: pd.DataFrame) -> None:
    """Say the fleet's utilization now, packed, and right-sized and packed (on stderr)."""
    from capacity.analysis.binpacking import fleet_utilization

    parts = []
    for resource in ("cpu", "memory"):
        found = fleet_utilization(packing, resource)
        if found is not None and found.now > 0:
            parts.append(
                f"{resource} {found.now:.0%} now, {found.packed:.0%} packed, {found.rightsized_packed:.0%} "
                f"right-sized and packed ({found.rightsized_packed / found.now:.1f}x)"
            )
    if parts:
        print(f"fleet utilization (used / allocatable): {'; '.join(parts)}", file=sys.stderr)


def cmd_demo(args: argparse.Namespace, config: Config) -> int:
    from collectors.demo import plan, write_history

    interval = parse_duration(args.interval)
    engine = open_store(getattr(args, "db", None))
    try:
        demo = plan(days=args.days, interval_seconds=interval, seed=args.seed)
        bar = ProgressBar("simulating fleet")
        result = write_history(demo, engine, config=config, workers=args.workers, progress=bar)
        from capacity.store.compaction import compact

        with translate_db_errors(engine.url):
            compact(engine, retention=config.retention)
        where = masked(engine.url)
    finally:
        engine.dispose()
    print(
        f"demo: {len(result.clusters)} clusters ({', '.join(result.clusters)}), {result.instants} instants "
        f"every {args.interval} over {args.days:g} days: {result.written} snapshots written, "
        f"{result.skipped} already there, {result.pods_latest} pods now, {result.seconds:.1f}s -> {where}"
    )
    if args.no_dashboard:
        return 0
    return cmd_dashboard(argparse.Namespace(**{**vars(args), "address": "0.0.0.0"}), config)


def cmd_dashboard(args: argparse.Namespace, config: Config) -> int:
    import importlib.util
    import os

    from capacity.store.engine import resolve_url

    if importlib.util.find_spec("dashboard.serve") is None:
        raise CapacityError("the dashboard package is not installed (pip install -e .)")
    url = resolve_url(getattr(args, "db", None))
    engine = open_store(url, must_exist=True)  # fail here, with one line, rather than in the browser
    engine.dispose()
    env = {**os.environ, "CAPACITY_DATABASE_URL": url}
    if getattr(args, "config", None):
        env["CAPACITY_CONFIG"] = os.path.abspath(args.config)
    # dashboard.serve imports pandas, plotly, SQLAlchemy and the dashboard's modules, then runs
    # `streamlit run dashboard/app.py` with these flags in the same process: the first page view
    # does not pay for those imports. No file watcher: a served dashboard does not reload its
    # code, and the watcher resolves the path of every loaded module (1,500 of them) on the
    # server's event loop whenever a run imports something new: 0.13 s and more per scan, during
    # which no message and no static file goes out.
    command = [
        sys.executable, "-m", "dashboard.serve",
        "--server.port", str(args.port), "--server.address", args.address, "--server.headless", "true",
        "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
    ]  # fmt: skip
    print(f"dashboard: http://localhost:{args.port} (database {masked(url)}; Ctrl-C to stop)", flush=True)
    sys.stderr.flush()
    # Become the Streamlit server: SIGTERM from a container runtime or a test reaches it directly.
    os.execve(sys.executable, command, env)


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def status_json(rows: Sequence[ClusterStatus]) -> list[dict[str, Any]]:
    """Return the JSON form of ``capacity status``: one object per cluster."""
    out = []
    for row in rows:
        item = asdict(row)
        item["first_snapshot"] = _iso(row.first_snapshot)
        item["latest_snapshot"] = _iso(row.latest_snapshot)
        out.append(item)
    return out


def _fmt(value: float | None, scale: float = 1.0, digits: int = 2) -> str:
    return "unknown" if value is None else f"{value / scale:,.{digits}f}"


def status_table(rows: Sequence[ClusterStatus]) -> str:
    headers = (
        "cluster", "snapshots", "first", "latest", "nodes", "pods", "pending", "containers",
        "cpu alloc", "cpu req", "cpu used", "mem alloc GiB", "mem req GiB", "mem used GiB", "warnings",
    )  # fmt: skip
    table = [headers]
    for r in rows:
        table.append(
            (
                r.cluster,
                str(r.snapshots),
                _iso(r.first_snapshot),
                _iso(r.latest_snapshot),
                str(r.nodes),
                str(r.pods),
                str(r.pending_pods),
                str(r.containers),
                _fmt(r.cpu_allocatable_cores),
                _fmt(r.cpu_requested_cores),
                _fmt(r.cpu_usage_cores),
                _fmt(r.memory_allocatable_bytes, GIB),
                _fmt(r.memory_requested_bytes, GIB),
                _fmt(r.memory_usage_bytes, GIB),
                str(len(r.warnings)),
            )
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(headers))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in table]
    for r in rows:
        lines.extend(f"warning: {r.cluster}: {w}" for w in r.warnings)
    return "\n".join(lines)


def cmd_status(args: argparse.Namespace, config: Config) -> int:
    from capacity.store.status import cluster_status  # reads pandas: not on the collector's path

    engine = open_store(getattr(args, "db", None))
    try:
        with translate_db_errors(engine.url), engine.connect() as conn:
            rows = cluster_status(conn, clusters=tuple(args.cluster))
    finally:
        engine.dispose()
    if args.format == "json":
        print(json.dumps(status_json(rows), indent=2))
    elif not rows:
        print("no snapshots yet: run `capacity collect` (or `capacity demo`)")
    else:
        print(status_table(rows))
    return 0


def _setup_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity < 0 else logging.INFO if verbosity == 0 else logging.DEBUG
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    logging.getLogger("kubernetes").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging(getattr(args, "verbose", 0))
    try:
        # Configuration is read once, here, for every command: a broken file fails early.
        config = load_config(getattr(args, "config", None))
        return int(args.handler(args, config))
    except CapacityError as exc:
        print(f"capacity: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("capacity: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
