"""Every change commits with its event: stored in the same transaction, handed to the
listeners only after the commit, and never stored when the change rolls back."""

import uuid
from collections.abc import Sequence
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from flowyard.schemas import core
from flowyard.server.database import orm
from flowyard.server.database.engine import Database
from flowyard.server.database.types import utcnow
from flowyard.server.queries import outbox


def _event(name: str = "test.happened") -> core.Event:
    return core.Event(
        id=uuid.uuid4(), occurred=utcnow(), event=name,
        resource={"prefect.resource.id": "test.thing.1"},
    )  # fmt: skip


async def _stored(db: Database, prefix: str = "") -> list[orm.Event]:
    async with db.read() as session:
        rows = await session.scalars(
            sa.select(orm.Event)
            .where(orm.Event.event.startswith(prefix))
            .order_by(orm.Event.occurred)
        )
        return list(rows)


async def test_a_rolled_back_change_stores_no_event(app: FastAPI, db: Database) -> None:
    workspace = app.state.default_workspace_id
    with pytest.raises(RuntimeError):
        async with db.write() as session:
            outbox.emit(session, workspace, _event())
            raise RuntimeError("the change failed")
    assert await _stored(db, "test.") == []
    async with db.write() as session:
        outbox.emit(session, workspace, _event())
    assert len(await _stored(db, "test.")) == 1


async def test_a_rolled_back_savepoint_takes_back_only_its_own_events(
    app: FastAPI, db: Database
) -> None:
    workspace = app.state.default_workspace_id
    kept, dropped = _event("test.kept"), _event("test.dropped")
    async with db.write() as session:
        outbox.emit(session, workspace, kept)
        with pytest.raises(RuntimeError):
            async with session.begin_nested():
                outbox.emit(session, workspace, dropped)
                raise RuntimeError("lost a race")
    assert [row.event for row in await _stored(db, "test.")] == ["test.kept"]


async def test_listeners_see_events_only_after_the_commit(app: FastAPI, db: Database) -> None:
    seen: list[tuple[uuid.UUID, str, int]] = []

    async def listener(batch: Sequence[Any]) -> None:
        # Already committed: a fresh session sees the rows.
        stored = {row.id for row in await _stored(db, "test.")}
        seen.extend((event.id, event.event, int(event.id in stored)) for _, event in batch)

    db.add_commit_listener(listener)
    try:
        first = _event()
        async with db.write() as session:
            outbox.emit(session, app.state.default_workspace_id, first)
            assert seen == []
        with pytest.raises(RuntimeError):
            async with db.write() as session:
                outbox.emit(session, app.state.default_workspace_id, _event())
                raise RuntimeError
    finally:
        db.remove_commit_listener(listener)
    assert seen == [(first.id, "test.happened", 1)]


async def test_flow_run_states_are_events_as_the_official_server_writes_them(
    client: httpx.AsyncClient, db: Database
) -> None:
    flow = (await client.post("/flows/", json={"name": "etl"})).json()
    run = (
        await client.post("/flow_runs/", json={"flow_id": flow["id"], "tags": ["nightly"]})
    ).json()
    running = await client.post(
        f"/flow_runs/{run['id']}/set_state", json={"state": {"type": "RUNNING"}}
    )
    assert running.status_code == 201
    events = await _stored(db, "prefect.flow-run.")
    assert [e.event for e in events] == ["prefect.flow-run.Pending", "prefect.flow-run.Running"]
    pending, started = events
    assert started.id == uuid.UUID(running.json()["state"]["id"])
    assert started.follows == pending.id
    assert started.resource["prefect.resource.id"] == f"prefect.flow-run.{run['id']}"
    assert started.resource["prefect.resource.name"] == run["name"]
    assert started.resource["prefect.state-type"] == "RUNNING"
    assert started.resource["prefect.run-count"] == "1"
    assert {"prefect.resource.id": f"prefect.flow.{flow['id']}", "prefect.resource.role": "flow",
            "prefect.resource.name": "etl"} in started.related  # fmt: skip
    assert {"prefect.resource.id": "prefect.tag.nightly", "prefect.resource.role": "tag"} in (
        started.related
    )
    assert started.payload["intended"] == {"from": "PENDING", "to": "RUNNING"}
    assert started.payload["validated_state"]["type"] == "RUNNING"
    # A transition the policy refuses writes no state, so no event.
    again = await client.post(
        f"/flow_runs/{run['id']}/set_state", json={"state": {"type": "RUNNING"}}
    )
    assert again.json()["status"] != "ACCEPT"
    assert len(await _stored(db, "prefect.flow-run.")) == 2


async def test_announced_events_go_only_to_listeners_that_want_them(
    app: FastAPI, db: Database
) -> None:
    built: list[int] = []
    everything: list[str] = []
    stored_only: list[str] = []
    announced = _event("test.announced")

    def build() -> list[tuple[uuid.UUID, core.Event]]:
        built.append(1)
        return [(app.state.default_workspace_id, announced)]

    async def all_events(batch: Sequence[Any]) -> None:
        everything.extend(event.event for _, event in batch)

    async def stored_events(batch: Sequence[Any]) -> None:
        stored_only.extend(event.event for _, event in batch)

    async def commit_both() -> None:
        async with db.write() as session:
            outbox.emit(session, app.state.default_workspace_id, _event("test.stored"))
            outbox.announce(session, build)

    db.add_commit_listener(stored_events, announced=False)
    try:
        await commit_both()
        assert built == [] and stored_only == ["test.stored"]  # nobody wanted them: not built
        db.add_commit_listener(all_events)
        await commit_both()
    finally:
        db.remove_commit_listener(stored_events)
        db.remove_commit_listener(all_events)
    assert built == [1]
    assert everything == ["test.stored", "test.announced"]
    assert stored_only == ["test.stored", "test.stored"]
    # Announced, never stored.
    assert [row.event for row in await _stored(db, "test.")] == ["test.stored", "test.stored"]
