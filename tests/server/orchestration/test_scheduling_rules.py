"""Scheduled times, retries and reruns, rule by rule (no database)."""

import pytest
from orchestration_helpers import NOW, ago, apply_rules, context, flow_run, later, state, task_run

from flowyard.schemas.states import SetStateStatus, StateType
from flowyard.server.orchestration.scheduling_rules import (
    CopyScheduledTime,
    RenameReruns,
    RetryFailedFlows,
    RetryFailedTasks,
    WaitForScheduledTime,
    jittered,
    task_retry_delay,
)

S = StateType
ACCEPT, REJECT, WAIT = SetStateStatus.ACCEPT, SetStateStatus.REJECT, SetStateStatus.WAIT


async def test_copy_scheduled_time_unless_the_proposal_has_one() -> None:
    ctx = context(flow_run(), state(S.SCHEDULED, scheduled_time=later(5)), state(S.PENDING))
    await apply_rules(ctx, CopyScheduledTime)
    assert ctx.validated_state.state_details.scheduled_time == later(5)  # type: ignore[union-attr]
    own = state(S.PENDING, scheduled_time=later(9))
    ctx = await apply_rules(
        context(flow_run(), state(S.SCHEDULED, scheduled_time=later(5)), own), CopyScheduledTime
    )
    assert ctx.validated_state.state_details.scheduled_time == later(9)  # type: ignore[union-attr]


@pytest.mark.parametrize("current", [S.SCHEDULED, S.PENDING])
async def test_wait_for_scheduled_time(current: StateType) -> None:
    early = context(flow_run(), state(current, scheduled_time=later(10.2)), state(S.RUNNING))
    await apply_rules(early, WaitForScheduledTime)
    assert early.status == WAIT and early.details.delay_seconds == 11  # type: ignore[union-attr]
    assert early.validated_state is early.initial_state
    due = context(flow_run(), state(current, scheduled_time=ago(1)), state(S.RUNNING))
    assert (await apply_rules(due, WaitForScheduledTime)).status == ACCEPT
    unscheduled = context(flow_run(), state(current), state(S.RUNNING))
    assert (await apply_rules(unscheduled, WaitForScheduledTime)).status == ACCEPT


async def test_retry_failed_flows_until_retries_are_spent() -> None:
    policy = {"retries": 2, "retry_delay": 30, "pause_keys": ["p"], "resuming": True}
    run = flow_run(run_count=2, empirical_policy=policy)
    failed = state(S.FAILED, message="boom", data={"storage_key": "k"})
    ctx = await apply_rules(context(run, state(S.RUNNING), failed), RetryFailedFlows)
    assert ctx.status == REJECT
    retry = ctx.validated_state
    assert retry is not None and (retry.type, retry.name) == (S.SCHEDULED, "AwaitingRetry")
    assert retry.state_details.scheduled_time == later(30)
    assert (retry.message, retry.data) == ("boom", {"storage_key": "k"})
    assert run.empirical_policy["retry_type"] == "in_process"
    assert run.empirical_policy["pause_keys"] == [] and run.empirical_policy["resuming"] is False

    spent = flow_run(run_count=3, empirical_policy={"retries": 2, "retry_type": "in_process"})
    ctx = await apply_rules(context(spent, state(S.RUNNING), state(S.FAILED)), RetryFailedFlows)
    assert ctx.status == ACCEPT and spent.empirical_policy["retry_type"] is None


async def test_retry_failed_flows_honours_deprecated_fields_and_no_retries() -> None:
    old_client = flow_run(
        run_count=1, empirical_policy={"max_retries": 1, "retry_delay_seconds": 4}
    )
    ctx = await apply_rules(
        context(old_client, state(S.RUNNING), state(S.FAILED)), RetryFailedFlows
    )
    assert ctx.status == REJECT and ctx.validated_state.state_details.scheduled_time == later(4)  # type: ignore[union-attr]
    never = flow_run(run_count=1)
    assert (
        await apply_rules(context(never, state(S.RUNNING), state(S.FAILED)), RetryFailedFlows)
    ).status == ACCEPT


async def test_retry_failed_tasks_uses_the_delay_for_this_attempt() -> None:
    policy = {"retries": 3, "retry_delay": [1, 10, 100]}
    for run_count, delay in [(1, 1), (2, 10), (3, 100)]:
        run = task_run(run_count=run_count, empirical_policy=policy)
        ctx = await apply_rules(context(run, state(S.RUNNING), state(S.FAILED)), RetryFailedTasks)
        assert ctx.status == REJECT
        assert ctx.validated_state.state_details.scheduled_time == later(delay)  # type: ignore[union-attr]
    spent = task_run(run_count=4, empirical_policy=policy)
    assert (
        await apply_rules(context(spent, state(S.RUNNING), state(S.FAILED)), RetryFailedTasks)
    ).status == ACCEPT


async def test_retry_failed_tasks_respects_retriable_false() -> None:
    run = task_run(run_count=1, empirical_policy={"retries": 3})
    ctx = context(run, state(S.RUNNING), state(S.FAILED, retriable=False))
    assert (await apply_rules(ctx, RetryFailedTasks)).status == ACCEPT


def test_task_retry_delay_list_repeats_its_last_entry_and_jitters() -> None:
    assert task_retry_delay({"retry_delay": [2, 5]}, 7) == 5
    assert task_retry_delay({"retry_delay": []}, 1) == 0
    assert task_retry_delay({"retry_delay": 3}, 9) == 3
    draws = [
        task_retry_delay({"retry_delay": 10, "retry_jitter_factor": 0.5}, 1) for _ in range(200)
    ]
    assert all(5 <= d <= 15 for d in draws) and len(set(draws)) > 1
    assert jittered(10, 0) == 10


async def test_rename_reruns() -> None:
    first = task_run(run_count=0)
    ctx = await apply_rules(context(first, state(S.PENDING), state(S.RUNNING)), RenameReruns)
    assert ctx.validated_state.name == "Running"  # type: ignore[union-attr]
    retried = task_run(run_count=1)
    ctx = await apply_rules(
        context(retried, state(S.SCHEDULED, "AwaitingRetry"), state(S.RUNNING)), RenameReruns
    )
    assert ctx.validated_state.name == "Retrying"  # type: ignore[union-attr]
    rerun = task_run(run_count=1)
    ctx = await apply_rules(context(rerun, state(S.PENDING), state(S.RUNNING)), RenameReruns)
    assert ctx.status == ACCEPT and ctx.validated_state.name == "Rerunning"  # type: ignore[union-attr]


def test_now_is_fixed_for_the_transition() -> None:
    assert context(flow_run(), None, state(S.PENDING)).now == NOW
