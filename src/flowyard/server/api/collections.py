"""/collections/views/aggregate-worker-metadata: the worker types this server knows and their
default base job templates (``prefect work-pool create --type TYPE`` reads it), from
``operations.collections``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from flowyard.server.api.dependencies import Ctx
from flowyard.server.api.responses import JSONResponse
from flowyard.server.operations import collections as operations

router = APIRouter(prefix="/collections", tags=["Collections"])


@router.get(
    "/views/aggregate-worker-metadata", response_model=dict[str, dict[str, dict[str, Any]]]
)
async def read_worker_metadata(ctx: Ctx) -> JSONResponse:
    return JSONResponse(await operations.read_worker_metadata(ctx))
