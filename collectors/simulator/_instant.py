"""The state of one simulated cluster at one instant, computed without simulating earlier instants.

Replica counts and node counts are pure functions of a 15-minute bucket (memoized, ``_plan``); where
an object's identity depends on history (when did this surge pod or autoscaled node appear?) the
plan looks back bucket by bucket, never further than the start of the local day (04:00), so the
cost of an instant is bounded whatever the order instants are asked in.
"""

from __future__ import annotations

import math
from typing import Any

from collectors.simulator._catalog import InstanceType
from collectors.simulator._model import (
    NEVER,
    STEP,
    WEEK,
    B,
    Pool,
    Shape,
    Workload,
)
from collectors.simulator._plan import ClusterModel
from collectors.simulator._util import KI, MI, mix, skey, suffix, template_hash, uid, unit, vnoise

_NOT_READY_RATE = 0.0015


class NodeP:
    __slots__ = (
        "alloc_cpu",
        "alloc_gpu",
        "alloc_mem",
        "alloc_pods",
        "cordoned",
        "created",
        "free_cpu",
        "free_gpu",
        "free_mem",
        "free_pods",
        "ident",
        "ip",
        "itype",
        "misses",
        "name",
        "pods",
        "pool",
        "ready",
        "slot",
        "uid",
        "use_cpu_n",
        "use_mem_b",
        "zone",
    )

    def __init__(
        self, pool: Pool, slot: int, ident: int, itype: InstanceType, zone: str, created: int
    ) -> None:
        self.pool = pool
        self.slot = slot
        self.ident = ident
        self.itype = itype
        self.zone = zone
        self.created = created
        self.name = ""
        self.ip = ""
        self.uid = uid(ident)
        self.cordoned = False
        self.ready = True
        cpu, mem, gpu, pods = pool.alloc(itype)
        self.alloc_cpu, self.alloc_mem, self.alloc_gpu, self.alloc_pods = cpu, mem, gpu, pods
        self.free_cpu, self.free_mem, self.free_gpu, self.free_pods = cpu, mem, gpu, pods
        self.pods: list[PodP] = []
        self.use_cpu_n = 0
        self.use_mem_b = 0
        self.misses = 0

    def take(self, s: Shape) -> None:
        self.free_cpu -= s.eff_cpu_m
        self.free_mem -= s.eff_mem_b
        self.free_gpu -= s.eff_gpu
        self.free_pods -= 1


class RunP:
    """One Job (a CronJob run or a one-off Job) present at the instant."""

    __slots__ = ("end", "failed", "k", "name", "pods", "sched", "start", "uid", "w")

    def __init__(self, w: Workload, k: int, sched: int, start: int, end: int, failed: bool) -> None:
        self.w = w
        self.k = k
        self.sched = sched
        self.start = start
        self.end = end
        self.failed = failed
        self.name = f"{w.name}-{sched // 60}" if w.kind == "CronJob" else f"{w.name}-{k % 1000}"
        self.uid = uid(mix(w.key, k, 0x10B))
        self.pods: list[PodP] = []


class PodP:
    __slots__ = (
        "created",
        "finished",
        "ident",
        "index",
        "last_start",
        "metrics",
        "name",
        "node",
        "owner",
        "phase",
        "reason",
        "restarts",
        "rev",
        "run",
        "shape",
        "term",
        "usage",
        "w",
    )

    def __init__(self, w: Workload, rev: int, index: int, ident: int, name: str, created: int) -> None:
        self.w = w
        self.rev = rev
        self.shape = w.shape_for(rev)
        self.index = index
        self.ident = ident
        self.name = name
        self.created = created
        self.node: NodeP | None = None
        self.phase = "Running"
        self.reason: str | None = None
        self.owner: tuple[str, str, str, str] | None = None  # apiVersion, kind, name, uid
        self.run: RunP | None = None
        self.finished = 0
        self.restarts = 0
        self.last_start = created + 2
        self.term: tuple[str, int, int, int] | None = None  # reason, exit code, started, finished
        self.usage: list[tuple[int, int]] | None = None  # per running container: nanocores, bytes
        self.metrics = False


def rs_name(w: Workload, rev: int) -> str:
    return f"{w.name}-{template_hash(mix(w.key, rev, 0x45))}"


def rs_uid(w: Workload, rev: int) -> str:
    return uid(mix(w.key, rev, 0x52))


def owner_uid(w: Workload) -> str:
    return uid(mix(w.key, 0xD0))


class Instant:
    """Everything about one cluster at one second: nodes, pods, jobs, usage."""

    def __init__(self, model: ClusterModel, t: int) -> None:
        self.m = model
        self.t = t
        self.b = t // B
        reps, nodes = model.bucket(self.b)
        self.reps = reps
        self.nodes: list[NodeP] = []
        self.pods: list[PodP] = []  # in listing order
        self.runs: list[RunP] = []
        self._build_nodes(nodes)
        self._build_pods()
        self._place()
        self._usage()
        self.pods.sort(key=lambda p: (p.w.namespace, p.name))  # the API lists by key: namespace/name
        self.nodes.sort(key=lambda n: n.name)

    # -- nodes

    def _build_nodes(self, counts: list[int]) -> None:
        m, b, t = self.m, self.b, self.t
        nxt = m.bucket(b + 1)[1] if t % B >= 2 * B // 3 else counts
        zones = m.tpl.zones
        used: set[str] = set()
        for p in m.pools:
            n = counts[p.idx]
            lo = min(p.min_nodes, n)
            starts = m.run_starts(b, lo, n, 1, p.idx) if n > lo and not p.fixed_nodes else []
            for k in range(n):
                ph = mix(p.key, k, 5) % p.rot_buckets
                s = b - ((b + ph) % p.rot_buckets)
                if k >= lo and starts:
                    s = max(s, starts[k - lo])
                ident = mix(p.key, k, s)
                itype = p.types[k % len(p.types)]  # largest first: capacity never below the estimate
                created = s * B - 60 - int(ident % 180)
                node = NodeP(p, k, ident, itype, zones[(k + p.idx) % len(zones)], created)
                self._name_node(node, used)
                node.cordoned = nxt[p.idx] <= k
                node.ready = not (unit(mix(ident, b, 0xBAD)) < _NOT_READY_RATE and t - created > 3600)
                self.nodes.append(node)

    def _name_node(self, node: NodeP, used: set[str]) -> None:
        m = self.m
        p = node.pool
        if m.tpl.provider == "aws":
            n = ((p.idx & 15) << 20) | ((node.slot & 0x3FFF) << 6) | (node.ident >> 20) % 64
            octets = (16 + (n >> 16), (n >> 8) & 255, n & 255)
            node.ip = f"10.{octets[0]}.{octets[1]}.{octets[2]}"
            dom = "ec2.internal" if m.tpl.region == "us-east-1" else f"{m.tpl.region}.compute.internal"
            node.name = f"ip-10-{octets[0]}-{octets[1]}-{octets[2]}.{dom}"
        else:
            group = f"{mix(p.key, skey(node.zone)) & 0xFFFFFFFF:08x}"
            h = node.ident
            while True:
                tail = "".join("abcdefghijklmnopqrstuvwxyz0123456789"[(h >> (6 * i)) % 36] for i in range(4))
                name = f"gke-{m.name[:20]}-{p.tpl.name}-{group}-{tail}"
                if name not in used:
                    break
                h = mix(h, 1)
            node.name = name
            n = ((p.idx & 15) << 20) | ((node.slot & 0x3FFF) << 6) | (node.ident >> 20) % 64
            node.ip = f"10.{128 + (n >> 16)}.{(n >> 8) & 255}.{n & 255}"
        used.add(node.name)

    # -- pods

    def _build_pods(self) -> None:
        m, t = self.m, self.t
        # per-node pods (DaemonSets, static pods) first: they are placed by the node, not the scheduler
        for node in self.nodes:
            for w in node.pool.per_node:
                if w.born > t:
                    continue
                rev = w.rev_at(t)
                created = max(node.created + 5 + w.idx % 20, w.rev_start(rev))
                ident = mix(w.key, node.ident, rev)
                if w.kind == "Static":
                    pod = PodP(w, rev, 0, ident, f"{w.name}-{node.name}", node.created + 4)
                    pod.owner = ("v1", "Node", node.name, node.uid)
                else:
                    pod = PodP(w, rev, 0, ident, f"{w.name}-{suffix(ident)}", created)
                    pod.owner = ("apps/v1", "DaemonSet", w.name, owner_uid(w))
                pod.node = node
                node.take(pod.shape)
                node.pods.append(pod)
                self.pods.append(pod)
        for w in m.replicated:
            r = self.reps[w.idx]
            if r:
                self._replicas(w, r)
        for w in m.runs:
            self._jobs(w)
        for w in m.bare:
            self._bare(w)
        self._unique_names()

    def _unique_names(self) -> None:
        """Rename the rare pod whose generated suffix collides, as the API server's generateName retry does.

        Five random characters collide by the birthday bound: a DaemonSet on 5,000 nodes has
        about even odds of two pods with the same name, which the API never serves.
        """
        seen: set[tuple[str, str]] = set()
        for pod in self.pods:
            key = (pod.w.namespace, pod.name)
            if key in seen and pod.owner is not None and pod.owner[1] != "Node":
                base = pod.name.rsplit("-", 1)[0]
                salt = 1
                while key in seen:
                    pod.name = f"{base}-{suffix(mix(pod.ident, salt))}"
                    key = (pod.w.namespace, pod.name)
                    salt += 1
            seen.add(key)

    def _replicas(self, w: Workload, r: int) -> None:
        m, t, b = self.m, self.t, self.b
        rev = w.rev_at(t)
        rstart = w.rev_start(rev)
        lo = min(w.hpa[0], r) if w.hpa is not None else r
        starts = m.run_starts(b, lo, r, 0, w.idx) if r > lo else []
        base_r = round(w.r0)
        sts = w.kind == "StatefulSet"
        for i in range(r):
            order = (r - 1 - i) if sts else i
            new_at = rstart + 5 + order * STEP
            prev = t < new_at and rev > 0
            prv = rev - 1 if prev else rev
            base = w.rev_start(prv) + 5 + order * STEP if prev else new_at
            ph = mix(w.key, i, 3) % w.life
            inc_start = ((t + ph) // w.life) * w.life - ph
            created = max(base, inc_start, w.born + i * STEP)
            if i >= lo and starts:
                s = starts[i - lo]
                created = max(created, s * B + int(mix(w.key, i, s) % 90))
            elif w.hpa is None and i >= base_r and w.growth > 0:
                ti = m.start + WEEK * ((i + 0.5) / w.r0 - 1.0) / w.growth
                created = max(created, math.ceil(ti / B) * B + int(mix(w.key, i) % 300))
            if created > t:
                continue
            ident = mix(w.key, prv, i, created)
            if sts:
                pod = PodP(w, prv, i, ident, f"{w.name}-{i}", created)
                pod.owner = ("apps/v1", "StatefulSet", w.name, owner_uid(w))
            else:
                name = rs_name(w, prv)
                pod = PodP(w, prv, i, ident, f"{name}-{suffix(ident)}", created)
                pod.owner = ("apps/v1", "ReplicaSet", name, rs_uid(w, prv))
            self._restarts(pod)
            self.pods.append(pod)
        if w.evictions:
            self._evicted(w, rev)

    def _restarts(self, pod: PodP) -> None:
        w, t = pod.w, self.t
        c0 = pod.shape.containers[0]
        if c0.oom and w.oom_period:
            first = pod.created + int(w.oom_period * (0.3 + 0.7 * unit(mix(pod.ident, 0x00F))))
            if t >= first:
                n = 1 + (t - first) // w.oom_period
                last = first + (n - 1) * w.oom_period
                prev_start = pod.created + 3 if n == 1 else last - w.oom_period + 10
                pod.restarts = n
                pod.last_start = last + 10
                pod.term = ("OOMKilled", 137, prev_start, last)
            return
        if w.restart_every:
            n = (t - pod.created) // w.restart_every
            if n > 0:
                last = pod.created + n * w.restart_every
                pod.restarts = n
                pod.last_start = last + 2
                reason = ("Error", 1) if mix(pod.ident, n) % 3 else ("Error", 143)
                pod.term = (reason[0], reason[1], last - w.restart_every + 2, last)

    def _evicted(self, w: Workload, rev: int) -> None:
        """A pod evicted under node memory pressure: Failed, kept by the API until garbage collected."""
        t = self.t
        day = (t - 3 * 3600) // 86400
        for d in (day, day - 1):
            h = mix(w.key, d, 0xE1C)
            if unit(h) >= 0.5:
                continue
            when = d * 86400 + 3 * 3600 + int(h % (20 * 3600))
            if not (when <= t < when + 86400):
                continue
            erev = w.rev_at(when)
            if erev <= rev - w.history or erev > rev:
                continue
            pool_nodes = [n for n in self.nodes if n.pool.idx == w.pool]
            if not pool_nodes:
                continue
            ident = mix(w.key, d, 0xE1D)
            name = rs_name(w, erev)
            pod = PodP(w, erev, 0, ident, f"{name}-{suffix(ident)}", when - 3600 - int(h % 150000))
            pod.owner = ("apps/v1", "ReplicaSet", name, rs_uid(w, erev))
            pod.node = pool_nodes[ident % len(pool_nodes)]
            pod.phase = "Failed"
            pod.reason = "Evicted"
            pod.finished = when
            self.pods.append(pod)

    def _jobs(self, w: Workload) -> None:
        assert w.cron is not None
        t = self.t
        c = w.cron
        k = int((t - c.offset) // c.period)
        ok = bad = 0
        found: list[RunP] = []
        depth = 24 if c.fail_rate else c.keep_succeeded + 3
        for kk in range(k, k - depth, -1):
            sched, start, end, failed = self.m.run(w, kk)
            if sched < w.born:
                break
            if start > t:
                continue
            if end <= t:
                if failed:
                    if bad >= c.keep_failed:
                        continue
                    bad += 1
                else:
                    if ok >= c.keep_succeeded:
                        if bad >= c.keep_failed or not c.fail_rate:
                            break
                        continue
                    ok += 1
            found.append(RunP(w, kk, sched, start, end, failed))
        for run in reversed(found):
            self.runs.append(run)
            active = run.end > t
            for j in range(c.parallelism if not (run.failed and not active) else 1):
                ident = mix(w.key, run.k, j, 0x70B)
                pod = PodP(w, w.rev_at(run.sched), j, ident, f"{run.name}-{suffix(ident)}", run.start + j)
                pod.owner = ("batch/v1", "Job", run.name, run.uid)
                pod.run = run
                if not active:
                    pod.phase = "Failed" if run.failed else "Succeeded"
                    pod.finished = run.end - (c.parallelism - 1 - j) * 3
                    pod.last_start = pod.created + 2
                    self._finished_node(pod)
                    if pod.node is None:
                        continue
                run.pods.append(pod)
                self.pods.append(pod)

    def _finished_node(self, pod: PodP) -> None:
        """Where a finished pod ran: the API keeps its nodeName; pods on deleted nodes are collected."""
        pool_nodes = [n for n in self.nodes if n.pool.idx == pod.w.pool and n.created < pod.created]
        if pool_nodes:
            pod.node = pool_nodes[pod.ident % len(pool_nodes)]

    def _bare(self, w: Workload) -> None:
        assert w.cron is not None
        t = self.t
        c = w.cron
        k = int((t - c.offset) // c.period)
        sched = c.offset + k * c.period
        end = sched + c.duration
        never = w.restart_policy == "Never"
        if t >= end and not never:
            return
        if t - sched < 30:
            return
        ident = mix(w.key, k, 0xBA2E)
        pod = PodP(w, 0, 0, ident, w.name, sched)
        if never and t >= end:
            pod.phase = "Succeeded"
            pod.finished = end
            self._finished_node(pod)
            if pod.node is None:
                return
        self.pods.append(pod)

    # -- scheduling

    def _place(self) -> None:
        by_pool: list[list[PodP]] = [[] for _ in self.m.pools]
        for pod in self.pods:
            if pod.node is None and pod.phase == "Running":
                by_pool[pod.w.pool].append(pod)
        for p in self.m.pools:
            queue = by_pool[p.idx]
            if not queue:
                continue
            queue.sort(key=lambda x: (-x.w.priority, x.created, x.name))
            min_cpu = min(x.shape.eff_cpu_m for x in queue)
            min_mem = min(x.shape.eff_mem_b for x in queue)
            open_nodes = [n for n in self.nodes if n.pool is p]
            for pod in queue:
                s = pod.shape
                c, mem, g = s.eff_cpu_m, s.eff_mem_b, s.eff_gpu
                hit = -1
                for j, n in enumerate(open_nodes):
                    if n.free_cpu >= c and n.free_mem >= mem and n.free_gpu >= g and n.free_pods >= 1:
                        hit = j
                        break
                    n.misses += 1
                if hit < 0:
                    pod.phase = "Pending"
                    pod.reason = "Unschedulable"
                    open_nodes = [n for n in open_nodes if n.misses < 40]
                    continue
                n = open_nodes[hit]
                n.take(s)
                pod.node = n
                n.pods.append(pod)
                if n.free_pods < 1 or n.free_cpu < min_cpu or n.free_mem < min_mem:
                    del open_nodes[hit]
                elif hit > 32:
                    open_nodes = [x for x in open_nodes if x.misses < 40]

    # -- usage

    def _usage(self) -> None:
        m, t = self.m, self.t
        d = m.diurnal(t)
        wk = m.weekend(t)
        loads: dict[int, float] = {}
        slot5 = t // 300
        for pod in self.pods:
            node = pod.node
            if node is None or pod.phase != "Running":
                continue
            if t - pod.created < 8:
                pod.phase = "Pending"  # bound, containers still being created
                continue
            w = pod.w
            lf = loads.get(w.idx)
            if lf is None:
                lf = m.load(w, t, d, wk)
                if w.replicated:
                    lf = w.r0 * lf / max(1, self.reps[w.idx])
                    if w.hpa is None:
                        lf /= m.growth(w, t)
                elif w.kind in ("DaemonSet", "Static"):
                    lf = 1.0 + 0.3 * (d - 1.0)
                elif w.kind != "Bare":
                    lf = 1.0
                loads[w.idx] = lf
            usage = []
            ci = 0
            for c in pod.shape.containers:
                usage.append(self._container_use(pod, c, ci, lf, slot5))
                ci += 1
            for c in pod.shape.init:
                if c.restartable:
                    usage.append(self._container_use(pod, c, ci, lf, slot5))
                    ci += 1
            pod.usage = usage
            node.use_cpu_n += sum(u[0] for u in usage)
            node.use_mem_b += sum(u[1] for u in usage)
            pod.metrics = node.ready and t - pod.created >= 60
        for node in self.nodes:
            it = node.itype
            h = node.ident
            sys_cpu = (70 + 15 * it.vcpu) * (0.8 + 0.4 * unit(mix(h, 1))) * (0.7 + 0.3 * d)
            sys_mem = (550 + 60 * it.vcpu) * MI * (0.9 + 0.2 * unit(mix(h, 2)))
            node.use_cpu_n = min(it.vcpu * 10**9, node.use_cpu_n + int(sys_cpu * 1e6))
            node.use_mem_b = min(it.memory_capacity_ki * KI, node.use_mem_b + int(sys_mem))

    def _container_use(self, pod: PodP, c: Any, ci: int, lf: float, slot5: int) -> tuple[int, int]:
        t = self.t
        pn = vnoise(mix(pod.ident, ci), t, 300)
        cpu = c.cpu_use_m * lf * (1.0 + 0.15 * pn)
        if c.bursty and unit(mix(pod.ident, slot5, 0xB5)) < 0.12:
            cpu *= 3.0 + 3.0 * unit(mix(pod.ident, slot5, 0xB6))
        if c.cpu_lim_m:
            cpu = min(cpu, c.cpu_lim_m * 0.98)
        cpu = max(cpu, 0.05)
        if c.oom and pod.w.oom_period and ci == 0:
            cycle = pod.w.oom_period if pod.restarts else max(1, pod.w.oom_period * 0.3)
            frac = min(1.0, max(0.0, (t - pod.last_start) / cycle))
            mem = c.mem_lim_b * (0.5 + 0.49 * frac)
        else:
            mem = c.mem_use_b * (0.85 + 0.15 * min(lf, 2.0)) * (1.0 + 0.04 * pn)
            if pod.run is not None:
                mem *= min(1.0, 0.3 + (t - pod.created) / 300)
            if c.mem_lim_b:
                mem = min(mem, 0.97 * c.mem_lim_b)
        return int(cpu * 1e6), int(mem)


__all__ = ["NEVER", "ClusterModel", "Instant", "NodeP", "PodP", "RunP"]
