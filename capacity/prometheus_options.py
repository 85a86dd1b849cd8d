"""The Prometheus flags shared by ``capacity backfill`` and ``capacity collect --usage-from
prometheus``, and the client they configure (flags override ``prometheus:`` in the config)."""

from __future__ import annotations

import argparse
import threading
from typing import TYPE_CHECKING

from capacity.config import Config
from capacity.errors import UsageError
from capacity.matchers import parse_matchers

if TYPE_CHECKING:
    from collectors.prometheus.client import PrometheusClient
    from collectors.prometheus.promql import Selectors


def _matchers(text: str) -> tuple[str, ...]:
    try:
        return parse_matchers(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _header(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME=VALUE")
    return name.strip(), value.strip()


def add_prometheus_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--prometheus", metavar="URL", help="Prometheus base URL (default: prometheus.url)")
    parser.add_argument(
        "--prometheus-selector",
        type=_matchers,
        metavar="MATCHERS",
        help="label matchers added to every selector, e.g. 'cluster=\"prod-eu\"' (one Prometheus for "
        "many clusters)",
    )
    parser.add_argument("--prometheus-token-file", metavar="FILE", help="bearer token file")
    parser.add_argument(
        "--prometheus-header",
        type=_header,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a header sent with every query (repeatable), e.g. X-Scope-OrgID=team-a",
    )
    parser.add_argument("--prometheus-ca-file", metavar="FILE", help="CA bundle to verify Prometheus' TLS")


def prometheus_client(
    args: argparse.Namespace, config: Config, stop: threading.Event | None = None
) -> tuple[PrometheusClient, Selectors]:
    """Return the client and selectors the flags and ``prometheus:`` configure."""
    from collectors.prometheus.client import Access, PrometheusClient
    from collectors.prometheus.promql import Selectors

    settings = config.prometheus
    url = args.prometheus or settings.url
    if not url:
        raise UsageError("give --prometheus URL (or prometheus.url in the configuration)")
    matchers = args.prometheus_selector
    if matchers is None:
        matchers = parse_matchers(settings.selector)  # checked when the configuration was read
    access = Access(
        url=url,
        headers={**settings.headers, **dict(args.prometheus_header)},
        token_file=args.prometheus_token_file or settings.token_file,
        username=settings.username,
        password_file=settings.password_file,
        ca_file=args.prometheus_ca_file or settings.ca_file,
        timeout_seconds=settings.timeout_seconds,
        retries=settings.retries,
        max_in_flight=settings.max_in_flight,
    )
    return PrometheusClient(access, stop=stop), Selectors(matchers)
