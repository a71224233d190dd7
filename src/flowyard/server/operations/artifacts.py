"""Artifacts, and their collections: the latest artifact of each key.

Events, with the contract's names: creating an artifact stores ``prefect.artifact.created``
and changing one ``prefect.artifact.updated``. A keyed artifact also changes its key's
collection: the first artifact of a key stores ``prefect.artifact-collection.created``, a
newer one (or a change to the latest) ``.updated``, and deleting the latest makes the
previous one the latest (``.updated``) or, when it was the last, ``.deleted``. The contract
names no event for deleting an artifact itself, so an unkeyed artifact's deletion, or one
that was not its key's latest, tells nothing.

A collection has no row of its own (``queries.artifacts`` picks the latest per key), so its
id is derived from the workspace and the key: stable while the latest artifact changes, as
a collection's id is in the contract, so that automations can follow one collection.
"""

from __future__ import annotations

import uuid
from typing import Any

from flowyard.schemas import actions, core
from flowyard.schemas.filters import ArtifactCollectionFilter, ArtifactFilter, RunFilters
from flowyard.schemas.sorting import ArtifactSort
from flowyard.server.database import orm
from flowyard.server.errors import NotFound
from flowyard.server.operations import references
from flowyard.server.operations.context import Tx, operation, permission
from flowyard.server.operations.lifecycle import Action, emit_lifecycle
from flowyard.server.orchestration.instrumentation import related
from flowyard.server.queries import artifacts as queries

READ = permission("read", "artifact")
CREATE = permission("create", "artifact")
UPDATE = permission("update", "artifact")
DELETE = permission("delete", "artifact")
NOT_FOUND = "Artifact not found."


def collection_id(workspace_id: uuid.UUID, key: str) -> uuid.UUID:
    """The id of ``key``'s collection in a workspace (see the module docstring)."""
    return uuid.uuid5(workspace_id, key)


def _runs(flow_run_id: uuid.UUID | None, task_run_id: uuid.UUID | None) -> list[dict[str, str]]:
    found = []
    if flow_run_id is not None:
        found.append(related("flow-run", flow_run_id))
    if task_run_id is not None:
        found.append(related("task-run", task_run_id))
    return found


def _emit_artifact(
    tx: Tx, action: Action, artifact: core.Artifact, changed: list[str] | None = None
) -> None:
    payload = {"key": artifact.key, "type": artifact.type, "description": artifact.description}
    emit_lifecycle(
        tx, "artifact", action, artifact.id, artifact.key,
        related=_runs(artifact.flow_run_id, artifact.task_run_id),
        changed=changed or (), payload=payload,
    )  # fmt: skip


def _emit_collection(tx: Tx, action: Action, latest: core.Artifact) -> None:
    """The collection of ``latest.key``, whose latest artifact is ``latest`` (for
    ``deleted``: was)."""
    assert latest.key is not None
    payload: dict[str, Any] = {"key": latest.key, "type": latest.type}
    if action != "deleted":
        payload |= {"data": latest.data, "description": latest.description}
    emit_lifecycle(
        tx, "artifact-collection", action, collection_id(tx.workspace_id, latest.key), latest.key,
        related=[
            {"prefect.resource.id": f"prefect.artifact.{latest.id}",
             "prefect.resource.role": "latest"},
            *_runs(latest.flow_run_id, latest.task_run_id),
        ],
        payload=payload,
    )  # fmt: skip


@operation(CREATE, writes=True)
async def create_artifact(tx: Tx, artifact: actions.ArtifactCreate) -> core.Artifact:
    await references.refuse_foreign_runs(
        tx,
        flow_run_ids={"flow_run_id": [artifact.flow_run_id]},
        task_run_ids={"task_run_id": [artifact.task_run_id]},
    )
    had_key = artifact.key is not None and (
        await queries.read_latest_artifact(tx.session, tx.workspace_id, artifact.key) is not None
    )
    created = core.Artifact.from_row(
        await queries.create_artifact(tx.session, tx.workspace_id, artifact)
    )
    _emit_artifact(tx, "created", created)
    if created.key is not None:
        _emit_collection(tx, "updated" if had_key else "created", created)
    return created


@operation(READ)
async def read_artifact(tx: Tx, artifact_id: uuid.UUID) -> core.Artifact:
    return core.Artifact.from_row(await _row(tx, artifact_id))


@operation(READ)
async def read_latest_artifact(tx: Tx, key: str) -> core.Artifact:
    """``GET /artifacts/{key}/latest``."""
    row = await queries.read_latest_artifact(tx.session, tx.workspace_id, key)
    if row is None:
        raise NotFound(NOT_FOUND)
    return core.Artifact.from_row(row)


@operation(READ)
async def read_artifacts(
    tx: Tx,
    artifact_filter: ArtifactFilter | None,
    related: RunFilters | None = None,
    sort: ArtifactSort = ArtifactSort.ID_DESC,
    limit: int | None = None,
    offset: int = 0,
) -> list[core.Artifact]:
    conditions = queries.artifact_conditions(tx.workspace_id, artifact_filter, tx.dialect, related)
    rows = await queries.read_artifacts(tx.session, conditions, sort, limit, offset)
    return [core.Artifact.from_row(row) for row in rows]


@operation(READ)
async def count_artifacts(
    tx: Tx, artifact_filter: ArtifactFilter | None, related: RunFilters | None = None
) -> int:
    """``related``: the flows, flow-runs, task-runs and deployments filters (see
    ``queries.artifacts.run_conditions``)."""
    conditions = queries.artifact_conditions(tx.workspace_id, artifact_filter, tx.dialect, related)
    return await queries.count_artifacts(tx.session, conditions)


@operation(READ)
async def read_artifact_collections(
    tx: Tx,
    collection_filter: ArtifactCollectionFilter | None,
    related: RunFilters | None = None,
    sort: ArtifactSort = ArtifactSort.ID_DESC,
    limit: int | None = None,
    offset: int = 0,
) -> list[core.ArtifactCollection]:
    """``POST /artifacts/latest/filter``: the latest artifact of each key."""
    rows = await queries.read_latest_artifacts(
        tx.session, tx.workspace_id, collection_filter, sort, limit, offset, related
    )
    return [
        core.ArtifactCollection(
            **{**row, "id": collection_id(tx.workspace_id, row["key"])}, latest_id=row["id"]
        )
        for row in rows
    ]


@operation(READ)
async def count_artifact_collections(
    tx: Tx, collection_filter: ArtifactCollectionFilter | None, related: RunFilters | None = None
) -> int:
    return await queries.count_latest_artifacts(
        tx.session, tx.workspace_id, collection_filter, related
    )


@operation(UPDATE, writes=True)
async def update_artifact(tx: Tx, artifact_id: uuid.UUID, update: actions.ArtifactUpdate) -> None:
    row = await _row(tx, artifact_id)
    before = core.Artifact.from_row(row)
    values = update.model_dump(exclude_unset=True)
    changed = [name for name, value in values.items() if getattr(before, name) != value]
    await queries.update_artifact(tx.session, tx.workspace_id, artifact_id, update)
    if not changed:
        return
    after = before.model_copy(update=values)
    _emit_artifact(tx, "updated", after, changed)
    if after.key is not None:
        latest = await queries.read_latest_artifact(tx.session, tx.workspace_id, after.key)
        if latest is not None and latest.id == after.id:
            _emit_collection(tx, "updated", after)


@operation(DELETE, writes=True)
async def delete_artifact(tx: Tx, artifact_id: uuid.UUID) -> None:
    row = await _row(tx, artifact_id)
    artifact = core.Artifact.from_row(row)
    key = artifact.key
    latest = None
    if key is not None:
        latest = await queries.read_latest_artifact(tx.session, tx.workspace_id, key)
    await queries.delete_artifact(tx.session, tx.workspace_id, artifact_id)
    if key is None or latest is None or latest.id != artifact.id:
        return  # its collection is as it was
    previous = await queries.read_latest_artifact(tx.session, tx.workspace_id, key)
    if previous is None:
        _emit_collection(tx, "deleted", artifact)
    else:
        _emit_collection(tx, "updated", core.Artifact.from_row(previous))


async def _row(tx: Tx, artifact_id: uuid.UUID) -> orm.Artifact:
    row = await queries.read_artifact(tx.session, tx.workspace_id, artifact_id)
    if row is None:
        raise NotFound(NOT_FOUND)
    return row
