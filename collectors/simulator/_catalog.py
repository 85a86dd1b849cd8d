"""Static facts the simulated fleet is built from: instance types, clusters, node pools, teams."""

from __future__ import annotations

from dataclasses import dataclass

from capacity.kubelet import (
    AWS_KEPT,
    eks_reserved_memory,
    gke_reserved_memory,
    kube_reserved_cpu_millicores,
)
from collectors.simulator._util import GI, KI


@dataclass(frozen=True, slots=True)
class InstanceType:
    """A real cloud machine type, with what its kubelet reports."""

    name: str
    provider: str  # aws | gcp
    vcpu: int
    memory_gib: int
    max_pods: int  # EKS: the VPC CNI ENI limit; GKE: 110
    gpu: int = 0
    gpu_product: str = ""

    @property
    def family(self) -> str:
        return self.name.split(".")[0] if self.provider == "aws" else self.name.split("-")[0]

    @property
    def size(self) -> str:
        return self.name.split(".")[1] if self.provider == "aws" else self.name.split("-", 1)[1]

    @property
    def memory_capacity_ki(self) -> int:
        """Memory the kubelet reports as capacity: RAM minus what the firmware and kernel keep."""
        keep = AWS_KEPT if self.provider == "aws" else 0.977
        return int(self.memory_gib * GI * keep) // KI

    @property
    def reserved_cpu_m(self) -> int:
        """kube-reserved CPU as EKS and GKE compute it."""
        return kube_reserved_cpu_millicores(self.vcpu)

    @property
    def reserved_memory_b(self) -> int:
        """kube-reserved + eviction-hard memory (EKS: per pod; GKE: tiers of the memory)."""
        if self.provider == "aws":
            return int(eks_reserved_memory(self.max_pods))
        return int(gke_reserved_memory(self.memory_gib))


def _aws(name: str, vcpu: int, gib: int, pods: int, gpu: int = 0) -> InstanceType:
    return InstanceType(name, "aws", vcpu, gib, pods, gpu, "NVIDIA-A10G" if gpu else "")


INSTANCE_TYPES: dict[str, InstanceType] = {
    t.name: t
    for t in (
        _aws("m6i.large", 2, 8, 29),
        _aws("m6i.xlarge", 4, 16, 58),
        _aws("m6i.2xlarge", 8, 32, 58),
        _aws("m6i.4xlarge", 16, 64, 234),
        _aws("m6i.8xlarge", 32, 128, 234),
        _aws("m6a.2xlarge", 8, 32, 58),
        _aws("m5.2xlarge", 8, 32, 58),
        _aws("m7i.2xlarge", 8, 32, 58),
        _aws("c6i.2xlarge", 8, 16, 58),
        _aws("c6i.4xlarge", 16, 32, 234),
        _aws("c6a.4xlarge", 16, 32, 234),
        _aws("r6i.2xlarge", 8, 64, 58),
        _aws("r6i.4xlarge", 16, 128, 234),
        _aws("g5.xlarge", 4, 16, 58, gpu=1),
        _aws("g5.2xlarge", 8, 32, 58, gpu=1),
        InstanceType("e2-standard-4", "gcp", 4, 16, 110),
        InstanceType("e2-standard-8", "gcp", 8, 32, 110),
        InstanceType("n2-standard-8", "gcp", 8, 32, 110),
        InstanceType("n2-standard-16", "gcp", 16, 64, 110),
        InstanceType("n2-highmem-8", "gcp", 8, 64, 110),
    )
}


@dataclass(frozen=True, slots=True)
class PoolTemplate:
    """A node pool: an EKS managed node group, a Karpenter NodePool or a GKE node pool."""

    name: str
    provisioner: str  # nodegroup | karpenter | gke
    roles: tuple[str, ...]  # general | compute | memory | spot | gpu | system
    instance_types: tuple[str, ...]
    spot: bool = False
    min_nodes: int = 1
    headroom: float = 1.8  # max nodes = nodes needed at nominal load x headroom
    rotate_days: float = 7.0  # nodes are replaced (AMI updates, spot interruptions) this often


@dataclass(frozen=True, slots=True)
class ClusterTemplate:
    name: str
    provider: str  # aws | gcp
    region: str
    zones: tuple[str, ...]
    env: str  # production | staging | development
    utc_offset_h: float  # local time of the users the cluster serves (daily peak at 14:00 local)
    weight: float  # share of the fleet's pods
    team_share: float  # fraction of teams deployed here
    pools: tuple[PoolTemplate, ...]
    version: str  # kubelet version
    autoscaler: str  # cluster-autoscaler | karpenter | gke


_EKS_VERSION = "v1.31.4-eks-aeac579"
_GKE_VERSION = "v1.31.5-gke.1068000"

CLUSTER_TEMPLATES: tuple[ClusterTemplate, ...] = (
    ClusterTemplate(
        "prod-us-east-1",
        "aws",
        "us-east-1",
        ("us-east-1a", "us-east-1b", "us-east-1c"),
        "production",
        -5.0,
        0.42,
        1.0,
        (
            PoolTemplate("general-m6i", "nodegroup", ("general", "system"), ("m6i.2xlarge",), min_nodes=3),
            PoolTemplate("compute-c6i", "nodegroup", ("compute",), ("c6i.4xlarge",), min_nodes=1),
            PoolTemplate("memory-r6i", "nodegroup", ("memory",), ("r6i.2xlarge",), min_nodes=1, headroom=1.6),
            PoolTemplate(
                "spot-2xl",
                "nodegroup",
                ("spot",),
                ("m5.2xlarge", "m6a.2xlarge", "m6i.2xlarge"),
                spot=True,
                min_nodes=1,
                rotate_days=1.5,
            ),
            PoolTemplate("gpu-g5", "nodegroup", ("gpu",), ("g5.xlarge",), min_nodes=1, headroom=1.0),
        ),
        _EKS_VERSION,
        "cluster-autoscaler",
    ),
    ClusterTemplate(
        "prod-eu-west-1",
        "aws",
        "eu-west-1",
        ("eu-west-1a", "eu-west-1b", "eu-west-1c"),
        "production",
        0.0,
        0.38,
        0.9,
        (
            PoolTemplate("system", "nodegroup", ("system",), ("m6i.xlarge",), min_nodes=2, headroom=1.5),
            PoolTemplate(
                "default",
                "karpenter",
                ("general", "compute"),
                ("m6i.2xlarge", "m6i.4xlarge", "c6i.2xlarge", "m7i.2xlarge"),
                min_nodes=2,
            ),
            PoolTemplate(
                "spot",
                "karpenter",
                ("spot",),
                ("m6i.2xlarge", "m6a.2xlarge", "m5.2xlarge", "c6a.4xlarge"),
                spot=True,
                min_nodes=1,
                rotate_days=1.0,
            ),
            PoolTemplate("memory", "karpenter", ("memory",), ("r6i.2xlarge", "r6i.4xlarge"), min_nodes=1),
            PoolTemplate("gpu", "karpenter", ("gpu",), ("g5.2xlarge",), min_nodes=1, headroom=1.0),
        ),
        _EKS_VERSION,
        "karpenter",
    ),
    ClusterTemplate(
        "staging-us-central1",
        "gcp",
        "us-central1",
        ("us-central1-a", "us-central1-b", "us-central1-f"),
        "staging",
        -6.0,
        0.20,
        0.7,
        (
            PoolTemplate(
                "default-pool", "gke", ("general", "system"), ("e2-standard-8",), min_nodes=3, headroom=1.2
            ),
            PoolTemplate(
                "n2-pool", "gke", ("compute", "memory"), ("n2-standard-8",), min_nodes=1, headroom=1.3
            ),
            PoolTemplate(
                "spot-pool", "gke", ("spot",), ("e2-standard-4",), spot=True, min_nodes=1, rotate_days=1.0
            ),
        ),
        _GKE_VERSION,
        "gke",
    ),
    ClusterTemplate(
        "prod-ap-southeast-1",
        "aws",
        "ap-southeast-1",
        ("ap-southeast-1a", "ap-southeast-1b", "ap-southeast-1c"),
        "production",
        8.0,
        0.25,
        0.6,
        (
            PoolTemplate("system", "nodegroup", ("system",), ("m6i.xlarge",), min_nodes=2, headroom=1.5),
            PoolTemplate(
                "default",
                "karpenter",
                ("general", "compute", "memory"),
                ("m6i.2xlarge", "m6i.4xlarge", "r6i.2xlarge"),
                min_nodes=2,
            ),
            PoolTemplate(
                "spot", "karpenter", ("spot",), ("m6a.2xlarge", "m5.2xlarge"), spot=True, rotate_days=1.0
            ),
            PoolTemplate("gpu", "karpenter", ("gpu",), ("g5.xlarge",), headroom=1.2),
        ),
        _EKS_VERSION,
        "karpenter",
    ),
    ClusterTemplate(
        "dev-us-west-2",
        "aws",
        "us-west-2",
        ("us-west-2a", "us-west-2b", "us-west-2c"),
        "development",
        -8.0,
        0.12,
        0.5,
        (
            PoolTemplate(
                "general-m6i",
                "nodegroup",
                ("general", "system", "compute", "memory"),
                ("m6i.xlarge",),
                min_nodes=2,
                headroom=1.3,
            ),
            PoolTemplate(
                "spot-2xl", "nodegroup", ("spot",), ("m5.2xlarge", "m6i.2xlarge"), spot=True, rotate_days=1.0
            ),
        ),
        _EKS_VERSION,
        "cluster-autoscaler",
    ),
    ClusterTemplate(
        "prod-europe-west4",
        "gcp",
        "europe-west4",
        ("europe-west4-a", "europe-west4-b", "europe-west4-c"),
        "production",
        1.0,
        0.25,
        0.6,
        (
            PoolTemplate("default-pool", "gke", ("general", "system"), ("n2-standard-8",), min_nodes=3),
            PoolTemplate("highmem-pool", "gke", ("memory", "compute"), ("n2-highmem-8",), min_nodes=1),
            PoolTemplate("spot-pool", "gke", ("spot",), ("e2-standard-8",), spot=True, rotate_days=1.0),
        ),
        _GKE_VERSION,
        "gke",
    ),
)


# Teams and the services they run (the first few of each list are deployed).
TEAMS: tuple[tuple[str, str], ...] = (
    ("payments", "payments-api ledger payment-gateway refund-worker payout-scheduler"),
    ("checkout", "checkout cart checkout-web order-events"),
    ("search", "search-api indexer query-suggest search-ranker"),
    ("recommendations", "reco-api reco-inference feature-fetcher candidate-gen"),
    ("data-platform", "airflow-scheduler airflow-worker kafka-connect schema-registry trino-worker"),
    ("ml-training", "trainer-controller notebook-hub dataset-prep"),
    ("identity", "auth-service token-issuer user-directory session-store"),
    ("notifications", "notification-api push-sender email-worker sms-gateway"),
    ("catalog", "catalog-api product-importer image-resizer"),
    ("inventory", "inventory-service stock-sync warehouse-events"),
    ("pricing", "pricing-engine price-publisher promo-rules"),
    ("fraud-detection", "fraud-scorer rules-engine case-manager"),
    ("ads", "ad-server bid-optimizer campaign-api"),
    ("analytics", "event-collector clickstream-etl dashboards-api"),
    ("growth", "referral-service onboarding-api"),
    ("messaging", "chat-gateway presence message-store"),
    ("media", "transcoder thumbnailer media-api"),
    ("playback", "playback-api license-server manifest-service"),
    ("billing", "billing-api invoice-generator usage-aggregator"),
    ("shipping", "shipping-rates label-printer tracking-sync"),
    ("logistics", "route-planner dispatch-api fleet-tracker"),
    ("customer-support", "support-portal ticket-router"),
    ("partner-api", "partner-gateway webhook-dispatcher"),
    ("mobile-backend", "mobile-bff push-registry"),
    ("web-frontend", "storefront-web ssr-renderer static-assets"),
    ("developer-experience", "sandbox-runner backstage ci-runner-controller"),
    ("sre-tools", "statuspage incident-bot oncall-sync"),
    ("security", "vault-proxy policy-engine image-scanner"),
    ("compliance", "audit-log-shipper retention-worker"),
    ("experimentation", "experiment-api assignment-service"),
    ("personalization", "profile-service affinity-scorer"),
    ("maps", "geocoder tile-server"),
    ("reviews", "reviews-api moderation-worker"),
    ("loyalty", "loyalty-api points-ledger"),
    ("marketing", "campaign-manager email-renderer"),
    ("content", "cms-api content-publisher"),
    ("localization", "translation-api i18n-sync"),
    ("accounts", "account-service profile-api"),
    ("subscriptions", "subscription-api renewal-worker"),
    ("events", "event-bus-bridge outbox-relay"),
    ("streaming", "stream-processor flink-jobmanager flink-taskmanager"),
    ("feature-store", "feature-api feature-materializer online-store"),
    ("reporting", "report-builder export-worker"),
    ("edge", "edge-router rate-limiter"),
    ("gateway", "api-gateway graphql-gateway"),
    ("ml-serving", "model-server embedding-service"),
)

CRON_NAMES = (
    "nightly-export",
    "cleanup",
    "reconcile",
    "report-daily",
    "sync",
    "backfill",
    "compaction",
    "digest-mailer",
    "cache-warmer",
    "snapshot",
)

USERS = ("jdoe", "asmith", "mchen", "pkumar", "lgarcia", "tnguyen", "omartin", "ebrown")

# Memory sizes per class (strings exactly as teams write them; decimal and binary forms mixed).
CPU_SIZES: dict[str, tuple[str, ...]] = {
    "xs": ("10m", "25m", "50m", "50m", "100m"),
    "s": ("100m", "100m", "150m", "200m", "250m", "250m"),
    "m": ("300m", "500m", "500m", "0.5", "750m", "1"),
    "l": ("1", "1", "1500m", "1.5", "2", "2000m", "3"),
    "xl": ("4", "4", "6", "8"),
}
MEM_SIZES: dict[str, tuple[str, ...]] = {
    "xs": ("32Mi", "64Mi", "64Mi", "100Mi", "128Mi"),
    "s": ("128Mi", "192Mi", "256Mi", "256Mi", "300M", "384Mi"),
    "m": ("512Mi", "512Mi", "640Mi", "768Mi", "1Gi", "1G", "1200Mi"),
    "l": ("1536Mi", "1.5Gi", "2Gi", "2Gi", "3Gi", "4Gi", "4G"),
    "xl": ("6Gi", "8Gi", "8Gi", "12Gi", "16Gi"),
}

SA_MOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"


# --- the teams' services: which run on GPUs, compute or memory pools, spot, rollouts; schedules

GPU_SERVICES = {"reco-inference", "model-server", "embedding-service"}
COMPUTE = {
    "transcoder",
    "search-ranker",
    "bid-optimizer",
    "pricing-engine",
    "fraud-scorer",
    "route-planner",
    "indexer",
    "trino-worker",
    "flink-taskmanager",
}
MEMORY = {
    "notebook-hub",
    "online-store",
    "session-store",
    "message-store",
    "schema-registry",
    "feature-fetcher",
    "tile-server",
    "ledger",
}
SPOT = {
    "airflow-worker",
    "clickstream-etl",
    "stream-processor",
    "image-resizer",
    "thumbnailer",
    "export-worker",
    "email-worker",
    "moderation-worker",
    "retention-worker",
    "renewal-worker",
    "candidate-gen",
    "dataset-prep",
}
ROLLOUTS = {"checkout", "search-api"}
HIGH_PRIORITY_TEAMS = {"payments", "checkout", "identity", "gateway", "edge"}
SCHEDULES = (
    ("*/15 * * * *", 900, (60, 420)),
    ("*/30 * * * *", 1800, (120, 900)),
    ("{m} * * * *", 3600, (120, 1500)),
    ("{m} */6 * * *", 21600, (600, 3600)),
    ("{m} {h} * * *", 86400, (900, 7200)),
)
PROFILES = (
    ("overprovisioned", 30),
    ("wellsized", 24),
    ("bursty", 12),
    ("oom", 7),
    ("idle", 9),
    ("underprovisioned", 6),
    ("wellsized", 6),
)
REGISTRY = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
