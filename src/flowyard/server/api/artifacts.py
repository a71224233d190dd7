"""/artifacts: create, read, filter, the latest artifact per key, update, delete. HTTP only:
each route parses, calls ``operations.artifacts`` and shapes the answer."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Body, Request, Response

from flowyard.schemas import actions, core
from flowyard.schemas.base import ActionModel
from flowyard.schemas.filters import (
    ArtifactCollectionFilter,
    ArtifactFilter,
    DeploymentFilter,
    FlowFilter,
    FlowRunFilter,
    Page,
    RunFilters,
    TaskRunFilter,
)
from flowyard.schemas.sorting import ArtifactSort
from flowyard.server.api.dependencies import Ctx
from flowyard.server.api.pagination import clamp_limit
from flowyard.server.api.responses import JSONResponse, no_content, respond, respond_many
from flowyard.server.operations import artifacts as operations

router = APIRouter(prefix="/artifacts", tags=["Artifacts"])


class _RelatedFilters(ActionModel):
    """Filters on the runs an artifact belongs to (its flow run's flow and deployment)."""

    flows: FlowFilter | None = None
    flow_runs: FlowRunFilter | None = None
    task_runs: TaskRunFilter | None = None
    deployments: DeploymentFilter | None = None

    def related(self) -> RunFilters:
        return RunFilters(
            flows=self.flows,
            flow_runs=self.flow_runs,
            task_runs=self.task_runs,
            deployments=self.deployments,
        )


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
    return respond(await operations.create_artifact(ctx, artifact), 201)


@router.post("/filter", response_model=list[core.Artifact])
async def read_artifacts(
    request: Request, ctx: Ctx, body: ArtifactFilterBody = Body(default_factory=ArtifactFilterBody)
) -> JSONResponse:
    limit = clamp_limit(request, body.limit)
    artifacts = await operations.read_artifacts(
        ctx, body.artifacts, body.related(), body.sort, limit, body.offset
    )
    return respond_many(artifacts)


@router.post("/count", response_model=int)
async def count_artifacts(
    ctx: Ctx, body: ArtifactCountBody = Body(default_factory=ArtifactCountBody)
) -> JSONResponse:
    return JSONResponse(await operations.count_artifacts(ctx, body.artifacts, body.related()))


@router.post("/latest/filter", response_model=list[core.ArtifactCollection])
async def read_latest_artifacts(
    request: Request,
    ctx: Ctx,
    body: CollectionFilterBody = Body(default_factory=CollectionFilterBody),
) -> JSONResponse:
    limit = clamp_limit(request, body.limit)
    collections = await operations.read_artifact_collections(
        ctx, body.artifacts, body.related(), body.sort, limit, body.offset
    )
    return respond_many(collections)


@router.post("/latest/count", response_model=int)
async def count_latest_artifacts(
    ctx: Ctx, body: CollectionCountBody = Body(default_factory=CollectionCountBody)
) -> JSONResponse:
    count = await operations.count_artifact_collections(ctx, body.artifacts, body.related())
    return JSONResponse(count)


@router.get("/{key}/latest", response_model=core.Artifact)
async def read_latest_artifact(key: str, ctx: Ctx) -> JSONResponse:
    return respond(await operations.read_latest_artifact(ctx, key))


@router.get("/{id}", response_model=core.Artifact)
async def read_artifact(id: uuid.UUID, ctx: Ctx) -> JSONResponse:
    return respond(await operations.read_artifact(ctx, id))


@router.patch("/{id}", status_code=204)
async def update_artifact(id: uuid.UUID, update: actions.ArtifactUpdate, ctx: Ctx) -> Response:
    await operations.update_artifact(ctx, id, update)
    return no_content()


@router.delete("/{id}", status_code=204)
async def delete_artifact(id: uuid.UUID, ctx: Ctx) -> Response:
    await operations.delete_artifact(ctx, id)
    return no_content()
