"""/v2/concurrency_limits: global limits, slots with and without leases. HTTP only: each
route calls ``operations.concurrency_limits_v2``.

The official client calls ``increment-with-lease`` for every tagged task (names
``tag:<tag>``) whether or not a limit exists, so "no such limit" is a success with no
limits, and the lease it returns is never stored (nothing to renew or release).
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Body, HTTPException, Request, Response

from flowyard.schemas import actions, core
from flowyard.schemas.filters import Page
from flowyard.server.api.dependencies import Ctx
from flowyard.server.api.pagination import clamp_limit
from flowyard.server.api.responses import JSONResponse, no_content, respond, respond_many
from flowyard.server.operations import concurrency_limits_v2 as operations

router = APIRouter(prefix="/v2/concurrency_limits", tags=["Concurrency Limits V2"])


def check_lease_duration(request: Request, seconds: float) -> None:
    """Refuse leases shorter than the server's minimum (the contract's 60 s by default)."""
    minimum = request.app.state.settings.server_concurrency_min_lease_seconds
    if seconds < minimum:
        raise HTTPException(422, f"lease_duration: must be at least {minimum:g} seconds.")


def locked(retry_after: float) -> HTTPException:
    """The limit is full: try again after ``retry_after`` seconds."""
    return HTTPException(423, "Locked", headers={"Retry-After": f"{retry_after:.3f}"})


@router.post("/", status_code=201, response_model=core.ConcurrencyLimitV2)
async def create_concurrency_limit(
    limit: actions.ConcurrencyLimitV2Create, ctx: Ctx
) -> JSONResponse:
    return respond(await operations.create_concurrency_limit(ctx, limit), 201)


@router.post("/filter", response_model=list[core.ConcurrencyLimitV2])
async def read_concurrency_limits(
    request: Request, ctx: Ctx, body: Page = Body(default_factory=Page)
) -> JSONResponse:
    limit = clamp_limit(request, body.limit)
    return respond_many(await operations.read_concurrency_limits(ctx, limit, body.offset))


@router.post("/increment", response_model=list[core.MinimalConcurrencyLimitResponse])
async def increment_slots(body: actions.ConcurrencySlotsIncrement, ctx: Ctx) -> JSONResponse:
    limits, denied = await operations.increment_slots(ctx, body.names, body.slots, body.mode)
    if denied is not None:
        raise locked(denied.retry_after)  # the denial itself is committed: it sets Retry-After
    return respond_many(operations.minimal(limits))


@router.post("/increment-with-lease", response_model=core.ConcurrencyLimitWithLeaseResponse)
async def increment_slots_with_lease(
    body: actions.ConcurrencySlotsIncrementWithLease, ctx: Ctx, request: Request
) -> JSONResponse:
    check_lease_duration(request, body.lease_duration)
    lease_id = uuid.uuid4()
    holder = body.holder.model_dump(mode="json") if body.holder else None
    limits, denied = await operations.increment_slots(
        ctx, body.names, body.slots, body.mode, (lease_id, body.lease_duration, holder)
    )
    if denied is not None:
        raise locked(denied.retry_after)
    response = core.ConcurrencyLimitWithLeaseResponse(
        lease_id=lease_id, limits=operations.minimal(limits)
    )
    return respond(response)


@router.post("/decrement", response_model=list[core.MinimalConcurrencyLimitResponse])
async def decrement_slots(body: actions.ConcurrencySlotsDecrement, ctx: Ctx) -> JSONResponse:
    limits = await operations.decrement_slots(
        ctx, body.names, body.slots, body.occupancy_seconds
    )
    return respond_many(operations.minimal(limits))


@router.post("/decrement-with-lease", status_code=204)
async def decrement_slots_with_lease(
    body: actions.ConcurrencyLeaseRelease, ctx: Ctx
) -> Response:
    # Releasing a lease that is already gone (expired and swept, released twice) is fine.
    await operations.release_lease(ctx, body.lease_id)
    return no_content()


@router.post("/leases/{lease_id}/renew", status_code=204)
async def renew_lease(
    lease_id: uuid.UUID,
    ctx: Ctx,
    request: Request,
    body: actions.ConcurrencyLeaseRenewal = Body(default_factory=actions.ConcurrencyLeaseRenewal),
) -> Response:
    check_lease_duration(request, body.lease_duration)
    await operations.renew_lease(ctx, lease_id, body.lease_duration)
    return no_content()


@router.get("/{id_or_name}", response_model=core.ConcurrencyLimitV2)
async def read_concurrency_limit(id_or_name: str, ctx: Ctx) -> JSONResponse:
    return respond(await operations.read_concurrency_limit(ctx, id_or_name))


@router.patch("/{id_or_name}", status_code=204)
async def update_concurrency_limit(
    id_or_name: str, update: actions.ConcurrencyLimitV2Update, ctx: Ctx
) -> Response:
    await operations.update_concurrency_limit(ctx, id_or_name, update)
    return no_content()


@router.delete("/{id_or_name}", status_code=204)
async def delete_concurrency_limit(id_or_name: str, ctx: Ctx) -> Response:
    await operations.delete_concurrency_limit(ctx, id_or_name)
    return no_content()
