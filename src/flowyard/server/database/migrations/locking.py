"""The migration lock: one transaction that holds the schema for its whole length.

On PostgreSQL a transaction-scoped advisory lock, on SQLite the write lock that ``BEGIN
IMMEDIATE`` (issued by the write engine) takes. A second process starting at the same moment
waits there, then finds the schema already made. No Alembic import here: the fresh-database
path (``fresh``) needs the lock without Alembic.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from flowyard.server.database.engine import Database

# Any fixed 64-bit key will do, as long as every Flowyard process uses the same one.
ADVISORY_LOCK_KEY = 0x466C6F77_79617264  # b"Flowyard"

SyncAction = Callable[[sa.Connection], None]


async def run_locked(db: Database, action: SyncAction) -> None:
    """Run ``action`` on the write connection in one transaction, holding the migration lock."""
    async with db.write_engine.connect() as conn:
        if db.is_sqlite:
            # Rebuilding a table in batch mode drops the old one; with foreign keys on, that
            # drop would cascade-delete child rows. The pragma is ignored inside a
            # transaction, so it is set before BEGIN and restored after COMMIT.
            await conn.run_sync(_set_sqlite_foreign_keys, False)
        try:
            await conn.begin()  # BEGIN IMMEDIATE on SQLite: the write lock, held to commit
            if not db.is_sqlite:
                await conn.execute(sa.select(sa.func.pg_advisory_xact_lock(ADVISORY_LOCK_KEY)))
            await conn.run_sync(action)
            if db.is_sqlite:
                await conn.run_sync(_check_sqlite_foreign_keys)
            await conn.commit()
        except BaseException:
            await conn.rollback()
            raise
        finally:
            if db.is_sqlite:
                await _restore_sqlite_foreign_keys(conn)


def _set_sqlite_foreign_keys(conn: sa.Connection, enabled: bool) -> None:
    # On the raw DB-API connection: through SQLAlchemy, the statement would autobegin a
    # transaction first and SQLite would ignore the pragma.
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(f"PRAGMA foreign_keys = {'ON' if enabled else 'OFF'}")
    finally:
        cursor.close()


def _check_sqlite_foreign_keys(conn: sa.Connection) -> None:
    violations = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if violations:
        raise RuntimeError(f"Migration left rows violating foreign keys: {violations[:10]}")


async def _restore_sqlite_foreign_keys(conn: AsyncConnection) -> None:
    try:
        await conn.run_sync(_set_sqlite_foreign_keys, True)
    except Exception:
        # The pooled connection must never serve requests with foreign keys off.
        await conn.invalidate()
        raise
