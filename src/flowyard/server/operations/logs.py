"""Logs: batch ingestion, filtered reads, a flow run's logs page by page (the download),
and the live stream of new logs (``/logs/out``)."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

from flowyard.schemas import actions, core
from flowyard.schemas.filters import LogFilter
from flowyard.schemas.sorting import LogSort
from flowyard.server.errors import NotFound
from flowyard.server.operations import references
from flowyard.server.operations.context import RequestContext, Tx, authorize, operation, permission
from flowyard.server.operations.live_filters import log_matches
from flowyard.server.operations.streams import Feed, publish_after_commit, streams_of
from flowyard.server.queries import logs as queries

READ = permission("read", "log")
CREATE = permission("create", "log")
BACKFILL_LIMIT = 1_000
_LOG_FIELDS = ("id", "created", "updated", "name", "level", "message", "timestamp",
               "flow_run_id", "task_run_id")  # fmt: skip


def _log(row: dict[str, Any]) -> core.Log:
    # The rows were built from validated input a moment ago: no second validation.
    return core.Log.model_construct(**{key: row[key] for key in _LOG_FIELDS})


@operation(CREATE, writes=True)
async def create_logs(tx: Tx, logs: Sequence[actions.LogCreate]) -> int:
    """Store a batch with one statement (the hottest write a flow run makes); once the
    transaction commits, the logs are shown to live subscribers. Returns how many."""
    await references.refuse_foreign_runs(
        tx,
        flow_run_ids={"flow_run_id": {log.flow_run_id for log in logs}},
        task_run_ids={"task_run_id": {log.task_run_id for log in logs}},
    )
    rows = await queries.create_logs(tx.session, tx.workspace_id, logs)
    live = streams_of(tx.ctx.db).logs
    if live.subscribers:
        publish_after_commit(tx.session, live, tx.workspace_id, [_log(row) for row in rows])
    return len(rows)


@operation(READ)
async def read_logs(
    tx: Tx, log_filter: LogFilter | None, sort: LogSort, limit: int, offset: int = 0
) -> list[core.Log]:
    conditions = queries.log_conditions(tx.workspace_id, log_filter, tx.dialect)
    rows = await queries.read_logs(tx.session, conditions, sort, limit, offset)
    return [core.Log.from_row(row) for row in rows]


@operation(READ)
async def read_flow_run_for_logs(tx: Tx, flow_run_id: uuid.UUID) -> str:
    """The name of the flow run whose logs are about to be read (NotFound if none)."""
    name = await queries.read_flow_run_name(tx.session, tx.workspace_id, flow_run_id)
    if name is None:
        raise NotFound("Flow run not found.")
    return name


@operation(READ)
async def read_flow_run_logs_page(
    tx: Tx, flow_run_id: uuid.UUID, after: tuple[dt.datetime, uuid.UUID] | None, limit: int
) -> list[core.Log]:
    """The next page of a flow run's logs after ``after`` (the last log's timestamp and
    id), oldest first."""
    rows = await queries.read_flow_run_logs_after(
        tx.session, tx.workspace_id, flow_run_id, after, limit
    )
    return [core.Log.from_row(row) for row in rows]


async def iterate_flow_run_logs(
    ctx: RequestContext, flow_run_id: uuid.UUID, page_size: int
) -> AsyncIterator[list[core.Log]]:
    """Every log of a flow run, oldest first, a page at a time (each page its own short
    read, so a long download holds no transaction open)."""
    after: tuple[dt.datetime, uuid.UUID] | None = None
    while True:
        page = await read_flow_run_logs_page(ctx, flow_run_id, after, page_size)
        if not page:
            return
        yield page
        if len(page) < page_size:
            return
        after = (page[-1].timestamp, page[-1].id)


@contextlib.asynccontextmanager
async def subscribe_logs(
    ctx: RequestContext, log_filter: LogFilter | None, backfill: bool = True
) -> AsyncIterator[Feed[core.Log]]:
    """The logs of the workspace that ``log_filter`` selects: the recent stored ones
    (``backfill``), then each new one as it is committed."""
    authorize(ctx, READ, "logs.subscribe_logs")
    live = streams_of(ctx.db).logs
    # Subscribe first, then read what is stored: nothing committed in between is missed.
    subscription = live.subscribe(ctx.workspace_id, functools.partial(log_matches, log_filter))
    try:
        recent: list[core.Log] = []
        if backfill:
            # The newest stored ones, sent oldest first.
            newest = await read_logs(ctx, log_filter, LogSort.TIMESTAMP_DESC, BACKFILL_LIMIT)
            recent = newest[::-1]
        yield Feed(recent, subscription, key=lambda log: log.id)
    finally:
        live.unsubscribe(subscription)
