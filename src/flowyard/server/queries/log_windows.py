"""A window of one run's logs for the run pages: the newest lines (or those before a
cursor), or the lines after a cursor (the live tail), filtered by level and text.

Keyset on (timestamp, id) over the (flow run, timestamp) index: a run with 100,000 lines
costs a page what a run with 100 does. A text search walks that index too, newest first,
until it has a page of matches.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from flowyard.server.database import orm
from flowyard.server.queries.filtering import like_condition

LogKey = tuple[dt.datetime, uuid.UUID]


async def read_log_window(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    flow_run_id: uuid.UUID,
    *,
    task_run_id: uuid.UUID | None,
    min_level: int,
    text: str,
    before: LogKey | None,
    after: LogKey | None,
    limit: int,
) -> Sequence[orm.Log]:
    """With ``after``: the oldest ``limit`` lines after it, oldest first. Otherwise the
    newest ``limit`` lines (before ``before`` if given), newest first."""
    log = orm.Log
    query = sa.select(log).where(log.workspace_id == workspace_id, log.flow_run_id == flow_run_id)
    if task_run_id is not None:
        query = query.where(log.task_run_id == task_run_id)
    if min_level > 0:
        query = query.where(log.level >= min_level)
    if text:
        query = query.where(like_condition(log.message, text))
    if after is not None:
        query = query.where(_later_than(after)).order_by(log.timestamp.asc(), log.id.asc())
    else:
        if before is not None:
            query = query.where(_earlier_than(before))
        query = query.order_by(log.timestamp.desc(), log.id.desc())
    return (await session.scalars(query.limit(limit))).all()


def _later_than(key: LogKey) -> sa.ColumnElement[bool]:
    moment, log_id = key
    return sa.or_(
        orm.Log.timestamp > moment, sa.and_(orm.Log.timestamp == moment, orm.Log.id > log_id)
    )


def _earlier_than(key: LogKey) -> sa.ColumnElement[bool]:
    moment, log_id = key
    return sa.or_(
        orm.Log.timestamp < moment, sa.and_(orm.Log.timestamp == moment, orm.Log.id < log_id)
    )
