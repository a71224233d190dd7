"""A run page's log filter as URL query parameters, and back.

``level`` (a level name: the lines at or above it), ``q`` (text the line contains),
``before``/``after`` (keyset cursors: a line's timestamp and id, ``<ISO time>~<uuid>``).
Anything malformed is an :class:`Invalid` (a 400 page that says which), never a 500.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from urllib.parse import urlencode

from flowyard.server.errors import Invalid
from flowyard.server.operations.run_pages import LogQuery

LOG_LEVELS = {"": 0, "DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40, "CRITICAL": 50}
LEVEL_NAMES = {number: name for name, number in LOG_LEVELS.items() if name}
MAX_SEARCH_LENGTH = 200
CURSOR_SEPARATOR = "~"

Cursor = tuple[dt.datetime, uuid.UUID]


def level_name(level: int) -> str:
    """``INFO``; a custom level between two names reads as ``Level 25``."""
    return LEVEL_NAMES.get(level, f"Level {level}")


def parse_log_query(params: Mapping[str, str], task_run_id: uuid.UUID | None = None) -> LogQuery:
    level = params.get("level", "").upper()
    if level not in LOG_LEVELS:
        names = ", ".join(name for name in LOG_LEVELS if name)
        raise Invalid(f"level: one of {names}, not {level!r}.")
    text = params.get("q", "").strip()
    if len(text) > MAX_SEARCH_LENGTH:
        raise Invalid(f"q: at most {MAX_SEARCH_LENGTH} characters.")
    if "\x00" in text:
        raise Invalid("q: must not contain NUL.")
    return LogQuery(
        min_level=LOG_LEVELS[level],
        text=text,
        task_run_id=task_run_id,
        before=_cursor("before", params.get("before")),
        after=_cursor("after", params.get("after")),
    )


def _cursor(name: str, value: str | None) -> Cursor | None:
    if not value:
        return None
    moment, _, ident = value.partition(CURSOR_SEPARATOR)
    try:
        timestamp = dt.datetime.fromisoformat(moment)
        log_id = uuid.UUID(ident)
    except ValueError:
        raise Invalid(f"{name}: not a log position (<time>~<id>).") from None
    if timestamp.tzinfo is None:
        timestamp = timestamp.replace(tzinfo=dt.UTC)
    return (timestamp, log_id)


def cursor_text(cursor: Cursor) -> str:
    return f"{cursor[0].isoformat()}{CURSOR_SEPARATOR}{cursor[1]}"


def filter_params(query: LogQuery) -> dict[str, str]:
    """The query's filter (not its position), for links to other pages of the same lines."""
    params = {"level": level_name(query.min_level) if query.min_level else "", "q": query.text}
    return {key: value for key, value in params.items() if value}


def tail_url(path: str, query: LogQuery, last: Cursor | None) -> str:
    """Where the live tail asks for the lines after ``last`` (all lines, when none yet)."""
    params = filter_params(query)
    if last is not None:
        params["after"] = cursor_text(last)
    else:
        # No line yet: start from the beginning of time so the first one is caught.
        params["after"] = cursor_text((dt.datetime(1970, 1, 1, tzinfo=dt.UTC), uuid.UUID(int=0)))
    return f"{path}?{urlencode(params)}"


def earlier_url(path: str, query: LogQuery, earlier: Cursor) -> str:
    params = {"tab": "logs", **filter_params(query), "before": cursor_text(earlier)}
    return f"{path}?{urlencode(params)}"
