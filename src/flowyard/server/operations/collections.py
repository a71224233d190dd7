"""The collection registry's views this server serves: the worker types a pool can have,
with their default base job templates (``server/queries/worker_metadata.json``)."""

from __future__ import annotations

from typing import Any

from flowyard.server.operations.context import Tx, operation, permission
from flowyard.server.queries import worker_metadata

READ = permission("read", "work_pool")


@operation(READ)
async def read_worker_metadata(tx: Tx) -> dict[str, dict[str, dict[str, Any]]]:
    """``aggregate-worker-metadata``: by collection, then worker type."""
    return worker_metadata.worker_metadata()
