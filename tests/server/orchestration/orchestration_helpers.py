"""Builders shared by the orchestration tests: runs and states without a database for rule
unit tests, and rows in a real database for the entry-point tests."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa

from flowyard.schemas.states import (
    OrchestrationResult,
    State,
    StateCreate,
    StateDetails,
    StateType,
)
from flowyard.server.database import orm
from flowyard.server.database.engine import Database
from flowyard.server.orchestration import transitions
from flowyard.server.orchestration.rules import OrchestrationContext, Policy, Rule, orchestrate

NOW = dt.datetime(2030, 1, 1, 12, 0, tzinfo=dt.UTC)


def ago(seconds: float) -> dt.datetime:
    return NOW - dt.timedelta(seconds=seconds)


def later(seconds: float) -> dt.datetime:
    return NOW + dt.timedelta(seconds=seconds)


class FakeSession:
    """Stands in for an AsyncSession in rule unit tests: keeps added rows, runs no SQL."""

    def __init__(self) -> None:
        self.added: list[Any] = []
        self.sync_session = self  # the outbox keeps emitted events in ``info``
        self.info: dict[str, Any] = {}

    def add(self, row: Any) -> None:
        self.added.append(row)

    async def scalar(self, statement: Any) -> None:
        return None  # names of related objects: none stored here

    @property
    def emitted(self) -> list[Any]:
        return [event for _, event in self.info.get("flowyard.outbox", [])]

    async def flush(self) -> None:
        return None


def _run_columns(overrides: dict[str, Any]) -> dict[str, Any]:
    columns: dict[str, Any] = {
        "id": uuid.uuid4(),
        "workspace_id": uuid.uuid4(),
        "name": "a-run",
        "run_count": 0,
        "total_run_time": 0.0,
        "empirical_policy": {},
        "tags": [],
        "labels": {},
    }
    columns.update(overrides)
    return columns


def flow_run(**overrides: Any) -> orm.FlowRun:
    """A transient flow run (never stored) for rule unit tests."""
    return orm.FlowRun(flow_id=uuid.uuid4(), **_run_columns(overrides))


def task_run(**overrides: Any) -> orm.TaskRun:
    columns = {"task_key": "k", "dynamic_key": "0", "flow_run_run_count": 0, "flow_run_id": None}
    columns.update(overrides)
    return orm.TaskRun(**_run_columns(columns))


def state(
    type: StateType,
    name: str | None = None,
    *,
    timestamp: dt.datetime | None = None,
    data: Any = None,
    message: str | None = None,
    **details: Any,
) -> State:
    return State(
        type=type,
        name=name,
        timestamp=timestamp or ago(60),
        data=data,
        message=message,
        state_details=StateDetails(**details),
    )


def context(
    run: Any, initial: State | None, proposed: State, *, now: dt.datetime = NOW
) -> OrchestrationContext[Any]:
    return OrchestrationContext(FakeSession(), run, initial, proposed, now=now)  # type: ignore[arg-type]


async def apply_rules(
    ctx: OrchestrationContext[Any], *rules: type[Rule[Any]]
) -> OrchestrationContext[Any]:
    """Run the engine with only ``rules`` and no bookkeeping."""
    await orchestrate(ctx, Policy("under-test", rules), ())
    return ctx


# --- real database ---------------------------------------------------------------------


async def create_flow(db: Database, workspace_id: uuid.UUID) -> uuid.UUID:
    async with db.write() as session:
        flow = orm.Flow(
            id=uuid.uuid4(), workspace_id=workspace_id, name=f"flow-{uuid.uuid4().hex[:8]}"
        )
        session.add(flow)
    return flow.id


async def create_flow_run(
    db: Database,
    workspace_id: uuid.UUID,
    initial: StateCreate | None = None,
    *,
    flow_id: uuid.UUID | None = None,
    **columns: Any,
) -> uuid.UUID:
    flow_id = flow_id or await create_flow(db, workspace_id)
    async with db.write() as session:
        run = orm.FlowRun(workspace_id=workspace_id, flow_id=flow_id, name="run", **columns)
        session.add(run)
        await transitions.apply_initial_flow_run_state(session, run, initial)
    return run.id


async def create_task_run(
    db: Database,
    workspace_id: uuid.UUID,
    initial: StateCreate | None = None,
    **columns: Any,
) -> uuid.UUID:
    columns.setdefault("task_key", "task")
    columns.setdefault("dynamic_key", uuid.uuid4().hex)
    async with db.write() as session:
        run = orm.TaskRun(workspace_id=workspace_id, name="task", **columns)
        await transitions.apply_initial_task_run_state(session, run, initial)
    return run.id


def proposal(
    type: StateType, name: str | None = None, *, data: Any = None, **details: Any
) -> StateCreate:
    return StateCreate(type=type, name=name, data=data, state_details=StateDetails(**details))


async def set_flow_state(
    db: Database,
    workspace_id: uuid.UUID,
    run_id: uuid.UUID,
    new: StateCreate,
    *,
    force: bool = False,
) -> OrchestrationResult:
    async with db.write() as session:
        result = await transitions.set_flow_run_state(
            session, workspace_id, run_id, new, force=force
        )
    assert result is not None
    return result


async def set_task_state(
    db: Database,
    workspace_id: uuid.UUID,
    run_id: uuid.UUID,
    new: StateCreate,
    *,
    force: bool = False,
) -> OrchestrationResult:
    async with db.write() as session:
        result = await transitions.set_task_run_state(
            session, workspace_id, run_id, new, force=force
        )
    assert result is not None
    return result


async def read_run(db: Database, model: Any, run_id: uuid.UUID) -> Any:
    async with db.read() as session:
        return await session.get(model, run_id)


async def state_history(db: Database, model: Any, run_id: uuid.UUID) -> list[tuple[str, str]]:
    """(type, name) of every state row of a run, oldest first."""
    key = model.flow_run_id if model is orm.FlowRunState else model.task_run_id
    async with db.read() as session:
        rows = await session.execute(
            sa.select(model.type, model.name).where(key == run_id).order_by(model.timestamp)
        )
        return [(row.type, row.name) for row in rows]
