"""Creates of the same deployment, work pool or work queue sent at once. On PostgreSQL they
all pass the "does it exist?" read before any inserts (the ``contention`` fixture holds each
request there until all have read): the unique constraint decides, and a deployment upsert
that loses becomes an update (200), a pool or queue create that loses is a 409, never a 500.
On SQLite the single writer runs them one after another: the same outcome, with no race
(the test ids say ``[race]`` or ``[serialised]``)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from race_helpers import Contention

from flowyard.server.queries import deployments as deployment_queries
from flowyard.server.queries import work_pools as pool_queries

N = 5


async def test_deployment_upserts_sent_at_once_make_one_deployment(
    client: httpx.AsyncClient, contention: Contention
) -> None:
    flow_id = (await client.post("/flows/", json={"name": "racy"})).json()["id"]
    await client.post("/work_pools/", json={"name": "pool", "type": "process"})
    # _link_work_pool runs after the existing deployment is looked up, before the insert.
    gate = contention.hold(deployment_queries, "_link_work_pool", N)
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
    assert gate.met is contention.racing
    assert all(a.status_code in (200, 201) for a in answers), [a.text for a in answers]
    assert sorted(a.status_code for a in answers) == [200] * (N - 1) + [201]
    assert len({a.json()["id"] for a in answers}) == 1
    assert (await client.post("/deployments/count", json={})).json() == 1
    [deployment] = (await client.post("/deployments/filter", json={})).json()
    assert deployment["tags"] in [[f"t{i}"] for i in range(N)]
    assert len(deployment["schedules"]) == 1


async def test_work_pool_creates_sent_at_once_make_one_pool_and_409s(
    client: httpx.AsyncClient, contention: Contention
) -> None:
    gate = contention.hold(pool_queries, "read_work_pool_by_name", N)
    body = {"name": "pool", "type": "process"}
    answers = await asyncio.gather(*(client.post("/work_pools/", json=body) for _ in range(N)))
    assert gate.met is contention.racing
    assert sorted(a.status_code for a in answers) == [201] + [409] * (N - 1), [
        a.text for a in answers
    ]
    assert all("already exists" in a.json()["detail"] for a in answers if a.status_code == 409)
    contention.release()
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


async def test_work_queue_creates_sent_at_once_make_one_queue_and_409s(
    client: httpx.AsyncClient, contention: Contention
) -> None:
    await client.post("/work_pools/", json={"name": "pool", "type": "process"})
    gate = contention.hold(pool_queries, "read_work_queue_by_name", N)
    answers = await asyncio.gather(
        *(client.post("/work_pools/pool/queues", json={"name": "q"}) for _ in range(N))
    )
    assert gate.met is contention.racing
    assert sorted(a.status_code for a in answers) == [201] + [409] * (N - 1), [
        a.text for a in answers
    ]
    contention.release()
    queues = (await client.post("/work_pools/pool/queues/filter", json={})).json()
    assert sorted(q["name"] for q in queues) == ["default", "q"]


async def test_queues_without_a_pool_sent_at_once_share_the_default_pool(
    client: httpx.AsyncClient, contention: Contention
) -> None:
    # Racing, every request finds no default-agent-pool and creates it: one wins, the others
    # use it.
    gate = contention.hold(pool_queries, "read_work_pool_by_name", N, answer=None)
    answers = await asyncio.gather(
        *(client.post("/work_queues/", json={"name": f"q{i}"}) for i in range(N))
    )
    assert gate.met is contention.racing
    contention.release()
    assert [a.status_code for a in answers] == [201] * N, [a.text for a in answers]
    assert {a.json()["work_pool_name"] for a in answers} == {"default-agent-pool"}
    assert (await client.post("/work_pools/count", json={})).json() == 1
