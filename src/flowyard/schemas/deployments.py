"""Deployments and their schedules: request bodies and read models (Prefect 3 wire shapes)."""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum
from typing import Any, Literal

from pydantic import Field

from flowyard.schemas.base import ActionModel, FlowyardModel, ObjectModel
from flowyard.schemas.core import FlowRunPolicy
from flowyard.schemas.filters import (
    DeploymentFilter,
    FlowFilter,
    FlowRunFilter,
    TaskRunFilter,
    WorkPoolFilter,
    WorkQueueFilter,
)
from flowyard.schemas.schedules import ScheduleField
from flowyard.schemas.states import StateCreate

LabelValue = bool | int | float | str
ScheduleBody = ScheduleField


class DeploymentSort(StrEnum):
    CREATED_DESC = "CREATED_DESC"
    UPDATED_DESC = "UPDATED_DESC"
    NAME_ASC = "NAME_ASC"
    NAME_DESC = "NAME_DESC"
    # Not in the contract, but in the official client's enum (deployments without a limit
    # last): served so that every value the client can send works.
    CONCURRENCY_LIMIT_ASC = "CONCURRENCY_LIMIT_ASC"
    CONCURRENCY_LIMIT_DESC = "CONCURRENCY_LIMIT_DESC"


class DeploymentScheduleCreate(ActionModel):
    schedule: ScheduleBody
    active: bool = True
    max_scheduled_runs: int | None = Field(default=None, gt=0)
    parameters: dict[str, Any] = Field(default_factory=dict)
    slug: str | None = None
    replaces: str | None = None


class DeploymentScheduleUpdate(ActionModel):
    schedule: ScheduleBody | None = None
    active: bool | None = None
    max_scheduled_runs: int | None = Field(default=None, gt=0)
    parameters: dict[str, Any] | None = None
    slug: str | None = None
    replaces: str | None = None


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


class ConcurrencyOptionsResponse(FlowyardModel):
    collision_strategy: str
    grace_period_seconds: int | None = None


class _DeploymentFields(ActionModel):
    version: str | None = None
    description: str | None = None
    concurrency_limit: int | None = Field(default=None, gt=0)
    concurrency_options: ConcurrencyOptions | None = None
    global_concurrency_limit_id: uuid.UUID | None = None
    parameter_openapi_schema: dict[str, Any] | None = None
    work_queue_name: str | None = None
    work_pool_name: str | None = None
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
    schedules: list[DeploymentScheduleCreate] = Field(default_factory=list)
    enforce_parameter_schema: bool = True
    parameters: dict[str, Any] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list)
    labels: dict[str, LabelValue] | None = None
    job_variables: dict[str, Any] = Field(default_factory=dict)


class DeploymentUpdate(_DeploymentFields):
    paused: bool | None = None
    # Updates, as in the contract: with slugs, each names the schedule it changes (see
    # ``queries.schedules.update_schedules``), so ``schedule`` may be left out.
    schedules: list[DeploymentScheduleUpdate] | None = None
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
    global_concurrency_limit: dict[str, Any] | None = None
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
    created_by: dict[str, Any] | None = None
    updated_by: dict[str, Any] | None = None
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
    work_queue_name: str | None = None
    job_variables: dict[str, Any] | None = None


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


class ScheduledRunsBody(ActionModel):
    deployment_ids: list[uuid.UUID]
    scheduled_before: dt.datetime | None = None
    limit: int | None = Field(default=None, ge=0)


class BulkDeleteBody(ActionModel):
    deployments: DeploymentFilter | None = None
    limit: int = Field(default=50, ge=1, le=50)
