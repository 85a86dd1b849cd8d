"""The demo: a simulated fleet's history written through the collector path.

Every snapshot is built by the same normalization and pricing code that live collection
uses (``build_snapshot`` over a ``Source``) and written by the same ``write_snapshot``. The
simulated instants are built in worker processes (the machine's cores), written in order by
this one. Instants already stored are skipped, so re-running fills only what is missing.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from multiprocessing import get_context
from queue import Empty
from typing import Any

from sqlalchemy import Engine, select

from capacity.config import Config
from capacity.store import schema as m
from capacity.store.engine import create_db_engine, translate_db_errors, write_transaction
from capacity.store.snapshots import write_snapshot
from collectors.collect import build_snapshot
from collectors.simulator import Fleet, FleetSpec

Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class DemoPlan:
    spec: FleetSpec
    start: datetime  # first instant (aligned to the interval)
    end: datetime  # last instant (aligned), inclusive
    interval_seconds: int

    def instants(self) -> list[datetime]:
        step = timedelta(seconds=self.interval_seconds)
        out, t = [], self.start
        while t <= self.end:
            out.append(t)
            t += step
        return out


@dataclass(frozen=True, slots=True)
class DemoResult:
    clusters: list[str]
    instants: int
    written: int
    skipped: int
    seconds: float
    pods_latest: int


def plan(*, days: float, interval_seconds: int, seed: int, now: datetime | None = None) -> DemoPlan:
    """Return the instants to simulate: ``days`` ending at the last aligned tick before ``now``."""
    now = now or datetime.now(UTC)
    epoch = int(now.timestamp())
    end = datetime.fromtimestamp(epoch - epoch % interval_seconds, UTC)
    start = end - timedelta(seconds=int(days * 86400) // interval_seconds * interval_seconds)
    # The fleet's own clock starts a little before the history so that it has grown into it.
    return DemoPlan(FleetSpec(seed=seed), start, end, interval_seconds)


_progress_queue: Any = None


def _init_worker(queue: Any) -> None:
    global _progress_queue
    _progress_queue = queue


@dataclass(frozen=True, slots=True)
class _Chunk:
    url: str
    spec: FleetSpec
    fleet_start: datetime
    config: Config
    cluster: str
    instants: tuple[datetime, ...]
    interval_seconds: int
    newest: datetime


def _write_chunk(chunk: _Chunk, engine: Engine | None = None) -> int:
    """Simulate and write one run of instants of one cluster; return pods in the newest snapshot."""
    own = engine is None
    engine = engine or create_db_engine(chunk.url)
    fleet = Fleet(chunk.spec, start=chunk.fleet_start)
    pods_latest = 0
    try:
        for at in chunk.instants:
            snap = build_snapshot(
                fleet.source(chunk.cluster, at),
                cluster=chunk.cluster,
                config=chunk.config,
                taken_at=at,
                source_name="simulator",
            )
            with translate_db_errors(engine.url), write_transaction(engine) as conn:
                write_snapshot(
                    conn, snap, nominal_interval_seconds=chunk.interval_seconds, pod_grain=at == chunk.newest
                )
            if at == chunk.newest:
                pods_latest = len(snap.pods)
            if _progress_queue is not None:
                _progress_queue.put(1)
    finally:
        if own:
            engine.dispose()
    return pods_latest


def _stored(engine: Engine, clusters: list[str], start: datetime) -> set[tuple[str, datetime]]:
    with translate_db_errors(engine.url), engine.connect() as conn:
        rows = conn.execute(
            select(m.Cluster.name, m.Snapshot.taken_at)
            .join(m.Snapshot, m.Snapshot.cluster_id == m.Cluster.id)
            .where(m.Cluster.name.in_(clusters), m.Snapshot.taken_at >= start)
        )
        return {(name, at) for name, at in rows}


def write_history(
    demo: DemoPlan,
    engine: Engine,
    *,
    config: Config,
    workers: int | None = None,
    progress: Progress | None = None,
) -> DemoResult:
    """Simulate every (cluster, instant) of the plan not yet stored and write it; return counts."""
    started = time.monotonic()
    fleet = Fleet(demo.spec, start=demo.start)
    clusters = list(fleet.cluster_names)
    instants = demo.instants()
    stored = _stored(engine, clusters, demo.start)
    # Grouped by cluster, in time order: the simulator carries state from one instant of a
    # cluster to the next, so each worker takes a long run of one cluster.
    tasks = [(c, t) for c in clusters for t in instants if (c, t) not in stored]
    config = config.model_copy(
        update={
            "collection": config.collection.model_copy(update={"interval_seconds": demo.interval_seconds})
        }
    )
    total = len(tasks)
    workers = workers if workers is not None else max(1, os.cpu_count() or 1)
    url = engine.url.render_as_string(hide_password=False)
    chunks = _chunks(tasks, demo, config, url, parts=1 if workers <= 1 else workers * 3)
    done = 0
    pods_latest = 0
    if workers <= 1 or len(chunks) <= 1:
        for chunk in chunks:
            pods_latest += _write_chunk(chunk, engine)
            done += len(chunk.instants)
            if progress is not None:
                progress(done, total)
    else:
        # Workers simulate, normalize and write (SQLite serializes the writes; each is one
        # short transaction); this process only reports progress.
        ctx = get_context("spawn")  # not fork: this process holds connections and threads
        queue = ctx.Queue()
        with ProcessPoolExecutor(
            workers, mp_context=ctx, initializer=_init_worker, initargs=(queue,)
        ) as pool:
            futures = [pool.submit(_write_chunk, chunk) for chunk in chunks]
            while done < total and not all(f.done() for f in futures):
                try:
                    done += queue.get(timeout=0.2)
                except Empty:
                    continue
                if progress is not None:
                    progress(done, total)
            pods_latest = sum(f.result() for f in futures)  # re-raises a worker's error
        if progress is not None:
            progress(total, total)
    return DemoResult(
        clusters=clusters,
        instants=len(instants),
        written=total,
        skipped=len(instants) * len(clusters) - total,
        seconds=time.monotonic() - started,
        pods_latest=pods_latest,
    )


def _chunks(
    tasks: list[tuple[str, datetime]], demo: DemoPlan, config: Config, url: str, *, parts: int
) -> list[_Chunk]:
    """Split the tasks into contiguous runs of one cluster each, about ``parts`` in all."""
    by_cluster: dict[str, list[datetime]] = {}
    for cluster, at in tasks:
        by_cluster.setdefault(cluster, []).append(at)
    size = max(1, -(-len(tasks) // max(1, parts)))
    chunks = []
    for cluster, instants in by_cluster.items():
        for i in range(0, len(instants), size):
            chunks.append(
                _Chunk(url, demo.spec, demo.start, config, cluster, tuple(instants[i : i + size]),
                       demo.interval_seconds, demo.end)
            )  # fmt: skip
    # Largest first: the pool finishes together instead of waiting on one long tail.
    return sorted(chunks, key=lambda c: -len(c.instants))
