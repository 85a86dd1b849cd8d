"""The Kubernetes scheduler's hard predicates that pin a pod to nodes, as pure functions over the
objects' JSON: label selectors, nodeSelector, required node affinity, taints and tolerations.

What the packing (``capacity.analysis.placement``) asks of a node class: may this pod run there?
Soft rules (preferred affinity, PreferNoSchedule taints, ScheduleAnyway spreads) never forbid a
node, so they are not here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

HOSTNAME = "kubernetes.io/hostname"
ZONE = "topology.kubernetes.io/zone"
INSTANCE_TYPE_LABELS = ("node.kubernetes.io/instance-type", "beta.kubernetes.io/instance-type")
_HARD_EFFECTS = ("NoSchedule", "NoExecute")


def _int(value: Any) -> int | None:
    try:
        return int(str(value))
    except ValueError:
        return None


def expression_matches(expression: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """One ``matchExpressions`` entry (In, NotIn, Exists, DoesNotExist, Gt, Lt) against labels."""
    key, operator = str(expression.get("key", "")), str(expression.get("operator", ""))
    values = [str(v) for v in expression.get("values") or []]
    present = key in labels
    if operator == "In":
        return present and labels[key] in values
    if operator == "NotIn":
        return not present or labels[key] not in values
    if operator == "Exists":
        return present
    if operator == "DoesNotExist":
        return not present
    if operator in ("Gt", "Lt") and present and len(values) == 1:
        have, bound = _int(labels[key]), _int(values[0])
        if have is None or bound is None:
            return False
        return have > bound if operator == "Gt" else have < bound
    return False  # an unknown operator selects nothing, as the API server would refuse it


def selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """A ``LabelSelector`` (matchLabels and matchExpressions) against labels; None selects nothing,
    an empty selector everything (the API's meaning)."""
    if selector is None:
        return False
    wanted = selector.get("matchLabels") or {}
    if any(labels.get(str(k)) != str(v) for k, v in wanted.items()):
        return False
    return all(expression_matches(e, labels) for e in selector.get("matchExpressions") or [])


def node_selects(
    node_selector: Mapping[str, str], required_terms: Sequence[Any], labels: Mapping[str, str]
) -> bool:
    """Whether a node with ``labels`` satisfies a pod's nodeSelector and required node affinity.

    Terms are ORed, a term's expressions ANDed; a term with ``matchFields`` (a node's name)
    selects none here: such a pod is pinned to its own node by the caller. No terms: no rule.
    """
    if any(labels.get(str(k)) != str(v) for k, v in node_selector.items()):
        return False
    if not required_terms:
        return True
    for term in required_terms:
        if not isinstance(term, Mapping) or term.get("matchFields"):
            continue
        expressions = term.get("matchExpressions") or []
        if expressions and all(expression_matches(e, labels) for e in expressions):
            return True
    return False


def pins_to_node(node_selector: Mapping[str, str], required_terms: Sequence[Any]) -> bool:
    """Whether a pod names its node (by hostname label or ``matchFields``): it cannot move."""
    if HOSTNAME in node_selector:
        return True
    for term in required_terms:
        if isinstance(term, Mapping):
            if term.get("matchFields"):
                return True
            if any(str(e.get("key")) == HOSTNAME for e in term.get("matchExpressions") or []):
                return True
    return False


def _tolerated(taint: Mapping[str, Any], tolerations: Sequence[Any]) -> bool:
    key, value, effect = (
        str(taint.get("key", "")),
        str(taint.get("value") or ""),
        str(taint.get("effect", "")),
    )
    for toleration in tolerations:
        if not isinstance(toleration, Mapping):
            continue
        wanted_effect = str(toleration.get("effect") or "")
        if wanted_effect and wanted_effect != effect:
            continue
        operator = str(toleration.get("operator") or "Equal")
        wanted_key = str(toleration.get("key") or "")
        if operator == "Exists":
            if not wanted_key or wanted_key == key:
                return True
        elif wanted_key == key and str(toleration.get("value") or "") == value:
            return True
    return False


def tolerates(tolerations: Sequence[Any], taints: Sequence[Any]) -> bool:
    """Whether the tolerations admit every NoSchedule and NoExecute taint (PreferNoSchedule is soft)."""
    return all(
        _tolerated(taint, tolerations)
        for taint in taints
        if isinstance(taint, Mapping) and taint.get("effect") in _HARD_EFFECTS
    )


def repels_own_replicas(affinity: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """Whether required pod anti-affinity on the hostname keeps a pod away from pods like itself
    (its term's selector matches its own labels): n such replicas need n nodes."""
    anti = affinity.get("podAntiAffinity") or {}
    terms = (
        anti.get("requiredDuringSchedulingIgnoredDuringExecution") or [] if isinstance(anti, Mapping) else []
    )
    return any(
        isinstance(term, Mapping)
        and term.get("topologyKey") == HOSTNAME
        and selector_matches(term.get("labelSelector"), labels)
        for term in terms
    )


def zone_skew(constraints: Sequence[Any], labels: Mapping[str, str]) -> int | None:
    """The tightest maxSkew of a pod's DoNotSchedule topology spread over zones among pods like
    itself (its selector matches its own labels); None without one."""
    skews = [
        int(c.get("maxSkew") or 1)
        for c in constraints
        if isinstance(c, Mapping)
        and c.get("topologyKey") == ZONE
        and (c.get("whenUnsatisfiable") or "DoNotSchedule") == "DoNotSchedule"
        and selector_matches(c.get("labelSelector"), labels)
    ]
    return min(skews) if skews else None
