"""A database of its own for a test: SQLite in a folder, or a fresh PostgreSQL database."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path


@contextlib.asynccontextmanager
async def fresh_database_url(folder: Path, server_url: str | None = None) -> AsyncIterator[str]:
    """SQLite under ``folder``, or, given a PostgreSQL ``server_url``, a new database on that
    server, dropped on exit. Yields the SQLAlchemy URL to hand to ``Settings``."""
    if not server_url:
        yield f"sqlite+aiosqlite:///{folder / 'test.db'}"
        return
    import asyncpg  # type: ignore[import-untyped]
    import sqlalchemy as sa

    url = sa.engine.make_url(server_url)
    name = f"fy_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(
        host=url.host, port=url.port or 5432, user=url.username, database=url.database
    )
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@contextlib.contextmanager
def fresh_postgres_database(server_url: str, prefix: str = "fy_test") -> Iterator[str]:
    """A new database on the PostgreSQL server of ``server_url``, dropped on exit; yields
    its SQLAlchemy URL. Synchronous, for fixtures that run outside an event loop (or inside
    one, such as Playwright's: the statements run on a thread of their own)."""
    import sqlalchemy as sa

    url = sa.engine.make_url(server_url)
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"

    async def admin(statement: str) -> None:
        import asyncpg

        conn = await asyncpg.connect(
            host=url.host, port=url.port or 5432, user=url.username, database=url.database
        )
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    def run(statement: str) -> None:
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, admin(statement)).result()

    run(f'CREATE DATABASE "{name}"')
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
