"""A deployment's schedules: read, create, update, delete (``/deployments/{id}/schedules``).

Permissions are the deployment's. A change to when a schedule fires takes its waiting runs
away (``queries.schedules``) and makes the new ones in the same transaction
(``orchestration.scheduled_runs``).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from flowyard.schemas.deployments import (
    DeploymentSchedule,
    DeploymentScheduleCreate,
    DeploymentScheduleUpdate,
)
from flowyard.server.database.orm_deployments import Deployment as DeploymentRow
from flowyard.server.database.orm_deployments import DeploymentSchedule as ScheduleRow
from flowyard.server.errors import NotFound
from flowyard.server.operations.context import Tx, operation
from flowyard.server.operations.deployments import NOT_FOUND, READ, UPDATE
from flowyard.server.orchestration import scheduled_runs
from flowyard.server.queries import deployments as deployment_queries
from flowyard.server.queries import schedules as queries


async def _deployment(tx: Tx, deployment_id: uuid.UUID) -> DeploymentRow:
    row = await deployment_queries.read_deployment(tx.session, tx.workspace_id, deployment_id)
    if row is None:
        raise NotFound(NOT_FOUND)
    return row


async def _schedule(tx: Tx, deployment_id: uuid.UUID, schedule_id: uuid.UUID) -> ScheduleRow:
    schedule = await queries.read_schedule(tx.session, deployment_id, schedule_id)
    if schedule is None:
        raise NotFound("Schedule not found.")
    return schedule


@operation(READ)
async def read_schedules(tx: Tx, deployment_id: uuid.UUID) -> list[DeploymentSchedule]:
    await _deployment(tx, deployment_id)
    rows = await queries.read_schedules(tx.session, tx.workspace_id, deployment_id)
    return [queries.schedule_schema(row) for row in rows]


@operation(UPDATE, writes=True)
async def create_schedules(
    tx: Tx, deployment_id: uuid.UUID, creates: Sequence[DeploymentScheduleCreate]
) -> list[DeploymentSchedule]:
    deployment = await _deployment(tx, deployment_id)
    rows = await queries.create_schedules(tx.session, deployment, creates)
    await scheduled_runs.schedule_deployment(tx.session, deployment)
    return [queries.schedule_schema(row) for row in rows]


@operation(UPDATE, writes=True)
async def update_schedule(
    tx: Tx, deployment_id: uuid.UUID, schedule_id: uuid.UUID, update: DeploymentScheduleUpdate
) -> None:
    deployment = await _deployment(tx, deployment_id)
    schedule = await _schedule(tx, deployment_id, schedule_id)
    await queries.update_schedule(tx.session, schedule, update)
    await scheduled_runs.schedule_deployment(tx.session, deployment)


@operation(UPDATE, writes=True)
async def delete_schedule(tx: Tx, deployment_id: uuid.UUID, schedule_id: uuid.UUID) -> None:
    await _deployment(tx, deployment_id)
    schedule = await _schedule(tx, deployment_id, schedule_id)
    await queries.delete_schedule(tx.session, tx.workspace_id, schedule)
