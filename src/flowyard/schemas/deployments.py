"""Deployments and their schedules: request bodies and read models (Prefect 3 wire shapes)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

from pydantic import Field, field_validator

from flowyard.schemas.base import ActionModel, FilterModel, FlowyardModel, ObjectModel
from flowyard.schemas.core import ConcurrencyLimitV2, FlowRunPolicy
from flowyard.schemas.filters import (
    DeploymentFilter,
    FlowFilter,
    FlowRunFilter,
    TaskRunFilter,
    WorkPoolFilter,
    WorkQueueFilter,
)
from flowyard.schemas.limits import (
    MAX_SCHEDULED_RUNS,
    MAX_SCHEDULES_PER_DEPLOYMENT,
    ShortText,
)
from flowyard.schemas.request_bounds import bound_nested_read_model
from flowyard.schemas.schedules import ScheduleField
from flowyard.schemas.sorting import DeploymentSort as DeploymentSort  # re-exported
from flowyard.schemas.states import StateCreate

LabelValue = bool | int | float | str
ScheduleBody = ScheduleField


class DeploymentScheduleCreate(ActionModel):
    schedule: ScheduleBody
    active: bool = True
    max_scheduled_runs: int | None = Field(default=None, gt=0, le=MAX_SCHEDULED_RUNS)
    parameters: dict[str, Any] = Field(default_factory=dict)
    slug: ShortText | None = None
    replaces: ShortText | None = None


class DeploymentScheduleUpdate(ActionModel):
    schedule: ScheduleBody | None = None
    active: bool | None = None
    max_scheduled_runs: int | None = Field(default=None, gt=0, le=MAX_SCHEDULED_RUNS)
    parameters: dict[str, Any] | None = None
    slug: ShortText | None = None
    replaces: ShortText | None = None


class DeploymentSchedule(ObjectModel):
    deployment_id: uuid.UUID | None = None
    schedule: ScheduleBody
    active: bool = True
    max_scheduled_runs: int | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    slug: str | None = None


class ConcurrencyOptions(ActionModel):
    """What happens to a deployment's run when its concurrency limit is full."""

    collision_strategy: Literal["ENQUEUE", "CANCEL_NEW"]
    grace_period_seconds: int | None = Field(default=None, ge=60, le=86400)


class Actor(FlowyardModel):
    """Who created or last changed an object (the contract's ``CreatedBy``/``UpdatedBy``)."""

    id: uuid.UUID | None = None
    type: str | None = None
    display_value: str | None = None


class ConcurrencyOptionsResponse(FlowyardModel):
    collision_strategy: str
    grace_period_seconds: int | None = None


class _DeploymentFields(ActionModel):
    version: ShortText | None = None
    description: str | None = None
    concurrency_limit: int | None = Field(default=None, gt=0)
    concurrency_options: ConcurrencyOptions | None = None
    global_concurrency_limit_id: uuid.UUID | None = None
    parameter_openapi_schema: dict[str, Any] | None = None
    work_queue_name: ShortText | None = None
    work_pool_name: ShortText | None = None
    path: str | None = None
    pull_steps: list[dict[str, Any]] | None = None
    entrypoint: str | None = None
    storage_document_id: uuid.UUID | None = None
    infrastructure_document_id: uuid.UUID | None = None
    version_info: dict[str, Any] | None = None


class DeploymentCreate(_DeploymentFields):
    name: str = Field(min_length=1, max_length=255)
    flow_id: uuid.UUID
    paused: bool = False
    schedules: list[DeploymentScheduleCreate] = Field(
        default_factory=list, max_length=MAX_SCHEDULES_PER_DEPLOYMENT
    )
    enforce_parameter_schema: bool = True
    parameters: dict[str, Any] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list)
    labels: dict[str, LabelValue] | None = None
    job_variables: dict[str, Any] = Field(default_factory=dict)


class DeploymentUpdate(_DeploymentFields):
    paused: bool | None = None
    # Updates, as in the contract: with slugs, each names the schedule it changes (see
    # ``queries.schedules.update_schedules``), so ``schedule`` may be left out.
    schedules: list[DeploymentScheduleUpdate] | None = Field(
        default=None, max_length=MAX_SCHEDULES_PER_DEPLOYMENT
    )
    parameters: dict[str, Any] | None = None
    tags: list[str] | None = None
    labels: dict[str, LabelValue] | None = None
    job_variables: dict[str, Any] | None = None
    enforce_parameter_schema: bool | None = None


class Deployment(ObjectModel):
    name: str
    flow_id: uuid.UUID
    version: str | None = None
    description: str | None = None
    paused: bool = False
    schedules: list[DeploymentSchedule] = Field(default_factory=list)
    concurrency_limit: int | None = None
    concurrency_options: ConcurrencyOptionsResponse | None = None
    global_concurrency_limit: ConcurrencyLimitV2 | None = None
    job_variables: dict[str, Any] = Field(default_factory=dict)
    parameters: dict[str, Any] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list)
    labels: dict[str, Any] = Field(default_factory=dict)
    work_queue_name: str | None = None
    work_queue_id: uuid.UUID | None = None
    last_polled: dt.datetime | None = None
    parameter_openapi_schema: dict[str, Any] | None = None
    path: str | None = None
    pull_steps: list[dict[str, Any]] | None = None
    entrypoint: str | None = None
    storage_document_id: uuid.UUID | None = None
    infrastructure_document_id: uuid.UUID | None = None
    created_by: Actor | None = None
    updated_by: Actor | None = None
    work_pool_name: str | None = None
    status: Literal["READY", "NOT_READY"] | None = "NOT_READY"
    enforce_parameter_schema: bool = True


class DeploymentFlowRunCreate(ActionModel):
    state: StateCreate | None = None
    name: str | None = Field(default=None, max_length=255)
    parameters: dict[str, Any] = Field(default_factory=dict)
    enforce_parameter_schema: bool | None = None
    context: dict[str, Any] = Field(default_factory=dict)
    infrastructure_document_id: uuid.UUID | None = None
    empirical_policy: FlowRunPolicy = Field(default_factory=FlowRunPolicy)
    tags: list[str] = Field(default_factory=list)
    idempotency_key: str | None = Field(default=None, max_length=255)
    labels: dict[str, LabelValue] | None = None
    parent_task_run_id: uuid.UUID | None = None
    work_queue_name: ShortText | None = None
    job_variables: dict[str, Any] | None = None

    _bounded_nested = field_validator("empirical_policy")(bound_nested_read_model)


# One deployments filter serves every endpoint now; the old name stays for the SDK client.
DeploymentFilterFull = DeploymentFilter


class DeploymentFilters(ActionModel):
    flows: FlowFilter | None = None
    flow_runs: FlowRunFilter | None = None
    task_runs: TaskRunFilter | None = None
    deployments: DeploymentFilter | None = None
    work_pools: WorkPoolFilter | None = None
    work_pool_queues: WorkQueueFilter | None = None


class DeploymentFilterBody(DeploymentFilters):
    sort: DeploymentSort = DeploymentSort.NAME_ASC
    limit: int | None = Field(default=None, ge=0)
    offset: int = Field(default=0, ge=0)


class DeploymentPaginateBody(DeploymentFilters):
    sort: DeploymentSort = DeploymentSort.NAME_ASC
    limit: int | None = Field(default=None, ge=0)
    page: int = Field(default=1, ge=1)


class DeploymentPage(FlowyardModel):
    results: list[Deployment]
    count: int
    limit: int
    pages: int
    page: int


class ScheduledRunsBody(FilterModel):
    deployment_ids: list[uuid.UUID]
    scheduled_before: dt.datetime | None = None
    limit: int | None = Field(default=None, ge=0)


class BulkDeleteBody(ActionModel):
    deployments: DeploymentFilter | None = None
    limit: int = Field(default=50, ge=1, le=50)
