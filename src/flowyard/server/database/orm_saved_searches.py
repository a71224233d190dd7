"""ORM model: saved searches. Registered on ``orm.Base.metadata`` by the import at the end of
``orm.py``; the table comes with its own Alembic revision (0008).

- ``saved_search``: a named set of filters the UI keeps for a workspace, unique by name
  (saving under a taken name replaces that search's filters).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from flowyard.server.database import orm
from flowyard.server.database.types import JSONColumn


class SavedSearch(orm.WorkspaceScoped, orm.Base):
    __tablename__ = "saved_search"
    name: Mapped[str] = mapped_column(sa.String(255))
    filters: Mapped[list[dict[str, Any]]] = mapped_column(JSONColumn(), default=list)
    __table_args__ = (sa.UniqueConstraint("workspace_id", "name"),)
