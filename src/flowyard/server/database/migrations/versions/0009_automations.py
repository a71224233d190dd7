"""automations and their trigger state

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from flowyard.server.database.types import JSONColumn, Timestamp

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | None = None
depends_on: str | None = None


def _scoped(table: str) -> list[Any]:
    return [
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created", Timestamp(), nullable=False),
        sa.Column("updated", Timestamp(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f(f"fk_{table}__workspace_id__workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
    ]


def _of_automation(table: str) -> list[Any]:
    return [
        sa.Column("automation_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["automation_id"],
            ["automation.id"],
            name=op.f(f"fk_{table}__automation_id__automation"),
            ondelete="CASCADE",
        ),
    ]


def upgrade() -> None:
    op.create_table(
        "automation",
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("tags", JSONColumn(), nullable=False),
        sa.Column("trigger", JSONColumn(), nullable=False),
        sa.Column("actions", JSONColumn(), nullable=False),
        sa.Column("actions_on_trigger", JSONColumn(), nullable=False),
        sa.Column("actions_on_resolve", JSONColumn(), nullable=False),
        sa.Column("owner_resource", sa.String(length=500), nullable=True),
        *_scoped("automation"),
    )
    op.create_index("ix_automation__workspace_id", "automation", ["workspace_id"])
    op.create_index("ix_automation__workspace_id_name", "automation", ["workspace_id", "name"])

    op.create_table(
        "automation_related_resource",
        sa.Column("resource_id", sa.String(length=500), nullable=False),
        sa.Column("owned_by", sa.Boolean(), nullable=False),
        *_of_automation("automation_related_resource"),
        *_scoped("automation_related_resource"),
    )
    op.create_index(
        "ix_automation_related_resource__workspace_id",
        "automation_related_resource",
        ["workspace_id"],
    )
    op.create_index(
        "ix_automation_related_resource__automation_id",
        "automation_related_resource",
        ["automation_id"],
    )
    op.create_index(
        "ix_automation_related_resource__workspace_id_resource_id",
        "automation_related_resource",
        ["workspace_id", "resource_id"],
    )

    op.create_table(
        "automation_bucket",
        sa.Column("trigger_id", sa.Uuid(), nullable=False),
        sa.Column("bucketing_key", sa.String(length=2000), nullable=False),
        sa.Column("start", Timestamp(), nullable=False),
        sa.Column("end", Timestamp(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("last_event", JSONColumn(), nullable=True),
        sa.Column("triggered", sa.Boolean(), nullable=False),
        *_of_automation("automation_bucket"),
        *_scoped("automation_bucket"),
        sa.UniqueConstraint(
            "automation_id",
            "trigger_id",
            "bucketing_key",
            name=op.f("uq_automation_bucket__automation_id_trigger_id_bucketing_key"),
        ),
    )
    op.create_index("ix_automation_bucket__workspace_id", "automation_bucket", ["workspace_id"])
    op.create_index("ix_automation_bucket__end", "automation_bucket", ["end"])

    op.create_table(
        "automation_firing",
        sa.Column("firing_key", sa.String(length=2100), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("triggering_event_id", sa.Uuid(), nullable=True),
        *_of_automation("automation_firing"),
        *_scoped("automation_firing"),
        sa.UniqueConstraint("firing_key", name=op.f("uq_automation_firing__firing_key")),
    )
    op.create_index("ix_automation_firing__workspace_id", "automation_firing", ["workspace_id"])
    op.create_index(
        "ix_automation_firing__automation_id_created",
        "automation_firing",
        ["automation_id", "created"],
    )


def downgrade() -> None:
    for table in (
        "automation_firing",
        "automation_bucket",
        "automation_related_resource",
        "automation",
    ):
        op.drop_table(table)
