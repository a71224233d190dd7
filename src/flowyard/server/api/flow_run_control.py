"""Flow-run control: the lease a running process renews by heartbeat, resume (with typed
input for a paused run), flow-run inputs, and ``/blockers`` (why a run is not starting).

Paths are ``/flow_runs/{id}/...`` with one more segment than the flow-run routes, so
nothing in ``flow_runs`` shadows them. HTTP only: each route calls
``operations.flow_run_control``.
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Body, Response

from flowyard.schemas.flow_run_control import (
    FlowRunBlockers,
    FlowRunInput,
    FlowRunInputCreate,
    FlowRunInputFilter,
    FlowRunLease,
    FlowRunLeaseRequest,
    ResumeFlowRun,
)
from flowyard.schemas.states import OrchestrationResult, SetStateStatus
from flowyard.server.api.dependencies import Ctx
from flowyard.server.api.responses import also, no_content
from flowyard.server.api.runs_common import respond_list, respond_model
from flowyard.server.operations import flow_run_control as operations

router = APIRouter(prefix="/flow_runs", tags=["Flow Runs"])


# --- leases -------------------------------------------------------------------------------


@router.post("/{id}/lease", response_model=FlowRunLease)
async def take_flow_run_lease(id: uuid.UUID, body: FlowRunLeaseRequest, ctx: Ctx) -> Response:
    """Take or renew the run's lease (the heartbeat of the process executing it). The
    answer carries the run's state, so a process learns it is being cancelled."""
    lease = await operations.take_flow_run_lease(ctx, id, body.lease_seconds, body.holder)
    return respond_model(lease)


@router.delete("/{id}/lease", status_code=204)
async def release_flow_run_lease(id: uuid.UUID, ctx: Ctx) -> Response:
    """Release the run's lease (the process is done with it). Releasing twice is fine."""
    await operations.release_flow_run_lease(ctx, id)
    return no_content()


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
    result = await operations.resume_flow_run(ctx, id, body.run_input)
    return respond_model(result, 201 if result.status == SetStateStatus.ACCEPT else 200)


# --- inputs -------------------------------------------------------------------------------


@router.post("/{id}/input", status_code=201)
async def create_flow_run_input(id: uuid.UUID, body: FlowRunInputCreate, ctx: Ctx) -> Response:
    await operations.create_flow_run_input(ctx, id, body.key, body.value, body.sender)
    return Response(status_code=201)


@router.post("/{id}/input/filter", response_model=list[FlowRunInput])
async def filter_flow_run_input(id: uuid.UUID, body: FlowRunInputFilter, ctx: Ctx) -> Response:
    inputs = await operations.filter_flow_run_inputs(
        ctx, id, body.prefix, body.limit, body.exclude_keys
    )
    return respond_list(inputs, FlowRunInput)


@router.get("/{id}/input/{key}")
async def read_flow_run_input(id: uuid.UUID, key: str, ctx: Ctx) -> Response:
    """The stored value as is (it is JSON text written by whoever stored it)."""
    value = await operations.read_flow_run_input(ctx, id, key)
    return Response(value, media_type="application/json")


@router.delete("/{id}/input/{key}", status_code=204)
async def delete_flow_run_input(id: uuid.UUID, key: str, ctx: Ctx) -> Response:
    await operations.delete_flow_run_input(ctx, id, key)
    return no_content()


# --- blockers -----------------------------------------------------------------------------


@router.get("/{id}/blockers", response_model=FlowRunBlockers)
async def read_flow_run_blockers(id: uuid.UUID, ctx: Ctx) -> Response:
    """Why a Scheduled, Late or Pending run is not starting: a list of reasons, each with a
    ``kind``, a ``message`` and ``details``; empty for a run that is not waiting."""
    return respond_model(await operations.read_flow_run_blockers(ctx, id))
