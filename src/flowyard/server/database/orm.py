"""The ORM models. Every workspace-scoped table carries ``workspace_id``.

Column names follow the Prefect 3 wire names so rows map onto API schemas without renaming.
Run tables keep denormalised copies of their current state (``state_type``, ``state_name``,
``state_timestamp``) so that filters and sorts never join the state history.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from flowyard.server.database.sqlite_schema import HIDDEN_FROM_ALEMBIC
from flowyard.server.database.types import JSONColumn, Timestamp, new_id, utcnow

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s__%(column_0_N_name)s",
    "uq": "uq_%(table_name)s__%(column_0_N_name)s",
    "ck": "ck_%(table_name)s__%(constraint_name)s",
    "fk": "fk_%(table_name)s__%(column_0_name)s__%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def _non_null_index(name: str, column: str) -> sa.Index:
    """An index of the rows where ``column`` is set. For a column that is NULL in most rows
    (most runs are neither subflows nor deployed) this keeps the index small and, above
    all, lets SQLite see that looking a value up in it is selective: a plain index whose
    keys are mostly NULL looks useless to its planner, which then scans the whole table to
    find a subflow's run. Lookups by value (=, IN) use it on both dialects."""
    where = sa.text(f"{column} IS NOT NULL")
    return sa.Index(name, column, sqlite_where=where, postgresql_where=where)


def visible_to_alembic(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Alembic's ``include_object``: leaves out the SQLite-only tag table (see
    ``sqlite_schema``), which lives outside the ORM and the revisions."""
    return name not in HIDDEN_FROM_ALEMBIC


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dt.datetime: Timestamp(), dict[str, Any]: JSONColumn()}


class TimestampedMixin:
    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=new_id)
    created: Mapped[dt.datetime] = mapped_column(Timestamp(), default=utcnow)
    updated: Mapped[dt.datetime] = mapped_column(Timestamp(), default=utcnow, onupdate=utcnow)


class WorkspaceScoped(TimestampedMixin):
    workspace_id: Mapped[uuid.UUID] = mapped_column(
        sa.Uuid, sa.ForeignKey("workspace.id", ondelete="CASCADE"), index=True
    )


# --- tenancy -----------------------------------------------------------------------------


class Account(TimestampedMixin, Base):
    __tablename__ = "account"
    name: Mapped[str] = mapped_column(sa.String(255))
    handle: Mapped[str] = mapped_column(sa.String(255), unique=True)


class Workspace(TimestampedMixin, Base):
    __tablename__ = "workspace"
    account_id: Mapped[uuid.UUID] = mapped_column(
        sa.Uuid, sa.ForeignKey("account.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(sa.String(255))
    handle: Mapped[str] = mapped_column(sa.String(255))
    description: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    __table_args__ = (sa.UniqueConstraint("account_id", "handle"),)


class Configuration(TimestampedMixin, Base):
    """Install-wide key/value settings kept in the database (not workspace scoped)."""

    __tablename__ = "configuration"
    key: Mapped[str] = mapped_column(sa.String(255), unique=True)
    value: Mapped[dict[str, Any]] = mapped_column(JSONColumn())


# --- flows and runs ----------------------------------------------------------------------


class Flow(WorkspaceScoped, Base):
    __tablename__ = "flow"
    name: Mapped[str] = mapped_column(sa.String(255))
    tags: Mapped[list[str]] = mapped_column(JSONColumn(), default=list)
    labels: Mapped[dict[str, Any]] = mapped_column(JSONColumn(), default=dict)
    __table_args__ = (sa.UniqueConstraint("workspace_id", "name"),)


class RunMixin(WorkspaceScoped):
    """Columns shared by flow runs and task runs."""

    name: Mapped[str] = mapped_column(sa.String(255))
    state_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid, nullable=True)
    state_type: Mapped[str | None] = mapped_column(sa.String(20), nullable=True)
    state_name: Mapped[str | None] = mapped_column(sa.String(255), nullable=True)
    state_timestamp: Mapped[dt.datetime | None] = mapped_column(Timestamp(), nullable=True)
    empirical_policy: Mapped[dict[str, Any]] = mapped_column(JSONColumn(), default=dict)
    tags: Mapped[list[str]] = mapped_column(JSONColumn(), default=list)
    labels: Mapped[dict[str, Any]] = mapped_column(JSONColumn(), default=dict)
    run_count: Mapped[int] = mapped_column(sa.Integer, default=0)
    expected_start_time: Mapped[dt.datetime | None] = mapped_column(Timestamp(), nullable=True)
    next_scheduled_start_time: Mapped[dt.datetime | None] = mapped_column(
        Timestamp(), nullable=True
    )
    start_time: Mapped[dt.datetime | None] = mapped_column(Timestamp(), nullable=True)
    end_time: Mapped[dt.datetime | None] = mapped_column(Timestamp(), nullable=True)
    total_run_time: Mapped[float] = mapped_column(sa.Float, default=0.0)


class FlowRun(RunMixin, Base):
    __tablename__ = "flow_run"
    flow_id: Mapped[uuid.UUID] = mapped_column(
        sa.Uuid, sa.ForeignKey("flow.id", ondelete="CASCADE"), index=True
    )
    flow_version: Mapped[str | None] = mapped_column(sa.String(255), nullable=True)
    deployment_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid, nullable=True)
    deployment_version: Mapped[str | None] = mapped_column(sa.String(255), nullable=True)
    work_queue_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid, nullable=True)
    work_queue_name: Mapped[str | None] = mapped_column(sa.String(255), nullable=True)
    work_pool_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid, nullable=True)
    work_pool_name: Mapped[str | None] = mapped_column(sa.String(255), nullable=True)
    parameters: Mapped[dict[str, Any]] = mapped_column(JSONColumn(), default=dict)
    idempotency_key: Mapped[str | None] = mapped_column(sa.String(255), nullable=True)
    context: Mapped[dict[str, Any]] = mapped_column(JSONColumn(), default=dict)
    parent_task_run_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid, nullable=True)
    auto_scheduled: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    infrastructure_document_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid, nullable=True)
    infrastructure_pid: Mapped[str | None] = mapped_column(sa.String(255), nullable=True)
    created_by: Mapped[dict[str, Any] | None] = mapped_column(JSONColumn(), nullable=True)
    job_variables: Mapped[dict[str, Any]] = mapped_column(JSONColumn(), default=dict)

    __table_args__ = (
        sa.UniqueConstraint("workspace_id", "flow_id", "idempotency_key"),
        sa.Index("ix_flow_run__workspace_expected_start", "workspace_id", "expected_start_time"),
        sa.Index("ix_flow_run__workspace_state_type", "workspace_id", "state_type"),
        sa.Index("ix_flow_run__workspace_name", "workspace_id", "name"),
        sa.Index(
            "ix_flow_run__workspace_next_scheduled", "workspace_id", "next_scheduled_start_time"
        ),
        _non_null_index("ix_flow_run__deployment_id", "deployment_id"),
        _non_null_index("ix_flow_run__parent_task_run_id", "parent_task_run_id"),
    )


class TaskRun(RunMixin, Base):
    __tablename__ = "task_run"
    flow_run_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.Uuid, sa.ForeignKey("flow_run.id", ondelete="CASCADE"), nullable=True, index=True
    )
    task_key: Mapped[str] = mapped_column(sa.String(255))
    dynamic_key: Mapped[str] = mapped_column(sa.String(255))
    cache_key: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    cache_expiration: Mapped[dt.datetime | None] = mapped_column(Timestamp(), nullable=True)
    task_version: Mapped[str | None] = mapped_column(sa.String(255), nullable=True)
    task_inputs: Mapped[dict[str, Any]] = mapped_column(JSONColumn(), default=dict)
    flow_run_run_count: Mapped[int] = mapped_column(sa.Integer, default=0)

    __table_args__ = (
        sa.UniqueConstraint("workspace_id", "flow_run_id", "task_key", "dynamic_key"),
        # With the state type: the dashboard's counts by state over a window read the
        # index alone (migration 0010).
        sa.Index(
            "ix_task_run__workspace_expected_start_state",
            "workspace_id", "expected_start_time", "state_type",
        ),  # fmt: skip
        sa.Index("ix_task_run__workspace_state_type", "workspace_id", "state_type"),
    )


class StateMixin:
    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=new_id)
    workspace_id: Mapped[uuid.UUID] = mapped_column(
        sa.Uuid, sa.ForeignKey("workspace.id", ondelete="CASCADE")
    )
    created: Mapped[dt.datetime] = mapped_column(Timestamp(), default=utcnow)
    type: Mapped[str] = mapped_column(sa.String(20))
    name: Mapped[str] = mapped_column(sa.String(255))
    timestamp: Mapped[dt.datetime] = mapped_column(Timestamp(), default=utcnow)
    message: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    state_details: Mapped[dict[str, Any]] = mapped_column(JSONColumn(), default=dict)
    data: Mapped[Any] = mapped_column(JSONColumn(), nullable=True)


class FlowRunState(StateMixin, Base):
    __tablename__ = "flow_run_state"
    flow_run_id: Mapped[uuid.UUID] = mapped_column(
        sa.Uuid, sa.ForeignKey("flow_run.id", ondelete="CASCADE")
    )
    __table_args__ = (sa.Index("ix_flow_run_state__run_timestamp", "flow_run_id", "timestamp"),)


class TaskRunState(StateMixin, Base):
    __tablename__ = "task_run_state"
    task_run_id: Mapped[uuid.UUID] = mapped_column(
        sa.Uuid, sa.ForeignKey("task_run.id", ondelete="CASCADE")
    )
    __table_args__ = (sa.Index("ix_task_run_state__run_timestamp", "task_run_id", "timestamp"),)


class TaskRunStateCache(WorkspaceScoped, Base):
    """The newest COMPLETED task-run state stored under each cache key (server-side caching).

    One row per key and workspace: a newer completion overwrites the entry. The key is capped
    at 2000 bytes so that it always fits in a PostgreSQL btree index.
    """

    __tablename__ = "task_run_state_cache"
    cache_key: Mapped[str] = mapped_column(sa.String(2000))
    cache_expiration: Mapped[dt.datetime | None] = mapped_column(Timestamp(), nullable=True)
    task_run_state_id: Mapped[uuid.UUID] = mapped_column(
        sa.Uuid, sa.ForeignKey("task_run_state.id", ondelete="CASCADE"), index=True
    )
    __table_args__ = (sa.UniqueConstraint("workspace_id", "cache_key"),)


# --- logs, events ------------------------------------------------------------------------


class Log(WorkspaceScoped, Base):
    __tablename__ = "log"
    name: Mapped[str] = mapped_column(sa.String(255))
    level: Mapped[int] = mapped_column(sa.SmallInteger)
    message: Mapped[str] = mapped_column(sa.Text)
    timestamp: Mapped[dt.datetime] = mapped_column(Timestamp())
    flow_run_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid, nullable=True)
    task_run_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid, nullable=True)
    worker_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid, nullable=True)
    __table_args__ = (
        sa.Index("ix_log__flow_run_timestamp", "flow_run_id", "timestamp"),
        sa.Index("ix_log__workspace_timestamp", "workspace_id", "timestamp"),
    )


class Event(Base):
    __tablename__ = "event"
    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    workspace_id: Mapped[uuid.UUID] = mapped_column(
        sa.Uuid, sa.ForeignKey("workspace.id", ondelete="CASCADE")
    )
    occurred: Mapped[dt.datetime] = mapped_column(Timestamp())
    received: Mapped[dt.datetime] = mapped_column(Timestamp(), default=utcnow)
    event: Mapped[str] = mapped_column(sa.String(255))
    resource_id: Mapped[str] = mapped_column(sa.String(255))
    resource: Mapped[dict[str, Any]] = mapped_column(JSONColumn())
    related: Mapped[list[dict[str, Any]]] = mapped_column(JSONColumn(), default=list)
    related_resource_ids: Mapped[list[str]] = mapped_column(JSONColumn(), default=list)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONColumn(), default=dict)
    follows: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid, nullable=True)
    __table_args__ = (
        sa.Index("ix_event__workspace_occurred", "workspace_id", "occurred"),
        sa.Index("ix_event__workspace_event_occurred", "workspace_id", "event", "occurred"),
        sa.Index(
            "ix_event__workspace_resource_occurred", "workspace_id", "resource_id", "occurred"
        ),
    )


# --- concurrency -------------------------------------------------------------------------


class ConcurrencyLimit(WorkspaceScoped, Base):
    """A global (v2) concurrency limit. V1 tag limits are rows named ``tag:<tag>``."""

    __tablename__ = "concurrency_limit"
    name: Mapped[str] = mapped_column(sa.String(255))
    limit: Mapped[int] = mapped_column(sa.Integer)
    active: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    active_slots: Mapped[int] = mapped_column(sa.Integer, default=0)
    denied_slots: Mapped[int] = mapped_column(sa.Integer, default=0)
    slot_decay_per_second: Mapped[float] = mapped_column(sa.Float, default=0.0)
    avg_slot_occupancy_seconds: Mapped[float] = mapped_column(sa.Float, default=2.0)
    __table_args__ = (sa.UniqueConstraint("workspace_id", "name"),)


class ConcurrencyLease(WorkspaceScoped, Base):
    """Slots held on one or more limits until released or expired."""

    __tablename__ = "concurrency_lease"
    resource_ids: Mapped[list[str]] = mapped_column(JSONColumn(), default=list)
    slots: Mapped[int] = mapped_column(sa.Integer, default=1)
    expiration: Mapped[dt.datetime] = mapped_column(Timestamp(), index=True)
    holder: Mapped[dict[str, Any] | None] = mapped_column(JSONColumn(), nullable=True)


# --- variables, artifacts ----------------------------------------------------------------


class Variable(WorkspaceScoped, Base):
    __tablename__ = "variable"
    name: Mapped[str] = mapped_column(sa.String(255))
    value: Mapped[Any] = mapped_column(JSONColumn(), nullable=True)
    tags: Mapped[list[str]] = mapped_column(JSONColumn(), default=list)
    __table_args__ = (sa.UniqueConstraint("workspace_id", "name"),)


class Artifact(WorkspaceScoped, Base):
    __tablename__ = "artifact"
    key: Mapped[str | None] = mapped_column(sa.String(255), nullable=True)
    type: Mapped[str | None] = mapped_column(sa.String(255), nullable=True)
    description: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    data: Mapped[Any] = mapped_column(JSONColumn(), nullable=True)
    metadata_: Mapped[dict[str, Any] | None] = mapped_column(
        "metadata", JSONColumn(), nullable=True
    )
    flow_run_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid, nullable=True, index=True)
    task_run_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid, nullable=True, index=True)
    __table_args__ = (
        sa.Index("ix_artifact__workspace_key_created", "workspace_id", "key", "created"),
    )


# --- models kept in their own modules: imported here so that every table is on
# Base.metadata (migrations, create_all) whatever a caller imported first.
from flowyard.server.database import orm_automations as orm_automations  # noqa: E402
from flowyard.server.database import orm_blocks as orm_blocks  # noqa: E402
from flowyard.server.database import orm_deployments as orm_deployments  # noqa: E402
from flowyard.server.database import orm_run_leases as orm_run_leases  # noqa: E402
from flowyard.server.database import orm_saved_searches as orm_saved_searches  # noqa: E402
from flowyard.server.database import orm_work_pools as orm_work_pools  # noqa: E402
