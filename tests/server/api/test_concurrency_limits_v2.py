import asyncio
import datetime as dt
import uuid
from typing import Any

import httpx
import sqlalchemy as sa
from fastapi import FastAPI
from race_helpers import Contention

from flowyard.server.database import orm
from flowyard.server.database.engine import Database
from flowyard.server.queries import concurrency_limits as limit_queries
from flowyard.server.services.concurrency_leases import reap_expired_leases

BASE = "/v2/concurrency_limits"


async def _create(client: httpx.AsyncClient, name: str, limit: int, **extra: Any) -> dict[str, Any]:
    response = await client.post(f"{BASE}/", json={"name": name, "limit": limit, **extra})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def _take(
    client: httpx.AsyncClient, *names: str, slots: int = 1, **extra: Any
) -> httpx.Response:
    body = {"names": list(names), "slots": slots, "mode": "concurrency", **extra}
    return await client.post(f"{BASE}/increment-with-lease", json=body)


async def _active(client: httpx.AsyncClient, name: str) -> int:
    slots: int = (await client.get(f"{BASE}/{name}")).json()["active_slots"]
    return slots


async def _expire_leases(db: Database) -> None:
    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    async with db.write() as session:
        await session.execute(sa.update(orm.ConcurrencyLease).values(expiration=past))


async def test_create_read_update_delete(client: httpx.AsyncClient) -> None:
    missing = await client.get(f"{BASE}/gcl-demo")
    assert missing.status_code == 404 and missing.json() == {
        "detail": "Concurrency Limit not found"
    }
    created = await _create(client, "gcl-demo", 1)
    assert created["active_slots"] == 0 and created["avg_slot_occupancy_seconds"] == 2.0
    assert (await client.post(f"{BASE}/", json={"name": "gcl-demo", "limit": 5})).status_code == 409
    assert (await client.get(f"{BASE}/{created['id']}")).json()["name"] == "gcl-demo"
    patched = await client.patch(f"{BASE}/gcl-demo", json={"limit": 4, "name": "renamed"})
    assert patched.status_code == 204
    assert (await client.get(f"{BASE}/renamed")).json()["limit"] == 4
    await _create(client, "other", 1)
    assert (await client.patch(f"{BASE}/other", json={"name": "renamed"})).status_code == 409
    listed = (await client.post(f"{BASE}/filter", json={"limit": 10, "offset": 0})).json()
    assert [limit["name"] for limit in listed] == ["other", "renamed"]
    assert (await client.delete(f"{BASE}/{created['id']}")).status_code == 204
    assert (await client.delete(f"{BASE}/renamed")).status_code == 404


async def test_bad_input_names_the_field(client: httpx.AsyncClient) -> None:
    bad_name = await client.post(f"{BASE}/", json={"name": "a/b", "limit": 1})
    assert bad_name.status_code == 422 and "name" in bad_name.json()["detail"]
    negative = await client.post(f"{BASE}/", json={"name": "ok", "limit": -1})
    assert negative.status_code == 422 and "limit" in negative.json()["detail"]
    short = await _take(client, "x", lease_duration=5)
    assert short.status_code == 422 and "lease_duration" in short.json()["detail"]
    assert (await client.post(f"{BASE}/filter", json={})).json() == []


async def test_unknown_names_succeed_with_no_limits(client: httpx.AsyncClient) -> None:
    holder = {"type": "task_run", "id": str(uuid.uuid4())}
    response = await _take(client, "tag:no-limit-tag", lease_duration=60, holder=holder)
    assert response.status_code == 200
    assert response.json()["limits"] == [] and uuid.UUID(response.json()["lease_id"])


async def test_a_full_limit_answers_423_until_a_lease_is_released(
    client: httpx.AsyncClient,
) -> None:
    limit = await _create(client, "tag:db", 1)
    first = await _take(client, "tag:db", lease_duration=60)
    assert first.status_code == 200
    assert first.json()["limits"] == [{"id": limit["id"], "name": "tag:db", "limit": 1}]
    assert await _active(client, "tag:db") == 1
    locked = await _take(client, "tag:db")
    assert locked.status_code == 423 and locked.json() == {"detail": "Locked"}
    assert float(locked.headers["Retry-After"]) > 0
    assert (await client.get(f"{BASE}/tag:db")).json()["denied_slots"] == 1
    release = {"lease_id": first.json()["lease_id"]}
    assert (await client.post(f"{BASE}/decrement-with-lease", json=release)).status_code == 204
    assert await _active(client, "tag:db") == 0
    # Releasing twice is harmless and gives nothing back twice.
    assert (await client.post(f"{BASE}/decrement-with-lease", json=release)).status_code == 204
    assert (await _take(client, "tag:db")).status_code == 200
    assert await _active(client, "tag:db") == 1


async def test_several_limits_are_taken_all_or_nothing(client: httpx.AsyncClient) -> None:
    await _create(client, "small", 1)
    await _create(client, "big", 5)
    assert (await _take(client, "small")).status_code == 200
    assert (await _take(client, "small", "big")).status_code == 423
    assert await _active(client, "big") == 0
    too_many = await _take(client, "big", slots=6)
    assert too_many.status_code == 422 and "slots" in too_many.json()["detail"]


async def test_an_inactive_limit_is_ignored(client: httpx.AsyncClient) -> None:
    await _create(client, "paused", 1, active=False)
    for _ in range(3):
        response = await _take(client, "paused")
        assert response.status_code == 200 and response.json()["limits"] == []


async def test_increments_sent_at_once_never_exceed_the_limit(
    client: httpx.AsyncClient, contention: Contention
) -> None:
    """Racing (PostgreSQL), all eight reach the limit's row together; its lock lets them
    count one at a time: three slots, three leases, five 423s."""
    await _create(client, "race", 3)
    gate = contention.hold(limit_queries, "lock_active_limits", 8)
    responses = await asyncio.gather(*(_take(client, "race") for _ in range(8)))
    assert gate.met is contention.racing
    assert sorted(r.status_code for r in responses) == [200] * 3 + [423] * 5
    contention.release()
    assert await _active(client, "race") == 3


async def test_leases_renew_until_they_expire_and_then_release_their_slots(
    client: httpx.AsyncClient, db: Database
) -> None:
    await _create(client, "leased", 2)
    lease_id = (await _take(client, "leased", slots=2)).json()["lease_id"]
    renew = f"{BASE}/leases/{lease_id}/renew"
    assert (await client.post(renew, json={"lease_duration": 60})).status_code == 204
    await _expire_leases(db)
    assert (await client.post(renew, json={"lease_duration": 60})).status_code == 404
    # The next increment sweeps expired leases before checking the limit.
    assert (await _take(client, "leased", slots=2)).status_code == 200
    await _expire_leases(db)
    assert await reap_expired_leases(db) == 1
    assert await _active(client, "leased") == 0
    assert (await client.post(f"{BASE}/leases/{uuid.uuid4()}/renew", json={})).status_code == 404


async def test_increment_and_decrement_without_a_lease(client: httpx.AsyncClient) -> None:
    await _create(client, "plain", 2)
    body = {"names": ["plain", "unknown"], "slots": 2}
    taken = await client.post(f"{BASE}/increment", json=body)
    assert taken.status_code == 200 and [r["name"] for r in taken.json()] == ["plain"]
    assert (await client.post(f"{BASE}/increment", json={**body, "slots": 1})).status_code == 423
    given = await client.post(f"{BASE}/decrement", json={**body, "occupancy_seconds": 10.0})
    assert given.status_code == 200
    limit = (await client.get(f"{BASE}/plain")).json()
    assert limit["active_slots"] == 0 and limit["avg_slot_occupancy_seconds"] > 2.0


async def test_rate_limits_decay_over_time(
    client: httpx.AsyncClient, db: Database, app: FastAPI
) -> None:
    # One slot per 100 s: however slow the machine, no slot decays between two requests.
    await _create(client, "api-calls", 2, slot_decay_per_second=0.01)
    rate = {"names": ["api-calls"], "slots": 2, "mode": "rate_limit"}
    assert (await client.post(f"{BASE}/increment", json=rate)).status_code == 200
    locked = await client.post(f"{BASE}/increment", json={**rate, "slots": 1})
    assert locked.status_code == 423 and 0 < float(locked.headers["Retry-After"]) <= 100
    # Pretend the slots were taken 150 s ago: one has decayed.
    async with db.write() as session:
        earlier = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=150)
        await session.execute(sa.update(orm.ConcurrencyLimit).values(updated=earlier))
    assert await _active(client, "api-calls") == 1
    assert (await client.post(f"{BASE}/increment", json={**rate, "slots": 1})).status_code == 200
    assert await _active(client, "api-calls") == 2
    await _create(client, "no-decay", 2)
    refused = await client.post(f"{BASE}/increment", json={**rate, "names": ["no-decay"]})
    assert refused.status_code == 422 and "mode" in refused.json()["detail"]


async def _decay_clock(db: Database, name: str) -> tuple[int, dt.datetime]:
    async with db.read() as session:
        row = await session.scalar(
            sa.select(orm.ConcurrencyLimit).where(orm.ConcurrencyLimit.name == name)
        )
        assert row is not None
        return row.active_slots, row.updated


async def test_rate_limit_spacing_follows_the_configured_rate(
    client: httpx.AsyncClient, db: Database
) -> None:
    # The README's example (5 slots decaying at 2 per second let a call through every 0.5 s)
    # slowed a hundredfold: a slot every 50 s, so that however slowly this test runs it
    # never crosses a slot boundary it did not set up itself.
    await _create(client, "api", 5, slot_decay_per_second=0.02)
    rate = {"names": ["api"], "slots": 1, "mode": "rate_limit"}
    for _ in range(5):
        assert (await client.post(f"{BASE}/increment", json=rate)).status_code == 200
    start = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=40)
    async with db.write() as session:
        await session.execute(sa.update(orm.ConcurrencyLimit).values(updated=start))
    # Waiting callers are refused, and their refusals do not move the decay clock.
    for _ in range(3):
        refused = await client.post(f"{BASE}/increment", json=rate)
        assert refused.status_code == 423
        assert 0 < float(refused.headers["Retry-After"]) <= 50
    assert await _decay_clock(db, "api") == (5, start)
    # 125 s after the clock started, two slots have decayed (one every 50 s); the 25 s left
    # over count towards the next one.
    async with db.write() as session:
        start = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=125)
        await session.execute(sa.update(orm.ConcurrencyLimit).values(updated=start))
    assert await _active(client, "api") == 3
    assert (await client.post(f"{BASE}/increment", json=rate)).status_code == 200
    active, clock = await _decay_clock(db, "api")
    assert active == 4 and clock == start + dt.timedelta(seconds=100)


async def test_the_fastest_decay_over_years_reads_and_takes_without_overflow(
    client: httpx.AsyncClient, db: Database
) -> None:
    """Found by the contract test: a huge rate times the time since the last write was
    more than an integer holds (a 500 when the limits were listed)."""
    too_fast = {"name": "too-fast", "limit": 5, "slot_decay_per_second": 1e300}
    assert (await client.post("/v2/concurrency_limits/", json=too_fast)).status_code == 422
    body = {"name": "fastest", "limit": 5, "active_slots": 5, "slot_decay_per_second": 1e6}
    created = (await client.post("/v2/concurrency_limits/", json=body)).json()
    async with db.write() as session:
        await session.execute(
            sa.update(orm.ConcurrencyLimit)
            .where(orm.ConcurrencyLimit.id == uuid.UUID(created["id"]))
            .values(updated=dt.datetime(1990, 1, 1, tzinfo=dt.UTC))
        )
    listed = (await client.post("/v2/concurrency_limits/filter", json={})).json()
    assert [(c["name"], c["active_slots"]) for c in listed] == [("fastest", 0)]
    taken = await client.post(
        "/v2/concurrency_limits/increment", json={"names": ["fastest"], "slots": 5}
    )
    assert taken.status_code == 200, taken.text
