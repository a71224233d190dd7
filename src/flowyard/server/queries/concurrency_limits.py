"""Global (v2) concurrency limits, their slots and the leases that hold slots.

Taking slots is one conditional ``UPDATE ... WHERE active_slots + :slots <= limit``: the
database re-checks the condition on the row it locks, so two racing requests can never
push a limit past its size, on SQLite or PostgreSQL. Several limits are taken all or
nothing inside a savepoint.

Rate limits (``slot_decay_per_second > 0``) give slots back over time: the stored
``active_slots`` is the count at ``updated``; the current count is that minus the slots
decayed since, computed in SQL when writing and in Python when reading.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from flowyard.schemas import actions
from flowyard.server.database import orm
from flowyard.server.database.types import Timestamp
from flowyard.server.queries.upsert import insert_ignore

LIMITS = cast(sa.Table, orm.ConcurrencyLimit.__table__)
LEASES = cast(sa.Table, orm.ConcurrencyLease.__table__)
# Weight of the newest observation in the running average of slot occupancy.
OCCUPANCY_WEIGHT = 0.2
MIN_RETRY_SECONDS = 0.1
MAX_RETRY_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class SlotsDenied:
    """At least one limit was full; nothing was taken. Try again after ``retry_after``."""

    retry_after: float


def decayed_active_slots(row: orm.ConcurrencyLimit, now: dt.datetime) -> int:
    """The current number of held slots of a limit, after rate-limit decay."""
    if row.slot_decay_per_second <= 0:
        return row.active_slots
    elapsed = max(0.0, (now - row.updated).total_seconds())
    decayed = row.slot_decay_per_second * elapsed
    # Compared as floats first: a high rate over a long time is more than int() takes.
    return 0 if decayed >= row.active_slots else row.active_slots - int(decayed)


def _decayed_slots_sql(dialect: str, now: dt.datetime) -> Any:
    """SQL for :func:`decayed_active_slots`, evaluated on the row being updated."""
    column = LIMITS.c
    at = sa.literal(now, Timestamp())
    elapsed: Any
    if dialect == "postgresql":
        elapsed = sa.func.extract("epoch", at - column.updated)
        # BIGINT: a high rate (at most MAX_SLOT_DECAY_PER_SECOND) over years overflows INT.
        decayed = sa.cast(sa.func.floor(column.slot_decay_per_second * elapsed), sa.BigInteger)
        floor_at_zero = sa.func.greatest(0, column.active_slots - decayed)
    else:
        elapsed = (sa.func.julianday(at) - sa.func.julianday(column.updated)) * 86400.0
        decayed = sa.cast(column.slot_decay_per_second * elapsed, sa.BigInteger)
        floor_at_zero = sa.func.max(0, column.active_slots - decayed)
    return sa.case((column.slot_decay_per_second > 0, floor_at_zero), else_=column.active_slots)


def _decay_clock(row: orm.ConcurrencyLimit, now: dt.datetime) -> dt.datetime:
    """Where a limit's decay clock (``updated``) stands once its decayed slots are settled.

    Only whole decayed slots are settled, so the clock moves on by exactly their time: the
    fraction of a slot decayed since counts towards the next one. An emptied limit (or one
    that does not decay) starts again at ``now``.
    """
    rate = row.slot_decay_per_second
    if rate <= 0:
        return now
    decayed = int(rate * max(0.0, (now - row.updated).total_seconds()))
    if decayed >= row.active_slots:
        return now
    return row.updated + dt.timedelta(seconds=decayed / rate)


def _floor_at_zero(dialect: str, value: Any) -> Any:
    return sa.func.greatest(0, value) if dialect == "postgresql" else sa.func.max(0, value)


# --- CRUD --------------------------------------------------------------------------------


async def create_concurrency_limit(
    session: AsyncSession, workspace_id: uuid.UUID, limit: actions.ConcurrencyLimitV2Create
) -> orm.ConcurrencyLimit | None:
    """The new limit, or None when one of that name exists already."""
    new_id = uuid.uuid4()
    values = dict(limit.model_dump(), id=new_id, workspace_id=workspace_id)
    await session.execute(
        insert_ignore(session, orm.ConcurrencyLimit, values, ["workspace_id", "name"])
    )
    row = await read_concurrency_limit_by_name(session, workspace_id, limit.name)
    return row if row is not None and row.id == new_id else None


async def read_concurrency_limit(
    session: AsyncSession, workspace_id: uuid.UUID, limit_id: uuid.UUID
) -> orm.ConcurrencyLimit | None:
    return await session.scalar(
        sa.select(orm.ConcurrencyLimit).where(
            orm.ConcurrencyLimit.workspace_id == workspace_id, orm.ConcurrencyLimit.id == limit_id
        )
    )


async def read_concurrency_limit_by_name(
    session: AsyncSession, workspace_id: uuid.UUID, name: str
) -> orm.ConcurrencyLimit | None:
    return await session.scalar(
        sa.select(orm.ConcurrencyLimit).where(
            orm.ConcurrencyLimit.workspace_id == workspace_id, orm.ConcurrencyLimit.name == name
        )
    )


async def read_concurrency_limits(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    names: Sequence[str] | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> Sequence[orm.ConcurrencyLimit]:
    query = sa.select(orm.ConcurrencyLimit).where(orm.ConcurrencyLimit.workspace_id == workspace_id)
    if names is not None:
        query = query.where(orm.ConcurrencyLimit.name.in_(names))
    query = query.order_by(orm.ConcurrencyLimit.name, orm.ConcurrencyLimit.id)
    return (await session.scalars(query.limit(limit).offset(offset))).all()


async def update_concurrency_limit(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    limit_id: uuid.UUID,
    update: actions.ConcurrencyLimitV2Update,
    now: dt.datetime,
) -> bool:
    values: dict[str, Any] = update.model_dump(exclude_unset=True)
    if not values:
        return await read_concurrency_limit(session, workspace_id, limit_id) is not None
    # Writing resets the decay clock (``updated``): settle the decayed count first.
    values.setdefault("active_slots", _decayed_slots_sql(session.get_bind().dialect.name, now))
    values["updated"] = now
    result = await session.execute(
        sa.update(LIMITS)
        .where(LIMITS.c.workspace_id == workspace_id, LIMITS.c.id == limit_id)
        .values(**values)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def delete_concurrency_limit(
    session: AsyncSession, workspace_id: uuid.UUID, limit_id: uuid.UUID
) -> bool:
    result = await session.execute(
        sa.delete(LIMITS).where(LIMITS.c.workspace_id == workspace_id, LIMITS.c.id == limit_id)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


# --- slots -------------------------------------------------------------------------------


async def lock_active_limits(
    session: AsyncSession, workspace_id: uuid.UUID, names: Sequence[str]
) -> Sequence[orm.ConcurrencyLimit]:
    """The active limits among ``names``, row-locked in id order on PostgreSQL so that two
    requests taking several limits cannot deadlock (SQLite already has one writer)."""
    query = (
        sa.select(orm.ConcurrencyLimit)
        .where(
            orm.ConcurrencyLimit.workspace_id == workspace_id,
            orm.ConcurrencyLimit.name.in_(list(names)),
            orm.ConcurrencyLimit.active.is_(True),
        )
        .order_by(orm.ConcurrencyLimit.id)
        .with_for_update()
    )
    return (await session.scalars(query)).all()


async def increment_slots(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    limits: Sequence[orm.ConcurrencyLimit],
    slots: int,
    now: dt.datetime,
) -> SlotsDenied | None:
    """Take ``slots`` on every one of ``limits`` (active ones, read in this transaction), or
    on none of them. None means taken."""
    if not limits:
        return None
    dialect = session.get_bind().dialect.name
    ids = [row.id for row in limits]
    decayed = _decayed_slots_sql(dialect, now)
    fits = decayed + slots <= LIMITS.c.limit
    # The rows are locked: settle each decay clock from what they hold.
    clock = sa.case(
        {row.id: sa.literal(_decay_clock(row, now), Timestamp()) for row in limits},
        value=LIMITS.c.id,
        else_=sa.literal(now, Timestamp()),
    )
    savepoint = await session.begin_nested()
    # A grant takes back one denial per slot: ``denied_slots`` then tracks (denials -
    # grants), which settles at about the number of waiters, so the Retry-After below
    # converges on the wait a queue of that length would have.
    result = await session.execute(
        sa.update(LIMITS)
        .where(LIMITS.c.id.in_(ids), fits)
        .values(
            active_slots=decayed + slots,
            denied_slots=_floor_at_zero(dialect, LIMITS.c.denied_slots - slots),
            updated=clock,
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount == len(ids):  # type: ignore[attr-defined]
        await savepoint.commit()
        return None
    await savepoint.rollback()
    # Record the denial on the limits that were full; it informs the retry delay. It keeps
    # ``updated`` (the decay clock): otherwise waiting callers would keep a rate limit full.
    await session.execute(
        sa.update(LIMITS)
        .where(LIMITS.c.id.in_(ids), sa.not_(fits))
        .values(denied_slots=LIMITS.c.denied_slots + slots, updated=LIMITS.c.updated)
        .execution_options(synchronize_session=False)
    )
    blocking = (
        await session.execute(
            sa.select(
                LIMITS.c.limit,
                LIMITS.c.denied_slots,
                LIMITS.c.slot_decay_per_second,
                LIMITS.c.avg_slot_occupancy_seconds,
                decayed.label("held"),
            ).where(LIMITS.c.id.in_(ids), sa.not_(fits))
        )
    ).all()
    return SlotsDenied(_retry_after(blocking, slots))


def _retry_after(blocking: Sequence[Any], slots: int) -> float:
    waits = [MIN_RETRY_SECONDS]
    for limit, denied, decay, occupancy, held in blocking:
        if decay > 0:
            # A rate limit frees one slot every 1/decay seconds.
            waits.append(max(1, held + slots - limit) / decay)
        else:
            # Expect a slot back after about one occupancy, longer the more are waiting.
            waits.append(occupancy * max(1.0, denied / max(limit, 1)))
    return min(max(waits), MAX_RETRY_SECONDS)


async def decrement_slots(
    session: AsyncSession,
    limit_ids: Sequence[uuid.UUID],
    slots: int,
    now: dt.datetime,
    occupancy_seconds: float | None = None,
) -> None:
    """Give ``slots`` back to each limit (never below zero)."""
    if not limit_ids:
        return
    dialect = session.get_bind().dialect.name
    values: dict[str, Any] = {
        "active_slots": _floor_at_zero(dialect, _decayed_slots_sql(dialect, now) - slots),
        "updated": now,
    }
    if occupancy_seconds is not None:
        average = LIMITS.c.avg_slot_occupancy_seconds
        values["avg_slot_occupancy_seconds"] = average + (
            occupancy_seconds / slots - average
        ) * OCCUPANCY_WEIGHT
    await session.execute(
        sa.update(LIMITS)
        .where(LIMITS.c.id.in_(list(limit_ids)))
        .values(**values)
        .execution_options(synchronize_session=False)
    )


# --- leases ------------------------------------------------------------------------------


async def create_lease(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    limit_ids: Sequence[uuid.UUID],
    slots: int,
    expiration: dt.datetime,
    holder: dict[str, Any] | None,
    now: dt.datetime,
    lease_id: uuid.UUID | None = None,
) -> uuid.UUID:
    lease_id = lease_id or uuid.uuid4()
    await session.execute(
        sa.insert(LEASES).values(
            id=lease_id,
            workspace_id=workspace_id,
            created=now,
            updated=now,
            resource_ids=[str(i) for i in limit_ids],
            slots=slots,
            expiration=expiration,
            holder=holder,
        )
    )
    return lease_id


async def release_lease(
    session: AsyncSession, workspace_id: uuid.UUID, lease_id: uuid.UUID, now: dt.datetime
) -> bool:
    """Delete the lease and give its slots back. False when there was no such lease."""
    deleted = (
        await session.execute(
            sa.delete(LEASES)
            .where(LEASES.c.workspace_id == workspace_id, LEASES.c.id == lease_id)
            .returning(LEASES.c.resource_ids, LEASES.c.slots, LEASES.c.created)
        )
    ).first()
    if deleted is None:
        return False
    resource_ids, slots, created = deleted
    occupancy = max((now - created).total_seconds(), 0.001)
    await decrement_slots(session, [uuid.UUID(i) for i in resource_ids], slots, now, occupancy)
    return True


async def renew_lease(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    lease_id: uuid.UUID,
    expiration: dt.datetime,
    now: dt.datetime,
) -> bool:
    """Push an unexpired lease's expiration out. False once it has expired or is gone."""
    result = await session.execute(
        sa.update(LEASES)
        .where(
            LEASES.c.workspace_id == workspace_id,
            LEASES.c.id == lease_id,
            LEASES.c.expiration > now,
        )
        .values(expiration=expiration, updated=now)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def release_expired_leases(
    session: AsyncSession,
    now: dt.datetime,
    workspace_id: uuid.UUID | None = None,
    batch: int = 1000,
) -> int:
    """Delete up to ``batch`` expired leases and give their slots back; returns how many.

    Without ``workspace_id`` it sweeps every workspace (the background service). Each lease
    is deleted by exactly one caller (``DELETE ... RETURNING``; on PostgreSQL concurrent
    sweepers skip each other's rows), so its slots are given back exactly once.
    """
    expired = sa.select(LEASES.c.id).where(LEASES.c.expiration <= now)
    if workspace_id is not None:
        expired = expired.where(LEASES.c.workspace_id == workspace_id)
    expired = expired.limit(batch).with_for_update(skip_locked=True)
    rows = (
        await session.execute(
            sa.delete(LEASES)
            .where(LEASES.c.id.in_(expired.scalar_subquery()))
            .returning(LEASES.c.resource_ids, LEASES.c.slots)
        )
    ).all()
    released: Counter[uuid.UUID] = Counter()
    for resource_ids, slots in rows:
        for resource_id in resource_ids:
            released[uuid.UUID(resource_id)] += slots
    by_amount: dict[int, list[uuid.UUID]] = {}
    for limit_id, slots in released.items():
        by_amount.setdefault(slots, []).append(limit_id)
    for slots, limit_ids in sorted(by_amount.items()):
        await decrement_slots(session, sorted(limit_ids), slots, now)
    return len(rows)
