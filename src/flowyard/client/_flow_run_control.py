"""Client methods for flow-run control: cancel, leases (heartbeats), resume, flow-run
inputs and blockers."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from flowyard.client._http import BaseClient, parse, parse_list, segment
from flowyard.schemas.states import OrchestrationResult, StateType

if TYPE_CHECKING:
    from flowyard.schemas.flow_run_control import FlowRunBlockers, FlowRunInput, FlowRunLease


class FlowRunControlAPI(BaseClient):
    """Controlling flow runs that are running or waiting to run."""

    async def cancel_flow_run(
        self, flow_run_id: uuid.UUID, *, message: str | None = None
    ) -> OrchestrationResult:
        """Ask for a run to be cancelled: it moves to Cancelling (Cancelled at once when it
        has no process to stop), and whatever executes it stops it and reports Cancelled.

        Args:
            flow_run_id: the run.
            message: recorded on the Cancelling state.
        """
        state: dict[str, Any] = {"type": StateType.CANCELLING.value, "name": "Cancelling"}
        if message is not None:
            state["message"] = message
        body = {"state": state, "force": False}
        response = await self._request("POST", f"/flow_runs/{flow_run_id}/set_state", json=body)
        return parse(OrchestrationResult, response)

    async def heartbeat_flow_run(
        self,
        flow_run_id: uuid.UUID,
        lease_seconds: float,
        *,
        holder: dict[str, Any] | None = None,
    ) -> FlowRunLease:
        """Take or renew the lease on a run this process executes, for ``lease_seconds``.

        Returns:
            The lease: its expiration (None once the run needs none, e.g. it finished) and
            the run's current state (Cancelling tells the process to stop).
        """
        from flowyard.schemas.flow_run_control import FlowRunLease

        body: dict[str, Any] = {"lease_seconds": lease_seconds, "holder": holder}
        response = await self._request("POST", f"/flow_runs/{flow_run_id}/lease", json=body)
        return parse(FlowRunLease, response)

    async def release_flow_run_lease(self, flow_run_id: uuid.UUID) -> None:
        """Give up the lease on a run (this process is done with it)."""
        await self._request("DELETE", f"/flow_runs/{flow_run_id}/lease")

    async def resume_flow_run(
        self, flow_run_id: uuid.UUID, run_input: dict[str, Any] | None = None
    ) -> OrchestrationResult:
        """Resume a paused run, giving it ``run_input`` if it waits for input.

        Raises:
            InvalidRequest: ``run_input`` does not match the schema the paused run asked
                for (the message names the field).
        """
        body = {"run_input": run_input}
        response = await self._request("POST", f"/flow_runs/{flow_run_id}/resume", json=body)
        return parse(OrchestrationResult, response)

    async def create_flow_run_input(
        self, flow_run_id: uuid.UUID, key: str, value: str, *, sender: str | None = None
    ) -> None:
        """Store ``value`` (JSON text) on a run under ``key``. Raises ``ObjectAlreadyExists``
        when the key is taken."""
        body = {"key": key, "value": value, "sender": sender}
        await self._request("POST", f"/flow_runs/{flow_run_id}/input", json=body)

    async def read_flow_run_input(self, flow_run_id: uuid.UUID, key: str) -> str:
        """The value stored under ``key`` (JSON text). Raises ``ObjectNotFound``."""
        path = f"/flow_runs/{flow_run_id}/input/{segment(key)}"
        return (await self._request("GET", path)).text

    async def filter_flow_run_input(
        self,
        flow_run_id: uuid.UUID,
        prefix: str,
        *,
        limit: int = 1,
        exclude_keys: list[str] | None = None,
    ) -> list[FlowRunInput]:
        """Inputs of a run whose key starts with ``prefix``, oldest first."""
        from flowyard.schemas.flow_run_control import FlowRunInput

        body = {"prefix": prefix, "limit": limit, "exclude_keys": exclude_keys or []}
        path = f"/flow_runs/{flow_run_id}/input/filter"
        return parse_list(FlowRunInput, await self._request("POST", path, json=body))

    async def delete_flow_run_input(self, flow_run_id: uuid.UUID, key: str) -> None:
        """Delete the input stored under ``key``. Raises ``ObjectNotFound``."""
        await self._request("DELETE", f"/flow_runs/{flow_run_id}/input/{segment(key)}")

    async def read_flow_run_blockers(self, flow_run_id: uuid.UUID) -> FlowRunBlockers:
        """Why a Scheduled, Late or Pending run is not starting (empty for other runs):
        scheduled in the future, awaiting a retry, a paused deployment, pool or queue, no
        worker polling its pool, a full concurrency limit (with what holds it)."""
        from flowyard.schemas.flow_run_control import FlowRunBlockers

        path = f"/flow_runs/{flow_run_id}/blockers"
        return parse(FlowRunBlockers, await self._request("GET", path))
