"""Configuration: one YAML file for pricing, attribution, shared costs, retention, collection.

Read once at the edge (CLI, dashboard entry point) and passed down as a frozen object.
Every price in this file is *hourly* in ``pricing.currency``.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from capacity.durations import MAX_DAYS, parse_duration
from capacity.errors import ConfigError
from capacity.matchers import parse_matchers

ENV_CONFIG = "CAPACITY_CONFIG"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class ResourceRates(_Model):
    """Hourly price of one unit of each resource."""

    cpu_core_hour: NonNegative
    memory_gib_hour: NonNegative
    gpu_hour: NonNegative


def _opencost_on_demand() -> ResourceRates:
    # OpenCost configs/default.json (GCP us-central1 based).
    return ResourceRates(cpu_core_hour=0.031611, memory_gib_hour=0.004237, gpu_hour=0.95)


def _opencost_spot() -> ResourceRates:
    return ResourceRates(cpu_core_hour=0.006655, memory_gib_hour=0.000892, gpu_hour=0.95)


class DefaultRates(_Model):
    on_demand: ResourceRates = Field(default_factory=_opencost_on_demand)
    spot: ResourceRates = Field(default_factory=_opencost_spot)


class InstancePrice(_Model):
    """Hourly price of one instance type; ``regions`` overrides per region."""

    on_demand: NonNegative | None = None
    spot: NonNegative | None = None
    regions: dict[str, InstancePrice] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _has_a_price(self) -> InstancePrice:
        if self.on_demand is None and self.spot is None and not self.regions:
            raise ValueError("needs at least one of on_demand, spot, regions")
        return self


class StoragePrice(_Model):
    """Hourly price of one GiB of provisioned storage."""

    gib_hour: NonNegative


class ProvisionerPrice(_Model):
    """Storage of a provisioner whose StorageClass has these parameters (all of them), per GiB-hour."""

    provisioner: str
    parameters: dict[str, str] = Field(default_factory=dict)
    gib_hour: NonNegative


class PriceChange(_Model):
    """Prices that apply from ``since`` (a UTC day) on: a negotiated discount, a new price list.

    ``instance_types``, ``storage_classes`` and ``load_balancer_classes`` entries replace those of
    the same name; the other fields, when given, replace the earlier ones.
    """

    since: date
    instance_types: dict[str, InstancePrice] = Field(default_factory=dict)
    default_rates: DefaultRates | None = None
    catalog: bool | None = None
    storage_classes: dict[str, StoragePrice] = Field(default_factory=dict)
    storage_provisioners: list[ProvisionerPrice] | None = None
    default_storage_gib_hour: NonNegative | None = None
    load_balancer_hourly: NonNegative | None = None
    load_balancer_classes: dict[str, NonNegative] = Field(default_factory=dict)


class Pricing(_Model):
    currency: str = "USD"
    default_rates: DefaultRates = Field(default_factory=DefaultRates)
    instance_types: dict[str, InstancePrice] = Field(default_factory=dict)
    # A node label or annotation whose value is that node's hourly price (first match wins).
    node_price_label: str | None = "capacity.dev/hourly-price"
    # Use the bundled catalog of AWS/GCP/Azure prices for instance types not configured above.
    catalog: bool = True
    # Provisioned storage per GiB-hour: by StorageClass name, then by provisioner and parameters,
    # then the bundled catalog (if ``catalog``), then the default (OpenCost's 0.04 per GiB-month).
    storage_classes: dict[str, StoragePrice] = Field(default_factory=dict)
    storage_provisioners: list[ProvisionerPrice] = Field(default_factory=list)
    default_storage_gib_hour: NonNegative = 0.04 / 730
    # Load balancers per hour: by load-balancer class, else this (OpenCost's default).
    load_balancer_hourly: NonNegative = 0.025
    load_balancer_classes: dict[str, NonNegative] = Field(default_factory=dict)
    # Effective-dated changes, each from its day on (UTC midnight); before the first, the above.
    changes: list[PriceChange] = Field(default_factory=list)

    @field_validator("changes")
    @classmethod
    def _in_order(cls, changes: list[PriceChange]) -> list[PriceChange]:
        days = [c.since for c in changes]
        if days != sorted(days) or len(set(days)) != len(days):
            raise ValueError("changes must be in order of since, one per day")
        return changes

    def boundaries(self) -> list[datetime]:
        """Return the instants (UTC midnights) at which prices change."""
        return [datetime(c.since.year, c.since.month, c.since.day, tzinfo=UTC) for c in self.changes]

    def at(self, when: datetime) -> Pricing:
        """Return the prices in force at ``when``: these with every change since applied."""
        merged: dict[str, Any] = {
            "instance_types": dict(self.instance_types),
            "storage_classes": dict(self.storage_classes),
            "load_balancer_classes": dict(self.load_balancer_classes),
            **{name: getattr(self, name) for name in _REPLACED},
        }
        for change, boundary in zip(self.changes, self.boundaries(), strict=True):
            if boundary > when:
                break
            for name in ("instance_types", "storage_classes", "load_balancer_classes"):
                merged[name].update(getattr(change, name))
            for name in _REPLACED:
                if getattr(change, name) is not None:
                    merged[name] = getattr(change, name)
        return self.model_copy(update={**merged, "changes": []})


# PriceChange fields that replace the earlier value when given (the others add to it by key)
_REPLACED = ("default_rates", "catalog", "storage_provisioners", "default_storage_gib_hour",
             "load_balancer_hourly")  # fmt: skip


class NamespaceRule(_Model):
    pattern: str
    value: str

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"bad regular expression {pattern!r}: {exc}") from exc
        return pattern


class DimensionRules(_Model):
    """How workloads map to one dimension's values (team, department, product, ...)."""

    label_keys: list[str] = Field(default_factory=list)
    namespace_rules: list[NamespaceRule] = Field(default_factory=list)


def _default_team() -> DimensionRules:
    return DimensionRules(
        label_keys=["team", "app.kubernetes.io/team", "owner"],
        namespace_rules=[],
    )


class Attribution(_Model):
    team: DimensionRules = Field(default_factory=_default_team)
    dimensions: dict[str, DimensionRules] = Field(default_factory=dict)

    @field_validator("dimensions")
    @classmethod
    def _no_team_twice(cls, dims: dict[str, DimensionRules]) -> dict[str, DimensionRules]:
        if "team" in dims:
            raise ValueError("'team' is configured under attribution.team, not in dimensions")
        return dims


class Overhead(_Model):
    name: str
    hourly: NonNegative
    cluster: str | None = None  # None: every cluster


class Shared(_Model):
    namespaces: list[str] = Field(
        default_factory=lambda: ["kube-system", "kube-node-lease", "kube-public", "monitoring"]
    )
    overheads: list[Overhead] = Field(default_factory=list)
    distribute: Literal["cost", "even"] = "cost"


Days = Annotated[int, Field(ge=1, le=MAX_DAYS)]


class Retention(_Model):
    raw_days: Days = 14
    hourly_days: Days = 400
    daily_days: Days = 1825


class Collection(_Model):
    interval_seconds: Annotated[int, Field(ge=10, le=86_400)] = 300
    page_size: Annotated[int, Field(ge=1, le=10_000)] = 500
    request_timeout_seconds: Annotated[float, Field(gt=0, le=3600, allow_inf_nan=False)] = 30.0
    retries: Annotated[int, Field(ge=0, le=20)] = 4
    # The longest one collection may take, all retries included (default: the interval,
    # at least a minute): a stuck API server fails that snapshot, never the schedule.
    deadline_seconds: Annotated[int, Field(ge=10, le=86_400)] | None = None

    @field_validator("interval_seconds", "deadline_seconds", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        if isinstance(value, str):
            return parse_duration(value)
        return value


class Prometheus(_Model):
    """Where a backfill (or usage for clusters without metrics-server) reads Prometheus."""

    url: str | None = None
    # label matchers added to every series selector: one Prometheus for many clusters
    selector: str = ""
    headers: dict[str, str] = Field(default_factory=dict)  # e.g. X-Scope-OrgID for Mimir
    token_file: str | None = None  # a bearer token, read at start
    username: str | None = None  # basic auth, with password_file
    password_file: str | None = None
    ca_file: str | None = None  # a CA bundle; TLS is always verified
    timeout_seconds: Annotated[float, Field(gt=0, le=3600, allow_inf_nan=False)] = 60.0
    retries: Annotated[int, Field(ge=0, le=20)] = 4
    max_in_flight: Annotated[int, Field(ge=1, le=64)] = 1
    chunk_seconds: Annotated[int, Field(ge=300, le=31 * 86_400)] = 3600  # one range query's span
    rate_window_seconds: Annotated[int, Field(ge=30, le=3600)] = 300  # rate() of CPU counters

    @field_validator("selector")
    @classmethod
    def _matchers(cls, value: str) -> str:
        parse_matchers(value)
        return value

    @field_validator("chunk_seconds", "rate_window_seconds", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        if isinstance(value, str):
            return parse_duration(value)
        return value


class Rightsizing(_Model):
    cpu_percentile: Annotated[float, Field(gt=0, le=1)] = 0.95
    memory_margin: Annotated[float, Field(ge=0, le=10)] = 0.15
    window_days: Annotated[float, Field(gt=0, le=3650, allow_inf_nan=False)] = 14.0
    min_hours: Annotated[float, Field(ge=0, le=87_600, allow_inf_nan=False)] = 24.0


class Config(_Model):
    pricing: Pricing = Field(default_factory=Pricing)
    attribution: Attribution = Field(default_factory=Attribution)
    shared: Shared = Field(default_factory=Shared)
    retention: Retention = Field(default_factory=Retention)
    collection: Collection = Field(default_factory=Collection)
    rightsizing: Rightsizing = Field(default_factory=Rightsizing)
    prometheus: Prometheus = Field(default_factory=Prometheus)


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "(top level)"
    if first["type"] == "extra_forbidden":
        return f"{where}: unknown key"
    message = first["msg"].removeprefix("Value error, ")
    return f"{where}: {message}"


MAX_CONFIG_VALUES = 100_000


def _expands_beyond(data: Any, limit: int) -> bool:
    """Return whether ``data``, read as a tree, holds more than ``limit`` values.

    YAML aliases make a document a graph whose shared parts count once in memory but once per
    reference when validated: a kilobyte of nested aliases expands to billions of values (and
    an alias to its own parent never ends). Counting stops at ``limit``, so this check is cheap.
    """
    stack = [data]
    seen = 0
    while stack:
        value = stack.pop()
        seen += 1
        if seen > limit:
            return True
        if isinstance(value, dict):
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return False


def config_from_mapping(data: Any, *, origin: str = "<config>") -> Config:
    """Return a validated Config from parsed YAML data; ConfigError names key and origin."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"config error in {origin}: top level must be a mapping")
    if _expands_beyond(data, MAX_CONFIG_VALUES):
        raise ConfigError(
            f"config error in {origin}: expands to more than {MAX_CONFIG_VALUES:,} values "
            "(YAML aliases nested or recursive?)"
        )
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"config error in {origin}: {_describe(exc)}") from None


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Return the configuration from ``path``, ``$CAPACITY_CONFIG``, or the defaults."""
    if path is None:
        path = os.environ.get(ENV_CONFIG) or None
    if path is None:
        return Config()
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {file}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config error in {file}: not UTF-8 text (byte {exc.start})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f"config error in {file}{where}: {problem}") from None
    return config_from_mapping(data, origin=str(file))
