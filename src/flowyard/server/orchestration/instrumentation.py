"""Every state a run enters is an event, written in the transition's own transaction.

The last transform of each global policy turns the validated state into the event the
official server emits (``prefect.flow-run.<State name>``; ``prefect.task-run.<State name>``
for task runs orchestrated by the server), with the contract's resource labels, related
resources and payload, and hands it to the outbox (``queries.outbox``): the event is stored
when the transition commits, and never when it does not.

Related resources name the run's flow, deployment, work queue and pool by name, as the
official server does. Names barely change, so they are looked up once per process and kept
(a rename shows in events from the next process start on, and in every read of the objects
themselves at once).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from flowyard.schemas import core
from flowyard.schemas.states import State
from flowyard.server.database import orm
from flowyard.server.database.orm_deployments import Deployment
from flowyard.server.orchestration.rules import OrchestrationContext, Transform
from flowyard.server.queries import outbox, task_run_events

ID = "prefect.resource.id"
ROLE = "prefect.resource.role"
NAME = "prefect.resource.name"
STATE_MESSAGE_LIMIT = 100_000
NAMES_KEPT = 10_000

_names: dict[tuple[str, uuid.UUID], str] = {}


def resource(kind: str, ident: uuid.UUID | str, name: str | None = None) -> dict[str, str]:
    labels = {ID: f"prefect.{kind}.{ident}"}
    if name is not None:
        labels[NAME] = name
    return labels


def related(kind: str, ident: uuid.UUID | str, name: str | None = None) -> dict[str, str]:
    return {**resource(kind, ident, name), ROLE: kind}


def tag_resources(tags: Iterable[str]) -> list[dict[str, str]]:
    return [{ID: f"prefect.tag.{tag}", ROLE: "tag"} for tag in tags]


async def _name(session: AsyncSession, kind: str, table: Any, ident: uuid.UUID) -> str | None:
    key = (kind, ident)
    found = _names.get(key)
    if found is None:
        found = await session.scalar(sa.select(table.name).where(table.id == ident))
        if found is not None:
            if len(_names) >= NAMES_KEPT:
                _names.clear()
            _names[key] = found
    return found


def forget_name(kind: str, ident: uuid.UUID) -> None:
    """A renamed or deleted object: look its name up again next time."""
    _names.pop((kind, ident), None)


def _state_labels(state: State) -> dict[str, str]:
    message = state.message or ""
    return {
        "prefect.state-message": message[:STATE_MESSAGE_LIMIT],
        "prefect.state-name": state.name or "",
        "prefect.state-timestamp": state.timestamp.isoformat(),
        "prefect.state-type": state.type.value,
    }


def _state_summary(state: State | None) -> dict[str, Any] | None:
    if state is None:
        return None
    summary: dict[str, Any] = {"type": state.type.value, "name": state.name}
    if state.message:
        summary["message"] = state.message[:STATE_MESSAGE_LIMIT]
    return summary


def state_event(
    kind: str,
    run_id: uuid.UUID,
    run_name: str,
    run_count: int,
    initial: State | None,
    validated: State,
    related_resources: list[dict[str, str]],
) -> core.Event:
    """``prefect.<kind>.<State name>`` for a run entering ``validated``; its id is the
    state's id, and it follows the event of the state it replaced."""
    labels = {ID: f"prefect.{kind}.{run_id}", NAME: run_name, "prefect.run-count": str(run_count)}
    labels.update(_state_labels(validated))
    payload = {
        "intended": {
            "from": initial.type.value if initial is not None else None,
            "to": validated.type.value,
        },
        "initial_state": _state_summary(initial),
        "validated_state": _state_summary(validated),
    }
    return core.Event.model_construct(
        id=validated.id,
        occurred=validated.timestamp,
        event=f"prefect.{kind}.{validated.name}",
        resource=labels,
        related=related_resources,
        payload=payload,
        follows=initial.id if initial is not None else None,
        received=None,
    )


async def flow_run_related(session: AsyncSession, run: orm.FlowRun) -> list[dict[str, str]]:
    """The related resources of a flow run's events, as the official server lists them."""
    found = [related("flow", run.flow_id, await _name(session, "flow", orm.Flow, run.flow_id))]
    if run.deployment_id is not None:
        name = await _name(session, "deployment", Deployment, run.deployment_id)
        found.append(related("deployment", run.deployment_id, name))
    if run.work_queue_id is not None:
        found.append(related("work-queue", run.work_queue_id, run.work_queue_name))
    if run.work_pool_id is not None:
        found.append(related("work-pool", run.work_pool_id, run.work_pool_name))
    if run.parent_task_run_id is not None:
        found.append(related("task-run", run.parent_task_run_id))
    found.extend(tag_resources(run.tags or ()))
    return found


class InstrumentFlowRunStateTransitions(Transform[orm.FlowRun]):
    """Emit ``prefect.flow-run.<State name>`` for every state a flow run enters."""

    async def after_transition(self, ctx: OrchestrationContext[orm.FlowRun]) -> None:
        state = ctx.validated_state
        if state is None or not ctx.wrote_state:
            return
        run = ctx.run
        item = state_event(
            "flow-run", run.id, run.name, run.run_count or 0, ctx.initial_state, state,
            await flow_run_related(ctx.session, run),
        )  # fmt: skip
        outbox.emit(ctx.session, run.workspace_id, item)


class InstrumentTaskRunStateTransitions(Transform[orm.TaskRun]):
    """Announce ``prefect.task-run.<State name>`` for states set through the API. The state
    row is the event's stored form (``queries.task_run_events``), as for the task runs the
    recorder stores."""

    async def after_transition(self, ctx: OrchestrationContext[orm.TaskRun]) -> None:
        state = ctx.validated_state
        if state is None or not ctx.wrote_state:
            return
        run = ctx.run
        run_row = {"id": run.id, "name": run.name, "run_count": run.run_count,
                   "flow_run_id": run.flow_run_id, "tags": list(run.tags or ())}  # fmt: skip
        state_row = {"id": state.id, "type": state.type.value, "name": state.name,
                     "timestamp": state.timestamp, "message": state.message}  # fmt: skip
        workspace_id = run.workspace_id
        outbox.announce(
            ctx.session, lambda: [(workspace_id, task_run_events.state_event(run_row, state_row))]
        )
