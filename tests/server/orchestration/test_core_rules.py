"""Each guard in core_rules.py on its own, with transient runs (no database)."""

import uuid

import pytest
from orchestration_helpers import apply_rules, context, flow_run, state, task_run

from flowyard.schemas.states import SetStateStatus, StateType
from flowyard.server.orchestration.core_rules import (
    BypassCancellingFlowRunsWithNoInfra,
    EnforceCancellingToCancelledTransition,
    EnsureOnlyScheduledFlowsMarkedLate,
    HandleFlowTerminalStateTransitions,
    HandleTaskTerminalStateTransitions,
    PreventDuplicateRunning,
    PreventDuplicateTransitions,
    PreventPendingTransitions,
    PreventResultDataLoss,
    has_persisted_result,
)
from flowyard.server.orchestration.rules import OrchestrationContext

S = StateType
ACCEPT, REJECT, ABORT = SetStateStatus.ACCEPT, SetStateStatus.REJECT, SetStateStatus.ABORT
RESULT = {"storage_key": "/results/abc", "serializer": {"type": "json"}}


def assert_kept_current_state(ctx: OrchestrationContext) -> None:  # type: ignore[type-arg]
    assert ctx.status == REJECT and ctx.validated_state is ctx.initial_state


async def test_prevent_duplicate_transitions() -> None:
    transition_id = uuid.uuid4()
    initial = state(S.RUNNING, transition_id=transition_id)
    same = context(flow_run(), initial, state(S.RUNNING, transition_id=transition_id))
    assert_kept_current_state(await apply_rules(same, PreventDuplicateTransitions))
    other = context(flow_run(), initial, state(S.COMPLETED, transition_id=uuid.uuid4()))
    assert (await apply_rules(other, PreventDuplicateTransitions)).status == ACCEPT
    no_id = context(flow_run(), state(S.RUNNING), state(S.COMPLETED))
    assert (await apply_rules(no_id, PreventDuplicateTransitions)).status == ACCEPT


def test_has_persisted_result() -> None:
    assert has_persisted_result(state(S.COMPLETED, data=RESULT))
    assert not has_persisted_result(state(S.COMPLETED, data=None))
    assert not has_persisted_result(state(S.COMPLETED, data={"type": "unpersisted"}))


async def test_prevent_result_data_loss() -> None:
    lose = context(flow_run(), state(S.COMPLETED, data=RESULT), state(S.COMPLETED))
    assert_kept_current_state(await apply_rules(lose, PreventResultDataLoss))
    replace = context(flow_run(), state(S.COMPLETED, data=RESULT), state(S.COMPLETED, data=RESULT))
    assert (await apply_rules(replace, PreventResultDataLoss)).status == ACCEPT


@pytest.mark.parametrize("target", [S.CANCELLING, S.PAUSED, S.CRASHED])
@pytest.mark.parametrize(
    "rule", [HandleFlowTerminalStateTransitions, HandleTaskTerminalStateTransitions]
)
async def test_terminal_runs_cannot_be_cancelled_paused_or_crashed(
    rule: type, target: StateType
) -> None:
    run = flow_run() if rule is HandleFlowTerminalStateTransitions else task_run()
    ctx = await apply_rules(context(run, state(S.FAILED), state(target)), rule)
    assert ctx.status == ABORT and "FAILED" in ctx.details.reason  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "rule", [HandleFlowTerminalStateTransitions, HandleTaskTerminalStateTransitions]
)
async def test_completed_run_with_persisted_result_is_not_rerun(rule: type) -> None:
    run = flow_run() if rule is HandleFlowTerminalStateTransitions else task_run()
    ctx = context(run, state(S.COMPLETED, data=RESULT), state(S.RUNNING))
    assert_kept_current_state(await apply_rules(ctx, rule))


async def test_flow_rerun_resets_pause_bookkeeping() -> None:
    run = flow_run(empirical_policy={"pause_keys": ["k"], "resuming": True, "retries": 2})
    ctx = await apply_rules(
        context(run, state(S.COMPLETED), state(S.RUNNING)), HandleFlowTerminalStateTransitions
    )
    assert ctx.status == ACCEPT
    assert run.empirical_policy == {
        "pause_keys": [],
        "resuming": False,
        "retry_type": None,
        "retries": 2,
    }


async def test_flow_rerun_is_undone_when_a_later_rule_aborts() -> None:
    run = flow_run(empirical_policy={"pause_keys": ["k"]})
    ctx = context(run, state(S.FAILED), state(S.PENDING))
    await apply_rules(ctx, HandleFlowTerminalStateTransitions, PreventPendingTransitions)
    assert ctx.status == ACCEPT  # FAILED -> PENDING is not a duplicate submission
    ctx = context(
        run := flow_run(empirical_policy={"pause_keys": ["k"]}),
        state(S.CANCELLED),
        state(S.PENDING),
    )
    await apply_rules(ctx, HandleFlowTerminalStateTransitions, PreventPendingTransitions)
    assert ctx.status == ABORT and run.empirical_policy == {"pause_keys": ["k"]}


async def test_flow_cannot_be_rescheduled_without_a_deployment() -> None:
    ctx = context(flow_run(), state(S.FAILED), state(S.SCHEDULED))
    assert (await apply_rules(ctx, HandleFlowTerminalStateTransitions)).status == ABORT
    deployed = flow_run(deployment_id=uuid.uuid4())
    ctx = await apply_rules(
        context(deployed, state(S.FAILED), state(S.SCHEDULED)), HandleFlowTerminalStateTransitions
    )
    assert ctx.status == ACCEPT and deployed.empirical_policy["retry_type"] == "reschedule"


async def test_task_rerun_resets_run_count_and_restores_it_on_cleanup() -> None:
    run = task_run(run_count=3)
    await apply_rules(
        context(run, state(S.FAILED), state(S.RUNNING)), HandleTaskTerminalStateTransitions
    )
    assert run.run_count == 0
    run = task_run(run_count=3)
    ctx = context(run, state(S.CANCELLED), state(S.PENDING))
    await apply_rules(ctx, HandleTaskTerminalStateTransitions, PreventPendingTransitions)
    assert ctx.status == ABORT and run.run_count == 3


async def test_task_moving_between_terminal_states_keeps_its_run_count() -> None:
    run = task_run(run_count=2)
    await apply_rules(
        context(run, state(S.FAILED), state(S.COMPLETED)), HandleTaskTerminalStateTransitions
    )
    assert run.run_count == 2


@pytest.mark.parametrize("target", [S.RUNNING, S.COMPLETED, S.FAILED, S.CANCELLING, S.SCHEDULED])
async def test_cancelling_only_leads_to_cancelled(target: StateType) -> None:
    ctx = context(flow_run(), state(S.CANCELLING), state(target))
    assert_kept_current_state(await apply_rules(ctx, EnforceCancellingToCancelledTransition))


async def test_cancelling_to_cancelled_is_accepted() -> None:
    ctx = context(flow_run(), state(S.CANCELLING), state(S.CANCELLED))
    assert (await apply_rules(ctx, EnforceCancellingToCancelledTransition)).status == ACCEPT


@pytest.mark.parametrize(
    ("initial", "pid", "bypassed"),
    [
        (state(S.SCHEDULED), None, True),
        (state(S.SCHEDULED), "1234", False),
        (state(S.SCHEDULED, "AwaitingRetry"), None, False),
        (state(S.SCHEDULED, "Resuming"), "1234", True),
        (state(S.PAUSED, "Suspended", pause_reschedule=True), None, True),
        (state(S.PAUSED), None, False),
    ],
)
async def test_bypass_cancelling_for_runs_without_infrastructure(initial, pid, bypassed) -> None:  # type: ignore[no-untyped-def]
    ctx = context(flow_run(infrastructure_pid=pid), initial, state(S.CANCELLING, message="by user"))
    await apply_rules(ctx, BypassCancellingFlowRunsWithNoInfra)
    if bypassed:
        assert ctx.status == REJECT and ctx.validated_state.type == S.CANCELLED  # type: ignore[union-attr]
        assert ctx.validated_state.message == "by user"  # type: ignore[union-attr]
    else:
        assert ctx.status == ACCEPT and ctx.validated_state.type == S.CANCELLING  # type: ignore[union-attr]


@pytest.mark.parametrize("current", [S.PENDING, S.RUNNING, S.CANCELLING, S.CANCELLED])
async def test_duplicate_pending_is_aborted(current: StateType) -> None:
    ctx = context(flow_run(), state(current), state(S.PENDING))
    assert (await apply_rules(ctx, PreventPendingTransitions)).status == ABORT


async def test_pending_sub_states_are_allowed_and_keep_the_schedule() -> None:
    when, lease = state(S.PENDING).timestamp, uuid.uuid4()
    initial = state(S.PENDING, scheduled_time=when, deployment_concurrency_lease_id=lease)
    ctx = await apply_rules(
        context(flow_run(), initial, state(S.PENDING, "Submitting")), PreventPendingTransitions
    )
    assert ctx.status == ACCEPT
    details = ctx.validated_state.state_details  # type: ignore[union-attr]
    assert details.scheduled_time == when and details.deployment_concurrency_lease_id == lease
    again = context(flow_run(), state(S.PENDING, "Submitting"), state(S.PENDING, "Submitting"))
    assert (await apply_rules(again, PreventPendingTransitions)).status == ABORT


async def test_scheduled_to_pending_is_not_a_duplicate() -> None:
    ctx = context(flow_run(), state(S.SCHEDULED), state(S.PENDING))
    assert (await apply_rules(ctx, PreventPendingTransitions)).status == ACCEPT


async def test_duplicate_running_is_aborted() -> None:
    ctx = context(flow_run(), state(S.RUNNING), state(S.RUNNING))
    assert (await apply_rules(ctx, PreventDuplicateRunning)).status == ABORT
    ctx = context(flow_run(), state(S.PENDING), state(S.RUNNING))
    assert (await apply_rules(ctx, PreventDuplicateRunning)).status == ACCEPT


async def test_only_scheduled_runs_are_marked_late() -> None:
    due = state(S.SCHEDULED).timestamp
    late = context(flow_run(), state(S.SCHEDULED, scheduled_time=due), state(S.SCHEDULED, "Late"))
    assert (await apply_rules(late, EnsureOnlyScheduledFlowsMarkedLate)).status == ACCEPT
    assert late.validated_state.state_details.scheduled_time == due  # type: ignore[union-attr]
    moved_on = context(flow_run(), state(S.RUNNING), state(S.SCHEDULED, "Late"))
    assert_kept_current_state(await apply_rules(moved_on, EnsureOnlyScheduledFlowsMarkedLate))
    no_state = context(flow_run(), None, state(S.SCHEDULED, "Late"))
    assert (await apply_rules(no_state, EnsureOnlyScheduledFlowsMarkedLate)).status == ABORT
    rescheduled = context(flow_run(), state(S.FAILED), state(S.SCHEDULED))
    assert (await apply_rules(rescheduled, EnsureOnlyScheduledFlowsMarkedLate)).status == ACCEPT
