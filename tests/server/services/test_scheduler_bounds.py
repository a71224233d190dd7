"""How much one deployment, one request and one scheduler pass may schedule, and that a
long pass lets other writes in.

What issue 9 found: 1,000 interval schedules on one deployment made 159,237 runs in the
request that created it, holding the single writer 31 s.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import sqlalchemy as sa

from flowyard.schemas.limits import MAX_SCHEDULES_PER_DEPLOYMENT
from flowyard.server.database import orm
from flowyard.server.database.engine import Database
from flowyard.server.queries.schedules import MAX_RUNS_PER_DEPLOYMENT
from flowyard.server.services import scheduler

EVERY_SECOND = {"schedule": {"interval": 1}}


async def count_runs(db: Database) -> int:
    async with db.read() as session:
        return int(await session.scalar(sa.select(sa.func.count()).select_from(orm.FlowRun)) or 0)


async def deployment(
    client: httpx.AsyncClient, name: str, schedules: list[dict[str, Any]], paused: bool = False
) -> httpx.Response:
    flow = (await client.post("/flows/", json={"name": "f"})).json()
    body = {"name": name, "flow_id": flow["id"], "schedules": schedules, "paused": paused}
    return await client.post("/deployments/", json=body)


async def test_a_deployment_has_at_most_the_bound_of_schedules(
    client: httpx.AsyncClient, db: Database
) -> None:
    too_many = [EVERY_SECOND] * (MAX_SCHEDULES_PER_DEPLOYMENT + 1)
    refused = await deployment(client, "d", too_many, paused=True)
    assert refused.status_code == 422 and "schedules" in refused.json()["detail"]
    assert await count_runs(db) == 0

    made = await deployment(client, "d", [EVERY_SECOND] * (MAX_SCHEDULES_PER_DEPLOYMENT - 1), True)
    assert made.status_code == 201
    path = f"/deployments/{made.json()['id']}/schedules"
    adding = await client.post(path, json=[EVERY_SECOND, EVERY_SECOND])
    assert adding.status_code == 422
    assert f"at most {MAX_SCHEDULES_PER_DEPLOYMENT} schedules" in adding.json()["detail"]
    assert len((await client.get(path)).json()) == MAX_SCHEDULES_PER_DEPLOYMENT - 1
    assert (await client.post(path, json=[EVERY_SECOND])).status_code == 201

    update = {"schedules": [EVERY_SECOND] * (MAX_SCHEDULES_PER_DEPLOYMENT + 1)}
    patched = await client.patch(f"/deployments/{made.json()['id']}", json=update)
    assert patched.status_code == 422


async def test_creating_a_deployment_makes_a_bounded_number_of_runs(
    client: httpx.AsyncClient, db: Database
) -> None:
    # 20 schedules firing every second: 100 runs each is 2,000 runs in one request today.
    made = await deployment(client, "busy", [EVERY_SECOND] * 20)
    assert made.status_code == 201
    assert await count_runs(db) == MAX_RUNS_PER_DEPLOYMENT
    # The soonest slots across the schedules first: none later than the latest one made.
    async with db.read() as session:
        latest = await session.scalar(sa.select(sa.func.max(orm.FlowRun.expected_start_time)))
        earliest = await session.scalar(sa.select(sa.func.min(orm.FlowRun.expected_start_time)))
    assert latest is not None and earliest is not None
    assert (latest - earliest).total_seconds() < MAX_RUNS_PER_DEPLOYMENT / 20 + 2


async def test_a_schedule_may_not_ask_for_more_runs_than_a_deployment_gets(
    client: httpx.AsyncClient,
) -> None:
    asking = {**EVERY_SECOND, "max_scheduled_runs": MAX_RUNS_PER_DEPLOYMENT + 1}
    refused = await deployment(client, "greedy", [asking], paused=True)
    assert refused.status_code == 422 and "max_scheduled_runs" in refused.json()["detail"]


async def test_a_pass_is_bounded_and_writes_in_chunks_that_let_other_writes_in(
    client: httpx.AsyncClient, db: Database
) -> None:
    for name in ("a", "b", "c"):
        # Paused while created: the pass below makes all their runs.
        made = await deployment(client, name, [EVERY_SECOND] * 3, paused=True)
        assert made.status_code == 201
        await client.post(f"/deployments/{made.json()['id']}/resume_deployment")
    async with db.write() as session:
        await session.execute(sa.delete(orm.FlowRun))

    # Each chunk's commit is seen by the listeners: count them.
    commits: list[int] = []

    async def listener(events: Any) -> None:
        commits.append(len(events))

    db.add_commit_listener(listener, announced=False)
    seen_by_other_write: list[int] = []

    async def other_write() -> None:
        # Queued for the writer while the pass holds it (SQLite: one writer; PostgreSQL:
        # the pass's first chunk has committed): gets in between two chunks.
        while not commits and not (db.is_sqlite and db._write_lock.locked()):
            await asyncio.sleep(0)
        async with db.write() as session:
            seen_by_other_write.append(await count_runs_in(session))

    other = asyncio.create_task(other_write())
    made = await scheduler.schedule_all(db, chunk=100, pass_limit=750)
    await other
    db.remove_commit_listener(listener)

    assert made == 750 == await count_runs(db)
    assert commits[:7] == [100] * 7 and commits[7] == 50
    # The other write committed after the first chunk and before the last.
    assert 0 < seen_by_other_write[0] < 750


async def count_runs_in(session: Any) -> int:
    return int(await session.scalar(sa.select(sa.func.count()).select_from(orm.FlowRun)) or 0)
