"""The slow path: Alembic on the Database's write connection, inside one locked transaction.

Only imported when the stored revision is not the head (or to downgrade, reset or check), so
a server starting on an up-to-date database never pays for importing Alembic.

Each call runs in a single transaction that holds a lock for its whole length: on PostgreSQL
a transaction-scoped advisory lock, on SQLite the write lock that ``BEGIN IMMEDIATE`` (issued
by the write engine) takes. A second process starting at the same moment waits there, then
finds the database already at head and does nothing. Both dialects have transactional DDL,
so a failed migration leaves the database exactly as it was.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from flowyard.server.database.engine import Database
from flowyard.server.database.migrations.locking import run_locked

MIGRATIONS_DIR = Path(__file__).resolve().parent


def alembic_config(connection: sa.Connection | None = None) -> Config:
    """Alembic's configuration, built in code so an installed wheel needs no alembic.ini."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    # ConfigParser interpolation: %% is a literal %.
    config.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    config.attributes["connection"] = connection
    return config


def script_heads() -> tuple[str, ...]:
    return tuple(ScriptDirectory.from_config(alembic_config()).get_heads())


class UnversionedSchemaError(RuntimeError):
    """Flowyard tables exist but Alembic has no record of them: migrating would collide."""


async def upgrade(db: Database, revision: str = "head") -> None:
    def upgrade_action(conn: sa.Connection) -> None:
        _refuse_unversioned_schema(conn)
        command.upgrade(alembic_config(conn), revision)

    await run_locked(db, upgrade_action)


async def downgrade(db: Database, revision: str = "base") -> None:
    await run_locked(db, lambda conn: command.downgrade(alembic_config(conn), revision))


async def reset(db: Database) -> None:
    def drop_and_upgrade(conn: sa.Connection) -> None:
        # Reflect rather than trust the ORM: drop whatever is there, alembic_version and
        # tables from other versions of the schema included.
        existing = sa.MetaData()
        existing.reflect(conn)
        existing.drop_all(conn)
        command.upgrade(alembic_config(conn), "head")

    await run_locked(db, drop_and_upgrade)


async def schema_differences(db: Database) -> list[Any]:
    """What Alembic's autogenerate would change to make the database match the ORM."""
    from flowyard.server.database.orm import Base, visible_to_alembic

    def compare(conn: sa.Connection) -> list[Any]:
        opts = {"compare_type": True, "include_object": visible_to_alembic}
        context = MigrationContext.configure(conn, opts=opts)
        return list(compare_metadata(context, Base.metadata))

    async with db.read_engine.connect() as conn:
        return await conn.run_sync(compare)


def _refuse_unversioned_schema(conn: sa.Connection) -> None:
    # Databases made by create_all() (development builds before migrations, or tests) have
    # the tables but no history; say so plainly instead of failing on "table exists".
    from flowyard.server.database.orm import Base

    if MigrationContext.configure(conn).get_current_revision() is not None:
        return
    clash = sorted(set(sa.inspect(conn).get_table_names()) & set(Base.metadata.tables))
    if clash:
        raise UnversionedSchemaError(
            f"The database has Flowyard tables ({', '.join(clash[:5])}, ...) but no migration "
            "history, so it cannot be upgraded. Recreate it with `flowyard server database "
            "reset` (this deletes its data)."
        )
