"""leases held by running flow runs, and pause inputs

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from flowyard.server.database.types import JSONColumn, Timestamp

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None

DUE = "next_scheduled_start_time IS NOT NULL"


def upgrade() -> None:
    op.create_table(
        "flow_run_lease",
        sa.Column("flow_run_id", sa.Uuid(), nullable=False),
        sa.Column("expiration", Timestamp(), nullable=False),
        sa.Column("lease_seconds", sa.Float(), nullable=False),
        sa.Column("holder", JSONColumn(), nullable=True),
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created", Timestamp(), nullable=False),
        sa.Column("updated", Timestamp(), nullable=False),
        sa.ForeignKeyConstraint(
            ["flow_run_id"],
            ["flow_run.id"],
            name=op.f("fk_flow_run_lease__flow_run_id__flow_run"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_flow_run_lease__workspace_id__workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flow_run_lease")),
        sa.UniqueConstraint("flow_run_id", name=op.f("uq_flow_run_lease__flow_run_id")),
    )
    with op.batch_alter_table("flow_run_lease", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_flow_run_lease__expiration"), ["expiration"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_flow_run_lease__workspace_id"), ["workspace_id"], unique=False
        )
    op.create_table(
        "flow_run_input",
        sa.Column("flow_run_id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("sender", sa.String(length=255), nullable=True),
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created", Timestamp(), nullable=False),
        sa.Column("updated", Timestamp(), nullable=False),
        sa.ForeignKeyConstraint(
            ["flow_run_id"],
            ["flow_run.id"],
            name=op.f("fk_flow_run_input__flow_run_id__flow_run"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_flow_run_input__workspace_id__workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flow_run_input")),
        sa.UniqueConstraint("flow_run_id", "key", name=op.f("uq_flow_run_input__flow_run_id_key")),
    )
    with op.batch_alter_table("flow_run_input", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_flow_run_input__workspace_id"), ["workspace_id"], unique=False
        )
    with op.batch_alter_table("flow_run", schema=None) as batch_op:
        batch_op.create_index(
            "ix_flow_run__state_name_next_scheduled",
            ["state_name", "next_scheduled_start_time"],
            unique=False,
            sqlite_where=sa.text(DUE),
            postgresql_where=sa.text(DUE),
        )


def downgrade() -> None:
    with op.batch_alter_table("flow_run", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_flow_run__state_name_next_scheduled",
            sqlite_where=sa.text(DUE),
            postgresql_where=sa.text(DUE),
        )
    with op.batch_alter_table("flow_run_input", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_flow_run_input__workspace_id"))
    op.drop_table("flow_run_input")
    with op.batch_alter_table("flow_run_lease", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_flow_run_lease__workspace_id"))
        batch_op.drop_index(batch_op.f("ix_flow_run_lease__expiration"))
    op.drop_table("flow_run_lease")
