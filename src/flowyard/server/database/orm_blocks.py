"""ORM models: blocks (issue 4). Registered on ``orm.Base.metadata`` by the import at the end
of ``orm.py``; the schema changes live in their own Alembic revision (0004).

- ``block_type``: a kind of block (``secret``, ``json``, a user's own), unique by slug per
  workspace; built-in types are ``is_protected``.
- ``block_schema``: the JSON schema of a type's fields, identified by checksum and version.
- ``block_document``: a named, saved block. ``data`` holds the document's values as one
  Fernet token (``server/blocks/encryption.py``), never as readable JSON, so that secret
  fields are encrypted at rest with a key kept outside the database.
- ``block_document_reference``: a document nested in another one under a field name (the
  ``{"$ref": {"block_document_id": …}}`` values of the contract). The referenced document
  cannot be deleted while a reference to it exists.
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from flowyard.server.database import orm
from flowyard.server.database.types import JSONColumn


class BlockType(orm.WorkspaceScoped, orm.Base):
    __tablename__ = "block_type"
    name: Mapped[str] = mapped_column(sa.String(255))
    slug: Mapped[str] = mapped_column(sa.String(255))
    logo_url: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    documentation_url: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    description: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    code_example: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    is_protected: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    __table_args__ = (
        sa.UniqueConstraint("workspace_id", "slug"),
        sa.UniqueConstraint("workspace_id", "name"),
    )


class BlockSchema(orm.WorkspaceScoped, orm.Base):
    __tablename__ = "block_schema"
    checksum: Mapped[str] = mapped_column(sa.String(255))
    fields: Mapped[dict[str, Any]] = mapped_column(JSONColumn(), default=dict)
    capabilities: Mapped[list[str]] = mapped_column(JSONColumn(), default=list)
    version: Mapped[str] = mapped_column(sa.String(255), default="non-versioned")
    block_type_id: Mapped[uuid.UUID] = mapped_column(
        sa.Uuid, sa.ForeignKey("block_type.id", ondelete="CASCADE"), index=True
    )
    __table_args__ = (sa.UniqueConstraint("workspace_id", "checksum", "version"),)


class BlockDocument(orm.WorkspaceScoped, orm.Base):
    __tablename__ = "block_document"
    name: Mapped[str] = mapped_column(sa.String(255))
    # A Fernet token of the JSON data: see the module docstring.
    data: Mapped[str] = mapped_column(sa.Text)
    is_anonymous: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    block_type_id: Mapped[uuid.UUID] = mapped_column(
        sa.Uuid, sa.ForeignKey("block_type.id", ondelete="CASCADE")
    )
    block_schema_id: Mapped[uuid.UUID] = mapped_column(
        sa.Uuid, sa.ForeignKey("block_schema.id", ondelete="CASCADE"), index=True
    )
    __table_args__ = (sa.UniqueConstraint("workspace_id", "block_type_id", "name"),)


class BlockDocumentReference(orm.WorkspaceScoped, orm.Base):
    __tablename__ = "block_document_reference"
    name: Mapped[str] = mapped_column(sa.String(255))
    parent_block_document_id: Mapped[uuid.UUID] = mapped_column(
        sa.Uuid, sa.ForeignKey("block_document.id", ondelete="CASCADE")
    )
    # No cascade: a referenced document is refused deletion (409) while this row exists.
    reference_block_document_id: Mapped[uuid.UUID] = mapped_column(
        sa.Uuid, sa.ForeignKey("block_document.id"), index=True
    )
    __table_args__ = (sa.UniqueConstraint("parent_block_document_id", "name"),)
