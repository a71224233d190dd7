"""Schedules of a deployment, as the contract shapes them: cron, interval and rrule.

Validation lives here so that a bad cron string, rrule or timezone is refused by the API
with a message naming the field, and by the SDK before anything is sent. The arithmetic
that turns a schedule into run times lives in ``server/schedules``.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from functools import lru_cache
from typing import Annotated, Any

from pydantic import Discriminator, Field, Tag, field_serializer, field_validator

from flowyard.schemas.base import FlowyardModel

_MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
_DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]
_ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
# (name, lowest, highest, names for values) of the five fields.
_FIELDS = (
    ("minute", 0, 59, None),
    ("hour", 0, 23, None),
    ("day of month", 1, 31, None),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 7, _DAYS),
)


def _value(text: str, field: tuple[str, int, int, list[str] | None]) -> int:
    name, low, high, names = field
    upper = text.upper()
    if names is not None and upper in names:
        return names.index(upper) + (1 if name == "month" else 0)
    if not text.isdigit():
        raise ValueError(f"{text!r} is not a valid {name}")
    number = int(text)
    if not low <= number <= high:
        raise ValueError(f"{name} {number} is out of range {low}-{high}")
    return number


def _field(text: str, field: tuple[str, int, int, list[str] | None]) -> tuple[frozenset[int], bool]:
    """The values one cron field allows, and whether it was a bare ``*``."""
    name, low, high, _ = field
    values: set[int] = set()
    for part in text.split(","):
        base, _, step_text = part.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) == 0:
                raise ValueError(f"{part!r}: the step of the {name} must be a positive number")
            step = int(step_text)
        if base == "*":
            first, last = low, high
        elif "-" in base:
            start, _, end = base.partition("-")
            first, last = _value(start, field), _value(end, field)
            if first > last:
                raise ValueError(f"{part!r}: the {name} range runs backwards")
        else:
            first = _value(base, field)
            last = high if step_text else first
        values.update(range(first, last + 1, step))
    if name == "day of week" and 7 in values:  # 7 is Sunday too
        values = (values - {7}) | {0}
    return frozenset(values), text == "*"


class CronSpec:
    """A parsed five-field cron expression."""

    def __init__(self, expression: str) -> None:
        text = _ALIASES.get(expression.strip().lower(), expression.strip())
        parts = text.split()
        if len(parts) != 5:
            raise ValueError(
                f"{expression!r} is not a cron expression: it needs 5 fields "
                "(minute hour day-of-month month day-of-week)"
            )
        parsed = [_field(part, field) for part, field in zip(parts, _FIELDS, strict=True)]
        self.minutes = sorted(parsed[0][0])
        self.hours = sorted(parsed[1][0])
        self.days, self.any_day = parsed[2]
        self.months = parsed[3][0]
        self.weekdays, self.any_weekday = parsed[4]

    def matches_date(self, day: dt.date, day_or: bool) -> bool:
        if day.month not in self.months:
            return False
        dom = day.day in self.days
        dow = (day.isoweekday() % 7) in self.weekdays
        if self.any_day or self.any_weekday or not day_or:
            return dom and dow
        return dom or dow


@lru_cache(maxsize=256)
def parse_cron(expression: str) -> CronSpec:
    """Parse a cron expression; ValueError naming the bad part."""
    return CronSpec(expression)


def check_timezone(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown timezone {value!r}") from None
    return value


class CronSchedule(FlowyardModel):
    """Runs at the times a cron expression names, in ``timezone`` (UTC if not given)."""

    cron: str
    timezone: str | None = None
    day_or: bool = True

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        parse_cron(value)
        return value

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str | None) -> str | None:
        return check_timezone(value)


class IntervalSchedule(FlowyardModel):
    """Runs every ``interval`` seconds from ``anchor_date``; whole days keep the local time."""

    interval: dt.timedelta
    anchor_date: dt.datetime = Field(default_factory=lambda: dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    timezone: str | None = None

    @field_validator("interval")
    @classmethod
    def _positive(cls, value: dt.timedelta) -> dt.timedelta:
        if value.total_seconds() <= 0:
            raise ValueError("the interval must be more than 0 seconds")
        return value

    @field_serializer("interval")
    def _seconds(self, value: dt.timedelta) -> float:
        return value.total_seconds()  # the contract sends a number of seconds

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str | None) -> str | None:
        return check_timezone(value)


class RRuleSchedule(FlowyardModel):
    """Runs at the times an RFC 5545 recurrence rule names, in ``timezone``."""

    rrule: str
    timezone: str | None = "UTC"

    @field_validator("rrule")
    @classmethod
    def _valid_rrule(cls, value: str) -> str:
        from dateutil import rrule

        try:
            rrule.rrulestr(value, dtstart=dt.datetime(2020, 1, 1), cache=False)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"invalid rrule {value!r}: {exc}") from None
        return value

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str | None) -> str | None:
        return check_timezone(value)


Schedule = IntervalSchedule | CronSchedule | RRuleSchedule


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "cron" if "cron" in value else "rrule" if "rrule" in value else "interval"
    if isinstance(value, CronSchedule):
        return "cron"
    return "rrule" if isinstance(value, RRuleSchedule) else "interval"


# Chosen by key, so that a bad cron is reported as a bad cron, not as a missing interval.
ScheduleField = Annotated[
    Annotated[IntervalSchedule, Tag("interval")]
    | Annotated[CronSchedule, Tag("cron")]
    | Annotated[RRuleSchedule, Tag("rrule")],
    Discriminator(_kind),
]


def schedule_from_json(value: dict[str, Any]) -> Schedule:
    """The schedule model a stored JSON object describes."""
    if "cron" in value:
        return CronSchedule.model_validate(value)
    if "rrule" in value:
        return RRuleSchedule.model_validate(value)
    return IntervalSchedule.model_validate(value)
