"""Flow-run control: the lease a running process renews by heartbeat, resume (with typed
input for a paused run), flow-run inputs, and ``/blockers`` (why a run is not starting).

Paths are ``/flow_runs/{id}/...`` with one more segment than the flow-run routes, so
nothing in ``flow_runs`` shadows them.
"""

from __future__ import annotations

import json
import uuid

from fastapi import APIRouter, Body, HTTPException, Response
from sqlalchemy.ext.asyncio import AsyncSession

from flowyard.schemas.flow_run_control import (
    FlowRunBlockers,
    FlowRunInput,
    FlowRunInputCreate,
    FlowRunInputFilter,
    FlowRunLease,
    FlowRunLeaseRequest,
    ResumeFlowRun,
    json_schema_errors,
)
from flowyard.schemas.states import (
    OrchestrationResult,
    SetStateStatus,
    StateAbortDetails,
    StateCreate,
    StateType,
)
from flowyard.server.api.dependencies import Ctx
from flowyard.server.api.responses import also, no_content
from flowyard.server.api.runs_common import respond_list, respond_model
from flowyard.server.database import orm
from flowyard.server.database.types import utcnow
from flowyard.server.orchestration.persistence import load_flow_run
from flowyard.server.orchestration.transitions import set_flow_run_state
from flowyard.server.queries import blockers as blocker_queries
from flowyard.server.queries import run_leases as queries

router = APIRouter(prefix="/flow_runs", tags=["Flow Runs"])

NOT_FOUND = "Flow run not found."


# --- leases -------------------------------------------------------------------------------


@router.post("/{id}/lease", response_model=FlowRunLease)
async def take_flow_run_lease(id: uuid.UUID, body: FlowRunLeaseRequest, ctx: Ctx) -> Response:
    """Take or renew the run's lease (the heartbeat of the process executing it). The
    answer carries the run's state, so a process learns it is being cancelled."""
    async with ctx.db.write() as session:
        answer = await queries.take_lease(
            session, ctx.workspace_id, id, body.lease_seconds, body.holder, utcnow()
        )
    if answer is None:
        raise HTTPException(404, NOT_FOUND)
    lease = FlowRunLease(
        flow_run_id=id,
        state_type=answer.state_type,
        state_name=answer.state_name,
        expiration=answer.expiration,
        lease_seconds=body.lease_seconds if answer.expiration else None,
    )
    return respond_model(lease)


@router.delete("/{id}/lease", status_code=204)
async def release_flow_run_lease(id: uuid.UUID, ctx: Ctx) -> Response:
    """Release the run's lease (the process is done with it). Releasing twice is fine."""
    async with ctx.db.write() as session:
        if await _exists(session, ctx.workspace_id, id):
            await queries.release_lease(session, ctx.workspace_id, id)
            return no_content()
    raise HTTPException(404, NOT_FOUND)


async def _exists(session: AsyncSession, workspace_id: uuid.UUID, run_id: uuid.UUID) -> bool:
    run = await session.get(orm.FlowRun, run_id)
    return run is not None and run.workspace_id == workspace_id


# --- resume -------------------------------------------------------------------------------


@router.post(
    "/{id}/resume",
    response_model=OrchestrationResult,
    responses=also(201, OrchestrationResult, "The run was resumed."),
)
async def resume_flow_run(
    id: uuid.UUID, ctx: Ctx, body: ResumeFlowRun = Body(default_factory=ResumeFlowRun)
) -> Response:
    """Resume a paused run: Running again in its process, or Scheduled ("Resuming") when it
    was suspended. A run paused waiting for input must get ``run_input`` matching the schema
    it stored; a mismatch is refused with 422 naming the field, and nothing changes."""
    async with ctx.db.write() as session:
        found = await load_flow_run(session, ctx.workspace_id, id)
        if found is None:
            raise HTTPException(404, NOT_FOUND)
        _, state = found
        if state is None or state.type != StateType.PAUSED:
            result = OrchestrationResult(
                state=state,
                status=SetStateStatus.ABORT,
                details=StateAbortDetails(reason="Cannot resume a flow run that is not paused."),
            )
            return respond_model(result, 200)
        keyset = state.state_details.run_input_keyset
        run_input = body.run_input
        if keyset:
            await _check_run_input(session, ctx.workspace_id, id, keyset, run_input or {})
        if state.state_details.pause_reschedule:
            proposal = StateCreate(type=StateType.SCHEDULED, name="Resuming")
        else:
            proposal = StateCreate(type=StateType.RUNNING)
        resumed = await set_flow_run_state(session, ctx.workspace_id, id, proposal)
        assert resumed is not None
        result = resumed
        if result.status == SetStateStatus.ACCEPT and keyset and "response" in keyset:
            value = json.dumps(run_input or {})
            await queries.create_input(
                session, ctx.workspace_id, id, keyset["response"], value, None, utcnow(),
                overwrite=True,
            )  # fmt: skip
    return respond_model(result, 201 if result.status == SetStateStatus.ACCEPT else 200)


async def _check_run_input(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    run_id: uuid.UUID,
    keyset: dict[str, str],
    run_input: dict[str, object],
) -> None:
    stored = None
    if "schema" in keyset:
        stored = await queries.read_input(session, workspace_id, run_id, keyset["schema"])
    if stored is None:
        return  # nothing to check against (the pause did not store a schema)
    try:
        schema = json.loads(stored.value)
    except ValueError:
        return
    errors = json_schema_errors(run_input, schema if isinstance(schema, dict) else {})
    if errors:
        raise HTTPException(422, "run_input." + "; run_input.".join(errors[:5]))


# --- inputs -------------------------------------------------------------------------------


@router.post("/{id}/input", status_code=201)
async def create_flow_run_input(id: uuid.UUID, body: FlowRunInputCreate, ctx: Ctx) -> Response:
    async with ctx.db.write() as session:
        if not await _exists(session, ctx.workspace_id, id):
            raise HTTPException(404, NOT_FOUND)
        created = await queries.create_input(
            session, ctx.workspace_id, id, body.key, body.value, body.sender, utcnow()
        )
    if not created:
        raise HTTPException(409, f"key: the flow run already has an input {body.key!r}.")
    return Response(status_code=201)


@router.post("/{id}/input/filter", response_model=list[FlowRunInput])
async def filter_flow_run_input(id: uuid.UUID, body: FlowRunInputFilter, ctx: Ctx) -> Response:
    async with ctx.db.read() as session:
        rows = await queries.filter_inputs(
            session, ctx.workspace_id, id, body.prefix, body.limit, body.exclude_keys
        )
    return respond_list([FlowRunInput.model_validate(row) for row in rows], FlowRunInput)


@router.get("/{id}/input/{key}")
async def read_flow_run_input(id: uuid.UUID, key: str, ctx: Ctx) -> Response:
    """The stored value as is (it is JSON text written by whoever stored it)."""
    async with ctx.db.read() as session:
        row = await queries.read_input(session, ctx.workspace_id, id, key)
    if row is None:
        raise HTTPException(404, "Flow run input not found.")
    return Response(row.value, media_type="application/json")


@router.delete("/{id}/input/{key}", status_code=204)
async def delete_flow_run_input(id: uuid.UUID, key: str, ctx: Ctx) -> Response:
    async with ctx.db.write() as session:
        deleted = await queries.delete_input(session, ctx.workspace_id, id, key)
    if not deleted:
        raise HTTPException(404, "Flow run input not found.")
    return no_content()


# --- blockers -----------------------------------------------------------------------------


@router.get("/{id}/blockers", response_model=FlowRunBlockers)
async def read_flow_run_blockers(id: uuid.UUID, ctx: Ctx) -> Response:
    """Why a Scheduled, Late or Pending run is not starting: a list of reasons, each with a
    ``kind``, a ``message`` and ``details``; empty for a run that is not waiting."""
    async with ctx.db.read() as session:
        answer = await blocker_queries.read_flow_run_blockers(
            session, ctx.workspace_id, id, utcnow()
        )
    if answer is None:
        raise HTTPException(404, NOT_FOUND)
    return respond_model(answer)
