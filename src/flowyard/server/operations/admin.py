"""Admin: whether the database answers, and the workspace's default result storage (the
block document results are written with when a flow names none)."""

from __future__ import annotations

import uuid

from flowyard.schemas.responses import ServerDefaultResultStorage
from flowyard.server.database.engine import Database
from flowyard.server.errors import Invalid, NotFound
from flowyard.server.operations.context import Tx, operation, permission
from flowyard.server.queries import configuration as queries

READ = permission("read", "workspace")
UPDATE = permission("update", "workspace")


async def database_ready(db: Database) -> bool:
    """True when the database answers a query (``/ready``: no workspace, no actor)."""
    try:
        async with db.read() as session:
            await queries.ping(session)
    except Exception:  # noqa: BLE001 - any database failure means "not ready"
        return False
    return True


def _key(tx: Tx) -> str:
    return queries.workspace_key(queries.DEFAULT_RESULT_STORAGE, tx.workspace_id)


@operation(READ)
async def read_default_result_storage(tx: Tx) -> ServerDefaultResultStorage:
    value = await queries.read_configuration(tx.session, _key(tx))
    if value is None:
        return ServerDefaultResultStorage()
    return ServerDefaultResultStorage.model_validate(value)


@operation(UPDATE, writes=True)
async def update_default_result_storage(
    tx: Tx, block_document_id: uuid.UUID
) -> ServerDefaultResultStorage:
    """Results are stored with this block document by default; it must be one of the
    workspace's, of a block type that can write (the ``write-path`` capability)."""
    capabilities = await queries.block_document_capabilities(
        tx.session, tx.workspace_id, block_document_id
    )
    if capabilities is None:
        raise NotFound(f"Block document {block_document_id} not found.")
    if "write-path" not in capabilities:
        raise Invalid(f"Block document {block_document_id} cannot be used for result storage.")
    storage = ServerDefaultResultStorage(default_result_storage_block_id=block_document_id)
    await queries.write_configuration(tx.session, _key(tx), storage.model_dump(mode="json"))
    return storage


@operation(UPDATE, writes=True)
async def clear_default_result_storage(tx: Tx) -> None:
    await queries.delete_configuration(tx.session, _key(tx))
