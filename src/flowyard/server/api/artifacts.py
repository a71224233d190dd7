"""/artifacts: create, read, filter, the latest artifact per key, update, delete."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Body, HTTPException, Request, Response
from pydantic import model_validator

from flowyard.schemas import actions, core
from flowyard.schemas.base import ActionModel
from flowyard.schemas.filters import ArtifactCollectionFilter, ArtifactFilter, Page
from flowyard.schemas.sorting import ArtifactSort
from flowyard.server.api.dependencies import Ctx
from flowyard.server.api.pagination import clamp_limit
from flowyard.server.api.responses import JSONResponse, no_content, respond, respond_many
from flowyard.server.queries import artifacts as queries

router = APIRouter(prefix="/artifacts", tags=["Artifacts"])

NOT_FOUND = "Artifact not found."


class _RelatedFilters(ActionModel):
    """Filters on related objects. Accepted so that clients sending nulls work; joining
    on them is not supported yet, so a non-null one is refused rather than ignored."""

    flows: dict[str, Any] | None = None
    flow_runs: dict[str, Any] | None = None
    task_runs: dict[str, Any] | None = None
    deployments: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _refuse_joins(self) -> _RelatedFilters:
        for name in ("flows", "flow_runs", "task_runs", "deployments"):
            if getattr(self, name):
                raise ValueError(f"{name}: filtering artifacts by {name} is not supported")
        return self


class ArtifactFilterBody(Page, _RelatedFilters):
    artifacts: ArtifactFilter | None = None
    sort: ArtifactSort = ArtifactSort.ID_DESC


class ArtifactCountBody(_RelatedFilters):
    artifacts: ArtifactFilter | None = None


class CollectionFilterBody(Page, _RelatedFilters):
    artifacts: ArtifactCollectionFilter | None = None
    sort: ArtifactSort = ArtifactSort.ID_DESC


class CollectionCountBody(_RelatedFilters):
    artifacts: ArtifactCollectionFilter | None = None


@router.post("/", status_code=201, response_model=core.Artifact)
async def create_artifact(artifact: actions.ArtifactCreate, ctx: Ctx) -> JSONResponse:
    async with ctx.db.write() as session:
        row = await queries.create_artifact(session, ctx.workspace_id, artifact)
    return respond(core.Artifact.from_row(row), 201)


@router.post("/filter", response_model=list[core.Artifact])
async def read_artifacts(
    request: Request, ctx: Ctx, body: ArtifactFilterBody = Body(default_factory=ArtifactFilterBody)
) -> JSONResponse:
    limit = clamp_limit(request, body.limit)
    conditions = queries.artifact_conditions(ctx.workspace_id, body.artifacts, ctx.db.dialect)
    async with ctx.db.read() as session:
        rows = await queries.read_artifacts(session, conditions, body.sort, limit, body.offset)
    return respond_many(core.Artifact.from_row(row) for row in rows)


@router.post("/count", response_model=int)
async def count_artifacts(
    ctx: Ctx, body: ArtifactCountBody = Body(default_factory=ArtifactCountBody)
) -> JSONResponse:
    conditions = queries.artifact_conditions(ctx.workspace_id, body.artifacts, ctx.db.dialect)
    async with ctx.db.read() as session:
        return JSONResponse(await queries.count_artifacts(session, conditions))


@router.post("/latest/filter", response_model=list[core.ArtifactCollection])
async def read_latest_artifacts(
    request: Request,
    ctx: Ctx,
    body: CollectionFilterBody = Body(default_factory=CollectionFilterBody),
) -> JSONResponse:
    limit = clamp_limit(request, body.limit)
    async with ctx.db.read() as session:
        rows = await queries.read_latest_artifacts(
            session, ctx.workspace_id, body.artifacts, body.sort, limit, body.offset
        )
    return respond_many(core.ArtifactCollection(**row, latest_id=row["id"]) for row in rows)


@router.post("/latest/count", response_model=int)
async def count_latest_artifacts(
    ctx: Ctx, body: CollectionCountBody = Body(default_factory=CollectionCountBody)
) -> JSONResponse:
    async with ctx.db.read() as session:
        count = await queries.count_latest_artifacts(session, ctx.workspace_id, body.artifacts)
    return JSONResponse(count)


@router.get("/{key}/latest", response_model=core.Artifact)
async def read_latest_artifact(key: str, ctx: Ctx) -> JSONResponse:
    async with ctx.db.read() as session:
        row = await queries.read_latest_artifact(session, ctx.workspace_id, key)
    if row is None:
        raise HTTPException(404, NOT_FOUND)
    return respond(core.Artifact.from_row(row))


@router.get("/{id}", response_model=core.Artifact)
async def read_artifact(id: uuid.UUID, ctx: Ctx) -> JSONResponse:
    async with ctx.db.read() as session:
        row = await queries.read_artifact(session, ctx.workspace_id, id)
    if row is None:
        raise HTTPException(404, NOT_FOUND)
    return respond(core.Artifact.from_row(row))


@router.patch("/{id}", status_code=204)
async def update_artifact(id: uuid.UUID, update: actions.ArtifactUpdate, ctx: Ctx) -> Response:
    async with ctx.db.write() as session:
        if not await queries.update_artifact(session, ctx.workspace_id, id, update):
            raise HTTPException(404, NOT_FOUND)
    return no_content()


@router.delete("/{id}", status_code=204)
async def delete_artifact(id: uuid.UUID, ctx: Ctx) -> Response:
    async with ctx.db.write() as session:
        if not await queries.delete_artifact(session, ctx.workspace_id, id):
            raise HTTPException(404, NOT_FOUND)
    return no_content()
