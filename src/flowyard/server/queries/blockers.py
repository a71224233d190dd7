"""Why isn't it running? The reasons that hold a Scheduled, Late or Pending flow run.

Each check reads one small thing (the run's deployment, pool, queue, their workers, the
limits that apply) and reports a :class:`~flowyard.schemas.flow_run_control.FlowRunBlocker`
with the names, times and holders a user needs to act. Deployment, work pool, work queue and
worker rows are read through their tables on ``orm.Base.metadata`` and only the columns
present are used, so the checks follow those tables as they grow.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from flowyard.schemas.flow_run_control import FlowRunBlocker, FlowRunBlockers
from flowyard.schemas.states import StateType
from flowyard.server.database import orm

WAITING = frozenset({StateType.SCHEDULED.value, StateType.PENDING.value})
# Runs that occupy a slot of a deployment, pool or queue limit (as workers count them).
ACTIVE = (StateType.PENDING.value, StateType.RUNNING.value, StateType.CANCELLING.value)
DEFAULT_WORKER_HEARTBEAT_SECONDS = 30.0
MAX_HOLDERS = 20


def _table(name: str) -> sa.Table | None:
    return orm.Base.metadata.tables.get(name)


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


async def read_flow_run_blockers(
    session: AsyncSession, workspace_id: uuid.UUID, flow_run_id: uuid.UUID, now: dt.datetime
) -> FlowRunBlockers | None:
    """The blockers of one run; None when there is no such run in the workspace."""
    run = await session.scalar(
        sa.select(orm.FlowRun).where(
            orm.FlowRun.workspace_id == workspace_id, orm.FlowRun.id == flow_run_id
        )
    )
    if run is None:
        return None
    answer = FlowRunBlockers(
        flow_run_id=run.id, state_type=run.state_type, state_name=run.state_name
    )
    if run.state_type not in WAITING:
        return answer
    found = answer.blockers
    if run.state_type == StateType.SCHEDULED.value:
        found += _timing(run, now)
    found += await _deployment(session, run)
    found += await _work_pool(session, run, now)
    found += await _work_queue(session, run)
    found += await _global_limits(session, run, now)
    return answer


def _timing(run: orm.FlowRun, now: dt.datetime) -> list[FlowRunBlocker]:
    when = run.next_scheduled_start_time
    if run.state_name == "AwaitingRetry":
        details: dict[str, Any] = {"retry_at": _iso(when) if when else None}
        return [
            FlowRunBlocker(
                kind="awaiting_retry",
                message=(
                    f"The run failed and waits to be retried at {_iso(when)}."
                    if when
                    else "The run failed and waits to be retried."
                ),
                details=details,
            )
        ]
    if when is not None and when > now:
        return [
            FlowRunBlocker(
                kind="scheduled_in_future",
                message=f"The run is scheduled for {_iso(when)}.",
                details={"scheduled_time": _iso(when)},
            )
        ]
    return []


async def _active_runs(
    session: AsyncSession, run: orm.FlowRun, column: Any, value: Any
) -> tuple[int, list[dict[str, Any]]]:
    """How many other runs occupy a slot of the limit on ``column == value``, and the
    first of them."""
    where = (
        orm.FlowRun.workspace_id == run.workspace_id,
        column == value,
        orm.FlowRun.state_type.in_(ACTIVE),
        orm.FlowRun.id != run.id,
    )
    count = await session.scalar(sa.select(sa.func.count()).where(*where)) or 0
    rows = await session.execute(
        sa.select(orm.FlowRun.id, orm.FlowRun.name, orm.FlowRun.state_name)
        .where(*where)
        .order_by(orm.FlowRun.state_timestamp)
        .limit(MAX_HOLDERS)
    )
    holders = [{"flow_run_id": str(r[0]), "name": r[1], "state": r[2]} for r in rows]
    return count, holders


def _limit_full(
    what: str, name: str, limit: int, active: int, holders: list[dict[str, Any]]
) -> FlowRunBlocker:
    shown = ", ".join(h.get("name") or h.get("flow_run_id") or "?" for h in holders[:5])
    more = f" (+{active - 5} more)" if active > 5 else ""
    return FlowRunBlocker(
        kind="concurrency_limit_full",
        message=(
            f"The {what} concurrency limit {name!r} is full ({active}/{limit})"
            + (f", held by {shown}{more}." if holders else ".")
        ),
        details={
            "limit_name": name,
            "limit_kind": what,
            "limit": limit,
            "active": active,
            "holders": holders[:MAX_HOLDERS],
        },
    )


async def _row(session: AsyncSession, run: orm.FlowRun, table: sa.Table | None, row_id: Any) -> Any:
    """The row ``row_id`` of ``table`` in the run's workspace: a run's link to another
    workspace's deployment or pool (however it got there) shows nothing of it."""
    if table is None or row_id is None:
        return None
    query = sa.select(table).where(table.c.workspace_id == run.workspace_id, table.c.id == row_id)
    return (await session.execute(query)).first()


async def _deployment(session: AsyncSession, run: orm.FlowRun) -> list[FlowRunBlocker]:
    table = _table("deployment")
    row = await _row(session, run, table, run.deployment_id)
    if row is None:
        return []
    values = row._mapping
    name = values.get("name", str(run.deployment_id))
    found = []
    # A paused deployment holds nothing: pausing stops its schedules (and removes its
    # auto-scheduled runs), but workers still take its other runs, as on the official
    # server, whose get_scheduled_flow_runs filters on paused pools and queues only.
    limit = values.get("concurrency_limit")
    if limit is not None:
        active, holders = await _active_runs(
            session, run, orm.FlowRun.deployment_id, run.deployment_id
        )
        if active >= int(limit):
            found.append(_limit_full("deployment", name, int(limit), active, holders))
    return found


async def _work_pool(
    session: AsyncSession, run: orm.FlowRun, now: dt.datetime
) -> list[FlowRunBlocker]:
    table = _table("work_pool")
    pool_id = run.work_pool_id
    if table is None or (pool_id is None and run.work_pool_name is None):
        return []
    if pool_id is None:
        condition = sa.and_(
            table.c.workspace_id == run.workspace_id, table.c.name == run.work_pool_name
        )
        row = (await session.execute(sa.select(table).where(condition))).first()
    else:
        row = await _row(session, run, table, pool_id)
    if row is None:
        return []
    values = row._mapping
    pool_id, name = values["id"], values.get("name", run.work_pool_name)
    found = []
    if values.get("is_paused"):
        found.append(
            FlowRunBlocker(
                kind="work_pool_paused",
                message=f"Work pool {name!r} is paused.",
                details={"work_pool_name": name},
            )
        )
    limit = values.get("concurrency_limit")
    if limit is not None:
        active, holders = await _active_runs(session, run, orm.FlowRun.work_pool_id, pool_id)
        if active >= int(limit):
            found.append(_limit_full("work pool", name, int(limit), active, holders))
    if run.state_type == StateType.SCHEDULED.value:
        found += await _workers(session, run.workspace_id, pool_id, name, now)
    return found


async def _workers(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    pool_id: uuid.UUID,
    pool_name: str,
    now: dt.datetime,
) -> list[FlowRunBlocker]:
    """No worker is live on the pool: none has sent a heartbeat within three of its
    intervals, and no queue of the pool was polled within the default window (workers
    that only poll, like the official one without heartbeats, count too)."""
    workers, queues = _table("worker"), _table("work_queue")
    polls: list[dt.datetime] = []
    if workers is not None:
        rows = await session.execute(
            sa.select(workers.c.last_heartbeat_time, workers.c.heartbeat_interval_seconds).where(
                workers.c.workspace_id == workspace_id, workers.c.work_pool_id == pool_id
            )
        )
        for beat, every in rows:
            if beat is None:
                continue
            polls.append(beat)
            seconds = float(every or DEFAULT_WORKER_HEARTBEAT_SECONDS)
            if beat >= now - dt.timedelta(seconds=3 * seconds):
                return []  # a live worker polls this pool
    if queues is not None:
        polled = await session.scalar(
            sa.select(sa.func.max(queues.c.last_polled)).where(
                queues.c.workspace_id == workspace_id, queues.c.work_pool_id == pool_id
            )
        )
        if polled is not None:
            if polled.tzinfo is None:
                polled = polled.replace(tzinfo=dt.UTC)
            polls.append(polled)
            if polled >= now - dt.timedelta(seconds=3 * DEFAULT_WORKER_HEARTBEAT_SECONDS):
                return []
    last = max(polls, default=None)
    if last is None:
        message = f"No worker has ever polled work pool {pool_name!r}."
    else:
        message = f"No worker has polled work pool {pool_name!r} since {_iso(last)}."
    details = {"work_pool_name": pool_name, "last_polled": _iso(last) if last else None}
    return [FlowRunBlocker(kind="no_worker", message=message, details=details)]


async def _work_queue(session: AsyncSession, run: orm.FlowRun) -> list[FlowRunBlocker]:
    table = _table("work_queue")
    row = await _row(session, run, table, run.work_queue_id)
    if row is None:
        return []
    values = row._mapping
    name = values.get("name", run.work_queue_name)
    found = []
    if values.get("is_paused"):
        found.append(
            FlowRunBlocker(
                kind="work_queue_paused",
                message=f"Work queue {name!r} is paused.",
                details={"work_queue_name": name},
            )
        )
    limit = values.get("concurrency_limit")
    if limit is not None:
        active, holders = await _active_runs(
            session, run, orm.FlowRun.work_queue_id, run.work_queue_id
        )
        if active >= int(limit):
            found.append(_limit_full("work queue", name, int(limit), active, holders))
    return found


async def _global_limits(
    session: AsyncSession, run: orm.FlowRun, now: dt.datetime
) -> list[FlowRunBlocker]:
    """Full v2 limits that apply: the deployment's own (``deployment:<id>``) and the tag
    limits of the run's tags (its tagged tasks will wait for a slot)."""
    from flowyard.server.queries.concurrency_limits import decayed_active_slots

    names = {f"tag:{tag}": "tag" for tag in run.tags or ()}
    if run.deployment_id is not None:
        names[f"deployment:{run.deployment_id}"] = "deployment"
    if not names:
        return []
    limits = (
        await session.scalars(
            sa.select(orm.ConcurrencyLimit).where(
                orm.ConcurrencyLimit.workspace_id == run.workspace_id,
                orm.ConcurrencyLimit.name.in_(list(names)),
                orm.ConcurrencyLimit.active.is_(True),
            )
        )
    ).all()
    found = []
    for limit in sorted(limits, key=lambda row: row.name):
        held = decayed_active_slots(limit, now)
        if held < limit.limit:
            continue
        holders = await _lease_holders(session, run.workspace_id, limit.id, now)
        found.append(_limit_full(names[limit.name], limit.name, limit.limit, held, holders))
    return found


async def _lease_holders(
    session: AsyncSession, workspace_id: uuid.UUID, limit_id: uuid.UUID, now: dt.datetime
) -> list[dict[str, Any]]:
    lease = orm.ConcurrencyLease
    rows = await session.execute(
        sa.select(lease.id, lease.holder, lease.slots, lease.expiration, lease.resource_ids)
        .where(lease.workspace_id == workspace_id, lease.expiration > now)
        .order_by(lease.created)
    )
    wanted = str(limit_id)
    # resource_ids is a JSON list: matched here rather than with each dialect's operators.
    return [
        {
            "lease_id": str(lease_id),
            "holder": holder,
            "slots": slots,
            "expires": _iso(expiration),
            "name": f"{holder.get('type')} {holder.get('id')}" if holder else f"lease {lease_id}",
        }
        for lease_id, holder, slots, expiration, resource_ids in rows
        if wanted in (resource_ids or [])
    ][:MAX_HOLDERS]
