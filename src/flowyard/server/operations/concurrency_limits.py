"""Tag (v1) concurrency limits, in Prefect 3's wire format.

A tag limit is the global (v2) limit named ``tag:<tag>``: creating one here creates that
limit (and its ``prefect.concurrency-limit.created`` event), and the v2 operations see and
change the very same row. ``active_slots`` lists the task runs whose leases hold slots.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from flowyard.schemas import actions, core
from flowyard.schemas.concurrency import TAG_PREFIX, ConcurrencyLimit, tag_limit_name
from flowyard.server.database import orm
from flowyard.server.database.types import utcnow
from flowyard.server.errors import Invalid, NotFound
from flowyard.server.operations.concurrency_limits_v2 import (
    CREATE,
    DELETE,
    KIND,
    READ,
    UPDATE,
    minimal,
)
from flowyard.server.operations.context import Tx, operation
from flowyard.server.operations.lifecycle import emit_lifecycle
from flowyard.server.queries import concurrency_holders as holders
from flowyard.server.queries import concurrency_limits as queries
from flowyard.server.queries.concurrency_limits import SlotsDenied

NOT_FOUND = "Concurrency limit not found."


async def _as_v1(tx: Tx, rows: Sequence[orm.ConcurrencyLimit]) -> list[ConcurrencyLimit]:
    leases = await holders.read_leases(tx.session, tx.workspace_id, [r.id for r in rows])
    return [
        ConcurrencyLimit(
            id=row.id,
            created=row.created,
            updated=row.updated,
            tag=row.name.removeprefix(TAG_PREFIX),
            concurrency_limit=row.limit,
            active_slots=holders.task_run_holders(leases[row.id]),
        )
        for row in rows
    ]


async def _by_tag(tx: Tx, tag: str) -> orm.ConcurrencyLimit:
    row = await queries.read_concurrency_limit_by_name(
        tx.session, tx.workspace_id, tag_limit_name(tag)
    )
    if row is None:
        raise NotFound(NOT_FOUND)
    return row


async def _by_id(tx: Tx, limit_id: uuid.UUID) -> orm.ConcurrencyLimit:
    row = await queries.read_concurrency_limit(tx.session, tx.workspace_id, limit_id)
    if row is None or not row.name.startswith(TAG_PREFIX):
        raise NotFound(NOT_FOUND)
    return row


@operation(CREATE, writes=True)
async def create_tag_limit(tx: Tx, tag: str, size: int) -> tuple[ConcurrencyLimit, bool]:
    """Create the limit on a tag, or resize it if it exists. Returns it and whether it is
    new."""
    name = tag_limit_name(tag)
    create = actions.ConcurrencyLimitV2Create(name=name, limit=size)
    row = await queries.create_concurrency_limit(tx.session, tx.workspace_id, create)
    created = row is not None
    if row is None:
        row = await _by_tag(tx, tag)
        update = actions.ConcurrencyLimitV2Update(limit=size)
        await queries.update_concurrency_limit(
            tx.session, tx.workspace_id, row.id, update, utcnow()
        )
        await tx.session.refresh(row)
        emit_lifecycle(tx, KIND, "updated", row.id, row.name, changed=["limit"])
    else:
        emit_lifecycle(tx, KIND, "created", row.id, row.name)
    [model] = await _as_v1(tx, [row])
    return model, created


@operation(READ)
async def read_tag_limits(tx: Tx, limit: int, offset: int = 0) -> list[ConcurrencyLimit]:
    """Every tag limit, by tag, a page at a time."""
    rows = await holders.read_tag_limits(tx.session, tx.workspace_id, limit, offset)
    return await _as_v1(tx, rows)


@operation(READ)
async def read_tag_limit(tx: Tx, tag: str) -> ConcurrencyLimit:
    [model] = await _as_v1(tx, [await _by_tag(tx, tag)])
    return model


@operation(READ)
async def read_tag_limit_by_id(tx: Tx, limit_id: uuid.UUID) -> ConcurrencyLimit:
    [model] = await _as_v1(tx, [await _by_id(tx, limit_id)])
    return model


@operation(UPDATE, writes=True)
async def take_tag_slots(
    tx: Tx, tags: Sequence[str], task_run_id: uuid.UUID
) -> tuple[list[core.MinimalConcurrencyLimitResponse], SlotsDenied | None]:
    """One slot on the limit of each tag for a task run (tags with no limit are skipped),
    all or nothing. Returns the limits and, when one was full, the denial."""
    now = utcnow()
    await queries.release_expired_leases(tx.session, now, tx.workspace_id)
    names = [tag_limit_name(tag) for tag in tags]
    rows = await queries.lock_active_limits(tx.session, tx.workspace_id, names)
    for row in rows:
        if row.limit < 1:
            raise Invalid(f"names: the limit on tag {row.name[len(TAG_PREFIX) :]!r} has 0 slots.")
    denied = await holders.take_for_task_run(tx.session, tx.workspace_id, rows, task_run_id, now)
    return minimal(rows, TAG_PREFIX), denied


@operation(UPDATE, writes=True)
async def release_tag_slots(
    tx: Tx, tags: Sequence[str], task_run_id: uuid.UUID
) -> list[core.MinimalConcurrencyLimitResponse]:
    """Give back the slots a task run holds on the limits of these tags."""
    names = [tag_limit_name(tag) for tag in tags]
    rows = await queries.lock_active_limits(tx.session, tx.workspace_id, names)
    await holders.release_for_task_run(
        tx.session, tx.workspace_id, [r.id for r in rows], task_run_id, utcnow()
    )
    return minimal(rows, TAG_PREFIX)


@operation(UPDATE, writes=True)
async def reset_tag_limit(tx: Tx, tag: str, slot_override: Sequence[uuid.UUID]) -> None:
    """Revoke every lease on the tag's limit; ``slot_override`` names the task runs that
    hold its slots from now on (none: every slot is free)."""
    override = list(dict.fromkeys(slot_override))
    now = utcnow()
    row = await _by_tag(tx, tag)
    if len(override) > row.limit:
        raise Invalid(f"slot_override: {len(override)} task runs but the limit is {row.limit}.")
    await holders.reset_limit(tx.session, tx.workspace_id, row.id, len(override), now)
    await holders.hold_for_task_runs(tx.session, tx.workspace_id, row.id, override, now)


async def _delete(tx: Tx, row: orm.ConcurrencyLimit) -> None:
    await holders.delete_limit_and_leases(tx.session, tx.workspace_id, row.id, utcnow())
    emit_lifecycle(tx, KIND, "deleted", row.id, row.name)


@operation(DELETE, writes=True)
async def delete_tag_limit(tx: Tx, tag: str) -> None:
    await _delete(tx, await _by_tag(tx, tag))


@operation(DELETE, writes=True)
async def delete_tag_limit_by_id(tx: Tx, limit_id: uuid.UUID) -> None:
    await _delete(tx, await _by_id(tx, limit_id))
