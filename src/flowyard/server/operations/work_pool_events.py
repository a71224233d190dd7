"""The events of work pools and work queues, with the resources the official server names.

Lifecycle (``prefect.work-pool.created|updated|deleted``, ``prefect.work-queue.…``) goes
through ``lifecycle.emit_lifecycle``; this module adds what is particular to pools and
queues: the pool's ``prefect.work-pool.type`` label, its default queue and result storage as
related resources, a queue's pool as related, and the status events
(``prefect.work-pool.paused|ready|not-ready``, ``prefect.work-queue.…``) emitted when a
stored status changes (a pause or resume, the first poll or heartbeat that makes it READY).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic_core import to_jsonable_python

from flowyard.schemas import core
from flowyard.server.database.orm_work_pools import WorkPool, WorkQueue
from flowyard.server.database.types import new_id, utcnow
from flowyard.server.operations.context import Tx
from flowyard.server.operations.lifecycle import Action, emit_lifecycle
from flowyard.server.orchestration.instrumentation import ID, ROLE, related, resource

POOL_TYPE = "prefect.work-pool.type"
# The fields whose change is an ``updated`` event (the official server's lists; pausing is
# a status event instead).
POOL_EVENT_FIELDS = (
    "description",
    "base_job_template",
    "concurrency_limit",
    "storage_configuration",
)
QUEUE_EVENT_FIELDS = ("name", "description", "concurrency_limit", "priority")


def pool_as_related(pool: WorkPool) -> dict[str, str]:
    return {**related("work-pool", pool.id, pool.name), POOL_TYPE: pool.type}


def _pool_related(pool: WorkPool) -> list[dict[str, str]]:
    found = []
    if pool.default_queue_id is not None:
        found.append({ID: f"prefect.work-queue.{pool.default_queue_id}", ROLE: "default-queue"})
    storage = (pool.storage_configuration or {}).get("default_result_storage_block_id")
    if storage:
        found.append({ID: f"prefect.block-document.{storage}", ROLE: "result-storage"})
    return found


def changes(before: dict[str, Any], after: Any, fields: Iterable[str]) -> dict[str, Any]:
    """``{field: {"from": old, "to": new}}`` for the fields whose value changed."""
    return {
        field: {"from": before.get(field), "to": getattr(after, field)}
        for field in fields
        if before.get(field) != getattr(after, field)
    }


def snapshot(row: Any, fields: Iterable[str]) -> dict[str, Any]:
    # JSON-safe copies: an update that replaces a dict in place must not change them.
    return {field: to_jsonable_python(getattr(row, field)) for field in fields}


def emit_pool_lifecycle(
    tx: Tx, action: Action, pool: WorkPool, updates: dict[str, Any] | None = None
) -> None:
    emit_lifecycle(
        tx, "work-pool", action, pool.id, pool.name,
        related=_pool_related(pool), changed=list(updates or ()),
        payload={"updates": to_jsonable_python(updates)} if updates else None,
        labels={POOL_TYPE: pool.type, ROLE: "work-pool"},
    )  # fmt: skip


def emit_queue_lifecycle(
    tx: Tx,
    action: Action,
    queue: WorkQueue,
    pool: WorkPool | None,
    updates: dict[str, Any] | None = None,
) -> None:
    emit_lifecycle(
        tx, "work-queue", action, queue.id, queue.name,
        related=[pool_as_related(pool)] if pool is not None else [],
        changed=list(updates or ()),
        payload={"updates": to_jsonable_python(updates)} if updates else None,
        labels={ROLE: "work-queue"},
    )  # fmt: skip


def _status_event(
    kind: str, status: str, labels: dict[str, str], found: list[dict[str, str]]
) -> core.Event:
    return core.Event.model_construct(
        id=new_id(),
        occurred=utcnow(),
        event=f"prefect.{kind}.{status.lower().replace('_', '-')}",
        resource=labels,
        related=found,
        payload={},
        follows=None,
        received=None,
    )


def emit_pool_status(tx: Tx, pool: WorkPool, status: str) -> None:
    """``prefect.work-pool.<status>``: the pool entered PAUSED, READY or NOT_READY."""
    labels = {**resource("work-pool", pool.id, pool.name), POOL_TYPE: pool.type}
    tx.emit(_status_event("work-pool", status, labels, []))


def emit_queue_status(tx: Tx, queue: WorkQueue, pool: WorkPool | None, status: str) -> None:
    """``prefect.work-queue.<status>``, with the queue's pool as related."""
    labels = {**resource("work-queue", queue.id, queue.name), ROLE: "work-queue"}
    found = [pool_as_related(pool)] if pool is not None else []
    tx.emit(_status_event("work-queue", status, labels, found))
