"""Database access: one object that hands out read sessions and write transactions.

SQLite allows one writer at a time. Rather than letting concurrent requests race for the
file lock (and surface "database is locked"), every write in this process goes through a
single connection guarded by an asyncio lock, and that connection begins with
``BEGIN IMMEDIATE`` so a read-then-write transaction can never be overtaken by another
process. Another process on the same file waits on SQLite's busy timeout, and a write that
still finds the file locked is retried here, so the error never reaches a user.
Reads use a pool of connections that see WAL snapshots.

PostgreSQL needs none of that: both kinds of session come from one pool, and row locks
(``SELECT ... FOR UPDATE``) serialise what must be serialised.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine

SQLITE_BUSY_TIMEOUT_MS = 60_000
LOCKED_RETRIES = 20


def _is_locked_error(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "database is locked" in text or "database is busy" in text


class Database:
    """Sessions for one database URL. Create one per app; share it between requests."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.dialect = sa.engine.make_url(url).get_backend_name()
        self._write_lock = asyncio.Lock()
        if self.is_sqlite:
            self._ensure_sqlite_folder()
            self.write_engine = create_async_engine(
                url, echo=echo, pool_size=1, max_overflow=0, pool_timeout=300
            )
            self.read_engine = create_async_engine(url, echo=echo, pool_size=4, max_overflow=4)
            _configure_sqlite(self.write_engine, immediate=True)
            _configure_sqlite(self.read_engine, immediate=False)
        else:
            self.write_engine = create_async_engine(
                url, echo=echo, pool_size=10, max_overflow=10, pool_pre_ping=True
            )
            self.read_engine = self.write_engine

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    def _ensure_sqlite_folder(self) -> None:
        from pathlib import Path

        database = sa.engine.make_url(self.url).database
        if database and database != ":memory:":
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session for reads. Never commits."""
        async with AsyncSession(self.read_engine, expire_on_commit=False) as session:
            yield session

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """One write transaction: committed when the block exits, rolled back on error.

        On SQLite the block holds this process's single writer; keep it short and do
        no network I/O inside it.
        """
        if not self.is_sqlite:
            async with AsyncSession(self.write_engine, expire_on_commit=False) as session:
                async with session.begin():
                    yield session
            return
        async with self._write_lock:
            for attempt in range(LOCKED_RETRIES):
                session = AsyncSession(self.write_engine, expire_on_commit=False)
                try:
                    await session.begin()
                except OperationalError as exc:
                    # Another process held the file past the busy timeout: wait and retry
                    # the BEGIN; nothing has run yet, so retrying is safe.
                    await session.close()
                    if not _is_locked_error(exc) or attempt == LOCKED_RETRIES - 1:
                        raise
                    await asyncio.sleep(min(0.05 * 2**attempt, 2.0))
                    continue
                try:
                    yield session
                    await session.commit()
                except BaseException:
                    await session.rollback()
                    raise
                finally:
                    await session.close()
                return

    async def create_all(self) -> None:
        """Create tables straight from the ORM (tests only; servers run migrations)."""
        from flowyard.server.database.orm import Base

        async with self.write_engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)

    async def dispose(self) -> None:
        await self.write_engine.dispose()
        if self.read_engine is not self.write_engine:
            await self.read_engine.dispose()


def _configure_sqlite(engine: AsyncEngine, *, immediate: bool) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the driver so BEGIN is ours to issue.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA cache_size = -16000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
