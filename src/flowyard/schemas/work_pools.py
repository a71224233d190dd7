"""Work pools, work queues and workers: request bodies and responses (Prefect 3 wire shapes)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

from pydantic import Field, field_validator

from flowyard.schemas.actions import NAME_PATTERN
from flowyard.schemas.base import ActionModel, FilterModel, FlowyardModel, ObjectModel
from flowyard.schemas.core import FlowRun
from flowyard.schemas.filters import (
    FilterSet,
    TimeFilter,
    WorkPoolFilter,
    WorkQueueFilter,
)
from flowyard.schemas.limits import ShortText


def _check_name(value: str) -> str:
    if not NAME_PATTERN.match(value):
        raise ValueError("must not be empty or contain any of / % & > <")
    return value


# --- pools -------------------------------------------------------------------------------


class WorkPoolCreate(ActionModel):
    name: str = Field(min_length=1, max_length=255)
    description: str | None = None
    type: ShortText = "prefect-agent"
    base_job_template: dict[str, Any] = Field(default_factory=dict)
    is_paused: bool = False
    concurrency_limit: int | None = Field(default=None, ge=0)
    storage_configuration: dict[str, Any] | None = None

    _name = field_validator("name")(_check_name)


class WorkPoolUpdate(ActionModel):
    description: str | None = None
    is_paused: bool | None = None
    base_job_template: dict[str, Any] | None = None
    concurrency_limit: int | None = Field(default=None, ge=0)
    storage_configuration: dict[str, Any] | None = None


WorkerStatus = Literal["ONLINE", "OFFLINE"]


class WorkPoolStorageConfiguration(FlowyardModel):
    """Where a pool's workers upload and run bundles, and its default result storage."""

    bundle_upload_step: dict[str, Any] | None = None
    bundle_execution_step: dict[str, Any] | None = None
    default_result_storage_block_id: uuid.UUID | None = None


class WorkPool(ObjectModel):
    name: str
    description: str | None = None
    type: str
    base_job_template: dict[str, Any] = Field(default_factory=dict)
    is_paused: bool = False
    concurrency_limit: int | None = None
    status: Literal["READY", "NOT_READY", "PAUSED"] | None = None
    default_queue_id: uuid.UUID | None = None
    storage_configuration: WorkPoolStorageConfiguration = Field(
        default_factory=WorkPoolStorageConfiguration
    )
    active_slots: int | None = None


# --- queues ------------------------------------------------------------------------------


class WorkQueueCreate(ActionModel):
    name: str = Field(min_length=1, max_length=255)
    description: str | None = ""
    is_paused: bool = False
    concurrency_limit: int | None = Field(default=None, ge=0)
    priority: int | None = Field(default=None, gt=0)
    filter: dict[str, Any] | None = None
    # Accepted on the legacy POST /work_queues/ (the pool to put the queue in).
    work_pool_name: ShortText | None = None

    _name = field_validator("name")(_check_name)


class WorkQueueUpdate(ActionModel):
    name: str | None = Field(default=None, min_length=1, max_length=255)
    description: str | None = None
    is_paused: bool | None = None
    concurrency_limit: int | None = Field(default=None, ge=0)
    priority: int | None = Field(default=None, gt=0)
    last_polled: dt.datetime | None = None
    filter: dict[str, Any] | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        return None if value is None else _check_name(value)


class WorkQueue(ObjectModel):
    name: str
    description: str | None = ""
    is_paused: bool = False
    concurrency_limit: int | None = None
    priority: int = 1
    work_pool_id: uuid.UUID | None = None
    filter: dict[str, Any] | None = None
    last_polled: dt.datetime | None = None
    work_pool_name: str | None = None
    status: Literal["READY", "NOT_READY", "PAUSED"] | None = None
    active_slots: int | None = None


class WorkQueueHealthPolicy(FlowyardModel):
    maximum_late_runs: int | None = 0
    maximum_seconds_since_last_polled: int | None = 60


class WorkQueueStatusDetail(FlowyardModel):
    healthy: bool
    late_runs_count: int = 0
    last_polled: dt.datetime | None = None
    health_check_policy: WorkQueueHealthPolicy = Field(default_factory=WorkQueueHealthPolicy)


# --- workers -----------------------------------------------------------------------------


class WorkerHeartbeat(ActionModel):
    name: str = Field(min_length=1, max_length=255)
    heartbeat_interval_seconds: int | None = Field(default=None, ge=0)
    return_id: bool = False
    metadata: dict[str, Any] | None = None


class Worker(ObjectModel):
    name: str
    work_pool_id: uuid.UUID
    last_heartbeat_time: dt.datetime | None = None
    heartbeat_interval_seconds: int | None = None
    status: WorkerStatus = "OFFLINE"


class WorkerStatusFilter(FilterModel):
    # The contract's two statuses: anything else is a 422 naming it, not an empty answer.
    any_: list[WorkerStatus] | None = None
    not_any_: list[WorkerStatus] | None = None


class WorkerFilter(FilterSet):
    last_heartbeat_time: TimeFilter | None = None
    status: WorkerStatusFilter | None = None


# --- request bodies ----------------------------------------------------------------------


class _Page(ActionModel):
    # The official client sends explicit nulls for both.
    limit: int | None = Field(default=None, ge=0)
    offset: int | None = Field(default=None, ge=0)


class WorkPoolFilterBody(_Page):
    work_pools: WorkPoolFilter | None = None


class WorkPoolCountBody(ActionModel):
    work_pools: WorkPoolFilter | None = None


class WorkQueueFilterBody(_Page):
    work_queues: WorkQueueFilter | None = None


class WorkerFilterBody(_Page):
    workers: WorkerFilter | None = None


class GetScheduledFlowRuns(FilterModel):
    work_queue_names: list[str] | None = None
    scheduled_before: dt.datetime | None = None
    scheduled_after: dt.datetime | None = None
    limit: int | None = Field(default=None, ge=0)
    # Flowyard's long-poll: hold the request up to this long until a run is due (the
    # official client does not send it, and gets an immediate answer).
    wait_seconds: float | None = Field(default=None, ge=0, le=60)


class WorkerFlowRunResponse(FlowyardModel):
    work_pool_id: uuid.UUID
    work_queue_id: uuid.UUID
    flow_run: FlowRun


# --- queue runs ----------------------------------------------------------------------------


class WorkQueueRunsBody(ActionModel):
    """``POST /work_queues/{id}/get_runs``."""

    scheduled_before: dt.datetime | None = None
    limit: int | None = Field(default=None, ge=0)
