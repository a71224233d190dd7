"""State history: the states a flow run or task run went through, oldest first, and one
state by id."""

from __future__ import annotations

import uuid

from flowyard.schemas.states import State
from flowyard.server.errors import NotFound
from flowyard.server.operations.context import Tx, operation, permission
from flowyard.server.queries import states as queries

READ_FLOW_RUN = permission("read", "flow_run")
READ_TASK_RUN = permission("read", "task_run")


@operation(READ_FLOW_RUN)
async def read_flow_run_states(tx: Tx, flow_run_id: uuid.UUID) -> list[State]:
    rows = await queries.read_flow_run_states(tx.session, tx.workspace_id, flow_run_id)
    return [queries.state_schema(row) for row in rows]


@operation(READ_FLOW_RUN)
async def read_flow_run_state(tx: Tx, state_id: uuid.UUID) -> State:
    row = await queries.read_flow_run_state(tx.session, tx.workspace_id, state_id)
    if row is None:
        raise NotFound("Flow run state not found.")
    return queries.state_schema(row)


@operation(READ_TASK_RUN)
async def read_task_run_states(tx: Tx, task_run_id: uuid.UUID) -> list[State]:
    rows = await queries.read_task_run_states(tx.session, tx.workspace_id, task_run_id)
    return [queries.state_schema(row) for row in rows]


@operation(READ_TASK_RUN)
async def read_task_run_state(tx: Tx, state_id: uuid.UUID) -> State:
    row = await queries.read_task_run_state(tx.session, tx.workspace_id, state_id)
    if row is None:
        raise NotFound("Task run state not found.")
    return queries.state_schema(row)
