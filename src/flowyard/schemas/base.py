"""Base classes for every API schema."""

from __future__ import annotations

import datetime as dt
import types
import typing
import uuid
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field, GetCoreSchemaHandler, model_validator
from pydantic_core import core_schema

from flowyard.schemas.request_bounds import bound_request_schema


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class FlowyardModel(BaseModel):
    """Read models: ignore unknown keys so newer servers stay readable by older clients."""

    # defer_build: a model's validator is built on its first use, not at import. A client
    # process uses a handful of the ~200 models; building all of them cost half a second.
    model_config = ConfigDict(
        extra="ignore", from_attributes=True, populate_by_name=True, defer_build=True
    )

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
# not admit None, and those it names in ``null_leaves_unchanged``. Filled on a model's
# first validation, when its annotations are resolved.
_NULL_MEANS_DEFAULT: dict[type[BaseModel], frozenset[str]] = {}


def _null_means_default_keys(model: type[BaseModel]) -> frozenset[str]:
    keys = _NULL_MEANS_DEFAULT.get(model)
    if keys is None:
        found: set[str] = set(getattr(model, "null_leaves_unchanged", ()))
        for name, field in model.model_fields.items():
            if not field.is_required() and not _admits_none(field.annotation):
                found.add(name)
                if field.alias:
                    found.add(field.alias)
        keys = _NULL_MEANS_DEFAULT[model] = frozenset(found)
    return keys


class ActionModel(BaseModel):
    """Request bodies: unknown keys are an error, as in the Prefect contract.

    ``null`` on a field that has a default but is not nullable means "use the default", as
    for Prefect's optional body parameters (FastAPI reads a null ``Body()`` value as absent):
    the official client sends ``{"offset": null}`` and expects the default offset. The key
    is dropped before validation, so the field is not even marked as set (an update body
    leaves the column alone). A required field is still refused when null.
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True, defer_build=True)
    # Bounded: integers, floats, strings, datetimes (see ``request_bounds``).
    __flowyard_request__ = True
    # Fields whose ``null`` leaves the stored value as it is (an update of a column that
    # cannot be empty): the key is dropped before validation, as if it had not been sent.
    null_leaves_unchanged: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        schema = handler(source)
        bound_request_schema(schema)
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


class FilterModel(ActionModel):
    """A filter (or one of its parts): every list in it is bounded as well
    (``limits.MAX_FILTER_ITEMS``), so that no filter compiles to a statement that holds
    the server."""

    __flowyard_filter__ = True


def build_every_model() -> None:
    """Build the validator of every schema model now rather than on first use.

    The models defer that (``defer_build``) so that a client builds only those it uses.
    The server uses them all, and FastAPI must meet them built: a route declared with a
    deferred model defers its own parameter's validator too, then builds it on the first
    request, inside the route's annotated field (pydantic warns there about FastAPI's
    parameter alias). The server calls this before declaring a route.
    """
    import importlib
    import pkgutil

    import flowyard.schemas as package

    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{module.name}")
    pending: list[type[BaseModel]] = [FlowyardModel, ActionModel]
    while pending:
        model = pending.pop()
        pending.extend(model.__subclasses__())
        if not model.__pydantic_complete__:
            model.model_rebuild()
        # A TypeAdapter over a model follows the model's config: FastAPI's (one per route
        # parameter and response) must be built when the route is declared, as before.
        model.model_config["defer_build"] = False


class ObjectModel(FlowyardModel):
    """A stored object: id plus created/updated timestamps."""

    id: uuid.UUID = Field(default_factory=uuid.uuid4)
    created: dt.datetime | None = None
    updated: dt.datetime | None = None
