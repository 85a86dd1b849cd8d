"""The time-driven model of one simulated cluster: load, replica counts and node counts per
15-minute bucket, as pure (memoized) functions of the bucket, and CronJob runs.

What one instant holds, built from these, is ``_instant``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from collectors.simulator._catalog import ClusterTemplate
from collectors.simulator._generator import Generator
from collectors.simulator._model import (
    DAY_BUCKETS,
    WEEK,
    B,
    Pool,
    Workload,
)
from collectors.simulator._system import build_system, calibrate, nodes_needed
from collectors.simulator._util import GenCache, mix, unit, vnoise

_MEMO_MAX = 6000


class ClusterModel:
    """One cluster: its static description plus memoized time functions."""

    def __init__(
        self,
        tpl: ClusterTemplate,
        name: str,
        *,
        seed: int,
        teams: int,
        target_pods: int,
        start: int,
        managed_fields: bool,
        total_nodes: int | None = None,
        split: Callable[[ClusterModel], dict[str, int]] | None = None,
    ) -> None:
        gen = Generator(tpl, name, seed, teams, start)
        gen.build_teams()
        gen.build_misc()
        build_system(gen)
        if total_nodes:  # a static benchmark cluster: no autoscaling of replicas or nodes
            for w in gen.workloads:
                w.hpa = None
                w.growth = 0.0
        calibrate(gen, target_pods, total_nodes)
        self.tpl = tpl
        self.name = name
        self.key = gen.ckey
        self.seed = seed
        self.start = start
        self.managed_fields = managed_fields
        self.pools: list[Pool] = gen.pools
        self.workloads: list[Workload] = gen.workloads
        self.namespaces = list(gen.namespaces.values())
        self.replicated = [w for w in self.workloads if w.replicated]
        self.runs = [w for w in self.workloads if w.kind in ("CronJob", "Job")]
        self.bare = [w for w in self.workloads if w.kind == "Bare"]
        self.off_s = int(tpl.utc_offset_h * 3600)
        self.day_shift = int(tpl.utc_offset_h * 4) - 16  # day boundaries at 04:00 local
        self._memo: dict[int, tuple[list[int], list[int]]] = {}
        self.cache = GenCache()  # render-side: pod templates, node labels, unchanged objects
        self.reuse = total_nodes is None  # reuse unchanged objects between instants (not for one-offs)
        if split is not None:
            counts = split(self)
            for p in self.pools:
                p.fixed_nodes = p.min_nodes = p.max_nodes = counts[p.tpl.name]

    # --- load --------------------------------------------------------------------------------

    def diurnal(self, t: float) -> float:
        """1 ± 0.5 over the day, peaking at 14:00 local."""
        h = ((t + self.off_s) % 86400) / 3600.0
        return 1.0 + 0.5 * math.cos(2 * math.pi * (h - 14.0) / 24.0)

    def weekend(self, t: float) -> float:
        """1 on Saturday and Sunday (local), 0 on weekdays, with 3-hour ramps."""

        def ind(x: float) -> float:
            return 1.0 if (int((x + self.off_s) // 86400) + 3) % 7 >= 5 else 0.0

        return 0.5 * (ind(t) + ind(t - 10800))

    def growth(self, w: Workload, t: float) -> float:
        return 1.0 + w.growth * max(0.0, t - self.start) / WEEK

    def load(self, w: Workload, t: float, d: float, wk: float) -> float:
        return (
            self.growth(w, t)
            * (1.0 + w.amp * (d - 1.0))
            * (1.0 - w.dip * wk)
            * (1.0 + 0.06 * vnoise(w.key, t, 1800))
        )

    # --- buckets -----------------------------------------------------------------------------

    def _replicas(self, w: Workload, b: int, tm: float, d: float, wk: float) -> int:
        t0 = b * B
        if t0 + B <= w.born or t0 >= w.died:
            return 0
        if w.hpa is not None:
            lo, hi = w.hpa
            return max(lo, min(hi, math.ceil(w.r0 * self.load(w, tm, d, wk) * 0.97)))
        return max(1, round(w.r0 * self.growth(w, t0)))

    def bucket(self, b: int) -> tuple[list[int], list[int]]:
        """Replicas per workload and nodes per pool during bucket ``b``."""
        got = self._memo.get(b)
        if got is not None:
            return got
        tm = b * B + B // 2
        d = self.diurnal(tm)
        wk = self.weekend(tm)
        reps = [0] * len(self.workloads)
        npool = len(self.pools)
        dem = [[0.0, 0.0, 0.0, 0.0, 0.0, 0.0] for _ in range(npool)]
        for w in self.replicated:
            r = self._replicas(w, b, tm, d, wk)
            reps[w.idx] = r
            if r:
                s = w.shape_for(w.rev_at(tm))
                x = dem[w.pool]
                x[0] += r * s.eff_cpu_m
                x[1] += r * s.eff_mem_b
                x[2] += r * s.eff_gpu
                x[3] += r
                x[4] += r * s.eff_cpu_m * s.eff_cpu_m
                x[5] += r * s.eff_mem_b * s.eff_mem_b
        for w in self.runs:
            n = sum(1 for run in self.runs_between(w, b * B, (b + 1) * B) if run[1] < (b + 1) * B)
            if n and w.cron is not None:
                s = w.shapes[0]
                n *= w.cron.parallelism
                x = dem[w.pool]
                x[0] += n * s.eff_cpu_m
                x[1] += n * s.eff_mem_b
                x[2] += n * s.eff_gpu
                x[3] += n
                x[4] += n * s.eff_cpu_m * s.eff_cpu_m
                x[5] += n * s.eff_mem_b * s.eff_mem_b
        nodes = []
        for p in self.pools:
            if p.fixed_nodes:
                nodes.append(p.fixed_nodes)
                continue
            need = nodes_needed(p, *dem[p.idx])
            nodes.append(max(p.min_nodes, min(p.max_nodes, math.ceil(need - 1e-9))))
        got = (reps, nodes)
        if len(self._memo) >= _MEMO_MAX:
            del self._memo[next(iter(self._memo))]
        self._memo[b] = got
        return got

    def day_start(self, b: int) -> int:
        return b - ((b + self.day_shift) % DAY_BUCKETS)

    def run_starts(self, b: int, lo: int, hi: int, series: int, idx: int) -> list[int]:
        """For indices lo..hi-1 that are on during bucket ``b``, the bucket their current run began."""
        floor_b = self.day_start(b)
        starts = [floor_b] * (hi - lo)
        cur = hi
        s = b
        while s > floor_b and cur > lo:
            prev = self.bucket(s - 1)[series][idx]
            if prev < cur:
                for i in range(max(prev, lo), cur):
                    starts[i - lo] = s
                cur = max(prev, lo)
            s -= 1
        return starts

    # --- runs (CronJob runs, one-off Jobs, bare pods) ----------------------------------------

    def run(self, w: Workload, k: int) -> tuple[int, int, int, bool]:
        """Run ``k`` of a schedule: (scheduled, started, ended, failed)."""
        assert w.cron is not None
        c = w.cron
        sched = c.offset + k * c.period
        start = sched + 1 + mix(w.key, k, 1) % 8
        dur = c.duration * (0.7 + 0.6 * unit(mix(w.key, k, 2))) * self.growth(w, sched)
        failed = unit(mix(w.key, k, 3)) < c.fail_rate
        if failed:
            dur *= 0.3 + 0.3 * unit(mix(w.key, k, 4))
        return sched, start, start + max(5, int(dur)), failed

    def runs_between(self, w: Workload, t0: float, t1: float) -> list[tuple[int, int, int, bool]]:
        """Runs that are active at some point of [t0, t1)."""
        assert w.cron is not None
        c = w.cron
        longest = c.duration * 1.3 * self.growth(w, t1) + 10
        k_lo = int((t0 - longest - c.offset) // c.period)
        k_hi = int((t1 - c.offset) // c.period)
        out = []
        for k in range(k_lo, k_hi + 1):
            r = self.run(w, k)
            if r[0] >= w.born and r[1] < t1 and r[2] > t0:
                out.append(r)
        return out
