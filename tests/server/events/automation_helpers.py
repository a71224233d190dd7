"""Helpers of the trigger-engine tests: an engine on the test app's database, events
committed through the application layer (so the engine sees them as it does in a server),
and what the engine left behind (its events, its firings)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx
import sqlalchemy as sa
from fastapi import FastAPI

from flowyard.schemas import core
from flowyard.server.database import orm
from flowyard.server.database.engine import Database
from flowyard.server.events.triggers import TriggerEngine
from flowyard.server.operations import events as event_operations
from flowyard.server.operations.context import RequestContext
from flowyard.server.services.automations import build_engine


def context(app: FastAPI, workspace_id: uuid.UUID | None = None) -> RequestContext:
    return RequestContext(
        app.state.db,
        workspace_id or app.state.default_workspace_id,
        app.state.default_account_id,
    )


async def engine_for(app: FastAPI, **settings: Any) -> TriggerEngine:
    config = app.state.settings.model_copy(update=settings)
    engine = build_engine(app.state.db, config)
    await engine.start()
    return engine


def event(
    name: str,
    resource_id: str,
    *,
    related: list[dict[str, str]] | None = None,
    occurred: dt.datetime | None = None,
    **labels: str,
) -> core.Event:
    return core.Event(
        id=uuid.uuid4(),
        occurred=occurred or dt.datetime.now(dt.UTC),
        event=name,
        resource={"prefect.resource.id": resource_id, **labels},
        related=related or [],
    )


async def send(
    app: FastAPI, engine: TriggerEngine, *events: core.Event, workspace_id: uuid.UUID | None = None
) -> None:
    """Commit ``events`` (one transaction each) and wait for the engine to evaluate them."""
    for item in events:
        await event_operations.create_events(context(app, workspace_id), [item])
    await engine.drain()


async def create_automation(client: httpx.AsyncClient, trigger: dict[str, Any],
                            actions: list[dict[str, Any]] | None = None,
                            **extra: Any) -> dict[str, Any]:  # fmt: skip
    body = {"name": extra.pop("name", "automation"), "trigger": trigger,
            "actions": actions or [{"type": "do-nothing"}], **extra}  # fmt: skip
    response = await client.post("/automations/", json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def stored_events(db: Database, prefix: str = "prefect.automation.") -> list[core.Event]:
    async with db.read() as session:
        rows = await session.scalars(
            sa.select(orm.Event)
            .where(orm.Event.event.startswith(prefix))
            .order_by(orm.Event.occurred)
        )
        return [core.Event.model_validate(row, from_attributes=True) for row in rows]


async def names(db: Database, prefix: str = "prefect.automation.") -> list[str]:
    return [
        e.event
        for e in await stored_events(db, prefix)
        if e.event not in ("prefect.automation.created", "prefect.automation.updated",
                           "prefect.automation.deleted")
    ]  # fmt: skip


def reactive(expect: list[str], **extra: Any) -> dict[str, Any]:
    return {"type": "event", "posture": "Reactive", "expect": expect, **extra}
