"""The Alembic environment. It runs only through ``flowyard.server.database.migrations``
(or the regeneration script), which hands it an open connection in
``config.attributes["connection"]``; there is no alembic.ini and no URL here.

One set of revision files serves both dialects, so they are always rendered in batch mode:
on SQLite a batch op rebuilds the table (SQLite cannot ALTER most things), on PostgreSQL
it is the plain ALTER.
"""

from __future__ import annotations

from typing import Any, Literal

import sqlalchemy as sa
from alembic import context
from alembic.autogenerate.api import AutogenContext

from flowyard.server.database.orm import Base, visible_to_alembic
from flowyard.server.database.sqlite_schema import sync_sqlite_schema
from flowyard.server.database.types import Timestamp


def render_item(kind: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    """Render our column types as imports from types.py, so a revision file reads like the ORM
    and creates the same columns (TIMESTAMPTZ, JSONB) on PostgreSQL."""
    if kind != "type":
        return False
    if isinstance(obj, Timestamp):
        autogen_context.imports.add("from flowyard.server.database.types import Timestamp")
        return "Timestamp()"
    if type(obj) is sa.JSON and "postgresql" in obj._variant_mapping:
        autogen_context.imports.add("from flowyard.server.database.types import JSONColumn")
        return "JSONColumn()"
    return False


def run() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError(
            "Flowyard migrations run through flowyard.server.database.migrations, "
            "which supplies the connection; the alembic CLI is not supported."
        )
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=True,
        compare_type=True,
        render_item=render_item,
        include_object=visible_to_alembic,
    )
    # When the caller already began a transaction (the server always does, to hold its
    # lock around the whole upgrade) Alembic joins it instead of opening its own.
    with context.begin_transaction():
        context.run_migrations()
        sync_sqlite_schema(connection)


run()
