"""What an automation does when it fires: each action through the application layer.

Every action acts in the automation's own workspace, through ``flowyard.server.operations``
with a request context for that workspace and the server as actor: the same permission
check, transaction and events as the API. Around each, the contract's events:
``prefect.automation.action.triggered``, then ``...executed`` or ``...failed`` with the
reason (a refused transition, a resource that is gone, a template that failed to render).

``source: inferred`` takes the target from the triggering event: its resource, or the first
related resource of the right kind (``prefect.deployment.<id>``, ...).
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from typing import Any

from flowyard.schemas import core
from flowyard.schemas.automations import (
    SELECTABLE,
    Action,
    ChangeFlowRunState,
    RunDeployment,
)
from flowyard.schemas.deployments import DeploymentFlowRunCreate
from flowyard.schemas.states import SetStateStatus, StateCreate, StateDetails, StateType
from flowyard.schemas.work_pools import WorkPoolUpdate, WorkQueueUpdate
from flowyard.server.database.engine import Database
from flowyard.server.database.types import new_id, utcnow
from flowyard.server.errors import DomainError
from flowyard.server.events.triggers import Firing, automation_resource
from flowyard.server.operations import (
    automations,
    deployments,
    flow_run_control,
    flow_runs,
    work_pools,
    work_queues,
)
from flowyard.server.operations import flows as flow_operations
from flowyard.server.operations.context import SYSTEM_ACTOR, RequestContext
from flowyard.server.operations.templates import render, render_values
from flowyard.server.queries import automation_state, outbox

logger = logging.getLogger("flowyard.server.events.actions")

KIND_OF_FIELD = {
    "deployment_id": "prefect.deployment",
    "work_queue_id": "prefect.work-queue",
    "work_pool_id": "prefect.work-pool",
    "automation_id": "prefect.automation",
}


class ActionFailed(Exception):
    """The action could not be taken; the message is the failed event's reason."""


def resource_of_kind(event: core.Event | None, kind: str) -> uuid.UUID | None:
    """The id of the event's resource of ``kind``, or of its first related one."""
    if event is None:
        return None
    for resource in (event.resource, *event.related):
        resource_id = resource.get("prefect.resource.id", "")
        if resource_id.startswith(kind + "."):
            try:
                return uuid.UUID(resource_id[len(kind) + 1 :])
            except ValueError:
                continue
    return None


def _target(action: Any, firing: Firing) -> uuid.UUID:
    field = SELECTABLE[action.type]
    if action.source == "selected":
        selected: uuid.UUID = getattr(action, field)
        return selected
    inferred = resource_of_kind(firing.triggering_event, KIND_OF_FIELD[field])
    if inferred is None:
        raise ActionFailed(f"No {KIND_OF_FIELD[field]} resource on the triggering event.")
    return inferred


def _flow_run_id(firing: Firing) -> uuid.UUID:
    run_id = resource_of_kind(firing.triggering_event, "prefect.flow-run")
    if run_id is None:
        raise ActionFailed("No prefect.flow-run resource on the triggering event.")
    return run_id


async def _maybe(read: Any) -> Any:
    try:
        return await read
    except DomainError:
        return None


async def template_scope(ctx: RequestContext, firing: Firing) -> dict[str, Any]:
    """What templates see: the event, and the flow run, flow, deployment and work pool it
    names (None when it names none, or they are gone)."""
    event = firing.triggering_event
    scope: dict[str, Any] = {"event": event, "automation": firing.automation,
                             "flow_run": None, "flow": None, "deployment": None,
                             "work_pool": None}  # fmt: skip
    run_id = resource_of_kind(event, "prefect.flow-run")
    flow_run = await _maybe(flow_runs.read_flow_run(ctx, run_id)) if run_id else None
    scope["flow_run"] = flow_run
    flow_id = resource_of_kind(event, "prefect.flow") or getattr(flow_run, "flow_id", None)
    if flow_id:
        scope["flow"] = await _maybe(flow_operations.read_flow(ctx, flow_id))
    deployment_id = resource_of_kind(event, "prefect.deployment") or getattr(
        flow_run, "deployment_id", None
    )
    if deployment_id:
        scope["deployment"] = await _maybe(deployments.read_deployment(ctx, deployment_id))
    pool_id = resource_of_kind(event, "prefect.work-pool")
    if pool_id:
        name = await _maybe(automations.work_pool_name(ctx, pool_id))
        if name:
            scope["work_pool"] = await _maybe(work_pools.read_work_pool(ctx, name))
    return scope


async def _run_deployment(
    ctx: RequestContext, action: RunDeployment, firing: Firing
) -> list[dict[str, str]]:
    deployment_id = _target(action, firing)
    scope = await template_scope(ctx, firing)
    try:
        parameters = render_values(action.parameters or {}, scope)
        job_variables = render_values(action.job_variables or {}, scope)
    except Exception as exc:  # a template that parsed but failed to render
        raise ActionFailed(f"A template failed to render: {exc}") from None
    state = None
    if action.schedule_after:
        when = utcnow() + dt.timedelta(seconds=action.schedule_after)
        state = StateCreate(
            type=StateType.SCHEDULED, state_details=StateDetails(scheduled_time=when)
        )
    body = DeploymentFlowRunCreate(
        parameters=parameters,
        job_variables=job_variables or None,
        state=state,
        tags=[],
        idempotency_key=f"automation-firing-{firing.firing_id}-{deployment_id}",
    )
    run, _ = await deployments.create_flow_run(ctx, deployment_id, body)
    return [{"prefect.resource.id": f"prefect.flow-run.{run.id}",
             "prefect.resource.role": "flow-run", "prefect.resource.name": run.name}]  # fmt: skip


async def _set_state(
    ctx: RequestContext, firing: Firing, proposal: StateCreate, force: bool
) -> None:
    result = await flow_runs.set_flow_run_state(ctx, _flow_run_id(firing), proposal, force)
    if result.status != SetStateStatus.ACCEPT:
        reason = getattr(result.details, "reason", None) or result.status.value
        raise ActionFailed(f"The flow run's state was not changed: {reason}")


async def _change_state(ctx: RequestContext, action: ChangeFlowRunState, firing: Firing) -> None:
    message = action.message
    if message:
        try:
            message = render(message, await template_scope(ctx, firing))
        except Exception as exc:
            raise ActionFailed(f"The message template failed to render: {exc}") from None
    proposal = StateCreate(type=action.state, name=action.name, message=message)
    await _set_state(ctx, firing, proposal, action.force)


async def perform(ctx: RequestContext, action: Action, firing: Firing) -> list[dict[str, str]]:
    """Take one action; the resources it produced (a flow run it created)."""
    kind = action.type
    if kind == "do-nothing":
        return []
    if isinstance(action, RunDeployment):
        return await _run_deployment(ctx, action, firing)
    if isinstance(action, ChangeFlowRunState):
        await _change_state(ctx, action, firing)
    elif kind == "pause-deployment":
        await deployments.pause_deployment(ctx, _target(action, firing))
    elif kind == "resume-deployment":
        await deployments.resume_deployment(ctx, _target(action, firing))
    elif kind == "cancel-flow-run":
        await _set_state(ctx, firing, StateCreate(type=StateType.CANCELLING), False)
    elif kind == "suspend-flow-run":
        details = StateDetails(pause_reschedule=True)
        proposal = StateCreate(type=StateType.PAUSED, name="Suspended", state_details=details)
        await _set_state(ctx, firing, proposal, False)
    elif kind == "resume-flow-run":
        result = await flow_run_control.resume_flow_run(ctx, _flow_run_id(firing), None)
        if result.status != SetStateStatus.ACCEPT:
            raise ActionFailed(f"The flow run was not resumed: {result.details}")
    elif kind == "delete-flow-run":
        await flow_runs.delete_flow_run(ctx, _flow_run_id(firing))
    elif kind in ("pause-work-queue", "resume-work-queue"):
        paused = kind == "pause-work-queue"
        await work_queues.update_work_queue(
            ctx, _target(action, firing), WorkQueueUpdate(is_paused=paused)
        )
    elif kind in ("pause-work-pool", "resume-work-pool"):
        name = await automations.work_pool_name(ctx, _target(action, firing))
        await work_pools.update_work_pool(
            ctx, name, WorkPoolUpdate(is_paused=kind == "pause-work-pool")
        )
    elif kind in ("pause-automation", "resume-automation"):
        await automations.set_automation_enabled(
            ctx, _target(action, firing), kind == "resume-automation"
        )
    else:  # the schema admits no other type
        raise ActionFailed(f"Unknown action type {kind!r}")
    return []


class ActionRunner:
    """Runs a firing's actions in order, each with its outcome events."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._accounts: dict[uuid.UUID, uuid.UUID] = {}

    async def context(self, workspace_id: uuid.UUID) -> RequestContext:
        account_id = self._accounts.get(workspace_id)
        if account_id is None:
            async with self.db.read() as session:
                found = await automation_state.workspace_account(session, workspace_id)
            if found is None:
                raise ActionFailed("The automation's workspace is gone.")
            account_id = self._accounts[workspace_id] = found
        return RequestContext(self.db, workspace_id, account_id, SYSTEM_ACTOR)

    async def __call__(self, firing: Firing) -> None:
        automation = firing.automation
        if firing.state == "triggered":
            actions = [*automation.actions_on_trigger, *automation.actions]
        else:
            actions = list(automation.actions_on_resolve)
        for index, action in enumerate(actions):
            await self.run_one(firing, index, action)

    async def run_one(self, firing: Firing, index: int, action: Action) -> None:
        triggered = utcnow()
        related: list[dict[str, str]] = []
        reason: str | None = None
        try:
            ctx = await self.context(firing.workspace_id)
            related = await perform(ctx, action, firing)
        except ActionFailed as exc:
            reason = str(exc)
        except DomainError as exc:
            reason = exc.message
        except Exception as exc:
            logger.exception("Automation %s action %d failed", firing.automation.id, index)
            reason = f"Unexpected error: {type(exc).__name__}"
        await self._record(firing, index, action, triggered, related, reason)

    async def _record(
        self,
        firing: Firing,
        index: int,
        action: Action,
        triggered: dt.datetime,
        related: list[dict[str, str]],
        reason: str | None,
    ) -> None:
        resource = automation_resource(firing.automation)
        related = [
            *related,
            {"prefect.resource.id": f"prefect.event.{firing.triggered_event_id}",
             "prefect.resource.role": "automation-triggered-event"},
        ]  # fmt: skip
        if firing.triggering_event is not None:
            related.append({"prefect.resource.id": f"prefect.event.{firing.triggering_event.id}",
                            "prefect.resource.role": "triggering-event"})  # fmt: skip
        details = {"action_index": index, "action_type": action.type,
                   "invocation": str(firing.firing_id)}  # fmt: skip
        first = new_id()
        outcome = "executed" if reason is None else "failed"
        body = details if reason is None else {**details, "reason": reason}
        started = core.Event(
            id=first, occurred=triggered, event="prefect.automation.action.triggered",
            resource=resource, related=related, payload=details,
        )  # fmt: skip
        ended = core.Event(
            id=new_id(), occurred=utcnow(), event=f"prefect.automation.action.{outcome}",
            resource=resource, related=related, payload=body, follows=first,
        )  # fmt: skip
        async with self.db.write() as session:
            for item in (started, ended):
                outbox.emit(session, firing.workspace_id, item)
