"""Global (v2) concurrency limits: create, read, update, delete (each change stored with its
``prefect.concurrency-limit.created|updated|deleted`` event), slots taken and given back
with or without a lease, and the admin's levers on leases (list, revoke, reset).

Taking slots can be refused (the limit is full): the refusal is an answer, not an error,
so that the transaction commits the recorded denial (which sets the next Retry-After);
the router turns it into 423.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from flowyard.schemas import actions, core
from flowyard.schemas.concurrency import ConcurrencyLease
from flowyard.server.database import orm
from flowyard.server.database.types import utcnow
from flowyard.server.errors import Conflict, Invalid, NotFound
from flowyard.server.operations.context import Tx, operation, permission
from flowyard.server.operations.lifecycle import emit_lifecycle
from flowyard.server.queries import concurrency_holders as holders
from flowyard.server.queries import concurrency_limits as queries
from flowyard.server.queries.concurrency_limits import SlotsDenied

READ = permission("read", "concurrency_limit")
CREATE = permission("create", "concurrency_limit")
UPDATE = permission("update", "concurrency_limit")
DELETE = permission("delete", "concurrency_limit")
KIND = "concurrency-limit"
NOT_FOUND = "Concurrency Limit not found"
LEASE_NOT_FOUND = "Lease not found."

Lease = tuple[uuid.UUID, float, dict[str, Any] | None]  # (id, seconds, holder)


def limit_schema(row: orm.ConcurrencyLimit, now: dt.datetime) -> core.ConcurrencyLimitV2:
    model = core.ConcurrencyLimitV2.from_row(row)
    model.active_slots = queries.decayed_active_slots(row, now)
    return model


def minimal(
    rows: Sequence[orm.ConcurrencyLimit], prefix: str = ""
) -> list[core.MinimalConcurrencyLimitResponse]:
    return [
        core.MinimalConcurrencyLimitResponse(
            id=r.id, name=r.name.removeprefix(prefix), limit=r.limit
        )
        for r in rows
    ]


def _name_taken(name: str) -> str:
    return f"A concurrency limit named {name!r} already exists."


async def find_limit(tx: Tx, id_or_name: str) -> orm.ConcurrencyLimit:
    """The limit named by id or by name (NotFound if neither)."""
    try:
        limit_id: uuid.UUID | None = uuid.UUID(id_or_name)
    except ValueError:
        limit_id = None
    if limit_id is not None:
        row = await queries.read_concurrency_limit(tx.session, tx.workspace_id, limit_id)
    else:
        row = await queries.read_concurrency_limit_by_name(tx.session, tx.workspace_id, id_or_name)
    if row is None:
        raise NotFound(NOT_FOUND)
    return row


@operation(CREATE, writes=True)
async def create_concurrency_limit(
    tx: Tx, create: actions.ConcurrencyLimitV2Create
) -> core.ConcurrencyLimitV2:
    row = await queries.create_concurrency_limit(tx.session, tx.workspace_id, create)
    if row is None:
        raise Conflict(_name_taken(create.name))
    emit_lifecycle(tx, KIND, "created", row.id, row.name)
    return limit_schema(row, utcnow())


@operation(READ)
async def read_concurrency_limits(
    tx: Tx, limit: int, offset: int = 0
) -> list[core.ConcurrencyLimitV2]:
    rows = await queries.read_concurrency_limits(
        tx.session, tx.workspace_id, limit=limit, offset=offset
    )
    now = utcnow()
    return [limit_schema(row, now) for row in rows]


@operation(READ)
async def read_concurrency_limit(tx: Tx, id_or_name: str) -> core.ConcurrencyLimitV2:
    return limit_schema(await find_limit(tx, id_or_name), utcnow())


@operation(UPDATE, writes=True)
async def update_concurrency_limit(
    tx: Tx, id_or_name: str, update: actions.ConcurrencyLimitV2Update
) -> None:
    row = await find_limit(tx, id_or_name)
    if update.name is not None and update.name != row.name:
        taken = await queries.read_concurrency_limit_by_name(
            tx.session, tx.workspace_id, update.name
        )
        if taken is not None:
            raise Conflict(_name_taken(update.name))
    await queries.update_concurrency_limit(tx.session, tx.workspace_id, row.id, update, utcnow())
    changed = update.model_dump(exclude_unset=True)
    emit_lifecycle(tx, KIND, "updated", row.id, update.name or row.name, changed=changed)


@operation(DELETE, writes=True)
async def delete_concurrency_limit(tx: Tx, id_or_name: str) -> None:
    """Delete the limit and revoke its leases (a slot of a deleted limit is held by nobody)."""
    row = await find_limit(tx, id_or_name)
    await holders.delete_limit_and_leases(tx.session, tx.workspace_id, row.id, utcnow())
    emit_lifecycle(tx, KIND, "deleted", row.id, row.name)


# --- slots -------------------------------------------------------------------------------


@operation(UPDATE, writes=True)
async def increment_slots(
    tx: Tx, names: Sequence[str], slots: int, mode: str, lease: Lease | None = None
) -> tuple[Sequence[orm.ConcurrencyLimit], SlotsDenied | None]:
    """Take ``slots`` on every active limit among ``names`` (none existing: nothing to take),
    all or nothing, holding them by ``lease`` if given. Returns the limits and, when one was
    full, the denial (nothing taken)."""
    now = utcnow()
    # Expired holders must not keep a limit full: give their slots back first.
    await queries.release_expired_leases(tx.session, now, tx.workspace_id)
    limits = await queries.lock_active_limits(tx.session, tx.workspace_id, names)
    for row in limits:
        if mode == "rate_limit" and row.slot_decay_per_second <= 0:
            raise Invalid(f"mode: limit {row.name!r} has no slot decay and cannot rate-limit.")
        if slots > row.limit:
            raise Invalid(f"slots: {slots} requested but limit {row.name!r} only has {row.limit}.")
    denied = await queries.increment_slots(tx.session, tx.workspace_id, limits, slots, now)
    if denied is None and limits and lease is not None:
        lease_id, seconds, holder = lease
        expiration = now + dt.timedelta(seconds=seconds)
        await queries.create_lease(
            tx.session, tx.workspace_id, [r.id for r in limits], slots, expiration, holder, now,
            lease_id=lease_id,
        )  # fmt: skip
    return limits, denied


@operation(UPDATE, writes=True)
async def decrement_slots(
    tx: Tx, names: Sequence[str], slots: int, occupancy_seconds: float | None
) -> Sequence[orm.ConcurrencyLimit]:
    limits = await queries.lock_active_limits(tx.session, tx.workspace_id, names)
    await queries.decrement_slots(
        tx.session, [r.id for r in limits], slots, utcnow(), occupancy_seconds
    )
    return limits


@operation(UPDATE, writes=True)
async def release_lease(tx: Tx, lease_id: uuid.UUID) -> bool:
    """Give a lease's slots back; False when it was already gone (expired and swept,
    released twice), which is fine for a holder but not for an admin revoking it."""
    return await queries.release_lease(tx.session, tx.workspace_id, lease_id, utcnow())


@operation(UPDATE, writes=True)
async def revoke_lease(tx: Tx, lease_id: uuid.UUID) -> None:
    if not await release_lease(tx, lease_id):
        raise NotFound(LEASE_NOT_FOUND)


@operation(UPDATE, writes=True)
async def renew_lease(tx: Tx, lease_id: uuid.UUID, seconds: float) -> None:
    now = utcnow()
    expiration = now + dt.timedelta(seconds=seconds)
    if not await queries.renew_lease(tx.session, tx.workspace_id, lease_id, expiration, now):
        raise NotFound(LEASE_NOT_FOUND)


@operation(READ)
async def read_limit_leases(tx: Tx, id_or_name: str) -> list[ConcurrencyLease]:
    """The leases holding slots of a limit, oldest first (expired ones included until the
    reaper or the next increment sweeps them)."""
    row = await find_limit(tx, id_or_name)
    leases = (await holders.read_leases(tx.session, tx.workspace_id, [row.id]))[row.id]
    return [ConcurrencyLease.model_validate(lease) for lease in leases]


@operation(UPDATE, writes=True)
async def reset_concurrency_limit(tx: Tx, id_or_name: str, active_slots: int) -> None:
    """Revoke every lease on the limit and set its held slots to ``active_slots``."""
    row = await find_limit(tx, id_or_name)
    if active_slots > row.limit:
        raise Invalid(f"active_slots: {active_slots} is more than the limit of {row.limit}.")
    await holders.reset_limit(tx.session, tx.workspace_id, row.id, active_slots, utcnow())
