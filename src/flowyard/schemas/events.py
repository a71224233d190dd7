"""Event counting (``POST /events/count-by/{countable}``), in the contract's shapes."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from pydantic import Field

from flowyard.schemas.base import ActionModel, FlowyardModel
from flowyard.schemas.filters import EventFilter


class Countable(StrEnum):
    """What to count events by: the day (or a time bucket) they occurred, their name, or
    their resource."""

    day = "day"
    time = "time"
    event = "event"
    resource = "resource"


class TimeUnit(StrEnum):
    week = "week"
    day = "day"
    hour = "hour"
    minute = "minute"
    second = "second"

    def seconds(self, interval: float) -> float:
        """The length of one bucket of ``interval`` units, in seconds."""
        return interval * _UNIT_SECONDS[self.value]


_UNIT_SECONDS = {"week": 604_800.0, "day": 86_400.0, "hour": 3_600.0, "minute": 60.0,
                 "second": 1.0}  # fmt: skip


class EventCountRequest(ActionModel):
    """The body of ``POST /events/count-by/{countable}``."""

    filter: EventFilter
    time_unit: TimeUnit = TimeUnit.day
    time_interval: float = Field(default=1.0, ge=0.01)


class EventCount(FlowyardModel):
    """The events with one value of the countable: how many, and when the first and last
    occurred (for time buckets: the bucket's bounds)."""

    value: str
    label: str
    count: int
    start_time: dt.datetime
    end_time: dt.datetime
