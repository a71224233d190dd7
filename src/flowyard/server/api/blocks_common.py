"""What the block routers depend on: the workspace context with the built-in block types
in place, and the server's settings (the block encryption key comes from them)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from flowyard.server.api.dependencies import Ctx, WorkspaceContext
from flowyard.server.operations.block_types import ensure_builtin_block_types
from flowyard.settings import Settings


async def block_context(ctx: Ctx) -> WorkspaceContext:
    """The request's workspace context, once the built-in block types are registered in
    that workspace (nothing to do after the first block request there)."""
    await ensure_builtin_block_types(ctx)
    return ctx


def server_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


BlockCtx = Annotated[WorkspaceContext, Depends(block_context)]
ServerSettings = Annotated[Settings, Depends(server_settings)]
