"""The event pipeline: bounded, batched, drained on stop, never sunk by one bad event."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Sequence

import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from flowyard.schemas import core
from flowyard.server.database import orm
from flowyard.server.database.engine import Database
from flowyard.server.events import pipeline as pipeline_module
from flowyard.server.events.pipeline import EventPipeline, Published


def _event(name: str = "test.happened") -> core.Event:
    return core.Event(
        id=uuid.uuid4(),
        occurred=dt.datetime.now(dt.UTC),
        event=name,
        resource={"prefect.resource.id": f"test.thing.{uuid.uuid4()}"},
    )


async def _stored(db: Database) -> set[uuid.UUID]:
    async with db.read() as session:
        return set(await session.scalars(sa.select(orm.Event.id)))


async def test_published_events_are_written_by_drain(app: FastAPI, db: Database) -> None:
    pipeline: EventPipeline = app.state.event_pipeline
    events = [_event() for _ in range(1200)]
    for event in events:
        await pipeline.publish(app.state.default_workspace_id, event)
    await pipeline.drain()
    assert await _stored(db) == {e.id for e in events}
    assert pipeline.pending == 0


async def test_a_full_queue_makes_publishers_wait(app: FastAPI, db: Database) -> None:
    pipeline = EventPipeline(db, queue_size=2, batch_size=10)
    workspace = app.state.default_workspace_id
    await pipeline.publish(workspace, _event())
    await pipeline.publish(workspace, _event())
    third = asyncio.create_task(pipeline.publish(workspace, _event()))
    await asyncio.sleep(0.05)
    assert not third.done()  # backpressure: no room until the consumer runs
    await pipeline.start()
    await asyncio.wait_for(third, timeout=10)
    await pipeline.stop()
    assert len(await _stored(db)) == 3


async def test_stop_drains_everything_first(app: FastAPI, db: Database) -> None:
    pipeline = EventPipeline(db)
    events = [_event() for _ in range(300)]
    for event in events:
        await pipeline.publish(app.state.default_workspace_id, event)
    await pipeline.start()
    await pipeline.stop()
    assert await _stored(db) == {e.id for e in events}


async def test_one_bad_event_does_not_sink_its_batch(
    app: FastAPI, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    poison = _event("test.poison")
    real_write = pipeline_module.write_events

    async def failing_write(session: object, batch: Sequence[Published]) -> None:
        if any(event.id == poison.id for _, event in batch):
            raise RuntimeError("cannot store this one")
        await real_write(session, batch)  # type: ignore[arg-type]

    monkeypatch.setattr(pipeline_module, "write_events", failing_write)
    pipeline = EventPipeline(db)
    good = [_event() for _ in range(5)]
    for event in [*good[:2], poison, *good[2:]]:
        await pipeline.publish(app.state.default_workspace_id, event)
    seen: list[uuid.UUID] = []

    async def listener(batch: Sequence[Published]) -> None:
        seen.extend(event.id for _, event in batch)

    pipeline.add_listener(listener)
    await pipeline.start()
    await pipeline.stop()
    assert await _stored(db) == {e.id for e in good}
    assert sorted(seen) == sorted(e.id for e in good)
