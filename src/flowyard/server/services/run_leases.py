"""The run-lease monitor: a flow run whose process stopped renewing its lease is settled.

A process executing a flow run (started by a worker or ``serve()``) renews the run's lease
by heartbeat. When the lease expires the process is gone (killed, out of memory, its
machine lost): the run goes through orchestration to Crashed, saying when the lease
expired; its unfinished task runs are crashed too and every concurrency slot it or its
tasks held is given back. A crashed run that belongs to a deployment and has retries left
is then rescheduled as AwaitingRetry (Crashed -> Scheduled is a manual-style rerun that
the terminal-state rules allow only with a deployment, so a run nobody could start again
stays Crashed). A run left Cancelling is finished as Cancelled: its process is gone, there
is nothing left to stop. A paused run past its pause timeout that no live process holds is
failed: nobody can resume it any more.

The official client's ``prefect.flow-run.heartbeat`` events count as renewals too (an
event listener extends the run's lease by a longer, configurable period).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from flowyard.schemas import core
from flowyard.schemas.states import SetStateStatus, StateCreate, StateDetails, StateType
from flowyard.server.database import orm
from flowyard.server.database.engine import Database
from flowyard.server.database.types import utcnow
from flowyard.server.orchestration.scheduling_rules import task_retry_delay
from flowyard.server.orchestration.transitions import set_flow_run_state, set_task_run_state
from flowyard.server.queries import run_leases as queries
from flowyard.settings import Settings

logger = logging.getLogger("flowyard.server.services.run_leases")

Stop = Callable[[], Awaitable[None]]
BATCH = 100
HEARTBEAT_EVENT = "prefect.flow-run.heartbeat"
FLOW_RUN_RESOURCE = "prefect.flow-run."


def _when(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


async def release_run_holdings(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    flow_run_id: uuid.UUID,
    lease_ids: Sequence[uuid.UUID],
    final: StateType,
    message: str,
    now: dt.datetime,
) -> int:
    """Move the run's unfinished task runs to ``final`` and give back every concurrency
    slot the run or its task runs held. Returns how many concurrency leases were released."""
    task_run_ids = await queries.unfinished_task_run_ids(session, workspace_id, flow_run_id)
    for task_run_id in task_run_ids:
        state = StateCreate(type=final, message=message)
        await set_task_run_state(session, workspace_id, task_run_id, state, force=True)
    # Task runs that already finished may still name a lease that was never released.
    all_tasks = await session.scalars(
        sa.select(orm.TaskRun.id).where(
            orm.TaskRun.workspace_id == workspace_id, orm.TaskRun.flow_run_id == flow_run_id
        )
    )
    holders = [flow_run_id, *all_tasks]
    return await queries.release_concurrency_held_by(session, workspace_id, holders, lease_ids, now)


async def crash_flow_run(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    flow_run_id: uuid.UUID,
    message: str,
    now: dt.datetime,
) -> StateType | None:
    """Crash a run whose process is gone (see the module docstring). Returns the state type
    the run ended in, or None when orchestration left it where it was."""
    run = await session.get(orm.FlowRun, flow_run_id, populate_existing=True)
    if run is None or run.workspace_id != workspace_id:
        return None
    lease_ids = await _deployment_lease_ids(session, run)
    cancelling = run.state_type == StateType.CANCELLING.value
    proposal = StateCreate(
        type=StateType.CANCELLED if cancelling else StateType.CRASHED, message=message
    )
    result = await set_flow_run_state(session, workspace_id, flow_run_id, proposal)
    if result is None or result.state is None or not result.state.is_terminal:
        return None
    final = result.state.type
    await release_run_holdings(session, workspace_id, flow_run_id, lease_ids, final, message, now)
    if final == StateType.CRASHED:
        policy = run.empirical_policy or {}
        retries = policy.get("retries")
        if retries is not None and run.run_count <= int(retries) and run.deployment_id:
            delay = task_retry_delay(policy, max(run.run_count, 1))
            retry = StateCreate(
                type=StateType.SCHEDULED,
                name="AwaitingRetry",
                message=f"{message} Retrying (attempt {run.run_count + 1}).",
                state_details=StateDetails(scheduled_time=now + dt.timedelta(seconds=delay)),
            )
            again = await set_flow_run_state(session, workspace_id, flow_run_id, retry)
            if again is not None and again.status == SetStateStatus.ACCEPT:
                return StateType.SCHEDULED
    return final


async def _deployment_lease_ids(session: AsyncSession, run: orm.FlowRun) -> list[uuid.UUID]:
    # A deployment's concurrency slot is recorded in the run's state, not as a holder.
    if run.state_id is None:
        return []
    details = await session.scalar(
        sa.select(orm.FlowRunState.state_details).where(orm.FlowRunState.id == run.state_id)
    )
    lease_id = (details or {}).get("deployment_concurrency_lease_id")
    return [uuid.UUID(str(lease_id))] if lease_id else []


def _settles(state_type: str | None, state_name: str | None) -> bool:
    # The process-held states; an in-process retry waits in AwaitingRetry.
    if state_type == StateType.SCHEDULED.value:
        return state_name == "AwaitingRetry"
    return state_type in (
        StateType.RUNNING.value,
        StateType.PAUSED.value,
        StateType.CANCELLING.value,
    )


async def settle_expired_leases(db: Database, now: dt.datetime | None = None) -> int:
    """One pass: settle every run whose lease expired by ``now``. Returns how many runs
    were moved to another state."""
    moved = 0
    while True:
        now_ = now or utcnow()
        async with db.read() as session:
            expired = await queries.read_expired_leases(session, now_, BATCH)
        for lease in expired:
            async with db.write() as session:
                # Renewed since it was read, or settled by another server: not ours.
                if not await queries.delete_expired_lease(
                    session, lease.workspace_id, lease.flow_run_id, now_
                ):
                    continue
                run = await session.get(orm.FlowRun, lease.flow_run_id)
                if run is None or not _settles(run.state_type, run.state_name):
                    continue
                message = (
                    "The process holding the run stopped renewing its lease at "
                    f"{_when(lease.expiration)}."
                )
                if await crash_flow_run(
                    session, lease.workspace_id, lease.flow_run_id, message, now_
                ):
                    moved += 1
                    logger.warning("Flow run %s: %s", lease.flow_run_id, message)
        if len(expired) < BATCH:
            return moved


async def fail_expired_pauses(db: Database, now: dt.datetime | None = None) -> int:
    """Paused runs past their pause timeout that no live process holds (a suspended run, or
    one whose process is gone) are failed: nobody can resume them any more. A run whose
    process still holds its lease is left to it (it fails the run itself at the timeout).
    Returns how many runs were failed."""
    now = now or utcnow()
    failed = 0
    async with db.read() as session:
        workspaces = list(await session.scalars(sa.select(orm.Workspace.id)))
    for workspace_id in workspaces:
        # Every paused run, a keyset page at a time: the timeout lives in the state's JSON
        # details, so it is checked here, and no page may hide the runs beyond it.
        after: uuid.UUID | None = None
        while True:
            async with db.read() as session:
                rows = await queries.read_paused_runs(session, workspace_id, after, BATCH)
                expired = [run_id for run_id, details in rows if _pause_expired(details, now)]
                live = await queries.live_lease_run_ids(session, workspace_id, expired, now)
            for run_id in expired:
                if run_id not in live and await _fail_paused(db, workspace_id, run_id, now):
                    failed += 1
            if len(rows) < BATCH:
                break
            after = rows[-1][0]
    return failed


async def _fail_paused(
    db: Database, workspace_id: uuid.UUID, run_id: uuid.UUID, now: dt.datetime
) -> bool:
    message = "The flow run was paused and never resumed before its timeout."
    async with db.write() as session:
        # Read again under the row lock: the failure is forced, so a run resumed (or paused
        # anew) since the page was read must be left alone.
        row = (
            await session.execute(
                sa.select(orm.FlowRun.state_type, orm.FlowRunState.state_details)
                .join(orm.FlowRunState, orm.FlowRunState.id == orm.FlowRun.state_id)
                .where(orm.FlowRun.workspace_id == workspace_id, orm.FlowRun.id == run_id)
                .with_for_update(of=orm.FlowRun)
            )
        ).first()
        if row is None or row[0] != StateType.PAUSED.value:
            return False
        if not _pause_expired(row[1] or {}, now):
            return False
        # Forced: the pause rules would word the failure as if a client proposed it.
        state = StateCreate(type=StateType.FAILED, message=message)
        result = await set_flow_run_state(session, workspace_id, run_id, state, force=True)
        return result is not None and result.status == SetStateStatus.ACCEPT


def _pause_expired(details: dict[str, Any], now: dt.datetime) -> bool:
    timeout = details.get("pause_timeout")
    if not timeout:
        return False
    try:
        moment = dt.datetime.fromisoformat(str(timeout).replace("Z", "+00:00"))
    except ValueError:
        return False
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment < now


def heartbeat_listener(db: Database, settings: Settings) -> Any:
    """An event-pipeline listener that turns ``prefect.flow-run.heartbeat`` events into
    lease renewals of the runs they name."""
    seconds = settings.server_services_run_leases_heartbeat_event_seconds

    async def listener(batch: Sequence[tuple[uuid.UUID, core.Event]]) -> None:
        by_workspace: dict[uuid.UUID, list[uuid.UUID]] = {}
        for workspace_id, event in batch:
            if event.event != HEARTBEAT_EVENT:
                continue
            resource_id = event.resource.get("prefect.resource.id", "")
            if not resource_id.startswith(FLOW_RUN_RESOURCE):
                continue
            try:
                run_id = uuid.UUID(resource_id[len(FLOW_RUN_RESOURCE) :])
            except ValueError:
                continue
            by_workspace.setdefault(workspace_id, []).append(run_id)
        if not by_workspace:
            return
        now = utcnow()
        async with db.write() as session:
            for workspace_id, run_ids in by_workspace.items():
                await queries.extend_leases(session, workspace_id, run_ids, seconds, now)

    return listener


async def start(app: Any, interval: float | None = None) -> Stop:
    db: Database = app.state.db
    settings: Settings = app.state.settings
    every = interval if interval is not None else settings.server_services_run_leases_loop_seconds
    pipeline = getattr(app.state, "event_pipeline", None)
    if pipeline is not None:
        pipeline.add_listener(heartbeat_listener(db, settings))

    async def loop() -> None:
        while True:
            try:
                await settle_expired_leases(db)
                await fail_expired_pauses(db)
            except Exception:
                logger.exception("Settling expired flow-run leases failed")
            await asyncio.sleep(every)

    task = asyncio.create_task(loop(), name="flowyard-run-leases")

    async def stop() -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return stop
