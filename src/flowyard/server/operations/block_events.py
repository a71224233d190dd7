"""Lifecycle events of blocks: ``prefect.block-type.*`` and ``prefect.block-document.*``.

Shapes follow the official server: a block type's event carries the type's post-state; a
block document's carries its name, the block schema's capabilities and block type, and of
its data only the top-level string values no secret path touches
(:func:`~flowyard.server.blocks.secrets.public_strings`). A ``deleted`` event carries no
data at all: nothing needs the values of a document that is gone, and a document whose data
this server's key can no longer decrypt must still be deletable.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from flowyard.schemas import blocks as schemas
from flowyard.server.blocks.secrets import public_strings, secret_fields_of
from flowyard.server.database.orm_blocks import BlockType
from flowyard.server.operations.context import Tx
from flowyard.server.operations.lifecycle import Action, emit_lifecycle

TYPE_FIELDS = (
    "name", "slug", "logo_url", "documentation_url", "description", "code_example",
    "is_protected",
)  # fmt: skip


def emit_block_type(
    tx: Tx, action: Action, row: BlockType | schemas.BlockType, changed: Iterable[str] = ()
) -> None:
    payload = {name: getattr(row, name) for name in TYPE_FIELDS}
    emit_lifecycle(tx, "block-type", action, row.id, row.name, changed=changed, payload=payload)


def emit_block_document(
    tx: Tx, action: Action, document: schemas.BlockDocument, changed: Iterable[str] = ()
) -> None:
    """``document`` as read back (masked): its public strings go in the payload."""
    schema = document.block_schema
    secret_fields = secret_fields_of(schema.fields) if schema is not None else []
    data = public_strings(document.data, secret_fields) if action != "deleted" else None
    _emit_document(
        tx,
        action,
        document_id=document.id,
        name=document.name,
        block_type_id=document.block_type_id,
        block_type_name=document.block_type_name,
        block_schema_id=document.block_schema_id,
        capabilities=schema.capabilities if schema is not None else None,
        data=data,
        changed=changed,
    )


def emit_block_document_deleted(
    tx: Tx,
    *,
    document_id: uuid.UUID,
    name: str,
    block_type: BlockType | None,
    block_type_id: uuid.UUID,
    block_schema_id: uuid.UUID,
    capabilities: list[str] | None,
) -> None:
    _emit_document(
        tx,
        "deleted",
        document_id=document_id,
        name=name,
        block_type_id=block_type_id,
        block_type_name=block_type.name if block_type is not None else None,
        block_schema_id=block_schema_id,
        capabilities=capabilities,
        data=None,
    )


def _emit_document(
    tx: Tx,
    action: Action,
    *,
    document_id: uuid.UUID,
    name: str | None,
    block_type_id: uuid.UUID,
    block_type_name: str | None,
    block_schema_id: uuid.UUID,
    capabilities: list[str] | None,
    data: dict[str, str] | None,
    changed: Iterable[str] = (),
) -> None:
    payload: dict[str, Any] = {"name": name}
    if data is not None:
        payload["data"] = data
    if capabilities is not None:
        payload["block_schema"] = {
            "capabilities": list(capabilities),
            "block_type": {"id": str(block_type_id), "name": block_type_name or ""},
        }
    block_type = {
        "prefect.resource.id": f"prefect.block-type.{block_type_id}",
        "prefect.resource.role": "block-type",
    }
    if block_type_name:
        block_type["prefect.resource.name"] = block_type_name
    related = [
        block_type,
        {
            "prefect.resource.id": f"prefect.block-schema.{block_schema_id}",
            "prefect.resource.role": "block-schema",
        },
    ]
    emit_lifecycle(
        tx,
        "block-document",
        action,
        document_id,
        name,
        related=related,
        changed=changed,
        payload=payload,
    )
