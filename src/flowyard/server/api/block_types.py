"""/block_types: kinds of blocks, by id and by slug, and the documents of a type.

Built-in types are protected: they cannot be deleted, and a PATCH to one changes nothing
(204). The official client PATCHes a type whose description differs from its own on
every ``save``; refusing it would break ``Secret.save`` from that client, so the route
answers as if the (cosmetic) update were done while the stored type stays as it is.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Depends, HTTPException, Query, Request, Response

from flowyard.schemas import blocks as schemas
from flowyard.schemas.filters import Page
from flowyard.server.api.block_documents import read_models, refused, secrets_allowed
from flowyard.server.api.dependencies import WorkspaceContext
from flowyard.server.api.pagination import clamp_limit
from flowyard.server.api.responses import JSONResponse, no_content, respond, respond_many
from flowyard.server.blocks.documents import BlockRefused, Documents
from flowyard.server.blocks.encryption import BlockCipher
from flowyard.server.blocks.registration import block_cipher, block_context, install_builtin_blocks
from flowyard.server.database.orm_blocks import BlockDocument
from flowyard.server.queries import block_documents as document_queries
from flowyard.server.queries import blocks as queries

router = APIRouter(prefix="/block_types", tags=["Block types"])

BlockCtx = Annotated[WorkspaceContext, Depends(block_context)]
Cipher = Annotated[BlockCipher, Depends(block_cipher)]
NOT_FOUND = "Block type not found."


class BlockTypeFilterBody(Page):
    block_types: schemas.BlockTypeFilter | None = None
    block_schemas: schemas.BlockSchemaFilter | None = None


@router.post("/", status_code=201, response_model=schemas.BlockType)
async def create_block_type(block_type: schemas.BlockTypeCreate, ctx: BlockCtx) -> JSONResponse:
    async with ctx.db.write() as session:
        row = await queries.create_block_type(session, ctx.workspace_id, block_type)
    if row is None:
        raise HTTPException(
            409, f"A block type named {block_type.name!r} or slugged {block_type.slug!r} exists."
        )
    return respond(queries.type_model(row), 201)


@router.post("/filter", response_model=list[schemas.BlockType])
async def read_block_types(
    request: Request,
    ctx: BlockCtx,
    body: BlockTypeFilterBody = Body(default_factory=BlockTypeFilterBody),
) -> JSONResponse:
    limit = clamp_limit(request, body.limit)
    conditions = queries.block_type_conditions(
        ctx.workspace_id, body.block_types, body.block_schemas, ctx.db.dialect
    )
    async with ctx.db.read() as session:
        rows = await queries.read_block_types(session, conditions, limit, body.offset)
    return respond_many(queries.type_model(row) for row in rows)


@router.post("/install_system_block_types", response_model=None)
async def install_system_block_types(ctx: BlockCtx) -> JSONResponse:
    async with ctx.db.write() as session:
        await install_builtin_blocks(session, ctx.workspace_id)
    return JSONResponse(None)


@router.get("/slug/{slug}", response_model=schemas.BlockType)
async def read_block_type_by_slug(slug: str, ctx: BlockCtx) -> JSONResponse:
    async with ctx.db.read() as session:
        row = await queries.read_block_type_by_slug(session, ctx.workspace_id, slug)
    if row is None:
        raise HTTPException(404, f"Block type {slug!r} not found.")
    return respond(queries.type_model(row))


@router.get("/slug/{slug}/block_documents", response_model=list[schemas.BlockDocument])
async def read_block_documents_for_block_type(
    slug: str, ctx: BlockCtx, cipher: Cipher, include_secrets: bool = Query(default=False)
) -> JSONResponse:
    secrets_allowed(ctx, include_secrets)
    async with ctx.db.read() as session:
        block_type = await queries.read_block_type_by_slug(session, ctx.workspace_id, slug)
        if block_type is None:
            raise HTTPException(404, f"Block type {slug!r} not found.")
        flt = schemas.BlockDocumentFilter.model_validate(
            {"block_type_id": {"any_": [block_type.id]}}
        )
        conditions = document_queries.block_document_conditions(
            ctx.workspace_id, flt, None, None, ctx.db.dialect
        )
        rows = await document_queries.read_block_documents(
            session, conditions, schemas.BlockDocumentSort.NAME_ASC, None
        )
        models = await read_models(
            Documents(session, ctx.workspace_id, cipher), list(rows), include_secrets
        )
    return respond_many(models)


@router.get(
    "/slug/{slug}/block_documents/name/{block_document_name}",
    response_model=schemas.BlockDocument,
)
async def read_block_document_by_name_for_block_type(
    slug: str,
    block_document_name: str,
    ctx: BlockCtx,
    cipher: Cipher,
    include_secrets: bool = Query(default=False),
) -> JSONResponse:
    secrets_allowed(ctx, include_secrets)
    async with ctx.db.read() as session:
        row: BlockDocument | None = await document_queries.read_block_document_by_name(
            session, ctx.workspace_id, slug, block_document_name
        )
        if row is None:
            if await queries.read_block_type_by_slug(session, ctx.workspace_id, slug) is None:
                raise HTTPException(404, f"Block type {slug!r} not found.")
            raise HTTPException(404, f"Block document {slug}/{block_document_name} not found.")
        models = await read_models(
            Documents(session, ctx.workspace_id, cipher), [row], include_secrets
        )
    return respond(models[0])


@router.get("/{id}", response_model=schemas.BlockType)
async def read_block_type(id: uuid.UUID, ctx: BlockCtx) -> JSONResponse:
    async with ctx.db.read() as session:
        row = await queries.read_block_type(session, ctx.workspace_id, id)
    if row is None:
        raise HTTPException(404, NOT_FOUND)
    return respond(queries.type_model(row))


@router.patch("/{id}", status_code=204)
async def update_block_type(
    id: uuid.UUID, update: schemas.BlockTypeUpdate, ctx: BlockCtx
) -> Response:
    async with ctx.db.write() as session:
        row = await queries.read_block_type(session, ctx.workspace_id, id)
        if row is None:
            raise HTTPException(404, NOT_FOUND)
        if not row.is_protected:  # see the module docstring
            await queries.update_block_type(session, ctx.workspace_id, id, update)
    return no_content()


@router.delete("/{id}", status_code=204)
async def delete_block_type(id: uuid.UUID, ctx: BlockCtx) -> Response:
    async with ctx.db.write() as session:
        row = await queries.read_block_type(session, ctx.workspace_id, id)
        if row is None:
            raise HTTPException(404, NOT_FOUND)
        if row.is_protected:
            raise HTTPException(403, f"Block type {row.slug!r} is built in and cannot be deleted.")
        flt = schemas.BlockDocumentFilter.model_validate(
            {"block_type_id": {"any_": [id]}, "is_anonymous": None}
        )
        conditions = document_queries.block_document_conditions(
            ctx.workspace_id, flt, None, None, ctx.db.dialect
        )
        documents = await document_queries.read_block_documents(
            session, conditions, schemas.BlockDocumentSort.NAME_ASC, None
        )
        users = await document_queries.dependents(
            session, ctx.workspace_id, [document.id for document in documents]
        )
        if users:
            raise refused(
                BlockRefused(
                    409,
                    f"Block type {row.slug!r} has documents in use by {', '.join(users)}; "
                    "remove those uses first.",
                )
            )
        await queries.delete_block_type(session, ctx.workspace_id, id)
    return no_content()
