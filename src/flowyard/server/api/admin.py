"""Health, versions, CSRF and admin endpoints the official client checks before it works."""

from __future__ import annotations

from fastapi import APIRouter, Body, Request, Response

from flowyard.schemas.actions import ServerDefaultResultStorageUpdate, TaskWorkerFilter
from flowyard.schemas.responses import (
    CsrfToken,
    ServerDefaultResultStorage,
    ServerSettings,
    TaskWorkerResponse,
)
from flowyard.server.api.dependencies import Ctx
from flowyard.server.api.responses import JSONResponse, no_content, respond, respond_many
from flowyard.server.operations import admin as operations
from flowyard.server.operations import task_workers

router = APIRouter(tags=["Admin"])

# The Prefect API version we speak and the Prefect release we are compatible with. The
# official client refuses another major version and warns on an older minor one.
API_VERSION = "0.8.4"
COMPATIBLE_PREFECT_VERSION = "3.9.1"


@router.get("/health", response_model=bool)
async def health() -> JSONResponse:
    return JSONResponse(True)


@router.get("/ready")
async def ready(request: Request) -> JSONResponse:
    if not await operations.database_ready(request.app.state.db):
        return JSONResponse({"message": "Database is not ready."}, status_code=503)
    return JSONResponse({"message": "OK"})


@router.get("/version", response_model=str)
async def api_version() -> JSONResponse:
    return JSONResponse(API_VERSION)


@router.get("/hello", response_model=str)
async def hello() -> JSONResponse:
    return JSONResponse("👋")


@router.get("/admin/version", response_model=str)
async def server_version() -> JSONResponse:
    return JSONResponse(COMPATIBLE_PREFECT_VERSION)


@router.get("/admin/settings", response_model=ServerSettings)
async def server_settings(request: Request, ctx: Ctx) -> JSONResponse:
    # ``ctx``: like every route that tells something of the server, only for callers the
    # request context lets in.
    settings = request.app.state.settings
    # Never echo secrets or the database URL (it may hold a password).
    return JSONResponse(
        {"api_default_limit": settings.api_default_limit, "logging_level": settings.logging_level}
    )


@router.get("/admin/storage", response_model=ServerDefaultResultStorage)
async def read_storage(ctx: Ctx) -> JSONResponse:
    return respond(await operations.read_default_result_storage(ctx))


@router.put("/admin/storage", response_model=ServerDefaultResultStorage)
async def update_storage(body: ServerDefaultResultStorageUpdate, ctx: Ctx) -> JSONResponse:
    """Store results with this block document by default (it must be able to write)."""
    storage = await operations.update_default_result_storage(
        ctx, body.default_result_storage_block_id
    )
    return respond(storage)


@router.delete("/admin/storage", status_code=204)
async def clear_storage(ctx: Ctx) -> Response:
    await operations.clear_default_result_storage(ctx)
    return no_content()


@router.post("/task_workers/filter", response_model=list[TaskWorkerResponse], tags=["Task Workers"])
async def read_task_workers(
    ctx: Ctx, task_worker_filter: TaskWorkerFilter | None = Body(default=None, embed=True)
) -> JSONResponse:
    """The background task workers connected to this server (optionally: those serving
    any of ``task_keys``)."""
    keys = task_worker_filter.task_keys if task_worker_filter else None
    return respond_many(await task_workers.read_task_workers(ctx, keys))


@router.get("/csrf-token", response_model=CsrfToken)
async def csrf_token() -> JSONResponse:
    # Single-user mode has no CSRF protection; this exact answer tells the official client
    # to stop asking for tokens.
    return JSONResponse({"detail": "CSRF protection is disabled."}, status_code=422)
