"""The state changes the background monitors make, as orchestration entry points.

The services (``services.late_runs``, ``services.run_leases``, ``services.cancellation``)
decide *when* to look and *which* runs to look at; every state they set is proposed here,
through the policies, so each one is recorded with its bookkeeping and its
``prefect.flow-run.<State>`` / ``prefect.task-run.<State>`` event, in the caller's
transaction:

- :func:`mark_runs_late`: overdue Scheduled runs become Late, a whole batch at a time
  (:mod:`~flowyard.server.orchestration.bulk`: no statement per run);
- :func:`settle_expired_lease`: the process holding a run is gone -- Crashed (or Cancelled
  when it was Cancelling), its unfinished task runs too, its concurrency slots given back,
  and an AwaitingRetry when its deployment can start it again;
- :func:`cancel_children`, :func:`finish_cancelling`: what a cancellation leaves behind;
- :func:`fail_expired_pause`: a pause nobody can resume any more.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from flowyard.schemas.states import SetStateStatus, State, StateCreate, StateDetails, StateType
from flowyard.server.database import orm
from flowyard.server.orchestration.bulk import set_flow_run_states
from flowyard.server.orchestration.scheduling_rules import task_retry_delay
from flowyard.server.orchestration.transitions import set_flow_run_state, set_task_run_state
from flowyard.server.queries import run_leases as leases
from flowyard.server.queries import run_monitors as queries

PARENT_CANCELLED = "The parent flow run was cancelled."
LATE = StateCreate(type=StateType.SCHEDULED, name="Late")


def _plainly_scheduled(run: orm.FlowRun, state: State | None) -> bool:
    # Read under the lock: a second server (or a worker's claim) that got there first is
    # not repeated as Late -> Late.
    return state is not None and state.type == StateType.SCHEDULED and state.name == "Scheduled"


async def mark_runs_late(
    session: AsyncSession, due: Sequence[tuple[uuid.UUID, uuid.UUID]]
) -> int:
    """Mark the runs ``due`` ((workspace_id, id) pairs) Late if they are still plainly
    Scheduled. Returns how many were marked."""
    results = await set_flow_run_states(session, due, LATE, guard=_plainly_scheduled)
    return sum(result.status == SetStateStatus.ACCEPT for result in results.values())


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
    for task_run_id in await leases.unfinished_task_run_ids(session, workspace_id, flow_run_id):
        state = StateCreate(type=final, message=message)
        await set_task_run_state(session, workspace_id, task_run_id, state, force=True)
    # Task runs that already finished may still name a lease that was never released.
    task_runs = await queries.read_task_run_ids(session, workspace_id, flow_run_id)
    holders = [flow_run_id, *task_runs]
    return await leases.release_concurrency_held_by(session, workspace_id, holders, lease_ids, now)


async def crash_flow_run(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    flow_run_id: uuid.UUID,
    message: str,
    now: dt.datetime,
) -> StateType | None:
    """Crash a run whose process is gone (Cancelled if it was Cancelling). Returns the state
    type the run ended in, or None when orchestration left it where it was."""
    run = await queries.read_flow_run(session, workspace_id, flow_run_id)
    if run is None:
        return None
    # A deployment's concurrency slot is recorded in the run's state, not as a holder.
    lease_id = (await queries.read_state_details(session, run.state_id)).get(
        "deployment_concurrency_lease_id"
    )
    lease_ids = [uuid.UUID(str(lease_id))] if lease_id else []
    cancelling = run.state_type == StateType.CANCELLING.value
    proposal = StateCreate(
        type=StateType.CANCELLED if cancelling else StateType.CRASHED, message=message
    )
    result = await set_flow_run_state(session, workspace_id, flow_run_id, proposal)
    if result is None or result.state is None or not result.state.is_terminal:
        return None
    final = result.state.type
    await release_run_holdings(session, workspace_id, flow_run_id, lease_ids, final, message, now)
    if final == StateType.CRASHED and await _retry(session, run, message, now):
        return StateType.SCHEDULED
    return final


async def _retry(session: AsyncSession, run: orm.FlowRun, message: str, now: dt.datetime) -> bool:
    """Crashed -> AwaitingRetry for a deployment's run with retries left (the terminal-state
    rules allow that rerun only with a deployment, so a run nobody could start stays put)."""
    policy: dict[str, Any] = run.empirical_policy or {}
    retries = policy.get("retries")
    if retries is None or run.run_count > int(retries) or not run.deployment_id:
        return False
    delay = task_retry_delay(policy, max(run.run_count, 1))
    retry = StateCreate(
        type=StateType.SCHEDULED,
        name="AwaitingRetry",
        message=f"{message} Retrying (attempt {run.run_count + 1}).",
        state_details=StateDetails(scheduled_time=now + dt.timedelta(seconds=delay)),
    )
    again = await set_flow_run_state(session, run.workspace_id, run.id, retry)
    return again is not None and again.status == SetStateStatus.ACCEPT


def _settles(state_type: str | None, state_name: str | None) -> bool:
    # The process-held states; an in-process retry waits in AwaitingRetry.
    if state_type == StateType.SCHEDULED.value:
        return state_name == "AwaitingRetry"
    return state_type in (
        StateType.RUNNING.value,
        StateType.PAUSED.value,
        StateType.CANCELLING.value,
    )


async def settle_expired_lease(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    flow_run_id: uuid.UUID,
    message: str,
    now: dt.datetime,
) -> bool:
    """Settle a run whose lease expired by ``now``: True when the run moved. A lease renewed
    since it was read, or settled by another server, is not this caller's to settle."""
    if not await leases.delete_expired_lease(session, workspace_id, flow_run_id, now):
        return False
    run = await queries.read_flow_run(session, workspace_id, flow_run_id)
    if run is None or not _settles(run.state_type, run.state_name):
        return False
    return await crash_flow_run(session, workspace_id, flow_run_id, message, now) is not None


async def cancel_children(
    session: AsyncSession, workspace_id: uuid.UUID, flow_run_id: uuid.UUID, now: dt.datetime
) -> None:
    """A cancelled flow run's unfinished subflows go to Cancelling (their own process or
    worker stops them), its unfinished task runs become Cancelled, and every concurrency
    slot the run or its tasks held is given back."""
    for subflow_id, _pid in await leases.unfinished_subflow_runs(
        session, workspace_id, flow_run_id
    ):
        cancelling = StateCreate(type=StateType.CANCELLING, message=PARENT_CANCELLED)
        await set_flow_run_state(session, workspace_id, subflow_id, cancelling)
    await release_run_holdings(
        session, workspace_id, flow_run_id, [], StateType.CANCELLED, PARENT_CANCELLED, now
    )


async def finish_cancelling(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    flow_run_id: uuid.UUID,
    message: str,
    now: dt.datetime,
) -> bool:
    """Cancelling -> Cancelled for a run nothing else will stop, then its children. True
    when the run is now finished."""
    done = StateCreate(type=StateType.CANCELLED, message=message)
    result = await set_flow_run_state(session, workspace_id, flow_run_id, done)
    if result is None or result.state is None or not result.state.is_terminal:
        return False
    await cancel_children(session, workspace_id, flow_run_id, now)
    return True


def pause_expired(details: dict[str, Any], now: dt.datetime) -> bool:
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


async def fail_expired_pause(
    session: AsyncSession, workspace_id: uuid.UUID, flow_run_id: uuid.UUID, now: dt.datetime
) -> bool:
    """Fail a run still Paused past its pause timeout (read again under the row lock: the
    failure is forced, so a run resumed or paused anew since it was listed is left alone)."""
    found = await queries.lock_paused_run(session, workspace_id, flow_run_id)
    if found is None or found[0] != StateType.PAUSED.value or not pause_expired(found[1], now):
        return False
    # Forced: the pause rules would word the failure as if a client proposed it.
    message = "The flow run was paused and never resumed before its timeout."
    state = StateCreate(type=StateType.FAILED, message=message)
    result = await set_flow_run_state(session, workspace_id, flow_run_id, state, force=True)
    return result is not None and result.status == SetStateStatus.ACCEPT
