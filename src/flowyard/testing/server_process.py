"""A real ``flowyard server start`` subprocess for tests that need one over HTTP.

Tests of workers, crash detection or pauses need what embedded mode cannot give: a server
in its own process, with its background services, that other processes reach by URL.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

START_DEADLINE_SECONDS = 120.0
STOP_GRACE_SECONDS = 20.0


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any FLOWYARD_*/PREFECT_* setting, plus ``extra``:
    a developer's own profile (a remote URL, an API key) must never leak into a subprocess
    that is meant to talk to the server under test."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLOWYARD_", "PREFECT_"))}
    env.update(extra)
    return env


def free_port() -> int:
    """A loopback port free right now (racy in theory, fine on one test machine)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def server_process(home: Path, database_url: str | None = None, **settings: str) -> Iterator[str]:
    """Run ``flowyard server start`` on a free port with ``home`` as its FLOWYARD_HOME (and
    ``database_url``, else SQLite there); yield its API URL once ``/health`` answers.

    ``settings`` are extra environment variables, e.g.
    ``FLOWYARD_SERVER_SERVICES_RUN_LEASES_LOOP_SECONDS="0.5"``. The server's output goes to
    ``home/server.log``, whose tail is in the failure if it exits or never becomes healthy.
    On exit the server gets SIGTERM, then SIGKILL after a grace period.
    """
    import httpx

    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = clean_env(FLOWYARD_HOME=str(home), **settings)
    if database_url:
        env["FLOWYARD_DATABASE_URL"] = database_url
    log = home / "server.log"
    flowyard = str(Path(sys.executable).parent / "flowyard")
    argv = [flowyard, "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}/api"
    try:
        end = time.monotonic() + START_DEADLINE_SECONDS
        with httpx.Client(timeout=2.0) as client:
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"the server exited:\n{log.read_text()[-3000:]}")
                with contextlib.suppress(httpx.TransportError):
                    if client.get(f"{url}/health").status_code == 200:
                        break
                if time.monotonic() > end:
                    raise RuntimeError(
                        f"the server never became healthy:\n{log.read_text()[-3000:]}"
                    )
                time.sleep(0.1)
        yield url
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=STOP_GRACE_SECONDS)
