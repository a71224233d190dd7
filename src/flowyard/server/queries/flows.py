"""Flows: upsert by name, read, filter, count, update, delete."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from flowyard.schemas import actions, filters
from flowyard.schemas.sorting import FlowSort
from flowyard.server.database import orm
from flowyard.server.database.orm_deployments import Deployment
from flowyard.server.queries.filtering import Condition
from flowyard.server.queries.run_filters import deployment_side, flow_filter, flow_run_conditions
from flowyard.server.queries.upsert import insert_ignore

SORTS: dict[FlowSort, list[Any]] = {
    FlowSort.CREATED_DESC: [orm.Flow.created.desc()],
    FlowSort.UPDATED_DESC: [orm.Flow.updated.desc()],
    FlowSort.NAME_ASC: [orm.Flow.name.asc()],
    FlowSort.NAME_DESC: [orm.Flow.name.desc()],
}


async def create_flow(
    session: AsyncSession, workspace_id: uuid.UUID, flow: actions.FlowCreate
) -> tuple[orm.Flow, bool]:
    """Insert the flow unless one of that name exists. Returns (flow, created)."""
    new_id = uuid.uuid4()
    values = dict(flow.model_dump(), id=new_id, workspace_id=workspace_id)
    await session.execute(insert_ignore(session, orm.Flow, values, ["workspace_id", "name"]))
    row = await read_flow_by_name(session, workspace_id, flow.name)
    assert row is not None
    return row, row.id == new_id


async def read_flow(
    session: AsyncSession, workspace_id: uuid.UUID, flow_id: uuid.UUID
) -> orm.Flow | None:
    return await session.scalar(
        sa.select(orm.Flow).where(orm.Flow.workspace_id == workspace_id, orm.Flow.id == flow_id)
    )


async def read_flow_by_name(
    session: AsyncSession, workspace_id: uuid.UUID, name: str
) -> orm.Flow | None:
    return await session.scalar(
        sa.select(orm.Flow).where(orm.Flow.workspace_id == workspace_id, orm.Flow.name == name)
    )


def flow_conditions(
    workspace_id: uuid.UUID, body: filters.RunFilters, dialect: str
) -> list[Condition]:
    """Flows matching ``body.flows``. As in the contract, the deployments, work-pools and
    work-queues filters select flows having such deployments, and the flow-run and task-run
    filters flows having such runs."""
    conditions = [orm.Flow.workspace_id == workspace_id]
    conditions += flow_filter(body.flows, orm.Flow, workspace_id, dialect)
    queues = body.work_pool_queues or body.work_queues
    if body.deployments is not None or body.work_pools is not None or queues is not None:
        on_deployments = filters.RunFilters(
            deployments=body.deployments, work_pools=body.work_pools, work_pool_queues=queues
        )
        deployment = aliased(Deployment)
        matching = deployment_side(deployment, workspace_id, on_deployments, dialect)
        conditions.append(
            orm.Flow.id.in_(
                sa.select(deployment.flow_id).where(
                    deployment.workspace_id == workspace_id, *matching
                )
            )
        )
    if body.flow_runs is not None or body.task_runs is not None:
        run_side = filters.RunFilters(flow_runs=body.flow_runs, task_runs=body.task_runs)
        runs = flow_run_conditions(workspace_id, run_side, dialect)
        conditions.append(orm.Flow.id.in_(sa.select(orm.FlowRun.flow_id).where(*runs)))
    return conditions


async def read_flows(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    conditions: Sequence[Condition],
    sort: FlowSort | None = FlowSort.NAME_ASC,
    limit: int | None = None,
    offset: int = 0,
) -> Sequence[orm.Flow]:
    order: list[Any] = SORTS[sort or FlowSort.NAME_ASC]
    query = sa.select(orm.Flow).where(*conditions).order_by(*order, orm.Flow.id)
    query = query.limit(limit).offset(offset)
    return (await session.scalars(query)).all()


async def count_flows(session: AsyncSession, conditions: Sequence[Condition]) -> int:
    query = sa.select(sa.func.count()).select_from(orm.Flow).where(*conditions)
    return await session.scalar(query) or 0


async def update_flow(
    session: AsyncSession, workspace_id: uuid.UUID, flow_id: uuid.UUID, update: actions.FlowUpdate
) -> bool:
    values = update.model_dump(exclude_unset=True)
    if not values:
        return await read_flow(session, workspace_id, flow_id) is not None
    result = await session.execute(
        sa.update(orm.Flow)
        .where(orm.Flow.workspace_id == workspace_id, orm.Flow.id == flow_id)
        .values(**values)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def read_flow_ids(
    session: AsyncSession, conditions: Sequence[Condition], limit: int
) -> list[uuid.UUID]:
    query = sa.select(orm.Flow.id).where(*conditions).order_by(orm.Flow.id).limit(limit)
    return list((await session.scalars(query)).all())


async def read_flows_by_ids(
    session: AsyncSession, workspace_id: uuid.UUID, flow_ids: Sequence[uuid.UUID]
) -> Sequence[orm.Flow]:
    if not flow_ids:
        return []
    query = sa.select(orm.Flow).where(
        orm.Flow.workspace_id == workspace_id, orm.Flow.id.in_(flow_ids)
    )
    return (await session.scalars(query.order_by(orm.Flow.id))).all()


async def deployments_of_flows(
    session: AsyncSession, workspace_id: uuid.UUID, flow_ids: Sequence[uuid.UUID]
) -> list[tuple[uuid.UUID, str, uuid.UUID]]:
    """(id, name, flow id) of the deployments of these flows: they go with them."""
    if not flow_ids:
        return []
    rows = await session.execute(
        sa.select(Deployment.id, Deployment.name, Deployment.flow_id)
        .where(Deployment.workspace_id == workspace_id, Deployment.flow_id.in_(flow_ids))
        .order_by(Deployment.id)
    )
    return [(row.id, row.name, row.flow_id) for row in rows]


async def delete_flows(
    session: AsyncSession, workspace_id: uuid.UUID, flow_ids: Sequence[uuid.UUID]
) -> list[uuid.UUID]:
    """Delete these flows (those in the workspace) with their deployments and runs (the
    foreign keys cascade) and their runs' logs; returns the deleted ids."""
    if not flow_ids:
        return []
    # Logs reference runs without a foreign key (they may arrive before the run).
    runs = sa.select(orm.FlowRun.id).where(
        orm.FlowRun.workspace_id == workspace_id, orm.FlowRun.flow_id.in_(flow_ids)
    )
    await session.execute(
        sa.delete(orm.Log).where(
            orm.Log.workspace_id == workspace_id, orm.Log.flow_run_id.in_(runs)
        )
    )
    deleted = await session.scalars(
        sa.delete(orm.Flow)
        .where(orm.Flow.workspace_id == workspace_id, orm.Flow.id.in_(flow_ids))
        .returning(orm.Flow.id)
    )
    return list(deleted.all())
