"""/v2/concurrency_limits: global limits, slots with and without leases.

The official client calls ``increment-with-lease`` for every tagged task (names
``tag:<tag>``) whether or not a limit exists, so "no such limit" is a success with no
limits, and the lease it returns is never stored (nothing to renew or release).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from fastapi import APIRouter, Body, HTTPException, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from flowyard.schemas import actions, core
from flowyard.schemas.filters import Page
from flowyard.server.api.dependencies import Ctx
from flowyard.server.api.pagination import clamp_limit
from flowyard.server.api.responses import JSONResponse, no_content, respond, respond_many
from flowyard.server.database import orm
from flowyard.server.database.types import utcnow
from flowyard.server.queries import concurrency_limits as queries

router = APIRouter(prefix="/v2/concurrency_limits", tags=["Concurrency Limits V2"])

NOT_FOUND = "Concurrency Limit not found"


def _limit_response(row: orm.ConcurrencyLimit, now: dt.datetime) -> core.ConcurrencyLimitV2:
    model = core.ConcurrencyLimitV2.from_row(row)
    model.active_slots = queries.decayed_active_slots(row, now)
    return model


def _minimal(rows: Sequence[orm.ConcurrencyLimit]) -> list[core.MinimalConcurrencyLimitResponse]:
    return [core.MinimalConcurrencyLimitResponse(id=r.id, name=r.name, limit=r.limit) for r in rows]


def _name_taken(name: str) -> str:
    return f"A concurrency limit named {name!r} already exists."


def check_lease_duration(request: Request, seconds: float) -> None:
    """Refuse leases shorter than the server's minimum (the contract's 60 s by default)."""
    minimum = request.app.state.settings.server_concurrency_min_lease_seconds
    if seconds < minimum:
        raise HTTPException(422, f"lease_duration: must be at least {minimum:g} seconds.")


def _parse_id(id_or_name: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(id_or_name)
    except ValueError:
        return None


async def _find(session: AsyncSession, ctx: Ctx, id_or_name: str) -> orm.ConcurrencyLimit | None:
    limit_id = _parse_id(id_or_name)
    if limit_id is not None:
        return await queries.read_concurrency_limit(session, ctx.workspace_id, limit_id)
    return await queries.read_concurrency_limit_by_name(session, ctx.workspace_id, id_or_name)


@router.post("/", status_code=201, response_model=core.ConcurrencyLimitV2)
async def create_concurrency_limit(
    limit: actions.ConcurrencyLimitV2Create, ctx: Ctx
) -> JSONResponse:
    async with ctx.db.write() as session:
        row = await queries.create_concurrency_limit(session, ctx.workspace_id, limit)
    if row is None:
        raise HTTPException(409, _name_taken(limit.name))
    return respond(_limit_response(row, utcnow()), 201)


@router.post("/filter", response_model=list[core.ConcurrencyLimitV2])
async def read_concurrency_limits(
    request: Request, ctx: Ctx, body: Page = Body(default_factory=Page)
) -> JSONResponse:
    limit = clamp_limit(request, body.limit)
    async with ctx.db.read() as session:
        rows = await queries.read_concurrency_limits(
            session, ctx.workspace_id, limit=limit, offset=body.offset
        )
    now = utcnow()
    return respond_many(_limit_response(row, now) for row in rows)


@router.post("/increment", response_model=list[core.MinimalConcurrencyLimitResponse])
async def increment_slots(body: actions.ConcurrencySlotsIncrement, ctx: Ctx) -> JSONResponse:
    limits = await _increment(ctx, body.names, body.slots, body.mode, lease=None)
    return respond_many(_minimal(limits))


@router.post("/increment-with-lease", response_model=core.ConcurrencyLimitWithLeaseResponse)
async def increment_slots_with_lease(
    body: actions.ConcurrencySlotsIncrementWithLease, ctx: Ctx, request: Request
) -> JSONResponse:
    check_lease_duration(request, body.lease_duration)
    lease_id = uuid.uuid4()
    holder = body.holder.model_dump(mode="json") if body.holder else None
    limits = await _increment(
        ctx, body.names, body.slots, body.mode, lease=(lease_id, body.lease_duration, holder)
    )
    response = core.ConcurrencyLimitWithLeaseResponse(lease_id=lease_id, limits=_minimal(limits))
    return respond(response)


async def _increment(
    ctx: Ctx,
    names: Sequence[str],
    slots: int,
    mode: str,
    lease: tuple[uuid.UUID, float, dict[str, object] | None] | None,
) -> Sequence[orm.ConcurrencyLimit]:
    now = utcnow()
    async with ctx.db.write() as session:
        # Expired holders must not keep a limit full: give their slots back first.
        await queries.release_expired_leases(session, now, ctx.workspace_id)
        limits = await queries.lock_active_limits(session, ctx.workspace_id, names)
        for row in limits:
            if mode == "rate_limit" and row.slot_decay_per_second <= 0:
                raise HTTPException(
                    422, f"mode: limit {row.name!r} has no slot decay and cannot rate-limit."
                )
            if slots > row.limit:
                raise HTTPException(
                    422, f"slots: {slots} requested but limit {row.name!r} only has {row.limit}."
                )
        denied = await queries.increment_slots(session, ctx.workspace_id, limits, slots, now)
        if denied is None and limits and lease is not None:
            lease_id, duration, holder = lease
            expiration = now + dt.timedelta(seconds=duration)
            await queries.create_lease(
                session, ctx.workspace_id, [r.id for r in limits], slots, expiration, holder, now,
                lease_id=lease_id,
            )
    if denied is not None:
        # Outside the transaction, so that the recorded denial is committed.
        raise HTTPException(423, "Locked", headers={"Retry-After": f"{denied.retry_after:.3f}"})
    return limits


@router.post("/decrement", response_model=list[core.MinimalConcurrencyLimitResponse])
async def decrement_slots(body: actions.ConcurrencySlotsDecrement, ctx: Ctx) -> JSONResponse:
    now = utcnow()
    async with ctx.db.write() as session:
        limits = await queries.lock_active_limits(session, ctx.workspace_id, body.names)
        await queries.decrement_slots(
            session, [r.id for r in limits], body.slots, now, body.occupancy_seconds
        )
    return respond_many(_minimal(limits))


@router.post("/decrement-with-lease", status_code=204)
async def decrement_slots_with_lease(
    body: actions.ConcurrencyLeaseRelease, ctx: Ctx
) -> Response:
    # Releasing a lease that is already gone (expired and swept, released twice) is fine.
    async with ctx.db.write() as session:
        await queries.release_lease(session, ctx.workspace_id, body.lease_id, utcnow())
    return no_content()


@router.post("/leases/{lease_id}/renew", status_code=204)
async def renew_lease(
    lease_id: uuid.UUID,
    ctx: Ctx,
    request: Request,
    body: actions.ConcurrencyLeaseRenewal = Body(default_factory=actions.ConcurrencyLeaseRenewal),
) -> Response:
    check_lease_duration(request, body.lease_duration)
    now = utcnow()
    expiration = now + dt.timedelta(seconds=body.lease_duration)
    async with ctx.db.write() as session:
        renewed = await queries.renew_lease(session, ctx.workspace_id, lease_id, expiration, now)
    if not renewed:
        raise HTTPException(404, "Lease not found.")
    return no_content()


@router.get("/{id_or_name}", response_model=core.ConcurrencyLimitV2)
async def read_concurrency_limit(id_or_name: str, ctx: Ctx) -> JSONResponse:
    async with ctx.db.read() as session:
        row = await _find(session, ctx, id_or_name)
    if row is None:
        raise HTTPException(404, NOT_FOUND)
    return respond(_limit_response(row, utcnow()))


@router.patch("/{id_or_name}", status_code=204)
async def update_concurrency_limit(
    id_or_name: str, update: actions.ConcurrencyLimitV2Update, ctx: Ctx
) -> Response:
    async with ctx.db.write() as session:
        row = await _find(session, ctx, id_or_name)
        if row is None:
            raise HTTPException(404, NOT_FOUND)
        if update.name is not None and update.name != row.name:
            taken = await queries.read_concurrency_limit_by_name(
                session, ctx.workspace_id, update.name
            )
            if taken is not None:
                raise HTTPException(409, _name_taken(update.name))
        await queries.update_concurrency_limit(session, ctx.workspace_id, row.id, update, utcnow())
    return no_content()


@router.delete("/{id_or_name}", status_code=204)
async def delete_concurrency_limit(id_or_name: str, ctx: Ctx) -> Response:
    async with ctx.db.write() as session:
        row = await _find(session, ctx, id_or_name)
        if row is None:
            raise HTTPException(404, NOT_FOUND)
        # Revoke its leases too: a slot of a deleted limit is held by nobody.
        from flowyard.server.queries.concurrency_holders import delete_limit_and_leases

        await delete_limit_and_leases(session, ctx.workspace_id, row.id, utcnow())
    return no_content()
