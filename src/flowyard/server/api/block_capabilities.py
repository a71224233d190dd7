"""/block_capabilities: every capability that some block schema of the workspace declares."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from flowyard.server.api.dependencies import WorkspaceContext
from flowyard.server.api.responses import JSONResponse
from flowyard.server.blocks.registration import block_context
from flowyard.server.queries import blocks as queries

router = APIRouter(prefix="/block_capabilities", tags=["Block capabilities"])

BlockCtx = Annotated[WorkspaceContext, Depends(block_context)]


@router.get("/", response_model=list[str])
async def read_available_block_capabilities(ctx: BlockCtx) -> JSONResponse:
    async with ctx.db.read() as session:
        return JSONResponse(await queries.read_capabilities(session, ctx.workspace_id))
