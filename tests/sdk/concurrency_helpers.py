"""Helpers for the concurrency tests that use real processes: a ``flowyard server start``
subprocess, worker scripts, and the overlap check on recorded body intervals."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx

DEADLINE = 120.0
FLOWYARD = str(Path(sys.executable).parent / "flowyard")


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without FLOWYARD_*/PREFECT_* settings, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLOWYARD_", "PREFECT_"))}
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def poll(check: Callable[[], bool], what: str, deadline: float = DEADLINE) -> None:
    """Wait until ``check()`` holds; fail naming ``what`` after a generous deadline."""
    end = time.monotonic() + deadline
    while not check():
        assert time.monotonic() < end, f"gave up waiting: {what}"
        time.sleep(0.1)


@contextlib.contextmanager
def server(home: Path, database_url: str | None, **settings: str) -> Iterator[str]:
    """Run ``flowyard server start`` on a free port; yield its API URL."""
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = clean_env(FLOWYARD_HOME=str(home), **settings)
    if database_url and database_url.startswith("postgresql"):
        env["FLOWYARD_DATABASE_URL"] = database_url
    log = home / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [FLOWYARD, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}/api"
    try:
        end = time.monotonic() + DEADLINE
        with httpx.Client(timeout=2.0) as client:
            while True:
                assert proc.poll() is None, f"server exited:\n{log.read_text()[-3000:]}"
                with contextlib.suppress(httpx.TransportError):
                    if client.get(f"{url}/health").status_code == 200:
                        break
                assert time.monotonic() < end, f"server not up:\n{log.read_text()[-3000:]}"
                time.sleep(0.1)
        yield url
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=20)


def spawn(script: Path, args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start ``python script args...`` with output to ``log``."""
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, str(script), *args],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def read_intervals(path: Path) -> list[tuple[float, float]]:
    """The ``start end`` lines that bodies appended to ``path``."""
    intervals = []
    for line in path.read_text().splitlines():
        start, end = line.split()
        intervals.append((float(start), float(end)))
    return intervals


def max_overlap(intervals: list[tuple[float, float]]) -> int:
    """The most intervals open at one instant (an end sorts before a start at a tie)."""
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    most = current = 0
    for _, step in events:
        current += step
        most = max(most, current)
    return most
