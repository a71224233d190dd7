"""work pools, work queues and workers

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from flowyard.server.database.types import JSONColumn, Timestamp

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

QUEUED = "work_queue_id IS NOT NULL"


def _common() -> list[sa.Column[object]]:
    return [
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created", Timestamp(), nullable=False),
        sa.Column("updated", Timestamp(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "work_pool",
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("type", sa.String(length=255), nullable=False),
        sa.Column("base_job_template", JSONColumn(), nullable=False),
        sa.Column("is_paused", sa.Boolean(), nullable=False),
        sa.Column("concurrency_limit", sa.Integer(), nullable=True),
        sa.Column("default_queue_id", sa.Uuid(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("last_transitioned_status_at", Timestamp(), nullable=True),
        sa.Column("last_status_event_id", sa.Uuid(), nullable=True),
        sa.Column("storage_configuration", JSONColumn(), nullable=False),
        *_common(),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_work_pool__workspace_id__workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_work_pool")),
        sa.UniqueConstraint("workspace_id", "name", name=op.f("uq_work_pool__workspace_id_name")),
    )
    with op.batch_alter_table("work_pool", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_work_pool__workspace_id"), ["workspace_id"], unique=False
        )

    op.create_table(
        "work_queue",
        sa.Column("work_pool_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("concurrency_limit", sa.Integer(), nullable=True),
        sa.Column("is_paused", sa.Boolean(), nullable=False),
        sa.Column("last_polled", Timestamp(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("filter", JSONColumn(), nullable=True),
        *_common(),
        sa.ForeignKeyConstraint(
            ["work_pool_id"],
            ["work_pool.id"],
            name=op.f("fk_work_queue__work_pool_id__work_pool"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_work_queue__workspace_id__workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_work_queue")),
        sa.UniqueConstraint("work_pool_id", "name", name=op.f("uq_work_queue__work_pool_id_name")),
    )
    with op.batch_alter_table("work_queue", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_work_queue__work_pool_id"), ["work_pool_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_work_queue__workspace_id"), ["workspace_id"], unique=False
        )

    op.create_table(
        "worker",
        sa.Column("work_pool_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("last_heartbeat_time", Timestamp(), nullable=True),
        sa.Column("heartbeat_interval_seconds", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        *_common(),
        sa.ForeignKeyConstraint(
            ["work_pool_id"],
            ["work_pool.id"],
            name=op.f("fk_worker__work_pool_id__work_pool"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_worker__workspace_id__workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_worker")),
        sa.UniqueConstraint("work_pool_id", "name", name=op.f("uq_worker__work_pool_id_name")),
    )
    with op.batch_alter_table("worker", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_worker__work_pool_id"), ["work_pool_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_worker__workspace_id"), ["workspace_id"], unique=False)

    with op.batch_alter_table("flow_run", schema=None) as batch_op:
        batch_op.create_index(
            "ix_flow_run__work_queue_state",
            ["work_queue_id", "state_type"],
            unique=False,
            sqlite_where=sa.text(QUEUED),
            postgresql_where=sa.text(QUEUED),
        )


def downgrade() -> None:
    with op.batch_alter_table("flow_run", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_flow_run__work_queue_state",
            sqlite_where=sa.text(QUEUED),
            postgresql_where=sa.text(QUEUED),
        )
    with op.batch_alter_table("worker", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_worker__workspace_id"))
        batch_op.drop_index(batch_op.f("ix_worker__work_pool_id"))
    op.drop_table("worker")
    with op.batch_alter_table("work_queue", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_work_queue__workspace_id"))
        batch_op.drop_index(batch_op.f("ix_work_queue__work_pool_id"))
    op.drop_table("work_queue")
    with op.batch_alter_table("work_pool", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_work_pool__workspace_id"))
    op.drop_table("work_pool")
