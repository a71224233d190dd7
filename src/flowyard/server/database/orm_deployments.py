"""ORM models: deployments (issue 4). Registered on ``orm.Base.metadata`` by the import at the end
of ``orm.py``; the schema changes live in their own Alembic revision (0003).

- ``deployment``: a flow made runnable on its own: entrypoint, pull steps, default
  parameters and their JSON Schema, the work pool/queue its runs go to, paused flag.
  Its name is unique per flow.
- ``deployment_schedule``: the schedules (cron, interval, rrule as JSON) of a deployment,
  each active or not, with its own parameters. Deleted with the deployment.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from flowyard.server.database import orm
from flowyard.server.database.types import JSONColumn, Timestamp


class Deployment(orm.WorkspaceScoped, orm.Base):
    __tablename__ = "deployment"
    flow_id: Mapped[uuid.UUID] = mapped_column(
        sa.Uuid, sa.ForeignKey("flow.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(sa.String(255))
    version: Mapped[str | None] = mapped_column(sa.String(255), nullable=True)
    description: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    paused: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    tags: Mapped[list[str]] = mapped_column(JSONColumn(), default=list)
    labels: Mapped[dict[str, Any]] = mapped_column(JSONColumn(), default=dict)
    parameters: Mapped[dict[str, Any]] = mapped_column(JSONColumn(), default=dict)
    parameter_openapi_schema: Mapped[dict[str, Any] | None] = mapped_column(
        JSONColumn(), nullable=True
    )
    enforce_parameter_schema: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    entrypoint: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    path: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    pull_steps: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONColumn(), nullable=True)
    job_variables: Mapped[dict[str, Any]] = mapped_column(JSONColumn(), default=dict)
    # No foreign keys to queues: a deleted pool leaves the deployment pointing nowhere
    # (the API names it), as in the contract.
    work_queue_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid, nullable=True)
    work_queue_name: Mapped[str | None] = mapped_column(sa.String(255), nullable=True)
    work_pool_name: Mapped[str | None] = mapped_column(sa.String(255), nullable=True)
    concurrency_limit: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    concurrency_options: Mapped[dict[str, Any] | None] = mapped_column(JSONColumn(), nullable=True)
    storage_document_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid, nullable=True)
    infrastructure_document_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid, nullable=True)
    last_polled: Mapped[dt.datetime | None] = mapped_column(Timestamp(), nullable=True)
    status: Mapped[str] = mapped_column(sa.String(20), default="NOT_READY")
    __table_args__ = (sa.UniqueConstraint("workspace_id", "flow_id", "name"),)


class DeploymentSchedule(orm.WorkspaceScoped, orm.Base):
    __tablename__ = "deployment_schedule"
    deployment_id: Mapped[uuid.UUID] = mapped_column(
        sa.Uuid, sa.ForeignKey("deployment.id", ondelete="CASCADE"), index=True
    )
    schedule: Mapped[dict[str, Any]] = mapped_column(JSONColumn())
    active: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    max_scheduled_runs: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    parameters: Mapped[dict[str, Any]] = mapped_column(JSONColumn(), default=dict)
    slug: Mapped[str | None] = mapped_column(sa.String(255), nullable=True)

    # A slug names one schedule of its deployment (updates find the schedule by it); NULLs
    # do not collide, so schedules without a slug are unconstrained.
    __table_args__ = (
        sa.Index(
            "ix_deployment_schedule__deployment_id_slug", "deployment_id", "slug", unique=True
        ),
    )
