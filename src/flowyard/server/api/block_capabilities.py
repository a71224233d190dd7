"""/block_capabilities: every capability that some block schema of the workspace declares."""

from __future__ import annotations

from fastapi import APIRouter

from flowyard.server.api.blocks_common import BlockCtx
from flowyard.server.api.responses import JSONResponse
from flowyard.server.operations import block_schemas as operations

router = APIRouter(prefix="/block_capabilities", tags=["Block capabilities"])


@router.get("/", response_model=list[str])
async def read_available_block_capabilities(ctx: BlockCtx) -> JSONResponse:
    return JSONResponse(await operations.read_block_capabilities(ctx))
