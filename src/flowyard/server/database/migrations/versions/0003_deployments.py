"""deployments and their schedules

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from flowyard.server.database.types import JSONColumn, Timestamp

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def _common() -> list[sa.Column[object]]:
    return [
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created", Timestamp(), nullable=False),
        sa.Column("updated", Timestamp(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "deployment",
        sa.Column("flow_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("version", sa.String(length=255), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("tags", JSONColumn(), nullable=False),
        sa.Column("labels", JSONColumn(), nullable=False),
        sa.Column("parameters", JSONColumn(), nullable=False),
        sa.Column("parameter_openapi_schema", JSONColumn(), nullable=True),
        sa.Column("enforce_parameter_schema", sa.Boolean(), nullable=False),
        sa.Column("entrypoint", sa.Text(), nullable=True),
        sa.Column("path", sa.Text(), nullable=True),
        sa.Column("pull_steps", JSONColumn(), nullable=True),
        sa.Column("job_variables", JSONColumn(), nullable=False),
        sa.Column("work_queue_id", sa.Uuid(), nullable=True),
        sa.Column("work_queue_name", sa.String(length=255), nullable=True),
        sa.Column("work_pool_name", sa.String(length=255), nullable=True),
        sa.Column("concurrency_limit", sa.Integer(), nullable=True),
        sa.Column("concurrency_options", JSONColumn(), nullable=True),
        sa.Column("storage_document_id", sa.Uuid(), nullable=True),
        sa.Column("infrastructure_document_id", sa.Uuid(), nullable=True),
        sa.Column("last_polled", Timestamp(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        *_common(),
        sa.ForeignKeyConstraint(
            ["flow_id"],
            ["flow.id"],
            name=op.f("fk_deployment__flow_id__flow"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_deployment__workspace_id__workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deployment")),
        sa.UniqueConstraint(
            "workspace_id", "flow_id", "name", name=op.f("uq_deployment__workspace_id_flow_id_name")
        ),
    )
    with op.batch_alter_table("deployment", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_deployment__flow_id"), ["flow_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_deployment__workspace_id"), ["workspace_id"], unique=False
        )

    op.create_table(
        "deployment_schedule",
        sa.Column("deployment_id", sa.Uuid(), nullable=False),
        sa.Column("schedule", JSONColumn(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("max_scheduled_runs", sa.Integer(), nullable=True),
        sa.Column("parameters", JSONColumn(), nullable=False),
        sa.Column("slug", sa.String(length=255), nullable=True),
        *_common(),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["deployment.id"],
            name=op.f("fk_deployment_schedule__deployment_id__deployment"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_deployment_schedule__workspace_id__workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deployment_schedule")),
    )
    with op.batch_alter_table("deployment_schedule", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_deployment_schedule__deployment_id"), ["deployment_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_deployment_schedule__workspace_id"), ["workspace_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("deployment_schedule", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deployment_schedule__workspace_id"))
        batch_op.drop_index(batch_op.f("ix_deployment_schedule__deployment_id"))
    op.drop_table("deployment_schedule")
    with op.batch_alter_table("deployment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deployment__workspace_id"))
        batch_op.drop_index(batch_op.f("ix_deployment__flow_id"))
    op.drop_table("deployment")
