"""/automations and /templates/validate: HTTP only. Each route parses, calls
``operations.automations`` and shapes the answer."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Body, Request, Response

from flowyard.schemas.automations import (
    Automation,
    AutomationCountBody,
    AutomationCreate,
    AutomationFilterBody,
    AutomationPartialUpdate,
    AutomationUpdate,
)
from flowyard.server.api.dependencies import Ctx
from flowyard.server.api.pagination import clamp_limit
from flowyard.server.api.responses import JSONResponse, no_content, respond, respond_many
from flowyard.server.operations import automations as operations

router = APIRouter(tags=["Automations"])


@router.post("/automations/", status_code=201, response_model=Automation)
async def create_automation(automation: AutomationCreate, ctx: Ctx) -> JSONResponse:
    return respond(await operations.create_automation(ctx, automation), 201)


@router.post("/automations/filter", response_model=list[Automation])
async def read_automations(
    request: Request,
    ctx: Ctx,
    body: AutomationFilterBody = Body(default_factory=AutomationFilterBody),
) -> JSONResponse:
    limit = clamp_limit(request, body.limit)
    found = await operations.read_automations(ctx, body.automations, body.sort, limit, body.offset)
    return respond_many(found)


@router.post("/automations/count", response_model=int)
async def count_automations(
    ctx: Ctx, body: AutomationCountBody = Body(default_factory=AutomationCountBody)
) -> JSONResponse:
    return JSONResponse(await operations.count_automations(ctx, body.automations))


@router.get("/automations/related-to/{resource_id}", response_model=list[Automation])
async def read_automations_related_to(resource_id: str, ctx: Ctx) -> JSONResponse:
    return respond_many(await operations.read_automations_related_to(ctx, resource_id))


@router.delete(
    "/automations/owned-by/{resource_id}",
    status_code=202,
    response_class=Response,
    responses={202: {"description": "Every automation the resource owned is deleted."}},
)
async def delete_automations_owned_by(resource_id: str, ctx: Ctx) -> Response:
    await operations.delete_automations_owned_by(ctx, resource_id)
    return Response(status_code=202)


@router.get("/automations/{id}", response_model=Automation)
async def read_automation(id: uuid.UUID, ctx: Ctx) -> JSONResponse:
    return respond(await operations.read_automation(ctx, id))


@router.put("/automations/{id}", status_code=204)
async def update_automation(id: uuid.UUID, automation: AutomationUpdate, ctx: Ctx) -> Response:
    await operations.update_automation(ctx, id, automation)
    return no_content()


@router.patch("/automations/{id}", status_code=204)
async def patch_automation(id: uuid.UUID, patch: AutomationPartialUpdate, ctx: Ctx) -> Response:
    await operations.set_automation_enabled(ctx, id, patch.enabled)
    return no_content()


@router.delete("/automations/{id}", status_code=204)
async def delete_automation(id: uuid.UUID, ctx: Ctx) -> Response:
    await operations.delete_automation(ctx, id)
    return no_content()


@router.post("/templates/validate", response_class=Response)
@router.post("/automations/templates/validate", response_class=Response)
async def validate_template(
    ctx: Ctx, template: str = Body(default="", max_length=100_000)
) -> Response:
    """200 when the template parses; 422 naming the line and the reason otherwise."""
    await operations.validate_template(ctx, template)
    return Response(status_code=200)
