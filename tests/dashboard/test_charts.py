"""The chart component's parts: its JavaScript file and the plotly.js bundle it loads."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from dashboard import charts

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "dashboard" / "static"


def _refresh_script() -> object:
    spec = importlib.util.spec_from_file_location(
        "refresh_plotly_bundle", ROOT / "scripts" / "refresh_plotly_bundle.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_the_bundle_is_the_plotly_js_that_plotly_py_writes_for() -> None:
    refresh = _refresh_script()
    bundles = sorted(STATIC.glob("plotly-cartesian-*.min.js"))
    assert [b.name for b in bundles] == [charts.PLOTLY_JS]  # one bundle, the one the charts load
    shipped = refresh.shipped_version(bundles[0].read_text(encoding="utf-8")[:400])  # type: ignore[attr-defined]
    assert shipped == refresh.plotly_py_version()  # type: ignore[attr-defined]
    assert f"plotly-cartesian-{shipped}.min.js" == charts.PLOTLY_JS


def test_the_component_javascript_is_the_static_file() -> None:
    source = (STATIC / "capacity-chart.js").read_text(encoding="utf-8")
    assert source == charts._JS
    assert "export default function" in source and "ResizeObserver" in source
