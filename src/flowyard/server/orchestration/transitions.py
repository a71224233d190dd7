"""Entry points: every state change of a flow run or task run goes through one of these.

Each runs inside the caller's write transaction (``async with db.write() as session``):
the run row is locked, its current state read, the policy applied, and on ACCEPT (or a
REJECT into a new state) the new state row and the run's columns are flushed. The caller
commits. The Prefect server answers ACCEPT and REJECT with 201, WAIT and ABORT with 200.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from flowyard.schemas.states import OrchestrationResult, State, StateCreate, StateType
from flowyard.server.database import orm
from flowyard.server.database.types import new_id
from flowyard.server.orchestration.policies import (
    CoreFlowPolicy,
    CoreTaskPolicy,
    GlobalFlowPolicy,
    GlobalTaskPolicy,
    MinimalFlowPolicy,
    MinimalTaskPolicy,
)
from flowyard.server.orchestration.rules import OrchestrationContext, Policy, Transform, orchestrate
from flowyard.server.queries.run_states import (
    RunT,
    insert_flow_run,
    load_flow_run,
    lock_run_and_state,
    point_run_at_state,
    save_flow_run_transition,
)


def proposed_state(state: StateCreate) -> State:
    """The server-side State for a client's proposal: a fresh id, and our own copy of the
    details since rules stamp them. The client's id and timestamp are not trusted."""
    return State(
        id=new_id(),
        type=state.type,
        name=state.name,
        message=state.message,
        data=state.data,
        state_details=state.state_details.model_copy(),
    )


def initial_proposal(state: StateCreate | None) -> State:
    """A new run's first state: the one asked for, else Pending."""
    if state is None:
        return State(id=new_id(), type=StateType.PENDING)
    return proposed_state(state)


class FlowRunContext(OrchestrationContext[orm.FlowRun]):
    """A transition of a flow run held outside the session (see ``persistence``): the state
    it writes is kept here for the caller to insert, not added to the session."""

    written: State | None = None

    def write_state(self, state: State) -> None:
        point_run_at_state(self.run, state)
        self.written = state


async def set_flow_run_state(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    flow_run_id: uuid.UUID,
    state: StateCreate,
    *,
    force: bool = False,
) -> OrchestrationResult | None:
    """Propose ``state`` for a flow run. None if the run is not in this workspace."""
    found = await load_flow_run(session, workspace_id, flow_run_id)
    if found is None:
        return None
    run, initial = found
    before = dict(run.__dict__)
    policy = MinimalFlowPolicy if force else CoreFlowPolicy
    ctx = FlowRunContext(session, run, initial, proposed_state(state))
    await orchestrate(ctx, policy, GlobalFlowPolicy)
    await save_flow_run_transition(session, run, before, ctx.written, ctx.now)
    await _follow_subflow(session, ctx)
    return ctx.result()


async def insert_new_flow_run(
    session: AsyncSession, run: orm.FlowRun, state: StateCreate | None
) -> State:
    """Store a new flow run (built outside the session, without a state) with its first
    state (Pending unless given) and all the bookkeeping. Returns the state written."""
    proposal = initial_proposal(state)
    ctx = FlowRunContext(session, run, None, proposal)
    await orchestrate(ctx, MinimalFlowPolicy, GlobalFlowPolicy)
    written = ctx.validated_state
    assert written is not None and ctx.written is written
    await insert_flow_run(session, run, written, ctx.now)
    await _follow_subflow(session, ctx)
    return written


async def set_task_run_state(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    task_run_id: uuid.UUID,
    state: StateCreate,
    *,
    force: bool = False,
) -> OrchestrationResult | None:
    """Propose ``state`` for a task run. None if the run is not in this workspace."""
    found = await lock_run_and_state(session, orm.TaskRun, workspace_id, task_run_id)
    if found is None:
        return None
    policy = MinimalTaskPolicy if force else CoreTaskPolicy
    ctx = await _transition(session, *found, proposed_state(state), policy, GlobalTaskPolicy)
    await session.flush()
    return ctx.result()


async def apply_initial_flow_run_state(
    session: AsyncSession, run: orm.FlowRun, state: StateCreate | None
) -> State:
    """Give a new flow run its first state (Pending unless given) with all the bookkeeping.

    Returns the written state, so that the creator can answer without reading it back.
    """
    proposal = initial_proposal(state)
    ctx = await _initial_transition(session, run, proposal, MinimalFlowPolicy, GlobalFlowPolicy)
    await _follow_subflow(session, ctx)
    assert ctx.validated_state is not None
    return ctx.validated_state


async def apply_initial_task_run_state(
    session: AsyncSession, run: orm.TaskRun, state: StateCreate | None
) -> State:
    """Give a new task run its first state (Pending unless given) with all the bookkeeping."""
    proposal = initial_proposal(state)
    ctx = await _initial_transition(session, run, proposal, MinimalTaskPolicy, GlobalTaskPolicy)
    assert ctx.validated_state is not None
    return ctx.validated_state


async def _transition(
    session: AsyncSession,
    run: RunT,
    initial: State | None,
    proposal: State,
    policy: Policy[RunT],
    transforms: tuple[Transform[RunT], ...],
) -> OrchestrationContext[RunT]:
    ctx = OrchestrationContext(session, run, initial, proposal)
    await orchestrate(ctx, policy, transforms)
    return ctx


async def _initial_transition(
    session: AsyncSession,
    run: RunT,
    proposal: State,
    policy: Policy[RunT],
    transforms: tuple[Transform[RunT], ...],
) -> OrchestrationContext[RunT]:
    # A run built in Python gets its id (and column defaults) only at flush; the state row
    # needs the id now. Adding is a no-op for a run the session already holds.
    if run.id is None:
        run.id = new_id()
    session.add(run)
    return await _transition(session, run, None, proposal, policy, transforms)


async def _follow_subflow(session: AsyncSession, ctx: OrchestrationContext[orm.FlowRun]) -> None:
    """A subflow is tracked in its parent flow by a task run, whose state follows the
    subflow's. The copy is forced: the task's own rules would second-guess a state that
    the subflow's rules have already decided."""
    run, state = ctx.run, ctx.validated_state
    if run.parent_task_run_id is None or state is None or not ctx.wrote_state:
        return
    found = await lock_run_and_state(session, orm.TaskRun, run.workspace_id, run.parent_task_run_id)
    if found is None:
        return
    copy = State(
        type=state.type,
        name=state.name,
        message=state.message,
        data=state.data,
        state_details=state.state_details.model_copy(update={"child_flow_run_id": run.id}),
    )
    await _transition(session, *found, copy, MinimalTaskPolicy, GlobalTaskPolicy)
    await session.flush()
