"""Artifacts, and the "latest artifact per key" view (collections).

There is no separate collection table to keep in step: the newest artifact of each key is
picked with a window function over the ``(workspace_id, key, created)`` index, so deleting
the newest artifact makes the previous one the latest without any bookkeeping.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from flowyard.schemas import actions, filters
from flowyard.schemas.sorting import ArtifactSort
from flowyard.server.database import orm
from flowyard.server.database.types import utcnow
from flowyard.server.queries.filtering import Condition, compile_filter
from flowyard.server.queries.run_filters import flow_run_conditions, task_run_conditions

A = orm.Artifact
# Columns of the latest-per-key view, by the names the API (and its filters) use.
COLLECTION_COLUMNS = (
    "id", "created", "updated", "key", "type", "description", "data", "metadata_",
    "flow_run_id", "task_run_id",
)  # fmt: skip


def _sorts(columns: Any) -> dict[ArtifactSort, list[Any]]:
    return {
        ArtifactSort.CREATED_DESC: [columns.created.desc(), columns.id.desc()],
        ArtifactSort.UPDATED_DESC: [columns.updated.desc(), columns.id.desc()],
        ArtifactSort.ID_DESC: [columns.id.desc()],
        # Keyless artifacts last either way, on both databases.
        ArtifactSort.KEY_DESC: [columns.key.desc().nulls_last(), columns.id.desc()],
        ArtifactSort.KEY_ASC: [columns.key.asc().nulls_last(), columns.id.desc()],
    }


async def create_artifact(
    session: AsyncSession, workspace_id: uuid.UUID, artifact: actions.ArtifactCreate
) -> orm.Artifact:
    now = utcnow()
    values = dict(artifact.model_dump(), created=now, updated=now)
    row = orm.Artifact(id=uuid.uuid4(), workspace_id=workspace_id, **values)
    session.add(row)
    await session.flush()
    return row


async def read_artifact(
    session: AsyncSession, workspace_id: uuid.UUID, artifact_id: uuid.UUID
) -> orm.Artifact | None:
    return await session.scalar(
        sa.select(A).where(A.workspace_id == workspace_id, A.id == artifact_id)
    )


async def read_latest_artifact(
    session: AsyncSession, workspace_id: uuid.UUID, key: str
) -> orm.Artifact | None:
    query = (
        sa.select(A)
        .where(A.workspace_id == workspace_id, A.key == key)
        .order_by(A.created.desc(), A.id.desc())
        .limit(1)
    )
    return await session.scalar(query)


def artifact_conditions(
    workspace_id: uuid.UUID,
    artifact_filter: filters.ArtifactFilter | None,
    dialect: str,
    related: filters.RunFilters | None = None,
) -> list[Condition]:
    return [
        A.workspace_id == workspace_id,
        *compile_filter(artifact_filter, A, dialect),
        *run_conditions(workspace_id, A, related, dialect),
    ]


def run_conditions(
    workspace_id: uuid.UUID, columns: Any, related: filters.RunFilters | None, dialect: str
) -> list[Condition]:
    """Artifacts (or collections, by their latest artifact) of the runs these filters
    select: the ``flows``, ``flow_runs`` and ``deployments`` filters pick the artifact's
    flow run, ``task_runs`` its task run. A filter given, even empty, keeps only artifacts
    that have such a run, as in the contract."""
    if related is None:
        return []
    conditions: list[Condition] = []
    run_side = filters.RunFilters(
        flows=related.flows, flow_runs=related.flow_runs, deployments=related.deployments
    )
    if any(flt is not None for flt in (related.flows, related.flow_runs, related.deployments)):
        runs = flow_run_conditions(workspace_id, run_side, dialect)
        conditions.append(columns.flow_run_id.in_(sa.select(orm.FlowRun.id).where(*runs)))
    if related.task_runs is not None:
        tasks = task_run_conditions(
            workspace_id, filters.RunFilters(task_runs=related.task_runs), dialect
        )
        conditions.append(columns.task_run_id.in_(sa.select(orm.TaskRun.id).where(*tasks)))
    return conditions


async def read_artifacts(
    session: AsyncSession,
    conditions: Sequence[Condition],
    sort: ArtifactSort = ArtifactSort.ID_DESC,
    limit: int | None = None,
    offset: int = 0,
) -> Sequence[orm.Artifact]:
    query = sa.select(A).where(*conditions).order_by(*_sorts(A)[sort])
    return (await session.scalars(query.limit(limit).offset(offset))).all()


async def count_artifacts(session: AsyncSession, conditions: Sequence[Condition]) -> int:
    query = sa.select(sa.func.count()).select_from(A).where(*conditions)
    return await session.scalar(query) or 0


def _latest_per_key(workspace_id: uuid.UUID) -> Any:
    rank = sa.func.row_number().over(partition_by=A.key, order_by=(A.created.desc(), A.id.desc()))
    ranked = (
        sa.select(*(getattr(A, name).label(name) for name in COLLECTION_COLUMNS), rank.label("n"))
        .where(A.workspace_id == workspace_id, A.key.is_not(None))
        .subquery("ranked")
    )
    columns = SimpleNamespace(**{name: ranked.c[name] for name in COLLECTION_COLUMNS})
    columns.latest_id = ranked.c.id
    return ranked, columns


def _collection_query(
    workspace_id: uuid.UUID,
    collection_filter: filters.ArtifactCollectionFilter | None,
    dialect: str,
    related: filters.RunFilters | None,
) -> tuple[Any, Any, list[Condition]]:
    ranked, columns = _latest_per_key(workspace_id)
    conditions = [
        ranked.c.n == 1,
        *compile_filter(collection_filter, columns, dialect),
        *run_conditions(workspace_id, columns, related, dialect),
    ]
    return ranked, columns, conditions


async def read_latest_artifacts(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    collection_filter: filters.ArtifactCollectionFilter | None,
    sort: ArtifactSort = ArtifactSort.ID_DESC,
    limit: int | None = None,
    offset: int = 0,
    related: filters.RunFilters | None = None,
) -> list[dict[str, Any]]:
    """The newest artifact of each key, as mappings with the collection's field names."""
    dialect = session.get_bind().dialect.name
    ranked, columns, conditions = _collection_query(
        workspace_id, collection_filter, dialect, related
    )
    query = (
        sa.select(*(ranked.c[name] for name in COLLECTION_COLUMNS))
        .where(*conditions)
        .order_by(*_sorts(columns)[sort])
        .limit(limit)
        .offset(offset)
    )
    return [dict(row._mapping) for row in await session.execute(query)]


async def count_latest_artifacts(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    collection_filter: filters.ArtifactCollectionFilter | None,
    related: filters.RunFilters | None = None,
) -> int:
    dialect = session.get_bind().dialect.name
    ranked, _, conditions = _collection_query(workspace_id, collection_filter, dialect, related)
    query = sa.select(sa.func.count()).select_from(ranked).where(*conditions)
    return await session.scalar(query) or 0


async def update_artifact(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    artifact_id: uuid.UUID,
    update: actions.ArtifactUpdate,
) -> bool:
    values = update.model_dump(exclude_unset=True)
    if not values:
        return await read_artifact(session, workspace_id, artifact_id) is not None
    result = await session.execute(
        sa.update(A).where(A.workspace_id == workspace_id, A.id == artifact_id).values(**values)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def delete_artifact(
    session: AsyncSession, workspace_id: uuid.UUID, artifact_id: uuid.UUID
) -> bool:
    result = await session.execute(
        sa.delete(A).where(A.workspace_id == workspace_id, A.id == artifact_id)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
