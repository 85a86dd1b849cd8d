"""Building one simulated cluster from its template and the fleet seed: its teams' services, their
containers and profiles, pools, namespaces and quotas (``Generator``), decided once when the
cluster is built. The types it builds are ``_model``'s."""

from __future__ import annotations

import random

from collectors.simulator._apps import app_container, linkerd, pick_profile, resized, role_of
from collectors.simulator._catalog import (
    CPU_SIZES,
    CRON_NAMES,
    HIGH_PRIORITY_TEAMS,
    INSTANCE_TYPES,
    MEM_SIZES,
    REGISTRY,
    ROLLOUTS,
    SCHEDULES,
    TEAMS,
    USERS,
    ClusterTemplate,
)
from collectors.simulator._model import (
    DAY_BUCKETS,
    NEVER,
    ContainerT,
    CronSpec,
    NamespaceT,
    Pool,
    Shape,
    Workload,
    container,
    scale_mem,
)
from collectors.simulator._util import GI, MI, mix, parse_bytes, parse_cpu_m, skey


class Generator:
    """Builds the workloads, namespaces and pools of one cluster from the fleet seed."""

    def __init__(self, tpl: ClusterTemplate, name: str, seed: int, teams: int, start: int) -> None:
        self.tpl = tpl
        self.name = name
        self.seed = seed
        self.ckey = mix(seed, skey(name))
        self.start = start
        self.workloads: list[Workload] = []
        self.namespaces: dict[str, NamespaceT] = {}
        self.pools: list[Pool] = []
        self.teams = _team_list(teams)
        self._names: set[tuple[str, str]] = set()
        for i, pt in enumerate(tpl.pools):
            types = tuple(
                sorted(
                    (INSTANCE_TYPES[n] for n in pt.instance_types),
                    key=lambda it: (-it.vcpu, -it.memory_gib, it.name),
                )
            )
            pool = Pool(i, pt, types, mix(self.ckey, skey(pt.name)), any(t.gpu for t in types))
            pool.min_nodes = pt.min_nodes
            pool.rot_buckets = max(8, int(pt.rotate_days * DAY_BUCKETS))
            self.pools.append(pool)

    # -- helpers

    def rng(self, *parts: str, shared: bool = False) -> random.Random:
        base = self.seed if shared else self.ckey
        return random.Random(mix(base, *(skey(p) for p in parts)))

    def pool_for(self, role: str) -> int | None:
        for p in self.pools:
            if role in p.tpl.roles and p.gpu == (role == "gpu"):
                return p.idx
        if role == "gpu":
            return None
        for p in self.pools:
            if "general" in p.tpl.roles:
                return p.idx
        return 0

    def add_ns(
        self,
        name: str,
        labels: dict[str, str] | None = None,
        *,
        created: int | None = None,
        annotations: dict[str, str] | None = None,
    ) -> NamespaceT:
        ns = self.namespaces.get(name)
        if ns is None:
            when = (
                created
                if created is not None
                else self.start - 86400 * (200 + mix(self.ckey, skey(name)) % 400)
            )
            ns = NamespaceT(
                name, {"kubernetes.io/metadata.name": name, **(labels or {})}, annotations or {}, when
            )
            self.namespaces[name] = ns
        return ns

    def add(self, w: Workload) -> Workload | None:
        if (w.namespace, w.name) in self._names:
            return None
        self._names.add((w.namespace, w.name))
        w.idx = len(self.workloads)
        self.workloads.append(w)
        return w

    def pin(self, w: Workload, rng: random.Random) -> None:
        """Node selectors, affinities and tolerations that keep a workload on its pool."""
        pool = self.pools[w.pool]
        pt = pool.tpl
        if pt.provisioner == "karpenter":
            key, val = "karpenter.sh/nodepool", pt.name
        elif pt.provisioner == "nodegroup":
            key, val = "eks.amazonaws.com/nodegroup", pt.name
        else:
            key, val = "cloud.google.com/gke-nodepool", pt.name
        if pool.gpu:
            w.tolerations.append({"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"})
        if pt.spot and rng.random() < 0.5:
            cap_key = {
                "karpenter": "karpenter.sh/capacity-type",
                "nodegroup": "eks.amazonaws.com/capacityType",
                "gke": "cloud.google.com/gke-spot",
            }[pt.provisioner]
            cap_val = {"karpenter": "spot", "nodegroup": "SPOT", "gke": "true"}[pt.provisioner]
            key, val = cap_key, cap_val
        x = rng.random()
        shared_general = "general" in pt.roles and x < 0.6
        if shared_general:
            return  # no constraint: schedulable anywhere (we place it on the general pool)
        if x < 0.75 or pool.gpu:
            w.node_selector = {key: val}
        else:
            w.affinity = {
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [
                            {"matchExpressions": [{"key": key, "operator": "In", "values": [val]}]}
                        ]
                    }
                }
            }

    @staticmethod
    def repel(w: Workload) -> None:
        """Required anti-affinity on the hostname for a fifth of the services, a zone spread for
        another fifth (chosen by hash, so the random streams stay as they were)."""
        pick = mix(w.key, 0x5EED) % 10
        if w.kind == "CronJob" or pick >= 4 or "app.kubernetes.io/name" not in w.labels:
            return
        own = {"matchLabels": {"app.kubernetes.io/name": w.labels["app.kubernetes.io/name"]}}
        if pick < 2:
            anti = {"requiredDuringSchedulingIgnoredDuringExecution": [
                {"labelSelector": own, "topologyKey": "kubernetes.io/hostname"}
            ]}  # fmt: skip
            w.affinity = {**(w.affinity or {}), "podAntiAffinity": anti}
        else:
            w.spread = [{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
                         "whenUnsatisfiable": "DoNotSchedule", "labelSelector": own}]  # fmt: skip

    # -- team workloads

    def build_teams(self) -> None:
        tpl = self.tpl
        for team, services in self.teams:
            tkey = skey(team)
            if tpl.team_share < 1.0 and (mix(self.ckey, tkey, 1) % 1000) / 1000 >= tpl.team_share:
                continue
            trng = self.rng(team, shared=True)
            label_style = trng.random()  # <0.6 namespace label; 0.35..0.75 pod labels; >0.9 neither
            ns_label = label_style < 0.6
            pod_label = 0.35 < label_style < 0.78
            growth = trng.choice((0.0, 0.005, 0.01, 0.015, 0.02, 0.03, 0.05))
            mesh = trng.random() < 0.25
            n_services = trng.randint(2, max(2, len(services.split())))
            onboarded = self.start + 86400 * trng.randint(3, 20) if trng.random() < 0.06 else None
            labels = {"team": team} if ns_label else {}
            if trng.random() < 0.5:
                labels["cost-center"] = f"cc-{1000 + tkey % 9000}"
            if tpl.env != "production" or trng.random() < 0.3:
                labels["environment"] = tpl.env
            annotations = {"linkerd.io/inject": "enabled"} if mesh else {}
            ns = self.add_ns(team, labels, created=onboarded, annotations=annotations)
            if trng.random() < 0.35:
                ns.quota = {}  # sized after calibration
            for svc in services.split()[:n_services]:
                srng = self.rng(team, svc, shared=True)
                target_ns = team
                if srng.random() < 0.07:
                    target_ns = "shared-services"
                    self.add_ns(target_ns, {"environment": tpl.env})
                self._service(
                    team, svc, target_ns, srng, growth, pod_label or target_ns != team, mesh, onboarded
                )
            ncron = trng.choice((0, 0, 1, 1, 1, 2))
            if tpl.env != "production":
                ncron = min(ncron, 1)
            for c in trng.sample(CRON_NAMES, ncron):
                batch_ns = team
                if trng.random() < 0.4:
                    batch_ns = f"{team}-batch"
                    self.add_ns(batch_ns, labels, created=onboarded)
                self._cron(team, f"{team}-{c}", batch_ns, pod_label, growth, onboarded)
            if team == "ml-training" and self.pool_for("gpu") is not None:
                self._cron(team, "nightly-train", team, pod_label, growth, onboarded, gpu=True)
            if team == "payments" and tpl.env == "production":
                self._migration_job(team)

    def _service(
        self,
        team: str,
        svc: str,
        ns: str,
        srng: random.Random,
        growth: float,
        pod_label: bool,
        mesh: bool,
        onboarded: int | None,
    ) -> None:
        crng = self.rng(team, svc)
        role = role_of(svc, srng)
        pool = self.pool_for(role)
        if pool is None:
            return
        profile = pick_profile(srng)
        if role == "gpu":
            profile = "wellsized"
        kind = "Deployment"
        if svc in ROLLOUTS:
            kind = "Rollout"
        elif svc.endswith("-store") or svc == "ledger":
            kind = "StatefulSet"
        main = app_container(srng, svc, team, role, profile)
        conts = [main]
        init: list[ContainerT] = []
        if srng.random() < 0.15:
            side = srng.choice(("otel-collector", "cloud-sql-proxy", "envoy"))
            conts.append(
                container(
                    side,
                    f"ghcr.io/acme/{side}:1.9.2",
                    "50m",
                    "64Mi",
                    None,
                    "128Mi",
                    use_cpu=8.0,
                    use_mem=40 * MI,
                    probes=False,
                )
            )
        if mesh:
            linit, proxy = linkerd()
            init += [linit, proxy]
        if srng.random() < 0.22:
            if srng.random() < 0.5:
                init.append(
                    container(
                        "wait-for-deps",
                        "busybox:1.36",
                        "10m",
                        "16Mi",
                        "10m",
                        "16Mi",
                        probes=False,
                        args=("sh", "-c", "until nc -z postgres 5432; do sleep 2; done"),
                    )
                )
            else:
                init.append(
                    container(
                        "db-migrate",
                        main.image,
                        "500m",
                        "512Mi",
                        "1",
                        "512Mi",
                        versioned=True,
                        probes=False,
                        args=("migrate", "up"),
                    )
                )
        overhead = None
        runtime = None
        if svc == "sandbox-runner":
            overhead = {"cpu": "250m", "memory": "160Mi"}
            runtime = "kata-qemu"
        shapes = [Shape(tuple(conts), tuple(init), overhead)]
        resize_at: int | None = None
        if srng.random() < 0.14 or (profile == "oom" and srng.random() < 0.5):
            shapes.append(Shape((resized(main, profile, srng), *conts[1:]), tuple(init), overhead))
            resize_at = self.start + int(86400 * srng.uniform(2, 18))
        labels = {"app.kubernetes.io/name": svc, "app.kubernetes.io/instance": f"{svc}-{self.tpl.env[:4]}"}
        if srng.random() < 0.5:
            labels["app"] = svc
        labels["app.kubernetes.io/component"] = "server" if "worker" not in svc else "worker"
        if srng.random() < 0.6:
            labels["app.kubernetes.io/version"] = "__version__"
        if pod_label:
            labels["team"] = team
        big = any(
            k in svc for k in ("api", "gateway", "web", "server", "service", "router", "bff", "checkout")
        )
        r0 = crng.uniform(4, 12) if big else crng.uniform(2, 5)
        if profile == "idle":
            r0 = crng.choice((1, 1, 2))
        if kind == "StatefulSet":
            r0 = 3
        hpa = None
        if kind != "StatefulSet" and profile != "idle" and (big or role == "gpu" or srng.random() < 0.35):
            hpa = (1, 1)  # bounds set after calibration
        period = int(86400 * srng.uniform(1.0, 8.0))
        if profile == "idle":
            period = NEVER
        w = Workload(
            0,
            mix(self.ckey, skey(ns), skey(svc)),
            ns,
            svc,
            kind,
            team,
            svc,
            profile,
            pool,
            tuple(shapes),
            labels,
            r0=r0,
            hpa=hpa,
            growth=growth * srng.uniform(0.5, 1.5),
            amp=srng.uniform(0.5, 1.1) if profile != "idle" else 0.05,
            dip=srng.uniform(0.1, 0.4),
            period=period,
            history=srng.choice((10, 10, 5, 3)),
            life=int(86400 * (crng.uniform(0.5, 1.5) if self.pools[pool].tpl.spot else crng.uniform(3, 14))),
            born=(onboarded or -NEVER),
            priority=100000 if team in HIGH_PRIORITY_TEAMS else 0,
            priority_class="high-priority" if team in HIGH_PRIORITY_TEAMS else None,
            runtime_class=runtime,
            oom_period=int(3600 * srng.uniform(4, 30)) if profile == "oom" else 0,
            restart_every=int(86400 * srng.uniform(5, 90)) if srng.random() < 0.3 else 0,
            evictions=profile in ("oom", "bursty") and self.pools[pool].tpl.spot,
            service_account=svc if srng.random() < 0.5 else "default",
        )
        if role == "gpu":
            w.amp = 1.0
        w.image_tag0 = srng.randint(20, 300)
        self._revisions(w, srng, resize_at)
        self.pin(w, srng)
        self.repel(w)
        self.add(w)

    def _revisions(self, w: Workload, rng: random.Random, resize_at: int | None) -> None:
        """Place revision 0 so that the history starts some revisions in; resize at a deploy."""
        if w.period >= NEVER:
            w.anchor = self.start - 86400 * rng.randint(60, 400)
            return
        rev0 = rng.randint(3, 40)
        w.anchor = self.start - rev0 * w.period - int(rng.random() * w.period)
        if resize_at is not None:
            w.resize_rev = w.rev_at(resize_at) + 1

    def _cron(
        self,
        team: str,
        name: str,
        ns: str,
        pod_label: bool,
        growth: float,
        onboarded: int | None,
        *,
        gpu: bool = False,
    ) -> None:
        rng = self.rng(ns, name, shared=True)
        if gpu:
            sched, period, dur = "0 1 * * *", 86400, (9000, 12600)
            cpu, mem = "3", "12Gi"
        else:
            sched, period, dur = rng.choice(SCHEDULES)
            cpu = rng.choice(CPU_SIZES[rng.choice(("s", "m", "l"))])
            mem = rng.choice(MEM_SIZES[rng.choice(("s", "m", "l"))])
        minute = rng.randrange(0, 60) if "{m}" in sched else 0
        hour = rng.randrange(0, 6) if "{h}" in sched else 0
        offset = minute * 60 + hour * 3600
        sched = sched.format(m=minute, h=hour)
        c = container(
            name.removeprefix(f"{team}-"),
            f"{REGISTRY}/{team}/{name}",
            cpu,
            mem,
            None,
            mem if gpu else scale_mem(mem, rng.choice((1.0, 1.5, 2.0))),
            use_cpu=parse_cpu_m(cpu) * rng.uniform(0.6, 0.95),
            use_mem=parse_bytes(mem) * rng.uniform(0.4, 0.8),
            versioned=True,
            probes=False,
            gpu=1 if gpu else 0,
            args=("run", "--once"),
        )
        pool_role = "gpu" if gpu else rng.choice(("spot", "general", "spot"))
        pool = self.pool_for(pool_role)
        if pool is None:
            return
        labels = {"app.kubernetes.io/name": name}
        if pod_label:
            labels["team"] = team
        par = 4 if gpu else rng.choice((1, 1, 1, 2, 3))
        fail = rng.choice((0.0, 0.0, 0.03, 0.1))
        cron = CronSpec(sched, period, offset, rng.randint(*dur), par, fail, backoff_limit=0 if fail else 6)
        w = Workload(
            0,
            mix(self.ckey, skey(ns), skey(name)),
            ns,
            name,
            "CronJob",
            team,
            name,
            "batch",
            pool,
            (Shape((c,)),),
            labels,
            growth=growth,
            period=int(86400 * rng.uniform(5, 20)),
            born=(onboarded or -NEVER),
            cron=cron,
            restart_policy="Never",
            priority=-10 if not gpu else 0,
            priority_class="batch-low" if not gpu else None,
        )
        w.image_tag0 = rng.randint(5, 80)
        self._revisions(w, rng, None)
        self.pin(w, rng)
        self.add(w)

    def _migration_job(self, team: str) -> None:
        """A Helm pre-upgrade hook Job: no CronJob owner; only the latest one is kept."""
        c = container(
            "migrate",
            f"{REGISTRY}/{team}/ledger",
            "250m",
            "256Mi",
            None,
            "512Mi",
            use_cpu=200.0,
            use_mem=180 * MI,
            versioned=True,
            probes=False,
            args=("migrate", "--to", "latest"),
        )
        pool = self.pool_for("general") or 0
        cron = CronSpec("@helm-hook", 6 * 86400, 14 * 3600 + 1800, 95, keep_succeeded=1, keep_failed=0)
        w = Workload(
            0,
            mix(self.ckey, skey("ledger-migrate")),
            team,
            "ledger-migrate",
            "Job",
            team,
            "ledger",
            "batch",
            pool,
            (Shape((c,)),),
            {"app.kubernetes.io/name": "ledger"},
            cron=cron,
            restart_policy="Never",
            period=NEVER,
            anchor=self.start - 86400 * 300,
        )
        w.annotations = {"helm.sh/hook": "pre-upgrade", "helm.sh/hook-delete-policy": "before-hook-creation"}
        self.add(w)

    # -- sandboxes and bare pods

    def build_misc(self) -> None:
        rng = self.rng("misc")
        self.add_ns("default")
        users = rng.sample(USERS, 3)
        for i, user in enumerate(users):
            ns = f"sandbox-{user}"
            self.add_ns(ns, {"owner": user} if i % 2 == 0 else {})
            for app in rng.sample(("demo-app", "load-test", "poc-service", "hello-world"), 2):
                c = container(
                    app,
                    f"ghcr.io/{user}/{app}:latest",
                    "500m",
                    "1Gi",
                    None,
                    None,
                    use_cpu=rng.uniform(0.5, 2.5),
                    use_mem=rng.uniform(20, 70) * MI,
                    probes=False,
                )
                w = Workload(
                    0,
                    mix(self.ckey, skey(ns), skey(app)),
                    ns,
                    app,
                    "Deployment",
                    None,
                    app,
                    "idle",
                    self.pool_for("general") or 0,
                    (Shape((c,)),),
                    {"app": app},
                    r0=rng.choice((1, 1, 2)),
                    amp=0.02,
                    period=NEVER,
                    life=30 * 86400,
                )
                self._revisions(w, rng, None)
                self.add(w)
            bare = container(
                "netshoot",
                "nicolaka/netshoot:v0.13",
                use_cpu=1.0,
                use_mem=6 * MI,
                probes=False,
                args=("sleep", "infinity"),
            )
            period = int(86400 * rng.uniform(3, 9))
            cron = CronSpec("bare", period, int(rng.random() * period), int(period * rng.uniform(0.2, 0.6)))
            w = Workload(
                0,
                mix(self.ckey, skey(user)),
                "default" if i == 0 else ns,
                f"netshoot-{user}",
                "Bare",
                None,
                "netshoot",
                "idle",
                self.pool_for("general") or 0,
                (Shape((bare,)),),
                {"run": f"netshoot-{user}"},
                cron=cron,
                period=NEVER,
            )
            self.add(w)
        rep = container(
            "report",
            "python:3.12-slim",
            "1",
            "2Gi",
            None,
            "2Gi",
            use_cpu=900.0,
            use_mem=1.1 * GI,
            probes=False,
            args=("python", "/scripts/quarterly_report.py"),
        )
        cron = CronSpec("bare", 4 * 86400, 10 * 3600, 1500)
        w = Workload(
            0,
            mix(self.ckey, skey("adhoc-report")),
            "default",
            "adhoc-report",
            "Bare",
            None,
            "report",
            "batch",
            self.pool_for("general") or 0,
            (Shape((rep,)),),
            {"run": "adhoc-report"},
            cron=cron,
            restart_policy="Never",
            period=NEVER,
        )
        self.add(w)


def _team_list(n: int) -> list[tuple[str, str]]:
    out = list(TEAMS[:n])
    for i in range(len(out), n):
        t = f"team-{i + 1:02d}"
        out.append((t, f"{t}-api {t}-worker {t}-web"))
    return out
