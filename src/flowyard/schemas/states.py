"""Run states and orchestration results, as on the Prefect 3 wire."""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator

from flowyard.schemas.base import ActionModel, FlowyardModel, utcnow
from flowyard.schemas.limits import ShortText
from flowyard.schemas.request_bounds import bound_nested_read_model


class StateType(StrEnum):
    SCHEDULED = "SCHEDULED"
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    CRASHED = "CRASHED"
    PAUSED = "PAUSED"
    CANCELLING = "CANCELLING"


TERMINAL_STATES = frozenset(
    {StateType.COMPLETED, StateType.FAILED, StateType.CANCELLED, StateType.CRASHED}
)

# Well-known state names and the type each belongs to.
NAMED_STATES: dict[str, StateType] = {
    "Scheduled": StateType.SCHEDULED,
    "Late": StateType.SCHEDULED,
    "AwaitingRetry": StateType.SCHEDULED,
    "AwaitingConcurrencySlot": StateType.SCHEDULED,
    "Resuming": StateType.SCHEDULED,
    "Pending": StateType.PENDING,
    "Submitting": StateType.PENDING,
    "InfrastructurePending": StateType.PENDING,
    "NotReady": StateType.PENDING,
    "Running": StateType.RUNNING,
    "Retrying": StateType.RUNNING,
    "Completed": StateType.COMPLETED,
    "Cached": StateType.COMPLETED,
    "RolledBack": StateType.COMPLETED,
    "Failed": StateType.FAILED,
    "TimedOut": StateType.FAILED,
    "Crashed": StateType.CRASHED,
    "Cancelling": StateType.CANCELLING,
    "Cancelled": StateType.CANCELLED,
    "Paused": StateType.PAUSED,
    "Suspended": StateType.PAUSED,
}


def default_name(state_type: StateType | str) -> str:
    return str(state_type).capitalize()


class StateDetails(FlowyardModel):
    flow_run_id: uuid.UUID | None = None
    task_run_id: uuid.UUID | None = None
    child_flow_run_id: uuid.UUID | None = None
    scheduled_time: dt.datetime | None = None
    cache_key: str | None = None
    cache_expiration: dt.datetime | None = None
    deferred: bool | None = None
    untrackable_result: bool = False
    pause_timeout: dt.datetime | None = None
    pause_reschedule: bool = False
    pause_key: str | None = None
    run_input_keyset: dict[str, str] | None = None
    refresh_cache: bool | None = None
    retriable: bool | None = None
    transition_id: uuid.UUID | None = None
    task_parameters_id: uuid.UUID | None = None
    traceparent: str | None = None
    deployment_concurrency_lease_id: uuid.UUID | None = None


class State(FlowyardModel):
    id: uuid.UUID = Field(default_factory=uuid.uuid4)
    type: StateType
    name: str | None = None
    timestamp: dt.datetime = Field(default_factory=utcnow)
    message: str | None = None
    data: Any = None
    state_details: StateDetails = Field(default_factory=StateDetails)

    def model_post_init(self, _context: Any) -> None:
        if self.name is None:
            self.name = default_name(self.type)

    @property
    def is_terminal(self) -> bool:
        return self.type in TERMINAL_STATES


class StateCreate(ActionModel):
    type: StateType
    name: ShortText | None = None
    message: str | None = None
    data: Any = None
    state_details: StateDetails = Field(default_factory=StateDetails)
    # Accepted so that a client may echo back a full State; ignored by the server.
    id: uuid.UUID | None = None
    timestamp: dt.datetime | None = None

    _bounded_details = field_validator("state_details")(bound_nested_read_model)


class SetStateStatus(StrEnum):
    ACCEPT = "ACCEPT"
    REJECT = "REJECT"
    WAIT = "WAIT"
    ABORT = "ABORT"


class StateAcceptDetails(FlowyardModel):
    type: Literal["accept_details"] = "accept_details"


class StateRejectDetails(FlowyardModel):
    type: Literal["reject_details"] = "reject_details"
    reason: str | None = None


class StateWaitDetails(FlowyardModel):
    type: Literal["wait_details"] = "wait_details"
    delay_seconds: int
    reason: str | None = None


class StateAbortDetails(FlowyardModel):
    type: Literal["abort_details"] = "abort_details"
    reason: str | None = None


StateResponseDetails = Annotated[
    StateAcceptDetails | StateRejectDetails | StateWaitDetails | StateAbortDetails,
    Field(discriminator="type"),
]


class OrchestrationResult(FlowyardModel):
    state: State | None = None
    status: SetStateStatus
    details: StateResponseDetails


class SetStateRequest(ActionModel):
    state: StateCreate
    force: bool = False


class FlowRunOrchestrationResult(OrchestrationResult):
    """One run's outcome in ``POST /flow_runs/bulk_set_state``."""

    flow_run_id: uuid.UUID


class FlowRunBulkSetStateResponse(FlowyardModel):
    results: list[FlowRunOrchestrationResult] = Field(default_factory=list)
