"""Schedules of a deployment, as the contract shapes them: cron, interval and rrule.

Validation lives here so that a bad cron string, rrule or timezone is refused by the API
with a message naming the field, and by the SDK before anything is sent. The arithmetic
that turns a schedule into run times lives in ``server/schedules``.
"""

from __future__ import annotations

import datetime as dt
import importlib
import zoneinfo
from functools import lru_cache
from typing import Annotated, Any

from croniter import croniter
from dateutil import rrule as _rrule
from pydantic import (
    Discriminator,
    Field,
    Tag,
    ValidationInfo,
    field_serializer,
    field_validator,
)

from flowyard.schemas.base import FlowyardModel

# croniter 6.0.0 keeps two module-level dicts that only grow, one entry per distinct
# expression parsed (read back only within the same call) and one per datetime it computes
# (looked up under another key shape, so never hit): a server validating cron strings from
# requests and walking schedules for months would grow without limit. Bounded here.
_CRONITER_CACHE_BOUND = 4096


class _BoundedCache(dict[Any, Any]):
    """A dict that forgets its oldest entry once it holds more than the bound."""

    def __setitem__(self, key: Any, value: Any) -> None:
        super().__setitem__(key, value)
        if len(self) > _CRONITER_CACHE_BOUND:
            del self[next(iter(self))]


_croniter_module = importlib.import_module("croniter.croniter")
for _name in ("EXPRESSIONS", "TIMESTAMP_TO_DT_CACHE"):
    if isinstance(getattr(_croniter_module, _name, None), dict):
        setattr(_croniter_module, _name, _BoundedCache(getattr(_croniter_module, _name)))

# What a cron string may be is croniter's to say, exactly as the official client and server
# ask it (``prefect._internal.schemas.validators.validate_cron_string`` in prefect 3.9.1,
# whose vendored croniter is the release pinned in pyproject.toml): 5 fields, or 6 with
# seconds last, or 7 with a year; names, ranges, steps, ``L``, ``#``, ``?`` and the
# ``@daily`` family. croniter's random and hashed fields (``R``, ``H``) are refused, as there.
_RANDOM_OR_HASHED = frozenset({"r", "h"})


@lru_cache(maxsize=1024)  # stored schedules are validated again at each scheduler pass
def check_cron(expression: str) -> str:
    """``expression`` if the official client accepts it as a cron string, else ValueError
    naming it and, when croniter says, why."""
    try:
        croniter.expand(expression)
    except Exception as exc:  # croniter raises more than CroniterError on odd input
        raise ValueError(f"invalid cron string {expression!r}: {exc}") from None
    if any(part.casefold() in _RANDOM_OR_HASHED for part in expression.split()):
        reason = "random and hashed fields (R, H) are not supported"
        raise ValueError(f"invalid cron string {expression!r}: {reason}")
    return expression


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
        return check_cron(value)

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


# --- recurrence rules --------------------------------------------------------------------

# The DTSTART of a rule that names none (Prefect's anchor), on the schedule's wall clock: a
# fixed start keeps the rule's phase (``FREQ=HOURLY`` fires at :00, not at the minute the
# scheduler happened to look).
RRULE_ANCHOR = dt.datetime(2020, 1, 1)
# How many months past its start a rule may walk to its first occurrence before it is
# refused as one that never fires (``FREQ=MINUTELY;BYMONTH=2;BYMONTHDAY=31``).
RRULE_CHECK_MONTHS = 12 * 30
# Occurrences a walk may pass over before the window it was asked for.
RRULE_MAX_SKIPPED = 50_000


class RRuleBudgetExceeded(Exception):
    """A walk over a recurrence rule used up its budget."""


class RRuleBudget:
    """Bounds the work of walking a rule. dateutil walks period after period until an
    occurrence passes the filters, up to the year 9999: a rule no date satisfies would hold
    the caller for many seconds without ever coming back. ``months`` bounds the months or
    periods walked (see :class:`BoundedRRule`), ``skipped`` the occurrences passed over."""

    __slots__ = ("months", "skipped")

    def __init__(self, months: int, skipped: int = RRULE_MAX_SKIPPED) -> None:
        self.months = months
        self.skipped = skipped

    def tick(self, cost: int = 1) -> None:
        self.months -= cost
        if self.months < 0:
            raise RRuleBudgetExceeded

    def skip(self) -> None:
        self.skipped -= 1
        if self.skipped < 0:
            raise RRuleBudgetExceeded


class BoundedRRule(_rrule.rrule):
    """An rrule whose walk charges a :class:`RRuleBudget`.

    dateutil rebuilds its masks (reading ``_bynweekday``) whenever its walk enters another
    month or period, also through periods whose every day the filters reject, which
    otherwise never hand control back. Counting those reads is the only hook into that
    loop; if a dateutil release stopped reading it, walks would merely be unbounded again
    (the never-fires tests would time out)."""

    def __init__(self, budget: RRuleBudget, **kwargs: Any) -> None:
        self._flowyard_budget: RRuleBudget | None = None  # not charged while constructing
        super().__init__(**kwargs)
        fields: Any = self
        # SECONDLY filtered by hour or minute searches second by second for the next
        # allowed one (up to 86,400 steps a day, out of reach of any hook): a month of it
        # is charged as many.
        self._flowyard_cost = 60 if _slow_seconds(fields) else 1
        self._flowyard_budget = budget

    @property
    def _bynweekday(self) -> Any:
        if self._flowyard_budget is not None:
            self._flowyard_budget.tick(self._flowyard_cost)
        return self._flowyard_bynweekday

    @_bynweekday.setter
    def _bynweekday(self, value: Any) -> None:
        self._flowyard_bynweekday = value


def _slow_seconds(rule: Any) -> bool:
    return bool(rule._freq == _rrule.SECONDLY and (rule._byhour or rule._byminute))


def parse_rrule(text: str) -> _rrule.rruleset:
    """The rule set ``text`` describes (DTSTART defaults to :data:`RRULE_ANCHOR`);
    ValueError when it is not one."""
    try:
        parsed = _rrule.rrulestr(text, dtstart=RRULE_ANCHOR, forceset=True, cache=False)
    except (ValueError, TypeError, OverflowError) as exc:
        raise ValueError(str(exc) or type(exc).__name__) from None
    if not isinstance(parsed, _rrule.rruleset):  # pragma: no cover - forceset=True
        raise ValueError("not a recurrence rule set")
    return parsed


def bounded_rrule(
    rule: _rrule.rrule, budget: RRuleBudget, dtstart: dt.datetime | None = None
) -> BoundedRRule:
    """``rule`` as a :class:`BoundedRRule` (what ``rrule.replace`` copies, which would
    return a plain rrule), optionally starting at ``dtstart`` instead."""
    fields: Any = rule  # dateutil keeps a rule's parts in private attributes
    kwargs: dict[str, Any] = {
        "freq": fields._freq,
        "dtstart": fields._dtstart if dtstart is None else dtstart,
        "interval": fields._interval,
        "wkst": fields._wkst,
        "count": fields._count,
        "until": fields._until,
        **fields._original_rule,
    }
    return BoundedRRule(budget, **kwargs)


def bounded_rruleset(
    parsed: _rrule.rruleset,
    budget: RRuleBudget,
    dtstart: Any = None,
) -> _rrule.rruleset:
    """A copy of ``parsed`` whose rules charge ``budget``; ``dtstart(rule)`` may give a
    rule another start (None: keep its own)."""
    fields: Any = parsed
    out = _rrule.rruleset(cache=False)
    for rule in fields._rrule:
        out.rrule(bounded_rrule(rule, budget, dtstart(rule) if dtstart else None))
    for rule in fields._exrule:
        out.exrule(bounded_rrule(rule, budget, dtstart(rule) if dtstart else None))
    for when in fields._rdate:
        out.rdate(when)
    for when in fields._exdate:
        out.exdate(when)
    return out


@lru_cache(maxsize=256)
def _refusal(text: str) -> str | None:
    """Why a new schedule may not use the rule (None when it may): it never fires, found
    within a bounded walk, or it would cost a walk no bound reaches into."""
    parsed = parse_rrule(text)
    fields: Any = parsed
    if any(_slow_seconds(rule) for rule in [*fields._rrule, *fields._exrule]):
        return (
            "FREQ=SECONDLY with BYHOUR or BYMINUTE is not supported; "
            "use FREQ=MINUTELY, HOURLY or DAILY with BYSECOND"
        )
    budget = RRuleBudget(RRULE_CHECK_MONTHS)
    try:
        first = next(iter(bounded_rruleset(parsed, budget)), None)
    except RRuleBudgetExceeded:
        return f"never fires: no occurrence within {RRULE_CHECK_MONTHS // 12} years of its start"
    except (ValueError, OverflowError) as exc:  # e.g. an interval no BYHOUR can meet
        return f"never fires: {exc}"
    return None if first is not None else "never fires: it has no occurrence"


class RRuleSchedule(FlowyardModel):
    """Runs at the times an RFC 5545 recurrence rule names, in ``timezone``."""

    rrule: str
    timezone: str | None = "UTC"

    @field_validator("rrule")
    @classmethod
    def _valid_rrule(cls, value: str, info: ValidationInfo) -> str:
        try:
            parse_rrule(value)
        except ValueError as exc:
            raise ValueError(f"invalid rrule {value!r}: {exc}") from None
        # A stored schedule was checked when it was written; reading it back (each
        # scheduler pass) must neither pay for nor fail on these checks.
        if not (info.context or {}).get("stored"):
            reason = _refusal(value)
            if reason is not None:
                raise ValueError(f"rrule {value!r} {reason}")
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
        return RRuleSchedule.model_validate(value, context={"stored": True})
    return IntervalSchedule.model_validate(value)
