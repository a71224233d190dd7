"""Background task workers: the processes serving ``task.delay()`` runs, and the task keys
each serves.

A worker is known while it is connected (Prefect tracks them in memory the same way, from
its ``/task_runs/subscriptions/scheduled`` socket): :func:`observe_task_worker` records it
and :func:`forget_task_worker` drops it when it leaves. Flowyard does not serve that socket
yet, so none is ever recorded and ``/task_workers/filter`` answers an empty list -- which
is the truth: no worker could be serving this server's background tasks.
"""

from __future__ import annotations

import uuid
import weakref
from collections.abc import Sequence

from flowyard.schemas.responses import TaskWorkerResponse
from flowyard.server.database.engine import Database
from flowyard.server.database.types import utcnow
from flowyard.server.operations.context import RequestContext, Tx, operation, permission

READ = permission("read", "task_run")

_Workers = dict[tuple[uuid.UUID, str], TaskWorkerResponse]
_WORKERS: weakref.WeakKeyDictionary[Database, _Workers] = weakref.WeakKeyDictionary()


def _workers(db: Database) -> _Workers:
    return _WORKERS.setdefault(db, {})


def observe_task_worker(ctx: RequestContext, identifier: str, task_keys: Sequence[str]) -> None:
    """A worker of the workspace connected (or told us again that it serves these keys)."""
    keys = list(task_keys)
    worker = TaskWorkerResponse(identifier=identifier, task_keys=keys, timestamp=utcnow())
    _workers(ctx.db)[(ctx.workspace_id, identifier)] = worker


def forget_task_worker(ctx: RequestContext, identifier: str) -> None:
    _workers(ctx.db).pop((ctx.workspace_id, identifier), None)


@operation(READ)
async def read_task_workers(tx: Tx, task_keys: Sequence[str] | None) -> list[TaskWorkerResponse]:
    """The workspace's connected workers; with ``task_keys``, those serving any of them."""
    wanted = set(task_keys or ())
    return [
        worker
        for (workspace_id, _), worker in _workers(tx.ctx.db).items()
        if workspace_id == tx.workspace_id and (not wanted or wanted & set(worker.task_keys))
    ]
