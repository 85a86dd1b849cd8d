"""A loopback fake Kubernetes API server for tests.

It speaks just enough of the API server's list protocol for the real, unpatched
``kubernetes`` client: list paths (``Kind.path`` and their namespaced forms), ``limit`` /
``continue`` paging with opaque tokens, ``Status`` error bodies, and fault injection
(status codes, delays, dropped connections, expired continue tokens)::

    with FakeKubeAPI() as api:
        api.set_items("/api/v1/pods", pods)
        api.inject("/api/v1/pods", 500, Delay(0.5), Drop())
        cfg = kubernetes.client.Configuration(host=api.url)

Note that the kubernetes client's urllib3 pool retries GETs by default (``Retry.DEFAULT``,
3 retries): a single injected ``Delay`` (read timeout), ``Drop`` or ``429`` with
``Retry-After`` is retried transparently unless the client sets ``Configuration.retries``
to ``False``/``0``.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import http.server
import os
import re
import socket
import ssl
import threading
import urllib.parse
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple

import orjson
import yaml

__all__ = [
    "Body",
    "Delay",
    "Drop",
    "FakeKubeAPI",
    "Fault",
    "Html",
    "Request",
    "Trickle",
    "Truncate",
    "list_kind",
    "status_body",
    "write_kubeconfig",
]

RawObject = dict[str, Any]


@dataclass(frozen=True)
class Delay:
    """Sleep ``seconds`` before answering normally (for client timeout tests)."""

    seconds: float


@dataclass(frozen=True)
class Drop:
    """Close the connection without sending any response."""


@dataclass(frozen=True)
class Truncate:
    """Send the headers and part of the body (Content-Length says all of it), then close."""

    fraction: float = 0.5


@dataclass(frozen=True)
class Html:
    """Answer with an HTML page, as a proxy's login or error page does."""

    code: int = 200


@dataclass(frozen=True)
class Body:
    """Answer with this JSON body (any JSON value) instead of the list."""

    body: Any
    code: int = 200


@dataclass(frozen=True)
class Trickle:
    """Send the real answer ``chunk`` bytes at a time, ``seconds`` apart (a response that never ends)."""

    seconds: float
    chunk: int = 64


Fault = int | Delay | Drop | Truncate | Html | Body | Trickle
FAULT_TYPES = (int, Delay, Drop, Truncate, Html, Body, Trickle)


class Request(NamedTuple):
    """One request the server received: its path and its query (last value per key)."""

    path: str
    query: dict[str, str]


# Reason and default message per status code, as the API server words them.
_STATUS_REASONS: dict[int, tuple[str, str]] = {
    400: ("BadRequest", "the server rejected our request for an unknown reason"),
    401: ("Unauthorized", "Unauthorized"),
    403: ("Forbidden", 'forbidden: User "system:anonymous" cannot list the resource'),
    404: ("NotFound", "the server could not find the requested resource"),
    405: ("MethodNotAllowed", "the server does not allow this method on the requested resource"),
    409: ("Conflict", "the server reported a conflict"),
    410: ("Expired", "the resource version is too old"),
    429: ("TooManyRequests", "Too many requests, please try again later."),
    500: ("InternalError", 'an error on the server ("unknown") has prevented the request from succeeding'),
    503: ("ServiceUnavailable", "the server is currently unable to handle the request"),
    504: ("Timeout", "the server was unable to return a response in the time allotted"),
}

_EXPIRED_CONTINUE_MESSAGE = (
    "The provided continue parameter is too old to display a consistent list result. "
    "You can start a new list without the continue parameter, or use the continue token "
    "in this response to retrieve the remainder of the results. Continuing with the provided "
    "token results in an inconsistent list - objects that were created, modified, or deleted "
    "between the time the first chunk was returned and now may show up in the list."
)

# resource (last path segment) -> list kind, per API group prefix.
_LIST_KINDS: dict[str, str] = {
    "pods": "PodList",
    "nodes": "NodeList",
    "namespaces": "NamespaceList",
    "replicasets": "ReplicaSetList",
    "deployments": "DeploymentList",
    "statefulsets": "StatefulSetList",
    "daemonsets": "DaemonSetList",
    "jobs": "JobList",
    "cronjobs": "CronJobList",
    "resourcequotas": "ResourceQuotaList",
    "limitranges": "LimitRangeList",
    "persistentvolumes": "PersistentVolumeList",
    "persistentvolumeclaims": "PersistentVolumeClaimList",
    "services": "ServiceList",
    "storageclasses": "StorageClassList",
    "horizontalpodautoscalers": "HorizontalPodAutoscalerList",
}
_METRICS_LIST_KINDS: dict[str, str] = {"pods": "PodMetricsList", "nodes": "NodeMetricsList"}

_PREFIX_RE = re.compile(r"^(?P<prefix>/api/v1|/apis/[^/]+/[^/]+)/(?P<rest>.+)$")
_NAMESPACED_RE = re.compile(
    r"^(?P<prefix>/api/v1|/apis/[^/]+/[^/]+)/namespaces/(?P<ns>[^/]+)/(?P<res>[^/]+)$"
)


def list_kind(path: str) -> tuple[str, str]:
    """The (kind, apiVersion) of the list served at ``path``, e.g. ("PodList", "v1")."""
    match = _PREFIX_RE.match(path)
    if match is None:
        return "List", "v1"
    prefix = match["prefix"]
    resource = match["rest"].rsplit("/", 1)[-1]
    api_version = "v1" if prefix == "/api/v1" else prefix.removeprefix("/apis/")
    if api_version.startswith("metrics.k8s.io/"):
        kind = _METRICS_LIST_KINDS.get(resource)
    else:
        kind = _LIST_KINDS.get(resource)
    if kind is None:
        singular = resource[:-1] if resource.endswith("s") else resource
        kind = singular[:1].upper() + singular[1:] + "List"
    return kind, api_version


def status_body(
    code: int, message: str | None = None, *, reason: str | None = None, **extra: Any
) -> RawObject:
    """A ``Status`` object (``kind: Status``) as the API server sends with an error."""
    default_reason, default_message = _STATUS_REASONS.get(code, ("Unknown", f"status code {code}"))
    body: RawObject = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": extra.pop("metadata", {}),
        "status": "Failure",
        "message": message if message is not None else default_message,
        "reason": reason if reason is not None else default_reason,
        "details": extra.pop("details", {}),
        "code": code,
    }
    body.update(extra)
    return body


def _encode_token(offset: int, gen: int) -> str:
    return base64.urlsafe_b64encode(orjson.dumps({"offset": offset, "gen": gen})).decode("ascii")


def _decode_token(token: str) -> tuple[int, int] | None:
    try:
        data = orjson.loads(base64.urlsafe_b64decode(token.encode("ascii")))
        offset, gen = data["offset"], data["gen"]
    except (binascii.Error, ValueError, KeyError, TypeError, orjson.JSONDecodeError):
        return None
    if not isinstance(offset, int) or not isinstance(gen, int) or offset < 0:
        return None
    return offset, gen


def _dig(obj: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)
    return obj


def _field_selector_matches(item: RawObject, selector: str) -> bool:
    """Equality-based field selector (``a.b=x``, ``a.b==x``, ``a.b!=x``, comma = and)."""
    for term in filter(None, (t.strip() for t in selector.split(","))):
        if "!=" in term:
            field, value = term.split("!=", 1)
            if str(_dig(item, field.strip()) or "") == value.strip():
                return False
            continue
        field, _, value = term.replace("==", "=").partition("=")
        if str(_dig(item, field.strip()) or "") != value.strip():
            return False
    return True


def _label_selector_matches(item: RawObject, selector: str) -> bool:
    """Equality and existence label selector terms (``k=v``, ``k==v``, ``k!=v``, ``k``, ``!k``)."""
    labels: dict[str, str] = (item.get("metadata") or {}).get("labels") or {}
    for term in filter(None, (t.strip() for t in selector.split(","))):
        if "!=" in term:
            key, value = (s.strip() for s in term.split("!=", 1))
            if labels.get(key) == value:
                return False
        elif "=" in term:
            key, _, value = term.replace("==", "=").partition("=")
            if labels.get(key.strip()) != value.strip():
                return False
        elif term.startswith("!"):
            if term[1:].strip() in labels:
                return False
        elif term not in labels:
            return False
    return True


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, api: FakeKubeAPI) -> None:
        self.api = api
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that timed out or went away are expected here: stay quiet."""


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; without TCP_NODELAY, Nagle's algorithm and
    # delayed ACKs add 40 ms to every response.
    disable_nagle_algorithm = True
    server: _Server

    def setup(self) -> None:
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(10)
            self.request.do_handshake()  # a failure ends this connection only (handle_error)
        super().setup()
        self.server.api._track(self.connection, threading.current_thread())

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.api._untrack(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        """No access log: the tests read requests from the server's own record."""

    def do_GET(self) -> None:
        try:
            self.server.api._handle(self)
        except OSError:
            self.close_connection = True

    def _not_allowed(self) -> None:
        self.send_json(405, status_body(405))

    do_POST = do_PUT = do_PATCH = do_DELETE = _not_allowed

    def send_json(self, code: int, body: Any, headers: Iterable[tuple[str, str]] = ()) -> None:
        self.send_bytes(code, orjson.dumps(body), headers)

    def send_bytes(
        self,
        code: int,
        payload: bytes,
        headers: Iterable[tuple[str, str]] = (),
        *,
        content_type: str = "application/json",
        send: int | None = None,
        trickle: Trickle | None = None,
        stopping: threading.Event | None = None,
    ) -> None:
        """Answer ``payload``; ``send`` cuts it after that many bytes, ``trickle`` spreads it out."""
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        if trickle is not None:
            for start in range(0, len(payload), trickle.chunk):
                self.wfile.write(payload[start : start + trickle.chunk])
                self.wfile.flush()
                if stopping is not None and stopping.wait(trickle.seconds):
                    break
            self.close_connection = True
            return
        self.wfile.write(payload if send is None else payload[:send])
        self.wfile.flush()
        if send is not None:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)


class FakeKubeAPI:
    """A threaded loopback HTTP server answering Kubernetes list requests.

    Use as a context manager; ``url`` is ``http://127.0.0.1:PORT`` once started.
    """

    def __init__(self, *, tls: tuple[Path, Path] | None = None, insecure: bool = False) -> None:
        """``tls``: (certificate, key) files to serve HTTPS with; ``insecure``: kubeconfigs written
        for this server skip verifying it (``insecure-skip-tls-verify``)."""
        self._tls = tls
        self.insecure = insecure
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        # path -> generation -> items; older generations are kept so an in-flight paged
        # list keeps reading its consistent snapshot, as from etcd.
        self._snapshots: dict[str, dict[int, list[RawObject]]] = {}
        self._current_gen: dict[str, int] = {}
        self._gen_counter = 0
        self._faults: dict[str, deque[Fault]] = {}
        self._persistent: dict[str, Fault] = {}
        self._expire: dict[str, int] = {}
        self._requests: list[Request] = []
        self._connections: dict[socket.socket, threading.Thread] = {}
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> FakeKubeAPI:
        if self._server is not None:
            raise RuntimeError("FakeKubeAPI already started")
        self._stopping.clear()
        self._server = _Server(self)
        if self._tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*self._tls)
            # the handshake runs in the handler's thread, at its first read
            self._server.socket = context.wrap_socket(
                self._server.socket, server_side=True, do_handshake_on_connect=False
            )
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"FakeKubeAPI:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        with self._lock:
            connections = list(self._connections.items())
        for conn, _ in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        for _, handler in connections:
            if handler is not threading.current_thread():
                handler.join(timeout=2)
        server.server_close()
        if thread is not None:
            thread.join(timeout=2)
        self._server = self._thread = None

    def __enter__(self) -> FakeKubeAPI:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FakeKubeAPI is not running")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"{'https' if self._tls else 'http'}://127.0.0.1:{self.port}"

    # -- test controls -----------------------------------------------------------------

    def set_items(self, path: str, items: Iterable[RawObject]) -> None:
        """Serve ``items`` (raw API objects) at the list ``path``, e.g. ``/api/v1/pods``.

        Replacing the items starts a new generation (a new resourceVersion); paged lists
        already in flight keep reading the snapshot they started on.
        """
        snapshot = list(items)
        with self._lock:
            self._gen_counter += 1
            self._snapshots.setdefault(path, {})[self._gen_counter] = snapshot
            self._current_gen[path] = self._gen_counter

    def clear_items(self, path: str) -> None:
        """Stop serving ``path`` (it answers 404 again)."""
        with self._lock:
            self._snapshots.pop(path, None)
            self._current_gen.pop(path, None)

    def inject(self, path: str, *faults: Fault) -> None:
        """Queue faults for ``path``, each consumed by one request, in order."""
        for fault in faults:
            _check_fault(fault)
        with self._lock:
            self._faults.setdefault(path, deque()).extend(faults)

    def persist(self, path: str, fault: Fault | None) -> None:
        """Answer every request to ``path`` with ``fault`` (after any queued ones) until set to None."""
        if fault is not None:
            _check_fault(fault)
        with self._lock:
            if fault is None:
                self._persistent.pop(path, None)
            else:
                self._persistent[path] = fault

    def expire_continue(self, path: str, count: int = 1) -> None:
        """The next ``count`` requests to ``path`` carrying a continue token get 410 Expired."""
        with self._lock:
            self._expire[path] = self._expire.get(path, 0) + count

    def pending_faults(self, path: str) -> list[Fault]:
        with self._lock:
            return list(self._faults.get(path, ()))

    @property
    def requests(self) -> list[Request]:
        """A copy of every request received so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    def requests_for(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.path == path]

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    def write_kubeconfig(
        self,
        path: str | os.PathLike[str],
        *,
        context: str = "fake",
        cluster_name: str = "fake",
        namespace: str = "default",
    ) -> Path:
        """Write a kubeconfig with one context pointing at this server; return its path."""
        return _write_kubeconfig(path, [(context, cluster_name, self)], current=context, namespace=namespace)

    # -- serving -----------------------------------------------------------------------

    def _track(self, conn: socket.socket, thread: threading.Thread) -> None:
        with self._lock:
            self._connections[conn] = thread

    def _untrack(self, conn: socket.socket) -> None:
        with self._lock:
            self._connections.pop(conn, None)

    def _handle(self, handler: _Handler) -> None:
        split = urllib.parse.urlsplit(handler.path)
        path = split.path.rstrip("/") or "/"
        query = dict(urllib.parse.parse_qsl(split.query, keep_blank_values=True))
        with self._lock:
            self._requests.append(Request(path, query))
            queue = self._faults.get(path)
            fault = queue.popleft() if queue else self._persistent.get(path)
        if isinstance(fault, Html):
            page = b"<!DOCTYPE html><html><head><title>Sign in</title></head><body>Sign in</body></html>"
            handler.send_bytes(fault.code, page, content_type="text/html")
            return
        if isinstance(fault, Body):
            handler.send_json(fault.code, fault.body)
            return
        if isinstance(fault, Truncate | Trickle):
            code, body = self._respond(path, query)
            payload = orjson.dumps(body)
            if isinstance(fault, Truncate):
                handler.send_bytes(code, payload, send=int(len(payload) * fault.fraction))
            else:
                handler.send_bytes(code, payload, trickle=fault, stopping=self._stopping)
            return
        if isinstance(fault, Drop):
            handler.close_connection = True
            with contextlib.suppress(OSError):
                handler.connection.shutdown(socket.SHUT_RDWR)
            return
        if isinstance(fault, Delay):
            if self._stopping.wait(fault.seconds):
                handler.close_connection = True
                return
        elif isinstance(fault, int):
            headers = [("Retry-After", "0")] if fault == 429 else []
            details = {"retryAfterSeconds": 0} if fault == 429 else {}
            handler.send_json(fault, status_body(fault, details=details), headers)
            return
        code, body = self._respond(path, query)
        handler.send_json(code, body)

    def _respond(self, path: str, query: dict[str, str]) -> tuple[int, RawObject]:
        if path == "/version":
            return 200, {"major": "1", "minor": "35", "gitVersion": "v1.35.0", "platform": "linux/amd64"}
        namespace: str | None = None
        source = path
        with self._lock:
            if path not in self._current_gen:
                match = _NAMESPACED_RE.match(path)
                if match is not None and f"{match['prefix']}/{match['res']}" in self._current_gen:
                    namespace = match["ns"]
                    source = f"{match['prefix']}/{match['res']}"
            if source not in self._current_gen:
                return 404, status_body(404)
            gen = self._current_gen[source]
            token = query.get("continue") or ""
            offset = 0
            if token:
                decoded = _decode_token(token)
                if decoded is None:
                    return 400, status_body(400, f"continue key is not valid: {token!r}", reason="BadRequest")
                offset, token_gen = decoded
                if self._expire.get(path, 0) > 0:
                    self._expire[path] -= 1
                    return 410, status_body(
                        410,
                        _EXPIRED_CONTINUE_MESSAGE,
                        metadata={"continue": _encode_token(offset, gen)},
                    )
                if token_gen not in self._snapshots[source]:
                    return 410, status_body(410, _EXPIRED_CONTINUE_MESSAGE)
                gen = token_gen
            items = self._snapshots[source][gen]

        if namespace is not None:
            items = [i for i in items if (i.get("metadata") or {}).get("namespace") == namespace]
        if field_selector := query.get("fieldSelector"):
            items = [i for i in items if _field_selector_matches(i, field_selector)]
        if label_selector := query.get("labelSelector"):
            items = [i for i in items if _label_selector_matches(i, label_selector)]

        try:
            limit = int(query.get("limit") or 0)
        except ValueError:
            return 400, status_body(400, f"invalid limit: {query.get('limit')!r}")
        metadata: RawObject = {"resourceVersion": str(gen)}
        if limit > 0:
            page = items[offset : offset + limit]
            remaining = len(items) - offset - len(page)
            if remaining > 0:
                metadata["continue"] = _encode_token(offset + len(page), gen)
                metadata["remainingItemCount"] = remaining
        else:
            page = items[offset:]
        kind, api_version = list_kind(path)
        return 200, {"kind": kind, "apiVersion": api_version, "metadata": metadata, "items": page}


def _check_fault(fault: object) -> None:
    if not isinstance(fault, FAULT_TYPES) or isinstance(fault, bool):
        raise TypeError(f"not a fault: {fault!r}")


def _write_kubeconfig(
    path: str | os.PathLike[str],
    entries: list[tuple[str, str, FakeKubeAPI]],
    *,
    current: str | None,
    namespace: str = "default",
) -> Path:
    clusters: list[RawObject] = []
    users: list[RawObject] = []
    contexts: list[RawObject] = []
    for context, cluster_name, server in entries:
        if not any(c["name"] == cluster_name for c in clusters):
            cluster: RawObject = {"server": server.url}
            if server.insecure:
                cluster["insecure-skip-tls-verify"] = True
            clusters.append({"name": cluster_name, "cluster": cluster})
        user = f"{context}-user"
        users.append({"name": user, "user": {"token": f"fake-token-{context}"}})
        contexts.append(
            {"name": context, "context": {"cluster": cluster_name, "user": user, "namespace": namespace}}
        )
    config: RawObject = {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": clusters,
        "users": users,
        "contexts": contexts,
        "current-context": current if current is not None else (entries[0][0] if entries else ""),
    }
    out = Path(path)
    out.write_text(yaml.safe_dump(config, sort_keys=False))
    return out


def write_kubeconfig(
    path: str | os.PathLike[str],
    servers: dict[str, FakeKubeAPI],
    current: str | None = None,
) -> Path:
    """Write one kubeconfig with a context (and a cluster of the same name) per server.

    ``current`` defaults to the first context. Returns the written path.
    """
    return _write_kubeconfig(path, [(ctx, ctx, server) for ctx, server in servers.items()], current=current)
