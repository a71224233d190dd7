"""The official ``prefect`` 3.9.1 CLI and SDK against a Flowyard server: tag limits and
global limits, created by ``prefect concurrency-limit`` / ``prefect global-concurrency-limit``
and honoured by the official client's tagged tasks and ``concurrency()`` blocks.

The official client's venv is the one ``tests/e2e`` uses; its helpers are reused here.
"""

from __future__ import annotations

import importlib.util
import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.e2e

E2E_CONFTEST = Path(__file__).resolve().parents[1] / "e2e" / "conftest.py"


def _e2e() -> ModuleType:
    spec = importlib.util.spec_from_file_location("flowyard_e2e_helpers", E2E_CONFTEST)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


e2e = _e2e()


@pytest.fixture(scope="module")
def prefect_bin() -> Path:
    """The official client's venv (created by the e2e helper's rules when missing)."""
    import os

    venv = Path(os.environ.get("FLOWYARD_PREFECT_VENV") or e2e.REPO_ROOT / ".venv-prefect")
    python = venv / "bin" / "python"
    if not python.exists():
        e2e._run_setup([e2e.sys.executable, "-m", "venv", str(venv)])
    if e2e._installed_prefect_version(python) != e2e.PREFECT_VERSION:
        e2e._run_setup(
            [str(python), "-m", "pip", "install", "--quiet", f"prefect=={e2e.PREFECT_VERSION}"]
        )
    return venv / "bin"


@pytest.fixture
def api_url(tmp_path: Path, prefect_bin: Path, database_url: str) -> Iterator[str]:
    home = tmp_path / "server-home"
    home.mkdir()
    log = tmp_path / "server.log"
    port = e2e.free_port()
    env = e2e.clean_env(FLOWYARD_HOME=str(home))
    if database_url.startswith("postgresql"):
        env["FLOWYARD_DATABASE_URL"] = database_url
    with log.open("wb") as out:
        proc = subprocess.Popen(
            e2e._server_command(port, prefect_bin / "python"),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}/api"
    try:
        e2e._wait_healthy(url, proc, log)
        yield url
    finally:
        e2e._stop(proc)


def _prefect(bin_dir: Path, url: str, home: Path, *args: str) -> str:
    env = e2e.clean_env(PREFECT_API_URL=url, PREFECT_HOME=str(home))
    done = subprocess.run(
        [str(bin_dir / "prefect"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, f"prefect {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


FLOW = textwrap.dedent(
    """
    import sys
    import time

    from prefect import flow, task
    from prefect.concurrency.sync import concurrency

    record = sys.argv[1]


    def body(kind: str) -> None:
        start = time.monotonic()
        time.sleep(0.3)
        end = time.monotonic()
        with open(record, "a") as out:
            out.write(f"{kind} {start} {end}\\n")


    @task(tags=["db"])
    def tagged(i: int) -> None:
        body("tag")


    @task
    def limited(i: int) -> None:
        with concurrency("gcl-demo", occupy=1):
            body("gcl")


    @flow
    def contend() -> None:
        futures = [tagged.submit(i) for i in range(3)] + [limited.submit(i) for i in range(3)]
        for future in futures:
            future.result()


    contend()
    """
)


def _max_overlap(intervals: list[tuple[float, float]]) -> int:
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    most = current = 0
    for _, step in events:
        current += step
        most = max(most, current)
    return most


def test_official_cli_and_client_use_flowyard_limits(
    api_url: str, prefect_bin: Path, tmp_path: Path
) -> None:
    home = tmp_path / "prefect-home"

    def prefect(*args: str) -> str:
        return _prefect(prefect_bin, api_url, home, *args)

    prefect("concurrency-limit", "create", "db", "1")
    prefect("global-concurrency-limit", "create", "gcl-demo", "--limit", "1")
    assert "db" in prefect("concurrency-limit", "ls")
    assert "gcl-demo" in prefect("global-concurrency-limit", "ls")

    script = tmp_path / "contend.py"
    script.write_text(FLOW)
    record = tmp_path / "intervals.txt"
    record.touch()
    env = e2e.clean_env(PREFECT_API_URL=api_url, PREFECT_HOME=str(home))
    ran = subprocess.run(
        [str(prefect_bin / "python"), str(script), str(record)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    rows = [line.split() for line in record.read_text().splitlines()]
    by_kind: dict[str, list[tuple[float, float]]] = {"tag": [], "gcl": []}
    for kind, start, end in rows:
        by_kind[kind].append((float(start), float(end)))
    assert len(by_kind["tag"]) == 3 and len(by_kind["gcl"]) == 3
    # Each limit has one slot: its bodies ran one at a time.
    assert _max_overlap(by_kind["tag"]) == 1 and _max_overlap(by_kind["gcl"]) == 1

    with httpx.Client(base_url=api_url, timeout=30) as api:
        for name in ("tag:db", "gcl-demo"):
            limit: dict[str, Any] = api.get(f"/v2/concurrency_limits/{name}").json()
            assert limit["active_slots"] == 0, limit
            assert api.get(f"/v2/concurrency_limits/{name}/leases").json() == []
        assert api.get("/concurrency_limits/tag/db").json()["active_slots"] == []

        assert "db" in prefect("concurrency-limit", "inspect", "db")
        prefect("concurrency-limit", "reset", "db")
        prefect("concurrency-limit", "delete", "db")
        assert api.get("/concurrency_limits/tag/db").status_code == 404
        assert "gcl-demo" in prefect("global-concurrency-limit", "inspect", "gcl-demo")
        prefect("global-concurrency-limit", "update", "gcl-demo", "--limit", "4")
        assert api.get("/v2/concurrency_limits/gcl-demo").json()["limit"] == 4
        prefect("global-concurrency-limit", "delete", "gcl-demo", "--no-prompt")
        assert api.get("/v2/concurrency_limits/gcl-demo").status_code == 404
