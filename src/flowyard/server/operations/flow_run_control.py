"""Flow-run control: the lease a running process renews by heartbeat, resume (with typed
input for a paused run), flow-run inputs, and blockers (why a run is not starting)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

from flowyard.schemas.flow_run_control import (
    FlowRunBlockers,
    FlowRunInput,
    FlowRunLease,
    FlowRunLeaseRequest,
    json_schema_errors,
)
from flowyard.schemas.states import (
    OrchestrationResult,
    SetStateStatus,
    StateAbortDetails,
    StateCreate,
    StateType,
)
from flowyard.server.database.types import utcnow
from flowyard.server.errors import Conflict, Invalid, NotFound
from flowyard.server.operations.context import Tx, operation, permission
from flowyard.server.orchestration.transitions import set_flow_run_state
from flowyard.server.queries import blockers as blocker_queries
from flowyard.server.queries import run_leases as queries
from flowyard.server.queries.run_states import load_flow_run

READ = permission("read", "flow_run")
UPDATE = permission("update", "flow_run")
NOT_FOUND = "Flow run not found."
INPUT_NOT_FOUND = "Flow run input not found."


async def _check_exists(tx: Tx, flow_run_id: uuid.UUID) -> None:
    if not await queries.flow_run_exists(tx.session, tx.workspace_id, flow_run_id):
        raise NotFound(NOT_FOUND)


# --- leases -------------------------------------------------------------------------------


@operation(UPDATE, writes=True)
async def take_flow_run_lease(
    tx: Tx, flow_run_id: uuid.UUID, lease_seconds: float, holder: dict[str, Any] | None
) -> FlowRunLease:
    """Take or renew the run's lease; the answer carries the run's state, so a process
    learns that its run is being cancelled."""
    answer = await queries.take_lease(
        tx.session, tx.workspace_id, flow_run_id, lease_seconds, holder, utcnow()
    )
    if answer is None:
        raise NotFound(NOT_FOUND)
    return FlowRunLease(
        flow_run_id=flow_run_id,
        state_type=answer.state_type,
        state_name=answer.state_name,
        expiration=answer.expiration,
        lease_seconds=lease_seconds if answer.expiration else None,
    )


async def follow_run_lease(
    tx: Tx,
    flow_run_id: uuid.UUID,
    result: OrchestrationResult,
    lease: FlowRunLeaseRequest | None,
) -> None:
    """Keep the run's lease in step with a state change just made in ``tx``.

    An accepted Running that declares a lease (the SDK's) takes it here, in the transition's
    own transaction: the run is never Running without it, and the process needs no request
    of its own before the flow body starts. A final state drops whatever lease the run had,
    so the process sends nothing after its final state either.

    A Running that declares no lease (the official client, a bare API call) takes none
    here. The official client's ``prefect.flow-run.heartbeat`` events are its lease
    (``services.run_leases``; prefect 3.9.1 sends the first as the run starts). A run that
    sends none cannot be told from a healthy one that is merely silent, and crashing a
    healthy run is worse than leaving a dead one Running: it is never crashed for it.
    """
    state = result.state
    if result.status != SetStateStatus.ACCEPT or state is None:
        return
    if state.type == StateType.RUNNING and lease is not None:
        await queries.hold_lease(
            tx.session, tx.workspace_id, flow_run_id, lease.lease_seconds, lease.holder, utcnow()
        )
    elif state.is_terminal:
        await queries.release_lease(tx.session, tx.workspace_id, flow_run_id)


@operation(UPDATE, writes=True)
async def release_flow_run_lease(tx: Tx, flow_run_id: uuid.UUID) -> None:
    """Releasing twice is fine; an unknown run is not."""
    await _check_exists(tx, flow_run_id)
    await queries.release_lease(tx.session, tx.workspace_id, flow_run_id)


# --- resume -------------------------------------------------------------------------------


@operation(UPDATE, writes=True)
async def resume_flow_run(
    tx: Tx, flow_run_id: uuid.UUID, run_input: dict[str, Any] | None
) -> OrchestrationResult:
    """Running again in its process, or Scheduled ("Resuming") when it was suspended. A run
    paused for input must get ``run_input`` matching the schema it stored (Invalid, naming
    the field, otherwise: nothing changes)."""
    found = await load_flow_run(tx.session, tx.workspace_id, flow_run_id)
    if found is None:
        raise NotFound(NOT_FOUND)
    _, state = found
    if state is None or state.type != StateType.PAUSED:
        return OrchestrationResult(
            state=state,
            status=SetStateStatus.ABORT,
            details=StateAbortDetails(reason="Cannot resume a flow run that is not paused."),
        )
    keyset = state.state_details.run_input_keyset
    if keyset:
        await _check_run_input(tx, flow_run_id, keyset, run_input or {})
    if state.state_details.pause_reschedule:
        proposal = StateCreate(type=StateType.SCHEDULED, name="Resuming")
    else:
        proposal = StateCreate(type=StateType.RUNNING)
    result = await set_flow_run_state(tx.session, tx.workspace_id, flow_run_id, proposal)
    assert result is not None  # the run was read in this transaction, under its lock
    if result.status == SetStateStatus.ACCEPT and keyset and "response" in keyset:
        value = json.dumps(run_input or {})
        await queries.create_input(
            tx.session, tx.workspace_id, flow_run_id, keyset["response"], value, None, utcnow(),
            overwrite=True,
        )  # fmt: skip
    return result


async def _check_run_input(
    tx: Tx, flow_run_id: uuid.UUID, keyset: dict[str, str], run_input: dict[str, object]
) -> None:
    stored = None
    if "schema" in keyset:
        key = keyset["schema"]
        stored = await queries.read_input(tx.session, tx.workspace_id, flow_run_id, key)
    if stored is None:
        return  # nothing to check against (the pause did not store a schema)
    try:
        schema = json.loads(stored.value)
    except ValueError:
        return
    errors = json_schema_errors(run_input, schema if isinstance(schema, dict) else {})
    if errors:
        raise Invalid("run_input." + "; run_input.".join(errors[:5]))


# --- inputs -------------------------------------------------------------------------------


@operation(UPDATE, writes=True)
async def create_flow_run_input(
    tx: Tx, flow_run_id: uuid.UUID, key: str, value: str, sender: str | None
) -> None:
    await _check_exists(tx, flow_run_id)
    created = await queries.create_input(
        tx.session, tx.workspace_id, flow_run_id, key, value, sender, utcnow()
    )
    if not created:
        raise Conflict(f"key: the flow run already has an input {key!r}.")


@operation(READ)
async def filter_flow_run_inputs(
    tx: Tx, flow_run_id: uuid.UUID, prefix: str, limit: int, exclude_keys: Sequence[str]
) -> list[FlowRunInput]:
    rows = await queries.filter_inputs(
        tx.session, tx.workspace_id, flow_run_id, prefix, limit, exclude_keys
    )
    return [FlowRunInput.model_validate(row) for row in rows]


@operation(READ)
async def read_flow_run_input(tx: Tx, flow_run_id: uuid.UUID, key: str) -> str:
    """The stored value as is (JSON text written by whoever stored it)."""
    row = await queries.read_input(tx.session, tx.workspace_id, flow_run_id, key)
    if row is None:
        raise NotFound(INPUT_NOT_FOUND)
    return row.value


@operation(UPDATE, writes=True)
async def delete_flow_run_input(tx: Tx, flow_run_id: uuid.UUID, key: str) -> None:
    if not await queries.delete_input(tx.session, tx.workspace_id, flow_run_id, key):
        raise NotFound(INPUT_NOT_FOUND)


# --- blockers -----------------------------------------------------------------------------


@operation(READ)
async def read_flow_run_blockers(tx: Tx, flow_run_id: uuid.UUID) -> FlowRunBlockers:
    answer = await blocker_queries.read_flow_run_blockers(
        tx.session, tx.workspace_id, flow_run_id, utcnow()
    )
    if answer is None:
        raise NotFound(NOT_FOUND)
    return answer
