"""Client methods for /flow_runs and /flow_run_states."""

from __future__ import annotations

import datetime as dt
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
    state_body,
)
from flowyard.schemas.actions import FlowRunCreate, FlowRunUpdate
from flowyard.schemas.core import FlowRun, FlowRunPolicy, HistoryInterval
from flowyard.schemas.filters import (
    DeploymentFilter,
    FlowFilter,
    FlowRunFilter,
    TaskRunFilter,
    WorkPoolFilter,
    WorkQueueFilter,
)
from flowyard.schemas.sorting import FlowRunSort
from flowyard.schemas.states import OrchestrationResult, State, StateCreate


class FlowRunsAPI(BaseClient):
    """Flow runs: one execution of a flow, and the states it went through."""

    async def create_flow_run(
        self,
        flow_id: uuid.UUID,
        *,
        name: str | None = None,
        parameters: dict[str, Any] | None = None,
        state: State | StateCreate | None = None,
        tags: list[str] | None = None,
        labels: dict[str, Any] | None = None,
        context: dict[str, Any] | None = None,
        parent_task_run_id: uuid.UUID | None = None,
        idempotency_key: str | None = None,
        flow_version: str | None = None,
        empirical_policy: FlowRunPolicy | None = None,
        deployment_id: uuid.UUID | None = None,
    ) -> FlowRun:
        """Create a run of flow ``flow_id``.

        With no ``state`` the run starts Pending. With an ``idempotency_key`` that another
        run of this flow already has, that run is returned instead of a new one.

        Args:
            flow_id: the flow this is a run of.
            name: a name for the run; the server makes one up when ``None``.
            parameters: the arguments of the run (JSON-serializable).
            state: the initial state.
            tags: tags of the run.
            labels: labels of the run.
            context: free-form context stored with the run.
            parent_task_run_id: for a subflow, the task run in the parent that stands for it.
            idempotency_key: makes creation idempotent per flow.
            flow_version: the version of the flow's code.
            empirical_policy: retries and retry delay of the run.
            deployment_id: the deployment this run belongs to.
        """
        fields: dict[str, Any] = {
            "flow_id": flow_id,
            "name": name,
            "parameters": parameters,
            "tags": tags,
            "labels": labels,
            "context": context,
            "parent_task_run_id": parent_task_run_id,
            "idempotency_key": idempotency_key,
            "flow_version": flow_version,
            "empirical_policy": empirical_policy,
            "deployment_id": deployment_id,
        }
        body = dump(build(FlowRunCreate, **{k: v for k, v in fields.items() if v is not None}))
        if state is not None:
            body["state"] = state_body(state)
        return parse(FlowRun, await self._request("POST", "/flow_runs/", json=body))

    async def read_flow_run(self, flow_run_id: uuid.UUID) -> FlowRun:
        """Read one flow run, with its current state. Raises ``ObjectNotFound``."""
        return parse(FlowRun, await self._request("GET", f"/flow_runs/{flow_run_id}"))

    async def read_flow_runs(
        self,
        *,
        flow_filter: FlowFilter | None = None,
        flow_run_filter: FlowRunFilter | None = None,
        task_run_filter: TaskRunFilter | None = None,
        deployment_filter: DeploymentFilter | None = None,
        work_pool_filter: WorkPoolFilter | None = None,
        work_queue_filter: WorkQueueFilter | None = None,
        sort: FlowRunSort = FlowRunSort.ID_DESC,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[FlowRun]:
        """Flow runs matching every given filter, in ``sort`` order.

        Args:
            flow_filter: keep runs of matching flows.
            flow_run_filter: conditions on the runs themselves.
            task_run_filter: keep runs with at least one matching task run.
            deployment_filter: keep runs of matching deployments.
            work_pool_filter: keep runs in matching work pools.
            work_queue_filter: keep runs in matching work queues.
            sort: the order of the result.
            limit: at most this many (the server's default limit when ``None``).
            offset: skip this many first.
        """
        body = compose(
            flows=flow_filter,
            flow_runs=flow_run_filter,
            task_runs=task_run_filter,
            deployments=deployment_filter,
            work_pools=work_pool_filter,
            work_pool_queues=work_queue_filter,
            sort=str(sort),
            limit=limit,
            offset=offset,
        )
        return parse_list(FlowRun, await self._request("POST", "/flow_runs/filter", json=body))

    async def count_flow_runs(
        self,
        *,
        flow_filter: FlowFilter | None = None,
        flow_run_filter: FlowRunFilter | None = None,
        task_run_filter: TaskRunFilter | None = None,
        deployment_filter: DeploymentFilter | None = None,
    ) -> int:
        """How many flow runs match every given filter."""
        body = compose(
            flows=flow_filter,
            flow_runs=flow_run_filter,
            task_runs=task_run_filter,
            deployments=deployment_filter,
        )
        return int(parse_json(await self._request("POST", "/flow_runs/count", json=body)))

    async def update_flow_run(
        self,
        flow_run_id: uuid.UUID,
        *,
        name: str | None = None,
        tags: list[str] | None = None,
        parameters: dict[str, Any] | None = None,
        flow_version: str | None = None,
        infrastructure_pid: str | None = None,
        job_variables: dict[str, Any] | None = None,
        empirical_policy: FlowRunPolicy | None = None,
    ) -> None:
        """Change the given fields of a flow run; fields left ``None`` are not touched."""
        fields: dict[str, Any] = {
            "name": name,
            "tags": tags,
            "parameters": parameters,
            "flow_version": flow_version,
            "infrastructure_pid": infrastructure_pid,
            "job_variables": job_variables,
            "empirical_policy": empirical_policy,
        }
        body = build(FlowRunUpdate, **{k: v for k, v in fields.items() if v is not None})
        await self._request("PATCH", f"/flow_runs/{flow_run_id}", json=dump(body))

    async def update_flow_run_labels(self, flow_run_id: uuid.UUID, labels: dict[str, Any]) -> None:
        """Merge ``labels`` into a flow run's labels."""
        await self._request("PATCH", f"/flow_runs/{flow_run_id}/labels", json=labels)

    async def delete_flow_run(self, flow_run_id: uuid.UUID) -> None:
        """Delete a flow run and its logs. Raises ``ObjectNotFound`` if there is none."""
        await self._request("DELETE", f"/flow_runs/{flow_run_id}")

    async def set_flow_run_state(
        self,
        flow_run_id: uuid.UUID,
        state: State | StateCreate,
        *,
        force: bool = False,
        lease_seconds: float | None = None,
        lease_holder: dict[str, Any] | None = None,
    ) -> OrchestrationResult:
        """Propose a new state for a flow run; the server's orchestration decides.

        Args:
            flow_run_id: the run.
            state: the proposed state.
            force: skip the orchestration rules (the transition is accepted as proposed).
            lease_seconds: with a Running proposal, take the run's lease for this long
                if Running is accepted (this process then renews it, see
                :meth:`heartbeat_flow_run`; a final state drops it).
            lease_holder: who holds that lease (recorded with it).

        Returns:
            The decision: ``status`` ACCEPT, REJECT, WAIT or ABORT, the state the run is now
            in, and details (a reason, or how long to wait before proposing again).
        """
        body: dict[str, Any] = {"state": state_body(state), "force": force}
        if lease_seconds is not None:
            body["lease"] = {"lease_seconds": lease_seconds, "holder": lease_holder}
        response = await self._request("POST", f"/flow_runs/{flow_run_id}/set_state", json=body)
        return parse(OrchestrationResult, response)

    async def read_flow_run_states(self, flow_run_id: uuid.UUID) -> list[State]:
        """Every state a flow run has been in, oldest first."""
        params = {"flow_run_id": str(flow_run_id)}
        return parse_list(State, await self._request("GET", "/flow_run_states/", params=params))

    async def read_flow_run_history(
        self,
        *,
        history_start: dt.datetime,
        history_end: dt.datetime,
        history_interval: dt.timedelta | float,
        flow_filter: FlowFilter | None = None,
        flow_run_filter: FlowRunFilter | None = None,
        task_run_filter: TaskRunFilter | None = None,
        deployment_filter: DeploymentFilter | None = None,
    ) -> list[HistoryInterval]:
        """Counts of flow runs by state, in intervals from ``history_start`` to ``history_end``.

        Args:
            history_start: start of the first interval.
            history_end: end of the last interval.
            history_interval: length of one interval (a timedelta or seconds).
            flow_filter: count runs of matching flows only.
            flow_run_filter: count matching runs only.
            task_run_filter: count runs with a matching task run only.
            deployment_filter: count runs of matching deployments only.
        """
        seconds = (
            history_interval.total_seconds()
            if isinstance(history_interval, dt.timedelta)
            else float(history_interval)
        )
        body = compose(
            history_start=history_start.isoformat(),
            history_end=history_end.isoformat(),
            history_interval_seconds=seconds,
            flows=flow_filter,
            flow_runs=flow_run_filter,
            task_runs=task_run_filter,
            deployments=deployment_filter,
        )
        response = await self._request("POST", "/flow_runs/history", json=body)
        return parse_list(HistoryInterval, response)
