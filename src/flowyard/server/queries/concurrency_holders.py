"""Who holds a concurrency limit's slots, and the admin's levers on them.

Slots are held by leases (``concurrency_lease``); a lease lists the limits it holds in
``resource_ids``. These queries find the leases of a limit, revoke them (one, or all with
a reset), and serve the tag (v1) API, whose limits are the global limits named
``tag:<tag>`` -- one source of truth for both APIs.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from flowyard.schemas.concurrency import TAG_PREFIX
from flowyard.server.database import orm
from flowyard.server.queries import concurrency_limits as limits_q

LIMIT = orm.ConcurrencyLimit
LEASE = orm.ConcurrencyLease
# v1 clients never renew: their slots are held until released (or the run is found dead
# by the run monitors, which release what a finished or crashed run still holds).
V1_LEASE_SECONDS = 30 * 86400.0


async def read_tag_limits(
    session: AsyncSession, workspace_id: uuid.UUID, limit: int | None = None, offset: int = 0
) -> Sequence[orm.ConcurrencyLimit]:
    """The global limits that back tag limits (named ``tag:...``), by name."""
    query = (
        sa.select(LIMIT)
        .where(LIMIT.workspace_id == workspace_id, LIMIT.name.startswith(TAG_PREFIX))
        .order_by(LIMIT.name, LIMIT.id)
    )
    return (await session.scalars(query.limit(limit).offset(offset))).all()


def _holds(limit_id: uuid.UUID) -> Any:
    # resource_ids is a JSON list of id strings; a UUID's text never occurs inside
    # another one, so a substring match on the serialized list is exact.
    return sa.cast(LEASE.resource_ids, sa.Text).like(f'%"{limit_id}"%')


async def read_leases(
    session: AsyncSession, workspace_id: uuid.UUID, limit_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[orm.ConcurrencyLease]]:
    """The leases holding each of ``limit_ids``, oldest first."""
    found: dict[uuid.UUID, list[orm.ConcurrencyLease]] = {i: [] for i in limit_ids}
    if not limit_ids:
        return found
    rows = await session.scalars(
        sa.select(LEASE)
        .where(LEASE.workspace_id == workspace_id, sa.or_(*(_holds(i) for i in limit_ids)))
        .order_by(LEASE.created, LEASE.id)
    )
    for lease in rows:
        for resource_id in lease.resource_ids:
            key = uuid.UUID(resource_id)
            if key in found:
                found[key].append(lease)
    return found


def task_run_holders(leases: Sequence[orm.ConcurrencyLease]) -> list[uuid.UUID]:
    """The task runs holding slots through ``leases`` (the v1 ``active_slots``)."""
    holders: list[uuid.UUID] = []
    for lease in leases:
        holder = lease.holder or {}
        if holder.get("type") == "task_run":
            try:
                holders.append(uuid.UUID(str(holder.get("id"))))
            except ValueError:
                continue
    return holders


async def read_lease(
    session: AsyncSession, workspace_id: uuid.UUID, lease_id: uuid.UUID
) -> orm.ConcurrencyLease | None:
    return await session.scalar(
        sa.select(LEASE).where(LEASE.workspace_id == workspace_id, LEASE.id == lease_id)
    )


async def reset_limit(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    limit_id: uuid.UUID,
    active_slots: int,
    now: dt.datetime,
) -> int:
    """Revoke every lease holding the limit and set its held slots to ``active_slots``.

    A revoked lease gives its slots back on every limit it held (it is gone for all of
    them). Returns how many leases were revoked.
    """
    leases = (await read_leases(session, workspace_id, [limit_id]))[limit_id]
    for lease in leases:
        await limits_q.release_lease(session, workspace_id, lease.id, now)
    await session.execute(
        sa.update(LIMIT)
        .where(LIMIT.workspace_id == workspace_id, LIMIT.id == limit_id)
        .values(active_slots=active_slots, denied_slots=0, updated=now)
        .execution_options(synchronize_session=False)
    )
    return len(leases)


async def hold_for_task_runs(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    limit_id: uuid.UUID,
    task_run_ids: Sequence[uuid.UUID],
    now: dt.datetime,
) -> None:
    """Record one leased slot per task run (the v1 reset's ``slot_override``); the
    limit's count is set by the caller."""
    expiration = now + dt.timedelta(seconds=V1_LEASE_SECONDS)
    for task_run_id in task_run_ids:
        holder = {"type": "task_run", "id": str(task_run_id)}
        await limits_q.create_lease(session, workspace_id, [limit_id], 1, expiration, holder, now)


async def take_for_task_run(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    limits: Sequence[orm.ConcurrencyLimit],
    task_run_id: uuid.UUID,
    now: dt.datetime,
) -> limits_q.SlotsDenied | None:
    """One slot on each of ``limits`` (locked by the caller) for a task run, held by a
    lease naming it; nothing taken if any is full."""
    denied = await limits_q.increment_slots(session, workspace_id, limits, 1, now)
    if denied is None and limits:
        expiration = now + dt.timedelta(seconds=V1_LEASE_SECONDS)
        holder = {"type": "task_run", "id": str(task_run_id)}
        await limits_q.create_lease(
            session, workspace_id, [r.id for r in limits], 1, expiration, holder, now
        )
    return denied


async def release_for_task_run(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    limit_ids: Sequence[uuid.UUID],
    task_run_id: uuid.UUID,
    now: dt.datetime,
) -> int:
    """Release the leases a task run holds on any of ``limit_ids``. Returns how many."""
    if not limit_ids:
        return 0
    found = await session.scalars(
        sa.select(LEASE.id).where(
            LEASE.workspace_id == workspace_id,
            LEASE.holder["id"].as_string() == str(task_run_id),
            sa.or_(*(_holds(i) for i in limit_ids)),
        )
    )
    released = 0
    for lease_id in sorted(found):
        if await limits_q.release_lease(session, workspace_id, lease_id, now):
            released += 1
    return released


async def delete_limit_and_leases(
    session: AsyncSession, workspace_id: uuid.UUID, limit_id: uuid.UUID, now: dt.datetime
) -> bool:
    """Delete a limit and revoke the leases that held it (their other limits get their
    slots back). False when there was no such limit."""
    leases = (await read_leases(session, workspace_id, [limit_id]))[limit_id]
    for lease in leases:
        await limits_q.release_lease(session, workspace_id, lease.id, now)
    return await limits_q.delete_concurrency_limit(session, workspace_id, limit_id)
