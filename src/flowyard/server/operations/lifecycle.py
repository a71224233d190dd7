"""Lifecycle events: ``prefect.<kind>.created|updated|deleted`` for every stored object.

Operations that create, change or delete a deployment, work pool, work queue, block,
variable, concurrency limit, flow or artifact call :func:`emit_lifecycle` inside their
transaction; the event is stored with the change (``queries.outbox``). Names and resources
follow the official server: the object as ``prefect.resource.id = prefect.<kind>.<id>``
with its name, the acting user or service as a related ``actor`` (in multi-user mode), and
for an update the names of the fields that changed in the payload.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any, Literal

from flowyard.schemas import core
from flowyard.server.database.types import new_id, utcnow
from flowyard.server.operations.context import Tx
from flowyard.server.orchestration.instrumentation import forget_name, resource

Action = Literal["created", "updated", "deleted"]


def emit_lifecycle(
    tx: Tx,
    kind: str,
    action: Action,
    object_id: uuid.UUID | str,
    name: str | None = None,
    *,
    related: Iterable[dict[str, str]] = (),
    changed: Iterable[str] = (),
    payload: dict[str, Any] | None = None,
    labels: dict[str, str] | None = None,
) -> None:
    """Store ``prefect.<kind>.<action>`` with the transaction ``tx``.

    ``kind`` is the contract's spelling (``deployment``, ``work-pool``, ``work-queue``,
    ``block-document``, ``variable``, ``concurrency-limit``, ``flow``, ``artifact``);
    ``changed`` lists the fields an update touched; ``labels`` are more labels of the
    object's resource (``prefect.work-pool.type`` for a pool).
    """
    if action != "created" and isinstance(object_id, uuid.UUID):
        forget_name(kind, object_id)  # the instrumentation's name cache
    body = dict(payload or {})
    fields = sorted(changed)
    if fields:
        body["updated_fields"] = fields
    related_resources = list(related)
    if tx.ctx.actor.kind in ("user", "service_account"):
        related_resources.append(tx.ctx.actor.resource)
    tx.emit(
        core.Event.model_construct(
            id=new_id(),
            occurred=utcnow(),
            event=f"prefect.{kind}.{action}",
            resource={**resource(kind, object_id, name), **(labels or {})},
            related=related_resources,
            payload=body,
            follows=None,
            received=None,
        )
    )
