"""ORM models: work pools, work queues and workers (issue 4). Registered on
``orm.Base.metadata`` by the import at the end of ``orm.py``; the schema changes live in their
own Alembic revision (0002).

- ``work_pool``: where deployments send their runs; a type (``process``), a base job template
  (``job_configuration`` + JSON-Schema ``variables``), pause flag and concurrency limit.
- ``work_queue``: a pool's queues (every pool has a ``default`` one), with priority, pause
  flag, concurrency limit and the last time a worker polled it.
- ``worker``: the processes polling a pool, with their heartbeats.
- an index on ``flow_run`` by queue and state: what ``get_scheduled_flow_runs`` and the
  concurrency counts of a queue read on every poll.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from flowyard.server.database import orm
from flowyard.server.database.types import JSONColumn, Timestamp


class WorkPool(orm.WorkspaceScoped, orm.Base):
    __tablename__ = "work_pool"
    name: Mapped[str] = mapped_column(sa.String(255))
    description: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    type: Mapped[str] = mapped_column(sa.String(255), default="process")
    base_job_template: Mapped[dict[str, Any]] = mapped_column(JSONColumn(), default=dict)
    is_paused: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    concurrency_limit: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    # No foreign key: the queue refers to the pool, and a cycle would complicate deletes.
    default_queue_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid, nullable=True)
    status: Mapped[str] = mapped_column(sa.String(20), default="NOT_READY")
    last_transitioned_status_at: Mapped[dt.datetime | None] = mapped_column(
        Timestamp(), nullable=True
    )
    last_status_event_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid, nullable=True)
    storage_configuration: Mapped[dict[str, Any]] = mapped_column(JSONColumn(), default=dict)
    __table_args__ = (sa.UniqueConstraint("workspace_id", "name"),)


class WorkQueue(orm.WorkspaceScoped, orm.Base):
    __tablename__ = "work_queue"
    work_pool_id: Mapped[uuid.UUID] = mapped_column(
        sa.Uuid, sa.ForeignKey("work_pool.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(sa.String(255))
    description: Mapped[str | None] = mapped_column(sa.Text, nullable=True, default="")
    priority: Mapped[int] = mapped_column(sa.Integer, default=1)
    concurrency_limit: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    is_paused: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    last_polled: Mapped[dt.datetime | None] = mapped_column(Timestamp(), nullable=True)
    status: Mapped[str] = mapped_column(sa.String(20), default="NOT_READY")
    filter: Mapped[dict[str, Any] | None] = mapped_column(JSONColumn(), nullable=True)
    __table_args__ = (sa.UniqueConstraint("work_pool_id", "name"),)


class Worker(orm.WorkspaceScoped, orm.Base):
    __tablename__ = "worker"
    work_pool_id: Mapped[uuid.UUID] = mapped_column(
        sa.Uuid, sa.ForeignKey("work_pool.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(sa.String(255))
    last_heartbeat_time: Mapped[dt.datetime | None] = mapped_column(Timestamp(), nullable=True)
    heartbeat_interval_seconds: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    status: Mapped[str] = mapped_column(sa.String(20), default="ONLINE")
    __table_args__ = (sa.UniqueConstraint("work_pool_id", "name"),)


# Runs of a queue by state: the poll's "what is scheduled here" and "how many are
# Pending/Running here" both read it. Most runs have no queue, so the index skips them.
_QUEUED = sa.text("work_queue_id IS NOT NULL")
QUEUED_RUNS_INDEX = sa.Index(
    "ix_flow_run__work_queue_state",
    orm.FlowRun.work_queue_id,
    orm.FlowRun.state_type,
    sqlite_where=_QUEUED,
    postgresql_where=_QUEUED,
)
