"""Base classes for every API schema."""

from __future__ import annotations

import datetime as dt
import types
import typing
import uuid
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, GetCoreSchemaHandler, model_validator
from pydantic_core import core_schema


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class FlowyardModel(BaseModel):
    """Read models: ignore unknown keys so newer servers stay readable by older clients."""

    model_config = ConfigDict(extra="ignore", from_attributes=True, populate_by_name=True)

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls.model_validate(row, from_attributes=True)


def _admits_none(annotation: Any) -> bool:
    if annotation is Any or annotation is None or annotation is types.NoneType:
        return True
    return any(_admits_none(arg) for arg in typing.get_args(annotation))


# Per request model: the keys (names and aliases) of its fields that have a default but do
# not admit None. Filled on a model's first validation, when its annotations are resolved.
_NULL_MEANS_DEFAULT: dict[type[BaseModel], frozenset[str]] = {}


def _null_means_default_keys(model: type[BaseModel]) -> frozenset[str]:
    keys = _NULL_MEANS_DEFAULT.get(model)
    if keys is None:
        found: set[str] = set()
        for name, field in model.model_fields.items():
            if not field.is_required() and not _admits_none(field.annotation):
                found.add(name)
                if field.alias:
                    found.add(field.alias)
        keys = _NULL_MEANS_DEFAULT[model] = frozenset(found)
    return keys


# Every integer a request carries fits the 32-bit INTEGER columns (PostgreSQL refuses a
# larger one with an error, SQLite above 64 bits), every float is finite (JSON's 1e400
# parses as infinity), and no string holds a NUL character (PostgreSQL refuses it in text
# and in JSONB): out of range is a 422 naming the field, at validation, never a 500 from the
# database or the serializer. Applied to the core schema of each request model, so the
# checks run in pydantic-core (but for free-form JSON values, walked once in Python) and the
# published schema states the bounds.
INT_MIN, INT_MAX = -(2**31), 2**31 - 1
NO_NUL = "^[^\x00]*$"


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


def _is_request_model(cls: type) -> bool:
    # By name: ActionModel's own schema is built before the name ActionModel exists.
    return any(c.__name__ == "ActionModel" and c.__module__ == __name__ for c in cls.__mro__)


def _bound_numbers(schema: Any) -> None:
    if isinstance(schema, list):
        for item in schema:
            _bound_numbers(item)
        return
    if not isinstance(schema, dict):
        return
    kind = schema.get("type")
    if kind == "model" and not _is_request_model(schema["cls"]):
        return  # another base's schema: not ours to change
    if kind == "function-after" and schema.get("function", {}).get("function") is _no_nul_inside:
        # Wrapped already: a schema shared by several models passes here once per model,
        # and wrapping it again each time nested it deep enough to overflow the JSON-schema
        # generator's recursion.
        return
    if kind == "int":
        schema["ge"] = max(schema.get("ge", INT_MIN), INT_MIN)
        schema["le"] = min(schema.get("le", INT_MAX), INT_MAX)
    elif kind == "float":
        schema["allow_inf_nan"] = False
    elif kind == "str" and "pattern" not in schema:
        schema["pattern"] = NO_NUL
    elif kind == "any":
        inner = dict(schema)
        schema.clear()
        schema.update(core_schema.no_info_after_validator_function(_no_nul_inside, inner))
        return
    for key, value in schema.items():
        if key != "metadata" and isinstance(value, dict | list):
            _bound_numbers(value)


class ActionModel(BaseModel):
    """Request bodies: unknown keys are an error, as in the Prefect contract.

    ``null`` on a field that has a default but is not nullable means "use the default", as
    for Prefect's optional body parameters (FastAPI reads a null ``Body()`` value as absent):
    the official client sends ``{"offset": null}`` and expects the default offset. The key
    is dropped before validation, so the field is not even marked as set (an update body
    leaves the column alone). A required field is still refused when null.
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        schema = handler(source)
        _bound_numbers(schema)
        return schema

    @model_validator(mode="before")
    @classmethod
    def _null_means_default(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        keys = _null_means_default_keys(cls)
        if keys and any(data.get(key, 0) is None for key in keys):
            return {k: v for k, v in data.items() if v is not None or k not in keys}
        return data


class ObjectModel(FlowyardModel):
    """A stored object: id plus created/updated timestamps."""

    id: uuid.UUID = Field(default_factory=uuid.uuid4)
    created: dt.datetime | None = None
    updated: dt.datetime | None = None
