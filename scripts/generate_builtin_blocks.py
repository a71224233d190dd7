"""Write the built-in block types the server registers, from the SDK's block classes.

    .venv/bin/python scripts/generate_builtin_blocks.py [--check]

The server never imports the SDK (an import-linter contract forbids ``server -> sdk``), so
what it registers in each workspace is plain data committed in the server package:
``src/flowyard/server/blocks/builtin_blocks.json``. Run this after changing a block class
of ``flowyard.sdk.blocks.system`` (or its ``BUILT_INS``); ``--check`` exits non-zero when the
file is out of date (a test does the same, so the two cannot drift).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

OUTPUT = Path(__file__).resolve().parents[1] / "src/flowyard/server/blocks/builtin_blocks.json"


def builtin_blocks() -> list[dict[str, Any]]:
    """Each built-in as ``{"block_type": BlockTypeCreate, "block_schema": {...}}``."""
    from flowyard.schemas.blocks import schema_checksum
    from flowyard.sdk.blocks.system import BUILT_INS

    found = []
    for cls in BUILT_INS:
        fields = cls.block_schema_fields()
        found.append(
            {
                "block_type": cls.block_type_create().model_dump(mode="json"),
                "block_schema": {
                    "fields": fields,
                    "checksum": schema_checksum(fields),
                    "capabilities": list(cls._block_schema_capabilities),
                    "version": cls.get_block_schema_version(),
                },
            }
        )
    return found


def render() -> str:
    return json.dumps(builtin_blocks(), indent=2) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="only check the file is current")
    args = parser.parse_args()
    text = render()
    if args.check:
        current = OUTPUT.read_text() if OUTPUT.exists() else ""
        if current != text:
            print(f"{OUTPUT} is out of date: run {Path(__file__).name}", file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(text)
    print(f"wrote {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
