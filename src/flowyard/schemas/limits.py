"""How big a request may be: the bounds every request schema applies at validation.

A request beyond one of these is a 422 naming the field, before it reaches the database:
one request must never hold the server (a filter of 50,000 tags compiled to a statement of
50,000 parameters held it 78 s) nor reach a column that cannot hold it (a 256-character
version answered 500 on PostgreSQL). Each bound is generous enough that no real client
meets it; where the Prefect contract has a bound of its own, it is the same.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import StringConstraints

# Items in one list of a filter (``any_``, ``all_``, ``not_any_``, event name prefixes, ...).
# A UI filter names a handful of tags, states or ids; a client paging through ids sends a
# page of them (the UI asks for 200 at a time). Some operators compile to an OR of one term
# per item, and SQLite refuses an expression deeper than 1,000: a tag term counts twice
# (the contract test found 500 tags of deployments too deep), 200 leaves room for the rest.
MAX_FILTER_ITEMS = 200

# Names, keys, versions, slugs, queue and pool names, state names: the VARCHAR(255) columns
# they are stored in (PostgreSQL refuses a longer value; SQLite would store it).
MAX_NAME_LENGTH = 255
# A task's cache key: its VARCHAR(2000) column (hashes in practice; room for a readable key).
MAX_CACHE_KEY_LENGTH = 2000

# A log message: the official client's own maximum (PREFECT_LOGGING_TO_API_MAX_LOG_SIZE,
# 1,000,000 by default), so the client never sends one it would not send to Prefect.
MAX_LOG_MESSAGE_LENGTH = 1_000_000

# Any other string a request carries (descriptions, state messages with their traceback,
# code examples, paths, flow-run input values): no field is meant to hold more text than
# one log message.
MAX_TEXT_LENGTH = 1_000_000

# Events, as Prefect's server bounds them (its PREFECT_SERVER_EVENTS_MAXIMUM_* defaults): the
# whole event serialized as JSON, the labels of one resource, the related resources.
MAX_EVENT_BYTES = 1_500_000
MAX_EVENT_LABELS = 500
MAX_EVENT_RELATED = 100

# Dates: Python's datetime holds years 1 to 9999, and so do the columns. A time whose UTC
# value falls outside (0001-01-01T00:00:00+05:00) cannot be converted to UTC to be stored.
# (Named for the README; the check is that the conversion succeeds.)
MIN_YEAR, MAX_YEAR = 1, 9999

# A string stored in a VARCHAR(255) column (see MAX_NAME_LENGTH).
ShortText = Annotated[str, StringConstraints(max_length=MAX_NAME_LENGTH)]

# Schedules of one deployment. A deployment's schedules are its few timings (weekdays at 9,
# month ends); 1,000 interval schedules on one deployment made 159,237 runs in one request.
MAX_SCHEDULES_PER_DEPLOYMENT = 100

# Runs one deployment gets made at a time (the request that creates or changes it, one
# scheduler pass), the soonest first across its schedules; a schedule's own
# ``max_scheduled_runs`` may not ask for more. The scheduler tops up as runs start.
MAX_SCHEDULED_RUNS = 500

# A rate limit's slots freed per second: far beyond any real rate, and small enough that
# the decay over centuries still fits a 64-bit count.
MAX_SLOT_DECAY_PER_SECOND = 1_000_000.0
