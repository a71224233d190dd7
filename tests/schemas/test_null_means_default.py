"""A request body field that has a default takes it when the client sends ``null``.

Prefect's server declares its optional body parameters one by one (``offset: int =
Body(0)``), and FastAPI treats a ``null`` there as "not given". The official client relies
on it: ``read_logs()`` sends ``"offset": null``. Flowyard parses each body as one model, so
the same rule lives in the request-body base class; these tests walk every such class.
"""

from __future__ import annotations

import importlib
import pkgutil
import types
import typing
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

import flowyard.schemas
import flowyard.server.api
from flowyard.schemas.base import ActionModel


def _import_all(package: types.ModuleType) -> None:
    for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        importlib.import_module(module.name)


def _subclasses(cls: type[BaseModel]) -> list[type[BaseModel]]:
    out: list[type[BaseModel]] = []
    for sub in cls.__subclasses__():
        out.append(sub)
        out.extend(_subclasses(sub))
    return out


def _admits_none(annotation: Any) -> bool:
    if annotation is Any or annotation is None or annotation is type(None):
        return True
    return any(_admits_none(arg) for arg in typing.get_args(annotation))


def _request_models() -> list[type[BaseModel]]:
    # The request bodies are ActionModels, in schemas/ and beside the routers.
    _import_all(flowyard.schemas)
    _import_all(flowyard.server.api)
    return sorted(set(_subclasses(ActionModel)), key=lambda m: (m.__module__, m.__qualname__))


def _defaulted_non_nullable(model: type[BaseModel]) -> list[tuple[str, FieldInfo]]:
    return [
        (name, field)
        for name, field in model.model_fields.items()
        if not field.is_required() and not _admits_none(field.annotation)
    ]


CASES = [
    pytest.param(model, name, id=f"{model.__module__}.{model.__qualname__}.{name}")
    for model in _request_models()
    for name, _ in _defaulted_non_nullable(model)
]


def test_there_are_request_fields_to_check() -> None:
    # A guard on the walk itself: the contract has dozens of such fields (offsets, sorts,
    # operators, flags), so an empty list would mean the walk found no models.
    assert len(CASES) > 50
    names = {case.id for case in CASES}
    assert "flowyard.server.api.logs.LogFilterBody.offset" in names


@pytest.mark.parametrize(("model", "name"), CASES)
def test_null_takes_the_field_default(model: type[BaseModel], name: str) -> None:
    field = model.model_fields[name]
    key = field.alias or name
    try:
        parsed = model.model_validate({key: None})
    except ValidationError as error:
        # Other fields may be required; the one under test must not be among the errors.
        located = [e for e in error.errors() if e["loc"][:1] == (key,)]
        assert located == [], located
        return
    if field.default_factory is None:
        assert getattr(parsed, name) == field.default
    # Not recorded as set: an update body must not overwrite a column with the default.
    assert name not in parsed.model_fields_set


def test_null_on_a_required_field_is_still_refused() -> None:
    class Body(ActionModel):
        name: str
        offset: int = 0

    with pytest.raises(ValidationError) as caught:
        Body.model_validate({"name": None, "offset": None})
    assert [e["loc"] for e in caught.value.errors()] == [("name",)]
    assert Body.model_validate({"name": "x", "offset": None}).offset == 0


def test_null_on_a_nullable_field_stays_null() -> None:
    class Body(ActionModel):
        limit: int | None = 10

    assert Body.model_validate({"limit": None}).limit is None
