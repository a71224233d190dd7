"""A write waits a bounded time for the database writer, then answers 503 with Retry-After,
having written nothing; it never queues behind a stalled transaction for as long as that
stalls.

SQLite: the bound is on this process's one writer (another long write transaction holds
it). PostgreSQL: on a connection from the pool, then on each row lock (``lock_timeout``);
here a long transaction holds the row the request changes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
import sqlalchemy as sa

from flowyard.server.app import create_app
from flowyard.server.database import orm
from flowyard.server.database.engine import Database
from flowyard.server.errors import Unavailable
from flowyard.settings import Settings

WAIT = 0.2


@pytest.fixture
async def impatient(settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, Database]]:
    db = Database(settings.resolved_database_url, write_wait_seconds=WAIT)
    app = create_app(settings, database=db, services=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test/api") as client:
            yield client, db
    await db.dispose()


async def test_a_write_that_cannot_get_the_writer_answers_503_and_writes_nothing(
    impatient: tuple[httpx.AsyncClient, Database],
) -> None:
    client, db = impatient
    flow = (await client.post("/flows/", json={"name": "f", "tags": ["before"]})).json()
    held, release = asyncio.Event(), asyncio.Event()

    async def long_transaction() -> None:
        async with db.write() as session:
            await session.execute(sa.update(orm.Flow).values(tags=["held"]))
            held.set()
            await release.wait()

    holder = asyncio.create_task(long_transaction())
    await held.wait()
    # Only so that a write without a bound fails this test instead of hanging it: the
    # holder gives up long after the bound has refused the request.
    asyncio.get_running_loop().call_later(60, release.set)
    refused = await client.patch(f"/flows/{flow['id']}", json={"tags": ["refused"]})
    release.set()
    await holder

    assert refused.status_code == 503, refused.text
    assert int(refused.headers["Retry-After"]) >= 1
    assert "busy" in refused.json()["detail"]
    assert (await client.get(f"/flows/{flow['id']}")).json()["tags"] == ["held"]
    async with db.read() as session:
        updated = await session.scalar(
            sa.select(sa.func.count())
            .select_from(orm.Event)
            .where(orm.Event.event == "prefect.flow.updated")
        )
    assert updated == 0  # its event went with it
    # Once the writer is free, the same write goes through.
    accepted = await client.patch(f"/flows/{flow['id']}", json={"tags": ["later"]})
    assert accepted.status_code == 204


async def test_the_writer_is_free_again_after_a_refusal(
    impatient: tuple[httpx.AsyncClient, Database],
) -> None:
    _, db = impatient
    if not db.is_sqlite:
        pytest.skip("the single writer is SQLite's; PostgreSQL waits on row locks")
    async with db.write():
        with pytest.raises(Unavailable):
            async with db.write():
                pass
    async with db.write() as session:  # not left locked by the refused one
        await session.execute(sa.select(1))
