import asyncio
import datetime as dt
import uuid

import httpx
import sqlalchemy as sa
from fastapi import FastAPI

from flowyard.server.database import orm
from flowyard.server.database.engine import Database
from flowyard.server.services import concurrency_leases
from flowyard.server.services.registry import services

BASE = "/v2/concurrency_limits"


async def test_the_reaper_gives_back_slots_of_expired_leases(
    client: httpx.AsyncClient, app: FastAPI, db: Database
) -> None:
    assert concurrency_leases.start in services()
    await client.post(f"{BASE}/", json={"name": "held", "limit": 5})
    for _ in range(3):
        taken = await client.post(
            f"{BASE}/increment-with-lease", json={"names": ["held"], "slots": 1}
        )
        assert taken.status_code == 200
    keep = taken.json()["lease_id"]
    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    async with db.write() as session:
        await session.execute(
            sa.update(orm.ConcurrencyLease)
            .where(orm.ConcurrencyLease.id != uuid.UUID(keep))
            .values(expiration=past)
        )
    stop = await concurrency_leases.start(app, interval=0.01)
    try:
        # Generous: a loaded machine may take seconds to run a pass (no timing is asserted).
        for _ in range(6000):
            if (await client.get(f"{BASE}/held")).json()["active_slots"] == 1:
                break
            await asyncio.sleep(0.01)
    finally:
        await stop()
    assert (await client.get(f"{BASE}/held")).json()["active_slots"] == 1
    async with db.read() as session:
        assert list(await session.scalars(sa.select(orm.ConcurrencyLease.id))) == [uuid.UUID(keep)]
