"""Rules about when a run may start: scheduled times, retries and reruns."""

from __future__ import annotations

import datetime as dt
import math
import random
from typing import Any

from flowyard.schemas.states import State, StateDetails, StateType
from flowyard.server.database import orm
from flowyard.server.orchestration.rules import ALL_STATES, Rule, RunT


class CopyScheduledTime(Rule[RunT]):
    """Pending keeps the time the run was scheduled for, unless the proposal names another."""

    FROM_STATES = frozenset({StateType.SCHEDULED})
    TO_STATES = frozenset({StateType.PENDING})

    async def before_transition(self) -> None:
        details = self.proposed.state_details
        if details.scheduled_time is None:
            details.scheduled_time = self.initial.state_details.scheduled_time


class WaitForScheduledTime(Rule[RunT]):
    """A run may not start before its scheduled time by the server's clock (client clocks
    drift); an early start is told how long to wait."""

    FROM_STATES = frozenset({StateType.SCHEDULED, StateType.PENDING})
    TO_STATES = frozenset({StateType.RUNNING})

    async def before_transition(self) -> None:
        scheduled_time = self.initial.state_details.scheduled_time
        if scheduled_time is None:
            return
        # Rounded up: a client that sleeps the whole delay then finds the time has come.
        delay_seconds = math.ceil((scheduled_time - self.ctx.now).total_seconds())
        if delay_seconds > 0:
            self.delay_transition(delay_seconds, "Scheduled time is in the future.")


def _retries(policy: dict[str, Any]) -> int | None:
    # Older clients only send the deprecated max_retries.
    retries = policy.get("retries")
    if retries is None and policy.get("max_retries"):
        retries = policy["max_retries"]
    return None if retries is None else int(retries)


def _retry_delay(policy: dict[str, Any]) -> Any:
    delay = policy.get("retry_delay")
    if delay is None:
        return policy.get("retry_delay_seconds") or 0
    return delay


def awaiting_retry(failed: State, scheduled_time: dt.datetime) -> State:
    """The Scheduled state a failed run goes to instead, keeping the failure's message and
    result so that the client can still report them."""
    return State(
        type=StateType.SCHEDULED,
        name="AwaitingRetry",
        message=failed.message,
        data=failed.data,
        state_details=StateDetails(scheduled_time=scheduled_time),
    )


class RetryFailedFlows(Rule[orm.FlowRun]):
    """A failed flow run with retries left is sent to AwaitingRetry, to be run again in the
    same process after the retry delay."""

    FROM_STATES = frozenset({StateType.RUNNING})
    TO_STATES = frozenset({StateType.FAILED})

    async def before_transition(self) -> None:
        policy = self.ctx.policy
        retries = _retries(policy)
        if retries is None or self.run.run_count > retries:
            # Out of retries: forget the in-process retry so a manual retry starts clean.
            if policy.get("retry_type") is not None:
                self.ctx.update_policy(retry_type=None)
            return
        delay = float(_retry_delay(policy) or 0)
        # Pauses belong to one attempt; the next attempt may pause again.
        self.ctx.update_policy(resuming=False, pause_keys=[], retry_type="in_process")
        retry_at = self.ctx.now + dt.timedelta(seconds=delay)
        self.reject_transition(awaiting_retry(self.proposed, retry_at), "Retrying")


def jittered(delay: float, factor: float) -> float:
    """``delay`` spread uniformly by ``factor`` either side, so that many tasks failing at
    once do not all retry at the same instant; the average delay stays ``delay``."""
    spread = delay * min(max(factor, 0.0), 1.0)
    return random.uniform(delay - spread, delay + spread)


def task_retry_delay(policy: dict[str, Any], run_count: int) -> float:
    """The delay before retry number ``run_count``: a list gives one delay per attempt (the
    last one repeats), a number applies to all."""
    delay = _retry_delay(policy)
    if isinstance(delay, list):
        delay = delay[min(run_count, len(delay)) - 1] if delay else 0
    base = float(delay or 0)
    factor = policy.get("retry_jitter_factor")
    return jittered(base, float(factor)) if factor else base


class RetryFailedTasks(Rule[orm.TaskRun]):
    """A failed task run with retries left (and that the client says may be retried) is sent
    to AwaitingRetry with the delay for this attempt."""

    FROM_STATES = frozenset({StateType.RUNNING})
    TO_STATES = frozenset({StateType.FAILED})

    async def before_transition(self) -> None:
        if self.proposed.state_details.retriable is False:
            return
        policy = self.ctx.policy
        retries = _retries(policy)
        run_count = self.run.run_count
        if retries is None or run_count > retries:
            return
        delay = task_retry_delay(policy, max(run_count, 1))
        retry_at = self.ctx.now + dt.timedelta(seconds=delay)
        self.reject_transition(awaiting_retry(self.proposed, retry_at), "Retrying")


class RenameReruns(Rule[RunT]):
    """A run that has run before is "Retrying" when coming back from AwaitingRetry and
    "Rerunning" otherwise, so that the history reads correctly."""

    FROM_STATES = ALL_STATES
    TO_STATES = frozenset({StateType.RUNNING})

    async def before_transition(self) -> None:
        initial = self.ctx.initial_state
        if initial is None or self.run.run_count == 0:
            return
        self.rename_state("Retrying" if initial.name == "AwaitingRetry" else "Rerunning")
