"""Flow-run control: leases held by running processes, resume with input, flow-run inputs
(the contract's ``/flow_runs/{id}/input``), and the blockers that keep a run from starting
(our extension, ``GET /flow_runs/{id}/blockers``).

:func:`json_schema_errors` checks a value against the JSON Schema a paused flow stored
(the schema pydantic generates for its input model), so a resume with bad input is
refused with the path of the field at fault.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

from pydantic import Field

from flowyard.schemas.base import ActionModel, FilterModel, FlowyardModel, ObjectModel
from flowyard.schemas.states import SetStateRequest

# --- leases -------------------------------------------------------------------------------


class FlowRunLeaseRequest(ActionModel):
    """Take or renew the lease on a flow run for ``lease_seconds`` from now."""

    lease_seconds: float = Field(gt=0, le=86_400)
    holder: dict[str, Any] | None = None


class FlowRunSetStateRequest(SetStateRequest):
    """The body of ``POST /flow_runs/{id}/set_state``: the contract's, plus ``lease``.

    A Flowyard SDK process declares the lease it will renew with the Running proposal it
    sends anyway: the server takes it in the same transaction when Running is accepted, so
    a run holds a lease from its first moment in Running without a round trip of its own.
    The official client sends no ``lease`` (its heartbeat events renew one instead).
    """

    lease: FlowRunLeaseRequest | None = None


class FlowRunLease(FlowyardModel):
    """The answer to a heartbeat: the run's state now, and until when the lease holds
    (``expiration`` is None when the run no longer needs a lease, e.g. it finished)."""

    flow_run_id: uuid.UUID
    state_type: str | None = None
    state_name: str | None = None
    expiration: dt.datetime | None = None
    lease_seconds: float | None = None


# --- resume and inputs --------------------------------------------------------------------


class ResumeFlowRun(ActionModel):
    run_input: dict[str, Any] | None = None


class FlowRunInputCreate(ActionModel):
    key: str = Field(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9_.\-]+$")
    value: str
    sender: str | None = Field(default=None, max_length=255)


class FlowRunInputFilter(FilterModel):
    prefix: str = Field(max_length=255)
    limit: int = Field(default=1, ge=1, le=200)
    exclude_keys: list[str] = Field(default_factory=list)


class FlowRunInput(ObjectModel):
    flow_run_id: uuid.UUID
    key: str
    value: str
    sender: str | None = None


# --- blockers -----------------------------------------------------------------------------

BlockerKind = Literal[
    "scheduled_in_future",
    "awaiting_retry",
    "deployment_paused",
    "work_pool_paused",
    "work_queue_paused",
    "no_worker",
    "concurrency_limit_full",
]


class FlowRunBlocker(FlowyardModel):
    """One reason a run does not start: ``kind`` for programs, ``message`` for people,
    ``details`` with the names, times and holders involved."""

    kind: BlockerKind
    message: str
    details: dict[str, Any] = Field(default_factory=dict)


class FlowRunBlockers(FlowyardModel):
    """What holds a Scheduled, Late or Pending run; empty for runs that are not waiting."""

    flow_run_id: uuid.UUID
    state_type: str | None = None
    state_name: str | None = None
    blockers: list[FlowRunBlocker] = Field(default_factory=list)


# --- JSON Schema check --------------------------------------------------------------------


def json_schema_errors(value: Any, schema: dict[str, Any], path: str = "") -> list[str]:
    """Why ``value`` does not match ``schema`` (empty when it does), each reason prefixed
    with the dotted path of the field at fault (at most five: the 422 shows that many).

    The check is :mod:`flowyard.schemas.json_schema`. A schema that cannot be used (cyclic
    or unresolvable ``$ref``, bad ``pattern`` or bound, too complex) is reported the same
    way, as a reason, because the route answers every reason with a 422: the stored schema
    is the flow's, the request cannot fix it, but a 500 would hide what is wrong."""
    # Imported here: jsonschema (and attrs, referencing) cost a client that never checks a
    # run input a tenth of a second at import.
    from flowyard.schemas.json_schema import SchemaError, problems

    try:
        return [str(problem) for problem in problems(value, schema, path=path, limit=5)]
    except SchemaError as exc:
        return [f"{exc.path or '(schema)'}: the stored input schema cannot be used: {exc.reason}"]
