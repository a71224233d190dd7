"""Response envelopes that are not a plain object or list.

Each is the model a route declares as its ``response_model``, so that the published
OpenAPI document describes the answer as the Prefect contract does (``FlowPaginationResponse``,
``EventPage``, ``CsrfToken``, ...); the routes still serialise with orjson and never
validate their own answers against these.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

from flowyard.schemas.base import FlowyardModel, ObjectModel
from flowyard.schemas.core import Event, Flow, FlowRun, TaskRun


class PaginatedResponse(FlowyardModel):
    results: list[Any]
    count: int
    limit: int
    pages: int
    page: int


class FlowPage(PaginatedResponse):
    """``POST /flows/paginate`` (the contract's ``FlowPaginationResponse``)."""

    results: list[Flow]


class FlowRunPage(PaginatedResponse):
    """``POST /flow_runs/paginate`` (the contract's ``FlowRunPaginationResponse``)."""

    results: list[FlowRun]


class TaskRunPage(PaginatedResponse):
    """``POST /task_runs/paginate`` (the contract's ``TaskRunPaginationResponse``)."""

    results: list[TaskRun]


class BulkDeleteResponse(FlowyardModel):
    """``POST /flow_runs/bulk_delete``, ``/deployments/bulk_delete``: the ids deleted."""

    deleted: list[uuid.UUID]


class FlowRunCreateResult(FlowyardModel):
    """One run of ``POST /deployments/{id}/create_flow_run/bulk``: created, or why not."""

    flow_run_id: uuid.UUID | None = None
    status: Literal["CREATED", "FAILED"]
    error: str | None = None


class FlowRunBulkCreateResponse(FlowyardModel):
    """``POST /deployments/{id}/create_flow_run/bulk``: the outcome of each run, in order."""

    results: list[FlowRunCreateResult]


class ReceivedEvent(Event):
    """An event as stored: ``received`` is set by the server."""

    received: dt.datetime


class EventPage(FlowyardModel):
    """``POST /events/filter`` and ``GET /events/filter/next``."""

    events: list[ReceivedEvent]
    total: int
    next_page: str | None


class ServerSettings(FlowyardModel):
    """``GET /admin/settings``: the few settings a client may read (never a secret)."""

    api_default_limit: int
    logging_level: str


class ServerDefaultResultStorage(FlowyardModel):
    """``GET /admin/storage``."""

    default_result_storage_block_id: uuid.UUID | None = None


class CsrfToken(ObjectModel):
    """``GET /csrf-token`` when CSRF protection is on (single-user mode answers 422)."""

    token: str
    client: str
    expiration: dt.datetime


def paginated(results: list[Any], count: int, limit: int, page: int) -> dict[str, Any]:
    pages = (count + limit - 1) // limit if limit else 0
    return {"results": results, "count": count, "limit": limit, "pages": pages, "page": page}


class ValidationErrorDetail(FlowyardModel):
    loc: list[str | int]
    msg: str
    type: str


class ErrorResponse(FlowyardModel):
    """A refusal: ``detail`` says what is wrong, in one line.

    A request that fails validation (422) also has the contract's ``exception_message`` and
    ``exception_detail`` (one entry per field), and ``request_body`` is always null: a
    refused body is never echoed (it may hold secrets).
    """

    detail: str
    exception_message: str | None = None
    exception_detail: list[ValidationErrorDetail] | None = None
    request_body: None = None


class TaskWorkerResponse(FlowyardModel):
    """``POST /task_workers/filter``: a background task worker and the tasks it serves."""

    identifier: str
    task_keys: list[str]
    timestamp: dt.datetime
