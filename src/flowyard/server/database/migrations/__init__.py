"""Schema migrations: Alembic revisions in ``versions/``, one set for SQLite and PostgreSQL.

The server calls :func:`upgrade_to_head` at every start, so the common case, a database
already at the head revision, is one ``SELECT`` compared with :data:`HEAD`; an empty database
gets the head schema from the ORM (``fresh``); Alembic is only imported (from ``runner``) when
there is a revision to apply. A test keeps :data:`HEAD` equal to the head of the ``versions/``
folder.

To change the schema before the first release, edit the ORM and regenerate the single
initial revision: ``.venv/bin/python scripts/regenerate_initial_migration.py``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import sqlalchemy as sa

from flowyard.server.database.engine import LOCKED_RETRIES, Database, is_locked_error

logger = logging.getLogger("flowyard.server.database.migrations")

HEAD = "0010"
VERSION_TABLE = "alembic_version"

__all__ = ["HEAD", "current_revision", "downgrade", "reset", "upgrade_to_head"]


async def current_revision(db: Database) -> str | None:
    """The revision the database is at, or None for an empty (never migrated) database."""
    async with db.read_engine.connect() as conn:
        try:
            result = await conn.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}"))
            versions = sorted(result.scalars())
        except sa.exc.DBAPIError:
            # Cheaper than asking first on every start: only a fresh database gets here.
            await conn.rollback()
            if await conn.run_sync(lambda sync: sa.inspect(sync).has_table(VERSION_TABLE)):
                raise
            return None
    # Several rows only happen with branches, which this project does not use; joined, they
    # never equal HEAD, so Alembic gets to sort them out.
    return " ".join(versions) or None


async def upgrade_to_head(db: Database) -> None:
    """Bring the schema to the latest revision. Safe to call from several processes at once."""
    await _retry_if_locked(db, lambda: _upgrade_to_head(db))


async def _upgrade_to_head(db: Database) -> None:
    current = await current_revision(db)
    if current == HEAD:
        return
    if current is None:
        from flowyard.server.database.migrations import fresh

        if await fresh.create_at_head(db, HEAD):
            logger.info("Created the database schema at revision %s", HEAD)
            return
    from flowyard.server.database.migrations import runner

    logger.info("Migrating the database from %s to %s", current or "an empty schema", HEAD)
    await runner.upgrade(db, "head")


async def downgrade(db: Database, revision: str = "base") -> None:
    """Step the schema down to ``revision`` ("base" drops every table migrations created)."""
    from flowyard.server.database.migrations import runner

    await _retry_if_locked(db, lambda: runner.downgrade(db, revision))


async def reset(db: Database) -> None:
    """Drop every table, ``alembic_version`` included, then upgrade to head. Destroys data."""
    from flowyard.server.database.migrations import runner

    await _retry_if_locked(db, lambda: runner.reset(db))


async def _retry_if_locked(db: Database, attempt: Callable[[], Awaitable[None]]) -> None:
    # SQLite only. Processes opening a brand-new file together race to switch it to WAL,
    # and SQLite answers the loser "database is locked" at once rather than waiting; a
    # writer can also outlast the busy timeout. Nothing was changed (every migration is one
    # transaction), so the whole step is simply tried again.
    for tries in range(1, LOCKED_RETRIES + 1):
        try:
            await attempt()
            return
        except sa.exc.OperationalError as exc:
            if not (db.is_sqlite and is_locked_error(exc)) or tries == LOCKED_RETRIES:
                raise
            logger.info("Database is locked; retrying the migration step (%d)", tries)
            await asyncio.sleep(min(0.05 * 2**tries, 2.0))
