"""The live Kubernetes API as a source: raw pages through the official client.

The `kubernetes` client (v37) builds strict pydantic models; one object missing a field the
schema calls required fails a whole page, and 150,000 model objects cost minutes and
gigabytes. So lists are asked for as raw pages (``_preload_content=False``), paged with
``limit``/``continue``, and decoded here. Every request is bounded by a timeout; 5xx, 429
and connection errors are retried with backoff; the API's errors are translated once, here,
into the collector's own (one line, naming the cluster).
"""

from __future__ import annotations

import http.client
import logging
import os
import random
import re
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from collectors.source import (
    OPTIONAL_KINDS,
    ClusterUnreachable,
    CollectionStopped,
    Kind,
    KindUnavailable,
    ListExpired,
    RawObject,
    SourceError,
)

CONNECT_TIMEOUT_SECONDS = 10.0
MAX_READ_TIMEOUT_SECONDS = 600.0
MAX_BACKOFF_SECONDS = 30.0
BODY_CHUNK_BYTES = 1 << 16
log = logging.getLogger("capacity.collect")
_RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
_REASONS = {401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 410: "Gone", 429: "Too Many Requests"}


def _lister(api: client.ApiClient, kind: Kind) -> Callable[..., Any]:
    core = client.CoreV1Api(api)
    if kind is Kind.NAMESPACES:
        return core.list_namespace
    if kind is Kind.NODES:
        return core.list_node
    if kind is Kind.PODS:
        return core.list_pod_for_all_namespaces
    if kind is Kind.RESOURCEQUOTAS:
        return core.list_resource_quota_for_all_namespaces
    if kind is Kind.PERSISTENTVOLUMES:
        return core.list_persistent_volume
    if kind is Kind.PERSISTENTVOLUMECLAIMS:
        return core.list_persistent_volume_claim_for_all_namespaces
    if kind is Kind.STORAGECLASSES:
        return client.StorageV1Api(api).list_storage_class
    if kind is Kind.SERVICES:
        return core.list_service_for_all_namespaces
    if kind is Kind.HORIZONTALPODAUTOSCALERS:
        return client.AutoscalingV2Api(api).list_horizontal_pod_autoscaler_for_all_namespaces
    if kind is Kind.REPLICASETS:
        return client.AppsV1Api(api).list_replica_set_for_all_namespaces
    if kind is Kind.JOBS:
        return client.BatchV1Api(api).list_job_for_all_namespaces
    custom = client.CustomObjectsApi(api)
    plural = "pods" if kind is Kind.POD_METRICS else "nodes"

    def list_metrics(**kwargs: Any) -> Any:
        return custom.list_cluster_custom_object("metrics.k8s.io", "v1beta1", plural, **kwargs)

    return list_metrics


def _status_message(exc: ApiException) -> str:
    body = exc.body
    if body:
        try:
            decoded = orjson.loads(body)
            if isinstance(decoded, dict) and decoded.get("message"):
                return str(decoded["message"]).splitlines()[0]
        except orjson.JSONDecodeError:
            return str(exc.reason or _REASONS.get(exc.status or 0, "error"))  # not a Status body
    return str(exc.reason or _REASONS.get(exc.status or 0, "error"))


def _retry_after(exc: ApiException) -> float | None:
    headers = exc.headers or {}
    value = headers.get("Retry-After") if hasattr(headers, "get") else None
    try:
        return None if value is None else float(value)
    except ValueError:
        return None


class KubeSource:
    """Lists one cluster's objects as raw pages through a configured ``ApiClient``.

    One source serves one collection: its deadline counts from its first request. Every
    wait before a retry (5xx, 429, timeouts, dropped connections, a list that answered
    410 Gone) is bounded: at most ``retries`` per request, with exponential backoff, and a
    ``stop`` event set by a signal ends the wait (``CollectionStopped``).
    """

    def __init__(
        self,
        api: client.ApiClient,
        *,
        cluster: str,
        page_size: int = 500,
        timeout_seconds: float = 30.0,
        retries: int = 4,
        backoff_seconds: float = 0.5,
        deadline_seconds: float | None = None,
        stop: threading.Event | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.api = api
        self.cluster = cluster
        self.page_size = page_size
        self.timeout_seconds = timeout_seconds
        self.retries = retries
        self.backoff_seconds = backoff_seconds
        self.deadline_seconds = deadline_seconds
        self._stop = stop or threading.Event()
        self._clock = clock
        self._deadline: float | None = None
        self._jitter = random.Random()
        self._restarts: dict[Kind, int] = {}
        self.server = str(api.configuration.host)
        self.tls_verified = not self.server.startswith("https://") or bool(api.configuration.verify_ssl)

    @classmethod
    def connect(
        cls,
        *,
        cluster: str | None,
        kubeconfig: str | os.PathLike[str] | None = None,
        context: str | None = None,
        **options: Any,
    ) -> KubeSource:
        """Return a source from a kubeconfig (file, context), or the in-cluster service account.

        The cluster name defaults to the context name (or ``in-cluster``).
        """
        kubeconfig = None if kubeconfig is None else os.fspath(kubeconfig)
        configuration = client.Configuration()
        in_cluster = kubeconfig is None and context is None and _in_cluster()
        try:
            if in_cluster:
                config.load_incluster_config(client_configuration=configuration)
                name = cluster or "in-cluster"
            else:
                path = kubeconfig_path(kubeconfig)
                if not any(Path(p).expanduser().is_file() for p in path.split(os.pathsep) if p):
                    raise ClusterUnreachable(f"kubeconfig {path} does not exist")
                config.load_kube_config(config_file=path, context=context, client_configuration=configuration)
                name = cluster or context or _current_context(kubeconfig)
        except ClusterUnreachable:
            raise
        except Exception as exc:  # the loader raises whatever a bad file provokes
            where = (
                "in-cluster service account" if in_cluster else f"kubeconfig {kubeconfig_path(kubeconfig)}"
            )
            raise ClusterUnreachable(
                f"cannot load {where}" + (f" context {context}" if context else "") + f": {_first_line(exc)}"
            ) from None
        # Retries are ours (with backoff, counted, translated); urllib3's own would multiply
        # every timeout.
        configuration.retries = False
        return cls(client.ApiClient(configuration), cluster=name, **options)

    def close(self) -> None:
        self.api.close()

    def __enter__(self) -> KubeSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def pages(self, kind: Kind) -> Iterator[list[RawObject]]:
        """Yield pages of raw items; raises ListExpired if the list expires mid-way."""
        lister = _lister(self.api, kind)
        restarts = self._restarts.get(kind, 0)
        if restarts:
            # A restarted list backs off like any retry: an API that expires every list at
            # once is not asked again at full speed.
            self._wait(self._backoff(restarts))
        token: str | None = None
        while True:
            body = self._request(kind, lister, token)
            items = body.get("items")
            if not isinstance(items, list):
                what = "null" if items is None else type(items).__name__
                message = (
                    f"cluster {self.cluster}: the {kind.label} list answered without an items array ({what})"
                )
                if kind in OPTIONAL_KINDS:
                    raise KindUnavailable(kind, None, message)
                raise ClusterUnreachable(message)
            yield items
            metadata = body.get("metadata")
            token = (metadata.get("continue") if isinstance(metadata, dict) else None) or None
            if not token:
                return

    def _request(self, kind: Kind, lister: Callable[..., Any], token: str | None) -> dict[str, Any]:
        attempt = 0
        while True:
            delay: float | None = None
            failure: str
            try:
                return self._get(kind, lister, token)
            except ApiException as exc:
                status = exc.status or 0
                if status == 0:
                    # The client wraps TLS failures as status 0: not worth a retry.
                    reason = _tls_reason(exc)
                    raise ClusterUnreachable(
                        f"cannot reach cluster {self.cluster} at {self.server}: TLS failed: {reason}"
                    ) from None
                if status == 410 and token:
                    self._restarts[kind] = self._restarts.get(kind, 0) + 1
                    raise ListExpired(
                        f"cluster {self.cluster}: the {kind.label} list expired mid-way (410 Gone)"
                    ) from None
                # 410 on a first page (no continue token) is the API's own trouble: retried.
                if status not in _RETRYABLE_STATUS and status != 410:
                    raise self._translate_status(kind, exc, attempt) from None
                failure = f"HTTP {status} {_status_message(exc)}"
                if attempt >= self.retries:
                    raise self._translate_status(kind, exc, attempt) from None
                delay = _retry_after(exc)
            except _BadBody as exc:
                failure = str(exc)
                if attempt >= self.retries:
                    raise self._give_up(
                        kind,
                        f"cluster {self.cluster}: the {kind.label} list {exc} (after {attempt + 1} attempts)",
                    ) from None
            except urllib3.exceptions.HTTPError as exc:
                failure = _describe_transport(exc, self.timeout_seconds)
                if attempt >= self.retries:
                    raise self._give_up(
                        kind,
                        f"cannot reach cluster {self.cluster} at {self.server}: {failure}"
                        f" (after {attempt + 1} attempts)",
                    ) from None
            attempt += 1
            if delay is None:
                delay = self._backoff(attempt)
            log.debug("cluster=%s kind=%s attempt=%d failed: %s", self.cluster, kind.label, attempt, failure)
            self._wait(min(delay, MAX_BACKOFF_SECONDS))

    def _get(self, kind: Kind, lister: Callable[..., Any], token: str | None) -> dict[str, Any]:
        """Return one page's decoded body; the whole request is held to the deadline."""
        read_timeout = self._remaining(kind, min(self.timeout_seconds, MAX_READ_TIMEOUT_SECONDS))
        kwargs: dict[str, Any] = {
            "limit": self.page_size,
            "_preload_content": False,
            "_request_timeout": (min(CONNECT_TIMEOUT_SECONDS, read_timeout), read_timeout),
        }
        if token:
            kwargs["_continue"] = token
        with warnings.catch_warnings():
            # insecure-skip-tls-verify: said once per snapshot (tls_verified), not per request
            warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
            response = lister(**kwargs)
        try:
            data = self._read_body(kind, response)
        finally:
            response.close()  # read to the end it goes back to the pool; half-read, never
        if data[:1] == b"<":
            raise _BadBody("answered with HTML, not JSON (a proxy or a login page in the way?)")
        try:
            decoded = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise _BadBody(f"returned invalid JSON ({len(data)} bytes)") from None
        if not isinstance(decoded, dict):
            raise _BadBody("is not a JSON object")
        return decoded

    def _read_body(self, kind: Kind, response: Any) -> bytes:
        # read1 returns after one socket read, each bounded by the read timeout; checking the
        # deadline between them bounds a response that trickles in.
        chunks: list[bytes] = []
        while True:
            chunk = response.read1(BODY_CHUNK_BYTES)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
            self._remaining(kind, 0.0)

    def _remaining(self, kind: Kind, wanted: float) -> float:
        """Return ``wanted`` seconds capped at what is left of the deadline; raise when none is."""
        if self.deadline_seconds is None:
            return wanted
        now = self._clock()
        if self._deadline is None:
            self._deadline = now + self.deadline_seconds
        left = self._deadline - now
        if left <= 0:
            raise ClusterUnreachable(
                f"cluster {self.cluster}: collection exceeded its deadline of {self.deadline_seconds:g} s"
                f" (listing {kind.label})"
            )
        return max(0.001, min(wanted, left)) if wanted else left

    def _backoff(self, attempt: int) -> float:
        delay = self.backoff_seconds * (2 ** (attempt - 1))
        return float(min(delay * (0.5 + self._jitter.random()), MAX_BACKOFF_SECONDS))

    def _wait(self, seconds: float) -> None:
        if self.deadline_seconds is not None and self._deadline is not None:
            seconds = min(seconds, max(0.0, self._deadline - self._clock()))
        if self._stop.wait(seconds):
            raise CollectionStopped(f"cluster {self.cluster}: stopped while waiting to retry")

    def _translate_status(self, kind: Kind, exc: ApiException, attempt: int) -> SourceError:
        status = exc.status or 0
        message = _status_message(exc)
        if status == 401:
            return ClusterUnreachable(f"cluster {self.cluster} rejected our credentials (401 Unauthorized)")
        what = {403: "forbidden (RBAC)", 404: "not served", 503: "unavailable"}.get(status, "failing")
        if kind in OPTIONAL_KINDS:
            tries = f" (after {attempt + 1} attempts)" if attempt else ""
            return KindUnavailable(kind, status, f"{kind.label}: {what}: HTTP {status} {message}{tries}")
        tries = f" after {attempt + 1} attempts" if attempt else ""
        return ClusterUnreachable(
            f"cluster {self.cluster}: cannot list {kind.label}: HTTP {status} {message}{tries}"
        )

    def _give_up(self, kind: Kind, message: str) -> SourceError:
        # An optional kind that keeps failing (metrics-server down) degrades the snapshot; a
        # required one fails it.
        return KindUnavailable(kind, None, message) if kind in OPTIONAL_KINDS else ClusterUnreachable(message)


class _BadBody(Exception):
    """A page whose body is not a JSON object (truncated, HTML, garbage): retried."""


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _tls_reason(exc: ApiException) -> str:
    # reason is "SSLError\n<the error>"; keep the error, without the C source location
    lines = [line for line in str(exc.reason or "").splitlines() if line.strip()]
    text = lines[-1] if lines else "handshake failed"
    text = re.sub(r"\s*\(_ssl\.c:\d+\)", "", text)
    match = re.search(r"\[SSL[^\]]*\]\s*([^'\")]+)", text)
    return match.group(1).strip() if match else text.strip()


def _describe_transport(exc: urllib3.exceptions.HTTPError, timeout: float) -> str:
    reason = getattr(exc, "reason", None) or exc
    for arg in getattr(exc, "args", ()):
        if isinstance(arg, http.client.IncompleteRead):
            expected = f", {arg.expected} more expected" if arg.expected is not None else ""
            return f"connection broken mid-response (got {_partial_size(arg.partial)} bytes{expected})"
    if isinstance(reason, urllib3.exceptions.ReadTimeoutError | TimeoutError) or "timed out" in str(reason):
        return f"timeout after {timeout:g} s"
    if isinstance(reason, urllib3.exceptions.NewConnectionError) or "refused" in str(reason).lower():
        return "connection refused"
    if isinstance(reason, urllib3.exceptions.ProtocolError | ConnectionError) or "aborted" in str(reason):
        return "connection closed by the server before a response"
    return _first_line(reason) if isinstance(reason, BaseException) else str(reason)


def _partial_size(partial: object) -> int:
    return partial if isinstance(partial, int) else len(partial) if isinstance(partial, bytes) else 0


def cluster_name(kubeconfig: str | None, context: str | None) -> str:
    """Return the name a cluster is stored under by default: its context, or ``in-cluster``."""
    if context:
        return context
    if kubeconfig is None and _in_cluster():
        return "in-cluster"
    return _current_context(kubeconfig)


def _in_cluster() -> bool:
    return (
        not os.environ.get("KUBECONFIG")
        and not Path("~/.kube/config").expanduser().exists()
        and bool(os.environ.get("KUBERNETES_SERVICE_HOST"))
    )


def kubeconfig_path(kubeconfig: str | None) -> str:
    """Return the kubeconfig file(s) to read: the argument, ``$KUBECONFIG`` or ``~/.kube/config``.

    Read now, not when the client was imported (the client's own default is fixed at import).
    """
    return kubeconfig or os.environ.get("KUBECONFIG") or "~/.kube/config"


def _current_context(kubeconfig: str | None) -> str:
    try:
        _contexts, current = config.list_kube_config_contexts(config_file=kubeconfig_path(kubeconfig))
        return str(current.get("name") or "default")
    except Exception:  # a broken file is reported by connect()
        return "default"


def kubeconfig_contexts(kubeconfig: str | None) -> list[str]:
    """Return every context name in the kubeconfig (for ``--all-contexts``)."""
    try:
        contexts, _current = config.list_kube_config_contexts(config_file=kubeconfig_path(kubeconfig))
        names = [str(c["name"]) for c in contexts]
    except Exception as exc:  # the loader raises whatever a bad file provokes
        raise ClusterUnreachable(
            f"cannot load kubeconfig {kubeconfig_path(kubeconfig)}: {_first_line(exc)}"
        ) from None
    if not names:
        raise ClusterUnreachable(f"kubeconfig {kubeconfig_path(kubeconfig)} has no contexts")
    return names
