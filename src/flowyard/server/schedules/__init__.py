"""Turning a schedule into the instants it fires at.

All three kinds work in the schedule's timezone on the wall clock, so a daily 02:00 stays
02:00 local across DST changes. Two edge cases on DST days, chosen so that no day is
silently skipped and no slot fires twice:

- a wall-clock time that does not exist (spring forward, 02:30 in New York) fires at the
  same offset after the gap (03:30 EDT), i.e. the instant the wall clock would show had it
  not jumped;
- a wall-clock time that happens twice (fall back, 01:30) fires once, at its first
  occurrence.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterator

from flowyard.schemas.schedules import (
    CronSchedule,
    IntervalSchedule,
    RRuleSchedule,
    Schedule,
    parse_cron,
)

# Years of dates with no match before a cron gives up (e.g. "0 0 31 2 *" never fires).
_MAX_CRON_DAYS = 366 * 8


def _zone(name: str | None) -> dt.tzinfo:
    return zoneinfo.ZoneInfo(name) if name else dt.UTC


def _instant(naive: dt.datetime, tz: dt.tzinfo) -> dt.datetime:
    """The UTC instant of a local wall-clock time (see the module docstring for DST)."""
    return naive.replace(tzinfo=tz, fold=0).astimezone(dt.UTC)


def next_times(
    schedule: Schedule, after: dt.datetime, until: dt.datetime, limit: int
) -> list[dt.datetime]:
    """Up to ``limit`` instants (UTC) in ``[after, until]``, in order."""
    out: list[dt.datetime] = []
    if limit <= 0:
        return out
    for when in iter_times(schedule, after):
        if when > until:
            break
        out.append(when)
        if len(out) >= limit:
            break
    return out


def iter_times(schedule: Schedule, after: dt.datetime) -> Iterator[dt.datetime]:
    """Every instant (UTC) of the schedule at or after ``after``, in order."""
    if isinstance(schedule, CronSchedule):
        return _cron_times(schedule, after)
    if isinstance(schedule, IntervalSchedule):
        return _interval_times(schedule, after)
    return _rrule_times(schedule, after)


def _cron_times(schedule: CronSchedule, after: dt.datetime) -> Iterator[dt.datetime]:
    spec = parse_cron(schedule.cron)
    tz = _zone(schedule.timezone)
    day = after.astimezone(tz).date() - dt.timedelta(days=1)  # the gap may push back a day
    last: dt.datetime | None = None
    for _ in range(_MAX_CRON_DAYS):
        if spec.matches_date(day, schedule.day_or):
            for hour in spec.hours:
                for minute in spec.minutes:
                    when = _instant(dt.datetime.combine(day, dt.time(hour, minute)), tz)
                    if when < after or (last is not None and when <= last):
                        continue  # before the window, or a gap time equal to a real one
                    last = when
                    yield when
        day += dt.timedelta(days=1)


def _interval_times(schedule: IntervalSchedule, after: dt.datetime) -> Iterator[dt.datetime]:
    step = schedule.interval
    anchor = schedule.anchor_date
    if anchor.tzinfo is None:
        anchor = anchor.replace(tzinfo=_zone(schedule.timezone))
    seconds = step.total_seconds()
    if seconds % 86400 == 0 and schedule.timezone:
        # Whole days step on the local calendar, keeping the anchor's wall-clock time.
        tz = _zone(schedule.timezone)
        local = anchor.astimezone(tz).replace(tzinfo=None)
        days = int(seconds // 86400)
        behind = (after.astimezone(tz).replace(tzinfo=None) - local).days
        if behind > 0:
            local += dt.timedelta(days=(behind // days) * days)
        while True:
            when = _instant(local, tz)
            if when >= after:
                yield when
            local += dt.timedelta(days=days)
    else:
        when = anchor.astimezone(dt.UTC)
        if when < after:
            skipped = int((after - when).total_seconds() // seconds)
            when += step * skipped
        while True:
            if when >= after:
                yield when
            when += step


def _rrule_times(schedule: RRuleSchedule, after: dt.datetime) -> Iterator[dt.datetime]:
    from dateutil import rrule

    tz = _zone(schedule.timezone)
    start = after.astimezone(tz).replace(second=0, microsecond=0, tzinfo=None)
    rule = rrule.rrulestr(schedule.rrule, dtstart=start, cache=False)
    for local in rule:  # naive local times unless the rule carries its own DTSTART zone
        when = local.astimezone(dt.UTC) if local.tzinfo else _instant(local, tz)
        if when >= after:
            yield when


__all__ = ["iter_times", "next_times"]
