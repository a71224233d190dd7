"""What the flow-run and task-run routers share: the history body, and responses
serialised straight to JSON bytes.

Lists of runs are the largest responses the API sends; pydantic's serializer writes a page
of runs as bytes several times faster than dumping each to a dict and encoding that.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, Generic, TypeVar

from fastapi import Response
from pydantic import BaseModel, TypeAdapter, ValidationInfo, field_validator

from flowyard.schemas.base import FlowyardModel
from flowyard.schemas.filters import RunFilters
from flowyard.server.queries import history

ModelT = TypeVar("ModelT", bound=BaseModel)


class RunHistoryBody(RunFilters):
    """A time window cut into equal intervals, plus the usual run filters."""

    history_start: dt.datetime
    history_end: dt.datetime
    history_interval_seconds: dt.timedelta

    @field_validator("history_start", "history_end")
    @classmethod
    def _utc(cls, value: dt.datetime) -> dt.datetime:
        # Naive times are UTC; intervals are reported in UTC whatever offset was sent.
        return value.astimezone(dt.UTC) if value.tzinfo else value.replace(tzinfo=dt.UTC)

    @field_validator("history_end")
    @classmethod
    def _after_start(cls, value: dt.datetime, info: ValidationInfo) -> dt.datetime:
        start = info.data.get("history_start")
        if start is not None and value < start:
            raise ValueError("must not be before history_start")
        return value

    @field_validator("history_interval_seconds")
    @classmethod
    def _bounded(cls, value: dt.timedelta, info: ValidationInfo) -> dt.timedelta:
        seconds = value.total_seconds()
        if seconds < history.MIN_INTERVAL_SECONDS:
            raise ValueError(f"must be at least {history.MIN_INTERVAL_SECONDS:g} second")
        start, end = info.data.get("history_start"), info.data.get("history_end")
        if start is not None and end is not None:
            count = history.interval_count(start, end, seconds)
            if count > history.MAX_HISTORY_INTERVALS:
                raise ValueError(
                    f"the window would have {count} intervals; at most "
                    f"{history.MAX_HISTORY_INTERVALS} are allowed, use longer intervals"
                )
        return value


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
