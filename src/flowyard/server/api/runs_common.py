"""What the flow-run and task-run routers share: the history body, and responses
serialised straight to JSON bytes.

Lists of runs are the largest responses the API sends; pydantic's serializer writes a page
of runs as bytes several times faster than dumping each to a dict and encoding that.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Generic, TypeVar

from fastapi import Response
from pydantic import BaseModel, TypeAdapter

from flowyard.schemas.base import FlowyardModel

ModelT = TypeVar("ModelT", bound=BaseModel)


class RunPage(FlowyardModel, Generic[ModelT]):
    """The ``/paginate`` envelope."""

    results: list[ModelT]
    count: int
    limit: int
    pages: int
    page: int


def json_bytes(content: bytes, status_code: int = 200) -> Response:
    return Response(content, status_code=status_code, media_type="application/json")


def respond_model(model: BaseModel, status_code: int = 200) -> Response:
    return json_bytes(model.__pydantic_serializer__.to_json(model), status_code)


_ADAPTERS: dict[Any, TypeAdapter[Any]] = {}


def respond_list(models: Sequence[ModelT], item_type: type[ModelT]) -> Response:
    adapter = _ADAPTERS.get(item_type)
    if adapter is None:
        adapter = _ADAPTERS[item_type] = TypeAdapter(list[item_type])  # type: ignore[valid-type]
    return json_bytes(adapter.dump_json(list(models)))


def respond_page(
    models: Sequence[ModelT], item_type: type[ModelT], count: int, limit: int, page: int
) -> Response:
    pages = (count + limit - 1) // limit if limit else 0
    envelope = RunPage[item_type](  # type: ignore[valid-type]
        results=list(models), count=count, limit=limit, pages=pages, page=page
    )
    return respond_model(envelope)
