"""One SDK benchmark workload, run in a fresh interpreter with either SDK.

    python sdk_workload.py {flowyard|prefect} {flow_runs|sequential|submit} [N] [REPEATS]

The same flow shapes are written once and bound to ``flowyard.flow/task`` or
``prefect.flow/task``: whichever SDK the interpreter has. The SDK picks its API from the
environment (the harness sets FLOWYARD_API_URL / PREFECT_API_URL, or leaves it unset for
embedded / ephemeral mode). Standard library only besides the SDK itself (and httpx, which
both SDKs depend on), so it runs in either venv. The result is one JSON object on the last
line of stdout starting with ``{"sdk"``; the SDKs' console output goes around it.
"""

from __future__ import annotations

import importlib
import json
import os
import resource
import statistics
import sys
import time
from typing import Any


def vm_hwm_kib() -> int:
    """This process's peak resident set size so far (kernel high-water mark)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def count_task_runs_via_api() -> int | None:
    """``POST /task_runs/count`` on the configured server right now; None when embedded."""
    url = os.environ.get("FLOWYARD_API_URL") or os.environ.get("PREFECT_API_URL")
    if not url:
        return None
    import httpx

    response = httpx.post(f"{url.rstrip('/')}/task_runs/count", json={}, timeout=30.0)
    response.raise_for_status()
    return int(response.json())


def plain_inc(x: int) -> int:
    return x + 1


def main(argv: list[str]) -> dict[str, Any]:
    sdk, scenario = argv[0], argv[1]
    n = int(argv[2]) if len(argv) > 2 else 1_000
    repeats = int(argv[3]) if len(argv) > 3 else 1
    if sdk not in ("flowyard", "prefect"):
        raise SystemExit(f"unknown SDK {sdk!r}")
    started = time.perf_counter()
    module = importlib.import_module(sdk)
    flow, task = module.flow, module.task
    result: dict[str, Any] = {"sdk": sdk, "scenario": scenario, "n": n}
    result["import_ms"] = (time.perf_counter() - started) * 1000

    # ---- the flow shapes, identical for both SDKs -------------------------------------
    inc = task(plain_inc)

    @flow
    def empty() -> None:
        return None

    @flow
    def sequential(count: int) -> float:
        t0 = time.perf_counter()
        for i in range(count):
            inc(i)
        return time.perf_counter() - t0

    @flow
    def submitted(count: int) -> float:
        t0 = time.perf_counter()
        futures = [inc.submit(i) for i in range(count)]
        for future in futures:
            future.result()
        return time.perf_counter() - t0

    # ---- measurements ----------------------------------------------------------------
    if scenario == "flow_runs":
        times = []
        for _ in range(n):  # bounded: n runs
            t0 = time.perf_counter()
            empty()
            times.append(time.perf_counter() - t0)
        result["first_ms"] = times[0] * 1000
        result["median_ms"] = statistics.median(times) * 1000
        result["median_after_first_ms"] = statistics.median(times[1:] or times) * 1000
    elif scenario in ("sequential", "submit"):
        body = sequential if scenario == "sequential" else submitted
        if scenario == "sequential":
            # The same function without any SDK, for the "plain Python loop" baseline.
            plain_times = []
            for _ in range(5):
                t0 = time.perf_counter()
                for i in range(n):
                    plain_inc(i)
                plain_times.append(time.perf_counter() - t0)
            result["plain_us"] = statistics.median(plain_times) / n * 1e6
        # One empty flow first, so one-time client setup (an embedded or temporary server
        # starting, connections) is not charged to the tasks.
        t0 = time.perf_counter()
        empty()
        result["warmup_s"] = time.perf_counter() - t0
        runs = []
        cpu0 = cpu_seconds()
        for _ in range(repeats):  # bounded: `repeats` flow runs of n tasks
            t0 = time.perf_counter()
            inner = body(n)
            total = time.perf_counter() - t0
            runs.append(
                {
                    "inner_s": inner,
                    "total_s": total,
                    "hwm_kib": vm_hwm_kib(),
                    "returned_at": time.time(),
                }
            )
        result["client_cpu_s"] = cpu_seconds() - cpu0
        result["runs"] = runs
        result["returned_at"] = runs[-1]["returned_at"]
        # What the server holds the moment the last flow has returned (server mode only).
        result["count_at_return"] = count_task_runs_via_api()
    else:
        raise SystemExit(f"unknown scenario {scenario!r}")
    result["hwm_kib"] = vm_hwm_kib()
    return result


if __name__ == "__main__":
    outcome = main(sys.argv[1:])
    sys.stdout.flush()
    print("\n" + json.dumps(outcome), flush=True)
