"""Which of the ids a request names are objects of a workspace, or of another one.

A body names other objects by id (a run's parent task run, a log's flow run, a deployment's
block documents...). Ids are unique across the server, so an id alone would let a caller
attach its objects to another workspace's; these lookups, by primary key, are what the
application layer checks such ids with (``operations/references.py``).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from flowyard.server.database import orm


async def ids_here(
    session: AsyncSession, workspace_id: uuid.UUID, model: Any, ids: Collection[uuid.UUID]
) -> set[uuid.UUID]:
    """The ``ids`` that name a ``model`` row of this workspace."""
    if not ids:
        return set()
    found = await session.scalars(
        sa.select(model.id).where(model.workspace_id == workspace_id, model.id.in_(list(ids)))
    )
    return set(found)


async def runs_elsewhere(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    flow_run_ids: Collection[uuid.UUID],
    task_run_ids: Collection[uuid.UUID],
) -> tuple[set[uuid.UUID], set[uuid.UUID]]:
    """The flow run ids and the task run ids that name a run of another workspace: one
    statement (a batch of logs names both, and is the hottest write a flow run makes)."""
    parts = [
        sa.select(model.id, sa.literal(kind).label("kind")).where(
            model.workspace_id != workspace_id, model.id.in_(list(ids))
        )
        for model, kind, ids in (
            (orm.FlowRun, "flow", flow_run_ids),
            (orm.TaskRun, "task", task_run_ids),
        )  # fmt: skip
        if ids
    ]
    if not parts:
        return set(), set()
    statement = parts[0] if len(parts) == 1 else sa.union_all(*parts)
    flow_runs: set[uuid.UUID] = set()
    task_runs: set[uuid.UUID] = set()
    for run_id, kind in await session.execute(statement):
        (flow_runs if kind == "flow" else task_runs).add(run_id)
    return flow_runs, task_runs
