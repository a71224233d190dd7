"""Pausing and resuming flow runs.

A pause keeps the process waiting (Paused); a suspension (``pause_reschedule``) ends the
process and later reschedules the run through its deployment (Suspended, then Resuming).
Each pause point has a key, so that a rerun of the same code does not pause twice.
"""

from __future__ import annotations

import uuid

from flowyard.schemas.states import State, StateType
from flowyard.server.database import orm
from flowyard.server.orchestration.rules import ALL_STATES, TERMINAL, Rule

MAY_FOLLOW_PAUSE = frozenset({StateType.RUNNING, StateType.SCHEDULED}) | TERMINAL


def _verb(state: State) -> str:
    return "suspend" if state.name == "Suspended" else "pause"


class HandlePausingFlows(Rule[orm.FlowRun]):
    """Only a running flow may pause, each pause key fires once, and only a deployed,
    top-level flow run can be suspended (something must start it again)."""

    FROM_STATES = ALL_STATES
    TO_STATES = frozenset({StateType.PAUSED})

    async def before_transition(self) -> None:
        proposed = self.proposed
        verb = _verb(proposed)
        initial = self.ctx.initial_state
        if initial is None:
            self.abort_transition(f"Cannot {verb} flows with no state.")
            return
        if initial.type != StateType.RUNNING:
            self.reject_transition(None, f"Cannot {verb} flows that are not currently running.")
            return
        self.key = proposed.state_details.pause_key or str(uuid.uuid4())
        if self.key in (self.ctx.policy.get("pause_keys") or ()):
            self.reject_transition(None, f"This {verb} has already fired.")
            return
        if proposed.state_details.pause_reschedule:
            if self.run.parent_task_run_id is not None:
                self.abort_transition(f"Cannot {verb} subflows.")
            elif self.run.deployment_id is None:
                self.abort_transition(f"Cannot {verb} flows without a deployment.")

    async def after_transition(self) -> None:
        keys = list(self.ctx.policy.get("pause_keys") or ())
        self.ctx.update_policy(pause_keys=[*keys, self.key])


class HandleResumingPausedFlows(Rule[orm.FlowRun]):
    """A paused run resumes into Running (same process), Scheduled (a suspended run handed
    back to its deployment) or a final state; a pause that has timed out ends in Failed."""

    FROM_STATES = frozenset({StateType.PAUSED})
    TO_STATES = ALL_STATES

    async def before_transition(self) -> None:
        initial, proposed = self.initial, self.proposed
        if proposed.type not in MAY_FOLLOW_PAUSE:
            self.reject_transition(
                None,
                f"This run cannot transition to the {proposed.type.value} state"
                f" from the {initial.type.value} state.",
            )
            return
        shown = (proposed.name or proposed.type.value).lower()
        if initial.state_details.pause_reschedule and self.run.deployment_id is None:
            self.reject_transition(
                None, f"Cannot reschedule a {shown} flow run without a deployment."
            )
            return
        timeout = initial.state_details.pause_timeout
        if timeout is not None and timeout < self.ctx.now:
            message = "The flow run was paused and never resumed before its timeout."
            failed = State(type=StateType.FAILED, message=message)
            self.reject_transition(
                failed, f"The flow run {_verb(proposed)} has timed out and can no longer resume."
            )

    async def after_transition(self) -> None:
        # Tells the engine (and the run-count bookkeeping) that the next start resumes.
        validated = self.ctx.validated_state
        if validated is not None and not validated.is_terminal:
            self.ctx.update_policy(resuming=True)
