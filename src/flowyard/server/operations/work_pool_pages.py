"""What the web UI's Work Pools pages read: the pools with their last worker poll, and one
pool with its queues and workers.

Composed of the API's own operations (each still checks its permission), plus one grouped
query for the last polls: a page costs the same statements for two pools or two hundred.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from flowyard.schemas.work_pools import Worker, WorkPool, WorkQueue
from flowyard.server.operations import collections, work_pools, work_queues, workers
from flowyard.server.operations.context import Tx, operation
from flowyard.server.queries import workers as worker_queries

# A page lists at most this many pools, queues and workers (far more than a screen holds).
MAX_ROWS = 200


@dataclass(frozen=True, slots=True)
class PoolListing:
    pools: list[WorkPool]
    last_polls: dict[uuid.UUID, dt.datetime]


@dataclass(frozen=True, slots=True)
class PoolDetail:
    pool: WorkPool
    queues: list[WorkQueue]
    workers: list[Worker]
    last_poll: dt.datetime | None


@operation(work_pools.READ)
async def read_pool_listing(tx: Tx) -> PoolListing:
    pools = await work_pools.read_work_pools(tx, None, MAX_ROWS)
    polls = await worker_queries.last_heartbeats(
        tx.session, tx.workspace_id, [pool.id for pool in pools]
    )
    return PoolListing(pools, polls)


@operation(work_pools.READ)
async def read_pool_detail(tx: Tx, name: str) -> PoolDetail:
    pool = await work_pools.read_work_pool(tx, name)
    queues = await work_queues.read_work_queues(tx, None, MAX_ROWS, 0, name)
    pool_workers = await workers.read_workers(tx, name, None, MAX_ROWS, 0)
    beats = [w.last_heartbeat_time for w in pool_workers if w.last_heartbeat_time is not None]
    return PoolDetail(pool, queues, pool_workers, max(beats, default=None))


@operation(work_pools.READ)
async def read_worker_types(tx: Tx) -> list[str]:
    """The pool types a worker exists for, by name (the choices of the create form)."""
    metadata = await collections.read_worker_metadata(tx)
    return sorted({kind for collection in metadata.values() for kind in collection})
