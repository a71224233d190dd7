"""Guards: rules that stop transitions which would duplicate work, lose results or make no
sense for the state a run is in."""

from __future__ import annotations

from typing import Any

from flowyard.schemas.states import State, StateType
from flowyard.server.database import orm
from flowyard.server.orchestration.rules import ALL_STATES, TERMINAL, Rule, RunT

# A run that has finished may not be marked as any of these.
NOT_AFTER_TERMINAL = frozenset({StateType.CANCELLING, StateType.PAUSED, StateType.CRASHED})


def has_persisted_result(state: State) -> bool:
    """True when the state's data is a reference to a stored result (a result record).

    Clients send ``None`` for results they did not persist; older ones send
    ``{"type": "unpersisted"}``.
    """
    data = state.data
    return isinstance(data, dict) and bool(data) and data.get("type") != "unpersisted"


class PreventDuplicateTransitions(Rule[RunT]):
    """A proposal carrying the transition id of the current state is a client retry of a
    request that already succeeded: hand back the current state instead of writing again."""

    FROM_STATES = ALL_STATES
    TO_STATES = ALL_STATES

    async def before_transition(self) -> None:
        initial = self.ctx.initial_state
        transition_id = self.proposed.state_details.transition_id
        if initial is None or transition_id is None:
            return
        if initial.state_details.transition_id == transition_id:
            self.reject_transition(None, "This run has already made this state transition.")


class PreventResultDataLoss(Rule[RunT]):
    """Completing again without data would orphan the persisted result of the first
    completion. Applies even when the client forces the transition."""

    FROM_STATES = frozenset({StateType.COMPLETED})
    TO_STATES = frozenset({StateType.COMPLETED})

    async def before_transition(self) -> None:
        if has_persisted_result(self.initial) and self.proposed.data is None:
            self.reject_transition(
                None, "This run has a persisted result that completing again would lose."
            )


class HandleFlowTerminalStateTransitions(Rule[orm.FlowRun]):
    """Finished flow runs may be rerun, but not crashed, paused or cancelled after the fact,
    not rescheduled without a deployment, and not rerun once their result is persisted."""

    FROM_STATES = TERMINAL
    TO_STATES = ALL_STATES

    async def before_transition(self) -> None:
        initial, proposed = self.initial, self.proposed
        self.original_policy: dict[str, Any] = dict(self.ctx.policy)
        if proposed.type in NOT_AFTER_TERMINAL:
            self.abort_transition(f"Run is already in terminal state {initial.type.value}.")
            return
        if (
            initial.type == StateType.COMPLETED
            and not proposed.is_terminal
            and has_persisted_result(initial)
        ):
            self.reject_transition(None, "Run is already COMPLETED.")
            return
        if proposed.type == StateType.SCHEDULED and self.run.deployment_id is None:
            self.abort_transition("Cannot reschedule a run without an associated deployment.")
            return
        if not proposed.is_terminal:
            # A manual rerun starts over: earlier pauses must be able to fire again.
            retry_type = "reschedule" if proposed.type == StateType.SCHEDULED else None
            self.ctx.update_policy(resuming=False, pause_keys=[], retry_type=retry_type)

    async def cleanup(self) -> None:
        self.run.empirical_policy = self.original_policy


class HandleTaskTerminalStateTransitions(Rule[orm.TaskRun]):
    """As for flows; leaving a terminal state also resets the run count so that the task's
    retries apply again, and a rerun caused by a flow retry is named "Retrying"."""

    FROM_STATES = TERMINAL
    TO_STATES = ALL_STATES

    async def before_transition(self) -> None:
        initial, proposed = self.initial, self.proposed
        self.original_run_count = self.run.run_count
        if proposed.type in NOT_AFTER_TERMINAL:
            self.abort_transition(f"Run is already {initial.type.value}.")
            return
        if initial.type == StateType.COMPLETED and has_persisted_result(initial):
            self.reject_transition(None, "This run is already completed.")
            return
        if not proposed.is_terminal:
            self.run.run_count = 0
        if proposed.type == StateType.RUNNING:
            flow_run = await self.ctx.parent_flow_run()
            if flow_run is not None and self.run.flow_run_run_count < flow_run.run_count:
                self.rename_state("Retrying")

    async def cleanup(self) -> None:
        self.run.run_count = self.original_run_count


class EnforceCancellingToCancelledTransition(Rule[RunT]):
    """A cancelling run only ever becomes Cancelled: whatever tears down its infrastructure
    reports that, and late reports from the run itself must not overwrite it."""

    FROM_STATES = frozenset({StateType.CANCELLING})
    TO_STATES = ALL_STATES - {StateType.CANCELLED}

    async def before_transition(self) -> None:
        self.reject_transition(
            None, "Cannot transition flows that are cancelling to a state other than Cancelled."
        )


class BypassCancellingFlowRunsWithNoInfra(Rule[orm.FlowRun]):
    """Cancelling exists to tear down infrastructure. A run that has none (scheduled and never
    started, being resumed, or suspended) is cancelled directly. AwaitingRetry runs may still
    own their process, so they go through Cancelling like any other."""

    FROM_STATES = frozenset({StateType.SCHEDULED, StateType.PAUSED})
    TO_STATES = frozenset({StateType.CANCELLING})

    async def before_transition(self) -> None:
        initial = self.initial
        cancelled = State(type=StateType.CANCELLED, message=self.proposed.message)
        if initial.type == StateType.SCHEDULED and (
            initial.name == "Resuming"
            or (not self.run.infrastructure_pid and initial.name != "AwaitingRetry")
        ):
            self.reject_transition(cancelled, "Scheduled flow run has no infrastructure to stop.")
        elif initial.type == StateType.PAUSED and initial.state_details.pause_reschedule:
            self.reject_transition(cancelled, "Suspended flow run has no infrastructure to stop.")


class PreventPendingTransitions(Rule[RunT]):
    """Pending means "being submitted". Two workers racing to submit the same run both propose
    Pending; the second finds the run already Pending (or further) and is aborted.

    Moving between named Pending sub-states (Pending -> Submitting -> InfrastructurePending)
    is allowed, carrying the scheduled time forward.
    """

    FROM_STATES = frozenset(
        {StateType.PENDING, StateType.RUNNING, StateType.CANCELLING, StateType.CANCELLED}
    )
    TO_STATES = frozenset({StateType.PENDING})

    async def before_transition(self) -> None:
        initial, proposed = self.initial, self.proposed
        if (
            initial.type == StateType.PENDING
            and proposed.name != "Pending"
            and proposed.name != initial.name
        ):
            details = proposed.state_details
            details.scheduled_time = initial.state_details.scheduled_time
            details.deployment_concurrency_lease_id = (
                initial.state_details.deployment_concurrency_lease_id
            )
            return
        self.abort_transition(
            f"This run is in a {initial.type.value} state and cannot transition to a PENDING state."
        )


class PreventDuplicateRunning(Rule[RunT]):
    """Two processes that both try to start the same run: only the first may run it."""

    FROM_STATES = frozenset({StateType.RUNNING})
    TO_STATES = frozenset({StateType.RUNNING})

    async def before_transition(self) -> None:
        self.abort_transition("This run is already running.")


class EnsureOnlyScheduledFlowsMarkedLate(Rule[orm.FlowRun]):
    """The late-runs service marks overdue Scheduled runs Late; a run that has moved on since
    the service looked must keep its state. A Late run is still due when it was scheduled."""

    FROM_STATES = ALL_STATES
    TO_STATES = frozenset({StateType.SCHEDULED})

    async def before_transition(self) -> None:
        if self.proposed.name != "Late":
            return
        initial = self.ctx.initial_state
        if initial is None:
            self.abort_transition("Only scheduled flows can be marked late.")
        elif initial.type != StateType.SCHEDULED:
            self.reject_transition(None, "Only scheduled flows can be marked late.")
        elif self.proposed.state_details.scheduled_time is None:
            self.proposed.state_details.scheduled_time = initial.state_details.scheduled_time
