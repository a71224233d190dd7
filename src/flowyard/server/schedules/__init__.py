"""Turning a schedule into the instants it fires at.

All three kinds work in the schedule's timezone on the wall clock, so a daily 02:00 stays
02:00 local across DST changes. Two edge cases on DST days, chosen so that no day is
silently skipped and no slot fires twice:

- a wall-clock time that does not exist (spring forward, 02:30 in New York) fires at the
  same offset after the gap (03:30 EDT), i.e. the instant the wall clock would show had it
  not jumped;
- a wall-clock time that happens twice (fall back, 01:30) fires once, at its first
  occurrence.

This is also what prefect 3.9.1's server does for cron (``CronSchedule._get_dates_whenever``:
croniter walks naive wall times, each resolved with the earlier offset, ``compatible``),
and a cron yields the same instants in the same order as there (a test compares a corpus
against the official package).

Every walk is bounded, whatever the schedule: this runs on the server's event loop (each
scheduler pass, and inside ``POST /deployments``). Intervals jump to ``after``
arithmetically; a cron starts its walk just before ``after`` (croniter jumps to the next
match itself, and gives up after 50 years without one: ``0 0 31 2 *``); an rrule starts a
whole number of its periods after its DTSTART, close before ``after`` (same phase, so the
same occurrences), and charges a budget on the months it walks and the occurrences it
passes over (``schemas.schedules.RRuleBudget``): a rule that is rare or never fires ends
the walk instead of holding the loop.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections import deque
from collections.abc import Iterator
from typing import Any

from croniter import CroniterError, croniter
from dateutil import rrule as _rrule

from flowyard.schemas.schedules import (
    RRULE_MAX_SKIPPED,
    CronSchedule,
    IntervalSchedule,
    RRuleBudget,
    RRuleBudgetExceeded,
    RRuleSchedule,
    Schedule,
    bounded_rruleset,
    parse_rrule,
)

# How far back a cron walk remembers what it gave, to drop a repeat: a gap time shifted
# forward can only meet a real time within the gap's length (a day at most: Samoa, 2011).
_CRON_REPEAT_WINDOW = dt.timedelta(days=2)
# Months an rrule may walk beyond the window asked for (its rebased start lies up to a
# period before ``after``), and at most in all: a rule with COUNT keeps its own start.
_RRULE_SLACK_MONTHS = 24
_RRULE_MAX_MONTHS = 12 * 50
# How far before ``after`` (on the wall clock the rule is walked on) a rebased rrule starts
# at least; more across a change of UTC offset (DST, or a zone moving its clock by a day).
_REBASE_MARGIN = dt.timedelta(hours=1)
_FIXED_PERIODS = {
    _rrule.WEEKLY: dt.timedelta(weeks=1),
    _rrule.DAILY: dt.timedelta(days=1),
    _rrule.HOURLY: dt.timedelta(hours=1),
    _rrule.MINUTELY: dt.timedelta(minutes=1),
    _rrule.SECONDLY: dt.timedelta(seconds=1),
}


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
    for when in iter_times(schedule, after, until):
        if when > until:
            break
        out.append(when)
        if len(out) >= limit:
            break
    # A cron walks wall-clock order; where a DST change is not a whole number of the
    # cron's steps (Lord Howe's 30 minutes), a shifted gap time may come before a time it
    # overtook. Like Prefect, the first ``limit`` of that walk are the ones kept.
    return sorted(out)


def iter_times(
    schedule: Schedule, after: dt.datetime, until: dt.datetime | None = None
) -> Iterator[dt.datetime]:
    """The instants (UTC) of the schedule at or after ``after``, in order (a cron in its
    wall-clock order, see :func:`next_times`). The walk is bounded (see the module
    docstring): a cron or rrule may end early after ``until`` (about 20 years on when not
    given), never before it."""
    if isinstance(schedule, CronSchedule):
        return _cron_times(schedule, after)
    if isinstance(schedule, IntervalSchedule):
        return _interval_times(schedule, after)
    return _rrule_times(schedule, after, until or after + dt.timedelta(days=366 * 20))


def _cron_times(schedule: CronSchedule, after: dt.datetime) -> Iterator[dt.datetime]:
    tz = _zone(schedule.timezone)
    # Wall times just before ``after``'s own may fall in a DST gap and so fire after it
    # (02:30 runs at 03:30 EDT): start the walk that much earlier, and let ``when <
    # after`` drop the rest. A second less, so that a match at ``after`` itself is found.
    day = dt.timedelta(days=1)
    shift = abs(_offset(after - day, tz) - _offset(after + day, tz))
    start = after.astimezone(tz).replace(tzinfo=None) - shift - dt.timedelta(seconds=1)
    try:
        walk = croniter(schedule.cron, start, day_or=schedule.day_or)
    except (CroniterError, ValueError, TypeError, KeyError, IndexError):
        return  # a stored cron this version can no longer read fires nothing
    given: set[dt.datetime] = set()
    recent: deque[dt.datetime] = deque()
    while True:
        try:
            wall = walk.get_next(dt.datetime)
        except (CroniterError, OverflowError, ValueError):
            return  # no match within croniter's 50 years, or off the calendar
        when = _instant(wall, tz)
        if when < after or when in given:
            continue  # before the window, or a gap time equal to one already given
        given.add(when)
        recent.append(when)
        while recent[0] < when - _CRON_REPEAT_WINDOW:
            given.discard(recent.popleft())
        yield when


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
            # Exact integer arithmetic (timedelta // timedelta): a float of seconds since an
            # old anchor loses the microseconds and could jump past the first slot.
            when += step * ((after - when) // step)
        while True:
            if when >= after:
                yield when
            when += step


def _offset(moment: dt.datetime, tz: dt.tzinfo) -> dt.timedelta:
    return moment.astimezone(tz).utcoffset() or dt.timedelta()


def _months(start: dt.datetime, end: dt.datetime) -> int:
    return max(0, (end.year - start.year) * 12 + end.month - start.month)


def _rebase(start: dt.datetime, freq: int, interval: int, target: dt.datetime) -> dt.datetime:
    """The latest start at or before ``target`` that is a whole number of the rule's
    periods after ``start`` (on the wall clock of ``start``; ``target`` naive in it), with
    the month, day and time of ``start`` that dateutil derives missing BY-parts from; or
    ``start`` itself when ``target`` is not after it. A rule without COUNT starting there
    has exactly the original's occurrences from there on."""
    naive = start.replace(tzinfo=None)
    if target <= naive:
        return start
    period = _FIXED_PERIODS.get(freq)
    if period is not None:
        step = period * interval
        return start + step * ((target - naive) // step)
    # Months and years vary in length: the latest whole number of periods whose date
    # exists (day 31, February 29) and is not after target. A few tries at most.
    months = interval * (12 if freq == _rrule.YEARLY else 1)
    k = _months(naive, target) // months
    for _ in range(400):
        if k <= 0:
            break
        year, month0 = divmod(naive.month - 1 + k * months, 12)
        try:
            moved = naive.replace(year=naive.year + year, month=month0 + 1)
        except ValueError:  # that month has no such day, or past the year 9999
            k -= 1
            continue
        if moved <= target:
            return moved.replace(tzinfo=start.tzinfo)
        k -= 1
    return start


def _rrule_times(
    schedule: RRuleSchedule, after: dt.datetime, until: dt.datetime
) -> Iterator[dt.datetime]:
    tz = _zone(schedule.timezone)
    try:
        parsed = parse_rrule(schedule.rrule)
    except ValueError:
        return  # a stored rule this version can no longer read fires nothing
    fields: Any = parsed  # dateutil keeps the rules of a set in private attributes
    months = _months(after, until)
    for rule in [*fields._rrule, *fields._exrule]:
        if rule._count is not None:  # COUNT numbers occurrences from its own start
            months += _months(rule._dtstart.replace(tzinfo=None), after.replace(tzinfo=None))
    budget = RRuleBudget(min(months, _RRULE_MAX_MONTHS) + _RRULE_SLACK_MONTHS, RRULE_MAX_SKIPPED)

    def start(rule: Any) -> dt.datetime:
        first: dt.datetime = rule._dtstart
        if rule._count is not None:
            return first
        frame = first.tzinfo or tz  # naive rules are walked on the schedule's wall clock
        day = dt.timedelta(days=1)
        shift = abs(_offset(after - day, frame) - _offset(after + day, frame))
        target = after.astimezone(frame).replace(tzinfo=None) - _REBASE_MARGIN - shift
        return _rebase(first, rule._freq, rule._interval, target)

    last: dt.datetime | None = None
    try:
        for local in bounded_rruleset(parsed, budget, start):
            # Naive local times unless the rule carries its own DTSTART zone.
            when = local.astimezone(dt.UTC) if local.tzinfo else _instant(local, tz)
            if when < after or (last is not None and when <= last):
                budget.skip()  # before the window, or a gap time equal to a real one
                continue
            last = when
            yield when
    except RRuleBudgetExceeded:
        return  # nothing more within reach: the rule is rare or never fires
    except (ValueError, OverflowError):
        return  # dateutil found the rule empty, or walked off the calendar


__all__ = ["iter_times", "next_times"]
