"""What can be done to a flow run from its page, depending on its state, and how each
action is carried out (always through the application layer).

Cancel, change state and delete change or remove what cannot be put back: they answer
with a confirmation page first. Pause is the API's suspend: a running run goes to Paused
("Suspended", ``pause_reschedule``), and Resume schedules it again. Orchestration decides
whether each change is allowed; a refusal is shown with its reason.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from flowyard.schemas.states import (
    OrchestrationResult,
    SetStateStatus,
    StateCreate,
    StateDetails,
    StateType,
)
from flowyard.server.operations import flow_run_control, flow_run_pages, flow_runs
from flowyard.server.operations.context import RequestContext


@dataclass(frozen=True, slots=True)
class RunAction:
    key: str
    label: str
    confirm: bool
    question: str = ""


CANCEL = RunAction(
    "cancel", "Cancel", True, "Cancel this flow run? Its work stops and it ends Cancelled."
)
RETRY = RunAction("retry", "Retry", False)
PAUSE = RunAction("pause", "Pause", False)
RESUME = RunAction("resume", "Resume", False)
SET_STATE = RunAction(
    "set-state",
    "Change state",
    True,
    "Set this flow run's state by hand? This overrides what the run itself reported.",
)
DELETE = RunAction(
    "delete",
    "Delete",
    True,
    "Delete this flow run? Its task runs, states and logs are removed; this cannot be undone.",
)
ACTIONS = {a.key: a for a in (CANCEL, RETRY, PAUSE, RESUME, SET_STATE, DELETE)}

CANCELLABLE = frozenset(
    {StateType.SCHEDULED, StateType.PENDING, StateType.RUNNING, StateType.PAUSED}
)
FINISHED = frozenset(
    {StateType.COMPLETED, StateType.FAILED, StateType.CANCELLED, StateType.CRASHED}
)
SUSPENDED = StateCreate(
    type=StateType.PAUSED, name="Suspended", message="Paused from the UI.",
    state_details=StateDetails(pause_reschedule=True),
)  # fmt: skip


def actions_for(state_type: StateType | None, has_deployment: bool) -> list[RunAction]:
    found = []
    if state_type in CANCELLABLE:
        found.append(CANCEL)
    if state_type in FINISHED:
        found.append(RETRY)
    if state_type == StateType.RUNNING and has_deployment:
        # Only a deployment's run can be suspended: something must start it again.
        found.append(PAUSE)
    if state_type == StateType.PAUSED:
        found.append(RESUME)
    return [*found, SET_STATE, DELETE]


def settable_state_names() -> list[str]:
    return [state.value for state in flow_run_pages.SETTABLE_STATES]


async def apply_action(
    ctx: RequestContext, action: RunAction, flow_run_id: uuid.UUID, state: StateType | None
) -> OrchestrationResult | None:
    """Carry ``action`` out; None after a delete (or for a run that no longer exists)."""
    if action is DELETE:
        await flow_run_pages.delete_flow_runs(ctx, [flow_run_id])
        return None
    if action is RESUME:
        return await flow_run_control.resume_flow_run(ctx, flow_run_id, None)
    if action is PAUSE:
        return await flow_runs.set_flow_run_state(ctx, flow_run_id, SUSPENDED)
    if action is CANCEL:
        ((_, result),) = await flow_run_pages.cancel_flow_runs(ctx, [flow_run_id])
    elif action is RETRY:
        ((_, result),) = await flow_run_pages.retry_flow_runs(ctx, [flow_run_id])
    else:
        assert state is not None
        ((_, result),) = await flow_run_pages.force_flow_run_states(ctx, [flow_run_id], state, None)
    return result


def refusal(result: OrchestrationResult | None) -> str | None:
    """Why orchestration did not accept the change, in words; None when it did."""
    if result is None or result.status == SetStateStatus.ACCEPT:
        return None
    reason = getattr(result.details, "reason", None)
    return str(reason) if reason else f"Orchestration answered {result.status.value}."
