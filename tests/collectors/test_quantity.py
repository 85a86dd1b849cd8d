"""collectors.quantity.parse: Kubernetes quantity strings to floats in base units."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from kubernetes.utils.quantity import parse_quantity

from collectors.quantity import parse, parse_usage

GI = 1024**3


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("500m", 0.5),  # millicores
        ("1", 1.0),
        ("1.5", 1.5),
        ("0", 0.0),
        ("7910m", 7.91),
        ("2Gi", 2 * GI),
        ("128Mi", 128 * 1024**2),
        ("8024304Ki", 8024304 * 1024),  # minikube node memory
        ("100M", 1e8),  # decimal mega
        ("1k", 1e3),  # decimal kilo is lower-case
        ("123456789n", 0.123456789),  # metrics-server nanocores
        ("250u", 0.00025),
        ("1e3", 1000.0),  # decimal exponent
        ("1E3", 1000.0),
        ("1e-3", 0.001),
        (".5", 0.5),
        ("+1", 1.0),
    ],
)
def test_parses_quantity_strings(text: str, expected: float) -> None:
    assert parse(text) == pytest.approx(expected, rel=1e-12)
    assert isinstance(parse(text), float)


def test_large_binary_quantity_is_exact_enough() -> None:
    # 1Ei = 2**60 bytes is exactly representable as a float.
    assert parse("1Ei") == float(2**60)


@pytest.mark.parametrize(("value", "expected"), [(3, 3.0), (0, 0.0), (2.5, 2.5), (1e9, 1e9)])
def test_numbers_pass_through_as_float(value: float, expected: float) -> None:
    result = parse(value)
    assert result == expected
    assert type(result) is float


@pytest.mark.parametrize("text", [" 500m", "500m ", "\t500m\n", "  500m  "])
def test_surrounding_whitespace_is_ignored(text: str) -> None:
    assert parse(text) == 0.5


@pytest.mark.parametrize(
    "value",
    [
        "abc",
        "1.2.3",
        "5ki",  # binary suffixes are Ki, Mi, Gi...; lower-case ki is not one
        "12Qi",
        "",
        "   ",
        "-",
        "m",
        "Gi",
        "nan",
        None,
        True,  # bool is an int subclass: must not pass as 1
        False,
        [],
        ["1"],
        {},
        {"cpu": "1"},
        b"1",
    ],
)
def test_malformed_values_raise_value_error(value: object) -> None:
    with pytest.raises(ValueError):
        parse(value)


@pytest.mark.parametrize("text", ["NaN", "inf", "-inf", "Infinity", "+Infinity"])
def test_client_accepts_non_finite_but_parse_rejects_it(text: str) -> None:
    # The kubernetes client's parser turns these into Decimal NaN/Infinity instead of failing...
    assert not parse_quantity(text).is_finite()
    # ...parse() must not let them into sums.
    with pytest.raises(ValueError, match="finite"):
        parse(text)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_numbers_are_rejected_too(value: float) -> None:
    # A float NaN/inf (e.g. from a lenient JSON decoder) is as non-finite as the string "NaN".
    with pytest.raises(ValueError):
        parse(value)


@pytest.mark.parametrize("text", ["500m", "2Gi", "123456789n", "1e3", "100M"])
def test_agrees_with_the_kubernetes_client_parser(text: str) -> None:
    assert parse(text) == pytest.approx(float(parse_quantity(text)), rel=1e-15)


def test_negative_quantities_parse_as_negative() -> None:
    # parse() is a parser, not a validator: callers decide what a negative request means.
    assert parse("-1") == -1.0
    assert parse("-500m") == -0.5


# --- parse_usage: metrics.k8s.io forms, converted without the cache --------------------------


@pytest.mark.parametrize(
    "text",
    ["0n", "1n", "123456789n", "999999999999n", "7n", "52364Ki", "0Ki", "8024304Ki", "1Ki",
     "5m", "1.5", "2Gi", "100M", "12345"],
)  # fmt: skip
def test_parse_usage_agrees_with_the_client_parser(text: str) -> None:
    assert parse_usage(text) == float(parse_quantity(text))


@given(st.integers(min_value=0, max_value=10**15), st.sampled_from(["n", "Ki"]))
def test_parse_usage_fast_path_is_exact(number: int, suffix: str) -> None:
    text = f"{number}{suffix}"
    assert parse_usage(text) == float(parse_quantity(text))


@pytest.mark.parametrize("bad", ["n", "Ki", "12x3n", "-5n", "abc", "", None, True])
def test_parse_usage_rejects_malformed(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_usage(bad)
