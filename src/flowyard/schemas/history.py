"""Run history: a time window cut into equal intervals (``/flow_runs/history``,
``/task_runs/history``), with the bounds that keep one request's work small."""

from __future__ import annotations

import datetime as dt
import math

from pydantic import ValidationInfo, field_validator

from flowyard.schemas.filters import RunFilters

MAX_HISTORY_INTERVALS = 500
MIN_INTERVAL_SECONDS = 1.0


def interval_count(start: dt.datetime, end: dt.datetime, interval_seconds: float) -> int:
    """How many intervals cover ``start``..``end``: one starts at every step up to ``end``."""
    return math.floor((end - start).total_seconds() / interval_seconds) + 1


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
        if seconds < MIN_INTERVAL_SECONDS:
            raise ValueError(f"must be at least {MIN_INTERVAL_SECONDS:g} second")
        start, end = info.data.get("history_start"), info.data.get("history_end")
        if start is not None and end is not None:
            count = interval_count(start, end, seconds)
            if count > MAX_HISTORY_INTERVALS:
                raise ValueError(
                    f"the window would have {count} intervals; at most "
                    f"{MAX_HISTORY_INTERVALS} are allowed, use longer intervals"
                )
        return value
