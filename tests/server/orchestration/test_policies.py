"""The policies as composed: which rules each holds, in which order, and what each rule does
when it is reached the way a request reaches it -- through ``transitions`` on a real
database, with the whole policy in place (the rule tests elsewhere run hand-picked rules on a
fake session, which cannot tell whether a rule is still in its policy).

Every rule of the core and minimal policies has a test here named after it that fails when
the rule is taken out of its policy, and so does every bookkeeping transform, here or in
``test_transitions.py`` (each was checked by deleting it from a copy of ``policies.py``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

import pytest
import sqlalchemy as sa
from orchestration_helpers import (
    create_flow_run,
    create_task_run,
    proposal,
    read_run,
    set_flow_state,
    set_task_state,
    state_history,
)

from flowyard.schemas.states import SetStateStatus, StateType
from flowyard.server.database import orm
from flowyard.server.database.engine import Database
from flowyard.server.database.types import utcnow
from flowyard.server.orchestration import policies

S = StateType
ACCEPT, REJECT, WAIT, ABORT = (
    SetStateStatus.ACCEPT,
    SetStateStatus.REJECT,
    SetStateStatus.WAIT,
    SetStateStatus.ABORT,
)

# --- composition -----------------------------------------------------------------------------

# Changing a policy is a decision: make it here too, and say why in policies.py.
COMPOSITION = {
    "CoreFlowPolicy": [
        "PreventDuplicateTransitions",
        "HandleFlowTerminalStateTransitions",
        "EnforceCancellingToCancelledTransition",
        "BypassCancellingFlowRunsWithNoInfra",
        "PreventPendingTransitions",
        "PreventDuplicateRunning",
        "CopyDeploymentConcurrencyLease",
        "EnsureOnlyScheduledFlowsMarkedLate",
        "HandlePausingFlows",
        "HandleResumingPausedFlows",
        "CopyScheduledTime",
        "WaitForScheduledTime",
        "SecureDeploymentConcurrencySlot",
        "RetryFailedFlows",
        "ReleaseDeploymentConcurrencySlot",
    ],
    "CoreTaskPolicy": [
        "PreventDuplicateTransitions",
        "CacheRetrieval",
        "HandleTaskTerminalStateTransitions",
        "EnforceCancellingToCancelledTransition",
        "PreventPendingTransitions",
        "PreventDuplicateRunning",
        "PreventRunningTasksFromStoppedFlows",
        "CopyScheduledTime",
        "WaitForScheduledTime",
        "RetryFailedTasks",
        "RenameReruns",
        "UpdateFlowRunTrackerOnTasks",
        "CacheInsertion",
    ],
    "MinimalFlowPolicy": [
        "PreventResultDataLoss",
        "BypassCancellingFlowRunsWithNoInfra",
        "CopyDeploymentConcurrencyLease",
        "ReleaseDeploymentConcurrencySlot",
    ],
    "MinimalTaskPolicy": [],
    "GlobalFlowPolicy": [
        "InstrumentFlowRunStateTransitions",
        "SetStateTimestamp",
        "SetDefaultScheduledTime",
        "SetStartTime",
        "SetEndTime",
        "IncrementRunTime",
        "SetExpectedStartTime",
        "SetNextScheduledStartTime",
        "UpdateFlowRunStateDetails",
        "IncrementFlowRunCount",
        "RemoveResumingIndicator",
    ],
    "GlobalTaskPolicy": [
        "InstrumentTaskRunStateTransitions",
        "SetStateTimestamp",
        "SetDefaultScheduledTime",
        "SetStartTime",
        "SetEndTime",
        "IncrementRunTime",
        "SetExpectedStartTime",
        "SetNextScheduledStartTime",
        "UpdateTaskRunStateDetails",
        "IncrementTaskRunCount",
    ],
}


def test_each_policy_holds_exactly_these_rules_in_this_order() -> None:
    held = {
        name: [rule.__name__ for rule in getattr(policies, name).rules]
        for name in ("CoreFlowPolicy", "CoreTaskPolicy", "MinimalFlowPolicy", "MinimalTaskPolicy")
    }
    held |= {
        name: [type(transform).__name__ for transform in getattr(policies, name)]
        for name in ("GlobalFlowPolicy", "GlobalTaskPolicy")
    }
    assert held == COMPOSITION


# --- flow runs: CoreFlowPolicy -----------------------------------------------------------------


async def _running_flow(db: Database, workspace_id: uuid.UUID, **columns: object) -> uuid.UUID:
    run_id = await create_flow_run(db, workspace_id, **columns)
    assert (await set_flow_state(db, workspace_id, run_id, proposal(S.RUNNING))).status == ACCEPT
    return run_id


async def test_flow_prevent_duplicate_transitions(db: Database, workspace_id: uuid.UUID) -> None:
    run_id = await create_flow_run(db, workspace_id)
    first = await set_flow_state(
        db, workspace_id, run_id, proposal(S.RUNNING, transition_id=(t := uuid.uuid4()))
    )
    assert first.status == ACCEPT
    # The client's retry of that request, with a different state: answered, not written.
    again = await set_flow_state(db, workspace_id, run_id, proposal(S.COMPLETED, transition_id=t))
    assert again.status == REJECT and again.state is not None and again.state.id == first.state.id  # type: ignore[union-attr]
    assert (await read_run(db, orm.FlowRun, run_id)).state_type == "RUNNING"


async def test_flow_handle_terminal_state_transitions(
    db: Database, workspace_id: uuid.UUID
) -> None:
    run_id = await _running_flow(db, workspace_id)
    await set_flow_state(db, workspace_id, run_id, proposal(S.COMPLETED))
    crashed = await set_flow_state(db, workspace_id, run_id, proposal(S.CRASHED))
    assert crashed.status == ABORT
    assert (await read_run(db, orm.FlowRun, run_id)).state_type == "COMPLETED"


async def test_flow_enforce_cancelling_to_cancelled(db: Database, workspace_id: uuid.UUID) -> None:
    run_id = await _running_flow(db, workspace_id)
    await set_flow_state(db, workspace_id, run_id, proposal(S.CANCELLING))
    late_report = await set_flow_state(db, workspace_id, run_id, proposal(S.COMPLETED))
    assert late_report.status == REJECT
    assert (await read_run(db, orm.FlowRun, run_id)).state_type == "CANCELLING"
    done = await set_flow_state(db, workspace_id, run_id, proposal(S.CANCELLED))
    assert done.status == ACCEPT


async def test_flow_bypass_cancelling_with_no_infrastructure(
    db: Database, workspace_id: uuid.UUID
) -> None:
    run_id = await create_flow_run(db, workspace_id, proposal(S.SCHEDULED))
    result = await set_flow_state(db, workspace_id, run_id, proposal(S.CANCELLING))
    assert result.state is not None and result.state.type == S.CANCELLED
    assert (await read_run(db, orm.FlowRun, run_id)).state_type == "CANCELLED"


async def test_flow_bypass_cancelling_holds_even_when_forced(
    db: Database, workspace_id: uuid.UUID
) -> None:
    """MinimalFlowPolicy keeps it: nothing would ever tear the non-existent process down."""
    run_id = await create_flow_run(db, workspace_id, proposal(S.SCHEDULED))
    result = await set_flow_state(db, workspace_id, run_id, proposal(S.CANCELLING), force=True)
    assert result.state is not None and result.state.type == S.CANCELLED


async def test_flow_prevent_pending_transitions(db: Database, workspace_id: uuid.UUID) -> None:
    run_id = await _running_flow(db, workspace_id)
    second_submission = await set_flow_state(db, workspace_id, run_id, proposal(S.PENDING))
    assert second_submission.status == ABORT
    assert (await read_run(db, orm.FlowRun, run_id)).state_type == "RUNNING"


async def test_flow_prevent_duplicate_running(db: Database, workspace_id: uuid.UUID) -> None:
    run_id = await _running_flow(db, workspace_id)
    second_process = await set_flow_state(db, workspace_id, run_id, proposal(S.RUNNING))
    assert second_process.status == ABORT
    run = await read_run(db, orm.FlowRun, run_id)
    assert run.run_count == 1
    assert await state_history(db, orm.FlowRunState, run_id) == [
        ("PENDING", "Pending"),
        ("RUNNING", "Running"),
    ]


async def test_flow_ensure_only_scheduled_flows_marked_late(
    db: Database, workspace_id: uuid.UUID
) -> None:
    run_id = await _running_flow(db, workspace_id)
    late = await set_flow_state(db, workspace_id, run_id, proposal(S.SCHEDULED, "Late"))
    assert late.status == REJECT
    assert (await read_run(db, orm.FlowRun, run_id)).state_type == "RUNNING"


async def test_flow_handle_pausing_flows(db: Database, workspace_id: uuid.UUID) -> None:
    run_id = await create_flow_run(db, workspace_id)  # Pending: not running
    paused = await set_flow_state(db, workspace_id, run_id, proposal(S.PAUSED))
    assert paused.status == REJECT
    assert (await read_run(db, orm.FlowRun, run_id)).state_type == "PENDING"
    # Running: may pause, once per key.
    await set_flow_state(db, workspace_id, run_id, proposal(S.RUNNING))
    key = {"pause_key": "approval"}
    assert (await set_flow_state(db, workspace_id, run_id, proposal(S.PAUSED, **key))).status == (
        ACCEPT
    )
    await set_flow_state(db, workspace_id, run_id, proposal(S.RUNNING))
    again = await set_flow_state(db, workspace_id, run_id, proposal(S.PAUSED, **key))
    assert again.status == REJECT


async def test_flow_handle_resuming_paused_flows(db: Database, workspace_id: uuid.UUID) -> None:
    run_id = await _running_flow(db, workspace_id)
    await set_flow_state(db, workspace_id, run_id, proposal(S.PAUSED))
    pending = await set_flow_state(db, workspace_id, run_id, proposal(S.PENDING))
    assert pending.status == REJECT
    assert (await read_run(db, orm.FlowRun, run_id)).state_type == "PAUSED"


async def test_flow_resuming_after_the_pause_timed_out_fails(
    db: Database, workspace_id: uuid.UUID
) -> None:
    run_id = await _running_flow(db, workspace_id)
    timeout = utcnow() - dt.timedelta(minutes=1)
    await set_flow_state(db, workspace_id, run_id, proposal(S.PAUSED, pause_timeout=timeout))
    resumed = await set_flow_state(db, workspace_id, run_id, proposal(S.RUNNING))
    assert resumed.state is not None and resumed.state.type == S.FAILED


async def test_flow_copy_scheduled_time(db: Database, workspace_id: uuid.UUID) -> None:
    when = (utcnow() - dt.timedelta(hours=1)).replace(microsecond=0)
    run_id = await create_flow_run(db, workspace_id, proposal(S.SCHEDULED, scheduled_time=when))
    pending = await set_flow_state(db, workspace_id, run_id, proposal(S.PENDING))
    assert pending.status == ACCEPT and pending.state is not None
    assert pending.state.state_details.scheduled_time == when


async def test_flow_wait_for_scheduled_time(db: Database, workspace_id: uuid.UUID) -> None:
    when = utcnow() + dt.timedelta(hours=1)
    run_id = await create_flow_run(db, workspace_id, proposal(S.SCHEDULED, scheduled_time=when))
    early = await set_flow_state(db, workspace_id, run_id, proposal(S.RUNNING))
    assert early.status == WAIT
    assert early.details.delay_seconds > 3500  # type: ignore[union-attr]
    assert (await read_run(db, orm.FlowRun, run_id)).state_type == "SCHEDULED"


async def test_flow_retry_failed_flows(db: Database, workspace_id: uuid.UUID) -> None:
    run_id = await _running_flow(db, workspace_id, empirical_policy={"retries": 1})
    failed = await set_flow_state(db, workspace_id, run_id, proposal(S.FAILED))
    assert failed.state is not None
    assert (failed.state.type, failed.state.name) == (S.SCHEDULED, "AwaitingRetry")
    # The retry runs, fails again: no retries left.
    await set_flow_state(db, workspace_id, run_id, proposal(S.RUNNING))
    final = await set_flow_state(db, workspace_id, run_id, proposal(S.FAILED))
    assert final.state is not None and final.state.type == S.FAILED


async def test_forced_completion_keeps_a_persisted_result(
    db: Database, workspace_id: uuid.UUID
) -> None:
    """PreventResultDataLoss: MinimalFlowPolicy's guard, the one a forced change obeys."""
    run_id = await _running_flow(db, workspace_id)
    result = {"type": "reference", "storage_key": "k"}
    await set_flow_state(db, workspace_id, run_id, proposal(S.COMPLETED, data=result))
    again = await set_flow_state(db, workspace_id, run_id, proposal(S.COMPLETED), force=True)
    assert again.status == REJECT
    assert again.state is not None and again.state.data == result


# --- task runs: CoreTaskPolicy -----------------------------------------------------------------


async def _running_task(db: Database, workspace_id: uuid.UUID, **columns: object) -> uuid.UUID:
    task_id = await create_task_run(db, workspace_id, **columns)
    assert (await set_task_state(db, workspace_id, task_id, proposal(S.RUNNING))).status == ACCEPT
    return task_id


async def test_task_prevent_duplicate_running(db: Database, workspace_id: uuid.UUID) -> None:
    """Two workers that both picked the same task run up: only the first runs it."""
    flow_run_id = await _running_flow(db, workspace_id)
    task_id = await _running_task(db, workspace_id, flow_run_id=flow_run_id)
    second_worker = await set_task_state(db, workspace_id, task_id, proposal(S.RUNNING))
    assert second_worker.status == ABORT
    task = await read_run(db, orm.TaskRun, task_id)
    assert (task.state_type, task.state_name, task.run_count) == ("RUNNING", "Running", 1)
    assert await state_history(db, orm.TaskRunState, task_id) == [
        ("PENDING", "Pending"),
        ("RUNNING", "Running"),
    ]


async def test_task_prevent_duplicate_transitions(db: Database, workspace_id: uuid.UUID) -> None:
    task_id = await create_task_run(db, workspace_id)
    t = uuid.uuid4()
    first = await set_task_state(db, workspace_id, task_id, proposal(S.RUNNING, transition_id=t))
    again = await set_task_state(db, workspace_id, task_id, proposal(S.COMPLETED, transition_id=t))
    assert again.status == REJECT and again.state is not None
    assert again.state.id == first.state.id  # type: ignore[union-attr]
    assert (await read_run(db, orm.TaskRun, task_id)).state_type == "RUNNING"


async def test_task_handle_terminal_state_transitions(
    db: Database, workspace_id: uuid.UUID
) -> None:
    task_id = await _running_task(db, workspace_id)
    await set_task_state(db, workspace_id, task_id, proposal(S.COMPLETED))
    crashed = await set_task_state(db, workspace_id, task_id, proposal(S.CRASHED))
    assert crashed.status == ABORT
    assert (await read_run(db, orm.TaskRun, task_id)).state_type == "COMPLETED"


async def test_task_enforce_cancelling_to_cancelled(db: Database, workspace_id: uuid.UUID) -> None:
    task_id = await _running_task(db, workspace_id)
    await set_task_state(db, workspace_id, task_id, proposal(S.CANCELLING))
    late_report = await set_task_state(db, workspace_id, task_id, proposal(S.COMPLETED))
    assert late_report.status == REJECT
    assert (await read_run(db, orm.TaskRun, task_id)).state_type == "CANCELLING"


async def test_task_prevent_pending_transitions(db: Database, workspace_id: uuid.UUID) -> None:
    task_id = await _running_task(db, workspace_id)
    resubmitted = await set_task_state(db, workspace_id, task_id, proposal(S.PENDING))
    assert resubmitted.status == ABORT
    assert (await read_run(db, orm.TaskRun, task_id)).state_type == "RUNNING"


async def test_task_prevent_running_tasks_from_stopped_flows(
    db: Database, workspace_id: uuid.UUID
) -> None:
    pending_flow = await create_flow_run(db, workspace_id)
    task_id = await create_task_run(db, workspace_id, flow_run_id=pending_flow)
    started = await set_task_state(db, workspace_id, task_id, proposal(S.RUNNING))
    assert started.status == ABORT
    assert (await read_run(db, orm.TaskRun, task_id)).state_type == "PENDING"
    # In a paused flow, the task waits (Paused "NotReady") instead.
    paused_flow = await _running_flow(db, workspace_id)
    await set_flow_state(db, workspace_id, paused_flow, proposal(S.PAUSED))
    waiting_id = await create_task_run(db, workspace_id, flow_run_id=paused_flow)
    waiting = await set_task_state(db, workspace_id, waiting_id, proposal(S.RUNNING))
    assert waiting.state is not None
    assert (waiting.state.type, waiting.state.name) == (S.PAUSED, "NotReady")


async def test_task_copy_scheduled_time(db: Database, workspace_id: uuid.UUID) -> None:
    when = (utcnow() - dt.timedelta(hours=1)).replace(microsecond=0)
    task_id = await create_task_run(db, workspace_id, proposal(S.SCHEDULED, scheduled_time=when))
    pending = await set_task_state(db, workspace_id, task_id, proposal(S.PENDING))
    assert pending.status == ACCEPT and pending.state is not None
    assert pending.state.state_details.scheduled_time == when


async def test_task_wait_for_scheduled_time(db: Database, workspace_id: uuid.UUID) -> None:
    when = utcnow() + dt.timedelta(hours=1)
    task_id = await create_task_run(db, workspace_id, proposal(S.SCHEDULED, scheduled_time=when))
    early = await set_task_state(db, workspace_id, task_id, proposal(S.RUNNING))
    assert early.status == WAIT
    assert (await read_run(db, orm.TaskRun, task_id)).state_type == "SCHEDULED"


async def test_task_retry_failed_tasks_and_rename_reruns(
    db: Database, workspace_id: uuid.UUID
) -> None:
    task_id = await _running_task(db, workspace_id, empirical_policy={"retries": 1})
    failed = await set_task_state(db, workspace_id, task_id, proposal(S.FAILED))
    assert failed.state is not None
    assert (failed.state.type, failed.state.name) == (S.SCHEDULED, "AwaitingRetry")
    # RenameReruns: the second attempt is "Retrying".
    retry = await set_task_state(db, workspace_id, task_id, proposal(S.RUNNING))
    assert retry.status == ACCEPT and retry.state is not None
    assert (retry.state.type, retry.state.name) == (S.RUNNING, "Retrying")
    final = await set_task_state(db, workspace_id, task_id, proposal(S.FAILED))
    assert final.state is not None and final.state.type == S.FAILED
    assert (await read_run(db, orm.TaskRun, task_id)).run_count == 2


async def test_task_a_failure_the_client_calls_final_is_not_retried(
    db: Database, workspace_id: uuid.UUID
) -> None:
    task_id = await _running_task(db, workspace_id, empirical_policy={"retries": 3})
    failed = await set_task_state(db, workspace_id, task_id, proposal(S.FAILED, retriable=False))
    assert failed.state is not None and failed.state.type == S.FAILED


async def test_task_update_flow_run_tracker(db: Database, workspace_id: uuid.UUID) -> None:
    flow_run_id = await _running_flow(db, workspace_id)
    task_id = await _running_task(db, workspace_id, flow_run_id=flow_run_id)
    assert (await read_run(db, orm.TaskRun, task_id)).flow_run_run_count == 1


async def test_task_cache_insertion_and_retrieval(db: Database, workspace_id: uuid.UUID) -> None:
    key = {"cache_key": f"key-{uuid.uuid4().hex}"}
    first = await _running_task(db, workspace_id)
    data = {"type": "reference", "storage_key": "result-1"}
    done = await set_task_state(db, workspace_id, first, proposal(S.COMPLETED, data=data, **key))
    assert done.status == ACCEPT
    async with db.read() as session:  # CacheInsertion: the completed state is the key's now
        cached = await session.scalar(
            sa.select(orm.TaskRunStateCache.task_run_state_id).where(
                orm.TaskRunStateCache.cache_key == key["cache_key"]
            )
        )
    assert cached == done.state.id  # type: ignore[union-attr]
    # CacheRetrieval: another run with the key does not run; it is Completed from the cache.
    second = await create_task_run(db, workspace_id)
    hit = await set_task_state(db, workspace_id, second, proposal(S.RUNNING, **key))
    assert hit.state is not None
    assert (hit.state.type, hit.state.name, hit.state.data) == (S.COMPLETED, "Cached", data)
    assert (await read_run(db, orm.TaskRun, second)).state_name == "Cached"


async def test_task_cache_hit_comes_before_the_terminal_state_guard(
    db: Database, workspace_id: uuid.UUID
) -> None:
    """A completed run (persisted result) asked to run again with a cached key is answered
    from the cache, not refused as "already completed": CacheRetrieval comes first."""
    key = {"cache_key": f"key-{uuid.uuid4().hex}"}
    data = {"type": "reference", "storage_key": "result-2"}
    task_id = await _running_task(db, workspace_id)
    await set_task_state(db, workspace_id, task_id, proposal(S.COMPLETED, data=data, **key))
    again = await set_task_state(db, workspace_id, task_id, proposal(S.RUNNING, **key))
    assert again.state is not None and again.state.name == "Cached"


# --- bookkeeping: GlobalFlowPolicy, GlobalTaskPolicy ------------------------------------------


async def test_a_state_is_stamped_after_the_one_it_replaces(
    db: Database, workspace_id: uuid.UUID
) -> None:
    """SetStateTimestamp: when the current state was stamped ahead of this server's clock
    (another server's clock runs fast), the new state still comes after it, so the history
    sorts in the order it happened."""
    run_id = await create_flow_run(db, workspace_id)
    task_id = await create_task_run(db, workspace_id)
    ahead = utcnow() + dt.timedelta(hours=1)
    for setter, run_model, state_model, model_id in (
        (set_flow_state, orm.FlowRun, orm.FlowRunState, run_id),
        (set_task_state, orm.TaskRun, orm.TaskRunState, task_id),
    ):
        async with db.write() as session:
            run = await session.get(run_model, model_id)
            assert run is not None
            run.state_timestamp = ahead
            await session.execute(
                sa.update(state_model).where(state_model.id == run.state_id).values(timestamp=ahead)
            )
        running = await setter(db, workspace_id, model_id, proposal(S.RUNNING))
        assert running.state is not None
        assert ahead < running.state.timestamp < ahead + dt.timedelta(seconds=1)
        history = await state_history(db, state_model, model_id)
        assert [t for t, _ in history] == ["PENDING", "RUNNING"]


async def test_flow_run_resuming_indicator_is_cleared_once_running_again(
    db: Database, workspace_id: uuid.UUID
) -> None:
    """RemoveResumingIndicator: a resumed run is "resuming" until its next Running or final
    state; after that a new Running is a new attempt again."""
    run_id = await _running_flow(db, workspace_id)
    await set_flow_state(db, workspace_id, run_id, proposal(S.PAUSED))
    await set_flow_state(db, workspace_id, run_id, proposal(S.RUNNING))  # resumed
    assert (await read_run(db, orm.FlowRun, run_id)).empirical_policy.get("resuming") is True
    await set_flow_state(db, workspace_id, run_id, proposal(S.COMPLETED))
    run = await read_run(db, orm.FlowRun, run_id)
    assert not run.empirical_policy.get("resuming")
    assert run.run_count == 1  # the resume continued the first attempt


async def test_task_run_state_details_name_the_task_and_flow_run(
    db: Database, workspace_id: uuid.UUID
) -> None:
    """UpdateTaskRunStateDetails, the timing columns and IncrementTaskRunCount, on a task run
    in a flow run."""
    flow_run_id = await _running_flow(db, workspace_id)
    task_id = await _running_task(db, workspace_id, flow_run_id=flow_run_id)
    task = await read_run(db, orm.TaskRun, task_id)
    async with db.read() as session:
        row = await session.get(orm.TaskRunState, task.state_id)
    assert row is not None
    assert row.state_details["task_run_id"] == str(task_id)
    assert row.state_details["flow_run_id"] == str(flow_run_id)
    assert task.run_count == 1 and task.start_time is not None
    done = await set_task_state(db, workspace_id, task_id, proposal(S.COMPLETED))
    assert done.state is not None
    task = await read_run(db, orm.TaskRun, task_id)
    assert task.end_time == done.state.timestamp
    # IncrementRunTime: the time spent Running, from the states' own stamps.
    ran = (done.state.timestamp - task.start_time).total_seconds()
    assert ran > 0 and task.total_run_time == pytest.approx(ran)
    assert task.expected_start_time is not None


async def test_scheduled_task_run_columns_follow_its_state(
    db: Database, workspace_id: uuid.UUID
) -> None:
    """SetExpectedStartTime, SetNextScheduledStartTime and SetDefaultScheduledTime on task
    runs: the scheduled time is polled on while Scheduled, and cleared after."""
    when = (utcnow() - dt.timedelta(minutes=5)).replace(microsecond=0)
    task_id = await create_task_run(db, workspace_id, proposal(S.SCHEDULED, scheduled_time=when))
    task = await read_run(db, orm.TaskRun, task_id)
    assert task.expected_start_time == when and task.next_scheduled_start_time == when
    await set_task_state(db, workspace_id, task_id, proposal(S.PENDING))
    task = await read_run(db, orm.TaskRun, task_id)
    assert task.next_scheduled_start_time is None and task.expected_start_time == when
    unscheduled = await create_task_run(db, workspace_id, proposal(S.SCHEDULED))
    row = await read_run(db, orm.TaskRun, unscheduled)
    assert row.next_scheduled_start_time is not None  # "now", when no time was given


async def test_each_state_change_is_announced_as_its_event(
    db: Database, workspace_id: uuid.UUID
) -> None:
    """InstrumentFlowRunStateTransitions and InstrumentTaskRunStateTransitions: every state
    written through the API reaches the event listeners once committed."""
    heard: list[tuple[str, str]] = []

    async def listener(batch: Sequence[Any]) -> None:
        heard.extend((event.event, event.resource["prefect.resource.id"]) for _, event in batch)

    run_id = await create_flow_run(db, workspace_id)
    task_id = await create_task_run(db, workspace_id)
    db.add_commit_listener(listener)
    try:
        await set_flow_state(db, workspace_id, run_id, proposal(S.RUNNING))
        await set_task_state(db, workspace_id, task_id, proposal(S.RUNNING))
    finally:
        db.remove_commit_listener(listener)
    assert ("prefect.flow-run.Running", f"prefect.flow-run.{run_id}") in heard
    assert ("prefect.task-run.Running", f"prefect.task-run.{task_id}") in heard
