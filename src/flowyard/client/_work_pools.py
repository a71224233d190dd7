"""Client methods for /work_pools and /work_queues: pools, queues, workers and the poll."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import TYPE_CHECKING, Any

from flowyard.client._http import BaseClient, build, compose, dump, parse, parse_json, parse_list
from flowyard.client._http import segment as seg

if TYPE_CHECKING:
    from flowyard.schemas.work_pools import (
        Worker,
        WorkerFlowRunResponse,
        WorkPool,
        WorkQueue,
    )


def _set(**fields: Any) -> dict[str, Any]:
    return {key: value for key, value in fields.items() if value is not None}


class WorkPoolsAPI(BaseClient):
    """Work pools (where deployments send runs), their queues, and the workers polling them."""

    async def create_work_pool(
        self,
        name: str,
        *,
        type: str = "process",
        description: str | None = None,
        base_job_template: dict[str, Any] | None = None,
        is_paused: bool = False,
        concurrency_limit: int | None = None,
    ) -> WorkPool:
        """Create a pool (with its ``default`` queue). Raises ``ObjectAlreadyExists``.

        Args:
            name: the pool's name, unique in the workspace.
            type: the kind of worker that runs its runs (``process``).
            description: free text.
            base_job_template: ``{"job_configuration": …, "variables": <JSON Schema>}``;
                empty for a ``process`` pool means the standard process template.
            is_paused: create it paused (no runs are handed out).
            concurrency_limit: at most this many runs Pending or Running at once.
        """
        from flowyard.schemas.work_pools import WorkPool, WorkPoolCreate

        body = build(
            WorkPoolCreate,
            name=name,
            type=type,
            is_paused=is_paused,
            base_job_template=base_job_template or {},
            **_set(description=description, concurrency_limit=concurrency_limit),
        )
        return parse(WorkPool, await self._request("POST", "/work_pools/", json=dump(body)))

    async def read_work_pool(self, name: str) -> WorkPool:
        """Read a pool by name (with its status). Raises ``ObjectNotFound``."""
        from flowyard.schemas.work_pools import WorkPool

        return parse(WorkPool, await self._request("GET", f"/work_pools/{seg(name)}"))

    async def read_work_pools(self, *, limit: int | None = None, offset: int = 0) -> list[WorkPool]:
        """The workspace's pools, by name."""
        from flowyard.schemas.work_pools import WorkPool

        body = compose(limit=limit, offset=offset)
        return parse_list(WorkPool, await self._request("POST", "/work_pools/filter", json=body))

    async def count_work_pools(self) -> int:
        """How many pools the workspace has."""
        return int(parse_json(await self._request("POST", "/work_pools/count", json={})))

    async def update_work_pool(
        self,
        name: str,
        *,
        description: str | None = None,
        is_paused: bool | None = None,
        base_job_template: dict[str, Any] | None = None,
        concurrency_limit: int | None = None,
    ) -> None:
        """Change what is given of a pool; pausing stops it handing out runs."""
        from flowyard.schemas.work_pools import WorkPoolUpdate

        fields = _set(
            description=description,
            is_paused=is_paused,
            base_job_template=base_job_template,
            concurrency_limit=concurrency_limit,
        )
        body = build(WorkPoolUpdate, **fields)
        await self._request("PATCH", f"/work_pools/{seg(name)}", json=dump(body))

    async def delete_work_pool(self, name: str) -> None:
        """Delete a pool with its queues. Raises ``ObjectAlreadyExists`` (409) while runs of
        it are unfinished, with a message naming them."""
        await self._request("DELETE", f"/work_pools/{seg(name)}")

    async def create_work_queue(
        self,
        work_pool_name: str,
        name: str,
        *,
        priority: int | None = None,
        concurrency_limit: int | None = None,
        is_paused: bool = False,
        description: str | None = None,
    ) -> WorkQueue:
        """Create a queue in a pool (priority 1 is polled first)."""
        from flowyard.schemas.work_pools import WorkQueue, WorkQueueCreate

        body = build(
            WorkQueueCreate,
            name=name,
            is_paused=is_paused,
            **_set(priority=priority, concurrency_limit=concurrency_limit, description=description),
        )
        path = f"/work_pools/{seg(work_pool_name)}/queues"
        return parse(WorkQueue, await self._request("POST", path, json=dump(body)))

    async def read_work_queue(self, work_queue_id: uuid.UUID) -> WorkQueue:
        """Read a queue by id. Raises ``ObjectNotFound``."""
        from flowyard.schemas.work_pools import WorkQueue

        return parse(WorkQueue, await self._request("GET", f"/work_queues/{work_queue_id}"))

    async def read_work_queue_by_name(self, work_pool_name: str, name: str) -> WorkQueue:
        """Read a pool's queue by name. Raises ``ObjectNotFound``."""
        from flowyard.schemas.work_pools import WorkQueue

        path = f"/work_pools/{seg(work_pool_name)}/queues/{seg(name)}"
        return parse(WorkQueue, await self._request("GET", path))

    async def read_work_queues(self, work_pool_name: str) -> list[WorkQueue]:
        """A pool's queues, by priority."""
        from flowyard.schemas.work_pools import WorkQueue

        path = f"/work_pools/{seg(work_pool_name)}/queues/filter"
        return parse_list(WorkQueue, await self._request("POST", path, json={}))

    async def update_work_queue(
        self,
        work_pool_name: str,
        name: str,
        *,
        new_name: str | None = None,
        priority: int | None = None,
        concurrency_limit: int | None = None,
        is_paused: bool | None = None,
        description: str | None = None,
    ) -> None:
        """Change what is given of a pool's queue."""
        from flowyard.schemas.work_pools import WorkQueueUpdate

        fields = _set(
            name=new_name,
            priority=priority,
            concurrency_limit=concurrency_limit,
            is_paused=is_paused,
            description=description,
        )
        body = build(WorkQueueUpdate, **fields)
        path = f"/work_pools/{seg(work_pool_name)}/queues/{seg(name)}"
        await self._request("PATCH", path, json=dump(body))

    async def delete_work_queue(self, work_pool_name: str, name: str) -> None:
        """Delete a queue (not the pool's default one)."""
        await self._request("DELETE", f"/work_pools/{seg(work_pool_name)}/queues/{seg(name)}")

    async def send_worker_heartbeat(
        self, work_pool_name: str, worker_name: str, heartbeat_interval_seconds: int | None = None
    ) -> None:
        """Say that ``worker_name`` is alive and polling the pool (makes the pool READY)."""
        from flowyard.schemas.work_pools import WorkerHeartbeat

        body = build(
            WorkerHeartbeat, name=worker_name, heartbeat_interval_seconds=heartbeat_interval_seconds
        )
        path = f"/work_pools/{seg(work_pool_name)}/workers/heartbeat"
        await self._request("POST", path, json=dump(body))

    async def read_workers(self, work_pool_name: str) -> list[Worker]:
        """The workers that have heartbeated to a pool, ONLINE or OFFLINE."""
        from flowyard.schemas.work_pools import Worker

        path = f"/work_pools/{seg(work_pool_name)}/workers/filter"
        return parse_list(Worker, await self._request("POST", path, json={}))

    async def delete_worker(self, work_pool_name: str, worker_name: str) -> None:
        """Forget a worker of a pool."""
        path = f"/work_pools/{seg(work_pool_name)}/workers/{seg(worker_name)}"
        await self._request("DELETE", path)

    async def get_scheduled_flow_runs(
        self,
        work_pool_name: str,
        *,
        work_queue_names: list[str] | None = None,
        scheduled_before: dt.datetime | None = None,
        scheduled_after: dt.datetime | None = None,
        limit: int | None = None,
        wait_seconds: float | None = None,
    ) -> list[WorkerFlowRunResponse]:
        """Scheduled runs of the pool that are due, highest-priority queue first.

        Args:
            work_pool_name: the pool.
            work_queue_names: only these queues (all when not given).
            scheduled_before: due at or before this time (now when not given).
            scheduled_after: due at or after this time.
            limit: at most this many.
            wait_seconds: when none is due, wait up to this long for one to be (long-poll).
        """
        from flowyard.schemas.work_pools import GetScheduledFlowRuns, WorkerFlowRunResponse

        body = build(
            GetScheduledFlowRuns,
            **_set(
                work_queue_names=work_queue_names,
                scheduled_before=scheduled_before,
                scheduled_after=scheduled_after,
                limit=limit,
                wait_seconds=wait_seconds,
            ),
        )
        path = f"/work_pools/{seg(work_pool_name)}/get_scheduled_flow_runs"
        response = await self._request("POST", path, json=dump(body))
        return parse_list(WorkerFlowRunResponse, response)
