"""Deployment schedules, and the scheduled runs they make.

Every run a schedule makes carries the idempotency key
``scheduled {deployment_id} {schedule_id} {slot}``; the flow-run table's unique
``(workspace_id, flow_id, idempotency_key)`` makes inserting a slot twice a no-op, so two
schedulers (two server processes on one database) can never create two runs for one slot.
This module works out which runs are missing (:func:`missing_runs`, reads only);
``orchestration.scheduled_runs`` inserts them in bulk with their Scheduled states and events.

Changing when a deployment's schedules fire (editing, replacing or deleting a schedule,
pausing) deletes the runs already made; the scheduler must not add runs of the old timing
behind that delete. Both sides meet on the deployment row: the edits here lock it
(``FOR UPDATE``; a pause updates it) before they delete, the scheduler reads its
deployments ``FOR SHARE SKIP LOCKED`` before it reads their schedules. On PostgreSQL
(READ COMMITTED) an edit that comes second waits for the scheduler's commit, so its delete
sees the runs made; a scheduler that comes second leaves that deployment to its next pass.
(On SQLite every write transaction already runs alone.)
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Collection, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from flowyard.schemas.deployments import (
    DeploymentSchedule,
    DeploymentScheduleCreate,
    DeploymentScheduleUpdate,
)
from flowyard.schemas.limits import MAX_SCHEDULED_RUNS, MAX_SCHEDULES_PER_DEPLOYMENT
from flowyard.schemas.schedules import schedule_from_json
from flowyard.schemas.states import StateType
from flowyard.server.database import orm
from flowyard.server.database.orm_deployments import Deployment as DeploymentRow
from flowyard.server.database.orm_deployments import DeploymentSchedule as ScheduleRow
from flowyard.server.database.types import new_id, utcnow
from flowyard.server.errors import Conflict, Invalid
from flowyard.server.queries.run_names import generate_run_name
from flowyard.server.schedules import next_times

logger = logging.getLogger("flowyard.server.queries.schedules")

KEY_PREFIX = "scheduled"
# Runs made for one deployment in one call (its request, one scheduler pass): see
# schemas.limits.MAX_SCHEDULED_RUNS.
MAX_RUNS_PER_DEPLOYMENT = MAX_SCHEDULED_RUNS
# Idempotency keys looked up per statement (well within every dialect's bound-parameter limit).
_KEYS_PER_QUERY = 500


def slot_key(deployment_id: uuid.UUID, schedule_id: uuid.UUID, slot: dt.datetime) -> str:
    return f"{KEY_PREFIX} {deployment_id} {schedule_id} {slot.astimezone(dt.UTC).isoformat()}"


def schedule_schema(row: ScheduleRow) -> DeploymentSchedule:
    return DeploymentSchedule(
        id=row.id,
        created=row.created,
        updated=row.updated,
        deployment_id=row.deployment_id,
        schedule=schedule_from_json(row.schedule),
        active=row.active,
        max_scheduled_runs=row.max_scheduled_runs,
        parameters=row.parameters or {},
        slug=row.slug,
    )


def _row(deployment: DeploymentRow, create: DeploymentScheduleCreate) -> ScheduleRow:
    return ScheduleRow(
        id=new_id(),
        workspace_id=deployment.workspace_id,
        deployment_id=deployment.id,
        schedule=create.schedule.model_dump(mode="json"),
        active=create.active,
        max_scheduled_runs=create.max_scheduled_runs,
        parameters=create.parameters,
        slug=create.slug,
    )


NOT_UNIQUE = "Schedule slugs must be unique within a deployment."
NO_SCHEDULE = (
    "schedules: Unable to create new deployment schedules without a schedule configuration."
)
NO_SLUG = (
    "schedules: Please provide a slug for each schedule in your request to ensure schedules "
    "are updated correctly."
)


def _within_bound(count: int) -> None:
    if count > MAX_SCHEDULES_PER_DEPLOYMENT:
        raise Invalid(
            f"schedules: a deployment may have at most {MAX_SCHEDULES_PER_DEPLOYMENT} "
            f"schedules; this change would give it {count}."
        )


def _unique_slugs(slugs: Sequence[str | None], taken: Collection[str] = ()) -> None:
    given = [slug for slug in slugs if slug is not None]
    if len(set(given)) != len(given) or set(given) & set(taken):
        raise Conflict(NOT_UNIQUE)


ScheduleItem = DeploymentScheduleCreate | DeploymentScheduleUpdate


def _as_create(item: ScheduleItem) -> DeploymentScheduleCreate:
    if isinstance(item, DeploymentScheduleCreate):
        return item
    if item.schedule is None:
        raise Invalid(NO_SCHEDULE)
    return DeploymentScheduleCreate(
        schedule=item.schedule,
        active=True if item.active is None else item.active,
        max_scheduled_runs=item.max_scheduled_runs,
        parameters=item.parameters or {},
        slug=item.slug,
    )


def _as_update(item: ScheduleItem) -> DeploymentScheduleUpdate:
    if isinstance(item, DeploymentScheduleUpdate):
        return item
    given = item.model_fields_set - {"slug"}
    return DeploymentScheduleUpdate(**{name: getattr(item, name) for name in given})


async def replace_schedules(
    session: AsyncSession,
    deployment: DeploymentRow,
    creates: Sequence[ScheduleItem],
) -> list[ScheduleRow]:
    """Make ``creates`` the deployment's schedules. A schedule with the slug of an existing
    one keeps its id (and its runs, unless its timing or parameters changed); the others'
    future runs go with them."""
    _unique_slugs([create.slug for create in creates])
    _within_bound(len(creates))
    await lock_deployment(session, deployment.id)
    existing = await read_schedules(session, deployment.workspace_id, deployment.id)
    by_slug = {s.slug: s for s in existing if s.slug}
    kept: list[ScheduleRow] = []
    for create in creates:
        old = by_slug.pop(create.slug, None) if create.slug else None
        if old is not None:
            await update_schedule(session, old, _as_update(create))
            kept.append(old)
        else:
            row = _row(deployment, _as_create(create))
            kept.append(row)
    gone = [s for s in existing if s not in kept]
    for row in gone:
        await delete_schedule(session, deployment.workspace_id, row)
    await session.flush()  # the deletes first: a new schedule may take a slug freed here
    session.add_all([row for row in kept if row not in existing])
    await session.flush()
    return kept


async def update_schedules(
    session: AsyncSession, deployment: DeploymentRow, updates: Sequence[DeploymentScheduleUpdate]
) -> None:
    """The schedules of a deployment update (``PATCH /deployments/{id}``), as the contract
    applies them. When every schedule of the deployment has a slug, each update names the
    one it changes by ``slug`` (or renames the one named by ``replaces``), a slug not yet
    there is a new schedule, and the schedules not named stay; an update without a slug is
    refused rather than guessed at. Otherwise the list replaces the deployment's schedules.
    """
    await lock_deployment(session, deployment.id)
    existing = await read_schedules(session, deployment.workspace_id, deployment.id)
    if not existing or not all(row.slug for row in existing):
        await replace_schedules(session, deployment, updates)
        return
    if not all(update.slug for update in updates):
        raise Invalid(NO_SLUG)
    by_slug = {row.slug: row for row in existing}
    renamed: set[str] = set()
    for update in updates:
        if update.replaces:
            if update.replaces in renamed:
                raise Invalid(
                    "schedules: Multiple schedules have 'replaces' targeting the same slug: "
                    f"{update.replaces}"
                )
            renamed.add(update.replaces)
    for update in updates:
        if update.replaces and update.slug in by_slug and update.slug not in renamed:
            raise Invalid(
                f"schedules: Cannot rename schedule from '{update.replaces}' to "
                f"'{update.slug}': a schedule with slug '{update.slug}' already exists."
            )
    _unique_slugs([update.slug for update in updates])
    targets = [by_slug.get(update.replaces or update.slug or "") for update in updates]
    new = [_as_create(u) for u, target in zip(updates, targets, strict=True) if target is None]
    _within_bound(len(existing) + len(new))
    # Renamed schedules give up their slug first, so that no step of a swap collides.
    for update, target in zip(updates, targets, strict=True):
        if target is not None and update.replaces:
            target.slug = None
    await session.flush()
    for update, target in zip(updates, targets, strict=True):
        if target is not None:
            await update_schedule(session, target, update)
    session.add_all([_row(deployment, create) for create in new])
    await session.flush()


async def create_schedules(
    session: AsyncSession, deployment: DeploymentRow, creates: Sequence[DeploymentScheduleCreate]
) -> list[ScheduleRow]:
    await lock_deployment(session, deployment.id)  # counted, then added: one at a time
    existing = await read_schedules(session, deployment.workspace_id, deployment.id)
    _unique_slugs([create.slug for create in creates], {s.slug for s in existing if s.slug})
    _within_bound(len(existing) + len(creates))
    rows = [_row(deployment, create) for create in creates]
    session.add_all(rows)
    await session.flush()
    return rows


async def read_schedules(
    session: AsyncSession, workspace_id: uuid.UUID, deployment_id: uuid.UUID
) -> list[ScheduleRow]:
    query = (
        sa.select(ScheduleRow)
        .where(ScheduleRow.workspace_id == workspace_id, ScheduleRow.deployment_id == deployment_id)
        .order_by(ScheduleRow.created, ScheduleRow.id)
    )
    return list((await session.scalars(query)).all())


async def read_schedules_of(
    session: AsyncSession, deployment_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[ScheduleRow]]:
    out: dict[uuid.UUID, list[ScheduleRow]] = {}
    if not deployment_ids:
        return out
    query = (
        sa.select(ScheduleRow)
        .where(ScheduleRow.deployment_id.in_(deployment_ids))
        .order_by(ScheduleRow.created, ScheduleRow.id)
    )
    for row in (await session.scalars(query)).all():
        out.setdefault(row.deployment_id, []).append(row)
    return out


async def read_schedule(
    session: AsyncSession, deployment_id: uuid.UUID, schedule_id: uuid.UUID
) -> ScheduleRow | None:
    return await session.scalar(
        sa.select(ScheduleRow).where(
            ScheduleRow.deployment_id == deployment_id, ScheduleRow.id == schedule_id
        )
    )


async def update_schedule(
    session: AsyncSession, row: ScheduleRow, update: DeploymentScheduleUpdate
) -> None:
    """Apply the update; a changed or deactivated schedule loses its future runs (the
    scheduler makes the new ones)."""
    await lock_deployment(session, row.deployment_id)
    # The fields given, each dumped whole: a schedule's own defaults (``day_or``) are part
    # of what is stored and compared.
    dumped = update.model_dump(mode="json", exclude={"replaces"})
    values = {name: dumped[name] for name in update.model_fields_set - {"replaces"}}
    changed_timing = "schedule" in values and values["schedule"] != row.schedule
    changed_parameters = values.get("parameters") not in (None, row.parameters)
    if values.get("slug") not in (None, row.slug):
        others = await read_schedules(session, row.workspace_id, row.deployment_id)
        _unique_slugs([values["slug"]], {s.slug for s in others if s.slug and s is not row})
    for key, value in values.items():
        if value is None and key in {"schedule", "active", "parameters"}:
            continue
        setattr(row, key, value)
    row.updated = utcnow()
    if changed_timing or not row.active or changed_parameters:
        await delete_auto_scheduled_runs(session, row.workspace_id, row.deployment_id, row.id)
    await session.flush()


async def delete_schedule(session: AsyncSession, workspace_id: uuid.UUID, row: ScheduleRow) -> None:
    await lock_deployment(session, row.deployment_id)
    await delete_auto_scheduled_runs(session, workspace_id, row.deployment_id, row.id)
    await session.delete(row)


async def lock_deployment(session: AsyncSession, deployment_id: uuid.UUID) -> None:
    """Hold the deployment row until commit, against a scheduler pass in flight (see the
    module docstring). A no-op on SQLite, whose writers never overlap."""
    await session.execute(
        sa.select(DeploymentRow.id).where(DeploymentRow.id == deployment_id).with_for_update()
    )


def _waiting(workspace_id: uuid.UUID, deployment_id: uuid.UUID) -> list[Any]:
    return [
        orm.FlowRun.workspace_id == workspace_id,
        orm.FlowRun.deployment_id == deployment_id,
        orm.FlowRun.state_type == StateType.SCHEDULED.value,
    ]


async def delete_auto_scheduled_runs(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    deployment_id: uuid.UUID,
    schedule_id: uuid.UUID | None = None,
) -> int:
    """Delete the runs the scheduler made (of one schedule, or all) that are still
    Scheduled: pausing and deactivating take them away, resuming makes them again."""
    conditions = [*_waiting(workspace_id, deployment_id), orm.FlowRun.auto_scheduled.is_(True)]
    if schedule_id is not None:
        prefix = f"{KEY_PREFIX} {deployment_id} {schedule_id} "
        conditions.append(orm.FlowRun.idempotency_key.startswith(prefix, autoescape=True))
    result = await session.execute(sa.delete(orm.FlowRun).where(*conditions))
    return int(result.rowcount)  # type: ignore[attr-defined]


async def delete_scheduled_runs(
    session: AsyncSession, workspace_id: uuid.UUID, deployment_id: uuid.UUID
) -> int:
    """Delete every run of the deployment that is still Scheduled (auto or not)."""
    result = await session.execute(
        sa.delete(orm.FlowRun).where(*_waiting(workspace_id, deployment_id))
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


# --- making scheduled runs ---------------------------------------------------------------


async def scheduled_deployment_ids(
    session: AsyncSession, after: uuid.UUID | None, limit: int
) -> list[uuid.UUID]:
    """The next ``limit`` deployments (by id, after ``after``; every workspace) that are not
    paused and have an active schedule: one page of a scheduler pass."""
    query = (
        sa.select(DeploymentRow.id)
        .where(
            DeploymentRow.paused.is_(False),
            DeploymentRow.id.in_(
                sa.select(ScheduleRow.deployment_id).where(ScheduleRow.active.is_(True))
            ),
        )
        .order_by(DeploymentRow.id)
        .limit(limit)
    )
    if after is not None:
        query = query.where(DeploymentRow.id > after)
    return list((await session.scalars(query)).all())


async def lock_for_scheduling(
    session: AsyncSession, deployment_ids: Sequence[uuid.UUID]
) -> list[tuple[DeploymentRow, list[ScheduleRow]]]:
    """These deployments (those still not paused) with their schedules, each deployment
    row held ``FOR SHARE SKIP LOCKED`` until commit.

    FOR SHARE, before the schedules are read: an edit of a deployment's schedules or a
    pause (which lock the row, then delete the runs already made) waits for this pass to
    commit, so its delete sees these runs (see the module docstring). SKIP LOCKED: a
    deployment some transaction is writing is left to the next pass, read after that write
    committed; never waiting here means no deadlock with writers that lock several
    deployments in another order. Schedulers share the lock with each other.
    """
    rows = (
        await session.scalars(
            sa.select(DeploymentRow)
            .where(DeploymentRow.id.in_(deployment_ids))
            .order_by(DeploymentRow.id)
            .with_for_update(read=True, skip_locked=True)
            .execution_options(populate_existing=True)
        )
    ).all()
    by_deployment = await read_schedules_of(session, deployment_ids)
    return [(row, by_deployment.get(row.id, [])) for row in rows if not row.paused]


def _slots(
    schedule: ScheduleRow,
    now: dt.datetime,
    *,
    max_runs: int,
    min_runs: int,
    horizon: dt.timedelta,
    min_horizon: dt.timedelta,
) -> list[dt.datetime]:
    """The slots to have runs for: up to ``max_runs`` (or the schedule's own bound) within
    ``horizon``, but at least ``min_runs`` and everything within ``min_horizon`` (never
    more than the bound: a one-second interval gets 100 runs, not an hour of them)."""
    limit = min(schedule.max_scheduled_runs or max_runs, max_runs)
    spec = schedule_from_json(schedule.schedule)
    far = next_times(spec, now, now + horizon, limit)
    if len(far) < min(min_runs, limit):
        far = next_times(spec, now, now + dt.timedelta(days=3650), min(min_runs, limit))
    near = next_times(spec, now, now + min_horizon, limit)
    return sorted(set(far) | set(near))


async def missing_runs(
    session: AsyncSession,
    batch: Sequence[tuple[DeploymentRow, Sequence[ScheduleRow]]],
    now: dt.datetime,
    *,
    max_runs: int = 100,
    min_runs: int = 3,
    horizon: dt.timedelta = dt.timedelta(days=100),
    min_horizon: dt.timedelta = dt.timedelta(hours=1),
    per_deployment: int = MAX_RUNS_PER_DEPLOYMENT,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """The scheduled runs a batch of deployments is missing, as flow-run rows ready to
    insert (``orchestration.scheduled_runs`` inserts them with their Scheduled states).
    Reads only: which slots are due and which of them already have their run.

    At most ``per_deployment`` runs of each deployment, the soonest across its schedules,
    and at most ``limit`` in all (the scheduler's chunk): the rest are made by the next
    call, which finds these taken."""
    pool_ids = await _pool_ids(session, {d.work_queue_id for d, _ in batch if d.work_queue_id})
    runs: list[dict[str, Any]] = []
    for deployment, schedules in batch:
        wanted: dict[str, tuple[dt.datetime, dict[str, Any]]] = {}
        for schedule in schedules:
            if not schedule.active:
                continue
            parameters = {**(deployment.parameters or {}), **(schedule.parameters or {})}
            try:
                slots = _slots(
                    schedule, now, max_runs=max_runs, min_runs=min_runs, horizon=horizon,
                    min_horizon=min_horizon,
                )  # fmt: skip
            except ValueError:
                # A stored schedule this version cannot read (say, a timezone gone from
                # the system's database) must not stop the other deployments' runs.
                logger.warning("Schedule %s cannot be read; skipped", schedule.id)
                continue
            for slot in slots:
                wanted[slot_key(deployment.id, schedule.id, slot)] = (slot, parameters)
        if not wanted:
            continue
        taken = await _taken_keys(session, deployment, wanted.keys())
        pool_id = pool_ids.get(deployment.work_queue_id) if deployment.work_queue_id else None
        missing = sorted(
            ((slot, key, parameters) for key, (slot, parameters) in wanted.items()),
            key=lambda item: (item[0], item[1]),
        )
        missing = [item for item in missing if item[1] not in taken][:per_deployment]
        for slot, key, parameters in missing:
            runs.append(_run_values(deployment, parameters, key, slot, now, pool_id))
        if limit is not None and len(runs) >= limit:
            return runs[:limit]
    return runs


async def _taken_keys(
    session: AsyncSession, deployment: DeploymentRow, keys: Collection[str]
) -> set[str]:
    """Which of ``keys`` (the slots about to be inserted) the deployment's flow already has
    runs for: IN lookups on the unique (workspace_id, flow_id, idempotency_key) index, so
    a pass costs what it is about to insert, not the deployment's whole history. (Only a
    shortcut: ON CONFLICT DO NOTHING still refuses a slot another scheduler took since.)"""
    ordered = sorted(keys)
    taken: set[str] = set()
    for start in range(0, len(ordered), _KEYS_PER_QUERY):
        found = await session.scalars(
            sa.select(orm.FlowRun.idempotency_key).where(
                orm.FlowRun.workspace_id == deployment.workspace_id,
                orm.FlowRun.flow_id == deployment.flow_id,
                orm.FlowRun.idempotency_key.in_(ordered[start : start + _KEYS_PER_QUERY]),
            )
        )
        taken.update(key for key in found.all() if key is not None)
    return taken


async def _pool_ids(
    session: AsyncSession, queue_ids: set[uuid.UUID | None]
) -> dict[uuid.UUID, uuid.UUID]:
    if not queue_ids:
        return {}
    from flowyard.server.database.orm_work_pools import WorkQueue

    rows = await session.execute(
        sa.select(WorkQueue.id, WorkQueue.work_pool_id).where(WorkQueue.id.in_(queue_ids))
    )
    return {queue_id: pool_id for queue_id, pool_id in rows}


def _run_values(
    deployment: DeploymentRow,
    parameters: dict[str, Any],
    key: str,
    slot: dt.datetime,
    now: dt.datetime,
    pool_id: uuid.UUID | None,
) -> dict[str, Any]:
    return {
        "id": new_id(),
        "workspace_id": deployment.workspace_id,
        "created": now,
        "updated": now,
        "name": generate_run_name(),
        "flow_id": deployment.flow_id,
        "flow_version": None,
        "deployment_id": deployment.id,
        "deployment_version": deployment.version,
        "parameters": parameters,
        "context": {},
        "parent_task_run_id": None,
        "infrastructure_document_id": deployment.infrastructure_document_id,
        "infrastructure_pid": None,
        "empirical_policy": {},
        "tags": sorted({*(deployment.tags or []), "auto-scheduled"}),
        "labels": {
            **(deployment.labels or {}),
            "prefect.flow.id": str(deployment.flow_id),
            "prefect.deployment.id": str(deployment.id),
        },
        "idempotency_key": key,
        "work_queue_id": deployment.work_queue_id,
        "work_queue_name": deployment.work_queue_name,
        "work_pool_id": pool_id,
        "work_pool_name": deployment.work_pool_name,
        "job_variables": dict(deployment.job_variables or {}),
        "auto_scheduled": True,
        "created_by": None,
        "state_id": new_id(),
        "state_type": StateType.SCHEDULED.value,
        "state_name": "Scheduled",
        "state_timestamp": now,
        "run_count": 0,
        "total_run_time": 0.0,
        "expected_start_time": slot,
        "next_scheduled_start_time": slot,
        "start_time": None,
        "end_time": None,
    }
