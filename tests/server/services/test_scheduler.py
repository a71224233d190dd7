"""The scheduler: cron across DST changes, intervals with an anchor, rrules, the bounds
on count and horizon, and two schedulers racing on one database never creating two runs
for one slot (on SQLite and on PostgreSQL, whichever the suite runs on)."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
import zoneinfo
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from flowyard.schemas.schedules import CronSchedule, IntervalSchedule, RRuleBudget, RRuleSchedule
from flowyard.server.database import orm
from flowyard.server.database.engine import Database
from flowyard.server.orchestration import scheduled_runs
from flowyard.server.queries import schedules as schedule_queries
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


# --- bounded walks: nothing here may hold the event loop ----------------------------------


def stored_rrule(rule: str, timezone: str = "UTC") -> RRuleSchedule:
    # As the scheduler reads a row back: without the never-fires check made on writes.
    return RRuleSchedule.model_validate(
        {"rrule": rule, "timezone": timezone}, context={"stored": True}
    )


def count_months_walked(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    walked = [0]
    tick = RRuleBudget.tick

    def counting(self: RRuleBudget, cost: int = 1) -> None:
        walked[0] += cost
        tick(self, cost)

    monkeypatch.setattr(RRuleBudget, "tick", counting)
    return walked


@pytest.mark.timeout(10)
def test_an_rrule_starting_long_ago_starts_near_now_keeping_its_phase(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    walked = count_months_walked(monkeypatch)
    now = utc(2026, 5, 17, 10, 3, 20)
    # This walked every minute since 2020 (27 s per call, three calls per pass).
    minutely = stored_rrule("DTSTART:20200101T000000\nRRULE:FREQ=MINUTELY")
    assert [t.strftime("%H:%M") for t in next_times(minutely, now, now + HOUR, 3)] == [
        "10:04",
        "10:05",
        "10:06",
    ]
    # Every 7 seconds since 1900: the phase is that of 1900, not of "now".
    start = utc(1900, 1, 1)
    sevens = stored_rrule("DTSTART:19000101T000000\nRRULE:FREQ=SECONDLY;INTERVAL=7")
    times = next_times(sevens, now, now + HOUR, 3)
    assert all((t - start).total_seconds() % 7 == 0 for t in times)
    assert times[0] - now < dt.timedelta(seconds=7) and times[0] >= now
    # Months and years of varying length keep their day: the 31st, February 29th.
    monthly = stored_rrule("DTSTART:20200131T090000\nRRULE:FREQ=MONTHLY")
    assert [t.date().isoformat() for t in next_times(monthly, now, now + 120 * DAY, 3)] == [
        "2026-05-31",
        "2026-07-31",
        "2026-08-31",
    ]
    leap = stored_rrule("DTSTART:20000229T090000\nRRULE:FREQ=YEARLY")
    assert [t.year for t in next_times(leap, now, now + 4000 * DAY, 3)] == [2028, 2032, 2036]
    # A rule with its own zone, and a fortnightly one on a local wall clock.
    ny = stored_rrule("DTSTART;TZID=America/New_York:20200101T093000\nRRULE:FREQ=DAILY")
    assert local(next_times(ny, now, now + 3 * DAY, 2)) == ["05-17 09:30 EDT", "05-18 09:30 EDT"]
    assert walked[0] < 40  # months walked in all: next to now, not since 1900


@pytest.mark.timeout(10)
def test_an_rrule_without_dtstart_keeps_its_phase_whenever_it_is_asked() -> None:
    # It used to start at the minute it was asked: each scheduler pass made new slots.
    hourly = stored_rrule("FREQ=HOURLY")
    first = next_times(hourly, utc(2026, 5, 17, 10, 3, 20), utc(2026, 5, 17, 14), 10)
    later = next_times(hourly, utc(2026, 5, 17, 10, 7, 45), utc(2026, 5, 17, 14), 10)
    assert first == later == [utc(2026, 5, 17, h) for h in (11, 12, 13, 14)]


@pytest.mark.timeout(10)
def test_an_rrule_that_never_fires_ends_its_walk(monkeypatch: pytest.MonkeyPatch) -> None:
    walked = count_months_walked(monkeypatch)
    now = utc(2026, 5, 17)
    for rule in (
        "FREQ=MINUTELY;BYMONTH=2;BYMONTHDAY=31",  # 13.8 s a call
        "DTSTART:20200101T000000\nRRULE:FREQ=MINUTELY;BYMONTH=2;BYMONTHDAY=31",
        "FREQ=YEARLY;BYMONTH=4;BYMONTHDAY=31",
        "FREQ=MINUTELY;COUNT=5",  # ended long ago
        "FREQ=SECONDLY;BYMONTH=2;BYMONTHDAY=30;BYHOUR=23",  # 80,000 steps a day
    ):
        walked[0] = 0
        assert next_times(stored_rrule(rule), now, now + 3650 * DAY, 3) == []
        assert walked[0] <= 12 * 10 + 24 + 60, rule  # bounded by the window, not year 9999
    # A rare rule fires when its day comes (Monday, February 29th 2044), found in bounds.
    rare = stored_rrule("FREQ=DAILY;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO")
    assert next_times(rare, now, now + 7000 * DAY, 1) == [utc(2044, 2, 29)]


@pytest.mark.timeout(10)
def test_an_rrule_that_never_fires_is_refused_naming_the_rule() -> None:
    for rule in (
        "FREQ=MINUTELY;BYMONTH=2;BYMONTHDAY=31",
        "DTSTART:20200101T000000\nRRULE:FREQ=MINUTELY;BYMONTH=2;BYMONTHDAY=30",
        "FREQ=DAILY;COUNT=0",
        "DTSTART:20200101T000000\nRRULE:FREQ=DAILY;UNTIL=20191231T000000",
    ):
        with pytest.raises(ValueError, match="never fires") as refused:
            RRuleSchedule(rrule=rule)
        assert "rrule" in str(refused.value)
    # Searched second by second by dateutil, out of reach of any bound: refused too.
    with pytest.raises(ValueError, match="SECONDLY with BYHOUR or BYMINUTE"):
        RRuleSchedule(rrule="FREQ=SECONDLY;BYMONTH=2;BYMONTHDAY=30;BYHOUR=23")
    RRuleSchedule(rrule="FREQ=SECONDLY;INTERVAL=30")
    RRuleSchedule(rrule="FREQ=DAILY;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO")  # rare, but it fires


@pytest.mark.timeout(10)
def test_interval_and_cron_jump_to_after_arithmetically() -> None:
    # Anchored in year 1 with an odd step: the first slot at or after is exact to the
    # microsecond (a float of seconds since the anchor is not).
    anchor = dt.datetime(1, 1, 1, 0, 0, 0, 1, tzinfo=UTC)
    step = dt.timedelta(seconds=7, microseconds=3)
    odd = IntervalSchedule(interval=step, anchor_date=anchor)
    now = utc(2026, 5, 17, 10, 3, 20)
    micro = (now - anchor) // dt.timedelta(microseconds=1)
    size = step // dt.timedelta(microseconds=1)
    first = anchor + dt.timedelta(microseconds=-(-micro // size) * size)
    assert next_times(odd, now, now + HOUR, 3) == [first, first + step, first + 2 * step]
    daily = IntervalSchedule(
        interval=dt.timedelta(days=1), anchor_date=dt.datetime(1, 1, 1, 9), timezone="Asia/Tokyo"
    )
    assert [t.hour for t in next_times(daily, now, now + 3 * DAY, 3)] == [0, 0, 0]  # 09:00 JST
    never = CronSchedule(cron="0 0 31 2 *")
    assert next_times(never, now, now + 3650 * DAY, 3) == []


HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)


# --- the cost of a pass follows what it inserts, not the deployment's history -------------


async def test_a_pass_looks_up_only_the_slots_it_is_about_to_insert(
    client: httpx.AsyncClient, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    deployment = await _deployment(client, schedules=[{"schedule": {"interval": 3600}}])
    schedule_id = deployment["schedules"][0]["id"]
    # Years of runs this schedule made before, long finished.
    async with db.write() as session:
        run = (
            await session.scalars(sa.select(orm.FlowRun).where(orm.FlowRun.auto_scheduled))
        ).first()
        assert run is not None
        history = [
            {
                "id": uuid.uuid4(),
                "workspace_id": run.workspace_id,
                "flow_id": run.flow_id,
                "deployment_id": run.deployment_id,
                "name": f"old-{index}",
                "state_type": "COMPLETED",
                "auto_scheduled": True,
                "idempotency_key": (
                    f"scheduled {deployment['id']} {schedule_id} "
                    f"{(utc(2020, 1, 1) + index * HOUR).isoformat()}"
                ),
            }
            for index in range(2000)
        ]
        await session.execute(sa.insert(orm.FlowRun), history)
    seen: list[int] = []
    taken_keys = schedule_queries._taken_keys

    async def counting(*args: Any) -> set[str]:
        found = await taken_keys(*args)
        seen.append(len(found))
        return found

    monkeypatch.setattr(schedule_queries, "_taken_keys", counting)
    assert await scheduler.schedule_all(db) == 0  # every slot already has its run
    assert seen == [100]  # the 100 upcoming slots, none of the 2000 old keys
    assert len(await _slots(db)) == 2000 + 100


# --- editing a schedule while a scheduler pass is in flight -------------------------------


@pytest.mark.timeout(60)
@pytest.mark.parametrize("edit", ["retime", "pause"])
async def test_an_edit_racing_a_scheduler_pass_leaves_no_run_of_the_old_timing(
    client: httpx.AsyncClient, db: Database, monkeypatch: pytest.MonkeyPatch, edit: str
) -> None:
    # Made paused, so that only the pass below schedules its runs.
    flow = (await client.post("/flows/", json={"name": "race-edit"})).json()
    body = {"name": "d", "flow_id": flow["id"], "paused": True}
    body["schedules"] = [{"schedule": {"interval": 3600}}]
    deployment = (await client.post("/deployments/", json=body)).json()
    schedule_id = deployment["schedules"][0]["id"]
    async with db.write() as session:
        from flowyard.server.database.orm_deployments import Deployment

        await session.execute(sa.update(Deployment).values(paused=False))

    # The pass stops after inserting its runs, before its commit, until the edit is sent.
    inserted, release = asyncio.Event(), asyncio.Event()
    schedule_runs = scheduled_runs.schedule_runs

    async def held(*args: Any, **kwargs: Any) -> int:
        created = await schedule_runs(*args, **kwargs)
        if not inserted.is_set():
            inserted.set()
            await release.wait()
        return created

    monkeypatch.setattr(scheduled_runs, "schedule_runs", held)
    scheduling = asyncio.create_task(scheduler.schedule_all(db))
    await inserted.wait()
    if edit == "retime":
        url = f"/deployments/{deployment['id']}/schedules/{schedule_id}"
        request = client.patch(url, json={"schedule": {"interval": 7200}})
    else:
        request = client.post(f"/deployments/{deployment['id']}/pause_deployment")
    editing = asyncio.create_task(request)
    # Let the edit run as far as it can (on PostgreSQL: to the deployment's lock) first.
    await asyncio.wait({editing}, timeout=0.5)
    release.set()
    await scheduling
    assert (await editing).status_code in (200, 204)

    slots = await _slots(db)
    if edit == "pause":
        assert slots == []
    else:
        # Every two hours from the anchor (midnight): no run of the hourly timing is left.
        assert len(slots) == 100
        assert all(when.hour % 2 == 0 for _, when in slots)
