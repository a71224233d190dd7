"""Flows: upsert by name, read, filter, count, paginate, update, delete (one or in bulk).

A flow that is created stores ``prefect.flow.created``; the upsert that finds the flow
already there (every run of the SDK registers its flow) changes nothing and tells nothing.
Deleting a flow deletes its deployments and runs too (as the contract says), and each
deployment deleted with it stores its ``prefect.deployment.deleted``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence

from flowyard.schemas import actions, core
from flowyard.schemas.filters import FlowFilter, RunFilters
from flowyard.schemas.sorting import FlowSort
from flowyard.server.database import orm
from flowyard.server.errors import NotFound
from flowyard.server.operations.context import Tx, operation, permission
from flowyard.server.operations.lifecycle import Action, emit_lifecycle
from flowyard.server.orchestration.instrumentation import related
from flowyard.server.queries import flows as queries

READ = permission("read", "flow")
CREATE = permission("create", "flow")
UPDATE = permission("update", "flow")
DELETE = permission("delete", "flow")
NOT_FOUND = "Flow not found."


def _emit(tx: Tx, action: Action, flow: core.Flow, changed: Iterable[str] = ()) -> None:
    payload = {"name": flow.name, "tags": list(flow.tags), "labels": dict(flow.labels or {})}
    emit_lifecycle(tx, "flow", action, flow.id, flow.name, changed=changed, payload=payload)


@operation(CREATE, writes=True)
async def create_flow(tx: Tx, flow: actions.FlowCreate) -> tuple[core.Flow, bool]:
    """The flow of that name and whether this call created it."""
    row, created = await queries.create_flow(tx.session, tx.workspace_id, flow)
    model = core.Flow.from_row(row)
    if created:
        _emit(tx, "created", model)
    return model, created


@operation(READ)
async def read_flow(tx: Tx, flow_id: uuid.UUID) -> core.Flow:
    row = await queries.read_flow(tx.session, tx.workspace_id, flow_id)
    if row is None:
        raise NotFound(NOT_FOUND)
    return core.Flow.from_row(row)


@operation(READ)
async def read_flow_by_name(tx: Tx, name: str) -> core.Flow:
    row = await queries.read_flow_by_name(tx.session, tx.workspace_id, name)
    if row is None:
        raise NotFound(NOT_FOUND)
    return core.Flow.from_row(row)


@operation(READ)
async def read_flows(
    tx: Tx, filters: RunFilters, sort: FlowSort | None, limit: int | None, offset: int = 0
) -> list[core.Flow]:
    conditions = queries.flow_conditions(tx.workspace_id, filters, tx.dialect)
    rows = await queries.read_flows(tx.session, tx.workspace_id, conditions, sort, limit, offset)
    return [core.Flow.from_row(row) for row in rows]


@operation(READ)
async def count_flows(tx: Tx, filters: RunFilters) -> int:
    conditions = queries.flow_conditions(tx.workspace_id, filters, tx.dialect)
    return await queries.count_flows(tx.session, conditions)


@operation(READ)
async def paginate_flows(
    tx: Tx, filters: RunFilters, sort: FlowSort | None, limit: int, page: int
) -> tuple[list[core.Flow], int]:
    """One page of flows and the count of all that match, from one snapshot."""
    count = await count_flows(tx, filters)
    return await read_flows(tx, filters, sort, limit, (page - 1) * limit), count


@operation(UPDATE, writes=True)
async def update_flow(tx: Tx, flow_id: uuid.UUID, update: actions.FlowUpdate) -> None:
    row = await queries.read_flow(tx.session, tx.workspace_id, flow_id)
    if row is None:
        raise NotFound(NOT_FOUND)
    before = core.Flow.from_row(row)
    values = update.model_dump(exclude_unset=True)
    changed = [name for name, value in values.items() if getattr(before, name) != value]
    await queries.update_flow(tx.session, tx.workspace_id, flow_id, update)
    if changed:
        _emit(tx, "updated", before.model_copy(update=values), changed)


@operation(DELETE, writes=True)
async def delete_flow(tx: Tx, flow_id: uuid.UUID) -> None:
    if not await _delete(tx, [flow_id]):
        raise NotFound(NOT_FOUND)


@operation(DELETE, writes=True)
async def bulk_delete_flows(tx: Tx, flows: FlowFilter | None, limit: int) -> list[uuid.UUID]:
    """``POST /flows/bulk_delete``: up to ``limit`` flows matching ``flows``, with their
    deployments and runs; returns the ids deleted."""
    conditions = queries.flow_conditions(tx.workspace_id, RunFilters(flows=flows), tx.dialect)
    return await _delete(tx, await queries.read_flow_ids(tx.session, conditions, limit))


async def _delete(tx: Tx, flow_ids: Sequence[uuid.UUID]) -> list[uuid.UUID]:
    rows: Sequence[orm.Flow] = await queries.read_flows_by_ids(
        tx.session, tx.workspace_id, flow_ids
    )
    if not rows:
        return []
    ids = [row.id for row in rows]
    flows = [core.Flow.from_row(row) for row in rows]
    deployments = await queries.deployments_of_flows(tx.session, tx.workspace_id, ids)
    deleted = set(await queries.delete_flows(tx.session, tx.workspace_id, ids))
    names = {flow.id: flow.name for flow in flows}
    for deployment_id, name, flow_id in deployments:
        emit_lifecycle(
            tx, "deployment", "deleted", deployment_id, name,
            related=[related("flow", flow_id, names.get(flow_id))],
        )  # fmt: skip
    for flow in flows:
        if flow.id in deleted:
            _emit(tx, "deleted", flow)
    return [flow.id for flow in flows if flow.id in deleted]
