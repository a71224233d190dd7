"""Leases held on flow runs by the processes executing them, and flow-run inputs.

A process takes its run's lease when the run starts and renews it by heartbeat; the
``run_leases`` service reads the expired ones. One lease per run (a unique key): taking a
lease the run already has renews it, whoever took it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from flowyard.schemas.states import TERMINAL_STATES as TERMINAL
from flowyard.schemas.states import StateType
from flowyard.server.database import orm
from flowyard.server.database.orm_run_leases import FlowRunInput, FlowRunLease
from flowyard.server.database.types import new_id
from flowyard.server.queries.upsert import insert_ignore, insert_or_update

LEASES = cast(sa.Table, FlowRunLease.__table__)
INPUTS = cast(sa.Table, FlowRunInput.__table__)

# The states in which a process is (or may still be) executing the run: a lease is kept.
# Scheduled covers an in-process retry waiting in AwaitingRetry.
HELD_STATES = frozenset(
    {
        StateType.PENDING,
        StateType.RUNNING,
        StateType.PAUSED,
        StateType.CANCELLING,
        StateType.SCHEDULED,
    }
)


@dataclass(frozen=True, slots=True)
class LeaseAnswer:
    """What a heartbeat learns: the run's state now, and the lease's expiration (None when
    the run no longer needs one, e.g. it has finished)."""

    state_type: str | None
    state_name: str | None
    expiration: dt.datetime | None


@dataclass(frozen=True, slots=True)
class ExpiredLease:
    workspace_id: uuid.UUID
    flow_run_id: uuid.UUID
    expiration: dt.datetime
    holder: dict[str, Any] | None


async def _run_state(
    session: AsyncSession, workspace_id: uuid.UUID, flow_run_id: uuid.UUID
) -> tuple[str | None, str | None] | None:
    row = (
        await session.execute(
            sa.select(orm.FlowRun.state_type, orm.FlowRun.state_name).where(
                orm.FlowRun.workspace_id == workspace_id, orm.FlowRun.id == flow_run_id
            )
        )
    ).first()
    return None if row is None else (row[0], row[1])


async def take_lease(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    flow_run_id: uuid.UUID,
    lease_seconds: float,
    holder: dict[str, Any] | None,
    now: dt.datetime,
) -> LeaseAnswer | None:
    """Take or renew the run's lease until ``now + lease_seconds``. None: no such run.

    A run that has finished (or has no state) gets no lease, and any it had is dropped.
    """
    state = await _run_state(session, workspace_id, flow_run_id)
    if state is None:
        return None
    state_type, state_name = state
    if state_type is None or StateType(state_type) not in HELD_STATES:
        await release_lease(session, workspace_id, flow_run_id)
        return LeaseAnswer(state_type, state_name, None)
    expiration = await hold_lease(session, workspace_id, flow_run_id, lease_seconds, holder, now)
    return LeaseAnswer(state_type, state_name, expiration)


async def hold_lease(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    flow_run_id: uuid.UUID,
    lease_seconds: float,
    holder: dict[str, Any] | None,
    now: dt.datetime,
) -> dt.datetime:
    """Take or renew the lease of a run the caller knows is held (one upsert, no read of
    the run's state). Returns the new expiration."""
    expiration = now + dt.timedelta(seconds=lease_seconds)
    values = {
        "id": new_id(),
        "workspace_id": workspace_id,
        "flow_run_id": flow_run_id,
        "created": now,
        "updated": now,
        "expiration": expiration,
        "lease_seconds": lease_seconds,
        "holder": holder,
    }
    await session.execute(
        insert_or_update(
            session,
            FlowRunLease,
            values,
            ["flow_run_id"],
            ["expiration", "lease_seconds", "holder", "updated"],
        )
    )
    return expiration


async def extend_leases(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    flow_run_ids: Sequence[uuid.UUID],
    lease_seconds: float,
    now: dt.datetime,
) -> None:
    """Renew (or take) leases of runs that are Running, for heartbeat events of the
    official client: one statement per batch, never shortening a longer lease."""
    if not flow_run_ids:
        return
    running = (
        await session.scalars(
            sa.select(orm.FlowRun.id).where(
                orm.FlowRun.workspace_id == workspace_id,
                orm.FlowRun.id.in_(list(set(flow_run_ids))),
                orm.FlowRun.state_type == StateType.RUNNING.value,
            )
        )
    ).all()
    if not running:
        return
    expiration = now + dt.timedelta(seconds=lease_seconds)
    rows = [
        {
            "id": new_id(),
            "workspace_id": workspace_id,
            "flow_run_id": run_id,
            "created": now,
            "updated": now,
            "expiration": expiration,
            "lease_seconds": lease_seconds,
            "holder": {"type": "heartbeat-event"},
        }
        for run_id in sorted(running)
    ]
    await session.execute(insert_ignore(session, FlowRunLease, rows, ["flow_run_id"]))
    await session.execute(
        sa.update(LEASES)
        .where(
            LEASES.c.workspace_id == workspace_id,
            LEASES.c.flow_run_id.in_(running),
            LEASES.c.expiration < expiration,
        )
        .values(expiration=expiration, updated=now)
    )


async def release_lease(
    session: AsyncSession, workspace_id: uuid.UUID, flow_run_id: uuid.UUID
) -> bool:
    """Drop the run's lease. False when it had none."""
    result = await session.execute(
        sa.delete(LEASES).where(
            LEASES.c.workspace_id == workspace_id, LEASES.c.flow_run_id == flow_run_id
        )
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def read_lease(
    session: AsyncSession, workspace_id: uuid.UUID, flow_run_id: uuid.UUID
) -> FlowRunLease | None:
    return await session.scalar(
        sa.select(FlowRunLease).where(
            FlowRunLease.workspace_id == workspace_id, FlowRunLease.flow_run_id == flow_run_id
        )
    )


async def live_lease_run_ids(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    flow_run_ids: Sequence[uuid.UUID],
    now: dt.datetime,
) -> set[uuid.UUID]:
    """Which of these runs hold a lease that has not expired."""
    if not flow_run_ids:
        return set()
    rows = await session.scalars(
        sa.select(LEASES.c.flow_run_id).where(
            LEASES.c.workspace_id == workspace_id,
            LEASES.c.flow_run_id.in_(list(flow_run_ids)),
            LEASES.c.expiration > now,
        )
    )
    return set(rows)


async def read_paused_runs(
    session: AsyncSession, workspace_id: uuid.UUID, after: uuid.UUID | None, limit: int
) -> list[tuple[uuid.UUID, dict[str, Any]]]:
    """The next ``limit`` paused runs of the workspace with an id above ``after`` (keyset
    order, so that paging through reaches every one), with their state's details."""
    query = (
        sa.select(orm.FlowRun.id, orm.FlowRunState.state_details)
        .join(
            orm.FlowRunState,
            sa.and_(
                orm.FlowRunState.id == orm.FlowRun.state_id,
                orm.FlowRunState.workspace_id == orm.FlowRun.workspace_id,
            ),
        )
        .where(
            orm.FlowRun.workspace_id == workspace_id,
            orm.FlowRun.state_type == StateType.PAUSED.value,
        )
        .order_by(orm.FlowRun.id)
        .limit(limit)
    )
    if after is not None:
        query = query.where(orm.FlowRun.id > after)
    return [(run_id, details or {}) for run_id, details in (await session.execute(query)).all()]


async def read_expired_leases(
    session: AsyncSession, now: dt.datetime, limit: int
) -> list[ExpiredLease]:
    """Leases that expired before ``now``, oldest first (the expiration index)."""
    rows = await session.execute(
        sa.select(LEASES.c.workspace_id, LEASES.c.flow_run_id, LEASES.c.expiration, LEASES.c.holder)
        .where(LEASES.c.expiration <= now)
        .order_by(LEASES.c.expiration)
        .limit(limit)
    )
    return [ExpiredLease(*row) for row in rows]


async def delete_expired_lease(
    session: AsyncSession, workspace_id: uuid.UUID, flow_run_id: uuid.UUID, now: dt.datetime
) -> bool:
    """Delete the lease if it is still expired (a heartbeat may have renewed it since it was
    read). True: this caller owns the expiry and must settle the run."""
    result = await session.execute(
        sa.delete(LEASES).where(
            LEASES.c.workspace_id == workspace_id,
            LEASES.c.flow_run_id == flow_run_id,
            LEASES.c.expiration <= now,
        )
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


# --- flow-run inputs ----------------------------------------------------------------------


async def create_input(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    flow_run_id: uuid.UUID,
    key: str,
    value: str,
    sender: str | None,
    now: dt.datetime,
    *,
    overwrite: bool = False,
) -> bool:
    """Store ``value`` under ``key``. False when the key is taken (and not ``overwrite``)."""
    values = {
        "id": new_id(),
        "workspace_id": workspace_id,
        "flow_run_id": flow_run_id,
        "created": now,
        "updated": now,
        "key": key,
        "value": value,
        "sender": sender,
    }
    conflict = ["flow_run_id", "key"]
    if overwrite:
        statement = insert_or_update(
            session, FlowRunInput, values, conflict, ["value", "sender", "updated"]
        )
    else:
        statement = insert_ignore(session, FlowRunInput, values, conflict)
    result = await session.execute(statement)
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def read_input(
    session: AsyncSession, workspace_id: uuid.UUID, flow_run_id: uuid.UUID, key: str
) -> FlowRunInput | None:
    return await session.scalar(
        sa.select(FlowRunInput).where(
            FlowRunInput.workspace_id == workspace_id,
            FlowRunInput.flow_run_id == flow_run_id,
            FlowRunInput.key == key,
        )
    )


async def filter_inputs(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    flow_run_id: uuid.UUID,
    prefix: str,
    limit: int,
    exclude_keys: Sequence[str],
) -> Sequence[FlowRunInput]:
    query = sa.select(FlowRunInput).where(
        FlowRunInput.workspace_id == workspace_id,
        FlowRunInput.flow_run_id == flow_run_id,
        FlowRunInput.key.startswith(prefix, autoescape=True),
    )
    if exclude_keys:
        query = query.where(FlowRunInput.key.not_in(list(exclude_keys)))
    query = query.order_by(FlowRunInput.created, FlowRunInput.id).limit(limit)
    return (await session.scalars(query)).all()


async def delete_input(
    session: AsyncSession, workspace_id: uuid.UUID, flow_run_id: uuid.UUID, key: str
) -> bool:
    result = await session.execute(
        sa.delete(INPUTS).where(
            INPUTS.c.workspace_id == workspace_id,
            INPUTS.c.flow_run_id == flow_run_id,
            INPUTS.c.key == key,
        )
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


# --- what a finished run still holds ------------------------------------------------------


async def unfinished_task_run_ids(
    session: AsyncSession, workspace_id: uuid.UUID, flow_run_id: uuid.UUID
) -> list[uuid.UUID]:
    """Task runs of the flow run that have not reached a final state."""
    rows = await session.scalars(
        sa.select(orm.TaskRun.id).where(
            orm.TaskRun.workspace_id == workspace_id,
            orm.TaskRun.flow_run_id == flow_run_id,
            sa.or_(
                orm.TaskRun.state_type.is_(None),
                orm.TaskRun.state_type.not_in([t.value for t in TERMINAL]),
            ),
        )
    )
    return list(rows)


async def unfinished_subflow_runs(
    session: AsyncSession, workspace_id: uuid.UUID, flow_run_id: uuid.UUID
) -> list[tuple[uuid.UUID, str | None]]:
    """(id, infrastructure_pid) of the subflow runs of the flow run that have not finished."""
    tracking = sa.select(orm.TaskRun.id).where(
        orm.TaskRun.workspace_id == workspace_id, orm.TaskRun.flow_run_id == flow_run_id
    )
    rows = await session.execute(
        sa.select(orm.FlowRun.id, orm.FlowRun.infrastructure_pid).where(
            orm.FlowRun.workspace_id == workspace_id,
            orm.FlowRun.parent_task_run_id.in_(tracking.scalar_subquery()),
            orm.FlowRun.state_type.not_in([t.value for t in TERMINAL]),
        )
    )
    return [(row[0], row[1]) for row in rows]


async def release_concurrency_held_by(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    holder_ids: Sequence[uuid.UUID],
    lease_ids: Sequence[uuid.UUID],
    now: dt.datetime,
) -> int:
    """Give back the slots of the v2 concurrency leases whose holder is one of
    ``holder_ids`` (a flow run, its task runs) or whose id is in ``lease_ids`` (a
    deployment slot recorded in the run's state). Returns how many leases were released."""
    from flowyard.server.queries import concurrency_limits

    if not holder_ids and not lease_ids:
        return 0
    lease = orm.ConcurrencyLease
    conditions = []
    if holder_ids:
        conditions.append(lease.holder["id"].as_string().in_([str(i) for i in holder_ids]))
    if lease_ids:
        conditions.append(lease.id.in_(list(lease_ids)))
    found = await session.scalars(
        sa.select(lease.id).where(lease.workspace_id == workspace_id, sa.or_(*conditions))
    )
    released = 0
    for lease_id in sorted(found):
        if await concurrency_limits.release_lease(session, workspace_id, lease_id, now):
            released += 1
    return released


async def release_slots_of_finished_holders(
    session: AsyncSession, workspace_id: uuid.UUID, now: dt.datetime
) -> int:
    """Give back concurrency slots still leased to flow or task runs that have finished
    (a cancelled or crashed run never got to release them). Returns how many leases."""
    lease = orm.ConcurrencyLease
    rows = (
        await session.execute(
            sa.select(lease.id, lease.holder).where(lease.workspace_id == workspace_id)
        )
    ).all()
    by_kind: dict[str, dict[uuid.UUID, list[uuid.UUID]]] = {"flow_run": {}, "task_run": {}}
    for lease_id, holder in rows:
        if not isinstance(holder, dict) or holder.get("type") not in by_kind:
            continue
        try:
            holder_id = uuid.UUID(str(holder.get("id")))
        except ValueError:
            continue
        by_kind[str(holder["type"])].setdefault(holder_id, []).append(lease_id)
    finished: list[uuid.UUID] = []
    for kind, model in (("flow_run", orm.FlowRun), ("task_run", orm.TaskRun)):
        holders = by_kind[kind]
        if not holders:
            continue
        done = await session.scalars(
            sa.select(model.id).where(
                model.workspace_id == workspace_id,
                model.id.in_(list(holders)),
                model.state_type.in_([t.value for t in TERMINAL]),
            )
        )
        for holder_id in done:
            finished += holders[holder_id]
    if not finished:
        return 0
    return await release_concurrency_held_by(session, workspace_id, [], finished, now)


async def flow_run_exists(
    session: AsyncSession, workspace_id: uuid.UUID, flow_run_id: uuid.UUID
) -> bool:
    found = await session.scalar(
        sa.select(orm.FlowRun.id).where(
            orm.FlowRun.workspace_id == workspace_id, orm.FlowRun.id == flow_run_id
        )
    )
    return found is not None
