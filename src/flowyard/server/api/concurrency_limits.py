"""/concurrency_limits: tag (v1) concurrency limits, in Prefect 3's wire format. HTTP only:
each route calls ``operations.concurrency_limits``.

A tag limit is the global (v2) limit named ``tag:<tag>``: creating one here creates that
limit, and the v2 routes see and change the very same row. Tasks tagged ``db`` take their
slot on ``tag:db`` through ``/v2/concurrency_limits/increment-with-lease`` (the official
client does the same); ``active_slots`` here lists the task runs whose leases hold slots.

The admin routes on leases (list the holders of any limit, revoke one, reset a limit) are
in :mod:`flowyard.server.api.concurrency_leases` and are mounted with this router.
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Body, Request

from flowyard.schemas import core
from flowyard.schemas.concurrency import (
    ConcurrencyLimit,
    ConcurrencyLimitCreate,
    ConcurrencyLimitReset,
    ConcurrencyLimitSlots,
)
from flowyard.schemas.filters import Page
from flowyard.server.api import concurrency_leases
from flowyard.server.api.concurrency_limits_v2 import locked
from flowyard.server.api.dependencies import Ctx
from flowyard.server.api.pagination import clamp_limit
from flowyard.server.api.responses import JSONResponse, respond, respond_many
from flowyard.server.operations import concurrency_limits as operations

v1 = APIRouter(prefix="/concurrency_limits", tags=["Concurrency Limits"])


@v1.post("/", response_model=ConcurrencyLimit)
async def create_concurrency_limit(body: ConcurrencyLimitCreate, ctx: Ctx) -> JSONResponse:
    """Create the limit on a tag, or resize it if it exists (201 created, 200 resized)."""
    model, created = await operations.create_tag_limit(ctx, body.tag, body.concurrency_limit)
    return respond(model, 201 if created else 200)


@v1.post("/filter", response_model=list[ConcurrencyLimit])
async def read_concurrency_limits(
    request: Request, ctx: Ctx, body: Page = Body(default_factory=Page)
) -> JSONResponse:
    """Every tag limit, by tag, a page at a time."""
    limit = clamp_limit(request, body.limit)
    return respond_many(await operations.read_tag_limits(ctx, limit, body.offset))


@v1.post("/increment", response_model=list[core.MinimalConcurrencyLimitResponse])
async def increment_concurrency_limits_v1(body: ConcurrencyLimitSlots, ctx: Ctx) -> JSONResponse:
    """Take one slot on the limit of each tag for a task run (tags with no limit are
    skipped); 423 with Retry-After while any of them is full."""
    limits, denied = await operations.take_tag_slots(ctx, body.names, body.task_run_id)
    if denied is not None:
        raise locked(denied.retry_after)  # the denial itself is committed: it sets Retry-After
    return respond_many(limits)


@v1.post("/decrement", response_model=list[core.MinimalConcurrencyLimitResponse])
async def decrement_concurrency_limits_v1(body: ConcurrencyLimitSlots, ctx: Ctx) -> JSONResponse:
    """Give back the slots a task run holds on the limits of these tags."""
    return respond_many(await operations.release_tag_slots(ctx, body.names, body.task_run_id))


@v1.get("/tag/{tag}", response_model=ConcurrencyLimit)
async def read_concurrency_limit_by_tag(tag: str, ctx: Ctx) -> JSONResponse:
    return respond(await operations.read_tag_limit(ctx, tag))


@v1.post("/tag/{tag}/reset")
async def reset_concurrency_limit_by_tag(
    tag: str, ctx: Ctx, body: ConcurrencyLimitReset = Body(default_factory=ConcurrencyLimitReset)
) -> JSONResponse:
    """Revoke every lease on the tag's limit; ``slot_override`` names the task runs that
    hold its slots from now on (none: every slot is free)."""
    await operations.reset_tag_limit(ctx, tag, body.slot_override or [])
    return respond(None)


@v1.delete("/tag/{tag}")
async def delete_concurrency_limit_by_tag(tag: str, ctx: Ctx) -> JSONResponse:
    await operations.delete_tag_limit(ctx, tag)
    return respond(None)


@v1.get("/{id}", response_model=ConcurrencyLimit)
async def read_concurrency_limit(id: uuid.UUID, ctx: Ctx) -> JSONResponse:  # noqa: A002
    return respond(await operations.read_tag_limit_by_id(ctx, id))


@v1.delete("/{id}")
async def delete_concurrency_limit(id: uuid.UUID, ctx: Ctx) -> JSONResponse:  # noqa: A002
    await operations.delete_tag_limit_by_id(ctx, id)
    return respond(None)


# The module's router: the v1 routes plus the lease admin routes under /v2.
router = APIRouter()
router.include_router(v1)
router.include_router(concurrency_leases.router)
