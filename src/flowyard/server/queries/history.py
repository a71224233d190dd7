"""Run estimates (run time so far, lateness) and run history in time intervals.

The estimates exist twice: in Python for the runs a response shows, and in SQL for the
history aggregation. Both follow the same definitions:

- estimated run time: the time already accounted in ``total_run_time``, plus the time
  since the current state began when the run is RUNNING right now;
- estimated lateness (``estimated_start_time_delta``): how long after its expected start a
  run started; for a run that has not started, is not finished and should have started
  already, how late it is now.

History buckets runs by ``expected_start_time`` into intervals of a fixed length, counting
runs, run time and lateness per state type and name. It is one grouped query whatever the
number of intervals; empty intervals are filled in afterwards.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from flowyard.schemas.core import HistoryInterval, HistoryStateCount
from flowyard.schemas.history import interval_count
from flowyard.schemas.states import TERMINAL_STATES, StateType
from flowyard.server.database import orm
from flowyard.server.database.types import Timestamp
from flowyard.server.queries.filtering import Condition

TERMINAL_TYPES = tuple(str(state_type) for state_type in TERMINAL_STATES)

RunModel = type[orm.FlowRun] | type[orm.TaskRun]


# --- Python -------------------------------------------------------------------------------


class RunTimes(Protocol):
    """What the estimates read from a run."""

    @property
    def state_type(self) -> str | None: ...
    @property
    def state_timestamp(self) -> dt.datetime | None: ...
    @property
    def total_run_time(self) -> float: ...
    @property
    def expected_start_time(self) -> dt.datetime | None: ...
    @property
    def start_time(self) -> dt.datetime | None: ...


def estimated_run_time(run: RunTimes, now: dt.datetime) -> float:
    return run_time_estimate(run.state_type, run.state_timestamp, run.total_run_time, now)


def estimated_lateness(run: RunTimes, now: dt.datetime) -> float:
    return lateness_estimate(run.state_type, run.expected_start_time, run.start_time, now)


def run_time_estimate(
    state_type: str | None,
    state_timestamp: dt.datetime | None,
    total_run_time: float | None,
    now: dt.datetime,
) -> float:
    running_for = 0.0
    if state_type == StateType.RUNNING and state_timestamp is not None:
        running_for = max((now - state_timestamp).total_seconds(), 0.0)
    return (total_run_time or 0.0) + running_for


def lateness_estimate(
    state_type: str | None,
    expected: dt.datetime | None,
    start_time: dt.datetime | None,
    now: dt.datetime,
) -> float:
    if expected is None:
        return 0.0
    if start_time is not None:
        return max((start_time - expected).total_seconds(), 0.0)
    if expected < now and state_type not in TERMINAL_TYPES:
        return (now - expected).total_seconds()
    return 0.0


# --- SQL ----------------------------------------------------------------------------------


def seconds_between(later: Any, earlier: Any, dialect: str) -> Any:
    """``later - earlier`` in (fractional) seconds, for timestamp expressions."""
    if dialect == "postgresql":
        return sa.extract("epoch", later - earlier)
    # SQLite keeps timestamps as text; julianday() reads them with millisecond precision
    # but returns days as a float, so the difference is rounded back to whole milliseconds
    # (otherwise two minutes could come out as 119.99999 seconds, in the wrong interval).
    days = sa.func.julianday(later) - sa.func.julianday(earlier)
    return sa.func.round(days * 86_400_000.0) / 1000.0


def _at(value: dt.datetime) -> Any:
    return sa.literal(value, Timestamp())


def estimated_run_time_sql(model: RunModel, now: dt.datetime, dialect: str) -> Any:
    running_for = seconds_between(_at(now), model.state_timestamp, dialect)
    return sa.case(
        (
            sa.and_(model.state_type == StateType.RUNNING, model.state_timestamp.is_not(None)),
            model.total_run_time + running_for,
        ),
        else_=model.total_run_time,
    )


def estimated_lateness_sql(model: RunModel, now: dt.datetime, dialect: str) -> Any:
    not_finished = sa.or_(model.state_type.is_(None), model.state_type.not_in(TERMINAL_TYPES))
    return sa.case(
        (
            sa.and_(
                model.start_time.is_not(None), model.start_time > model.expected_start_time
            ),
            seconds_between(model.start_time, model.expected_start_time, dialect),
        ),
        (
            sa.and_(
                model.start_time.is_(None), model.expected_start_time < _at(now), not_finished
            ),
            seconds_between(_at(now), model.expected_start_time, dialect),
        ),
        else_=0.0,
    )


async def read_run_history(
    session: AsyncSession,
    model: RunModel,
    conditions: Sequence[Condition],
    start: dt.datetime,
    end: dt.datetime,
    interval_seconds: float,
    dialect: str,
    *,
    now: dt.datetime | None = None,
) -> list[HistoryInterval]:
    """Counts per interval and state, for runs matching ``conditions``.

    The caller validates the window (``end >= start``, at most
    :data:`MAX_HISTORY_INTERVALS` intervals of at least :data:`MIN_INTERVAL_SECONDS`).
    """
    now = now or dt.datetime.now(dt.UTC)
    count = interval_count(start, end, interval_seconds)
    window_end = start + dt.timedelta(seconds=interval_seconds * count)
    offset = seconds_between(model.expected_start_time, _at(start), dialect) / interval_seconds
    bucket = sa.func.floor(offset) if dialect == "postgresql" else offset
    # The bucket is computed in an inner select and grouped on in the outer one: PostgreSQL
    # would not recognise an expression with bound parameters as the same in both places.
    runs = (
        sa.select(
            sa.cast(bucket, sa.Integer).label("bucket"),
            model.state_type.label("state_type"),
            model.state_name.label("state_name"),
            estimated_run_time_sql(model, now, dialect).label("run_time"),
            estimated_lateness_sql(model, now, dialect).label("lateness"),
        )
        .where(
            *conditions,
            model.state_type.is_not(None),
            model.expected_start_time >= _at(start),
            model.expected_start_time < _at(window_end),
        )
        .subquery()
    )
    grouped = sa.select(
        runs.c.bucket,
        runs.c.state_type,
        runs.c.state_name,
        sa.func.count(),
        sa.func.sum(runs.c.run_time),
        sa.func.sum(runs.c.lateness),
    ).group_by(runs.c.bucket, runs.c.state_type, runs.c.state_name)
    totals: dict[tuple[int, str, str], list[float]] = {}
    for bucket_index, state_type, state_name, runs_count, run_time, lateness in (
        await session.execute(grouped)
    ).all():
        # Rounding at the very end of the window (below the database's time precision)
        # can land one step too far; such a run belongs to the last interval.
        key = (min(int(bucket_index), count - 1), state_type, state_name or "")
        total = totals.setdefault(key, [0, 0.0, 0.0])
        total[0] += runs_count
        total[1] += float(run_time or 0.0)
        total[2] += float(lateness or 0.0)
    per_bucket: dict[int, list[HistoryStateCount]] = {}
    for (index, state_type, state_name), (runs_count, run_time, lateness) in sorted(
        totals.items()
    ):
        per_bucket.setdefault(index, []).append(
            HistoryStateCount(
                state_type=StateType(state_type),
                state_name=state_name,
                count_runs=int(runs_count),
                sum_estimated_run_time=run_time,
                sum_estimated_lateness=lateness,
            )
        )
    step = dt.timedelta(seconds=interval_seconds)
    return [
        HistoryInterval(
            interval_start=start + step * index,
            interval_end=start + step * (index + 1),
            states=per_bucket.get(index, []),
        )
        for index in range(count)
    ]


async def average_lateness(
    session: AsyncSession, model: RunModel, conditions: Sequence[Condition], dialect: str
) -> float | None:
    """Mean lateness in seconds of the matching runs (None when nothing matches)."""
    lateness = estimated_lateness_sql(model, dt.datetime.now(dt.UTC), dialect)
    value = await session.scalar(sa.select(sa.func.avg(lateness)).where(*conditions))
    return None if value is None else float(value)

