"""Base classes for every API schema."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field


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


class ActionModel(BaseModel):
    """Request bodies: unknown keys are an error, as in the Prefect contract."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ObjectModel(FlowyardModel):
    """A stored object: id plus created/updated timestamps."""

    id: uuid.UUID = Field(default_factory=uuid.uuid4)
    created: dt.datetime | None = None
    updated: dt.datetime | None = None
