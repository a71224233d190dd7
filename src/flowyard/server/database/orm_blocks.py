"""ORM models: blocks (issue 4). Registered on ``orm.Base.metadata`` by the import at the end
of ``orm.py``; the schema changes live in their own Alembic revision."""

from __future__ import annotations
