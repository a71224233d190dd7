"""a schedule's slug is unique within its deployment

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None

INDEX = "ix_deployment_schedule__deployment_id_slug"


def upgrade() -> None:
    # Slugs were not unique before: of the schedules of one deployment sharing a slug, the
    # first created keeps it and the others lose it (they stay, without a slug).
    op.execute(
        sa.text(
            """
            UPDATE deployment_schedule SET slug = NULL
            WHERE slug IS NOT NULL AND EXISTS (
                SELECT 1 FROM deployment_schedule AS earlier
                WHERE earlier.deployment_id = deployment_schedule.deployment_id
                  AND earlier.slug = deployment_schedule.slug
                  AND (earlier.created < deployment_schedule.created
                       OR (earlier.created = deployment_schedule.created
                           AND earlier.id < deployment_schedule.id))
            )
            """
        )
    )
    with op.batch_alter_table("deployment_schedule", schema=None) as batch_op:
        batch_op.create_index(INDEX, ["deployment_id", "slug"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("deployment_schedule", schema=None) as batch_op:
        batch_op.drop_index(INDEX)
