"""The built-in block types the server registers are plain data in the server package
(the server never imports the SDK); this keeps that data equal to what the SDK's block
classes describe today, so the two cannot drift."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType

from flowyard.schemas.blocks import schema_checksum
from flowyard.server.blocks.registration import DATA_FILE, builtin_blocks

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "generate_builtin_blocks.py"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("generate_builtin_blocks", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_committed_data_is_what_the_sdk_classes_describe() -> None:
    generator = _generator()
    assert json.loads(DATA_FILE.read_text()) == generator.builtin_blocks(), (
        "src/flowyard/server/blocks/builtin_blocks.json is out of date: "
        "run .venv/bin/python scripts/generate_builtin_blocks.py"
    )
    # Byte for byte too, so that regenerating it leaves no diff to commit.
    assert DATA_FILE.read_text() == generator.render()


def test_the_data_is_usable_as_the_server_reads_it() -> None:
    builtins = builtin_blocks()
    slugs = [builtin.block_type.slug for builtin in builtins]
    assert len(slugs) == len(set(slugs)) and "secret" in slugs
    for builtin in builtins:
        # The stored checksum is the one the server and both clients compute.
        assert builtin.checksum == schema_checksum(builtin.fields)
        assert builtin.fields["block_type_slug"] == builtin.block_type.slug
    secret = next(b for b in builtins if b.block_type.slug == "secret")
    assert secret.fields["secret_fields"] == ["value"]


def test_the_server_registers_blocks_without_importing_the_sdk() -> None:
    # A fresh interpreter: importing the block operations (and reading the data) must not
    # pull in flowyard.sdk.
    code = textwrap.dedent(
        """
        import sys
        from flowyard.server.operations import block_types
        from flowyard.server.blocks.registration import builtin_blocks
        assert builtin_blocks()
        leaked = sorted(name for name in sys.modules if name.startswith("flowyard.sdk"))
        assert not leaked, leaked
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
