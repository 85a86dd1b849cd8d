"""Attribution: which team (or department, product, ...) a workload belongs to.

Rules apply at analysis time, so changing them re-attributes all history: label keys are
looked up on the workload's pod labels, then on its namespace's labels; then regex rules on
the namespace name; else ``__unallocated__``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache

import pandas as pd

from capacity.config import Attribution, DimensionRules

UNALLOCATED = "__unallocated__"


def rules_for(attribution: Attribution, dimension: str) -> DimensionRules:
    """Return the rules of ``dimension`` ("team" or a configured one); KeyError if unknown."""
    if dimension == "team":
        return attribution.team
    return attribution.dimensions[dimension]


@lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def attribute(
    rules: DimensionRules,
    *,
    namespace: str,
    pod_labels: Mapping[str, str] | None,
    namespace_labels: Mapping[str, str] | None,
) -> str:
    """Return the value of one dimension for one workload."""
    for labels in (pod_labels or {}, namespace_labels or {}):
        for key in rules.label_keys:
            value = labels.get(key)
            if value:
                return str(value)
    for rule in rules.namespace_rules:
        if _compiled(rule.pattern).search(namespace):
            return rule.value
    return UNALLOCATED


def attribute_frame(frame: pd.DataFrame, rules: DimensionRules) -> pd.Series:
    """Return the dimension value of every row (columns namespace, pod_labels, namespace_labels)."""
    # Rows of one workload (its containers, its periods) share their label dicts: decide once.
    decided: dict[tuple[str, int, int], str] = {}
    values = []
    for ns, pl, nl in zip(frame["namespace"], frame["pod_labels"], frame["namespace_labels"], strict=True):
        key = (ns, id(pl), id(nl))
        value = decided.get(key)
        if value is None:
            value = decided[key] = attribute(rules, namespace=ns, pod_labels=pl, namespace_labels=nl)
        values.append(value)
    return pd.Series(values, index=frame.index, dtype="object")
