"""Client methods for /deployments: flows made runnable on their own, their schedules, and
the flow runs made from them."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import TYPE_CHECKING, Any

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
from flowyard.schemas.core import FlowRun
from flowyard.schemas.filters import FlowFilter
from flowyard.schemas.sorting import DeploymentSort
from flowyard.schemas.states import StateCreate

if TYPE_CHECKING:
    from flowyard.schemas.deployments import (
        Deployment,
        DeploymentFilterFull,
        DeploymentSchedule,
        DeploymentScheduleCreate,
    )


class DeploymentsAPI(BaseClient):
    """Deployments: create (upsert by flow and name), read, update, pause, run."""

    async def create_deployment(
        self, flow_id: uuid.UUID, name: str, /, **fields: Any
    ) -> Deployment:
        """Create the flow's deployment called ``name``, or update it if it exists.

        Args:
            flow_id: the flow it runs.
            name: unique per flow.
            **fields: any field of ``DeploymentCreate`` (``entrypoint``, ``parameters``,
                ``schedules``, ``work_pool_name``, ``pull_steps``, ``tags`` …).
        """
        from flowyard.schemas.deployments import Deployment, DeploymentCreate

        body = build(DeploymentCreate, flow_id=flow_id, name=name, **fields)
        return parse(Deployment, await self._request("POST", "/deployments/", json=dump(body)))

    async def read_deployment(self, deployment_id: uuid.UUID) -> Deployment:
        """Read a deployment by id. Raises ``ObjectNotFound``."""
        from flowyard.schemas.deployments import Deployment

        return parse(Deployment, await self._request("GET", f"/deployments/{deployment_id}"))

    async def read_deployment_by_name(self, name: str) -> Deployment:
        """Read a deployment by ``"flow-name/deployment-name"``. Raises ``ObjectNotFound``."""
        from flowyard.schemas.deployments import Deployment

        flow_name, _, deployment_name = name.partition("/")
        path = f"/deployments/name/{segment(flow_name)}/{segment(deployment_name)}"
        return parse(Deployment, await self._request("GET", path))

    async def read_deployments(
        self,
        deployment_filter: DeploymentFilterFull | None = None,
        *,
        flow_filter: FlowFilter | None = None,
        sort: DeploymentSort = DeploymentSort.NAME_ASC,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[Deployment]:
        """Deployments matching the filters, in ``sort`` order."""
        from flowyard.schemas.deployments import Deployment

        body = compose(
            deployments=deployment_filter, flows=flow_filter, sort=str(sort), limit=limit,
            offset=offset,
        )  # fmt: skip
        response = await self._request("POST", "/deployments/filter", json=body)
        return parse_list(Deployment, response)

    async def count_deployments(self, deployment_filter: DeploymentFilterFull | None = None) -> int:
        """How many deployments match the filter."""
        body = compose(deployments=deployment_filter)
        return int(parse_json(await self._request("POST", "/deployments/count", json=body)))

    async def update_deployment(self, deployment_id: uuid.UUID, /, **fields: Any) -> None:
        """Change the given fields of a deployment (any field of ``DeploymentUpdate``)."""
        from flowyard.schemas.deployments import DeploymentUpdate

        body = build(DeploymentUpdate, **fields)
        await self._request("PATCH", f"/deployments/{deployment_id}", json=dump(body))

    async def delete_deployment(self, deployment_id: uuid.UUID) -> None:
        """Delete a deployment and its runs that have not started. Raises ``ObjectNotFound``."""
        await self._request("DELETE", f"/deployments/{deployment_id}")

    async def pause_deployment(self, deployment_id: uuid.UUID) -> None:
        """Pause a deployment: its scheduled runs are removed until it is resumed."""
        await self._request("POST", f"/deployments/{deployment_id}/pause_deployment")

    async def resume_deployment(self, deployment_id: uuid.UUID) -> None:
        """Resume a paused deployment: its schedules make runs again."""
        await self._request("POST", f"/deployments/{deployment_id}/resume_deployment")

    async def schedule_deployment(self, deployment_id: uuid.UUID) -> None:
        """Have the server create the deployment's missing scheduled runs now (the
        scheduler service does this on its own; an embedded server has no services)."""
        await self._request("POST", f"/deployments/{deployment_id}/schedule")

    async def create_flow_run_from_deployment(
        self,
        deployment_id: uuid.UUID,
        *,
        parameters: dict[str, Any] | None = None,
        state: StateCreate | None = None,
        name: str | None = None,
        tags: list[str] | None = None,
        idempotency_key: str | None = None,
        parent_task_run_id: uuid.UUID | None = None,
        work_queue_name: str | None = None,
        job_variables: dict[str, Any] | None = None,
    ) -> FlowRun:
        """Create a run of the deployment: ``parameters`` over the deployment's, checked
        against its parameter schema (``InvalidRequest`` naming a bad one); Scheduled now
        unless ``state`` is given."""
        from flowyard.schemas.deployments import DeploymentFlowRunCreate

        body = build(
            DeploymentFlowRunCreate,
            parameters=parameters or {},
            state=state,
            name=name,
            tags=tags or [],
            idempotency_key=idempotency_key,
            parent_task_run_id=parent_task_run_id,
            work_queue_name=work_queue_name,
            job_variables=job_variables,
        )
        path = f"/deployments/{deployment_id}/create_flow_run"
        return parse(FlowRun, await self._request("POST", path, json=dump(body)))

    async def get_scheduled_flow_runs_for_deployments(
        self,
        deployment_ids: list[uuid.UUID],
        *,
        scheduled_before: dt.datetime | None = None,
        limit: int | None = None,
    ) -> list[FlowRun]:
        """Scheduled runs of these deployments due before ``scheduled_before`` (now)."""
        body = compose(
            deployment_ids=[str(i) for i in deployment_ids],
            scheduled_before=scheduled_before.isoformat() if scheduled_before else None,
            limit=limit,
        )
        response = await self._request("POST", "/deployments/get_scheduled_flow_runs", json=body)
        return parse_list(FlowRun, response)

    async def read_deployment_schedules(self, deployment_id: uuid.UUID) -> list[DeploymentSchedule]:
        """The schedules of a deployment."""
        from flowyard.schemas.deployments import DeploymentSchedule

        response = await self._request("GET", f"/deployments/{deployment_id}/schedules")
        return parse_list(DeploymentSchedule, response)

    async def create_deployment_schedules(
        self, deployment_id: uuid.UUID, schedules: list[DeploymentScheduleCreate]
    ) -> list[DeploymentSchedule]:
        """Add schedules to a deployment."""
        from flowyard.schemas.deployments import DeploymentSchedule

        body = [dump(s) for s in schedules]
        response = await self._request("POST", f"/deployments/{deployment_id}/schedules", json=body)
        return parse_list(DeploymentSchedule, response)

    async def update_deployment_schedule(
        self, deployment_id: uuid.UUID, schedule_id: uuid.UUID, /, **fields: Any
    ) -> None:
        """Change a schedule (``active``, ``schedule``, ``parameters`` …)."""
        from flowyard.schemas.deployments import DeploymentScheduleUpdate

        body = build(DeploymentScheduleUpdate, **fields)
        path = f"/deployments/{deployment_id}/schedules/{schedule_id}"
        await self._request("PATCH", path, json=dump(body))

    async def delete_deployment_schedule(
        self, deployment_id: uuid.UUID, schedule_id: uuid.UUID
    ) -> None:
        """Remove a schedule and its runs that have not started."""
        await self._request("DELETE", f"/deployments/{deployment_id}/schedules/{schedule_id}")
