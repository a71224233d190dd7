"""The entry points against a real database: what gets written, what the run looks like."""

import datetime as dt
import uuid

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
from flowyard.server.orchestration import transitions

S = StateType


async def test_initial_state_is_pending_with_bookkeeping(
    db: Database, workspace_id: uuid.UUID
) -> None:
    run_id = await create_flow_run(db, workspace_id)
    run = await read_run(db, orm.FlowRun, run_id)
    assert (run.state_type, run.state_name) == ("PENDING", "Pending")
    assert run.expected_start_time == run.state_timestamp
    assert run.run_count == 0 and run.start_time is None
    assert await state_history(db, orm.FlowRunState, run_id) == [("PENDING", "Pending")]
    async with db.read() as session:
        row = await session.get(orm.FlowRunState, run.state_id)
    assert row is not None and row.state_details["flow_run_id"] == str(run_id)


async def test_initial_scheduled_state_sets_schedule_columns(
    db: Database, workspace_id: uuid.UUID
) -> None:
    when = utcnow() + dt.timedelta(hours=1)
    run_id = await create_flow_run(db, workspace_id, proposal(S.SCHEDULED, scheduled_time=when))
    run = await read_run(db, orm.FlowRun, run_id)
    assert run.state_type == "SCHEDULED"
    assert run.expected_start_time == when and run.next_scheduled_start_time == when


async def test_a_flow_run_lifecycle(db: Database, workspace_id: uuid.UUID) -> None:
    run_id = await create_flow_run(db, workspace_id)
    running = await set_flow_state(db, workspace_id, run_id, proposal(S.RUNNING))
    assert running.status == SetStateStatus.ACCEPT and running.state is not None
    assert running.state.state_details.flow_run_id == run_id
    done = await set_flow_state(db, workspace_id, run_id, proposal(S.COMPLETED))
    assert done.status == SetStateStatus.ACCEPT
    run = await read_run(db, orm.FlowRun, run_id)
    assert run.state_id == done.state.id and run.state_type == "COMPLETED"  # type: ignore[union-attr]
    assert run.run_count == 1
    assert run.start_time == running.state.timestamp
    assert run.end_time == done.state.timestamp  # type: ignore[union-attr]
    expected = (run.end_time - run.start_time).total_seconds()
    assert abs(run.total_run_time - expected) < 1e-6
    assert await state_history(db, orm.FlowRunState, run_id) == [
        ("PENDING", "Pending"),
        ("RUNNING", "Running"),
        ("COMPLETED", "Completed"),
    ]


async def test_unknown_run_or_other_workspace_gives_none(
    db: Database, workspace_id: uuid.UUID
) -> None:
    run_id = await create_flow_run(db, workspace_id)
    async with db.write() as session:
        assert (
            await transitions.set_flow_run_state(
                session, workspace_id, uuid.uuid4(), proposal(S.RUNNING)
            )
            is None
        )
        assert (
            await transitions.set_flow_run_state(session, uuid.uuid4(), run_id, proposal(S.RUNNING))
            is None
        )
        assert (
            await transitions.set_task_run_state(session, workspace_id, run_id, proposal(S.RUNNING))
            is None
        )
    assert (await read_run(db, orm.FlowRun, run_id)).state_type == "PENDING"


async def test_rejections_write_nothing_and_return_the_current_state(
    db: Database, workspace_id: uuid.UUID
) -> None:
    run_id = await create_flow_run(db, workspace_id)
    current = (await read_run(db, orm.FlowRun, run_id)).state_id
    aborted = await set_flow_state(db, workspace_id, run_id, proposal(S.PENDING))
    assert aborted.status == SetStateStatus.ABORT
    assert aborted.state is not None and aborted.state.id == current
    assert await state_history(db, orm.FlowRunState, run_id) == [("PENDING", "Pending")]


async def test_failed_flow_retries_through_awaiting_retry(
    db: Database, workspace_id: uuid.UUID
) -> None:
    run_id = await create_flow_run(
        db, workspace_id, empirical_policy={"retries": 1, "retry_delay": 0}
    )
    await set_flow_state(db, workspace_id, run_id, proposal(S.RUNNING))
    retry = await set_flow_state(db, workspace_id, run_id, proposal(S.FAILED))
    assert retry.status == SetStateStatus.REJECT
    assert retry.state is not None and retry.state.name == "AwaitingRetry"
    run = await read_run(db, orm.FlowRun, run_id)
    assert run.state_name == "AwaitingRetry" and run.end_time is None
    assert run.empirical_policy["retry_type"] == "in_process"
    again = await set_flow_state(db, workspace_id, run_id, proposal(S.RUNNING))
    assert again.status == SetStateStatus.ACCEPT
    final = await set_flow_state(db, workspace_id, run_id, proposal(S.FAILED))
    assert final.status == SetStateStatus.ACCEPT and final.state.type == S.FAILED  # type: ignore[union-attr]
    run = await read_run(db, orm.FlowRun, run_id)
    assert run.run_count == 2 and run.empirical_policy["retry_type"] is None
    assert [t for t, _ in await state_history(db, orm.FlowRunState, run_id)] == [
        "PENDING",
        "RUNNING",
        "SCHEDULED",
        "RUNNING",
        "FAILED",
    ]


async def test_wait_for_scheduled_time(db: Database, workspace_id: uuid.UUID) -> None:
    when = utcnow() + dt.timedelta(seconds=30)
    run_id = await create_flow_run(db, workspace_id, proposal(S.SCHEDULED, scheduled_time=when))
    result = await set_flow_state(db, workspace_id, run_id, proposal(S.RUNNING))
    assert result.status == SetStateStatus.WAIT
    assert 29 <= result.details.delay_seconds <= 30  # type: ignore[union-attr]
    pending = await set_flow_state(db, workspace_id, run_id, proposal(S.PENDING))
    assert pending.state.state_details.scheduled_time == when  # type: ignore[union-attr]
    run = await read_run(db, orm.FlowRun, run_id)
    assert run.next_scheduled_start_time is None


async def test_force_skips_the_guards_but_not_the_bookkeeping(
    db: Database, workspace_id: uuid.UUID
) -> None:
    run_id = await create_flow_run(db, workspace_id)
    assert (
        await set_flow_state(db, workspace_id, run_id, proposal(S.PENDING))
    ).status == SetStateStatus.ABORT
    forced = await set_flow_state(db, workspace_id, run_id, proposal(S.PENDING), force=True)
    assert forced.status == SetStateStatus.ACCEPT
    await set_flow_state(db, workspace_id, run_id, proposal(S.RUNNING), force=True)
    assert (await read_run(db, orm.FlowRun, run_id)).run_count == 1


async def test_duplicate_transition_id_is_idempotent(db: Database, workspace_id: uuid.UUID) -> None:
    run_id = await create_flow_run(db, workspace_id)
    transition_id = uuid.uuid4()
    first = await set_flow_state(
        db, workspace_id, run_id, proposal(S.RUNNING, transition_id=transition_id)
    )
    retried = await set_flow_state(
        db, workspace_id, run_id, proposal(S.RUNNING, transition_id=transition_id)
    )
    assert first.status == SetStateStatus.ACCEPT and retried.status == SetStateStatus.REJECT
    assert (
        retried.state is not None and first.state is not None and retried.state.id == first.state.id
    )
    assert (await read_run(db, orm.FlowRun, run_id)).run_count == 1


async def test_subflow_state_is_mirrored_onto_its_parent_task_run(
    db: Database, workspace_id: uuid.UUID
) -> None:
    parent_id = await create_flow_run(db, workspace_id)
    await set_flow_state(db, workspace_id, parent_id, proposal(S.RUNNING))
    tracker_id = await create_task_run(db, workspace_id, flow_run_id=parent_id)
    child_id = await create_flow_run(db, workspace_id, parent_task_run_id=tracker_id)
    await set_flow_state(db, workspace_id, child_id, proposal(S.RUNNING))
    await set_flow_state(db, workspace_id, child_id, proposal(S.COMPLETED))
    tracker = await read_run(db, orm.TaskRun, tracker_id)
    assert tracker.state_type == "COMPLETED" and tracker.run_count == 1
    assert tracker.end_time is not None
    async with db.read() as session:
        row = await session.get(orm.TaskRunState, tracker.state_id)
        child_state = await session.scalar(
            sa.select(orm.FlowRunState).where(
                orm.FlowRunState.id == (await session.get(orm.FlowRun, child_id)).state_id
            )  # type: ignore[union-attr]
        )
    assert row is not None and row.state_details["child_flow_run_id"] == str(child_id)
    assert row.state_details["task_run_id"] == str(tracker_id)
    assert child_state is not None and child_state.state_details["task_run_id"] == str(tracker_id)


async def test_task_run_retries_and_renames(db: Database, workspace_id: uuid.UUID) -> None:
    run_id = await create_task_run(
        db, workspace_id, empirical_policy={"retries": 1, "retry_delay": [0]}
    )
    await set_task_state(db, workspace_id, run_id, proposal(S.RUNNING))
    retry = await set_task_state(db, workspace_id, run_id, proposal(S.FAILED))
    assert retry.status == SetStateStatus.REJECT and retry.state.name == "AwaitingRetry"  # type: ignore[union-attr]
    rerun = await set_task_state(db, workspace_id, run_id, proposal(S.RUNNING))
    assert rerun.state is not None and rerun.state.name == "Retrying"
    final = await set_task_state(db, workspace_id, run_id, proposal(S.FAILED))
    assert final.status == SetStateStatus.ACCEPT
    assert (await read_run(db, orm.TaskRun, run_id)).run_count == 2


async def test_apply_initial_state_returns_the_written_state(
    db: Database, workspace_id: uuid.UUID
) -> None:
    flow_id = (await read_run(db, orm.FlowRun, await create_flow_run(db, workspace_id))).flow_id
    async with db.write() as session:
        run = orm.FlowRun(workspace_id=workspace_id, flow_id=flow_id, name="direct")
        written = await transitions.apply_initial_flow_run_state(
            session, run, proposal(S.SCHEDULED, "Late")
        )
    assert (written.type, written.name) == (S.SCHEDULED, "Late")
    assert written.state_details.scheduled_time == written.timestamp
    stored = await read_run(db, orm.FlowRun, run.id)
    assert stored.state_id == written.id and stored.next_scheduled_start_time == written.timestamp


async def test_a_run_whose_state_row_was_deleted_still_transitions(
    db: Database, workspace_id: uuid.UUID
) -> None:
    run_id = await create_flow_run(db, workspace_id)
    async with db.write() as session:
        await session.execute(
            sa.delete(orm.FlowRunState).where(orm.FlowRunState.flow_run_id == run_id)
        )
    duplicate = await set_flow_state(db, workspace_id, run_id, proposal(S.PENDING))
    assert duplicate.status == SetStateStatus.ABORT  # still known to be Pending
    assert (
        await set_flow_state(db, workspace_id, run_id, proposal(S.RUNNING))
    ).status == SetStateStatus.ACCEPT
