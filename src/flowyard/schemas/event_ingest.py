"""An event a client sends (``POST /events``, the ``/events/in`` websocket), bounded.

The same shape as :class:`core.Event`, with the request bounds (``request_bounds``: no NUL
anywhere, datetimes representable in UTC, strings bounded) and those of Prefect's server:
the event's name and resource id fit their columns, a resource has at most
``MAX_EVENT_LABELS`` labels, an event at most ``MAX_EVENT_RELATED`` related resources and
``MAX_EVENT_BYTES`` bytes as JSON. The read model stays unbounded: events the server makes
itself are trusted, and building them stays cheap.
"""

from __future__ import annotations

from typing import Any, Self

import pydantic_core
from pydantic import Field, GetCoreSchemaHandler, field_validator, model_validator
from pydantic_core import core_schema

from flowyard.schemas.core import Event
from flowyard.schemas.limits import (
    MAX_EVENT_BYTES,
    MAX_EVENT_LABELS,
    MAX_EVENT_RELATED,
    MAX_NAME_LENGTH,
    ShortText,
)
from flowyard.schemas.request_bounds import bound_request_schema

RESOURCE_ID = "prefect.resource.id"


def _bounded_resource(resource: dict[str, str]) -> dict[str, str]:
    if len(resource) > MAX_EVENT_LABELS:
        raise ValueError(f"a resource may have at most {MAX_EVENT_LABELS} labels")
    if len(resource.get(RESOURCE_ID, "")) > MAX_NAME_LENGTH:
        raise ValueError(f"{RESOURCE_ID} may be at most {MAX_NAME_LENGTH} characters")
    return resource


class EventIn(Event):
    __flowyard_request__ = True

    event: ShortText
    related: list[dict[str, str]] = Field(default_factory=list, max_length=MAX_EVENT_RELATED)

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        schema = handler(source)
        bound_request_schema(schema)
        return schema

    @field_validator("resource")
    @classmethod
    def _bounded_resource(cls, value: dict[str, str]) -> dict[str, str]:
        return _bounded_resource(value)

    @field_validator("related")
    @classmethod
    def _bounded_related(cls, value: list[dict[str, str]]) -> list[dict[str, str]]:
        for resource in value:
            _bounded_resource(resource)
        return value

    @model_validator(mode="after")
    def _bounded_size(self) -> Self:
        size = len(pydantic_core.to_json(self))
        if size > MAX_EVENT_BYTES:
            raise ValueError(
                f"the event is {size} bytes as JSON; at most {MAX_EVENT_BYTES} bytes are accepted"
            )
        return self
