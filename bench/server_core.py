"""Server-core scenarios: the REST calls the official client makes most, under load.

Each scenario is measured sequentially (one client) and with 8 concurrent clients (asyncio
workers sharing one connection pool of 8). Every loop is bounded by an operation count and by
wall time. Non-2xx answers (e.g. 503 "database is locked") and transport errors are counted
apart from the successes and never counted as throughput.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

CONCURRENT = 8
SEED_WORKERS = 16
NEEDLE_TAG = "bench-needle"
NEEDLES = 50
LOG_BATCH = 100

# One operation: given its index, do some requests and return (units done, failure or None).
Op = Callable[[httpx.AsyncClient, int], Awaitable[tuple[int, str | None]]]


@dataclass(frozen=True)
class Budget:
    seconds: float
    max_ops: int


@dataclass
class Outcome:
    units: int = 0
    ops: int = 0
    seconds: float = 0.0
    failures: Counter[str] = field(default_factory=Counter)

    @property
    def rate(self) -> float:
        return self.units / self.seconds if self.seconds else 0.0

    def describe(self, unit: str) -> str:
        text = f"{self.rate:,.0f} {unit}/s (n={self.units:,})"
        if self.failures:
            detail = ", ".join(f"{k}×{v}" for k, v in sorted(self.failures.items()))
            text += f"; {sum(self.failures.values())} failed: {detail}"
        return text


def failure_of(response: httpx.Response) -> str | None:
    return None if response.is_success else str(response.status_code)


async def drive(client: httpx.AsyncClient, op: Op, workers: int, budget: Budget) -> Outcome:
    """Run ``op`` from ``workers`` concurrent workers until the count or time budget is spent."""
    outcome = Outcome()
    indexes = itertools.count()
    started = time.perf_counter()
    deadline = started + budget.seconds

    async def worker() -> None:
        while time.perf_counter() < deadline:
            index = next(indexes)
            if index >= budget.max_ops:
                return
            try:
                units, failure = await op(client, index)
            except httpx.HTTPError as exc:
                units, failure = 0, type(exc).__name__
            outcome.ops += 1
            outcome.units += units
            if failure:
                outcome.failures[failure] += 1

    await asyncio.gather(*(worker() for _ in range(workers)))
    outcome.seconds = time.perf_counter() - started
    return outcome


def new_client(api_url: str, workers: int) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=workers, max_keepalive_connections=workers)
    return httpx.AsyncClient(base_url=api_url, limits=limits, timeout=30.0)


async def create_flow(client: httpx.AsyncClient, name: str) -> str:
    response = await client.post("/flows/", json={"name": name})
    response.raise_for_status()
    flow_id: str = response.json()["id"]
    return flow_id


def flow_run_body(flow_id: str, name: str | None = None, tags: list[str] | None = None) -> Any:
    # The shape the official client sends, trimmed to what the server needs.
    state = {"type": "PENDING", "name": "Pending"}
    return {"flow_id": flow_id, "state": state, "name": name, "tags": tags or []}


def create_flow_run_op(flow_id: str) -> Op:
    async def op(client: httpx.AsyncClient, index: int) -> tuple[int, str | None]:
        response = await client.post("/flow_runs/", json=flow_run_body(flow_id))
        return (1, None) if response.is_success else (0, failure_of(response))

    return op


def set_state_op(run_ids: list[str]) -> Op:
    """Running then Completed on one PENDING run; counts accepted transitions."""

    async def op(client: httpx.AsyncClient, index: int) -> tuple[int, str | None]:
        done = 0
        for state_type, name in (("RUNNING", "Running"), ("COMPLETED", "Completed")):
            body = {"state": {"type": state_type, "name": name}, "force": False}
            response = await client.post(f"/flow_runs/{run_ids[index]}/set_state", json=body)
            if not response.is_success:
                return done, failure_of(response)
            status = response.json().get("status")
            if status != "ACCEPT":
                return done, f"{status}"
            done += 1
        return done, None

    return op


def filter_op() -> Op:
    body = {"flow_runs": {"tags": {"all_": [NEEDLE_TAG]}}, "limit": 200}

    async def op(client: httpx.AsyncClient, index: int) -> tuple[int, str | None]:
        response = await client.post("/flow_runs/filter", json=body)
        if not response.is_success:
            return 0, failure_of(response)
        found = len(response.json())
        # A fast wrong answer is not throughput.
        return (1, None) if found == NEEDLES else (0, f"got {found} runs")

    return op


def logs_op(flow_run_id: str) -> Op:
    async def op(client: httpx.AsyncClient, index: int) -> tuple[int, str | None]:
        timestamp = datetime.now(UTC).isoformat()
        batch = [
            {
                "name": "bench.logs",
                "level": 20,
                "message": f"batch {index} line {line}: the quick brown fox jumps over a lazy dog",
                "timestamp": timestamp,
                "flow_run_id": flow_run_id,
                "task_run_id": None,
            }
            for line in range(LOG_BATCH)
        ]
        response = await client.post("/logs/", json=batch)
        return (LOG_BATCH, None) if response.is_success else (0, failure_of(response))

    return op


async def _seed_chunk(
    client: httpx.AsyncClient,
    flow_id: str,
    chunk: list[int],
    stride: int,
    workers: int,
    plain: list[str],
) -> tuple[Outcome, list[int]]:
    """Create the runs numbered in ``chunk`` (every ``stride``-th one a needle).

    Appends the ids of the untagged runs to ``plain``; returns the outcome and the run numbers
    that failed, for the caller to retry.
    """
    failed: list[int] = []

    async def op(client: httpx.AsyncClient, i: int) -> tuple[int, str | None]:
        index = chunk[i]
        needle = index % stride == 0
        body = flow_run_body(flow_id, f"seed-{index:05d}", [NEEDLE_TAG] if needle else ["seed"])
        try:
            response = await client.post("/flow_runs/", json=body)
        except httpx.HTTPError as exc:
            failed.append(index)
            return 0, type(exc).__name__
        if not response.is_success:
            failed.append(index)
            return 0, failure_of(response)
        if not needle:
            plain.append(response.json()["id"])
        return 1, None

    outcome = await drive(client, op, workers, Budget(float("inf"), len(chunk)))
    return outcome, failed


async def seed_flow_runs(
    api_url: str, flow_id: str, count: int, max_seconds: float = 1200.0
) -> tuple[list[str], Outcome, int]:
    """Create ``count`` PENDING runs, every ``count // NEEDLES``-th tagged NEEDLE_TAG.

    Seeding must succeed however the server copes with load, and as fast as it allows: it
    goes in chunks; a chunk with failures (503 "database is locked", dropped connections)
    halves the concurrency and re-queues what failed, a run of clean chunks doubles it again,
    up to SEED_WORKERS. Returns the ids of the untagged runs (for the set_state scenario), the
    outcome over the whole seeding, and the lowest concurrency it fell back to.
    """
    plain: list[str] = []
    pending = list(range(count))
    workers = lowest = SEED_WORKERS
    clean = 0  # consecutive chunks without failures at the current concurrency
    total = Outcome()
    started = time.perf_counter()
    async with new_client(api_url, SEED_WORKERS) as client:
        while pending:
            if time.perf_counter() - started > max_seconds:
                raise RuntimeError(f"seeded {count - len(pending)} of {count} runs in time")
            chunk, pending = pending[: workers * 32], pending[workers * 32 :]
            outcome, failed = await _seed_chunk(
                client, flow_id, chunk, count // NEEDLES, workers, plain
            )
            total.units += outcome.units
            total.failures.update(outcome.failures)
            pending = failed + pending
            # Back off hard on more than a stray failure; climb back slowly, since a server
            # that breaks under concurrency wastes a whole chunk on every failed probe.
            if len(failed) > len(chunk) // 20:
                workers, clean = max(1, workers // 2), 0
                await asyncio.sleep(0.2)  # let a saturated server drain before going on
            else:
                clean += 1
                if clean >= 4:
                    workers, clean = min(SEED_WORKERS, workers * 2), 0
            lowest = min(lowest, workers)
    total.seconds = time.perf_counter() - started
    return plain, total, lowest


async def measure(
    api_url: str, op: Op, budget: Budget, sequential_max_ops: int | None = None
) -> dict[str, Outcome]:
    """The same operation with one client, then with CONCURRENT clients.

    Both phases share ``budget.max_ops`` indexes (the concurrent phase starts after the ones
    the sequential phase used), so an op that consumes a finite pool (set_state's runs) never
    touches the same item twice. ``sequential_max_ops`` keeps some of that pool for phase two.
    """
    results: dict[str, Outcome] = {}
    first = Budget(budget.seconds, min(budget.max_ops, sequential_max_ops or budget.max_ops))
    async with new_client(api_url, 1) as client:
        results["1 client"] = await drive(client, op, 1, first)
    offset = min(results["1 client"].ops, first.max_ops)

    async def shifted(client: httpx.AsyncClient, index: int) -> tuple[int, str | None]:
        return await op(client, offset + index)

    second = Budget(budget.seconds, budget.max_ops - offset)
    async with new_client(api_url, CONCURRENT) as client:
        results[f"{CONCURRENT} clients"] = await drive(client, shifted, CONCURRENT, second)
    return results
