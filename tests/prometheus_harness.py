"""A real Prometheus for the tests: a TSDB built by ``promtool tsdb create-blocks-from
openmetrics`` from rendered series, served by ``prometheus`` on a free loopback port.

Also the simulated cluster the backfill tests read both ways: collected directly (the live
path, ``collect_once`` over the simulator's source) and rendered as kube-state-metrics and
cAdvisor series (``collectors.simulator.exposition``) for Prometheus.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from capacity.cli import main
from collectors.simulator import Fleet, FleetSpec
from collectors.simulator.exposition import Exposition
from collectors.source import Kind, KindUnavailable, RawObject
from tests.dashboard_harness import free_port

STEP = timedelta(minutes=5)
# The first instant the scenario holds: two days back, whatever today is, so the backfill's
# compaction (which applies retention from now) keeps every raw row the test compares.
START = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=2)
INSTANTS = 24  # two hours at five minutes


def needs_prometheus() -> None:
    if shutil.which("prometheus") is None or shutil.which("promtool") is None:
        pytest.fail("prometheus and promtool are required (Debian package prometheus; .ci/run installs it)")


def build_tsdb(exposition: Exposition, directory: Path) -> Path:
    """Write the exposition as OpenMetrics and turn it into TSDB blocks in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    text = directory.parent / f"{directory.name}.om"
    with text.open("w", encoding="utf-8") as out:
        exposition.write(out)
    subprocess.run(
        ["promtool", "tsdb", "create-blocks-from", "openmetrics", "--quiet", str(text), str(directory)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    text.unlink()
    return directory


@dataclass
class PrometheusServer:
    url: str
    process: subprocess.Popen[bytes]
    log: Path


@contextmanager
def serve_prometheus(data: Path, *flags: str) -> Iterator[PrometheusServer]:
    """Run ``prometheus`` over the TSDB in ``data`` on a free loopback port until the block ends."""
    needs_prometheus()
    config = data.parent / f"{data.name}-prometheus.yml"
    config.write_text("global:\n  scrape_interval: 1h\n", encoding="utf-8")  # scrapes nothing
    port = free_port()
    log = data.parent / f"{data.name}-prometheus.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [
                "prometheus",
                f"--config.file={config}",
                f"--storage.tsdb.path={data}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--storage.tsdb.retention.time=100y",
                "--log.level=warn",
                *flags,
            ],
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{url}/-/ready", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass  # not listening yet: poll again until the deadline
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"prometheus did not start: {log.read_text(errors='replace')[-2000:]}")
            time.sleep(0.1)
        yield PrometheusServer(url=url, process=process, log=log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def scenario_fleet() -> Fleet:
    return Fleet(FleetSpec(seed=3, clusters=2, teams=8, target_pods=260), start=START - timedelta(days=2))


def instants(count: int = INSTANTS) -> list[datetime]:
    return [START + i * STEP for i in range(count)]


def render_fleet(
    fleet: Fleet, clusters: list[str], *, duplicate_ksm: bool, drop: frozenset[str] = frozenset()
) -> Exposition:
    """Render ``clusters`` of ``fleet`` over the scenario's instants (each series labelled ``cluster``)."""
    exposition = Exposition(step_seconds=STEP.total_seconds(), duplicate_ksm=duplicate_ksm, drop=drop)
    for at in instants():
        for name in clusters:
            exposition.add(fleet.source(name, at), at, cluster=name)
    return exposition


class StaticSource:
    """A ``Source`` that lists the same objects at every instant (real payloads); a kind it lacks
    is unavailable, as a cluster without metrics-server serves no metrics."""

    def __init__(self, items: Mapping[Kind, list[RawObject]]) -> None:
        self.items = items

    def pages(self, kind: Kind) -> Iterator[list[RawObject]]:
        if kind not in self.items:
            raise KindUnavailable(kind, 404, f"{kind.label}: not served")
        yield self.items[kind]


def run(*argv: str) -> tuple[int, str, str]:
    """Run the ``capacity`` CLI in-process; return (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            code = main(list(argv))
        except SystemExit as exc:  # argparse's flag errors
            code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()
