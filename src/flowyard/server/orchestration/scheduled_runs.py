"""Scheduled runs in bulk: the scheduler's way of creating flow runs.

``queries.schedules.missing_runs`` works out which runs a batch of deployments lacks; this
module stores them the way every new flow run is stored, in bulk: the runs in one
statement (``ON CONFLICT DO NOTHING`` on the idempotency key, so a slot another scheduler
took meanwhile is skipped), the Scheduled state of each new one in a second, waiting
workers woken after commit, and one ``prefect.flow-run.Scheduled`` event per new run in the
outbox. The events' related resources come from the deployment rows already in hand (one
query per batch for the flows' names), never from a query per run.

Callers: the scheduler service (a pass over every workspace) and the deployment operations
(a deployment created, changed or resumed gets its runs in the same transaction).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from flowyard.schemas.states import State, StateDetails, StateType
from flowyard.server.database import orm
from flowyard.server.database.orm_deployments import Deployment as DeploymentRow
from flowyard.server.database.orm_deployments import DeploymentSchedule as ScheduleRow
from flowyard.server.database.types import utcnow
from flowyard.server.database.wakeups import notify_after_commit
from flowyard.server.orchestration.instrumentation import related, state_event, tag_resources
from flowyard.server.queries import outbox
from flowyard.server.queries import schedules as schedule_queries
from flowyard.server.queries.run_states import FLOW_RUN_STATE_TABLE, FLOW_RUN_TABLE
from flowyard.server.queries.upsert import dialect_insert


async def schedule_deployment(
    session: AsyncSession, deployment: DeploymentRow, now: dt.datetime | None = None
) -> int:
    """Insert the missing runs of one deployment (none while it is paused); how many."""
    if deployment.paused:
        return 0
    schedules = await schedule_queries.read_schedules(
        session, deployment.workspace_id, deployment.id
    )
    return await schedule_runs(session, [(deployment, schedules)], now or utcnow())


async def schedule_runs(
    session: AsyncSession,
    batch: Sequence[tuple[DeploymentRow, Sequence[ScheduleRow]]],
    now: dt.datetime,
    **bounds: Any,
) -> int:
    """Insert the missing scheduled runs of a batch of deployments; how many were new.
    ``bounds``: see ``queries.schedules.missing_runs``."""
    runs = await schedule_queries.missing_runs(session, batch, now, **bounds)
    return await insert_scheduled_flow_runs(session, runs, [d for d, _ in batch], now)


async def insert_scheduled_flow_runs(
    session: AsyncSession,
    runs: Sequence[dict[str, Any]],
    deployments: Iterable[DeploymentRow],
    now: dt.datetime,
) -> int:
    """Store ``runs`` (flow-run rows in Scheduled, from ``missing_runs``) with their states
    and events; a run whose idempotency key is taken already is skipped. Returns how many
    were new."""
    if not runs:
        return 0
    # executemany of one statement: compiled once and sent by SQLAlchemy's "insertmanyvalues"
    # in multi-row batches, RETURNING only the rows that were new.
    stmt = (
        dialect_insert(session, FLOW_RUN_TABLE)
        .on_conflict_do_nothing(index_elements=["workspace_id", "flow_id", "idempotency_key"])
        .returning(FLOW_RUN_TABLE.c.id)
    )
    inserted = set((await session.execute(stmt, list(runs))).scalars().all())
    if not inserted:
        return 0
    new_runs = [run for run in runs if run["id"] in inserted]
    states = [(run, _scheduled_state(run)) for run in new_runs]
    await session.execute(
        sa.insert(FLOW_RUN_STATE_TABLE), [_state_row(run, state) for run, state in states]
    )
    if any(run["work_queue_id"] for run in new_runs):
        notify_after_commit(session)  # wake workers long-polling their queues
    by_id = {d.id: d for d in deployments}
    flow_names = await _flow_names(session, {run["flow_id"] for run in new_runs})
    # The runs of one deployment share their related resources (flow, deployment, queue,
    # pool, tags): built once per deployment, not once per run.
    shared: dict[Any, list[dict[str, str]]] = {}
    for run, state in states:
        found = shared.get(run["deployment_id"])
        if found is None:
            deployment = by_id.get(run["deployment_id"])
            found = shared[run["deployment_id"]] = _related(
                run, deployment, flow_names.get(run["flow_id"])
            )
        event = state_event("flow-run", run["id"], run["name"], 0, None, state, found)
        outbox.emit(session, run["workspace_id"], event)
    return len(new_runs)


def _scheduled_state(run: Mapping[str, Any]) -> State:
    # The run row already carries its state's id, type, name and timestamp (the
    # denormalised copy); the state row and the event are made from the same values.
    return State(
        id=run["state_id"],
        type=StateType.SCHEDULED,
        name=run["state_name"],
        timestamp=run["state_timestamp"],
        state_details=StateDetails(
            scheduled_time=run["next_scheduled_start_time"], flow_run_id=run["id"]
        ),
    )


def _state_row(run: Mapping[str, Any], state: State) -> dict[str, Any]:
    return {
        "id": state.id,
        "workspace_id": run["workspace_id"],
        "flow_run_id": run["id"],
        "created": state.timestamp,
        "type": state.type.value,
        "name": state.name,
        "timestamp": state.timestamp,
        "message": None,
        "data": None,
        "state_details": state.state_details.model_dump(mode="json"),
    }


async def _flow_names(session: AsyncSession, flow_ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    rows = await session.execute(
        sa.select(orm.Flow.id, orm.Flow.name).where(orm.Flow.id.in_(flow_ids))
    )
    return {flow_id: name for flow_id, name in rows}


def _related(
    run: Mapping[str, Any], deployment: DeploymentRow | None, flow_name: str | None
) -> list[dict[str, str]]:
    """What ``instrumentation.flow_run_related`` lists for a run, from values in hand
    (the same for every run a deployment's schedules make: its queue, pool and tags)."""
    found = [related("flow", run["flow_id"], flow_name)]
    found.append(
        related("deployment", run["deployment_id"], deployment.name if deployment else None)
    )
    if run["work_queue_id"] is not None:
        found.append(related("work-queue", run["work_queue_id"], run["work_queue_name"]))
    if run["work_pool_id"] is not None:
        found.append(related("work-pool", run["work_pool_id"], run["work_pool_name"]))
    found.extend(tag_resources(run["tags"] or ()))
    return found
