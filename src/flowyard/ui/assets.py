"""Third-party browser assets: pinned npm packages, fetched by the build, never committed.

``make ui-assets`` (``scripts/fetch_ui_assets.py``) runs ``npm pack`` for each package
below, checks the tarball against the pinned sha512 integrity (the value ``npm view
<package>@<version> dist.integrity`` prints) and copies the one file the pages load into
``static/vendor/`` (git-ignored). Without it the pages still work: every form is a plain
GET or POST, htmx only makes them swap in place.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

STATIC_DIR = Path(__file__).parent / "static"
VENDOR_DIR = STATIC_DIR / "vendor"


@dataclass(frozen=True, slots=True)
class VendorPackage:
    name: str
    version: str
    integrity: str  # npm's Subresource-Integrity string of the tarball
    source: str  # the file inside the tarball
    target: str  # its name under static/vendor/


VENDOR_PACKAGES = [
    VendorPackage(
        name="htmx.org",
        version="2.0.8",
        integrity=(
            "sha512-fm297iru0iWsNJlBrjvtN7V9zjaxd+69Oqjh4F/Vq9Wwi2kFisLcrLCiv5oBX0KLfOX/zG8AUo9ROMU5XUB44Q=="
        ),
        source="package/dist/htmx.min.js",
        target="htmx.min.js",
    ),
]


def vendor_asset_present(target: str = "htmx.min.js") -> bool:
    return (VENDOR_DIR / target).is_file()
