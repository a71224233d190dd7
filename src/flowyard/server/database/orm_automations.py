"""ORM models: automations and the state of their triggers. Registered on
``orm.Base.metadata`` by the import at the end of ``orm.py``; the tables come with their own
Alembic revision (0009).

- ``automation``: a trigger and its actions (JSON in the contract's shapes), workspace-scoped.
- ``automation_related_resource``: the resources an automation acts on or is owned by
  (``related-to/{id}``, ``owned-by/{id}``), one row each, indexed by resource id.
- ``automation_bucket``: a trigger's count of events in its current window, per value of
  its ``for_each`` labels (``bucketing_key``), and when the window ends. Kept in the
  database so that counts and proactive deadlines survive a restart, and so that several
  server processes on one PostgreSQL count into the same row (``UPDATE ... RETURNING``).
- ``automation_firing``: one row per firing, claimed by a unique ``firing_key``: the
  process whose insert wins runs the actions, so they run once per firing however many
  processes saw the event. Also the record the throttle counts.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from flowyard.server.database import orm
from flowyard.server.database.types import JSONColumn, Timestamp


class Automation(orm.WorkspaceScoped, orm.Base):
    __tablename__ = "automation"
    name: Mapped[str] = mapped_column(sa.String(255))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    enabled: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    tags: Mapped[list[str]] = mapped_column(JSONColumn(), default=list)
    trigger: Mapped[dict[str, Any]] = mapped_column(JSONColumn())
    actions: Mapped[list[dict[str, Any]]] = mapped_column(JSONColumn(), default=list)
    actions_on_trigger: Mapped[list[dict[str, Any]]] = mapped_column(JSONColumn(), default=list)
    actions_on_resolve: Mapped[list[dict[str, Any]]] = mapped_column(JSONColumn(), default=list)
    owner_resource: Mapped[str | None] = mapped_column(sa.String(500), nullable=True)
    __table_args__ = (sa.Index("ix_automation__workspace_id_name", "workspace_id", "name"),)


class AutomationRelatedResource(orm.WorkspaceScoped, orm.Base):
    __tablename__ = "automation_related_resource"
    automation_id: Mapped[uuid.UUID] = mapped_column(
        sa.Uuid, sa.ForeignKey("automation.id", ondelete="CASCADE"), index=True
    )
    resource_id: Mapped[str] = mapped_column(sa.String(500))
    owned_by: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    __table_args__ = (
        sa.Index(
            "ix_automation_related_resource__workspace_id_resource_id",
            "workspace_id",
            "resource_id",
        ),
    )


class AutomationBucket(orm.WorkspaceScoped, orm.Base):
    __tablename__ = "automation_bucket"
    automation_id: Mapped[uuid.UUID] = mapped_column(
        sa.Uuid, sa.ForeignKey("automation.id", ondelete="CASCADE")
    )
    trigger_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid)
    bucketing_key: Mapped[str] = mapped_column(sa.String(2000))
    start: Mapped[dt.datetime] = mapped_column(Timestamp())
    end: Mapped[dt.datetime] = mapped_column(Timestamp(), index=True)
    count: Mapped[int] = mapped_column(sa.Integer, default=0)
    # The last event counted (its JSON): the triggering event of a firing at the deadline.
    last_event: Mapped[dict[str, Any] | None] = mapped_column(JSONColumn(), nullable=True)
    # A proactive bucket that fired and waits to be resolved by events arriving again.
    triggered: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    __table_args__ = (sa.UniqueConstraint("automation_id", "trigger_id", "bucketing_key"),)


class AutomationFiring(orm.WorkspaceScoped, orm.Base):
    __tablename__ = "automation_firing"
    automation_id: Mapped[uuid.UUID] = mapped_column(
        sa.Uuid, sa.ForeignKey("automation.id", ondelete="CASCADE")
    )
    firing_key: Mapped[str] = mapped_column(sa.String(2100), unique=True)
    # "triggered" or "resolved"; "throttled" when the rate limit held the actions back.
    state: Mapped[str] = mapped_column(sa.String(20))
    triggering_event_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid, nullable=True)
    __table_args__ = (
        sa.Index("ix_automation_firing__automation_id_created", "automation_id", "created"),
    )
