"""Starting, stopping and measuring the server processes under benchmark.

Both servers run as real subprocesses on loopback, each on its own fresh SQLite home, so the
numbers include everything a user would pay for: interpreter start, imports, migrations.
Memory comes from /proc (VmRSS now, VmHWM = the kernel's high-water mark) summed over the
server and all its descendants, since a server may fork workers or services.
"""

from __future__ import annotations

import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).resolve().parents[1]
PREFECT_VERSION = "3.9.1"
START_TIMEOUT = 120.0


@dataclass(frozen=True)
class ServerSpec:
    """How to launch one kind of server: a label for the table, argv and env builders."""

    label: str
    executable: Path
    # The settings variable that points the server at its data directory.
    home_var: str
    extra_env: dict[str, str] = field(default_factory=dict)

    def argv(self, port: int) -> list[str]:
        return [str(self.executable), "server", "start", "--host", "127.0.0.1", "--port", str(port)]

    def env(self, home: Path) -> dict[str, str]:
        # No inherited PREFECT_*/FLOWYARD_* settings: a developer's profile (a PostgreSQL URL,
        # an API key) must not change what is measured. Both servers get default SQLite.
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "FLOWYARD_"))}
        env[self.home_var] = str(home)
        env.update(self.extra_env)
        return env


def flowyard_spec() -> ServerSpec:
    # The console script beside the interpreter running the benchmark (the Flowyard venv).
    return ServerSpec("Flowyard", Path(sys.executable).parent / "flowyard", "FLOWYARD_HOME")


def prefect_spec(prefect_python: Path) -> ServerSpec:
    return ServerSpec(
        f"Prefect {PREFECT_VERSION}",
        prefect_python.parent / "prefect",
        "PREFECT_HOME",
        # Analytics would phone home; the UI build is not part of the API being compared.
        {"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_SERVER_UI_ENABLED": "false"},
    )


def ensure_prefect_venv() -> Path:
    """The python of a venv with prefect==3.9.1: $FLOWYARD_PREFECT_VENV or <repo>/.venv-prefect.

    Created on first use (python -m venv + pip install); never Flowyard's own venv, so the two
    projects' dependencies cannot interfere.
    """
    venv = Path(os.environ.get("FLOWYARD_PREFECT_VENV") or REPO_ROOT / ".venv-prefect")
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    probe = "import importlib.metadata as m; print(m.version('prefect'))"
    found = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, timeout=60)
    if found.stdout.strip() != PREFECT_VERSION:
        pip = [str(python), "-m", "pip", "install", "--quiet", f"prefect=={PREFECT_VERSION}"]
        subprocess.run(pip, check=True, timeout=900)
    return python


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # the process exited while we were scanning
            continue
        # The command name is in parentheses and may contain spaces: split after the last ')'.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    return children


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its live descendants."""
    children = _children_map()
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


def _status_kib(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_memory_kib(pid: int, key: str) -> int:
    """Sum of a /proc status field (``VmRSS`` or ``VmHWM``, in KiB) over the process tree."""
    return sum(_status_kib(p, key) for p in process_tree(pid))


class ServerStartError(RuntimeError):
    pass


class RunningServer:
    """A server subprocess on a free loopback port; ``start_seconds`` is spawn → healthy."""

    def __init__(self, spec: ServerSpec, home: Path) -> None:
        self.spec = spec
        self.home = home
        self.port = free_port()
        self.api_url = f"http://127.0.0.1:{self.port}/api"
        home.mkdir(parents=True, exist_ok=True)
        self.log_path = home.parent / f"{home.name}-{self.port}.log"
        with self.log_path.open("wb") as log:
            started = time.perf_counter()
            self.proc = subprocess.Popen(
                spec.argv(self.port),
                env=spec.env(home),
                cwd=home,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, so stop() reaches children
            )
        try:
            self._wait_healthy()
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.perf_counter() - started

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        with httpx.Client(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise ServerStartError(f"exited with {self.proc.returncode}: {self.log_tail()}")
                try:
                    if client.get(f"{self.api_url}/health").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                # Short sleeps: this loop's granularity is part of the measured start time.
                time.sleep(0.02)
        raise ServerStartError(f"not healthy after {START_TIMEOUT}s: {self.log_tail()}")

    def log_tail(self, lines: int = 3) -> str:
        """The last lines of the server's output: usually where a failed start says why."""
        text = self.log_path.read_text(errors="replace").strip().splitlines()
        return " / ".join(text[-lines:])

    def rss_kib(self) -> int:
        return tree_memory_kib(self.proc.pid, "VmRSS")

    def peak_rss_kib(self) -> int:
        return tree_memory_kib(self.proc.pid, "VmHWM")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=20)


def import_seconds(python: Path, module: str, repeats: int = 5) -> float:
    """Median wall time of ``python -c "import module"`` in fresh processes."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run([str(python), "-c", f"import {module}"], check=True, timeout=120)
        times.append(time.perf_counter() - started)
    return statistics.median(times)
