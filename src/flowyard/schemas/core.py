"""Read models of the core objects, as the API returns them."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

from pydantic import Field, field_validator

from flowyard.schemas.base import FlowyardModel, ObjectModel
from flowyard.schemas.states import State, StateType


class Flow(ObjectModel):
    name: str
    tags: list[str] = Field(default_factory=list)
    labels: dict[str, Any] = Field(default_factory=dict)


class FlowRunPolicy(FlowyardModel):
    max_retries: int = 0
    retry_delay_seconds: float = 0
    retries: int | None = None
    retry_delay: int | float | None = None
    pause_keys: set[str] | None = Field(default_factory=set)
    resuming: bool | None = False
    retry_type: Literal["in_process", "reschedule"] | None = None


class TaskRunPolicy(FlowyardModel):
    max_retries: int = 0
    retry_delay_seconds: float = 0
    retries: int | None = None
    retry_delay: int | float | list[int | float] | None = None
    retry_jitter_factor: float | None = None


class TaskRunInput(FlowyardModel):
    """One upstream input of a task: another task run, a flow run, a parameter or a constant."""

    input_type: Literal["task_run", "flow_run", "parameter", "constant"]
    id: uuid.UUID | None = None
    name: str | None = None
    type: str | None = None


class CreatedBy(FlowyardModel):
    id: uuid.UUID | None = None
    type: str | None = None
    display_value: str | None = None


class RunFields(ObjectModel):
    """Fields shared by flow runs and task runs."""

    name: str = ""
    state_id: uuid.UUID | None = None
    state_type: StateType | None = None
    state_name: str | None = None
    tags: list[str] = Field(default_factory=list)
    labels: dict[str, Any] = Field(default_factory=dict)
    run_count: int = 0
    expected_start_time: dt.datetime | None = None
    next_scheduled_start_time: dt.datetime | None = None
    start_time: dt.datetime | None = None
    end_time: dt.datetime | None = None
    total_run_time: float = 0.0
    estimated_run_time: float = 0.0
    estimated_start_time_delta: float = 0.0
    state: State | None = None


class FlowRun(RunFields):
    flow_id: uuid.UUID
    deployment_id: uuid.UUID | None = None
    deployment_version: str | None = None
    work_queue_id: uuid.UUID | None = None
    work_queue_name: str | None = None
    flow_version: str | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    idempotency_key: str | None = None
    context: dict[str, Any] = Field(default_factory=dict)
    empirical_policy: FlowRunPolicy = Field(default_factory=FlowRunPolicy)
    parent_task_run_id: uuid.UUID | None = None
    auto_scheduled: bool = False
    infrastructure_document_id: uuid.UUID | None = None
    infrastructure_pid: str | None = None
    created_by: CreatedBy | None = None
    work_pool_id: uuid.UUID | None = None
    work_pool_name: str | None = None
    job_variables: dict[str, Any] = Field(default_factory=dict)


class TaskRun(RunFields):
    flow_run_id: uuid.UUID | None = None
    task_key: str
    dynamic_key: str
    cache_key: str | None = None
    cache_expiration: dt.datetime | None = None
    task_version: str | None = None
    empirical_policy: TaskRunPolicy = Field(default_factory=TaskRunPolicy)
    task_inputs: dict[str, list[TaskRunInput]] = Field(default_factory=dict)
    flow_run_run_count: int = 0


class Log(ObjectModel):
    name: str
    level: int
    message: str
    timestamp: dt.datetime
    flow_run_id: uuid.UUID | None = None
    task_run_id: uuid.UUID | None = None


class Variable(ObjectModel):
    name: str
    value: Any = None
    tags: list[str] = Field(default_factory=list)


class Artifact(ObjectModel):
    key: str | None = None
    type: str | None = None
    description: str | None = None
    data: Any = None
    metadata_: dict[str, Any] | None = None
    flow_run_id: uuid.UUID | None = None
    task_run_id: uuid.UUID | None = None


class ArtifactCollection(ObjectModel):
    key: str
    latest_id: uuid.UUID
    type: str | None = None
    description: str | None = None
    data: Any = None
    metadata_: dict[str, Any] | None = None
    flow_run_id: uuid.UUID | None = None
    task_run_id: uuid.UUID | None = None


class ConcurrencyLimitV2(ObjectModel):
    active: bool = True
    name: str
    limit: int
    active_slots: int = 0
    denied_slots: int = 0
    slot_decay_per_second: float = 0.0
    avg_slot_occupancy_seconds: float = 2.0


class MinimalConcurrencyLimitResponse(FlowyardModel):
    id: uuid.UUID
    name: str
    limit: int


class ConcurrencyLimitWithLeaseResponse(FlowyardModel):
    lease_id: uuid.UUID
    limits: list[MinimalConcurrencyLimitResponse]


class Account(ObjectModel):
    name: str
    handle: str


class Workspace(ObjectModel):
    account_id: uuid.UUID
    name: str
    handle: str
    description: str | None = None


class Event(FlowyardModel):
    """An event: something that happened to a resource, at a time."""

    id: uuid.UUID
    occurred: dt.datetime
    event: str
    resource: dict[str, str]
    related: list[dict[str, str]] = Field(default_factory=list)
    payload: dict[str, Any] = Field(default_factory=dict)
    follows: uuid.UUID | None = None
    received: dt.datetime | None = None

    @field_validator("resource")
    @classmethod
    def _resource_has_id(cls, value: dict[str, str]) -> dict[str, str]:
        if "prefect.resource.id" not in value:
            raise ValueError("resource must have a 'prefect.resource.id'")
        return value


class HistoryStateCount(FlowyardModel):
    state_type: StateType
    state_name: str
    count_runs: int
    sum_estimated_run_time: float
    sum_estimated_lateness: float


class HistoryInterval(FlowyardModel):
    interval_start: dt.datetime
    interval_end: dt.datetime
    states: list[HistoryStateCount]
