"""concurrency limits: tag (v1) limits and slot holders

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
