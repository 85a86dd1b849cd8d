"""A claim's bytes split by time overlap, then evenly between the pods mounting it at once:
OpenCost's ``TestGetPVCCostCoefficients`` cases, through the collector's own pass over one
instant per quarter hour (each snapshot stands for its quarter)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from capacity.records import VOLUME, AssetKey, WorkloadKey
from collectors.assets import AssetPass, Claim, Volume

GIB = 1024.0**3
CLAIM = 100 * GIB
KEY = AssetKey(VOLUME, "gp3", "ebs.csi.aws.com")
START = datetime(2021, 2, 19, 8, tzinfo=UTC)
QUARTER = timedelta(minutes=15)


def at(hour: int, minute: int) -> datetime:
    return datetime(2021, 2, 19, hour, minute, tzinfo=UTC)


def pod(name: str) -> WorkloadKey:
    return WorkloadKey("namespace1", "Pod", name)


def shares_per_quarter(running: dict[str, tuple[datetime, datetime]]) -> dict[str, list[float]]:
    """Each pod's share of the claim at one instant in each quarter of 08:00-09:00 (0: not mounting)."""
    volume = Volume("pv1", KEY, CLAIM, "Bound", "Delete", None, ("namespace1", "pvc1"))
    out: dict[str, list[float]] = {name: [] for name in running}
    for quarter in range(4):
        instant = START + quarter * QUARTER + QUARTER / 2
        assets = AssetPass([volume], {("namespace1", "pvc1"): Claim("pv1", CLAIM)}, [], lambda message: None)
        for name, (start, end) in running.items():
            if start <= instant < end:
                assets.add_pod("namespace1", pod(name), {}, ("pvc1",))
        _, _, shares = assets.records()
        assert sum(share.amount for share in shares) == pytest.approx(CLAIM)  # the whole claim, once
        held = {share.workload.name: share.amount / CLAIM for share in shares}
        for name in running:
            out[name].append(held.get(name, 0.0))
    return out


def test_four_pods_with_various_overlaps() -> None:
    shares = shares_per_quarter({
        "pod1": (at(8, 0), at(9, 0)),
        "pod2": (at(8, 30), at(9, 0)),
        "pod3": (at(8, 45), at(9, 0)),
        "pod4": (at(8, 0), at(8, 15)),
    })  # fmt: skip
    assert shares == {
        "pod1": pytest.approx([0.5, 1.0, 0.5, 1 / 3]),  # OpenCost: 0.5, 1, 0.5, 1/3 of each quarter
        "pod2": pytest.approx([0.0, 0.0, 0.5, 1 / 3]),
        "pod3": pytest.approx([0.0, 0.0, 0.0, 1 / 3]),
        "pod4": pytest.approx([0.5, 0.0, 0.0, 0.0]),
    }
    # over the hour, every byte-hour of the claim is charged once
    assert sum(sum(s) for s in shares.values()) / 4 == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("running", "expected"),
    [
        (
            {"pod1": (at(8, 0), at(8, 30)), "pod2": (at(8, 30), at(9, 0))},
            {"pod1": [1.0, 1.0, 0.0, 0.0], "pod2": [0.0, 0.0, 1.0, 1.0]},
        ),  # no overlap
        (
            {"pod1": (at(8, 30), at(9, 0)), "pod2": (at(8, 30), at(9, 0))},
            {"pod1": [0.0, 0.0, 0.5, 0.5], "pod2": [0.0, 0.0, 0.5, 0.5]},
        ),  # total overlap
        ({"pod1": (at(8, 0), at(9, 0))}, {"pod1": [1.0, 1.0, 1.0, 1.0]}),  # one pod
    ],
    ids=["two pods no overlap", "two pods total overlap", "one pod"],
)
def test_opencost_cases(
    running: dict[str, tuple[datetime, datetime]], expected: dict[str, list[float]]
) -> None:
    assert shares_per_quarter(running) == {name: pytest.approx(values) for name, values in expected.items()}


def test_time_no_pod_mounts_a_claim_is_its_namespace() -> None:
    shares = shares_per_quarter({"pod1": (at(8, 30), at(9, 0))})
    assert shares == {"pod1": pytest.approx([0.0, 0.0, 1.0, 1.0])}
    volume = Volume("pv1", KEY, CLAIM, "Bound", "Delete", None, ("namespace1", "pvc1"))
    _, _, [unmounted] = AssetPass(
        [volume], {("namespace1", "pvc1"): Claim("pv1", CLAIM)}, [], lambda m: None
    ).records()
    assert (unmounted.workload, unmounted.amount) == (
        WorkloadKey("namespace1", "PersistentVolumeClaim", "pvc1"),
        CLAIM,
    )
