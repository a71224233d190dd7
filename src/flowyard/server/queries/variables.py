"""Variables: named JSON values, unique per workspace."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from flowyard.schemas import actions, filters
from flowyard.schemas.sorting import VariableSort
from flowyard.server.database import orm
from flowyard.server.queries.filtering import Condition, compile_filter
from flowyard.server.queries.upsert import insert_ignore

SORTS: dict[VariableSort, list[Any]] = {
    VariableSort.CREATED_DESC: [orm.Variable.created.desc()],
    VariableSort.UPDATED_DESC: [orm.Variable.updated.desc()],
    VariableSort.NAME_ASC: [orm.Variable.name.asc()],
    VariableSort.NAME_DESC: [orm.Variable.name.desc()],
}


async def create_variable(
    session: AsyncSession, workspace_id: uuid.UUID, variable: actions.VariableCreate
) -> orm.Variable | None:
    """The new variable, or None when the name is taken."""
    new_id = uuid.uuid4()
    values = dict(variable.model_dump(), id=new_id, workspace_id=workspace_id)
    await session.execute(insert_ignore(session, orm.Variable, values, ["workspace_id", "name"]))
    row = await read_variable_by_name(session, workspace_id, variable.name)
    return row if row is not None and row.id == new_id else None


async def read_variable(
    session: AsyncSession, workspace_id: uuid.UUID, variable_id: uuid.UUID
) -> orm.Variable | None:
    return await session.scalar(
        sa.select(orm.Variable).where(
            orm.Variable.workspace_id == workspace_id, orm.Variable.id == variable_id
        )
    )


async def read_variable_by_name(
    session: AsyncSession, workspace_id: uuid.UUID, name: str
) -> orm.Variable | None:
    return await session.scalar(
        sa.select(orm.Variable).where(
            orm.Variable.workspace_id == workspace_id, orm.Variable.name == name
        )
    )


def variable_conditions(
    workspace_id: uuid.UUID, variable_filter: filters.VariableFilter | None, dialect: str
) -> list[Condition]:
    return [
        orm.Variable.workspace_id == workspace_id,
        *compile_filter(variable_filter, orm.Variable, dialect),
    ]


async def read_variables(
    session: AsyncSession,
    conditions: Sequence[Condition],
    sort: VariableSort = VariableSort.NAME_ASC,
    limit: int | None = None,
    offset: int = 0,
) -> Sequence[orm.Variable]:
    query = sa.select(orm.Variable).where(*conditions).order_by(*SORTS[sort], orm.Variable.id)
    return (await session.scalars(query.limit(limit).offset(offset))).all()


async def count_variables(session: AsyncSession, conditions: Sequence[Condition]) -> int:
    query = sa.select(sa.func.count()).select_from(orm.Variable).where(*conditions)
    return await session.scalar(query) or 0


async def update_variable(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    variable_id: uuid.UUID,
    update: actions.VariableUpdate,
) -> bool:
    """False when there is no such variable. A rename onto a taken name raises
    IntegrityError (the caller checks first to answer 409)."""
    values = update.model_dump(exclude_unset=True)
    if values.get("tags", []) is None:
        values.pop("tags")  # null tags means "leave them", not "no tags"
    if not values:
        return await read_variable(session, workspace_id, variable_id) is not None
    result = await session.execute(
        sa.update(orm.Variable)
        .where(orm.Variable.workspace_id == workspace_id, orm.Variable.id == variable_id)
        .values(**values)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def delete_variable(
    session: AsyncSession, workspace_id: uuid.UUID, variable_id: uuid.UUID
) -> bool:
    result = await session.execute(
        sa.delete(orm.Variable).where(
            orm.Variable.workspace_id == workspace_id, orm.Variable.id == variable_id
        )
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
