"""Vendor the browser libraries into static/vendor/ from the npm registry (pinned, verified).

Runs with nothing but Python: downloads each package tarball from the npm registry, checks its
sha512 integrity against the pin below, and extracts the one file we serve. Idempotent.
"""

from __future__ import annotations

import base64
import hashlib
import io
import sys
import tarfile
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENDOR = ROOT / "static" / "vendor"
REGISTRY = "https://registry.npmjs.org"

# (package, version, sha512 integrity, file inside the tarball, name under static/vendor/)
PINS = [
    (
        "htmx.org",
        "2.0.11",
        "sha512-Thx/WtpeOQqSrqBCw/A1cwGJGg4UrVa3+sW0GmrM3p4gJgO89ecH4qtbnyzDDWFvBTqjnIMCgELTNt636dtamA==",
        "package/dist/htmx.min.js",
        "htmx.min.js",
    ),
    (
        "htmx-ext-ws",
        "2.0.4",
        "sha512-LnOpFRL/2hInhdKl/9N0OJsb4GYQ5/teUdTHNZYY9ytYdxYEqjfLEe0MWgF3ODjfwGJRb4E95igAbU66te48ZA==",
        "package/dist/ws.min.js",
        "htmx-ext-ws.min.js",
    ),
    (
        "chart.js",
        "4.6.1",
        "sha512-hJyniucsFmq//EvXYvJ6c6mahPoI3kaxdjVH8awTaJ/fDNWeSqqqArixMJWkWNN6fcYvPU3HneSANFNYtRi61g==",
        "package/dist/chart.umd.min.js",
        "chart.umd.min.js",
    ),
]


def fetch(package: str, version: str, integrity: str) -> bytes:
    name = package.rsplit("/", 1)[-1]
    url = f"{REGISTRY}/{package}/-/{name}-{version}.tgz"
    with urllib.request.urlopen(url, timeout=60) as response:
        data = response.read()
    algo, _, expected = integrity.partition("-")
    actual = base64.b64encode(hashlib.new(algo, data).digest()).decode()
    if actual != expected:
        raise SystemExit(f"{package}@{version}: integrity mismatch ({actual} != {expected})")
    return data


def main() -> int:
    VENDOR.mkdir(parents=True, exist_ok=True)
    stamp = VENDOR / ".pins"
    wanted = "\n".join(f"{p}@{v} {i}" for p, v, i, _, _ in PINS)
    if (
        stamp.exists()
        and stamp.read_text() == wanted
        and all((VENDOR / target).exists() for *_, target in PINS)
    ):
        return 0
    for package, version, integrity, member, target in PINS:
        data = fetch(package, version, integrity)
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            extracted = tar.extractfile(member)
            if extracted is None:
                raise SystemExit(f"{package}@{version}: {member} not in tarball")
            (VENDOR / target).write_bytes(extracted.read())
        print(f"vendored {package}@{version} → static/vendor/{target}")
    stamp.write_text(wanted)
    return 0


if __name__ == "__main__":
    sys.exit(main())
