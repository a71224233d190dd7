"""The README's SDK example must run as pasted, and its run must be recorded."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_flow_example_runs_and_is_recorded(tmp_path: Path) -> None:
    match = re.search(r"## Flows and tasks\n\n```python\n(.*?)```", README.read_text(), re.S)
    assert match, "README lost its flows-and-tasks example"
    script = tmp_path / "etl.py"
    script.write_text(match.group(1))
    env = {**os.environ, "FLOWYARD_HOME": str(tmp_path / "home")}
    env.pop("FLOWYARD_API_URL", None)
    run = subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr
    assert "total 12" in run.stdout + run.stderr
    listed = subprocess.run(
        [sys.executable, "-m", "flowyard.cli.main", "flow-run", "ls"],
        env={**env, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert listed.returncode == 0, listed.stderr
    assert "etl" in listed.stdout and "Completed" in listed.stdout


def test_readme_caching_example_hits_the_cache_and_publishes(tmp_path: Path) -> None:
    match = re.search(
        r"### Caching, results, artifacts and variables\n\n```python\n(.*?)```",
        README.read_text(),
        re.S,
    )
    assert match, "README lost its caching example"
    script = tmp_path / "report.py"
    script.write_text(match.group(1))
    env = {**os.environ, "FLOWYARD_HOME": str(tmp_path / "home")}
    env.pop("FLOWYARD_API_URL", None)
    run = subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=120
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    assert output.count("fetching Lyon") == 1, output  # the second flow run hit the cache
    assert "variable: Lyon" in output
    assert "Cached" in output
    artifacts = subprocess.run(
        [
            sys.executable,
            "-c",
            (
                "from flowyard.client import get_client\n"
                "import asyncio\n"
                "async def main():\n"
                "    async with get_client() as c:\n"
                "        print(sorted({a.key for a in await c.read_artifacts()}))\n"
                "asyncio.run(main())\n"
            ),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert artifacts.returncode == 0, artifacts.stderr
    assert "['readings', 'weather-report']" in artifacts.stdout


def test_readme_concurrency_example_uses_the_limits_it_creates(tmp_path: Path) -> None:
    match = re.search(
        r"### Concurrency limits\n\n```bash\n(.*?)```\n\n```python\n(.*?)```",
        README.read_text(),
        re.S,
    )
    assert match, "README lost its concurrency example"
    commands, code = match.groups()
    env = {**os.environ, "FLOWYARD_HOME": str(tmp_path / "home")}
    env.pop("FLOWYARD_API_URL", None)
    script = tmp_path / "nightly.py"
    script.write_text(code + "\nnightly()\n")
    # Without the limits the example still runs, and says what it did not find.
    bare = subprocess.run(
        [sys.executable, str(script)],
        env={**env, "FLOWYARD_HOME": str(tmp_path / "bare")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bare.returncode == 0 and "'gpu' do not exist" in bare.stderr, bare.stderr
    for line in commands.splitlines():
        argv = shlex.split(line.split("#")[0])
        assert argv[0] == "flowyard", line
        made = subprocess.run(
            [sys.executable, "-m", "flowyard.cli.main", *argv[1:]],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert made.returncode == 0, made.stderr
    run = subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=120
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    assert "do not exist" not in output, output  # every limit it names was found
    assert "Completed" in output
    check = subprocess.run(
        [
            sys.executable,
            "-c",
            (
                "from flowyard.client import get_sync_client\n"
                "with get_sync_client() as c:\n"
                "    print('gpu', c.read_concurrency_limit('gpu').active_slots,"
                " len(c.read_concurrency_leases('gpu')))\n"
                "    print('warehouse', c.read_concurrency_limit('tag:warehouse').active_slots)\n"
            ),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert check.returncode == 0, check.stderr
    # concurrency() and the tag slots were given back.
    assert "gpu 0 0" in check.stdout and "warehouse 0" in check.stdout, check.stdout
