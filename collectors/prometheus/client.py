"""The Prometheus HTTP API (``/api/v1/query``, ``/api/v1/query_range``), over urllib3.

Every request is a form POST (selectors with many matchers stay out of the URL), has a
timeout, and is retried with exponential backoff on what may pass (connection errors,
timeouts, 5xx, 429 with its Retry-After); what will not pass (400/422: a bad query, 401/403,
a body that is not the API's JSON, e.g. the HTML of a wrong URL) fails at once with
Prometheus' own message. TLS is verified (a CA bundle may be given); a bearer token, basic
auth and custom headers (``X-Scope-OrgID`` for Mimir) are sent on every request.
"""

from __future__ import annotations

import base64
import math
import random
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import orjson
import urllib3

from collectors.source import ClusterUnreachable, CollectionStopped, SourceError

MAX_BACKOFF_SECONDS = 30.0
Labels = dict[str, str]
Points = list[tuple[float, float]]  # (unix seconds, value)


class PrometheusUnreachable(ClusterUnreachable):
    """Prometheus could not be reached (or kept failing): nothing read from it is usable."""


class QueryRejected(SourceError):
    """Prometheus refused a query (400/422: bad selector, too many points, query timeout)."""


@dataclass(frozen=True, slots=True)
class Series:
    labels: Labels
    points: Points


@dataclass(frozen=True, slots=True)
class Access:
    """How to reach one Prometheus: URL, credentials, TLS, and how long to wait and retry."""

    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    token_file: str | None = None
    username: str | None = None
    password_file: str | None = None
    ca_file: str | None = None
    timeout_seconds: float = 60.0
    retries: int = 4
    backoff_seconds: float = 0.5
    max_in_flight: int = 1


def _read_secret(path: str, what: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise PrometheusUnreachable(
            f"cannot read the Prometheus {what} file {path}: {exc.strerror or exc}"
        ) from None


def _headers(access: Access) -> dict[str, str]:
    headers = {"Accept": "application/json", **access.headers}
    if access.token_file:
        headers["Authorization"] = f"Bearer {_read_secret(access.token_file, 'token')}"
    elif access.username is not None:
        password = _read_secret(access.password_file, "password") if access.password_file else ""
        pair = base64.b64encode(f"{access.username}:{password}".encode()).decode()
        headers["Authorization"] = f"Basic {pair}"
    return headers


class PrometheusClient:
    """Queries one Prometheus; thread-safe (a backfill runs ``max_in_flight`` queries at once)."""

    def __init__(
        self,
        access: Access,
        *,
        stop: threading.Event | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        parts = urlsplit(access.url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise PrometheusUnreachable(
                f"not a Prometheus URL: {access.url!r} (expected http(s)://host:port)"
            )
        self.access = access
        self.base = access.url.rstrip("/")
        self._headers = {**_headers(access), "Content-Type": "application/x-www-form-urlencoded"}
        self._timeout = urllib3.Timeout(
            connect=min(10.0, access.timeout_seconds),
            read=access.timeout_seconds + min(5.0, access.timeout_seconds / 4),
        )
        pool: dict[str, Any] = {"maxsize": max(1, access.max_in_flight), "block": True, "retries": False}
        if parts.scheme == "https":
            pool["cert_reqs"] = "CERT_REQUIRED"
            if access.ca_file:
                if not Path(access.ca_file).is_file():
                    raise PrometheusUnreachable(f"Prometheus CA bundle {access.ca_file} does not exist")
                pool["ca_certs"] = access.ca_file
        self._http = urllib3.PoolManager(**pool)
        self._stop = stop or threading.Event()
        self._sleep = sleep
        self._jitter = random.Random()
        self._lock = threading.Lock()
        self.queries = 0  # requests that got an answer
        self.retried = 0

    def query_range(self, expr: str, start: datetime, end: datetime, step: timedelta) -> list[Series]:
        """Return the matrix of ``expr`` evaluated at start, start+step, ..., end."""
        form = {
            "query": expr,
            "start": _stamp(start),
            "end": _stamp(end),
            "step": f"{step.total_seconds():g}",
            "timeout": f"{self.access.timeout_seconds:g}s",
        }
        data = self._post("/api/v1/query_range", form)
        if data.get("resultType") != "matrix":
            raise QueryRejected(f"Prometheus answered {data.get('resultType')!r} to a range query")
        return [_series(item, "values") for item in data.get("result") or []]

    def query(self, expr: str, at: datetime) -> list[Series]:
        """Return the vector of ``expr`` at one instant (each series with one point)."""
        form = {"query": expr, "time": _stamp(at), "timeout": f"{self.access.timeout_seconds:g}s"}
        data = self._post("/api/v1/query", form)
        if data.get("resultType") != "vector":
            raise QueryRejected(f"Prometheus answered {data.get('resultType')!r} to an instant query")
        return [_series(item, "value") for item in data.get("result") or []]

    def close(self) -> None:
        self._http.clear()

    def _post(self, path: str, form: dict[str, str]) -> dict[str, Any]:
        url = self.base + path
        last = ""
        for attempt in range(self.access.retries + 1):
            if attempt:
                with self._lock:
                    self.retried += 1
            try:
                response = self._http.urlopen(
                    "POST",
                    url,
                    body=urlencode(form),
                    headers=self._headers,
                    timeout=self._timeout,
                    preload_content=True,
                    redirect=False,
                )
            except urllib3.exceptions.SSLError as exc:
                raise PrometheusUnreachable(
                    f"Prometheus {self.base}: TLS failed: {_first_line(exc)}"
                ) from None
            except urllib3.exceptions.HTTPError as exc:
                last = _transport(exc, self.access.timeout_seconds)
                self._wait(self._backoff(attempt + 1), url)
                continue
            status = response.status
            if (status == 429 or status >= 500) and not _timed_out(response.data):
                last = f"HTTP {status} {_error_text(response.data)}".rstrip()
                self._wait(_retry_after(response) or self._backoff(attempt + 1), url)
                continue
            with self._lock:
                self.queries += 1
            return self._answer(response.status, response.data, form["query"])
        raise PrometheusUnreachable(
            f"Prometheus {self.base}: {last} (after {self.access.retries + 1} attempts)"
        )

    def _answer(self, status: int, body: bytes, query: str) -> dict[str, Any]:
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError:
            payload = None
        if not isinstance(payload, dict) or "status" not in payload:
            head = body[:60].decode("utf-8", "replace").strip().splitlines()
            what = f"{head[0]!r}..." if head else "an empty body"
            raise PrometheusUnreachable(
                f"{self.base} did not answer as the Prometheus API (HTTP {status}, {what}): is the URL right?"
            )
        if status in (401, 403):
            raise PrometheusUnreachable(f"Prometheus {self.base} refused our credentials (HTTP {status})")
        if payload.get("status") != "success":
            kind = payload.get("errorType") or f"HTTP {status}"
            message = str(payload.get("error") or "no message").splitlines()[0]
            raise QueryRejected(f"Prometheus {self.base} rejected a query ({kind}: {message}): {query[:200]}")
        data = payload.get("data")
        if not isinstance(data, dict):
            raise PrometheusUnreachable(f"Prometheus {self.base}: an answer without data")
        return data

    def _backoff(self, attempt: int) -> float:
        delay = self.access.backoff_seconds * (2 ** (attempt - 1))
        return float(min(delay * (0.5 + self._jitter.random()), MAX_BACKOFF_SECONDS))

    def _wait(self, seconds: float, url: str) -> None:
        if self._sleep is not None:
            self._sleep(seconds)
        elif self._stop.wait(seconds):
            raise CollectionStopped(f"stopped while waiting to retry {url}")


def _stamp(value: datetime) -> str:
    return f"{value.timestamp():.3f}"


def _series(item: Any, key: str) -> Series:
    if not isinstance(item, dict):
        raise QueryRejected("Prometheus answered a malformed series")
    labels = {str(k): str(v) for k, v in (item.get("metric") or {}).items()}
    raw = item.get(key) or []
    values = [raw] if key == "value" else raw
    points: Points = []
    for pair in values:
        try:
            at, text = pair
            value = float(text)
        except (TypeError, ValueError):
            continue
        if math.isfinite(value):
            points.append((float(at), value))
    return Series(labels, points)


def _timed_out(body: bytes) -> bool:
    """Whether the body is Prometheus' own query timeout (503, errorType "timeout"): asking the
    same again would time out again; the caller asks for less (``QueryRejected``)."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return False
    return isinstance(payload, dict) and payload.get("errorType") == "timeout"


def _retry_after(response: urllib3.BaseHTTPResponse) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return min(float(value), MAX_BACKOFF_SECONDS) if value is not None else None
    except ValueError:
        return None


def _error_text(body: bytes) -> str:
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return ""
    return str(payload.get("error") or "").splitlines()[0] if isinstance(payload, dict) else ""


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _transport(exc: urllib3.exceptions.HTTPError, timeout: float) -> str:
    reason = getattr(exc, "reason", None) or exc
    text = str(reason)
    if isinstance(reason, urllib3.exceptions.ReadTimeoutError | TimeoutError) or "timed out" in text:
        return f"timeout after {timeout:g} s"
    if isinstance(reason, urllib3.exceptions.NewConnectionError) or "refused" in text.lower():
        return "connection refused"
    return _first_line(reason) if isinstance(reason, BaseException) else text


__all__ = ["Access", "PrometheusClient", "PrometheusUnreachable", "QueryRejected", "Series"]
