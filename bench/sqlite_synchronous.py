"""The cost of FLOWYARD_DATABASE_SQLITE_SYNCHRONOUS=FULL against NORMAL, on SQLite in WAL.

    .venv/bin/python bench/sqlite_synchronous.py [N] [--instructions]   (default N = 300)

Runs N times "create a flow run, then set it Running" (two write transactions) through the
API in process, once per mode, each on a fresh database, and reports per pair:

- disk syncs (fsync + fdatasync), counted by ``strace -f -c``: independent of the load the
  machine is under, and the whole difference between the modes (FULL syncs the WAL on every
  commit; NORMAL only at checkpoints);
- with ``--instructions``, instructions (``valgrind --tool=callgrind``), also
  load-independent: the CPU the modes cost, expected the same (slow: four callgrind runs);
- wall time (best of 3 runs without a tracer): what a sync costs on this disk, which the
  counts cannot say. On a shared machine it drifts; read it as an order of magnitude.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = ROOT / ".venv" / "bin" / "python"
MODES = ("NORMAL", "FULL")


async def workload(home: Path, pairs: int) -> float:
    """Seconds for ``pairs`` create + set_state pairs (setup excluded)."""
    import httpx

    from flowyard.server.app import create_app
    from flowyard.settings import Settings

    app = create_app(Settings(home=home), services=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1/api") as c:
            flow = (await c.post("/flows/", json={"name": "bench"})).json()["id"]
            running = {"state": {"type": "RUNNING"}}
            started = time.perf_counter()
            for _ in range(pairs):
                run = (await c.post("/flow_runs/", json={"flow_id": flow})).json()["id"]
                answer = await c.post(f"/flow_runs/{run}/set_state", json=running)
                assert answer.json()["status"] == "ACCEPT", answer.text
            return time.perf_counter() - started


def _child(mode: str, pairs: int, tracer: list[str]) -> tuple[str, str]:
    """The workload's (stdout, stderr: where the tracers write) in a process of its own."""
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "FLOWYARD_DATABASE_SQLITE_SYNCHRONOUS": mode, "FLOWYARD_HOME": home,
               "PYTHONWARNINGS": "ignore"}  # fmt: skip
        command = [*tracer, str(PYTHON), __file__, "--child", str(pairs)]
        done = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
        return done.stdout, done.stderr


def syncs(mode: str, pairs: int) -> int:
    _, out = _child(mode, pairs, ["strace", "-f", "-c", "-e", "trace=fsync,fdatasync"])
    return sum(
        int(m.group(1))
        for m in re.finditer(
            r"^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)"
            r"\s+(?:\d+\s+)?f(?:data)?sync$",
            out,
            re.M,
        )
    )


def instructions(mode: str, pairs: int) -> int:
    _, out = _child(mode, pairs, ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"])
    found = re.search(r"Collected : (\d+)", out)
    assert found, out[-2000:]
    return int(found.group(1))


def wall(mode: str, pairs: int) -> float:
    best = min(float(_child(mode, pairs, [])[0].split()[-1]) for _ in range(3))
    return best / pairs


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    pairs = int(args[0]) if args else 300
    count_instructions = "--instructions" in sys.argv
    print(f"{pairs} pairs of create flow run + set_state (two commits), per pair:")
    print("| synchronous | disk syncs | instructions | wall (best of 3) |")
    print("|---|---|---|---|")
    for mode in MODES:
        # The difference of two sizes takes out the setup (imports, migrations, startup).
        sync_count = (syncs(mode, pairs) - syncs(mode, 0)) / pairs
        ins = "-"
        if count_instructions:
            ins = f"{(instructions(mode, pairs) - instructions(mode, 0)) / pairs / 1e6:.2f} M"
        seconds = wall(mode, pairs)
        print(f"| {mode} | {sync_count:.2f} | {ins} | {seconds * 1e3:.2f} ms |", flush=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        print(asyncio.run(workload(Path(os.environ["FLOWYARD_HOME"]), int(sys.argv[2]))))
    else:
        main()
