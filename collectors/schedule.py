"""Collecting on a schedule: several clusters, one process, until SIGTERM/SIGINT.

Each period every target is collected in turn. A failing target is logged and retried at a
later period with exponential backoff (1, 2, 4, ... periods, capped); it never stops the loop
or the other targets. Ticks are aligned to the period (e.g. :00, :05, :10 for 5 minutes)
plus a small fixed jitter, so many collectors started at once do not hit the API together.
A stop request lets the snapshot in flight finish and ends the loop before the next one.
"""

from __future__ import annotations

import logging
import math
import random
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType

from capacity.errors import CapacityError, CollectionError
from collectors.collect import CollectResult
from collectors.source import CollectionStopped, SourceError

log = logging.getLogger("capacity.collect")

MAX_BACKOFF_PERIODS = 8


@dataclass
class Target:
    """One cluster to collect: its name and how to take one snapshot of it."""

    cluster: str
    collect: Callable[[], CollectResult]
    failures: int = 0
    skip_until: float = 0.0
    last_error: str | None = field(default=None, repr=False)
    # the exit code the last failure calls for: 3 database, 4 collection (capacity.errors)
    last_exit_code: int = CollectionError.exit_code


def log_result(result: CollectResult) -> None:
    """Log one line per snapshot (logfmt), then one line per warning."""
    log.info(
        "snapshot cluster=%s taken_at=%s duration=%.2fs nodes=%d pods=%d pending=%d containers=%d "
        "warnings=%d%s",
        result.cluster,
        result.taken_at.isoformat().replace("+00:00", "Z"),
        result.duration_seconds,
        result.nodes,
        result.pods,
        result.pending_pods,
        result.containers,
        len(result.warnings),
        " replaced=true" if result.replaced else "",
    )
    for warning in result.warnings:
        log.warning("cluster=%s warning=%r", result.cluster, warning)


def collect_target(target: Target, *, log_failure: bool = True) -> bool:
    """Collect one target, logging the outcome; return whether it succeeded.

    Whatever one cluster's collection raises is caught here, so it never stops the others:
    a stop request (not a failure), the errors we expect (one line each), and a bug (one
    line too, its traceback at debug level).
    """
    try:
        result = target.collect()
    except CollectionStopped as exc:
        log.info("stopped cluster=%s: %s; nothing written", target.cluster, exc)
        return False
    except (SourceError, CapacityError) as exc:
        _failed(target, str(exc), exc.exit_code if isinstance(exc, CapacityError) else None, log_failure)
        return False
    except Exception as exc:
        log.debug("cluster=%s collection raised", target.cluster, exc_info=True)
        message = (
            f"cluster {target.cluster}: internal error ({type(exc).__name__}: {exc}); nothing written"
            " (please report it; -v shows where)"
        )
        _failed(target, message, None, log_failure)
        return False
    target.failures = 0
    target.last_error = None
    log_result(result)
    return True


def _failed(target: Target, message: str, exit_code: int | None, log_failure: bool) -> None:
    target.failures += 1
    target.last_error = message.splitlines()[0] if message else "collection failed"
    target.last_exit_code = exit_code or CollectionError.exit_code
    if log_failure:
        log.error(
            "failed cluster=%s consecutive_failures=%d error=%r",
            target.cluster,
            target.failures,
            target.last_error,
        )


def run_once(targets: Sequence[Target]) -> list[Target]:
    """Collect every target once; return those that failed (the caller reports them)."""
    return [t for t in targets if not collect_target(t, log_failure=False)]


def next_tick(now: float, period: float, jitter: float) -> float:
    """Return the next aligned tick strictly after ``now``: a multiple of the period plus jitter."""
    tick = math.floor((now - jitter) / period) * period + period + jitter
    return tick if tick > now else tick + period


def run_every(
    targets: Sequence[Target],
    *,
    period: float,
    stop: threading.Event,
    clock: Callable[[], float] = time.time,
    jitter: float | None = None,
) -> int:
    """Collect every target each period until ``stop`` is set; return the number of rounds run."""
    if jitter is None:
        jitter = random.Random().uniform(0, min(30.0, period * 0.1))
    log.info(
        "collecting clusters=%s every=%gs jitter=%.1fs", ",".join(t.cluster for t in targets), period, jitter
    )
    rounds = 0
    while not stop.is_set():
        started = clock()
        for target in targets:
            if stop.is_set():
                break
            if started < target.skip_until:
                continue
            if not collect_target(target) and not stop.is_set():
                backoff = min(2 ** (target.failures - 1), MAX_BACKOFF_PERIODS)
                target.skip_until = started + (backoff - 0.5) * period
                log.info("retry cluster=%s in_periods=%d", target.cluster, backoff)
        rounds += 1
        wake = next_tick(clock(), period, jitter)
        stop.wait(max(0.0, wake - clock()))
    log.info("stopped after rounds=%d", rounds)
    return rounds


@contextmanager
def stop_on_signals(stop: threading.Event | None = None) -> Iterator[threading.Event]:
    """Yield an event (``stop``, or a new one) set by the first SIGTERM or SIGINT.

    A second SIGINT interrupts at once.
    """
    stop = stop or threading.Event()
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}

    def handler(signum: int, _frame: FrameType | None) -> None:
        log.info("signal=%s finishing the snapshot in flight, then stopping", signal.Signals(signum).name)
        stop.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    for sig in previous:
        signal.signal(sig, handler)
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
