"""The live Kubernetes API as a source: raw pages through the official client.

The `kubernetes` client (v37) builds strict pydantic models; one object missing a field the
schema calls required fails a whole page, and 150,000 model objects cost minutes and
gigabytes. So lists are asked for as raw pages (``_preload_content=False``), paged with
``limit``/``continue``, and decoded here. Every request is bounded by a timeout; 5xx, 429
and connection errors are retried with backoff; the API's errors are translated once, here,
into the collector's own (one line, naming the cluster).
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from collectors.source import (
    OPTIONAL_KINDS,
    ClusterUnreachable,
    Kind,
    KindUnavailable,
    ListExpired,
    RawObject,
    SourceError,
)

CONNECT_TIMEOUT_SECONDS = 10.0
MAX_BACKOFF_SECONDS = 30.0
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
    """Lists one cluster's objects as raw pages through a configured ``ApiClient``."""

    def __init__(
        self,
        api: client.ApiClient,
        *,
        cluster: str,
        page_size: int = 500,
        timeout_seconds: float = 30.0,
        retries: int = 4,
        backoff_seconds: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.api = api
        self.cluster = cluster
        self.page_size = page_size
        self.timeout_seconds = timeout_seconds
        self.retries = retries
        self.backoff_seconds = backoff_seconds
        self._sleep = sleep
        self._jitter = random.Random()
        self.server = str(api.configuration.host)

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
                config.load_kube_config(
                    config_file=kubeconfig, context=context, client_configuration=configuration
                )
                name = cluster or context or _current_context(kubeconfig)
        except (ConfigException, OSError, TypeError, ValueError) as exc:
            where = (
                "in-cluster service account" if in_cluster else f"kubeconfig {kubeconfig or '~/.kube/config'}"
            )
            detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ClusterUnreachable(
                f"cannot load {where}" + (f" context {context}" if context else "") + f": {detail}"
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
        token: str | None = None
        handed_out = False
        while True:
            try:
                body = self._request(kind, lister, token)
            except _Expired:
                if handed_out:
                    raise ListExpired(
                        f"cluster {self.cluster}: the {kind.label} list expired mid-way (410 Gone)"
                    ) from None
                token = None
                continue
            items = body.get("items") or []
            if not isinstance(items, list):
                raise ClusterUnreachable(f"cluster {self.cluster}: {kind.label} list has no items array")
            yield items
            handed_out = True
            token = (body.get("metadata") or {}).get("continue") or None
            if not token:
                return

    def _request(self, kind: Kind, lister: Callable[..., Any], token: str | None) -> dict[str, Any]:
        attempt = 0
        while True:
            delay: float | None = None
            try:
                kwargs: dict[str, Any] = {
                    "limit": self.page_size,
                    "_preload_content": False,
                    "_request_timeout": (CONNECT_TIMEOUT_SECONDS, self.timeout_seconds),
                }
                if token:
                    kwargs["_continue"] = token
                response = lister(**kwargs)
                try:
                    data = response.data  # reading to the end hands the connection back
                except BaseException:
                    response.close()  # never pool a half-read connection
                    raise
                decoded = orjson.loads(data)
                if not isinstance(decoded, dict):
                    raise ClusterUnreachable(
                        f"cluster {self.cluster}: {kind.label} list is not a JSON object"
                    )
                return decoded
            except ApiException as exc:
                status = exc.status or 0
                if status == 410:
                    raise _Expired from None
                if status not in _RETRYABLE_STATUS or attempt >= self.retries:
                    raise self._translate_status(kind, exc, attempt) from None
                delay = _retry_after(exc)
            except orjson.JSONDecodeError:
                if attempt >= self.retries:
                    raise ClusterUnreachable(
                        f"cluster {self.cluster}: {kind.label} list returned invalid JSON"
                    ) from None
            except urllib3.exceptions.HTTPError as exc:
                if attempt >= self.retries:
                    reason = _describe_transport(exc, self.timeout_seconds)
                    raise ClusterUnreachable(
                        f"cannot reach cluster {self.cluster} at {self.server}: {reason}"
                        f" (after {attempt + 1} attempts)"
                    ) from None
            attempt += 1
            if delay is None:
                delay = self.backoff_seconds * (2 ** (attempt - 1))
                delay *= 0.5 + self._jitter.random()
            self._sleep(min(delay, MAX_BACKOFF_SECONDS))

    def _translate_status(self, kind: Kind, exc: ApiException, attempt: int) -> SourceError:
        status = exc.status or 0
        message = _status_message(exc)
        if status == 401:
            return ClusterUnreachable(f"cluster {self.cluster} rejected our credentials (401 Unauthorized)")
        if kind in OPTIONAL_KINDS and status in (403, 404, 503):
            what = {403: "forbidden (RBAC)", 404: "not served", 503: "unavailable"}[status]
            return KindUnavailable(kind, status, f"{kind.label}: {what}: HTTP {status} {message}")
        tries = f" after {attempt + 1} attempts" if attempt else ""
        return ClusterUnreachable(
            f"cluster {self.cluster}: cannot list {kind.label}: HTTP {status} {message}{tries}"
        )


class _Expired(Exception):
    """The list's continue token expired (HTTP 410): restart the list from the first page."""


def _describe_transport(exc: urllib3.exceptions.HTTPError, timeout: float) -> str:
    reason = getattr(exc, "reason", None) or exc
    if isinstance(reason, urllib3.exceptions.ReadTimeoutError | TimeoutError) or "timed out" in str(reason):
        return f"timeout after {timeout:g} s"
    if isinstance(reason, urllib3.exceptions.NewConnectionError) or "refused" in str(reason).lower():
        return "connection refused"
    text = str(reason).strip().splitlines()[0] if str(reason).strip() else type(reason).__name__
    return text


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
        and not Path(os.path.expanduser(config.KUBE_CONFIG_DEFAULT_LOCATION)).exists()
        and bool(os.environ.get("KUBERNETES_SERVICE_HOST"))
    )


def _current_context(kubeconfig: str | None) -> str:
    try:
        _contexts, current = config.list_kube_config_contexts(config_file=kubeconfig)
    except (ConfigException, OSError):
        return "default"
    return str(current.get("name") or "default")


def kubeconfig_contexts(kubeconfig: str | None) -> list[str]:
    """Return every context name in the kubeconfig (for ``--all-contexts``)."""
    try:
        contexts, _current = config.list_kube_config_contexts(config_file=kubeconfig)
    except (ConfigException, OSError) as exc:
        raise ClusterUnreachable(f"cannot load kubeconfig {kubeconfig or '~/.kube/config'}: {exc}") from None
    return [str(c["name"]) for c in contexts]
