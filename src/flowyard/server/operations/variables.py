"""Variables: named JSON values, unique by name in a workspace.

Each create, update and delete stores ``prefect.variable.<action>`` with the change, its
payload the variable's post-state (name, value, tags) as the official server sends it:
variables are not secret (blocks are where secrets go).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from flowyard.schemas import actions, core
from flowyard.schemas.filters import VariableFilter
from flowyard.schemas.sorting import VariableSort
from flowyard.server.database import orm
from flowyard.server.errors import Conflict, NotFound
from flowyard.server.operations.context import Tx, operation, permission
from flowyard.server.operations.lifecycle import Action, emit_lifecycle
from flowyard.server.queries import variables as queries

READ = permission("read", "variable")
CREATE = permission("create", "variable")
UPDATE = permission("update", "variable")
DELETE = permission("delete", "variable")
NOT_FOUND = "Variable not found."


def _name_taken(name: str) -> str:
    return f"A variable named {name!r} already exists."


def _emit(tx: Tx, action: Action, variable: core.Variable, changed: Iterable[str] = ()) -> None:
    payload = {"name": variable.name, "value": variable.value, "tags": list(variable.tags)}
    emit_lifecycle(
        tx, "variable", action, variable.id, variable.name, changed=changed, payload=payload
    )


@operation(CREATE, writes=True)
async def create_variable(tx: Tx, variable: actions.VariableCreate) -> core.Variable:
    row = await queries.create_variable(tx.session, tx.workspace_id, variable)
    if row is None:
        raise Conflict(_name_taken(variable.name))
    created = core.Variable.from_row(row)
    _emit(tx, "created", created)
    return created


@operation(READ)
async def read_variable(tx: Tx, variable_id: uuid.UUID) -> core.Variable:
    return core.Variable.from_row(await _by_id(tx, variable_id))


@operation(READ)
async def read_variable_by_name(tx: Tx, name: str) -> core.Variable:
    return core.Variable.from_row(await _by_name(tx, name))


@operation(READ)
async def read_variables(
    tx: Tx,
    variable_filter: VariableFilter | None,
    sort: VariableSort = VariableSort.NAME_ASC,
    limit: int | None = None,
    offset: int = 0,
) -> list[core.Variable]:
    conditions = queries.variable_conditions(tx.workspace_id, variable_filter, tx.dialect)
    rows = await queries.read_variables(tx.session, conditions, sort, limit, offset)
    return [core.Variable.from_row(row) for row in rows]


@operation(READ)
async def count_variables(tx: Tx, variable_filter: VariableFilter | None) -> int:
    conditions = queries.variable_conditions(tx.workspace_id, variable_filter, tx.dialect)
    return await queries.count_variables(tx.session, conditions)


@operation(UPDATE, writes=True)
async def update_variable(tx: Tx, variable_id: uuid.UUID, update: actions.VariableUpdate) -> None:
    await _update(tx, await _by_id(tx, variable_id), update)


@operation(UPDATE, writes=True)
async def update_variable_by_name(tx: Tx, name: str, update: actions.VariableUpdate) -> None:
    await _update(tx, await _by_name(tx, name), update)


@operation(DELETE, writes=True)
async def delete_variable(tx: Tx, variable_id: uuid.UUID) -> None:
    await _delete(tx, await _by_id(tx, variable_id))


@operation(DELETE, writes=True)
async def delete_variable_by_name(tx: Tx, name: str) -> None:
    await _delete(tx, await _by_name(tx, name))


async def _by_id(tx: Tx, variable_id: uuid.UUID) -> orm.Variable:
    row = await queries.read_variable(tx.session, tx.workspace_id, variable_id)
    if row is None:
        raise NotFound(NOT_FOUND)
    return row


async def _by_name(tx: Tx, name: str) -> orm.Variable:
    row = await queries.read_variable_by_name(tx.session, tx.workspace_id, name)
    if row is None:
        raise NotFound(NOT_FOUND)
    return row


async def _update(tx: Tx, row: orm.Variable, update: actions.VariableUpdate) -> None:
    before = core.Variable.from_row(row)
    new_name = update.name if update.name != row.name else None
    if new_name and await queries.read_variable_by_name(tx.session, tx.workspace_id, new_name):
        raise Conflict(_name_taken(new_name))
    await queries.update_variable(tx.session, tx.workspace_id, row.id, update)
    values: dict[str, Any] = update.model_dump(exclude_unset=True)
    if values.get("tags", []) is None:
        values.pop("tags")  # null tags leave them as they are (see queries.update_variable)
    changed = [name for name, value in values.items() if getattr(before, name) != value]
    if changed:
        _emit(tx, "updated", before.model_copy(update=values), changed)


async def _delete(tx: Tx, row: orm.Variable) -> None:
    variable = core.Variable.from_row(row)
    await queries.delete_variable(tx.session, tx.workspace_id, row.id)
    _emit(tx, "deleted", variable)
