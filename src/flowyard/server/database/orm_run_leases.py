"""ORM models: run_leases (issue 4). Registered on ``orm.Base.metadata`` by the import at the
end of ``orm.py``; the schema changes live in their own Alembic revision (0006).

- ``flow_run_lease``: the lease a process holds on the flow run it is executing. The process
  renews it by heartbeat; a lease left to expire means the process is gone, and the
  ``run_leases`` service crashes the run.
- ``flow_run_input``: values attached to a flow run under a key (the JSON schema a paused
  run waits for, the input a resume supplies), as the contract's ``/flow_runs/{id}/input``.
- an index on ``flow_run`` for the late-runs service: runs that are due, by state name.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from flowyard.server.database import orm
from flowyard.server.database.types import JSONColumn, Timestamp


class FlowRunLease(orm.WorkspaceScoped, orm.Base):
    """One lease per flow run: who holds it, and until when."""

    __tablename__ = "flow_run_lease"
    flow_run_id: Mapped[uuid.UUID] = mapped_column(
        sa.Uuid, sa.ForeignKey("flow_run.id", ondelete="CASCADE"), unique=True
    )
    expiration: Mapped[dt.datetime] = mapped_column(Timestamp(), index=True)
    lease_seconds: Mapped[float] = mapped_column(sa.Float)
    holder: Mapped[dict[str, Any] | None] = mapped_column(JSONColumn(), nullable=True)


class FlowRunInput(orm.WorkspaceScoped, orm.Base):
    """A keyed value (JSON text) attached to a flow run."""

    __tablename__ = "flow_run_input"
    flow_run_id: Mapped[uuid.UUID] = mapped_column(
        sa.Uuid, sa.ForeignKey("flow_run.id", ondelete="CASCADE")
    )
    key: Mapped[str] = mapped_column(sa.String(255))
    value: Mapped[str] = mapped_column(sa.Text)
    sender: Mapped[str | None] = mapped_column(sa.String(255), nullable=True)
    __table_args__ = (sa.UniqueConstraint("flow_run_id", "key"),)


# Scheduled runs that are due, by state name: only runs currently Scheduled have a
# next_scheduled_start_time, so the partial index stays as small as the backlog.
_DUE = sa.text("next_scheduled_start_time IS NOT NULL")
DUE_RUNS_INDEX = sa.Index(
    "ix_flow_run__state_name_next_scheduled",
    orm.FlowRun.state_name,
    orm.FlowRun.next_scheduled_start_time,
    sqlite_where=_DUE,
    postgresql_where=_DUE,
)
