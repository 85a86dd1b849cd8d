"""A simulated fleet of Kubernetes clusters that serves the same API payloads as a live cluster.

Usage::

    fleet = Fleet(FleetSpec(seed=0, clusters=3, teams=40, target_pods=2000), start=history_start)
    for cluster in fleet.cluster_names:
        source = fleet.source(cluster, at)        # a collectors.source.Source
        for page in source.pages(Kind.PODS):      # pages of 500 raw API objects, built lazily
            ...
    big = huge_cluster(nodes=5000, pods=150_000, at=at)   # one large instant for benchmarks

Deterministic: the same spec, cluster and instant give byte-identical objects, in whatever
order instants are asked for (no wall clock, no global random state, no salted ``hash()``).
Stdlib only; never imports ``kubernetes``.

What it models (the modules: ``_catalog`` the literal tables (cluster templates, instance types,
teams, services' roles) and ``data/addons.yaml`` the add-ons, ``_model`` the types, ``_generator``
and ``_apps`` a cluster built once from its template and seed, ``_system`` its add-ons, ``_plan``
what changes with time, ``_instant`` one instant, and the ``_render_*`` modules over
``_templates`` the API objects of an instant):

- clusters: EKS with managed node groups and cluster-autoscaler (``prod-us-east-1``), EKS with
  Karpenter NodePools (``prod-eu-west-1``), GKE (``staging-us-central1``); more templates when
  ``clusters > 3``. Real instance types with kubelet-reported capacity and allocatable
  (kube-reserved as EKS/GKE compute it), spot pools, a tainted GPU pool.
- autoscaling: replica counts (HPA) follow a daily cycle peaking at 14:00 local, a weekend dip
  and slow growth per team; node counts per pool follow the requested demand between a min and
  a max; pods are placed first-fit by requests (DaemonSet and static pods on every node);
  what does not fit a full pool stays Pending/Unschedulable. Node names persist while a node
  lives (on-demand nodes rotate about weekly, spot nodes about daily); nodes about to be
  removed are tainted/cordoned; a rare node goes NotReady (no metrics from it).
- workloads of 40+ teams: Deployments, two Argo Rollouts, StatefulSets, CronJobs (finished
  runs kept as Succeeded/Failed pods), a Helm-hook Job, bare pods, evicted pods; usage profiles
  over-provisioned (~10 % of requests), well-sized, bursty, under-provisioned, idle/abandoned,
  memory-hungry (climbs to its limit, OOMKilled with exit 137, restartCount grows); rollouts
  that change requests mid-history (right-sizing, memory raised after OOM kills); init
  containers, native sidecars (linkerd), pod overhead (kata), priorities, selectors/affinity.
- attribution: ``team`` labels on some namespaces, on some pods, on neither for a few;
  ``cost-center`` labels; shared and sandbox namespaces; ResourceQuotas on some namespaces.
- metrics.k8s.io: PodMetrics (nanocores, Ki) for running pods older than a minute, NodeMetrics
  = pods + system overhead. ``FleetSpec(metrics_outages=True)`` makes metrics-server answer 503
  on non-production clusters now and then.

Objects share their unchanging parts (and may be reused between instants): the top level and
``metadata`` of each item are its own, everything below is read-only.
"""

from collectors.simulator._fleet import PAGE_SIZE, Fleet, FleetSpec, SimulatedSource, huge_cluster

__all__ = ["PAGE_SIZE", "Fleet", "FleetSpec", "SimulatedSource", "huge_cluster"]
