"""/concurrency_limits: tag (v1) concurrency limits, in Prefect 3's wire format.

A tag limit is the global (v2) limit named ``tag:<tag>``: creating one here creates that
limit, and the v2 routes see and change the very same row. Tasks tagged ``db`` take their
slot on ``tag:db`` through ``/v2/concurrency_limits/increment-with-lease`` (the official
client does the same); ``active_slots`` here lists the task runs whose leases hold slots.

The admin routes on leases (list the holders of any limit, revoke one, reset a limit) are
in :mod:`flowyard.server.api.concurrency_leases` and are mounted with this router.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from fastapi import APIRouter, Body, HTTPException, Request
from sqlalchemy.ext.asyncio import AsyncSession

from flowyard.schemas import actions, core
from flowyard.schemas.concurrency import (
    TAG_PREFIX,
    ConcurrencyLimit,
    ConcurrencyLimitCreate,
    ConcurrencyLimitReset,
    ConcurrencyLimitSlots,
    tag_limit_name,
)
from flowyard.schemas.filters import Page
from flowyard.server.api import concurrency_leases
from flowyard.server.api.dependencies import Ctx
from flowyard.server.api.pagination import clamp_limit
from flowyard.server.api.responses import JSONResponse, respond, respond_many
from flowyard.server.database import orm
from flowyard.server.database.types import utcnow
from flowyard.server.queries import concurrency_holders as holders_q
from flowyard.server.queries import concurrency_limits as limits_q

v1 = APIRouter(prefix="/concurrency_limits", tags=["Concurrency Limits"])

NOT_FOUND = "Concurrency limit not found."


def _is_tag_limit(row: orm.ConcurrencyLimit | None) -> bool:
    return row is not None and row.name.startswith(TAG_PREFIX)


async def _as_v1(
    session: AsyncSession, workspace_id: uuid.UUID, rows: Sequence[orm.ConcurrencyLimit]
) -> list[ConcurrencyLimit]:
    leases = await holders_q.read_leases(session, workspace_id, [r.id for r in rows])
    return [
        ConcurrencyLimit(
            id=row.id,
            created=row.created,
            updated=row.updated,
            tag=row.name.removeprefix(TAG_PREFIX),
            concurrency_limit=row.limit,
            active_slots=holders_q.task_run_holders(leases[row.id]),
        )
        for row in rows
    ]


async def _by_tag(session: AsyncSession, ctx: Ctx, tag: str) -> orm.ConcurrencyLimit:
    row = await limits_q.read_concurrency_limit_by_name(
        session, ctx.workspace_id, tag_limit_name(tag)
    )
    if row is None:
        raise HTTPException(404, NOT_FOUND)
    return row


async def _by_id(session: AsyncSession, ctx: Ctx, limit_id: uuid.UUID) -> orm.ConcurrencyLimit:
    row = await limits_q.read_concurrency_limit(session, ctx.workspace_id, limit_id)
    if row is None or not _is_tag_limit(row):
        raise HTTPException(404, NOT_FOUND)
    return row


@v1.post("/", response_model=ConcurrencyLimit)
async def create_concurrency_limit(body: ConcurrencyLimitCreate, ctx: Ctx) -> JSONResponse:
    """Create the limit on a tag, or resize it if it exists (201 created, 200 resized)."""
    name = tag_limit_name(body.tag)
    now = utcnow()
    async with ctx.db.write() as session:
        create = actions.ConcurrencyLimitV2Create(name=name, limit=body.concurrency_limit)
        row = await limits_q.create_concurrency_limit(session, ctx.workspace_id, create)
        status = 201
        if row is None:
            status = 200
            existing = await _by_tag(session, ctx, body.tag)
            update = actions.ConcurrencyLimitV2Update(limit=body.concurrency_limit)
            await limits_q.update_concurrency_limit(
                session, ctx.workspace_id, existing.id, update, now
            )
            await session.refresh(existing)
            row = existing
        [model] = await _as_v1(session, ctx.workspace_id, [row])
    return respond(model, status)


@v1.post("/filter", response_model=list[ConcurrencyLimit])
async def read_concurrency_limits(
    request: Request, ctx: Ctx, body: Page = Body(default_factory=Page)
) -> JSONResponse:
    """Every tag limit, by tag, a page at a time."""
    limit = clamp_limit(request, body.limit)
    async with ctx.db.read() as session:
        rows = await holders_q.read_tag_limits(session, ctx.workspace_id, limit, body.offset)
        models = await _as_v1(session, ctx.workspace_id, rows)
    return respond_many(models)


@v1.post("/increment", response_model=list[core.MinimalConcurrencyLimitResponse])
async def increment_concurrency_limits_v1(body: ConcurrencyLimitSlots, ctx: Ctx) -> JSONResponse:
    """Take one slot on the limit of each tag for a task run (tags with no limit are
    skipped); 423 with Retry-After while any of them is full."""
    now = utcnow()
    async with ctx.db.write() as session:
        await limits_q.release_expired_leases(session, now, ctx.workspace_id)
        names = [tag_limit_name(tag) for tag in body.names]
        rows = await limits_q.lock_active_limits(session, ctx.workspace_id, names)
        for row in rows:
            if row.limit < 1:
                raise HTTPException(
                    422, f"names: the limit on tag {row.name[len(TAG_PREFIX) :]!r} has 0 slots."
                )
        denied = await holders_q.take_for_task_run(
            session, ctx.workspace_id, rows, body.task_run_id, now
        )
    if denied is not None:
        # Outside the transaction, so that the recorded denial is committed.
        raise HTTPException(423, "Locked", headers={"Retry-After": f"{denied.retry_after:.3f}"})
    return respond_many(_minimal(rows))


@v1.post("/decrement", response_model=list[core.MinimalConcurrencyLimitResponse])
async def decrement_concurrency_limits_v1(body: ConcurrencyLimitSlots, ctx: Ctx) -> JSONResponse:
    """Give back the slots a task run holds on the limits of these tags."""
    now = utcnow()
    async with ctx.db.write() as session:
        names = [tag_limit_name(tag) for tag in body.names]
        rows = await limits_q.lock_active_limits(session, ctx.workspace_id, names)
        await holders_q.release_for_task_run(
            session, ctx.workspace_id, [r.id for r in rows], body.task_run_id, now
        )
    return respond_many(_minimal(rows))


def _minimal(rows: Sequence[orm.ConcurrencyLimit]) -> list[core.MinimalConcurrencyLimitResponse]:
    return [
        core.MinimalConcurrencyLimitResponse(
            id=r.id, name=r.name.removeprefix(TAG_PREFIX), limit=r.limit
        )
        for r in rows
    ]


@v1.get("/tag/{tag}", response_model=ConcurrencyLimit)
async def read_concurrency_limit_by_tag(tag: str, ctx: Ctx) -> JSONResponse:
    async with ctx.db.read() as session:
        row = await _by_tag(session, ctx, tag)
        [model] = await _as_v1(session, ctx.workspace_id, [row])
    return respond(model)


@v1.post("/tag/{tag}/reset")
async def reset_concurrency_limit_by_tag(
    tag: str, ctx: Ctx, body: ConcurrencyLimitReset = Body(default_factory=ConcurrencyLimitReset)
) -> JSONResponse:
    """Revoke every lease on the tag's limit; ``slot_override`` names the task runs that
    hold its slots from now on (none: every slot is free)."""
    override = list(dict.fromkeys(body.slot_override or []))
    now = utcnow()
    async with ctx.db.write() as session:
        row = await _by_tag(session, ctx, tag)
        if len(override) > row.limit:
            raise HTTPException(
                422, f"slot_override: {len(override)} task runs but the limit is {row.limit}."
            )
        await holders_q.reset_limit(session, ctx.workspace_id, row.id, len(override), now)
        await holders_q.hold_for_task_runs(session, ctx.workspace_id, row.id, override, now)
    return respond(None)


@v1.delete("/tag/{tag}")
async def delete_concurrency_limit_by_tag(tag: str, ctx: Ctx) -> JSONResponse:
    async with ctx.db.write() as session:
        row = await _by_tag(session, ctx, tag)
        await holders_q.delete_limit_and_leases(session, ctx.workspace_id, row.id, utcnow())
    return respond(None)


@v1.get("/{id}", response_model=ConcurrencyLimit)
async def read_concurrency_limit(id: uuid.UUID, ctx: Ctx) -> JSONResponse:  # noqa: A002
    async with ctx.db.read() as session:
        row = await _by_id(session, ctx, id)
        [model] = await _as_v1(session, ctx.workspace_id, [row])
    return respond(model)


@v1.delete("/{id}")
async def delete_concurrency_limit(id: uuid.UUID, ctx: Ctx) -> JSONResponse:  # noqa: A002
    async with ctx.db.write() as session:
        row = await _by_id(session, ctx, id)
        await holders_q.delete_limit_and_leases(session, ctx.workspace_id, row.id, utcnow())
    return respond(None)


# The module's router: the v1 routes plus the lease admin routes under /v2.
router = APIRouter()
router.include_router(v1)
router.include_router(concurrency_leases.router)
