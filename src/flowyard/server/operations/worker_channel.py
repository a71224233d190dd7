"""The worker channel's operations: open it (find or create the pool, record the worker,
resolve its queues), record its heartbeats, and snapshot the pool for it.

The channel is one more way in for what ``workers`` and ``work_pools`` already do over
REST, so it calls their operations: the same permissions, events and pool status changes.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from flowyard.schemas import work_pools as schemas
from flowyard.schemas import worker_channel as channel
from flowyard.server.errors import NotFound
from flowyard.server.operations.context import Tx, operation
from flowyard.server.operations.work_pools import (
    READ,
    UPDATE,
    create_work_pool,
    pool_by_name,
    read_work_pool,
)
from flowyard.server.operations.workers import worker_heartbeat
from flowyard.server.queries import work_pools as queries


@operation(UPDATE, writes=True)
async def open_channel(
    tx: Tx, pool_name: str, hello: channel.HelloPayload
) -> tuple[uuid.UUID, list[channel.ResolvedWorkQueue], schemas.WorkPool]:
    """Record the worker (its hello is its first heartbeat) and answer its id, the queues it
    serves and the pool. A missing pool is made when the worker asks for it, with the
    worker's type and default job template, as the REST worker does; otherwise NotFound."""
    try:
        await pool_by_name(tx, pool_name)
    except NotFound:
        if not hello.create_pool_if_not_found:
            raise
        await create_work_pool(
            tx,
            schemas.WorkPoolCreate(
                name=pool_name,
                type=hello.worker_type,
                base_job_template=hello.default_base_job_template,
            ),
        )
    beat = schemas.WorkerHeartbeat(
        name=hello.worker_name,
        heartbeat_interval_seconds=hello.heartbeat_interval_seconds,
        metadata=hello.worker_metadata,
    )
    worker_id = await worker_heartbeat(tx, pool_name, beat)
    queues = await _resolve_queues(tx, pool_name, hello.work_queue_names)
    return worker_id, queues, await read_work_pool(tx, pool_name)


async def _resolve_queues(
    tx: Tx, pool_name: str, names: Sequence[str]
) -> list[channel.ResolvedWorkQueue]:
    """The named queues that exist; with no names, the pool's default queue (a worker given
    no queue serves the default one)."""
    pool = await pool_by_name(tx, pool_name)
    if not names:
        try:
            queue = await queries.resolve_work_queue(tx.session, tx.workspace_id, pool_name, None)
        except NotFound:
            return []
        return [channel.ResolvedWorkQueue(id=queue.id, name=queue.name)]
    resolved = []
    for name in dict.fromkeys(names):
        found = await queries.read_work_queue_by_name(tx.session, pool, name)
        if found is not None:
            resolved.append(channel.ResolvedWorkQueue(id=found.id, name=found.name))
    return resolved


@operation(UPDATE, writes=True)
async def channel_heartbeat(tx: Tx, pool_name: str, beat: channel.HeartbeatPayload) -> None:
    await worker_heartbeat(
        tx,
        pool_name,
        schemas.WorkerHeartbeat(
            name=beat.worker_name, heartbeat_interval_seconds=beat.heartbeat_interval_seconds
        ),
    )


@operation(READ)
async def pool_snapshot(tx: Tx, pool_name: str) -> schemas.WorkPool:
    """The pool as a snapshot sends it (NotFound once it is deleted)."""
    return await read_work_pool(tx, pool_name)

