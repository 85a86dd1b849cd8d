"""The Prometheus client against a scripted loopback HTTP server: retries, errors, credentials;
and ``capacity backfill``'s one-line errors when Prometheus is unreachable or not Prometheus."""

from __future__ import annotations

import base64
import http.server
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs

import orjson
import pytest

from collectors.prometheus.client import Access, PrometheusClient, PrometheusUnreachable, QueryRejected
from tests.dashboard_harness import free_port
from tests.prometheus_harness import run

AT = datetime(2026, 11, 20, tzinfo=UTC)
OK = orjson.dumps(
    {
        "status": "success",
        "data": {
            "resultType": "vector",
            "result": [
                {"metric": {"namespace": "a", "pod": "p"}, "value": [AT.timestamp(), "0.25"]},
                {"metric": {"namespace": "a", "pod": "q"}, "value": [AT.timestamp(), "NaN"]},
            ],
        },
    }
)


@dataclass
class Reply:
    status: int = 200
    body: bytes = OK
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Script:
    replies: list[Reply]
    seen: list[dict[str, object]] = field(default_factory=list)


@pytest.fixture
def server() -> Iterator[tuple[str, Script]]:
    script = Script([])

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            form = parse_qs(self.rfile.read(length).decode())
            script.seen.append({"path": self.path, "form": form, "headers": dict(self.headers)})
            reply = script.replies.pop(0) if script.replies else Reply()
            time.sleep(reply.delay)
            try:
                self.send_response(reply.status)
                for name, value in {"Content-Type": "application/json", **reply.headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up first (the timeout test): nothing left to answer

        def log_message(self, *args: object) -> None:
            pass  # keep the test output free of one line per request

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", script
    finally:
        httpd.shutdown()
        httpd.server_close()


def _client(url: str, **options: object) -> PrometheusClient:
    settings = {"retries": 2, "backoff_seconds": 0.01, "timeout_seconds": 5.0, **options}
    return PrometheusClient(Access(url=url, **settings))  # type: ignore[arg-type]


def test_a_query_is_a_form_post_and_non_finite_values_are_dropped(server: tuple[str, Script]) -> None:
    url, script = server
    series = _client(url).query('kube_pod_info{cluster="a \\"b\\""}', AT)
    assert [(s.labels["pod"], s.points) for s in series] == [("p", [(AT.timestamp(), 0.25)]), ("q", [])]
    seen = script.seen[0]
    assert seen["path"] == "/api/v1/query"
    assert seen["form"] == {
        "query": ['kube_pod_info{cluster="a \\"b\\""}'],
        "time": [f"{AT.timestamp():.3f}"],
        "timeout": ["5s"],
    }


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_server_errors_and_throttling_are_retried(server: tuple[str, Script], status: int) -> None:
    url, script = server
    script.replies = [Reply(status, b'{"status":"error","error":"busy"}', {"Retry-After": "0"})]
    client = _client(url)
    assert len(client.query("up", AT)) == 2
    assert len(script.seen) == 2 and client.retried == 1


def test_errors_that_keep_coming_give_up_naming_the_url_and_the_attempts(server: tuple[str, Script]) -> None:
    url, script = server
    script.replies = [Reply(503, b'{"status":"error","error":"overloaded"}')] * 3
    with pytest.raises(
        PrometheusUnreachable, match=rf"Prometheus {url}: HTTP 503 overloaded \(after 3 attempts\)"
    ):
        _client(url).query("up", AT)


def test_a_rejected_query_fails_at_once_with_prometheus_message(server: tuple[str, Script]) -> None:
    url, script = server
    body = orjson.dumps(
        {"status": "error", "errorType": "bad_data", "error": 'invalid parameter "query": bad\nmore'}
    )
    script.replies = [Reply(400, body)]
    with pytest.raises(
        QueryRejected, match=r"rejected a query \(bad_data: invalid parameter \"query\": bad\): up$"
    ):
        _client(url).query("up", AT)
    assert len(script.seen) == 1  # not retried


def test_an_html_answer_says_the_url_is_not_prometheus(server: tuple[str, Script]) -> None:
    url, script = server
    script.replies = [
        Reply(200, b"<!doctype html><html><body>Grafana</body></html>", {"Content-Type": "text/html"})
    ]
    with pytest.raises(
        PrometheusUnreachable, match=r"did not answer as the Prometheus API \(HTTP 200, '<!doctype"
    ):
        _client(url).query("up", AT)


def test_a_query_that_outlasts_the_timeout_is_retried_then_fails(server: tuple[str, Script]) -> None:
    url, script = server
    script.replies = [Reply(delay=1.5)] * 3
    started = time.monotonic()
    with pytest.raises(PrometheusUnreachable, match=r"timeout after 0.2 s \(after 2 attempts\)"):
        _client(url, retries=1, timeout_seconds=0.2).query("up", AT)
    assert time.monotonic() - started < 12  # two attempts, each cut at the timeout (plus a quarter of it)


def test_credentials_and_headers_go_with_every_request(server: tuple[str, Script], tmp_path: Path) -> None:
    url, script = server
    token = tmp_path / "token"
    token.write_text("s3cret\n", encoding="utf-8")
    _client(url, token_file=str(token), headers={"X-Scope-OrgID": "team-a"}).query("up", AT)
    password = tmp_path / "password"
    password.write_text("pw", encoding="utf-8")
    _client(url, username="reader", password_file=str(password)).query("up", AT)
    first, second = (seen["headers"] for seen in script.seen)
    assert isinstance(first, dict) and isinstance(second, dict)
    assert first["Authorization"] == "Bearer s3cret" and first["X-Scope-OrgID"] == "team-a"
    assert second["Authorization"] == "Basic " + base64.b64encode(b"reader:pw").decode()


def test_a_missing_token_file_is_named() -> None:
    with pytest.raises(
        PrometheusUnreachable, match="cannot read the Prometheus token file /nonexistent/token"
    ):
        _client("http://127.0.0.1:1", token_file="/nonexistent/token")


def test_backfill_from_an_unreachable_prometheus_is_one_line_and_exit_4(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    url = f"http://127.0.0.1:{free_port()}"
    config = tmp_path / "config.yaml"
    config.write_text("prometheus:\n  retries: 1\n", encoding="utf-8")
    code, out, err = run(
        "--db",
        f"sqlite:///{db}",
        "--config",
        str(config),
        "backfill",
        "--prometheus",
        url,
        "--cluster",
        "c",
        "--days",
        "0.01",
    )
    assert code == 4
    assert err.count("\n") == 1 and err.startswith(f"capacity: error: Prometheus {url}: connection refused")
    code, out, _ = run("--db", f"sqlite:///{db}", "status", "--format", "json")
    assert code == 0 and orjson.loads(out) == []  # nothing written


def test_an_html_answering_url_fails_the_backfill_in_one_line(
    server: tuple[str, Script], tmp_path: Path
) -> None:
    url, script = server
    script.replies = [Reply(200, b"<html>login</html>", {"Content-Type": "text/html"})] * 40
    code, _, err = run(
        "--db",
        f"sqlite:///{tmp_path / 's.db'}",
        "backfill",
        "--prometheus",
        url,
        "--cluster",
        "c",
        "--days",
        "0.01",
    )
    assert code == 4 and err.count("\n") == 1 and "is the URL right?" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--prometheus-selector", "cluster=prod"], "argument --prometheus-selector: not a label matcher"),
        (["--days", "1", "--start", "2026-11-01"], "give either --days or --start"),
        (["--start", "yesterday"], "--start 'yesterday' is not a date"),
        (["--start", "2026-11-02", "--end", "2026-11-01"], "is not before the end"),
        (
            ["--days", "1", "--prometheus-header", "X-Scope-OrgID"],
            "argument --prometheus-header: 'X-Scope-OrgID' is not NAME=VALUE",
        ),
        (["--days", "1", "--step", "5x"], "argument --step: not a duration"),
    ],
)
def test_bad_backfill_flags_are_one_line_and_exit_2(tmp_path: Path, argv: list[str], message: str) -> None:
    code, _, err = run(
        "--db",
        f"sqlite:///{tmp_path / 's.db'}",
        "backfill",
        "--prometheus",
        "http://127.0.0.1:1",
        "--cluster",
        "c",
        *argv,
    )
    assert code == 2 and err.count("\n") == 1 and message in err
