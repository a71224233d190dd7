"""The README's Blocks example runs as pasted, twice (overwrite), in embedded mode."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_blocks_example_runs(tmp_path: Path) -> None:
    match = re.search(r"### Blocks\n\n```python\n(.*?)```", README.read_text(), re.S)
    assert match, "README lost its Blocks example"
    script = tmp_path / "blocks_example.py"
    script.write_text(match.group(1))
    env = {**os.environ, "FLOWYARD_HOME": str(tmp_path / "home")}
    env.pop("FLOWYARD_API_URL", None)
    for _ in range(2):
        run = subprocess.run(
            [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=120
        )
        assert run.returncode == 0, run.stderr
        assert "secret: s3cr3t" in run.stdout and "host: db.internal" in run.stdout
    key = tmp_path / "home" / "encryption.key"
    assert key.exists() and oct(key.stat().st_mode & 0o777) == "0o600"
