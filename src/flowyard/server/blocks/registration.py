"""The built-in block types, registered in each workspace the first time a block route
serves it (idempotent: concurrent and repeated registrations insert nothing twice)."""

from __future__ import annotations

import functools
import uuid
from typing import Any

import sqlalchemy as sa
from fastapi import HTTPException, Request
from sqlalchemy.ext.asyncio import AsyncSession

from flowyard.exceptions import ConfigurationError
from flowyard.schemas.blocks import schema_checksum
from flowyard.server.api.dependencies import Ctx, WorkspaceContext
from flowyard.server.blocks.encryption import BlockCipher, cipher_for
from flowyard.server.database.orm_blocks import BlockSchema, BlockType
from flowyard.server.queries.upsert import dialect_insert

# app.state attribute: the workspaces whose built-ins this process has checked.
READY_FLAG = "blocks_ready"
METADATA = ("logo_url", "documentation_url", "description", "code_example")


@functools.cache
def builtin_specs() -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(block type values, block schema values) of every built-in, computed once."""
    from flowyard.sdk.blocks.system import BUILT_INS

    specs = []
    for cls in BUILT_INS:
        fields = cls.block_schema_fields()
        schema = {
            "fields": fields,
            "checksum": schema_checksum(fields),
            "capabilities": list(cls._block_schema_capabilities),
            "version": cls.get_block_schema_version(),
        }
        specs.append((cls.block_type_create().model_dump(), schema))
    return specs


async def builtins_present(session: AsyncSession, workspace_id: uuid.UUID) -> bool:
    specs = builtin_specs()
    count = await session.scalar(
        sa.select(sa.func.count())
        .select_from(BlockSchema)
        .where(
            BlockSchema.workspace_id == workspace_id,
            BlockSchema.checksum.in_([schema["checksum"] for _, schema in specs]),
        )
    )
    return (count or 0) >= len(specs)


async def install_builtin_blocks(session: AsyncSession, workspace_id: uuid.UUID) -> None:
    """Create the built-in types (protected) and their schemas where missing."""
    for block_type, schema in builtin_specs():
        values = dict(block_type, id=uuid.uuid4(), workspace_id=workspace_id, is_protected=True)
        await session.execute(
            dialect_insert(session, BlockType).values(values).on_conflict_do_nothing()
        )
        # A type registered by an older release (or by a client, before this server knew
        # it as built in) takes this release's description and protection.
        metadata = {key: block_type[key] for key in METADATA}
        await session.execute(
            sa.update(BlockType)
            .where(BlockType.workspace_id == workspace_id, BlockType.slug == block_type["slug"])
            .values(**metadata, is_protected=True)
        )
        type_id = await session.scalar(
            sa.select(BlockType.id).where(
                BlockType.workspace_id == workspace_id, BlockType.slug == block_type["slug"]
            )
        )
        if type_id is None:
            continue  # a user's type took the built-in's name under another slug
        row = dict(schema, id=uuid.uuid4(), workspace_id=workspace_id, block_type_id=type_id)
        await session.execute(
            dialect_insert(session, BlockSchema)
            .values(row)
            .on_conflict_do_nothing(index_elements=["workspace_id", "checksum", "version"])
        )


async def block_context(request: Request, ctx: Ctx) -> WorkspaceContext:
    """The workspace context of a block route, with the built-ins installed in it."""
    state = request.app.state
    ready: set[uuid.UUID] | None = getattr(state, READY_FLAG, None)
    if ready is None:
        ready = set()
        setattr(state, READY_FLAG, ready)
    if ctx.workspace_id not in ready:
        async with ctx.db.read() as session:
            present = await builtins_present(session, ctx.workspace_id)
        if not present:
            async with ctx.db.write() as session:
                await install_builtin_blocks(session, ctx.workspace_id)
        ready.add(ctx.workspace_id)
    return ctx


def block_cipher(request: Request) -> BlockCipher:
    """The cipher of this server's encryption key (created on first use)."""
    try:
        return cipher_for(request.app.state.settings)
    except ConfigurationError as exc:  # a bad FLOWYARD_SERVER_ENCRYPTION_KEY, say
        raise HTTPException(500, str(exc)) from None
