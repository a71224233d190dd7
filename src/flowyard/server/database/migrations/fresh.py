"""The fast path for an empty database: the head schema straight from the ORM.

Replaying every revision on a brand-new database costs the first server start about
0.2 s (importing Alembic, then one batch operation after another) to reach a schema the
ORM describes already. So an empty database gets ``create_all`` and an ``alembic_version``
row saying it is at :data:`HEAD`, in one locked transaction, without importing Alembic.
The migrations test proves both paths build the same schema, and that Alembic can
downgrade a database made here, so later upgrades work on it exactly as on a migrated one.
"""

from __future__ import annotations

import sqlalchemy as sa

from flowyard.server.database.engine import Database
from flowyard.server.database.migrations.locking import run_locked

# Alembic's own bookkeeping table, as Alembic creates it.
_VERSION_METADATA = sa.MetaData()
VERSION_TABLE = sa.Table(
    "alembic_version",
    _VERSION_METADATA,
    sa.Column("version_num", sa.String(32), nullable=False),
    sa.PrimaryKeyConstraint("version_num", name="alembic_version_pkc"),
)


async def create_at_head(db: Database, head: str) -> bool:
    """Create the head schema if the database is empty; False (nothing done) otherwise."""
    from flowyard.server.database.orm import Base
    from flowyard.server.database.sqlite_schema import sync_sqlite_schema

    created = False

    def create(conn: sa.Connection) -> None:
        nonlocal created
        # Checked again under the lock: another process may have got here first, or the
        # database may hold tables of its own history that only Alembic can sort out.
        existing = set(sa.inspect(conn).get_table_names())
        if VERSION_TABLE.name in existing or existing & set(Base.metadata.tables):
            return
        Base.metadata.create_all(conn)
        sync_sqlite_schema(conn)  # SQLite only; nothing elsewhere
        _VERSION_METADATA.create_all(conn)
        conn.execute(VERSION_TABLE.insert().values(version_num=head))
        created = True

    await run_locked(db, create)
    return created
