"""The scheduler: cron across DST changes, intervals with an anchor, rrules, the bounds
on count and horizon, and two schedulers racing on one database never creating two runs
for one slot (on SQLite and on PostgreSQL, whichever the suite runs on)."""

from __future__ import annotations

import asyncio
import datetime as dt
import zoneinfo
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from flowyard.schemas.schedules import CronSchedule, IntervalSchedule, RRuleSchedule
from flowyard.server.database import orm
from flowyard.server.database.engine import Database
from flowyard.server.schedules import next_times
from flowyard.server.services import scheduler

NY = zoneinfo.ZoneInfo("America/New_York")
UTC = dt.UTC


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def local(times: list[dt.datetime]) -> list[str]:
    return [t.astimezone(NY).strftime("%m-%d %H:%M %Z") for t in times]


def test_cron_2am_new_york_across_spring_forward() -> None:
    schedule = CronSchedule(cron="0 2 * * *", timezone="America/New_York")
    times = next_times(schedule, utc(2026, 3, 7), utc(2026, 3, 11), 10)
    # 2026-03-08 02:00 does not exist in New York: that day runs at 03:00 EDT, once.
    assert local(times) == [
        "03-07 02:00 EST",
        "03-08 03:00 EDT",
        "03-09 02:00 EDT",
        "03-10 02:00 EDT",
    ]
    assert [t.hour for t in times] == [7, 7, 6, 6]  # in UTC


def test_cron_2am_new_york_across_fall_back() -> None:
    schedule = CronSchedule(cron="0 2 * * *", timezone="America/New_York")
    times = next_times(schedule, utc(2026, 10, 31), utc(2026, 11, 3), 10)
    assert local(times) == ["10-31 02:00 EDT", "11-01 02:00 EST", "11-02 02:00 EST"]
    # 01:30 happens twice on 2026-11-01: it runs once, at the first.
    twice = CronSchedule(cron="30 1 * * *", timezone="America/New_York")
    times = next_times(twice, utc(2026, 11, 1), utc(2026, 11, 2, 12), 10)
    assert local(times) == ["11-01 01:30 EDT", "11-02 01:30 EST"]


def test_cron_fields_and_day_or() -> None:
    every_15 = CronSchedule(cron="*/15 9-10 * * MON-FRI")
    times = next_times(every_15, utc(2026, 11, 27, 10, 50), utc(2026, 12, 1), 100)
    # Friday 27th 10:50 -> 11th slot; then Monday 30th 09:00..10:45
    assert [t.strftime("%d %H:%M") for t in times] == [
        "30 09:00", "30 09:15", "30 09:30", "30 09:45",
        "30 10:00", "30 10:15", "30 10:30", "30 10:45",
    ]  # fmt: skip
    either = CronSchedule(cron="0 0 1 * SUN")  # the 1st OR a Sunday
    both = CronSchedule(cron="0 0 1 * SUN", day_or=False)  # a Sunday that is the 1st
    start, end = utc(2026, 1, 1), utc(2026, 12, 31)
    assert len(next_times(either, start, end, 1000)) == 12 + 52 - 3
    assert [t.date() for t in next_times(both, start, end, 100)] == [
        dt.date(2026, 2, 1),
        dt.date(2026, 3, 1),
        dt.date(2026, 11, 1),
    ]


def test_interval_with_anchor_and_whole_days_in_a_timezone() -> None:
    every_90s = IntervalSchedule(interval=90, anchor_date=utc(2026, 1, 1, 0, 0, 10))
    times = next_times(every_90s, utc(2026, 6, 1), utc(2026, 6, 2), 3)
    assert [t.strftime("%H:%M:%S") for t in times] == ["00:00:10", "00:01:40", "00:03:10"]
    daily = IntervalSchedule(
        interval=dt.timedelta(days=1),
        anchor_date=dt.datetime(2026, 3, 1, 9, 0),
        timezone="America/New_York",
    )
    times = next_times(daily, utc(2026, 3, 7), utc(2026, 3, 10), 10)
    assert local(times) == ["03-07 09:00 EST", "03-08 09:00 EDT", "03-09 09:00 EDT"]


def test_rrule_in_a_timezone() -> None:
    mondays = RRuleSchedule(
        rrule="FREQ=WEEKLY;BYDAY=MO;BYHOUR=9;BYMINUTE=0;BYSECOND=0", timezone="America/New_York"
    )
    times = next_times(mondays, utc(2026, 3, 1), utc(2026, 3, 17), 10)
    assert local(times) == ["03-02 09:00 EST", "03-09 09:00 EDT", "03-16 09:00 EDT"]


async def _deployment(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    flow = (await client.post("/flows/", json={"name": "sched"})).json()
    body = {"name": "d", "flow_id": flow["id"], **fields}
    response = await client.post("/deployments/", json=body)
    assert response.status_code == 201, response.text
    deployment: dict[str, Any] = response.json()
    return deployment


async def _slots(db: Database) -> list[tuple[Any, ...]]:
    async with db.read() as session:
        rows = await session.execute(
            sa.select(orm.FlowRun.idempotency_key, orm.FlowRun.expected_start_time).where(
                orm.FlowRun.auto_scheduled.is_(True)
            )
        )
        return [tuple(r) for r in rows]


async def test_bounds_min_runs_and_max_scheduled_runs(
    client: httpx.AsyncClient, db: Database
) -> None:
    yearly = {"schedule": {"cron": "0 0 1 1 *"}}  # nothing within 100 days: still 3 runs
    capped = {"schedule": {"interval": 60}, "max_scheduled_runs": 5}
    every_second = {"schedule": {"interval": 1}}  # the default bound: 100, not an hour's
    deployment = await _deployment(client, schedules=[yearly, capped, every_second])
    schedule_ids = [s["id"] for s in deployment["schedules"]]
    slots = await _slots(db)
    counts = [sum(1 for key, _ in slots if sid in key) for sid in schedule_ids]
    assert counts == [3, 5, 100]
    yearly_times = sorted(when for key, when in slots if schedule_ids[0] in key)
    assert all((w.month, w.day, w.hour) == (1, 1, 0) for w in yearly_times)


@pytest.mark.parametrize("replicas", [2])
async def test_two_schedulers_racing_never_duplicate_a_slot(
    app: FastAPI, client: httpx.AsyncClient, db: Database, replicas: int
) -> None:
    # Paused while created so that the API schedules nothing; then the racing schedulers do.
    for index in range(6):
        flow = (await client.post("/flows/", json={"name": f"race-{index}"})).json()
        body = {
            "name": "d",
            "flow_id": flow["id"],
            "paused": True,
            "schedules": [{"schedule": {"interval": 600}}, {"schedule": {"cron": "*/7 * * * *"}}],
        }
        assert (await client.post("/deployments/", json=body)).status_code == 201
    async with db.write() as session:
        from flowyard.server.database.orm_deployments import Deployment

        await session.execute(sa.update(Deployment).values(paused=False))
    # Separate engines, as two server processes would have.
    others = [Database(db.url) for _ in range(replicas)]
    now = dt.datetime.now(UTC).replace(microsecond=0)
    try:
        for _ in range(3):
            results = await asyncio.gather(*(scheduler.schedule_all(d, now) for d in others))
            assert all(isinstance(r, int) for r in results)
    finally:
        for other in others:
            await other.dispose()
    slots = await _slots(db)
    keys = [key for key, _ in slots]
    assert len(keys) == len(set(keys))
    assert len(keys) == 6 * (100 + 100)  # every slot once: 100 per schedule
    assert sum(results) == 0  # the last round found everything in place


async def test_the_service_restores_missing_runs_and_wakes_on_demand(
    app: FastAPI, client: httpx.AsyncClient, db: Database
) -> None:
    deployment = await _deployment(client, schedules=[{"schedule": {"interval": 3600}}])
    async with db.write() as session:  # as if a run had been deleted by hand
        await session.execute(sa.delete(orm.FlowRun).where(orm.FlowRun.auto_scheduled.is_(True)))
    stop = await scheduler.start(app, interval=3600)  # only its first pass and wake() count
    try:
        for _ in range(400):
            if len(await _slots(db)) == 100:
                break
            await asyncio.sleep(0.05)
        assert len(await _slots(db)) == 100
        async with db.write() as session:
            await session.execute(sa.delete(orm.FlowRun))
        scheduler.wake()
        for _ in range(400):
            if len(await _slots(db)) == 100:
                break
            await asyncio.sleep(0.05)
        assert len(await _slots(db)) == 100
    finally:
        await stop()
    assert deployment["paused"] is False
