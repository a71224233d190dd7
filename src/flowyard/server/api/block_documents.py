"""/block_documents: saved blocks. HTTP only: each route parses, calls
``operations.block_documents`` and shapes the answer. Secret values are encrypted at rest
and answered as ``********`` unless ``include_secrets=true`` is asked (and allowed)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Body, Query, Request, Response
from pydantic import Field

from flowyard.schemas import blocks as schemas
from flowyard.schemas.base import ActionModel
from flowyard.server.api.blocks_common import BlockCtx, ServerSettings
from flowyard.server.api.pagination import clamp_limit
from flowyard.server.api.responses import JSONResponse, no_content, respond, respond_many
from flowyard.server.operations import block_documents as operations

router = APIRouter(prefix="/block_documents", tags=["Block documents"])


class BlockDocumentFilterBody(ActionModel):
    block_documents: schemas.BlockDocumentFilter | None = None
    block_types: schemas.BlockTypeFilter | None = None
    block_schemas: schemas.BlockSchemaFilter | None = None
    include_secrets: bool = False
    sort: schemas.BlockDocumentSort | None = schemas.BlockDocumentSort.NAME_ASC
    # The official CLI sends nulls for both (and a legacy block_schema_type).
    limit: int | None = Field(default=None, ge=0)
    offset: int | None = Field(default=0, ge=0)
    block_schema_type: str | None = None


class BlockDocumentCountBody(ActionModel):
    block_documents: schemas.BlockDocumentFilter | None = None
    block_types: schemas.BlockTypeFilter | None = None
    block_schemas: schemas.BlockSchemaFilter | None = None


@router.post("/", status_code=201, response_model=schemas.BlockDocument)
async def create_block_document(
    block_document: schemas.BlockDocumentCreate, ctx: BlockCtx, settings: ServerSettings
) -> JSONResponse:
    return respond(await operations.create_block_document(ctx, settings, block_document), 201)


@router.post("/filter", response_model=list[schemas.BlockDocument])
async def read_block_documents(
    request: Request,
    ctx: BlockCtx,
    settings: ServerSettings,
    body: BlockDocumentFilterBody = Body(default_factory=BlockDocumentFilterBody),
) -> JSONResponse:
    documents = await operations.read_block_documents(
        ctx,
        settings,
        body.block_documents,
        body.block_types,
        body.block_schemas,
        include_secrets=body.include_secrets,
        sort=body.sort or schemas.BlockDocumentSort.NAME_ASC,
        limit=clamp_limit(request, body.limit),
        offset=body.offset or 0,
    )
    return respond_many(documents)


@router.post("/count", response_model=int)
async def count_block_documents(
    ctx: BlockCtx, body: BlockDocumentCountBody = Body(default_factory=BlockDocumentCountBody)
) -> JSONResponse:
    count = await operations.count_block_documents(
        ctx, body.block_documents, body.block_types, body.block_schemas
    )
    return JSONResponse(count)


@router.get("/{id}", response_model=schemas.BlockDocument)
async def read_block_document(
    id: uuid.UUID,
    ctx: BlockCtx,
    settings: ServerSettings,
    include_secrets: bool = Query(default=False),
) -> JSONResponse:
    return respond(await operations.read_block_document(ctx, settings, id, include_secrets))


@router.patch("/{id}", status_code=204)
async def update_block_document(
    id: uuid.UUID, update: schemas.BlockDocumentUpdate, ctx: BlockCtx, settings: ServerSettings
) -> Response:
    await operations.update_block_document(ctx, settings, id, update)
    return no_content()


@router.delete("/{id}", status_code=204)
async def delete_block_document(id: uuid.UUID, ctx: BlockCtx) -> Response:
    await operations.delete_block_document(ctx, id)
    return no_content()
