"""The built-in block types, registered in each workspace the first time it uses blocks.

What is registered is plain data, ``builtin_blocks.json`` beside this module: the server
never imports the SDK (an import-linter contract forbids ``server -> sdk``), so the file is
generated from the SDK's block classes by ``scripts/generate_builtin_blocks.py``, and a test
fails when the two differ. Registration is idempotent: concurrent and repeated
registrations insert nothing twice. ``operations.block_types`` decides when to run it.
"""

from __future__ import annotations

import functools
import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from flowyard.schemas import blocks as schemas
from flowyard.server.database.orm_blocks import BlockType
from flowyard.server.queries import blocks as queries

DATA_FILE = Path(__file__).with_name("builtin_blocks.json")


@dataclass(frozen=True, slots=True)
class BuiltinBlock:
    """One built-in: its type, and the fields, capabilities and version of its schema."""

    block_type: schemas.BlockTypeCreate
    fields: dict[str, Any]
    checksum: str
    capabilities: list[str]
    version: str


@functools.cache
def builtin_blocks() -> tuple[BuiltinBlock, ...]:
    """Every built-in, read from the data file once per process."""
    entries = json.loads(DATA_FILE.read_text(encoding="utf-8"))
    return tuple(
        BuiltinBlock(
            block_type=schemas.BlockTypeCreate.model_validate(entry["block_type"]),
            fields=entry["block_schema"]["fields"],
            checksum=entry["block_schema"]["checksum"],
            capabilities=list(entry["block_schema"]["capabilities"]),
            version=entry["block_schema"]["version"],
        )
        for entry in entries
    )


async def builtins_present(session: AsyncSession, workspace_id: uuid.UUID) -> bool:
    """Whether every built-in's schema is already in the workspace (one query)."""
    builtins = builtin_blocks()
    count = await queries.count_block_schemas_with_checksums(
        session, workspace_id, [builtin.checksum for builtin in builtins]
    )
    return count >= len(builtins)


async def install_builtin_blocks(session: AsyncSession, workspace_id: uuid.UUID) -> list[BlockType]:
    """Create the built-in types (protected) and their schemas where missing; returns the
    types this call created (the caller tells of them)."""
    created: list[BlockType] = []
    for builtin in builtin_blocks():
        new = await queries.create_block_type(
            session, workspace_id, builtin.block_type, is_protected=True
        )
        if new is not None:
            created.append(new)
        block_type = await queries.protect_block_type(session, workspace_id, builtin.block_type)
        if block_type is None:
            continue  # a user's type took the built-in's name under another slug
        await queries.create_block_schema(
            session,
            workspace_id,
            schemas.BlockSchemaCreate(
                fields=builtin.fields,
                block_type_id=block_type.id,
                capabilities=builtin.capabilities,
                version=builtin.version,
            ),
        )
    return created
