"""Request bodies (create/update). Unknown keys are refused with a 422 naming them."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any, Literal

from pydantic import Field, field_validator

from flowyard.schemas.base import ActionModel, FilterModel
from flowyard.schemas.core import FlowRunPolicy, TaskRunInput, TaskRunPolicy
from flowyard.schemas.limits import (
    MAX_CACHE_KEY_LENGTH,
    MAX_LOG_MESSAGE_LENGTH,
    MAX_SLOT_DECAY_PER_SECOND,
    ShortText,
)
from flowyard.schemas.request_bounds import bound_nested_read_model
from flowyard.schemas.states import StateCreate

NAME_PATTERN = re.compile(r"^[^/%&><]+$")
VARIABLE_NAME_PATTERN = re.compile(r"^[a-z0-9_-]+$")


def _valid_name(value: str | None) -> str | None:
    if value is not None and not NAME_PATTERN.match(value):
        raise ValueError("name must not be empty or contain any of / % & > <")
    return value


class FlowCreate(ActionModel):
    name: str = Field(min_length=1, max_length=255)
    tags: list[str] = Field(default_factory=list)
    labels: dict[str, Any] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        _valid_name(value)
        return value


class FlowUpdate(ActionModel):
    null_leaves_unchanged = frozenset({"tags"})
    tags: list[str] | None = None


class FlowRunCreate(ActionModel):
    flow_id: uuid.UUID
    state: StateCreate | None = None
    name: str | None = Field(default=None, max_length=255)
    flow_version: ShortText | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    context: dict[str, Any] = Field(default_factory=dict)
    parent_task_run_id: uuid.UUID | None = None
    infrastructure_document_id: uuid.UUID | None = None
    empirical_policy: FlowRunPolicy = Field(default_factory=FlowRunPolicy)
    tags: list[str] = Field(default_factory=list)
    labels: dict[str, Any] = Field(default_factory=dict)
    idempotency_key: str | None = Field(default=None, max_length=255)
    work_pool_name: ShortText | None = None
    work_queue_name: ShortText | None = None
    job_variables: dict[str, Any] | None = None
    deployment_id: uuid.UUID | None = None

    _bounded_nested = field_validator("empirical_policy")(bound_nested_read_model)


class FlowRunUpdate(ActionModel):
    name: str | None = Field(default=None, max_length=255)
    flow_version: ShortText | None = None
    parameters: dict[str, Any] | None = None
    empirical_policy: FlowRunPolicy | None = None
    tags: list[str] | None = None
    infrastructure_pid: ShortText | None = None
    job_variables: dict[str, Any] | None = None

    _bounded_nested = field_validator("empirical_policy")(bound_nested_read_model)


class TaskRunCreate(ActionModel):
    id: uuid.UUID | None = None
    flow_run_id: uuid.UUID | None = None
    task_key: str = Field(min_length=1, max_length=255)
    dynamic_key: str = Field(max_length=255)
    state: StateCreate | None = None
    name: str | None = Field(default=None, max_length=255)
    cache_key: str | None = Field(default=None, max_length=MAX_CACHE_KEY_LENGTH)
    cache_expiration: dt.datetime | None = None
    task_version: ShortText | None = None
    empirical_policy: TaskRunPolicy = Field(default_factory=TaskRunPolicy)
    tags: list[str] = Field(default_factory=list)
    labels: dict[str, Any] = Field(default_factory=dict)
    task_inputs: dict[str, list[TaskRunInput]] = Field(default_factory=dict)

    _bounded_nested = field_validator("empirical_policy", "task_inputs")(bound_nested_read_model)


class TaskRunUpdate(ActionModel):
    name: str | None = Field(default=None, max_length=255)


class LogCreate(ActionModel):
    name: str = Field(max_length=255)
    level: int = Field(ge=-(2**15), le=2**15 - 1)  # a SMALLINT column
    message: str = Field(max_length=MAX_LOG_MESSAGE_LENGTH)
    timestamp: dt.datetime
    flow_run_id: uuid.UUID | None = None
    task_run_id: uuid.UUID | None = None
    worker_id: uuid.UUID | None = None


MAX_VARIABLE_VALUE_LENGTH = 5000


def _check_variable_value(value: Any) -> Any:
    import json

    # The limit is on the serialized form, as in the Prefect contract.
    if len(json.dumps(value)) > MAX_VARIABLE_VALUE_LENGTH:
        raise ValueError(
            f"value must be at most {MAX_VARIABLE_VALUE_LENGTH} characters when serialized"
        )
    return value


class VariableCreate(ActionModel):
    name: str = Field(min_length=1, max_length=255)
    value: Any
    tags: list[str] = Field(default_factory=list)

    @field_validator("value")
    @classmethod
    def _check_value(cls, value: Any) -> Any:
        return _check_variable_value(value)

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not VARIABLE_NAME_PATTERN.match(value):
            raise ValueError("name may only contain lowercase letters, digits, '-' and '_'")
        return value


class VariableUpdate(ActionModel):
    null_leaves_unchanged = frozenset({"name"})
    name: str | None = Field(default=None, min_length=1, max_length=255)
    value: Any = None
    tags: list[str] | None = None

    @field_validator("value")
    @classmethod
    def _check_value(cls, value: Any) -> Any:
        return _check_variable_value(value)

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str | None) -> str | None:
        if value is not None and not VARIABLE_NAME_PATTERN.match(value):
            raise ValueError("name may only contain lowercase letters, digits, '-' and '_'")
        return value


class ArtifactCreate(ActionModel):
    key: ShortText | None = None
    type: ShortText | None = None
    description: str | None = None
    data: Any = None
    metadata_: dict[str, Any] | None = None
    flow_run_id: uuid.UUID | None = None
    task_run_id: uuid.UUID | None = None

    @field_validator("key")
    @classmethod
    def _check_key(cls, value: str | None) -> str | None:
        if value is not None and not VARIABLE_NAME_PATTERN.match(value):
            raise ValueError("key may only contain lowercase letters, digits and dashes")
        return value


class ArtifactUpdate(ActionModel):
    data: Any = None
    description: str | None = None
    metadata_: dict[str, Any] | None = None


class ConcurrencyLimitV2Create(ActionModel):
    name: str = Field(min_length=1, max_length=255)
    limit: int = Field(ge=0)
    active: bool = True
    active_slots: int = Field(default=0, ge=0)
    denied_slots: int = Field(default=0, ge=0)
    slot_decay_per_second: float = Field(default=0.0, ge=0, le=MAX_SLOT_DECAY_PER_SECOND)

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        _valid_name(value)
        return value


class ConcurrencyLimitV2Update(ActionModel):
    null_leaves_unchanged = frozenset(
        {"name", "limit", "active", "active_slots", "denied_slots", "slot_decay_per_second"}
    )
    name: str | None = Field(default=None, min_length=1, max_length=255)
    limit: int | None = Field(default=None, ge=0)
    active: bool | None = None
    active_slots: int | None = Field(default=None, ge=0)
    denied_slots: int | None = Field(default=None, ge=0)
    slot_decay_per_second: float | None = Field(
        default=None, ge=0, le=MAX_SLOT_DECAY_PER_SECOND
    )

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str | None) -> str | None:
        return _valid_name(value)


class ConcurrencyLeaseHolder(ActionModel):
    type: Literal["flow_run", "task_run", "deployment"]
    id: uuid.UUID


class ConcurrencySlotsIncrement(ActionModel):
    names: list[str] = Field(min_length=1)
    slots: int = Field(gt=0)
    mode: Literal["concurrency", "rate_limit"] = "concurrency"
    create_if_missing: bool | None = None  # deprecated upstream; accepted and ignored


class ConcurrencySlotsIncrementWithLease(ActionModel):
    names: list[str] = Field(min_length=1)
    slots: int = Field(gt=0)
    mode: Literal["concurrency", "rate_limit"] = "concurrency"
    # The contract's minimum is 60 s; the server enforces its own configured minimum.
    lease_duration: float = Field(default=300, gt=0, le=86400)
    holder: ConcurrencyLeaseHolder | None = None


class ConcurrencySlotsDecrement(ActionModel):
    names: list[str] = Field(min_length=1)
    slots: int = Field(gt=0)
    occupancy_seconds: float | None = Field(default=None, gt=0)
    create_if_missing: bool | None = None  # deprecated upstream; accepted and ignored


class ConcurrencyLeaseRelease(ActionModel):
    lease_id: uuid.UUID


class ConcurrencyLeaseRenewal(ActionModel):
    lease_duration: float = Field(default=300, gt=0, le=86400)


class ServerDefaultResultStorageUpdate(ActionModel):
    """``PUT /admin/storage``: the block document results are stored with by default."""

    default_result_storage_block_id: uuid.UUID


class TaskWorkerFilter(FilterModel):
    task_keys: list[str]
