"""Client methods for /flows."""

from __future__ import annotations

import uuid
from typing import Any

from flowyard.client._http import (
    BaseClient,
    build,
    compose,
    dump,
    parse,
    parse_json,
    parse_list,
    segment,
)
from flowyard.schemas.actions import FlowCreate, FlowUpdate
from flowyard.schemas.core import Flow
from flowyard.schemas.filters import FlowFilter, FlowRunFilter, TaskRunFilter
from flowyard.schemas.sorting import FlowSort


class FlowsAPI(BaseClient):
    """Flows: the named functions runs belong to."""

    async def create_flow(
        self, name: str, *, tags: list[str] | None = None, labels: dict[str, Any] | None = None
    ) -> Flow:
        """Create the flow ``name``, or return it if it exists (flows are upserted by name).

        Args:
            name: the flow's name.
            tags: tags for a new flow.
            labels: labels for a new flow.

        Returns:
            The stored flow.
        """
        body = build(FlowCreate, name=name, tags=tags or [], labels=labels or {})
        return parse(Flow, await self._request("POST", "/flows/", json=dump(body)))

    async def read_flow(self, flow_id: uuid.UUID) -> Flow:
        """Read one flow by id. Raises ``ObjectNotFound`` if there is none."""
        return parse(Flow, await self._request("GET", f"/flows/{flow_id}"))

    async def read_flow_by_name(self, name: str) -> Flow:
        """Read one flow by name. Raises ``ObjectNotFound`` if there is none."""
        return parse(Flow, await self._request("GET", f"/flows/name/{segment(name)}"))

    async def read_flows(
        self,
        *,
        flow_filter: FlowFilter | None = None,
        flow_run_filter: FlowRunFilter | None = None,
        task_run_filter: TaskRunFilter | None = None,
        sort: FlowSort = FlowSort.NAME_ASC,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[Flow]:
        """Flows matching every given filter, in ``sort`` order.

        Args:
            flow_filter: conditions on the flows themselves.
            flow_run_filter: keep flows with at least one matching run.
            task_run_filter: keep flows with at least one matching task run.
            sort: the order of the result.
            limit: at most this many (the server's default limit when ``None``).
            offset: skip this many first.
        """
        body = compose(
            flows=flow_filter,
            flow_runs=flow_run_filter,
            task_runs=task_run_filter,
            sort=str(sort),
            limit=limit,
            offset=offset,
        )
        return parse_list(Flow, await self._request("POST", "/flows/filter", json=body))

    async def count_flows(
        self,
        *,
        flow_filter: FlowFilter | None = None,
        flow_run_filter: FlowRunFilter | None = None,
        task_run_filter: TaskRunFilter | None = None,
    ) -> int:
        """How many flows match every given filter."""
        body = compose(flows=flow_filter, flow_runs=flow_run_filter, task_runs=task_run_filter)
        return int(parse_json(await self._request("POST", "/flows/count", json=body)))

    async def update_flow(self, flow_id: uuid.UUID, *, tags: list[str] | None = None) -> None:
        """Change a flow's tags."""
        body = build(FlowUpdate, tags=tags)
        await self._request("PATCH", f"/flows/{flow_id}", json=dump(body))

    async def delete_flow(self, flow_id: uuid.UUID) -> None:
        """Delete a flow and its runs. Raises ``ObjectNotFound`` if there is none."""
        await self._request("DELETE", f"/flows/{flow_id}")
