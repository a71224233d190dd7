"""/block_documents: saved blocks. Secret values are encrypted at rest and answered as
``********`` unless ``include_secrets=true`` is asked (and allowed: :func:`secrets_allowed`)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Depends, HTTPException, Query, Request, Response
from pydantic import Field

from flowyard.schemas import blocks as schemas
from flowyard.schemas.base import ActionModel
from flowyard.server.api.dependencies import WorkspaceContext
from flowyard.server.api.pagination import clamp_limit
from flowyard.server.api.responses import JSONResponse, no_content, respond, respond_many
from flowyard.server.blocks.documents import BlockRefused, Documents
from flowyard.server.blocks.encryption import BlockCipher, UndecryptableData
from flowyard.server.blocks.registration import block_cipher, block_context
from flowyard.server.database.orm_blocks import BlockDocument
from flowyard.server.queries import block_documents as queries

router = APIRouter(prefix="/block_documents", tags=["Block documents"])

BlockCtx = Annotated[WorkspaceContext, Depends(block_context)]
Cipher = Annotated[BlockCipher, Depends(block_cipher)]
NOT_FOUND = "Block document not found."


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


def refused(exc: BlockRefused) -> HTTPException:
    return HTTPException(exc.status, exc.message)


def secrets_allowed(ctx: WorkspaceContext, include_secrets: bool) -> None:
    """The one place that decides whether this caller may read secret values in clear.

    Single-user mode: everyone may. The roles layer (issue: cloud) checks the caller's
    "view secret block data" permission here and raises 403 when it is missing.
    """
    del ctx, include_secrets


async def read_models(
    documents: Documents, rows: list[BlockDocument], include_secrets: bool
) -> list[schemas.BlockDocument]:
    try:
        return await documents.models(rows, include_secrets)
    except UndecryptableData as exc:
        raise HTTPException(500, str(exc)) from None


@router.post("/", status_code=201, response_model=schemas.BlockDocument)
async def create_block_document(
    block_document: schemas.BlockDocumentCreate, ctx: BlockCtx, cipher: Cipher
) -> JSONResponse:
    async with ctx.db.write() as session:
        documents = Documents(session, ctx.workspace_id, cipher)
        try:
            row = await documents.create(block_document)
        except BlockRefused as exc:
            raise refused(exc) from None
        models = await read_models(documents, [row], include_secrets=False)
    return respond(models[0], 201)


@router.post("/filter", response_model=list[schemas.BlockDocument])
async def read_block_documents(
    request: Request,
    ctx: BlockCtx,
    cipher: Cipher,
    body: BlockDocumentFilterBody = Body(default_factory=BlockDocumentFilterBody),
) -> JSONResponse:
    secrets_allowed(ctx, body.include_secrets)
    limit = clamp_limit(request, body.limit)
    conditions = queries.block_document_conditions(
        ctx.workspace_id,
        body.block_documents,
        body.block_types,
        body.block_schemas,
        ctx.db.dialect,
    )
    sort = body.sort or schemas.BlockDocumentSort.NAME_ASC
    async with ctx.db.read() as session:
        rows = await queries.read_block_documents(
            session, conditions, sort, limit, body.offset or 0
        )
        models = await read_models(
            Documents(session, ctx.workspace_id, cipher), list(rows), body.include_secrets
        )
    return respond_many(models)


@router.post("/count", response_model=int)
async def count_block_documents(
    ctx: BlockCtx, body: BlockDocumentCountBody = Body(default_factory=BlockDocumentCountBody)
) -> JSONResponse:
    conditions = queries.block_document_conditions(
        ctx.workspace_id,
        body.block_documents,
        body.block_types,
        body.block_schemas,
        ctx.db.dialect,
    )
    async with ctx.db.read() as session:
        return JSONResponse(await queries.count_block_documents(session, conditions))


@router.get("/{id}", response_model=schemas.BlockDocument)
async def read_block_document(
    id: uuid.UUID, ctx: BlockCtx, cipher: Cipher, include_secrets: bool = Query(default=False)
) -> JSONResponse:
    secrets_allowed(ctx, include_secrets)
    async with ctx.db.read() as session:
        row = await queries.read_block_document(session, ctx.workspace_id, id)
        if row is None:
            raise HTTPException(404, NOT_FOUND)
        models = await read_models(
            Documents(session, ctx.workspace_id, cipher), [row], include_secrets
        )
    return respond(models[0])


@router.patch("/{id}", status_code=204)
async def update_block_document(
    id: uuid.UUID, update: schemas.BlockDocumentUpdate, ctx: BlockCtx, cipher: Cipher
) -> Response:
    async with ctx.db.write() as session:
        row = await queries.read_block_document(session, ctx.workspace_id, id)
        if row is None:
            raise HTTPException(404, NOT_FOUND)
        try:
            await Documents(session, ctx.workspace_id, cipher).update(row, update)
        except BlockRefused as exc:
            raise refused(exc) from None
        except UndecryptableData as exc:
            raise HTTPException(500, str(exc)) from None
    return no_content()


@router.delete("/{id}", status_code=204)
async def delete_block_document(id: uuid.UUID, ctx: BlockCtx, cipher: Cipher) -> Response:
    async with ctx.db.write() as session:
        row = await queries.read_block_document(session, ctx.workspace_id, id)
        if row is None:
            raise HTTPException(404, NOT_FOUND)
        try:
            await Documents(session, ctx.workspace_id, cipher).delete(row)
        except BlockRefused as exc:
            raise refused(exc) from None
    return no_content()
