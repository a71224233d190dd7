"""Bookkeeping transforms, one at a time (no database)."""

import datetime as dt
import uuid
from typing import Any

from orchestration_helpers import NOW, ago, context, flow_run, later, state, task_run

from flowyard.schemas.states import StateType
from flowyard.server.orchestration import global_rules as g
from flowyard.server.orchestration.policies import GlobalFlowPolicy
from flowyard.server.orchestration.rules import OrchestrationContext, Policy, Transform, orchestrate

S = StateType


async def transform(
    ctx: OrchestrationContext[Any], *transforms: Transform[Any]
) -> OrchestrationContext[Any]:
    await orchestrate(ctx, Policy("none", []), transforms)
    return ctx


async def test_states_are_stamped_now_and_strictly_after_the_previous_one() -> None:
    ctx = await transform(
        context(flow_run(), state(S.PENDING, timestamp=ago(5)), state(S.RUNNING)),
        g.SetStateTimestamp(),
    )
    assert ctx.validated_state.timestamp == NOW  # type: ignore[union-attr]
    ahead = state(S.PENDING, timestamp=NOW)  # same clock tick, or a server whose clock runs ahead
    ctx = await transform(context(flow_run(), ahead, state(S.RUNNING)), g.SetStateTimestamp())
    assert ctx.validated_state.timestamp == NOW + dt.timedelta(microseconds=1)  # type: ignore[union-attr]


async def test_scheduled_state_without_time_is_scheduled_now() -> None:
    proposed = state(S.SCHEDULED, timestamp=NOW)
    await transform(context(flow_run(), None, proposed), g.SetDefaultScheduledTime())
    assert proposed.state_details.scheduled_time == NOW


async def test_start_time_is_the_first_running() -> None:
    run = flow_run()
    await transform(
        context(run, state(S.PENDING), state(S.RUNNING, timestamp=NOW)), g.SetStartTime()
    )
    assert run.start_time == NOW
    await transform(
        context(run, state(S.SCHEDULED), state(S.RUNNING, timestamp=later(9))), g.SetStartTime()
    )
    assert run.start_time == NOW


async def test_end_time_set_on_terminal_and_cleared_on_leaving() -> None:
    never_started = flow_run()
    await transform(context(never_started, state(S.SCHEDULED), state(S.CANCELLED)), g.SetEndTime())
    assert never_started.end_time is None
    run = flow_run(start_time=ago(10))
    await transform(
        context(run, state(S.RUNNING), state(S.COMPLETED, timestamp=NOW)), g.SetEndTime()
    )
    assert run.end_time == NOW
    await transform(
        context(run, state(S.COMPLETED), state(S.FAILED, timestamp=later(1))), g.SetEndTime()
    )
    assert run.end_time == NOW
    await transform(context(run, state(S.COMPLETED), state(S.RUNNING)), g.SetEndTime())
    assert run.end_time is None


async def test_run_time_counts_only_time_spent_running() -> None:
    run = flow_run(total_run_time=1.5)
    await transform(
        context(run, state(S.RUNNING, timestamp=ago(4)), state(S.COMPLETED, timestamp=NOW)),
        g.IncrementRunTime(),
    )
    assert run.total_run_time == 5.5
    await transform(
        context(run, state(S.PAUSED, timestamp=ago(100)), state(S.RUNNING, timestamp=NOW)),
        g.IncrementRunTime(),
    )
    assert run.total_run_time == 5.5


async def test_expected_start_time_is_set_once() -> None:
    scheduled = flow_run()
    await transform(
        context(scheduled, None, state(S.SCHEDULED, scheduled_time=later(60))),
        g.SetExpectedStartTime(),
    )
    assert scheduled.expected_start_time == later(60)
    await transform(
        context(scheduled, state(S.SCHEDULED), state(S.RUNNING, timestamp=NOW)),
        g.SetExpectedStartTime(),
    )
    assert scheduled.expected_start_time == later(60)
    immediate = flow_run()
    await transform(
        context(immediate, None, state(S.PENDING, timestamp=NOW)), g.SetExpectedStartTime()
    )
    assert immediate.expected_start_time == NOW


async def test_next_scheduled_start_time_follows_the_scheduled_state() -> None:
    run = flow_run()
    await transform(
        context(run, None, state(S.SCHEDULED, scheduled_time=later(60))),
        g.SetNextScheduledStartTime(),
    )
    assert run.next_scheduled_start_time == later(60)
    await transform(
        context(run, state(S.SCHEDULED), state(S.PENDING)), g.SetNextScheduledStartTime()
    )
    assert run.next_scheduled_start_time is None


async def test_state_details_name_their_runs() -> None:
    parent_task = uuid.uuid4()
    subflow = flow_run(parent_task_run_id=parent_task)
    ctx = await transform(context(subflow, None, state(S.PENDING)), g.UpdateFlowRunStateDetails())
    details = ctx.validated_state.state_details  # type: ignore[union-attr]
    assert (details.flow_run_id, details.task_run_id) == (subflow.id, parent_task)
    task = task_run(flow_run_id=uuid.uuid4())
    ctx = await transform(context(task, None, state(S.PENDING)), g.UpdateTaskRunStateDetails())
    details = ctx.validated_state.state_details  # type: ignore[union-attr]
    assert (details.task_run_id, details.flow_run_id) == (task.id, task.flow_run_id)


async def test_flow_run_count_skips_resumptions() -> None:
    run = flow_run()
    await transform(context(run, state(S.PENDING), state(S.RUNNING)), g.IncrementFlowRunCount())
    assert run.run_count == 1
    await transform(context(run, state(S.PAUSED), state(S.RUNNING)), g.IncrementFlowRunCount())
    assert run.run_count == 1
    resumed = flow_run(run_count=1, empirical_policy={"resuming": True})
    await transform(context(resumed, state(S.PENDING), state(S.RUNNING)), g.IncrementFlowRunCount())
    assert resumed.run_count == 1
    await transform(context(run, state(S.RUNNING), state(S.COMPLETED)), g.IncrementFlowRunCount())
    assert run.run_count == 1


async def test_task_run_count_counts_every_start() -> None:
    run = task_run()
    for initial in (S.PENDING, S.PAUSED):
        await transform(context(run, state(initial), state(S.RUNNING)), g.IncrementTaskRunCount())
    assert run.run_count == 2


async def test_resuming_indicator_is_removed_once_running_or_final() -> None:
    run = flow_run(empirical_policy={"resuming": True})
    await transform(context(run, state(S.SCHEDULED), state(S.PENDING)), g.RemoveResumingIndicator())
    assert run.empirical_policy["resuming"] is True
    await transform(context(run, state(S.PENDING), state(S.RUNNING)), g.RemoveResumingIndicator())
    assert run.empirical_policy["resuming"] is False


async def test_resumed_run_is_not_counted_twice_with_the_whole_global_policy() -> None:
    run = flow_run(run_count=1, empirical_policy={"resuming": True})
    ctx = context(run, state(S.PENDING, timestamp=ago(1)), state(S.RUNNING))
    await orchestrate(ctx, Policy("none", []), GlobalFlowPolicy)
    assert run.run_count == 1 and run.empirical_policy["resuming"] is False
    assert run.state_type == "RUNNING" and run.state_timestamp == NOW and run.start_time == NOW
