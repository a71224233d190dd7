"""block types, schemas and documents

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from flowyard.server.database.types import JSONColumn, Timestamp

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def _common(table: str) -> list[Any]:
    """id, timestamps and workspace_id, as every workspace-scoped table has them."""
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


def _index(table: str, *columns: str) -> None:
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f(f"ix_{table}__{'_'.join(columns)}"), list(columns), unique=False
        )


def upgrade() -> None:
    op.create_table(
        "block_type",
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("slug", sa.String(length=255), nullable=False),
        sa.Column("logo_url", sa.Text(), nullable=True),
        sa.Column("documentation_url", sa.Text(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("code_example", sa.Text(), nullable=True),
        sa.Column("is_protected", sa.Boolean(), nullable=False),
        *_common("block_type"),
        sa.UniqueConstraint("workspace_id", "slug", name=op.f("uq_block_type__workspace_id_slug")),
        sa.UniqueConstraint("workspace_id", "name", name=op.f("uq_block_type__workspace_id_name")),
    )
    _index("block_type", "workspace_id")

    op.create_table(
        "block_schema",
        sa.Column("checksum", sa.String(length=255), nullable=False),
        sa.Column("fields", JSONColumn(), nullable=False),
        sa.Column("capabilities", JSONColumn(), nullable=False),
        sa.Column("version", sa.String(length=255), nullable=False),
        sa.Column("block_type_id", sa.Uuid(), nullable=False),
        *_common("block_schema"),
        sa.ForeignKeyConstraint(
            ["block_type_id"],
            ["block_type.id"],
            name=op.f("fk_block_schema__block_type_id__block_type"),
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint(
            "workspace_id",
            "checksum",
            "version",
            name=op.f("uq_block_schema__workspace_id_checksum_version"),
        ),
    )
    _index("block_schema", "block_type_id")
    _index("block_schema", "workspace_id")

    op.create_table(
        "block_document",
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("is_anonymous", sa.Boolean(), nullable=False),
        sa.Column("block_type_id", sa.Uuid(), nullable=False),
        sa.Column("block_schema_id", sa.Uuid(), nullable=False),
        *_common("block_document"),
        sa.ForeignKeyConstraint(
            ["block_type_id"],
            ["block_type.id"],
            name=op.f("fk_block_document__block_type_id__block_type"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["block_schema_id"],
            ["block_schema.id"],
            name=op.f("fk_block_document__block_schema_id__block_schema"),
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint(
            "workspace_id",
            "block_type_id",
            "name",
            name=op.f("uq_block_document__workspace_id_block_type_id_name"),
        ),
    )
    _index("block_document", "block_schema_id")
    _index("block_document", "workspace_id")

    op.create_table(
        "block_document_reference",
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("parent_block_document_id", sa.Uuid(), nullable=False),
        sa.Column("reference_block_document_id", sa.Uuid(), nullable=False),
        *_common("block_document_reference"),
        sa.ForeignKeyConstraint(
            ["parent_block_document_id"],
            ["block_document.id"],
            name=op.f("fk_block_document_reference__parent_block_document_id__block_document"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["reference_block_document_id"],
            ["block_document.id"],
            name=op.f("fk_block_document_reference__reference_block_document_id__block_document"),
        ),
        sa.UniqueConstraint(
            "parent_block_document_id",
            "name",
            name=op.f("uq_block_document_reference__parent_block_document_id_name"),
        ),
    )
    _index("block_document_reference", "reference_block_document_id")
    _index("block_document_reference", "workspace_id")


def downgrade() -> None:
    for table in ("block_document_reference", "block_document", "block_schema", "block_type"):
        op.drop_table(table)
