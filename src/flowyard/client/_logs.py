"""Client methods for /logs and /events: what runs report as they go."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flowyard.client._http import BaseClient, compose, parse_list
from flowyard.schemas.actions import LogCreate
from flowyard.schemas.core import Event, Log
from flowyard.schemas.filters import EventFilter, LogFilter
from flowyard.schemas.sorting import LogSort


class LogsAPI(BaseClient):
    """Run logs and events."""

    async def create_logs(self, logs: Iterable[LogCreate | dict[str, Any]]) -> None:
        """Store a batch of log records in one request.

        Args:
            logs: ``LogCreate`` models, or dicts of the same fields (``timestamp`` may be a
                datetime); dicts are sent as they are and validated by the server.
        """
        batch = [
            log.model_dump(mode="json", exclude_none=True) if isinstance(log, LogCreate) else log
            for log in logs
        ]
        if batch:
            await self._request("POST", "/logs/", json=batch)

    async def read_logs(
        self,
        log_filter: LogFilter | None = None,
        *,
        sort: LogSort = LogSort.TIMESTAMP_ASC,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[Log]:
        """Log records matching ``log_filter``, oldest first unless ``sort`` says otherwise.

        Args:
            log_filter: conditions on the records (level, time, flow run, task run, text).
            sort: the order of the result.
            limit: at most this many (the server's default limit when ``None``).
            offset: skip this many first.
        """
        body = compose(logs=log_filter, sort=str(sort), limit=limit, offset=offset)
        return parse_list(Log, await self._request("POST", "/logs/filter", json=body))

    async def read_events(
        self, event_filter: EventFilter | None = None, *, limit: int = 50
    ) -> list[Event]:
        """The newest events matching ``event_filter`` (by default: of the last day).

        Args:
            event_filter: conditions on the events (time window, names, resources).
            limit: at most this many (the first page of ``POST /events/filter``).
        """
        body = compose(filter=event_filter, limit=limit)
        page = (await self._request("POST", "/events/filter", json=body)).json()
        return [Event.model_validate(item) for item in page["events"]]

    async def emit_events(self, events: Iterable[Event | dict[str, Any]]) -> None:
        """Send a batch of events to the server in one request (``POST /events``).

        Args:
            events: ``Event`` models, or dicts of the same fields.
        """
        batch = [
            event.model_dump(mode="json", exclude_none=True) if isinstance(event, Event) else event
            for event in events
        ]
        if batch:
            await self._request("POST", "/events", json=batch)
