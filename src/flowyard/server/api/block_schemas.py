"""/block_schemas: the JSON schemas of block types' fields, by id and by checksum. HTTP
only: each route parses, calls ``operations.block_schemas`` and shapes the answer."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Body, Query, Request, Response

from flowyard.schemas import blocks as schemas
from flowyard.schemas.filters import Page
from flowyard.server.api.blocks_common import BlockCtx
from flowyard.server.api.pagination import clamp_limit
from flowyard.server.api.responses import (
    JSONResponse,
    also,
    no_content,
    respond,
    respond_many,
)
from flowyard.server.operations import block_schemas as operations

router = APIRouter(prefix="/block_schemas", tags=["Block schemas"])


class BlockSchemaFilterBody(Page):
    block_schemas: schemas.BlockSchemaFilter | None = None


@router.post(
    "/",
    status_code=201,
    response_model=schemas.BlockSchema,
    responses=also(200, schemas.BlockSchema, "An identical schema already existed."),
)
async def create_block_schema(
    block_schema: schemas.BlockSchemaCreate, ctx: BlockCtx
) -> JSONResponse:
    """Create a schema; an identical one (same checksum and version) is answered with 200."""
    schema, created = await operations.create_block_schema(ctx, block_schema)
    return respond(schema, 201 if created else 200)


@router.post("/filter", response_model=list[schemas.BlockSchema])
async def read_block_schemas(
    request: Request,
    ctx: BlockCtx,
    body: BlockSchemaFilterBody = Body(default_factory=BlockSchemaFilterBody),
) -> JSONResponse:
    limit = clamp_limit(request, body.limit)
    return respond_many(
        await operations.read_block_schemas(ctx, body.block_schemas, limit, body.offset)
    )


@router.get("/checksum/{checksum}", response_model=schemas.BlockSchema)
async def read_block_schema_by_checksum(
    checksum: str, ctx: BlockCtx, version: str | None = Query(default=None)
) -> JSONResponse:
    return respond(await operations.read_block_schema_by_checksum(ctx, checksum, version))


@router.get("/{id}", response_model=schemas.BlockSchema)
async def read_block_schema(id: uuid.UUID, ctx: BlockCtx) -> JSONResponse:
    return respond(await operations.read_block_schema(ctx, id))


@router.delete("/{id}", status_code=204)
async def delete_block_schema(id: uuid.UUID, ctx: BlockCtx) -> Response:
    await operations.delete_block_schema(ctx, id)
    return no_content()
