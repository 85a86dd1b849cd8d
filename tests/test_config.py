"""capacity.config: defaults, the README example, and one-line errors naming file and key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from capacity.config import ENV_CONFIG, Config, load_config
from capacity.durations import parse_duration
from capacity.errors import ConfigError

README = Path(__file__).resolve().parent.parent / "README.md"


def _readme_example() -> str:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Configuration", 1)[1]
    match = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert match, "README Configuration section has no yaml block"
    return match.group(1)


def _write(tmp_path: Path, text: str, name: str = "capacity.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _error(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert "\n" not in message, message
    assert str(path) in message, message
    return message


# -- defaults ------------------------------------------------------------------------------


def test_defaults_without_path_or_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_CONFIG, raising=False)
    config = load_config(None)
    assert config == Config()
    on_demand = config.pricing.default_rates.on_demand
    spot = config.pricing.default_rates.spot
    # OpenCost configs/default.json
    assert (on_demand.cpu_core_hour, on_demand.memory_gib_hour, on_demand.gpu_hour) == (
        0.031611,
        0.004237,
        0.95,
    )
    assert (spot.cpu_core_hour, spot.memory_gib_hour) == (0.006655, 0.000892)
    assert config.pricing.instance_types == {}
    assert config.collection.interval_seconds == 300
    assert "kube-system" in config.shared.namespaces


def test_empty_env_var_means_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_CONFIG, "")
    assert load_config() == Config()


def test_empty_file_means_defaults(tmp_path: Path) -> None:
    assert load_config(_write(tmp_path, "")) == Config()


# -- the README example --------------------------------------------------------------------


def test_readme_example_loads(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, _readme_example()))
    m6i = config.pricing.instance_types["m6i.xlarge"]
    assert (m6i.on_demand, m6i.spot) == (0.192, 0.0764)
    assert m6i.regions["eu-west-1"].on_demand == 0.214
    assert config.pricing.instance_types["n2-standard-8"].on_demand == 0.388472
    assert config.pricing.node_price_label == "capacity.dev/hourly-price"
    assert [r.value for r in config.attribution.team.namespace_rules] == ["payments", "search"]
    assert config.attribution.dimensions["department"].label_keys == ["department", "cost-center"]
    assert config.shared.overheads[0].hourly == 0.10
    assert config.shared.overheads[0].cluster == "prod-us-east-1"
    assert config.shared.distribute == "cost"
    assert config.retention.raw_days == 14
    assert config.collection.interval_seconds == 300  # "5m"
    assert config.collection.request_timeout_seconds == 30.0


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("5m", 300), ("90s", 90), ("90", 90), ("1h", 3600), ("1.5h", 5400), ("14d", 14 * 86400), ("1w", 604800)],
)
def test_parse_duration(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["5 parsecs", "", "m", "-5m", "0s", "5mm", "1y"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_env_var_is_honoured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path, "collection:\n  interval_seconds: 2m\n")
    monkeypatch.setenv(ENV_CONFIG, str(path))
    assert load_config().collection.interval_seconds == 120


def test_explicit_path_beats_env_var(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_CONFIG, str(_write(tmp_path, "retention: {raw_days: 3}\n", "env.yaml")))
    explicit = _write(tmp_path, "retention: {raw_days: 7}\n", "explicit.yaml")
    assert load_config(explicit).retention.raw_days == 7


def test_env_var_pointing_at_a_bad_file_names_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path, "bogus: 1\n")
    monkeypatch.setenv(ENV_CONFIG, str(path))
    with pytest.raises(ConfigError, match=re.escape(str(path))):
        load_config()


# -- errors: one line naming the file and the dotted key -----------------------------------


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("bogus: 1\n", "bogus"),
        (
            "pricing:\n  instance_types:\n    m5.large:\n      ondemand: 0.096\n",
            "pricing.instance_types.m5.large.ondemand",
        ),
        (
            "pricing:\n  default_rates:\n    on_demand:\n"
            "      {cpu_core_hour: cheap, memory_gib_hour: 0.004, gpu_hour: 0.9}\n",
            "pricing.default_rates.on_demand.cpu_core_hour",
        ),
        (
            "pricing:\n  default_rates:\n    on_demand:\n"
            "      {cpu_core_hour: -0.03, memory_gib_hour: 0.004, gpu_hour: 0.9}\n",
            "pricing.default_rates.on_demand.cpu_core_hour",
        ),
        (
            "pricing:\n  instance_types:\n    m5.large: {on_demand: -0.096}\n",
            "pricing.instance_types.m5.large.on_demand",
        ),
        (
            "pricing:\n  instance_types:\n    m5.large:\n      regions:\n        eu-west-1: {spot: -1}\n",
            "pricing.instance_types.m5.large.regions.eu-west-1.spot",
        ),
        ("pricing:\n  instance_types:\n    m5.large: {}\n", "pricing.instance_types.m5.large"),
        (
            "attribution:\n  team:\n    namespace_rules:\n      - {pattern: '(unclosed', value: x}\n",
            "attribution.team.namespace_rules.0.pattern",
        ),
        ("collection:\n  interval_seconds: 5 parsecs\n", "collection.interval_seconds"),
        ("collection:\n  interval_seconds: 5s\n", "collection.interval_seconds"),  # below the 10 s floor
        ("retention:\n  raw_days: 0\n", "retention.raw_days"),
        ("shared:\n  distribute: randomly\n", "shared.distribute"),
        ("shared:\n  overheads:\n    - {name: fee, hourly: -1}\n", "shared.overheads.0.hourly"),
        ("attribution:\n  dimensions:\n    team: {label_keys: [team]}\n", "attribution.dimensions"),
    ],
)
def test_invalid_values_name_file_and_key(tmp_path: Path, text: str, key: str) -> None:
    message = _error(_write(tmp_path, text))
    assert f"{key}:" in message, message


def test_unknown_key_says_unknown(tmp_path: Path) -> None:
    message = _error(_write(tmp_path, "pricing:\n  instance_types:\n    m5.large:\n      ondemand: 0.096\n"))
    assert "unknown" in message


def test_bad_regex_message_names_the_pattern(tmp_path: Path) -> None:
    message = _error(
        _write(tmp_path, "attribution:\n  team:\n    namespace_rules: [{pattern: '(unclosed', value: x}]\n")
    )
    assert "(unclosed" in message


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "pricing:\n  currency: USD\nretention:\n  raw_days: [14\nshared: {}\n")
    message = _error(path)
    assert re.search(r"\bline \d+\b", message), message


def test_invalid_yaml_line_number_is_right(tmp_path: Path) -> None:
    # tab indentation on line 3 is a YAML scanner error there
    path = _write(tmp_path, "pricing:\n  currency: USD\n\tretention: 1\n")
    assert "line 3" in _error(path)


@pytest.mark.parametrize("text", ["- a\n- b\n", "just a string\n", "42\n"])
def test_top_level_must_be_a_mapping(tmp_path: Path, text: str) -> None:
    assert "mapping" in _error(_write(tmp_path, text))


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    _error(tmp_path / "nope" / "capacity.yaml")


def test_directory_instead_of_file(tmp_path: Path) -> None:
    _error(tmp_path)


def test_non_utf8_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("pricing:\n  currency: \u20ac\n".encode("cp1252"))  # € as byte 0x80
    _error(path)


def test_infinite_price_is_rejected(tmp_path: Path) -> None:
    # YAML's .inf is a float; an infinite hourly price would turn every cost into inf
    path = _write(tmp_path, "pricing:\n  instance_types:\n    m5.large: {on_demand: .inf}\n")
    assert "pricing.instance_types.m5.large.on_demand" in _error(path)
