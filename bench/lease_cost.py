"""What the run lease costs a one-flow script (issue 9, point 3): leases on vs off.

Run from the repo root:  .venv/bin/python bench/lease_cost.py [--repeats N] [--no-callgrind]

A user's script -- one flow calling 10 tasks -- runs in a fresh interpreter, against a
local ``flowyard server start`` (fresh SQLite home) and embedded (no FLOWYARD_API_URL), with
``FLOWYARD_RUNNER_LEASES`` false (no lease: what a script did before) and true (the
default now: the lease rides on the Running request, a daemon thread renews it, the server
drops it with the final state). For each it reports:

- the HTTP requests the script sends, by method and route, and those sent before the flow
  body starts (the critical path the lease must not lengthen);
- instructions executed by the whole script process (valgrind callgrind, all threads):
  load-independent, unlike wall time on a shared machine;
- wall time of the script, median of ``--repeats`` runs (reported, but noisy when the
  machine is loaded).

Prints a markdown table; figures are pasted into bench/RESULTS.md by hand.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from flowyard.testing.server_process import clean_env, server_process  # noqa: E402

SCRIPT = """
import json, os, re
from flowyard import flow, task

COUNT = os.environ.get("BENCH_COUNT_REQUESTS")
sent = []
body_started = []
if COUNT:
    from flowyard.sdk.engine.api import get_api

    async def record(request):
        path = re.sub(r"[0-9a-f-]{36}", "{id}", request.url.path.split("/api", 1)[1])
        sent.append(f"{request.method} {path}")

    get_api().client.async_client._http.event_hooks["request"].append(record)


@task
def double(x):
    return 2 * x


@flow
def ten_tasks():
    body_started.append(len(sent))
    return sum(double(i) for i in range(10))


assert ten_tasks() == 90
if COUNT:
    with open(COUNT, "w") as out:
        json.dump({"sent": sent, "before_body": sent[: body_started[0]]}, out)
"""


def run(script: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, str(script)], env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def instructions(script: Path, env: dict[str, str]) -> int:
    out = subprocess.run(
        [
            "valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
            sys.executable, str(script),
        ],
        env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip
    found = re.search(r"Collected : (\d+)", out.stderr)
    assert found, out.stderr[-2000:]
    return int(found.group(1))


def measure(
    script: Path, base: dict[str, str], leases: bool, repeats: int, callgrind: bool
) -> dict[str, object]:
    env = {**base, "FLOWYARD_RUNNER_LEASES": str(leases).lower()}
    counts = script.parent / "requests.json"
    run(script, {**env, "BENCH_COUNT_REQUESTS": str(counts)})
    recorded = json.loads(counts.read_text())
    run(script, env)  # warm the OS caches
    walls = [run(script, env) for _ in range(repeats)]
    return {
        "requests": Counter(recorded["sent"]),
        "before_body": recorded["before_body"],
        "wall": statistics.median(walls),
        "instructions": instructions(script, env) if callgrind else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--no-callgrind", action="store_true")
    args = parser.parse_args()
    callgrind = not args.no_callgrind and shutil.which("valgrind") is not None
    results: dict[tuple[str, bool], dict[str, object]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        script = folder / "my_flow.py"
        script.write_text(SCRIPT)
        with server_process(folder / "server-home") as url:
            base = clean_env(FLOWYARD_API_URL=url, FLOWYARD_HOME=str(folder / "client-home"))
            for leases in (False, True):
                results["server", leases] = measure(script, base, leases, args.repeats, callgrind)
        for leases in (False, True):
            base = clean_env(FLOWYARD_HOME=str(folder / f"embedded-{leases}"))
            results["embedded", leases] = measure(script, base, leases, args.repeats, callgrind)
    print(f"load average when done: {os.getloadavg()}")
    print("| target | leases | requests (all) | before the flow body | instructions | wall |")
    print("|---|---|---|---|---|---|")
    for (target, leases), found in results.items():
        requests = found["requests"]
        assert isinstance(requests, Counter)
        ins = found["instructions"]
        print(
            f"| {target} | {'on' if leases else 'off'} | {sum(requests.values())} | "
            f"{', '.join(found['before_body'])} | "  # type: ignore[arg-type]
            f"{'' if ins is None else f'{ins / 1e6:,.0f} M'} | {found['wall'] * 1000:.0f} ms |"
        )
    for (target, leases), found in results.items():
        print(f"{target}, leases {'on' if leases else 'off'}: {dict(found['requests'])}")  # type: ignore[call-overload]


if __name__ == "__main__":
    main()
