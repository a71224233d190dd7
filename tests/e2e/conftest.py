"""Fixtures for end-to-end tests: real server processes and the official Prefect client.

The official client lives in its own venv (never Flowyard's), found through
``FLOWYARD_PREFECT_VENV`` or created at ``<repo>/.venv-prefect`` on first use.

``FLOWYARD_E2E_SERVER=prefect`` runs the same tests against the real Prefect server from that
venv instead of Flowyard: the reference implementation must pass them too, which is how the
assertions themselves are checked.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from flowyard.testing.databases import fresh_postgres_database

REPO_ROOT = Path(__file__).resolve().parents[2]
PREFECT_VERSION = "3.9.1"

# Read at import time: the root conftest's autouse fixture clears FLOWYARD_DATABASE_URL for
# every test, but the e2e server should honour it so the suite can run on PostgreSQL.
DATABASE_URL = os.environ.get("FLOWYARD_DATABASE_URL")
# The suite-wide PostgreSQL switch (see tests/conftest.py): the server gets a fresh database.
TEST_DATABASE_URL = os.environ.get("FLOWYARD_TEST_DATABASE_URL")
SERVER_KIND = os.environ.get("FLOWYARD_E2E_SERVER", "flowyard")

SERVER_START_TIMEOUT = 90.0
PIP_TIMEOUT = 900.0


def free_port() -> int:
    """A free loopback port (racy in theory, fine for a test run on one machine)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def clean_env(**extra: str) -> dict[str, str]:
    """The current environment without any PREFECT_*/FLOWYARD_* settings, plus ``extra``.

    A developer's own profile variables (an API key, a remote URL) must never leak into a
    subprocess that is supposed to talk to the server under test.
    """
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PREFECT_", "FLOWYARD_"))
    }
    env.update(extra)
    return env


def _installed_prefect_version(python: Path) -> str | None:
    # importlib.metadata avoids importing prefect itself, which takes seconds.
    probe = "import importlib.metadata as m; print(m.version('prefect'))"
    try:
        out = subprocess.run(
            [str(python), "-c", probe], capture_output=True, text=True, timeout=60, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def _run_setup(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=PIP_TIMEOUT)
    if proc.returncode != 0:
        pytest.fail(f"{' '.join(cmd)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")


@pytest.fixture(scope="session")
def prefect_python() -> Path:
    """The python of a venv with the official ``prefect==3.9.1`` client installed."""
    venv = Path(os.environ.get("FLOWYARD_PREFECT_VENV") or REPO_ROOT / ".venv-prefect")
    python = venv / "bin" / "python"
    if not python.exists():
        _run_setup([sys.executable, "-m", "venv", str(venv)])
    if _installed_prefect_version(python) != PREFECT_VERSION:
        _run_setup([str(python), "-m", "pip", "install", "--quiet", f"prefect=={PREFECT_VERSION}"])
    return python


def _server_command(port: int, prefect_python: Path) -> list[str]:
    if SERVER_KIND == "prefect":
        prefect = str(prefect_python.parent / "prefect")
        return [prefect, "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    # The console script next to the interpreter running pytest, i.e. the Flowyard venv.
    flowyard = shutil.which("flowyard", path=str(Path(sys.executable).parent))
    if flowyard is None:
        flowyard = str(REPO_ROOT / ".venv" / "bin" / "flowyard")
    return [flowyard, "server", "start", "--host", "127.0.0.1", "--port", str(port)]


@pytest.fixture(scope="session")
def server_database_url() -> Iterator[str | None]:
    """The database the Flowyard server uses; None means its default SQLite in its home.

    An explicit FLOWYARD_DATABASE_URL is passed through as is. Otherwise, with
    FLOWYARD_TEST_DATABASE_URL set, a fresh PostgreSQL database is created for the session
    and dropped after it.
    """
    if DATABASE_URL or not TEST_DATABASE_URL or SERVER_KIND == "prefect":
        yield DATABASE_URL
        return
    with fresh_postgres_database(TEST_DATABASE_URL, "fy_e2e") as url:
        yield url


def _server_env(home: Path, database_url: str | None) -> dict[str, str]:
    if SERVER_KIND == "prefect":
        return clean_env(
            PREFECT_HOME=str(home),
            PREFECT_SERVER_ANALYTICS_ENABLED="false",
            PREFECT_SERVER_UI_ENABLED="false",
            # Off by default in Prefect; Flowyard always serves /logs/out.
            PREFECT_SERVER_LOGS_STREAM_OUT_ENABLED="true",
            PREFECT_SERVER_LOGS_STREAM_PUBLISHING_ENABLED="true",
        )
    env = clean_env(FLOWYARD_HOME=str(home))
    if database_url:
        env["FLOWYARD_DATABASE_URL"] = database_url
    return env


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server's process group, SIGKILL it if it does not exit in time."""
    if proc.poll() is None:
        # The server may fork workers (uvicorn --workers, prefect's services): signal the group
        # it leads, which start_new_session made its own.
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=15)


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"server exited with {proc.returncode}:\n{log.read_text()[-4000:]}")
            try:
                if client.get(f"{url}/health").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
    pytest.fail(f"server not healthy after {SERVER_START_TIMEOUT}s:\n{log.read_text()[-4000:]}")


@pytest.fixture(scope="session")
def server_api_url(
    tmp_path_factory: pytest.TempPathFactory,
    prefect_python: Path,
    server_database_url: str | None,
) -> Iterator[str]:
    """Start the server under test on a free loopback port; yield its ``.../api`` URL."""
    workdir = tmp_path_factory.mktemp("e2e-server")
    home = workdir / "home"
    home.mkdir()
    log = workdir / "server.log"
    port = free_port()
    url = f"http://127.0.0.1:{port}/api"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            _server_command(port, prefect_python),
            env=_server_env(home, server_database_url),
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_healthy(url, proc, log)
        yield url
    finally:
        _stop(proc)


@pytest.fixture
def prefect_client_env(server_api_url: str, tmp_path: Path) -> dict[str, str]:
    """Environment for a process running the official client against the server under test."""
    return clean_env(PREFECT_API_URL=server_api_url, PREFECT_HOME=str(tmp_path / "prefect-home"))


@pytest.fixture
def flow_processes() -> Iterator[list[subprocess.Popen[str]]]:
    """Flow processes started by a test: killed (if still alive) and reaped after it."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


@pytest.fixture
def api(server_api_url: str) -> Iterator[httpx.Client]:
    """A plain httpx client on the server under test, for asserting through the REST API."""
    with httpx.Client(base_url=server_api_url, timeout=30.0) as client:
        yield client
