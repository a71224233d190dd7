"""/block_types: kinds of blocks, by id and by slug, and the documents of a type.

HTTP only: each route parses, calls ``operations.block_types`` (or ``block_documents`` for
a type's documents) and shapes the answer. Built-in types are protected: see
``operations.block_types``.
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Body, Query, Request, Response

from flowyard.schemas import blocks as schemas
from flowyard.schemas.filters import Page
from flowyard.server.api.blocks_common import BlockCtx, ServerSettings
from flowyard.server.api.pagination import clamp_limit
from flowyard.server.api.responses import JSONResponse, no_content, respond, respond_many
from flowyard.server.operations import block_documents as document_operations
from flowyard.server.operations import block_types as operations

router = APIRouter(prefix="/block_types", tags=["Block types"])


class BlockTypeFilterBody(Page):
    block_types: schemas.BlockTypeFilter | None = None
    block_schemas: schemas.BlockSchemaFilter | None = None


@router.post("/", status_code=201, response_model=schemas.BlockType)
async def create_block_type(block_type: schemas.BlockTypeCreate, ctx: BlockCtx) -> JSONResponse:
    return respond(await operations.create_block_type(ctx, block_type), 201)


@router.post("/filter", response_model=list[schemas.BlockType])
async def read_block_types(
    request: Request,
    ctx: BlockCtx,
    body: BlockTypeFilterBody = Body(default_factory=BlockTypeFilterBody),
) -> JSONResponse:
    limit = clamp_limit(request, body.limit)
    types = await operations.read_block_types(
        ctx, body.block_types, body.block_schemas, limit, body.offset
    )
    return respond_many(types)


@router.post("/install_system_block_types", response_model=None)
async def install_system_block_types(ctx: BlockCtx) -> JSONResponse:
    await operations.install_system_block_types(ctx)
    return JSONResponse(None)


@router.get("/slug/{slug}", response_model=schemas.BlockType)
async def read_block_type_by_slug(slug: str, ctx: BlockCtx) -> JSONResponse:
    return respond(await operations.read_block_type_by_slug(ctx, slug))


@router.get("/slug/{slug}/block_documents", response_model=list[schemas.BlockDocument])
async def read_block_documents_for_block_type(
    slug: str,
    ctx: BlockCtx,
    settings: ServerSettings,
    include_secrets: bool = Query(default=False),
) -> JSONResponse:
    documents = await document_operations.read_block_documents_of_type(
        ctx, settings, slug, include_secrets
    )
    return respond_many(documents)


@router.get(
    "/slug/{slug}/block_documents/name/{block_document_name}",
    response_model=schemas.BlockDocument,
)
async def read_block_document_by_name_for_block_type(
    slug: str,
    block_document_name: str,
    ctx: BlockCtx,
    settings: ServerSettings,
    include_secrets: bool = Query(default=False),
) -> JSONResponse:
    document = await document_operations.read_block_document_by_name(
        ctx, settings, slug, block_document_name, include_secrets
    )
    return respond(document)


@router.get("/{id}", response_model=schemas.BlockType)
async def read_block_type(id: uuid.UUID, ctx: BlockCtx) -> JSONResponse:
    return respond(await operations.read_block_type(ctx, id))


@router.patch("/{id}", status_code=204)
async def update_block_type(
    id: uuid.UUID, update: schemas.BlockTypeUpdate, ctx: BlockCtx
) -> Response:
    await operations.update_block_type(ctx, id, update)
    return no_content()


@router.delete("/{id}", status_code=204)
async def delete_block_type(id: uuid.UUID, ctx: BlockCtx) -> Response:
    await operations.delete_block_type(ctx, id)
    return no_content()
