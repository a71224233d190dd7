"""Flow-run control: leases held by running processes, resume with input, flow-run inputs
(the contract's ``/flow_runs/{id}/input``), and the blockers that keep a run from starting
(our extension, ``GET /flow_runs/{id}/blockers``).

:func:`json_schema_errors` checks a value against the JSON Schema a paused flow stored
(the schema pydantic generates for its input model), so a resume with bad input is
refused with the path of the field at fault.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import uuid
from typing import Any, Literal

from pydantic import Field

from flowyard.schemas.base import ActionModel, FlowyardModel, ObjectModel

# --- leases -------------------------------------------------------------------------------


class FlowRunLeaseRequest(ActionModel):
    """Take or renew the lease on a flow run for ``lease_seconds`` from now."""

    lease_seconds: float = Field(gt=0, le=86_400)
    holder: dict[str, Any] | None = None


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


class FlowRunInputFilter(ActionModel):
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

_TYPES: dict[str, Any] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "integer": lambda v: (
        (isinstance(v, int) and not isinstance(v, bool))
        or (isinstance(v, float) and math.isfinite(v) and v.is_integer())
    ),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
}


def json_schema_errors(value: Any, schema: dict[str, Any], path: str = "") -> list[str]:
    """Why ``value`` does not match ``schema`` (empty when it does), each reason prefixed
    with the dotted path of the field at fault. Covers what pydantic emits for a model:
    types, properties/required/additionalProperties, items, enum/const, anyOf/oneOf/allOf,
    local ``$ref``s and the usual numeric, string and array bounds."""
    return _check(value, schema, schema, path)


def _resolve(ref: str, root: dict[str, Any]) -> dict[str, Any]:
    node: Any = root
    for part in ref.removeprefix("#/").split("/"):
        node = node.get(part, {}) if isinstance(node, dict) else {}
    return node if isinstance(node, dict) else {}


def _at(path: str) -> str:
    return f"{path}: " if path else ""


def _check(value: Any, schema: Any, root: dict[str, Any], path: str) -> list[str]:
    if not isinstance(schema, dict):
        return []
    if "$ref" in schema:
        return _check(value, _resolve(schema["$ref"], root), root, path)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [_check(value, option, root, path) for option in schema[key]]
            if all(options):
                return min(options, key=len)
    errors: list[str] = []
    for option in schema.get("allOf", ()):
        errors += _check(value, option, root, path)
    expected = schema.get("type")
    if expected is not None:
        names = expected if isinstance(expected, list) else [expected]
        if not any(_TYPES.get(name, lambda v: True)(value) for name in names):
            return [*errors, f"{_at(path)}{value!r} is not of type {' or '.join(names)}"]
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{_at(path)}{value!r} is not one of {schema['enum']!r}")
    if "const" in schema and value != schema["const"]:
        errors.append(f"{_at(path)}{value!r} is not {schema['const']!r}")
    if isinstance(value, dict):
        errors += _check_object(value, schema, root, path)
    elif isinstance(value, list):
        errors += _check_array(value, schema, root, path)
    elif isinstance(value, str):
        errors += _check_string(value, schema, path)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        errors += _check_number(value, schema, path)
    return errors


def _check_object(
    value: dict[str, Any], schema: dict[str, Any], root: dict[str, Any], path: str
) -> list[str]:
    errors: list[str] = []
    properties = schema.get("properties", {})
    for name in schema.get("required", ()):
        if name not in value:
            errors.append(f"{path + '.' if path else ''}{name}: field required")
    extra = schema.get("additionalProperties", True)
    for name, item in value.items():
        where = f"{path}.{name}" if path else str(name)
        if name in properties:
            errors += _check(item, properties[name], root, where)
        elif extra is False:
            errors.append(f"{where}: extra field not permitted")
        elif isinstance(extra, dict):
            errors += _check(item, extra, root, where)
    return errors


def _check_array(
    value: list[Any], schema: dict[str, Any], root: dict[str, Any], path: str
) -> list[str]:
    errors: list[str] = []
    if "minItems" in schema and len(value) < schema["minItems"]:
        errors.append(f"{_at(path)}expected at least {schema['minItems']} items")
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        errors.append(f"{_at(path)}expected at most {schema['maxItems']} items")
    prefix = schema.get("prefixItems", [])
    items = schema.get("items")
    for index, item in enumerate(value):
        where = f"{path}.{index}" if path else str(index)
        if index < len(prefix):
            errors += _check(item, prefix[index], root, where)
        elif isinstance(items, dict):
            errors += _check(item, items, root, where)
    return errors


def _check_string(value: str, schema: dict[str, Any], path: str) -> list[str]:
    errors: list[str] = []
    if "minLength" in schema and len(value) < schema["minLength"]:
        errors.append(f"{_at(path)}expected at least {schema['minLength']} characters")
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        errors.append(f"{_at(path)}expected at most {schema['maxLength']} characters")
    pattern = schema.get("pattern")
    if pattern is not None and re.search(pattern, value) is None:
        errors.append(f"{_at(path)}{value!r} does not match {pattern!r}")
    return errors


def _check_number(value: float, schema: dict[str, Any], path: str) -> list[str]:
    errors = []
    if "minimum" in schema and not value >= schema["minimum"]:
        errors.append(f"{_at(path)}{value!r} must be at least {schema['minimum']!r}")
    if "maximum" in schema and not value <= schema["maximum"]:
        errors.append(f"{_at(path)}{value!r} must be at most {schema['maximum']!r}")
    if "exclusiveMinimum" in schema and not value > schema["exclusiveMinimum"]:
        errors.append(f"{_at(path)}{value!r} must be greater than {schema['exclusiveMinimum']!r}")
    if "exclusiveMaximum" in schema and not value < schema["exclusiveMaximum"]:
        errors.append(f"{_at(path)}{value!r} must be less than {schema['exclusiveMaximum']!r}")
    return errors
