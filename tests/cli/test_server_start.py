"""`flowyard server start` as a real process: it serves, prints the banner, stops on SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.e2e
START_TIMEOUT = 60.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_server_start_serves_and_prints_how_to_connect(tmp_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLOWYARD_", "PREFECT_"))}
    env["FLOWYARD_HOME"] = str(tmp_path / "home")
    flowyard = Path(sys.executable).with_name("flowyard")
    proc = subprocess.Popen(
        [str(flowyard), "server", "start", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        started = time.monotonic()
        while True:
            assert proc.poll() is None, f"server exited early:\n{proc.stdout.read()}"  # type: ignore[union-attr]
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1).json() is True:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() - started < START_TIMEOUT, "server did not become healthy"
            time.sleep(0.05)
        # Not a timing assertion (bench/ measures it); shown with -s for a quick look.
        print(f"healthy after {time.monotonic() - started:.2f}s")
    finally:
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=30)

    assert f"flowyard config set FLOWYARD_API_URL=http://127.0.0.1:{port}/api" in output
    assert (tmp_path / "home" / "flowyard.db").exists()
    assert "Traceback" not in output
