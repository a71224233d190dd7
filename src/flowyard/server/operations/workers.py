"""Workers of a pool: heartbeats, listing, removal.

A heartbeat creates or refreshes the worker; the first one that makes its pool READY stores
``prefect.work-pool.ready``. Permissions are the pool's: a worker is part of its pool.
"""

from __future__ import annotations

import uuid

from flowyard.schemas import work_pools as schemas
from flowyard.server.errors import NotFound
from flowyard.server.operations.context import Tx, operation
from flowyard.server.operations.work_pool_events import emit_pool_status
from flowyard.server.operations.work_pools import READ, UPDATE, pool_by_name
from flowyard.server.queries import workers as queries


@operation(UPDATE, writes=True)
async def worker_heartbeat(tx: Tx, pool_name: str, beat: schemas.WorkerHeartbeat) -> uuid.UUID:
    """Record the beat; the worker's id."""
    pool = await pool_by_name(tx, pool_name)
    was = pool.status
    worker_id = await queries.record_heartbeat(tx.session, pool, beat)
    if pool.status != was:
        emit_pool_status(tx, pool, pool.status)
    return worker_id


@operation(READ)
async def read_workers(
    tx: Tx, pool_name: str, worker_filter: schemas.WorkerFilter | None, limit: int, offset: int
) -> list[schemas.Worker]:
    """The pool's workers, most recent heartbeat first."""
    pool = await pool_by_name(tx, pool_name)
    return await queries.read_workers(tx.session, pool, worker_filter, limit, offset)


@operation(UPDATE, writes=True)
async def delete_worker(tx: Tx, pool_name: str, name: str) -> None:
    pool = await pool_by_name(tx, pool_name)
    if not await queries.delete_worker(tx.session, pool, name):
        raise NotFound(f"Worker {name!r} not found in work pool {pool_name!r}.")
