"""Task-only rules against a real database: the cache, and the tie to the enclosing flow run."""

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
)

from flowyard.schemas.states import SetStateStatus, StateType
from flowyard.server.database import orm
from flowyard.server.database.engine import Database
from flowyard.server.database.types import utcnow

S = StateType
RESULT = {"storage_key": "/results/abc", "serializer": {"type": "json"}}


async def _complete_with_cache(
    db: Database, workspace_id: uuid.UUID, key: str, *, expiration: dt.datetime | None = None
) -> uuid.UUID:
    run_id = await create_task_run(db, workspace_id)
    await set_task_state(
        db, workspace_id, run_id, proposal(S.RUNNING, cache_key=key, refresh_cache=True)
    )
    done = await set_task_state(
        db,
        workspace_id,
        run_id,
        proposal(S.COMPLETED, data=RESULT, cache_key=key, cache_expiration=expiration),
    )
    assert done.status == SetStateStatus.ACCEPT and done.state is not None
    return done.state.id


async def _start_with_cache(db: Database, workspace_id: uuid.UUID, key: str, **details: object):  # type: ignore[no-untyped-def]
    run_id = await create_task_run(db, workspace_id)
    return run_id, await set_task_state(
        db, workspace_id, run_id, proposal(S.RUNNING, cache_key=key, **details)
    )


async def test_a_cached_completion_is_reused_instead_of_running(
    db: Database, workspace_id: uuid.UUID
) -> None:
    cached_id = await _complete_with_cache(db, workspace_id, "key-1")
    run_id, result = await _start_with_cache(db, workspace_id, "key-1")
    assert result.status == SetStateStatus.REJECT
    assert result.state is not None and (result.state.type, result.state.name) == (
        S.COMPLETED,
        "Cached",
    )
    assert result.state.id != cached_id and result.state.data == RESULT
    assert result.state.state_details.task_run_id == run_id
    run = await read_run(db, orm.TaskRun, run_id)
    assert (run.state_type, run.state_name, run.run_count) == ("COMPLETED", "Cached", 0)


async def test_cache_misses(db: Database, workspace_id: uuid.UUID) -> None:
    await _complete_with_cache(
        db, workspace_id, "expired", expiration=utcnow() - dt.timedelta(seconds=1)
    )
    await _complete_with_cache(
        db, workspace_id, "fresh", expiration=utcnow() + dt.timedelta(hours=1)
    )
    _, expired = await _start_with_cache(db, workspace_id, "expired")
    _, refreshed = await _start_with_cache(db, workspace_id, "fresh", refresh_cache=True)
    _, unknown = await _start_with_cache(db, workspace_id, "never-stored")
    _, fresh = await _start_with_cache(db, workspace_id, "fresh")
    assert [r.status for r in (expired, refreshed, unknown)] == [SetStateStatus.ACCEPT] * 3
    assert fresh.status == SetStateStatus.REJECT


async def test_a_newer_completion_replaces_the_cache_entry(
    db: Database, workspace_id: uuid.UUID
) -> None:
    await _complete_with_cache(db, workspace_id, "key-2")
    newest = await _complete_with_cache(db, workspace_id, "key-2")
    async with db.read() as session:
        entries = (await session.scalars(sa.select(orm.TaskRunStateCache))).all()
    assert [(e.cache_key, e.task_run_state_id) for e in entries] == [("key-2", newest)]


async def test_overlong_keys_are_not_cached(db: Database, workspace_id: uuid.UUID) -> None:
    key = "é" * 1500  # 3000 bytes
    await _complete_with_cache(db, workspace_id, key)
    _, result = await _start_with_cache(db, workspace_id, key)
    assert result.status == SetStateStatus.ACCEPT


async def test_the_cache_is_per_workspace(db: Database, workspace_id: uuid.UUID) -> None:
    async with db.write() as session:
        account = orm.Account(id=uuid.uuid4(), name="other", handle=f"other-{uuid.uuid4().hex[:6]}")
        session.add(account)
        await session.flush()
        other = orm.Workspace(id=uuid.uuid4(), account_id=account.id, name="other", handle="other")
        session.add(other)
    await _complete_with_cache(db, workspace_id, "shared-key")
    _, result = await _start_with_cache(db, other.id, "shared-key")
    assert result.status == SetStateStatus.ACCEPT


async def test_tasks_only_run_while_their_flow_runs(db: Database, workspace_id: uuid.UUID) -> None:
    flow_run_id = await create_flow_run(db, workspace_id)
    task_id = await create_task_run(db, workspace_id, flow_run_id=flow_run_id)
    not_yet = await set_task_state(db, workspace_id, task_id, proposal(S.RUNNING))
    assert not_yet.status == SetStateStatus.ABORT

    await set_flow_state(db, workspace_id, flow_run_id, proposal(S.RUNNING))
    started = await set_task_state(db, workspace_id, task_id, proposal(S.RUNNING))
    assert started.status == SetStateStatus.ACCEPT
    assert (await read_run(db, orm.TaskRun, task_id)).flow_run_run_count == 1


async def test_tasks_of_a_paused_flow_wait_as_not_ready(
    db: Database, workspace_id: uuid.UUID
) -> None:
    flow_run_id = await create_flow_run(db, workspace_id)
    await set_flow_state(db, workspace_id, flow_run_id, proposal(S.RUNNING))
    timeout = utcnow() + dt.timedelta(minutes=5)
    paused = await set_flow_state(
        db, workspace_id, flow_run_id, proposal(S.PAUSED, pause_timeout=timeout)
    )
    assert paused.status == SetStateStatus.ACCEPT
    task_id = await create_task_run(db, workspace_id, flow_run_id=flow_run_id)
    result = await set_task_state(db, workspace_id, task_id, proposal(S.RUNNING))
    assert result.status == SetStateStatus.REJECT and result.state is not None
    assert (result.state.type, result.state.name) == (S.PAUSED, "NotReady")
    assert result.state.state_details.pause_timeout == timeout


async def test_task_rerun_in_a_flow_retry_is_named_retrying(
    db: Database, workspace_id: uuid.UUID
) -> None:
    flow_run_id = await create_flow_run(db, workspace_id, empirical_policy={"retries": 1})
    await set_flow_state(db, workspace_id, flow_run_id, proposal(S.RUNNING))
    task_id = await create_task_run(db, workspace_id, flow_run_id=flow_run_id)
    await set_task_state(db, workspace_id, task_id, proposal(S.RUNNING))
    await set_task_state(db, workspace_id, task_id, proposal(S.FAILED))
    await set_flow_state(db, workspace_id, flow_run_id, proposal(S.FAILED))  # -> AwaitingRetry
    await set_flow_state(db, workspace_id, flow_run_id, proposal(S.RUNNING))
    rerun = await set_task_state(db, workspace_id, task_id, proposal(S.RUNNING))
    assert rerun.status == SetStateStatus.ACCEPT and rerun.state.name == "Retrying"  # type: ignore[union-attr]
    task = await read_run(db, orm.TaskRun, task_id)
    assert (task.run_count, task.flow_run_run_count) == (1, 2)
