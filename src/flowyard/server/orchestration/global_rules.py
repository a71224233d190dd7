"""Bookkeeping transforms: run on every transition that writes a state, whatever the policy,
to keep the state's stamps and the run's timing columns consistent with its history."""

from __future__ import annotations

import datetime as dt

from flowyard.schemas.states import State, StateType
from flowyard.server.database import orm
from flowyard.server.orchestration.rules import OrchestrationContext, RunT, Transform

ONE_TICK = dt.timedelta(microseconds=1)


def _proposed(ctx: OrchestrationContext[RunT]) -> State:
    state = ctx.proposed_state
    assert state is not None, "transforms only run on transitions that write a state"
    return state


class SetStateTimestamp(Transform[RunT]):
    """States are stamped by the server clock and strictly after the state they replace, so
    that a run's history sorts in the order it happened even when two transitions fall in the
    same clock tick or two servers' clocks disagree."""

    async def before_transition(self, ctx: OrchestrationContext[RunT]) -> None:
        timestamp = ctx.now
        initial = ctx.initial_state
        if initial is not None and timestamp <= initial.timestamp:
            timestamp = initial.timestamp + ONE_TICK
        _proposed(ctx).timestamp = timestamp


class SetDefaultScheduledTime(Transform[RunT]):
    """A Scheduled state without a time is scheduled for now."""

    async def before_transition(self, ctx: OrchestrationContext[RunT]) -> None:
        state = _proposed(ctx)
        if state.type == StateType.SCHEDULED and state.state_details.scheduled_time is None:
            state.state_details.scheduled_time = state.timestamp


class SetStartTime(Transform[RunT]):
    """The run started when it first entered Running."""

    async def before_transition(self, ctx: OrchestrationContext[RunT]) -> None:
        state = _proposed(ctx)
        if state.type == StateType.RUNNING and ctx.run.start_time is None:
            ctx.run.start_time = state.timestamp


class SetEndTime(Transform[RunT]):
    """A started run ends when it enters a terminal state; leaving it (a rerun) clears it."""

    async def before_transition(self, ctx: OrchestrationContext[RunT]) -> None:
        state = _proposed(ctx)
        run = ctx.run
        if state.is_terminal:
            if run.start_time is not None and run.end_time is None:
                run.end_time = state.timestamp
        elif run.end_time is not None:
            run.end_time = None


class IncrementRunTime(Transform[RunT]):
    """Total run time counts only time spent Running, across every attempt."""

    async def before_transition(self, ctx: OrchestrationContext[RunT]) -> None:
        initial = ctx.initial_state
        if initial is not None and initial.type == StateType.RUNNING:
            elapsed = (_proposed(ctx).timestamp - initial.timestamp).total_seconds()
            ctx.run.total_run_time = (ctx.run.total_run_time or 0.0) + elapsed


class SetExpectedStartTime(Transform[RunT]):
    """When the run was first expected to start: its scheduled time, else its first state."""

    async def before_transition(self, ctx: OrchestrationContext[RunT]) -> None:
        if ctx.run.expected_start_time is not None:
            return
        state = _proposed(ctx)
        scheduled = state.state_details.scheduled_time
        is_scheduled = state.type == StateType.SCHEDULED and scheduled is not None
        ctx.run.expected_start_time = scheduled if is_scheduled else state.timestamp


class SetNextScheduledStartTime(Transform[RunT]):
    """Set while the run is Scheduled (what the scheduler and workers poll on), else cleared."""

    async def before_transition(self, ctx: OrchestrationContext[RunT]) -> None:
        state = _proposed(ctx)
        if state.type == StateType.SCHEDULED:
            ctx.run.next_scheduled_start_time = state.state_details.scheduled_time
        elif ctx.initial_type == StateType.SCHEDULED:
            ctx.run.next_scheduled_start_time = None


class UpdateFlowRunStateDetails(Transform[orm.FlowRun]):
    """A flow-run state names its run, and a subflow's states name the parent's task run."""

    async def before_transition(self, ctx: OrchestrationContext[orm.FlowRun]) -> None:
        details = _proposed(ctx).state_details
        details.flow_run_id = ctx.run.id
        if ctx.run.parent_task_run_id is not None:
            details.task_run_id = ctx.run.parent_task_run_id


class UpdateTaskRunStateDetails(Transform[orm.TaskRun]):
    """A task-run state names its run and the flow run it belongs to."""

    async def before_transition(self, ctx: OrchestrationContext[orm.TaskRun]) -> None:
        details = _proposed(ctx).state_details
        details.task_run_id = ctx.run.id
        details.flow_run_id = ctx.run.flow_run_id


class IncrementFlowRunCount(Transform[orm.FlowRun]):
    """Count attempts: each entry into Running, except the ones that resume a pause (in the
    same process from Paused, or rescheduled after a suspension), which continue an attempt."""

    async def before_transition(self, ctx: OrchestrationContext[orm.FlowRun]) -> None:
        if _proposed(ctx).type != StateType.RUNNING:
            return
        if ctx.initial_type == StateType.PAUSED or ctx.policy.get("resuming"):
            return
        ctx.run.run_count = (ctx.run.run_count or 0) + 1


class IncrementTaskRunCount(Transform[orm.TaskRun]):
    """Count attempts: each entry into Running (retries compare against it)."""

    async def before_transition(self, ctx: OrchestrationContext[orm.TaskRun]) -> None:
        if _proposed(ctx).type == StateType.RUNNING:
            ctx.run.run_count = (ctx.run.run_count or 0) + 1


class RemoveResumingIndicator(Transform[orm.FlowRun]):
    """The resuming flag lasts until the resumed run is running again (or has finished)."""

    async def before_transition(self, ctx: OrchestrationContext[orm.FlowRun]) -> None:
        state = _proposed(ctx)
        if (state.type == StateType.RUNNING or state.is_terminal) and ctx.policy.get("resuming"):
            ctx.update_policy(resuming=False)
