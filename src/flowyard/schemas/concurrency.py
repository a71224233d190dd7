"""Wire shapes of tag (v1) concurrency limits and of the lease admin routes.

A tag limit is stored once, as the global (v2) limit named ``tag:<tag>``; these models are
the v1 view of it (Prefect 3's ``ConcurrencyLimit``: ``tag``, ``concurrency_limit``, and
the ids of the task runs holding its slots as ``active_slots``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import Field, field_validator

from flowyard.schemas.base import ActionModel, FlowyardModel, ObjectModel
from flowyard.schemas.states import StateType

TAG_PREFIX = "tag:"
FORBIDDEN = set("/%&><")


def tag_limit_name(tag: str) -> str:
    """The global limit name that backs the limit on ``tag``."""
    return f"{TAG_PREFIX}{tag}"


def _valid_tag(value: str) -> str:
    if not value or FORBIDDEN & set(value):
        raise ValueError("tag must not be empty or contain any of / % & > <")
    return value


class ConcurrencyLimitCreate(ActionModel):
    """Create (or resize) the limit on a tag."""

    tag: str = Field(min_length=1, max_length=250)
    concurrency_limit: int = Field(ge=0)

    @field_validator("tag")
    @classmethod
    def _check_tag(cls, value: str) -> str:
        return _valid_tag(value)


class ConcurrencyLimit(ObjectModel):
    """A tag limit as the v1 API shows it."""

    tag: str
    concurrency_limit: int
    active_slots: list[uuid.UUID] = Field(default_factory=list)


class ConcurrencyLimitReset(ActionModel):
    """Body of ``POST /concurrency_limits/tag/{tag}/reset``."""

    slot_override: list[uuid.UUID] | None = None


class ConcurrencyLimitSlots(ActionModel):
    """Body of the v1 ``increment`` / ``decrement``: the tags and the task run."""

    names: list[str] = Field(min_length=1)
    task_run_id: uuid.UUID
    # Sent by the official client's decrement; the contract's body ignores it, and so do we.
    occupancy_seconds: float | None = Field(default=None, ge=0)


class ConcurrencyLease(FlowyardModel):
    """One lease on a limit: who holds how many slots until when."""

    id: uuid.UUID
    created: dt.datetime | None = None
    updated: dt.datetime | None = None
    resource_ids: list[uuid.UUID] = Field(default_factory=list)
    slots: int = 1
    expiration: dt.datetime
    holder: dict[str, Any] | None = None


class ConcurrencyLimitResetV2(ActionModel):
    """Body of ``POST /v2/concurrency_limits/{id_or_name}/reset``: revoke every lease on
    the limit and set its held slots to ``active_slots`` (default 0)."""

    active_slots: int = Field(default=0, ge=0)


# --- concurrency status of work pools and work queues ------------------------------------


class FlowRunSlotSummary(FlowyardModel):
    """A flow run occupying a concurrency slot of a work pool or queue."""

    id: uuid.UUID
    name: str
    state_type: StateType | None = None
    state_name: str | None = None
    start_time: dt.datetime | None = None
    state_timestamp: dt.datetime | None = None
    time_in_current_state: float | None = None  # seconds


class WorkQueueConcurrencyStatusDetail(FlowyardModel):
    queue_id: uuid.UUID
    queue_name: str
    active_slots: int
    concurrency_limit: int | None = None
    flow_runs: list[FlowRunSlotSummary] = Field(default_factory=list)
    flow_run_count: int | None = None


class WorkPoolConcurrencyStatus(FlowyardModel):
    """A work pool's held slots, with a page of its queues (each with up to
    ``flow_run_limit`` of the runs holding its slots)."""

    active_slots: int
    concurrency_limit: int | None = None
    queues: list[WorkQueueConcurrencyStatusDetail] = Field(default_factory=list)
    count: int
    limit: int
    pages: int
    page: int


class WorkQueueConcurrencyStatus(FlowyardModel):
    """A work queue's held slots, with a page of the runs holding them."""

    active_slots: int
    concurrency_limit: int | None = None
    flow_runs: list[FlowRunSlotSummary] = Field(default_factory=list)
    count: int
    limit: int
    pages: int
    page: int


class WorkPoolConcurrencyStatusRequest(ActionModel):
    page: int = Field(default=1, ge=1)
    flow_run_limit: int = Field(default=10, ge=0, le=200)
    limit: int | None = Field(default=None, ge=0)


class WorkQueueConcurrencyStatusRequest(ActionModel):
    page: int = Field(default=1, ge=1)
    limit: int | None = Field(default=None, ge=0)
