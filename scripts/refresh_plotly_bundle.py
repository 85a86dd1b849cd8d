"""Refresh dashboard/static's plotly.js cartesian bundle to the plotly.js that plotly.py ships.

The dashboard draws plotly.py's figures with plotly.js-cartesian-dist-min (see dashboard/charts.py);
the two must be the same plotly.js version, and pyproject.toml pins plotly to the releases that
ship it. After raising that pin (and `make install`), run:

    .venv/bin/python scripts/refresh_plotly_bundle.py

It reads the version from the installed plotly.py, downloads that version of the npm package
plotly.js-cartesian-dist-min from the npm registry, checks the tarball's integrity hash, writes
the bundle and its license, removes the old bundle and updates PLOTLY_JS in dashboard/charts.py.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import sys
import tarfile
import urllib.request
from importlib import resources
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STATIC = ROOT / "dashboard" / "static"
CHARTS = ROOT / "dashboard" / "charts.py"
REGISTRY = "https://registry.npmjs.org/plotly.js-cartesian-dist-min"
_VERSION = re.compile(r"plotly\.js(?: \([^)]*\))? v(\d+\.\d+\.\d+)")


def shipped_version(text: str) -> str:
    """Return the plotly.js version named in a bundle's first comment."""
    match = _VERSION.search(text[:400])
    if not match:
        raise ValueError("no plotly.js version in the bundle's header")
    return match.group(1)


def plotly_py_version() -> str:
    bundle = resources.files("plotly") / "package_data" / "plotly.min.js"
    with bundle.open("r", encoding="utf-8") as handle:
        return shipped_version(handle.read(400))


def main() -> int:
    version = plotly_py_version()
    with urllib.request.urlopen(f"{REGISTRY}/{version}", timeout=60) as answer:
        meta = json.load(answer)
    dist = meta["dist"]
    with urllib.request.urlopen(dist["tarball"], timeout=120) as answer:
        tarball = answer.read()
    algorithm, _, digest = dist["integrity"].partition("-")
    if base64.b64encode(hashlib.new(algorithm, tarball).digest()).decode() != digest:
        print("refresh_plotly_bundle: the tarball does not match its integrity hash", file=sys.stderr)
        return 1
    with tarfile.open(fileobj=io.BytesIO(tarball)) as tar:
        bundle = tar.extractfile("package/plotly-cartesian.min.js")
        license_file = tar.extractfile("package/LICENSE")
        if bundle is None or license_file is None:
            print("refresh_plotly_bundle: the package has no bundle or license", file=sys.stderr)
            return 1
        text = bundle.read()
        license_text = license_file.read()
    name = f"plotly-cartesian-{version}.min.js"
    for old in STATIC.glob("plotly-cartesian-*.min.js"):
        if old.name != name:
            old.unlink()
    (STATIC / name).write_bytes(text)
    (STATIC / "PLOTLY-LICENSE").write_bytes(license_text)
    charts = CHARTS.read_text(encoding="utf-8")
    CHARTS.write_text(re.sub(r'PLOTLY_JS = "[^"]+"', f'PLOTLY_JS = "{name}"', charts), encoding="utf-8")
    print(f"dashboard/static/{name}: {len(text):,} bytes, plotly.js {version}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
