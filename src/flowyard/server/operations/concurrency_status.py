"""How full a work pool or work queue is: the slots its Pending and Running runs hold, and
which runs hold them (``…/concurrency_status``)."""

from __future__ import annotations

import datetime as dt
import uuid

from flowyard.schemas.concurrency import (
    FlowRunSlotSummary,
    WorkPoolConcurrencyStatus,
    WorkQueueConcurrencyStatus,
    WorkQueueConcurrencyStatusDetail,
)
from flowyard.schemas.states import StateType
from flowyard.server.database import orm
from flowyard.server.database.types import utcnow
from flowyard.server.errors import NotFound
from flowyard.server.operations.context import Tx, operation, permission
from flowyard.server.queries import concurrency_status as queries
from flowyard.server.queries import work_pools as pools

READ_POOL = permission("read", "work_pool")
READ_QUEUE = permission("read", "work_queue")


def _summary(run: orm.FlowRun, now: dt.datetime) -> FlowRunSlotSummary:
    since = run.state_timestamp
    return FlowRunSlotSummary(
        id=run.id,
        name=run.name,
        state_type=StateType(run.state_type) if run.state_type else None,
        state_name=run.state_name or None,
        start_time=run.start_time,
        state_timestamp=since,
        time_in_current_state=(now - since).total_seconds() if since else None,
    )


def _pages(count: int, limit: int) -> int:
    return (count + limit - 1) // limit if limit > 0 else 0


@operation(READ_POOL)
async def read_work_pool_concurrency_status(
    tx: Tx, pool_name: str, page: int, limit: int, flow_run_limit: int
) -> WorkPoolConcurrencyStatus:
    """The pool's held slots, and a page of its queues, each with its held slots and up to
    ``flow_run_limit`` of the runs holding them."""
    pool = await pools.read_work_pool_by_name(tx.session, tx.workspace_id, pool_name)
    if pool is None:
        raise NotFound(f"Work pool {pool_name!r} not found.")
    conditions = pools.work_queue_conditions(tx.workspace_id, None, tx.dialect, pool)
    queues = await pools.read_work_queues(tx.session, conditions, limit, (page - 1) * limit)
    count = await pools.count_work_queues(tx.session, conditions)
    total, by_queue = await queries.count_pool_holders(tx.session, tx.workspace_id, pool.id)
    holders = await queries.read_pool_holders(
        tx.session, tx.workspace_id, pool.id, [q.id for q in queues], flow_run_limit
    )
    now = utcnow()
    runs: dict[uuid.UUID, list[FlowRunSlotSummary]] = {}
    for run in holders:
        if run.work_queue_id is not None:
            runs.setdefault(run.work_queue_id, []).append(_summary(run, now))
    details = [
        WorkQueueConcurrencyStatusDetail(
            queue_id=queue.id,
            queue_name=queue.name,
            active_slots=by_queue.get(queue.id, 0),
            concurrency_limit=queue.concurrency_limit,
            flow_runs=runs.get(queue.id, []),
            flow_run_count=by_queue.get(queue.id, 0),
        )
        for queue in queues
    ]
    return WorkPoolConcurrencyStatus(
        active_slots=total,
        concurrency_limit=pool.concurrency_limit,
        queues=details,
        count=count,
        limit=limit,
        pages=_pages(count, limit),
        page=page,
    )


@operation(READ_QUEUE)
async def read_work_queue_concurrency_status(
    tx: Tx, queue_id: uuid.UUID, page: int, limit: int
) -> WorkQueueConcurrencyStatus:
    """The queue's held slots, and a page of the runs holding them."""
    queue = await pools.read_work_queue(tx.session, tx.workspace_id, queue_id)
    if queue is None:
        raise NotFound("Work queue not found.")
    count = await queries.count_queue_holders(tx.session, tx.workspace_id, queue_id)
    holders = await queries.read_queue_holders(
        tx.session, tx.workspace_id, queue_id, limit, (page - 1) * limit
    )
    now = utcnow()
    return WorkQueueConcurrencyStatus(
        active_slots=count,
        concurrency_limit=queue.concurrency_limit,
        flow_runs=[_summary(run, now) for run in holders],
        count=count,
        limit=limit,
        pages=_pages(count, limit),
        page=page,
    )
