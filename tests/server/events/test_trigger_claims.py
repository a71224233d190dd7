"""Two server processes on one database: each firing runs its actions once.

Two engines, each with its own ``Database`` (its own pools, as two processes would have),
evaluate the same events at the same moment. On PostgreSQL the bucket row lock and the
unique firing key decide; on SQLite the single writer does.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from automation_helpers import create_automation, event, reactive
from fastapi import FastAPI
from test_automation_actions import deployment, runs_of

from flowyard.server.database.engine import Database
from flowyard.server.events.actions import ActionRunner
from flowyard.server.events.triggers import TriggerEngine
from flowyard.server.queries import automation_state

COMPLETED = "prefect.flow-run.Completed"


@pytest.fixture
async def engines(app: FastAPI) -> AsyncIterator[tuple[TriggerEngine, TriggerEngine]]:
    url = app.state.settings.resolved_database_url
    databases = [Database(url), Database(url)]
    made = tuple(TriggerEngine(db, ActionRunner(db)) for db in databases)
    yield made[0], made[1]
    for db in databases:
        await db.dispose()


async def firings(app: FastAPI, automation_id: str) -> list[str]:
    async with app.state.db.read() as session:
        rows = await automation_state.read_firings(session, uuid.UUID(automation_id))
        return [row.state for row in rows]


async def test_the_same_event_seen_by_two_processes_fires_once(
    app: FastAPI, client: httpx.AsyncClient, engines: tuple[TriggerEngine, TriggerEngine]
) -> None:
    target = await deployment(client, "target")
    action = {"type": "run-deployment", "deployment_id": target["id"]}
    automation = await create_automation(client, reactive([COMPLETED]), [action])
    for engine in engines:
        await engine.refresh()
    batch = [(app.state.default_workspace_id, event(COMPLETED, "prefect.flow-run.x"))]
    await asyncio.gather(*(engine.evaluate(batch) for engine in engines))
    assert await firings(app, automation["id"]) == ["triggered"]
    assert len(await runs_of(client, target["id"])) == 1


async def test_counts_from_two_processes_reach_the_threshold_once(
    app: FastAPI, client: httpx.AsyncClient, engines: tuple[TriggerEngine, TriggerEngine]
) -> None:
    automation = await create_automation(client, reactive([COMPLETED], threshold=2, within=60))
    for engine in engines:
        await engine.refresh()

    def one() -> list[tuple[uuid.UUID, Any]]:
        return [(app.state.default_workspace_id, event(COMPLETED, "prefect.flow-run.x"))]

    # One counted first, so that the pairs that follow race on a bucket that exists (the
    # row lock decides, not the insert of a new bucket).
    await engines[0].evaluate(one())
    for _ in range(3):  # 7 events in windows of 2: three firings whichever counts which
        await asyncio.gather(*(engine.evaluate(one()) for engine in engines))
    assert await firings(app, automation["id"]) == ["triggered"] * 3


async def test_a_proactive_deadline_checked_by_two_processes_fires_once(
    app: FastAPI, client: httpx.AsyncClient, engines: tuple[TriggerEngine, TriggerEngine]
) -> None:
    trigger = {"type": "event", "posture": "Proactive", "expect": ["test.heartbeat"],
               "match": {"prefect.resource.id": "test.worker.*"}, "within": 60}  # fmt: skip
    automation = await create_automation(client, trigger)
    for engine in engines:
        await engine.refresh()
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=61)
    fired = await asyncio.gather(*(engine.check_deadlines(later) for engine in engines))
    assert sorted(fired) == [0, 1]
    assert await firings(app, automation["id"]) == ["triggered"]
