"""Fetch the UI's pinned third-party assets from npm and check them (``make ui-assets``).

For each package of ``flowyard.ui.assets.VENDOR_PACKAGES``: ``npm pack name@version`` into
``build/ui-vendor/``, compare the tarball's sha512 with the pinned integrity (refusing a
mismatch), then copy the one file the pages load into ``src/flowyard/ui/static/vendor/``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from flowyard.ui.assets import VENDOR_DIR, VENDOR_PACKAGES, VendorPackage  # noqa: E402

BUILD_DIR = REPO / "build" / "ui-vendor"


def integrity_of(path: Path) -> str:
    digest = hashlib.sha512(path.read_bytes()).digest()
    return "sha512-" + base64.b64encode(digest).decode()


def fetch(package: VendorPackage) -> Path:
    spec = f"{package.name}@{package.version}"
    out = subprocess.run(
        ["npm", "pack", spec, "--json", "--pack-destination", str(BUILD_DIR)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return BUILD_DIR / json.loads(out.stdout)[0]["filename"]


def install(package: VendorPackage) -> None:
    tarball = fetch(package)
    found = integrity_of(tarball)
    if found != package.integrity:
        tarball.unlink()
        raise SystemExit(
            f"{package.name}@{package.version}: integrity {found} does not match the pinned "
            f"{package.integrity}; refusing to install it."
        )
    with tarfile.open(tarball) as archive:
        member = archive.extractfile(package.source)
        if member is None:
            raise SystemExit(f"{package.name}: {package.source} is not a file in the tarball")
        VENDOR_DIR.mkdir(parents=True, exist_ok=True)
        with (VENDOR_DIR / package.target).open("wb") as target:
            shutil.copyfileobj(member, target)
    print(f"{package.name}@{package.version} -> {VENDOR_DIR / package.target}")


def main() -> None:
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    for package in VENDOR_PACKAGES:
        install(package)


if __name__ == "__main__":
    main()
