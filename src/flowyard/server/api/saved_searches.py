"""/saved_searches: the named filter sets of Prefect's UI. HTTP only: each route parses,
calls ``operations.saved_searches`` and shapes the answer."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Body, Request, Response

from flowyard.schemas.filters import Page
from flowyard.schemas.saved_searches import SavedSearch, SavedSearchCreate
from flowyard.server.api.dependencies import Ctx
from flowyard.server.api.pagination import clamp_limit
from flowyard.server.api.responses import JSONResponse, also, no_content, respond, respond_many
from flowyard.server.operations import saved_searches as operations

router = APIRouter(prefix="/saved_searches", tags=["SavedSearches"])


@router.put(
    "/",
    status_code=200,
    response_model=SavedSearch,
    responses=also(201, SavedSearch, "The saved search was created."),
)
async def create_saved_search(saved_search: SavedSearchCreate, ctx: Ctx) -> JSONResponse:
    """Create a saved search; one of the same name has its filters replaced (200)."""
    model, created = await operations.create_saved_search(ctx, saved_search)
    return respond(model, 201 if created else 200)


@router.post("/filter", response_model=list[SavedSearch])
async def read_saved_searches(
    request: Request, ctx: Ctx, body: Page = Body(default_factory=Page)
) -> JSONResponse:
    limit = clamp_limit(request, body.limit)
    return respond_many(await operations.read_saved_searches(ctx, limit, body.offset))


@router.get("/{id}", response_model=SavedSearch)
async def read_saved_search(id: uuid.UUID, ctx: Ctx) -> JSONResponse:
    return respond(await operations.read_saved_search(ctx, id))


@router.delete("/{id}", status_code=204)
async def delete_saved_search(id: uuid.UUID, ctx: Ctx) -> Response:
    await operations.delete_saved_search(ctx, id)
    return no_content()
