"""Client methods for /task_runs and /task_run_states."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from flowyard.client._http import (
    BaseClient,
    build,
    compose,
    dump,
    parse,
    parse_json,
    parse_list,
    state_body,
    validation_message,
)
from flowyard.exceptions import InvalidRequest
from flowyard.schemas.actions import TaskRunCreate, TaskRunUpdate
from flowyard.schemas.core import TaskRun, TaskRunInput, TaskRunPolicy
from flowyard.schemas.filters import DeploymentFilter, FlowFilter, FlowRunFilter, TaskRunFilter
from flowyard.schemas.sorting import TaskRunSort
from flowyard.schemas.states import OrchestrationResult, State, StateCreate
from flowyard.schemas.task_run_reports import TASK_RUN_REPORTS


class TaskRunsAPI(BaseClient):
    """Task runs: one call of a task, inside a flow run or on its own."""

    async def report_task_runs(self, reports: Sequence[Mapping[str, Any]]) -> None:
        """Record a batch of task runs orchestrated in this process, in one request
        (``POST /task_runs/reports``, a Flowyard extension).

        Each report is a run's snapshot after a state change (see
        :class:`~flowyard.schemas.task_run_reports.TaskRunReport`); the latest state of a
        run wins. In embedded mode the batch goes straight to the in-process server.

        Args:
            reports: the reports, as dicts (UUIDs and datetimes as objects or as strings).

        Raises:
            InvalidRequest: a report is invalid (the message names the field); nothing of
                the batch is stored.
        """
        if not reports:
            return
        from flowyard.client._embedded import (
            EMBEDDED_API_URL,
            EmbeddedTransport,
            record_task_run_reports,
        )

        transport = self._transport
        if isinstance(transport, EmbeddedTransport) and self.api_url == EMBEDDED_API_URL:
            # The default workspace of the in-process server: validated as the route would,
            # then straight to its recorder, with no JSON in between.
            try:
                valid = TASK_RUN_REPORTS.validate_python(reports)
            except ValidationError as exc:
                raise InvalidRequest(validation_message(exc), 422) from None
            await record_task_run_reports(transport.settings, valid)
            return
        await self._request("POST", "/task_runs/reports", json=reports)

    async def create_task_run(
        self,
        task_key: str,
        dynamic_key: str,
        *,
        flow_run_id: uuid.UUID | None = None,
        name: str | None = None,
        state: State | StateCreate | None = None,
        id: uuid.UUID | None = None,
        tags: list[str] | None = None,
        labels: dict[str, Any] | None = None,
        task_inputs: dict[str, list[TaskRunInput]] | None = None,
        cache_key: str | None = None,
        cache_expiration: dt.datetime | None = None,
        task_version: str | None = None,
        empirical_policy: TaskRunPolicy | None = None,
    ) -> TaskRun:
        """Create a task run, or return the existing one with the same
        ``flow_run_id``, ``task_key`` and ``dynamic_key``.

        Args:
            task_key: identifies the task (its function) within the flow.
            dynamic_key: tells apart calls of the same task in one flow run.
            flow_run_id: the flow run it belongs to, if any.
            name: a name for the run.
            state: the initial state (Pending when ``None``).
            id: the id to use, when the caller made one up already.
            tags: tags of the run.
            labels: labels of the run.
            task_inputs: the upstream runs and parameters each argument came from.
            cache_key: the cache key the run's result is stored under.
            cache_expiration: when that cached result expires.
            task_version: the version of the task's code.
            empirical_policy: retries and retry delays.
        """
        fields: dict[str, Any] = {
            "task_key": task_key,
            "dynamic_key": dynamic_key,
            "flow_run_id": flow_run_id,
            "name": name,
            "id": id,
            "tags": tags,
            "labels": labels,
            "task_inputs": task_inputs,
            "cache_key": cache_key,
            "cache_expiration": cache_expiration,
            "task_version": task_version,
            "empirical_policy": empirical_policy,
        }
        body = dump(build(TaskRunCreate, **{k: v for k, v in fields.items() if v is not None}))
        if state is not None:
            body["state"] = state_body(state)
        return parse(TaskRun, await self._request("POST", "/task_runs/", json=body))

    async def read_task_run(self, task_run_id: uuid.UUID) -> TaskRun:
        """Read one task run, with its current state. Raises ``ObjectNotFound``."""
        return parse(TaskRun, await self._request("GET", f"/task_runs/{task_run_id}"))

    async def read_task_runs(
        self,
        *,
        flow_filter: FlowFilter | None = None,
        flow_run_filter: FlowRunFilter | None = None,
        task_run_filter: TaskRunFilter | None = None,
        deployment_filter: DeploymentFilter | None = None,
        sort: TaskRunSort = TaskRunSort.ID_DESC,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[TaskRun]:
        """Task runs matching every given filter, in ``sort`` order.

        Args:
            flow_filter: keep task runs of matching flows.
            flow_run_filter: keep task runs in matching flow runs.
            task_run_filter: conditions on the task runs themselves.
            deployment_filter: keep task runs of matching deployments.
            sort: the order of the result.
            limit: at most this many (the server's default limit when ``None``).
            offset: skip this many first.
        """
        body = compose(
            flows=flow_filter,
            flow_runs=flow_run_filter,
            task_runs=task_run_filter,
            deployments=deployment_filter,
            sort=str(sort),
            limit=limit,
            offset=offset,
        )
        return parse_list(TaskRun, await self._request("POST", "/task_runs/filter", json=body))

    async def count_task_runs(
        self,
        *,
        flow_filter: FlowFilter | None = None,
        flow_run_filter: FlowRunFilter | None = None,
        task_run_filter: TaskRunFilter | None = None,
        deployment_filter: DeploymentFilter | None = None,
    ) -> int:
        """How many task runs match every given filter."""
        body = compose(
            flows=flow_filter,
            flow_runs=flow_run_filter,
            task_runs=task_run_filter,
            deployments=deployment_filter,
        )
        return int(parse_json(await self._request("POST", "/task_runs/count", json=body)))

    async def update_task_run(self, task_run_id: uuid.UUID, *, name: str | None = None) -> None:
        """Rename a task run."""
        body = build(TaskRunUpdate, **({} if name is None else {"name": name}))
        await self._request("PATCH", f"/task_runs/{task_run_id}", json=dump(body))

    async def delete_task_run(self, task_run_id: uuid.UUID) -> None:
        """Delete a task run. Raises ``ObjectNotFound`` if there is none."""
        await self._request("DELETE", f"/task_runs/{task_run_id}")

    async def set_task_run_state(
        self, task_run_id: uuid.UUID, state: State | StateCreate, *, force: bool = False
    ) -> OrchestrationResult:
        """Propose a new state for a task run; the server's orchestration decides.

        Args:
            task_run_id: the run.
            state: the proposed state.
            force: skip the orchestration rules (the transition is accepted as proposed).

        Returns:
            The decision (ACCEPT, REJECT, WAIT or ABORT), the run's state and details.
        """
        body = {"state": state_body(state), "force": force}
        response = await self._request("POST", f"/task_runs/{task_run_id}/set_state", json=body)
        return parse(OrchestrationResult, response)

    async def read_task_run_states(self, task_run_id: uuid.UUID) -> list[State]:
        """Every state a task run has been in, oldest first."""
        params = {"task_run_id": str(task_run_id)}
        return parse_list(State, await self._request("GET", "/task_run_states/", params=params))
