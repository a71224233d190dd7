"""Reading back the lifecycle events an operation stored with its change."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from flowyard.server.database import orm
from flowyard.server.database.engine import Database


async def stored(db: Database, prefix: str = "prefect.") -> list[orm.Event]:
    """Stored events whose name starts with ``prefix``, oldest first."""
    async with db.read() as session:
        rows = await session.scalars(
            sa.select(orm.Event)
            .where(orm.Event.event.startswith(prefix))
            .order_by(orm.Event.occurred, orm.Event.id)
        )
        return list(rows)


async def names(db: Database, prefix: str = "prefect.") -> list[str]:
    return [event.event for event in await stored(db, prefix)]


async def only(db: Database, name: str) -> orm.Event:
    """The one stored event called ``name``."""
    found = [event for event in await stored(db, name) if event.event == name]
    assert len(found) == 1, f"{len(found)} events {name!r}: {[e.payload for e in found]}"
    return found[0]


async def everything_stored(db: Database) -> str:
    """Every stored event, whole, as one text: a secret must appear nowhere in it."""
    events = await stored(db, "")
    return json.dumps(
        [
            {"event": e.event, "resource": e.resource, "related": e.related, "payload": e.payload}
            for e in events
        ],
        default=str,
    )


def related_ids(event: orm.Event) -> dict[str, str]:
    """role -> resource id of the event's related resources."""
    return {r["prefect.resource.role"]: r["prefect.resource.id"] for r in event.related}


def payload(event: orm.Event) -> dict[str, Any]:
    return dict(event.payload)
