"""Automations: create, read, change, pause and delete them.

Every change is stored with its ``prefect.automation.created|updated|deleted`` event (as the
contract's server names them, the automation itself as payload); the trigger engine
(``server/events/triggers.py``) listens to those to reload what it evaluates.

Refused when saved, with a message saying why: a trigger that would match every event (an
automation fired by each of thousands of events per second, including its own), a template
that does not parse, an action that selects nothing.
"""

from __future__ import annotations

import uuid
from typing import Any

from flowyard.schemas.automations import (
    SELECTABLE,
    AnyTrigger,
    Automation,
    AutomationCore,
    AutomationCreate,
    AutomationFilter,
    AutomationSort,
    EventTrigger,
    ResourceSpecification,
)
from flowyard.server.database.orm_automations import Automation as AutomationRow
from flowyard.server.errors import Invalid, NotFound
from flowyard.server.operations.context import Tx, operation, permission
from flowyard.server.operations.lifecycle import Action, emit_lifecycle
from flowyard.server.operations.templates import check_template, template_strings
from flowyard.server.queries import automation_state, work_pools
from flowyard.server.queries import automations as queries

READ = permission("read", "automation")
CREATE = permission("create", "automation")
UPDATE = permission("update", "automation")
DELETE = permission("delete", "automation")
NOT_FOUND = "Automation not found."
# The resource kind each selectable action field names, as ``prefect.<kind>.<id>``.
KINDS = {
    "deployment_id": "deployment",
    "work_queue_id": "work-queue",
    "work_pool_id": "work-pool",
    "automation_id": "automation",
}


def _is_wildcard(spec: ResourceSpecification) -> bool:
    """True when the specification admits any resource (empty, or every value ``*``)."""
    return all(value == "*" or value == ["*"] for value in spec.values())


def catch_all_reason(trigger: AnyTrigger) -> str | None:
    """Why ``trigger`` would fire on every event, or None when it narrows them down."""
    if isinstance(trigger, EventTrigger):
        names = [*trigger.expect, *trigger.after]
        if names and "*" not in names:
            return None
        if not _is_wildcard(trigger.match):
            return None
        if any(not _is_wildcard(spec) for spec in trigger.related_specs):
            return None
        return (
            "This trigger would match every event: it names no event in `expect` or "
            "`after` and no resource in `match` or `match_related`. Name the events "
            "(e.g. expect ['prefect.flow-run.Completed']) or the resources it is about."
        )
    for child in trigger.triggers:
        reason = catch_all_reason(child)
        if reason:
            return reason
    return None


def _check(automation: AutomationCore) -> None:
    reason = catch_all_reason(automation.trigger)
    if reason:
        raise Invalid(reason)
    for action in [*automation.actions, *automation.actions_on_trigger,
                   *automation.actions_on_resolve]:  # fmt: skip
        for text in template_strings(action.model_dump(mode="json")):
            check_template(text)


def _related(automation: AutomationCore) -> list[str]:
    """The resources the automation's actions select, as ``prefect.<kind>.<id>``."""
    found: list[str] = []
    for action in [*automation.actions, *automation.actions_on_trigger,
                   *automation.actions_on_resolve]:  # fmt: skip
        field = SELECTABLE.get(action.type)
        value = getattr(action, field) if field else None
        if field and value is not None:
            found.append(f"prefect.{KINDS[field]}.{value}")
    return found


def _values(automation: AutomationCore) -> dict[str, Any]:
    dumped = automation.model_dump(mode="json")
    return {
        key: dumped[key]
        for key in ("name", "description", "enabled", "tags", "trigger", "actions",
                    "actions_on_trigger", "actions_on_resolve")
    }  # fmt: skip


def to_schema(row: AutomationRow) -> Automation:
    return Automation.model_validate(row, from_attributes=True)


def _emit(tx: Tx, action: Action, automation: Automation, changed: list[str] | None = None) -> None:
    emit_lifecycle(
        tx, "automation", action, automation.id, automation.name,
        changed=changed or (), payload=automation.model_dump(mode="json"),
    )  # fmt: skip


async def _row(tx: Tx, automation_id: uuid.UUID, *, lock: bool = False) -> AutomationRow:
    row = await queries.read_automation(tx.session, tx.workspace_id, automation_id, lock=lock)
    if row is None:
        raise NotFound(NOT_FOUND)
    return row


@operation(CREATE, writes=True)
async def create_automation(tx: Tx, automation: AutomationCreate) -> Automation:
    _check(automation)
    values = _values(automation)
    values["owner_resource"] = automation.owner_resource
    row = await queries.create_automation(tx.session, tx.workspace_id, values)
    await queries.set_related_resources(
        tx.session, tx.workspace_id, row.id, _related(automation), automation.owner_resource
    )
    created = to_schema(row)
    _emit(tx, "created", created)
    return created


@operation(READ)
async def read_automation(tx: Tx, automation_id: uuid.UUID) -> Automation:
    return to_schema(await _row(tx, automation_id))


@operation(READ)
async def read_automations(
    tx: Tx,
    flt: AutomationFilter | None,
    sort: AutomationSort = "NAME_ASC",
    limit: int | None = None,
    offset: int = 0,
) -> list[Automation]:
    rows = await queries.read_automations(tx.session, tx.workspace_id, flt, sort, limit, offset)
    return [to_schema(row) for row in rows]


@operation(READ)
async def count_automations(tx: Tx, flt: AutomationFilter | None) -> int:
    return await queries.count_automations(tx.session, tx.workspace_id, flt)


@operation(UPDATE, writes=True)
async def update_automation(tx: Tx, automation_id: uuid.UUID, update: AutomationCore) -> None:
    """``PUT``: everything but the owner replaced."""
    _check(update)
    row = await _row(tx, automation_id, lock=True)
    values = _values(update)
    changed = [key for key, value in values.items() if getattr(row, key) != value]
    await queries.update_automation(tx.session, row, values)
    # The trigger may have changed: its windows and counts start afresh.
    await automation_state.forget_automation_state(tx.session, row.id)
    await queries.set_related_resources(
        tx.session, tx.workspace_id, row.id, _related(update), row.owner_resource
    )
    _emit(tx, "updated", to_schema(row), changed)


@operation(UPDATE, writes=True)
async def set_automation_enabled(tx: Tx, automation_id: uuid.UUID, enabled: bool) -> None:
    """``PATCH`` (pause or resume), and the pause/resume-automation actions."""
    row = await _row(tx, automation_id, lock=True)
    if row.enabled == enabled:
        return
    await queries.update_automation(tx.session, row, {"enabled": enabled})
    if not enabled:
        # Paused: what it counted so far does not carry over to when it is resumed.
        await automation_state.forget_automation_state(tx.session, row.id)
    _emit(tx, "updated", to_schema(row), ["enabled"])


@operation(DELETE, writes=True)
async def delete_automation(tx: Tx, automation_id: uuid.UUID) -> None:
    row = await _row(tx, automation_id)
    gone = to_schema(row)
    await queries.delete_automations(tx.session, [row.id])
    _emit(tx, "deleted", gone)


@operation(READ)
async def read_automations_related_to(tx: Tx, resource_id: str) -> list[Automation]:
    rows = await queries.read_related_automations(tx.session, tx.workspace_id, resource_id)
    return [to_schema(row) for row in rows]


@operation(DELETE, writes=True)
async def delete_automations_owned_by(tx: Tx, resource_id: str) -> int:
    """Delete (for real) every automation owned by ``resource_id``; how many went."""
    rows = await queries.read_related_automations(
        tx.session, tx.workspace_id, resource_id, owned_only=True
    )
    gone = [to_schema(row) for row in rows]
    await queries.delete_automations(tx.session, [row.id for row in rows])
    for automation in gone:
        _emit(tx, "deleted", automation)
    return len(gone)


@operation(READ)
async def validate_template(tx: Tx, template: str) -> None:
    """``POST /templates/validate``: Invalid, naming the line, when it does not parse."""
    check_template(template)


@operation(permission("read", "work_pool"))
async def work_pool_name(tx: Tx, work_pool_id: uuid.UUID) -> str:
    """The name of a work pool given its id (the pause/resume-work-pool actions select
    pools by id; the work-pool operations take names)."""
    pool = await work_pools.read_work_pool(tx.session, tx.workspace_id, work_pool_id)
    if pool is None:
        raise NotFound("Work pool not found.")
    return pool.name
