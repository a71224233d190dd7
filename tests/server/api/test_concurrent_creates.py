"""Concurrent creates of the same deployment, work pool or work queue: on PostgreSQL they can
all pass the "does it exist?" read before any inserts. The unique constraint decides: a
deployment upsert that loses becomes an update (200), a pool or queue create that loses is
a 409, never a 500.

Each test holds every request between its read and its insert until all have read (or half
a second has passed: on SQLite writes are serialised, so the others cannot get there)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from flowyard.server.queries import deployments as deployment_queries
from flowyard.server.queries import work_pools as pool_queries

N = 5


def hold_until_all_arrive(
    monkeypatch: pytest.MonkeyPatch, module: Any, name: str, *, answer: Any = ...
) -> None:
    """Wrap ``module.name``: its first N calls (one per request) each wait until all N are
    waiting (at most half a second), then run the original; when all N did meet and
    ``answer`` is given, they return it instead, as losers of the race would have seen.
    Later calls run as usual."""
    original: Callable[..., Awaitable[Any]] = getattr(module, name)
    arrived = 0
    everyone = asyncio.Event()

    async def held(*args: Any, **kwargs: Any) -> Any:
        nonlocal arrived
        arrived += 1
        if arrived > N:
            return await original(*args, **kwargs)
        if arrived == N:
            everyone.set()
        try:
            await asyncio.wait_for(everyone.wait(), 0.5)
            met = True
        except TimeoutError:
            met = False
        result = await original(*args, **kwargs)
        return answer if met and answer is not ... else result

    monkeypatch.setattr(module, name, held)


async def test_concurrent_deployment_upserts_make_one_deployment(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    flow_id = (await client.post("/flows/", json={"name": "racy"})).json()["id"]
    await client.post("/work_pools/", json={"name": "pool", "type": "process"})
    # _link_work_pool runs after the existing deployment is looked up, before the insert.
    hold_until_all_arrive(monkeypatch, deployment_queries, "_link_work_pool")
    bodies = [
        {
            "name": "nightly",
            "flow_id": flow_id,
            "work_pool_name": "pool",
            "tags": [f"t{i}"],
            "schedules": [{"schedule": {"interval": 3600}}],
        }
        for i in range(N)
    ]
    answers = await asyncio.gather(*(client.post("/deployments/", json=b) for b in bodies))
    assert all(a.status_code in (200, 201) for a in answers), [a.text for a in answers]
    assert sorted(a.status_code for a in answers) == [200] * (N - 1) + [201]
    assert len({a.json()["id"] for a in answers}) == 1
    assert (await client.post("/deployments/count", json={})).json() == 1
    [deployment] = (await client.post("/deployments/filter", json={})).json()
    assert deployment["tags"] in [[f"t{i}"] for i in range(N)]
    assert len(deployment["schedules"]) == 1


async def test_concurrent_work_pool_creates_answer_409(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    hold_until_all_arrive(monkeypatch, pool_queries, "read_work_pool_by_name")
    body = {"name": "pool", "type": "process"}
    answers = await asyncio.gather(*(client.post("/work_pools/", json=body) for _ in range(N)))
    assert sorted(a.status_code for a in answers) == [201] + [409] * (N - 1), [
        a.text for a in answers
    ]
    assert all("already exists" in a.json()["detail"] for a in answers if a.status_code == 409)
    monkeypatch.undo()
    assert (await client.post("/work_pools/count", json={})).json() == 1
    queues = (await client.post("/work_pools/pool/queues/filter", json={})).json()
    assert [q["name"] for q in queues] == ["default"]


async def test_a_lost_pool_or_queue_create_race_is_409(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the loser of the race sees, without the timing: its existence check says no."""
    assert (await client.post("/work_pools/", json={"name": "p", "type": "process"})).is_success
    assert (await client.post("/work_pools/p/queues", json={"name": "q"})).is_success

    async def nothing(*args: Any, **kwargs: Any) -> None:
        return None

    monkeypatch.setattr(pool_queries, "read_work_queue_by_name", nothing)
    again = await client.post("/work_pools/p/queues", json={"name": "q"})
    assert again.status_code == 409 and "already exists" in again.json()["detail"]
    # The same request's transaction is still usable: other queues are created as before.
    monkeypatch.undo()
    assert (await client.post("/work_pools/p/queues", json={"name": "r"})).status_code == 201

    monkeypatch.setattr(pool_queries, "read_work_pool_by_name", nothing)
    again = await client.post("/work_pools/", json={"name": "p", "type": "process"})
    assert again.status_code == 409 and "already exists" in again.json()["detail"]
    monkeypatch.undo()
    queues = (await client.post("/work_pools/p/queues/filter", json={})).json()
    assert sorted(q["name"] for q in queues) == ["default", "q", "r"]


async def test_concurrent_work_queue_creates_answer_409(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    await client.post("/work_pools/", json={"name": "pool", "type": "process"})
    hold_until_all_arrive(monkeypatch, pool_queries, "read_work_queue_by_name")
    answers = await asyncio.gather(
        *(client.post("/work_pools/pool/queues", json={"name": "q"}) for _ in range(N))
    )
    assert sorted(a.status_code for a in answers) == [201] + [409] * (N - 1), [
        a.text for a in answers
    ]
    monkeypatch.undo()
    queues = (await client.post("/work_pools/pool/queues/filter", json={})).json()
    assert sorted(q["name"] for q in queues) == ["default", "q"]


async def test_concurrent_queues_without_a_pool_share_the_default_pool(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every request finds no default-agent-pool and creates it: one wins, the others use it.
    hold_until_all_arrive(monkeypatch, pool_queries, "read_work_pool_by_name", answer=None)
    answers = await asyncio.gather(
        *(client.post("/work_queues/", json={"name": f"q{i}"}) for i in range(N))
    )
    monkeypatch.undo()
    assert [a.status_code for a in answers] == [201] * N, [a.text for a in answers]
    assert {a.json()["work_pool_name"] for a in answers} == {"default-agent-pool"}
    assert (await client.post("/work_pools/count", json={})).json() == 1
