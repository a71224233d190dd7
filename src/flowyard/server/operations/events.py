"""Events: ingestion, filtered pages, counts by time, name or resource, and the live stream
(``/events/out``).

Ingested events are stored through the outbox, like the events writers emit with their
changes: the batch's task-run events are recorded by orchestration's bulk path (the
recorder) in the same transaction, and once it commits, every listener of the event
pipeline (automations, live streams, heartbeats) sees the batch.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import math
from collections.abc import AsyncIterator, Sequence
from typing import Any

from flowyard.schemas import core
from flowyard.schemas.events import Countable, EventCount, TimeUnit
from flowyard.schemas.filters import EventFilter, EventOrder
from flowyard.server.database.types import utcnow
from flowyard.server.errors import Invalid
from flowyard.server.operations.context import RequestContext, Tx, authorize, operation, permission
from flowyard.server.operations.live_filters import event_matches
from flowyard.server.operations.streams import EventSource, Feed, connect_event_source
from flowyard.server.orchestration.recorder import record_task_runs
from flowyard.server.queries import events as queries
from flowyard.server.queries import outbox, task_run_events

READ = permission("read", "event")
CREATE = permission("create", "event")
# Time buckets are counted from this Monday (the contract's pivot), so that a week starts on
# a Monday and every server puts an event in the same bucket.
PIVOT = dt.datetime(2024, 4, 1, tzinfo=dt.UTC)
MAX_BUCKETS = 1000
# (value, label, count, first occurred, last occurred)
ValueCount = tuple[str, str, int, dt.datetime, dt.datetime]
# The live stream's backfill: at most this far back, and this many events.
MAX_BACKFILL = dt.timedelta(minutes=15)
BACKFILL_PAGE = 250
BACKFILL_LIMIT = 5_000


def event_from_row(row: Any) -> core.Event:
    # Stored rows were validated on the way in: no second validation on the way out.
    return core.Event.model_construct(
        id=row.id,
        occurred=row.occurred,
        event=row.event,
        resource=row.resource,
        related=row.related,
        payload=row.payload,
        follows=row.follows,
        received=row.received,
    )


@operation(CREATE, writes=True)
async def create_events(tx: Tx, events: Sequence[core.Event]) -> None:
    """Store a batch (an id already stored is skipped) and record the task runs its
    task-run events describe, in one transaction. A task-run event the recorder takes is
    kept as its state row (``queries.task_run_events`` reads it back as the event), so it
    is only announced to the listeners, not stored twice."""
    recorded = await record_task_runs(tx.session, tx.workspace_id, events)
    for event in events:
        if event.id not in recorded:
            tx.emit(event)
    if recorded:
        workspace_id = tx.workspace_id
        outbox.announce(
            tx.session, lambda: [(workspace_id, e) for e in events if e.id in recorded]
        )


def authorize_ingest(ctx: RequestContext) -> None:
    """For ``/events/in``: the stream's events go through the pipeline, checked once here."""
    authorize(ctx, CREATE, "events.stream_events_in")


@operation(READ)
async def read_events(
    tx: Tx, flt: EventFilter, limit: int, offset: int = 0
) -> tuple[list[core.Event], int]:
    """A page of matching events (in ``flt.order``) and how many match in all."""
    conditions = queries.event_conditions(tx.workspace_id, flt, tx.dialect)
    # Stored events and the task-run state events kept as state rows, merged: the first
    # ``offset + limit`` of each source hold the page.
    wanted = offset + limit
    rows = await queries.read_events(tx.session, conditions, flt.order, wanted, 0)
    derived = await task_run_events.read_task_run_events(
        tx.session, tx.workspace_id, flt, wanted
    )
    merged = task_run_events.merge([event_from_row(r) for r in rows], derived, flt.order, wanted)
    total = await queries.count_events(tx.session, conditions)
    total += await task_run_events.count_task_run_events(tx.session, tx.workspace_id, flt)
    return merged[offset:], total


@operation(READ)
async def count_events(
    tx: Tx, countable: Countable, flt: EventFilter, time_unit: TimeUnit, time_interval: float
) -> list[EventCount]:
    """Matching events counted by ``countable``: time buckets (every bucket of the window,
    empty ones included, oldest first), or names / resources (most frequent first)."""
    if countable in (Countable.event, Countable.resource):
        conditions = queries.event_conditions(tx.workspace_id, flt, tx.dialect)
        stored = await queries.count_events_by_value(tx.session, conditions, countable.value)
        derived = await task_run_events.count_task_run_events_by_value(
            tx.session, tx.workspace_id, flt, countable.value
        )
        return [
            EventCount(value=value, label=label, count=count, start_time=first, end_time=last)
            for value, label, count, first, last in _merge_counts(stored, derived)
        ]
    if countable == Countable.day:
        time_unit, time_interval = TimeUnit.day, 1.0
    seconds = time_unit.seconds(time_interval)
    since, until = flt.occurred.since, flt.occurred.until
    buckets = math.ceil((until - since).total_seconds() / seconds)
    if buckets > MAX_BUCKETS:
        raise Invalid(
            f"The given interval would create {buckets} buckets, which is too many. Please "
            f"increase the interval or reduce the time range to produce {MAX_BUCKETS} "
            "buckets or fewer."
        )
    delta = dt.timedelta(seconds=seconds)
    base = PIVOT + delta * math.floor((since - PIVOT) / delta)
    now = utcnow()
    if until > now:
        # The window ends with the bucket holding the present, not a year of empty ones.
        until = PIVOT + delta * (math.floor((now - PIVOT) / delta) + 1)
    conditions = queries.event_conditions(tx.workspace_id, flt, tx.dialect)
    found = await queries.count_events_by_bucket(
        tx.session, conditions, base, seconds, tx.dialect
    )
    derived_buckets = await task_run_events.count_task_run_events_by_bucket(
        tx.session, tx.workspace_id, flt, base, seconds
    )
    for index, count in derived_buckets.items():
        found[index] = found.get(index, 0) + count
    results: list[EventCount] = []
    start = base
    while start < until:
        end = start + delta
        index = len(results)
        results.append(
            EventCount(
                value=str(index),
                label=start.isoformat(),
                count=found.get(index, 0),
                start_time=start,
                end_time=end - dt.timedelta(microseconds=1),
            )
        )
        start = end
    return results


def _merge_counts(*sources: list[ValueCount]) -> list[ValueCount]:
    """Counts of the same value from several sources added up (a task run's label is the
    same in both), most frequent first."""
    merged: dict[str, ValueCount] = {}
    for source in sources:
        for value, label, count, first, last in source:
            found = merged.get(value)
            if found is not None:
                count += found[2]
                first, last = min(first, found[3]), max(last, found[4])
            merged[value] = (value, label, count, first, last)
    return sorted(merged.values(), key=lambda item: (-item[2], item[1]))


@contextlib.asynccontextmanager
async def subscribe_events(
    ctx: RequestContext, source: EventSource, flt: EventFilter, backfill: bool = True
) -> AsyncIterator[Feed[core.Event]]:
    """The workspace's events that ``flt`` selects: the recent stored ones (``backfill``,
    at most 15 minutes back), then each new one as it is committed, oldest first."""
    authorize(ctx, READ, "events.subscribe_events")
    live = connect_event_source(ctx.db, source)
    # Subscribe first, then read what is stored: nothing committed in between is missed.
    subscription = live.subscribe(ctx.workspace_id, functools.partial(event_matches, flt))
    try:
        recent: list[core.Event] = []
        if backfill:
            window = flt.model_copy(deep=True)
            window.occurred.since = max(window.occurred.since, utcnow() - MAX_BACKFILL)
            window.order = EventOrder.ASC
            while len(recent) < BACKFILL_LIMIT:
                page, _ = await read_events(ctx, window, BACKFILL_PAGE, len(recent))
                recent.extend(page)
                if len(page) < BACKFILL_PAGE:
                    break
        yield Feed(recent, subscription, key=lambda event: event.id)
    finally:
        live.unsubscribe(subscription)
