"""Admin routes on the leases that hold concurrency slots (mounted by ``concurrency_limits``).

The contract has no routes for these, so they live beside the v2 routes under names it
does not use:

* ``GET /v2/concurrency_limits/{id_or_name}/leases`` -- who holds the limit's slots, how
  many, until when;
* ``DELETE /v2/concurrency_limits/leases/{lease_id}`` -- revoke one lease: its slots come
  back at once (the holder's next renewal fails, so it learns it lost them);
* ``POST /v2/concurrency_limits/{id_or_name}/reset`` -- revoke every lease on the limit and
  set its held slots (default 0), for a limit left full by holders that are gone.
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Body, Response

from flowyard.schemas.concurrency import ConcurrencyLease, ConcurrencyLimitResetV2
from flowyard.server.api.dependencies import Ctx
from flowyard.server.api.responses import JSONResponse, no_content, respond_many
from flowyard.server.operations import concurrency_limits_v2 as operations

router = APIRouter(prefix="/v2/concurrency_limits", tags=["Concurrency Limits V2"])


@router.get("/{id_or_name}/leases", response_model=list[ConcurrencyLease])
async def read_concurrency_limit_leases(id_or_name: str, ctx: Ctx) -> JSONResponse:
    """The leases holding slots of a limit, oldest first (expired ones included until
    the reaper or the next increment sweeps them)."""
    return respond_many(await operations.read_limit_leases(ctx, id_or_name))


@router.delete("/leases/{lease_id}", status_code=204)
async def revoke_concurrency_lease(lease_id: uuid.UUID, ctx: Ctx) -> Response:
    """Revoke a lease and give its slots back."""
    await operations.revoke_lease(ctx, lease_id)
    return no_content()


@router.post("/{id_or_name}/reset", status_code=204)
async def reset_concurrency_limit(
    id_or_name: str,
    ctx: Ctx,
    body: ConcurrencyLimitResetV2 = Body(default_factory=ConcurrencyLimitResetV2),
) -> Response:
    """Revoke every lease on the limit and set its held slots to ``active_slots``."""
    await operations.reset_concurrency_limit(ctx, id_or_name, body.active_slots)
    return no_content()
