"""The bounds every request model applies to what it accepts, in its core schema.

Out of range is a 422 naming the field, at validation, never a 500 from the database or
the serializer, nor a request that holds the server:

- every integer fits the 32-bit INTEGER columns (PostgreSQL refuses a larger one with an
  error, SQLite above 64 bits); every float is finite (JSON's 1e400 parses as infinity);
- no string holds a NUL character (PostgreSQL refuses it in text and in JSONB), free-form
  JSON values (parameters, job variables) included, keys and values at any depth;
- every string has a maximum length (its own, else ``limits.MAX_TEXT_LENGTH``);
- every list inside a filter has at most ``limits.MAX_FILTER_ITEMS`` items;
- every datetime can be converted to UTC (``0001-01-01T00:00:00+05:00`` cannot).

Applied to the core schema of each request model (:func:`bound_request_schema`), so the
checks run in pydantic-core (but for free-form JSON values, walked once in Python, and
datetimes) and the published schema states the bounds.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from pydantic import BaseModel
from pydantic_core import core_schema

from flowyard.schemas.limits import MAX_FILTER_ITEMS, MAX_TEXT_LENGTH, MAX_YEAR, MIN_YEAR

INT_MIN, INT_MAX = -(2**31), 2**31 - 1
NO_NUL = "^[^\x00]*$"

# Set on a class whose schema the bounds apply to (request models; the events a client
# sends), and on filters, whose lists are bounded as well.
BOUNDED = "__flowyard_request__"
FILTER = "__flowyard_filter__"


def _no_nul_inside(value: Any) -> Any:
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if "\x00" in item:
                raise ValueError("must not contain a NUL character (\\u0000)")
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return value


def _representable_in_utc(value: dt.datetime) -> dt.datetime:
    # Stored and compared in UTC: a time whose UTC value is outside the years a datetime
    # holds made every write and every filter with it fail with an OverflowError.
    if value.tzinfo is not None:
        try:
            value.astimezone(dt.UTC)
        except OverflowError:
            raise ValueError(
                f"must fall within the years {MIN_YEAR:04d}-{MAX_YEAR} once converted to UTC"
            ) from None
    return value


# Validators the walk wraps schemas in: a schema shared by several models passes here once
# per model, and wrapping it again each time nested it deep enough to overflow the
# JSON-schema generator's recursion.
_WRAPPERS = (_no_nul_inside, _representable_in_utc)


def bound_request_schema(schema: Any, *, in_filter: bool = False) -> None:
    """Add the bounds to ``schema`` (a core schema, changed in place)."""
    if isinstance(schema, list):
        for item in schema:
            bound_request_schema(item, in_filter=in_filter)
        return
    if not isinstance(schema, dict):
        return
    kind = schema.get("type")
    if kind == "model":
        cls = schema["cls"]
        if not getattr(cls, BOUNDED, False):
            return  # another base's schema: not ours to change
        in_filter = bool(getattr(cls, FILTER, False))
    if kind == "function-after" and schema.get("function", {}).get("function") in _WRAPPERS:
        return
    if kind == "int":
        schema["ge"] = max(schema.get("ge", INT_MIN), INT_MIN)
        schema["le"] = min(schema.get("le", INT_MAX), INT_MAX)
    elif kind == "float":
        schema["allow_inf_nan"] = False
    elif kind == "str":
        schema.setdefault("pattern", NO_NUL)
        schema.setdefault("max_length", MAX_TEXT_LENGTH)
    elif kind == "list" and in_filter:
        schema.setdefault("max_length", MAX_FILTER_ITEMS)
    elif kind in ("any", "datetime"):
        check = _no_nul_inside if kind == "any" else _representable_in_utc
        inner = dict(schema)
        schema.clear()
        schema.update(core_schema.no_info_after_validator_function(check, inner))
        return
    for key, value in schema.items():
        if key != "metadata" and isinstance(value, dict | list):
            bound_request_schema(value, in_filter=in_filter)


def bound_nested_read_model(value: Any) -> Any:
    """The NUL, datetime and float bounds for read models nested in a request (a state's
    ``state_details``, a run's ``empirical_policy``, a task's ``task_inputs``): their schema
    is shared with reads, so they are checked here instead, once validated."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, BaseModel):
            pending.extend(item.__dict__.values())
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            pending.extend(item)
        elif isinstance(item, dt.datetime):
            _representable_in_utc(item)
        elif isinstance(item, float) and not math.isfinite(item):
            raise ValueError("numbers must be finite")
        elif isinstance(item, str) and "\x00" in item:
            raise ValueError("must not contain a NUL character (\\u0000)")
    return value
