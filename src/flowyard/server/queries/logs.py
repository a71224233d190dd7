"""Logs: bulk insert and filtered reads."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from flowyard.schemas import actions, filters
from flowyard.schemas.sorting import LogSort
from flowyard.server.database import orm
from flowyard.server.database.prepared import Prepared, insert_statement
from flowyard.server.database.types import new_id, utcnow
from flowyard.server.queries.filtering import Condition, compile_filter, like_condition

SORTS: dict[LogSort, list[Any]] = {
    LogSort.TIMESTAMP_ASC: [orm.Log.timestamp.asc(), orm.Log.id.asc()],
    LogSort.TIMESTAMP_DESC: [orm.Log.timestamp.desc(), orm.Log.id.desc()],
}
LOG_TABLE = cast(sa.Table, orm.Log.__table__)
_INSERT_LOGS = Prepared(insert_statement(LOG_TABLE))


async def create_logs(
    session: AsyncSession, workspace_id: uuid.UUID, logs: Sequence[actions.LogCreate]
) -> list[dict[str, Any]]:
    """Insert a batch of logs with one statement. Returns the rows written."""
    if not logs:
        return []
    now = utcnow()
    # Plain dicts on the Core table: no ORM unit of work, no per-row default callables.
    rows = [
        {
            "id": new_id(),
            "workspace_id": workspace_id,
            "created": now,
            "updated": now,
            "name": log.name,
            "level": log.level,
            "message": log.message,
            "timestamp": log.timestamp,
            "flow_run_id": log.flow_run_id,
            "task_run_id": log.task_run_id,
            "worker_id": log.worker_id,
        }
        for log in logs
    ]
    await _INSERT_LOGS.run_many(session, rows)
    return rows


def log_conditions(
    workspace_id: uuid.UUID, log_filter: filters.LogFilter | None, dialect: str
) -> list[Condition]:
    special = {"text": lambda flt: [like_condition(orm.Log.message, flt.query)]}
    return [
        orm.Log.workspace_id == workspace_id,
        *compile_filter(log_filter, orm.Log, dialect, special=special),
    ]


async def read_logs(
    session: AsyncSession,
    conditions: Sequence[Condition],
    sort: LogSort = LogSort.TIMESTAMP_ASC,
    limit: int | None = None,
    offset: int = 0,
) -> Sequence[orm.Log]:
    query = sa.select(orm.Log).where(*conditions).order_by(*SORTS[sort])
    return (await session.scalars(query.limit(limit).offset(offset))).all()


async def count_logs(session: AsyncSession, conditions: Sequence[Condition]) -> int:
    query = sa.select(sa.func.count()).select_from(orm.Log).where(*conditions)
    return await session.scalar(query) or 0


async def read_flow_run_logs_after(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    flow_run_id: uuid.UUID,
    after: tuple[dt.datetime, uuid.UUID] | None,
    limit: int,
) -> Sequence[orm.Log]:
    """The next ``limit`` logs of a flow run after ``after`` (timestamp, id), oldest first:
    keyset pages on the (flow run, timestamp) index, however many logs the run has."""
    query = sa.select(orm.Log).where(
        orm.Log.workspace_id == workspace_id, orm.Log.flow_run_id == flow_run_id
    )
    if after is not None:
        moment, log_id = after
        query = query.where(
            sa.or_(
                orm.Log.timestamp > moment,
                sa.and_(orm.Log.timestamp == moment, orm.Log.id > log_id),
            )
        )
    query = query.order_by(orm.Log.timestamp.asc(), orm.Log.id.asc()).limit(limit)
    return (await session.scalars(query)).all()


async def read_flow_run_name(
    session: AsyncSession, workspace_id: uuid.UUID, flow_run_id: uuid.UUID
) -> str | None:
    name: str | None = await session.scalar(
        sa.select(orm.FlowRun.name).where(
            orm.FlowRun.workspace_id == workspace_id, orm.FlowRun.id == flow_run_id
        )
    )
    return name
