"""Regenerate the single initial migration from the ORM, then prove it on both dialects.

    .venv/bin/python scripts/regenerate_initial_migration.py [--postgres-url URL | --no-postgres]

Until the first release the schema has one revision, ``0001`` (versions/0001_initial.py).
This deletes the revision files, autogenerates ``0001`` against an empty scratch SQLite
database, tidies it with ruff, and then, on a scratch SQLite file and a scratch PostgreSQL
database, upgrades to head, checks that autogenerate finds no difference from the ORM, and
downgrades to base. It exits non-zero if any check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Coroutine
from pathlib import Path

import sqlalchemy as sa
from alembic import command

from flowyard.server.database import migrations
from flowyard.server.database.engine import Database
from flowyard.server.database.migrations import runner

VERSIONS = runner.MIGRATIONS_DIR / "versions"
DEFAULT_POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"


def regenerate() -> Path:
    for old in VERSIONS.glob("*.py"):
        old.unlink()
    with tempfile.TemporaryDirectory() as tmp:
        engine = sa.create_engine(f"sqlite:///{Path(tmp) / 'scratch.db'}")
        with engine.connect() as conn:
            script = command.revision(
                runner.alembic_config(conn),
                message="initial",
                autogenerate=True,
                rev_id=migrations.HEAD,
            )
        engine.dispose()
    assert script is not None and not isinstance(script, list)
    path = Path(script.path)
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or "ruff"
    # Format first so that line length is no longer an issue, then fix imports and check.
    subprocess.run([ruff, "format", "--quiet", "--", str(path)], check=True)
    subprocess.run([ruff, "check", "--fix", "--quiet", "--", str(path)], check=True)
    subprocess.run([ruff, "format", "--quiet", "--", str(path)], check=True)
    return path


async def check(url: str) -> list[str]:
    """Problems found migrating a fresh database at ``url`` up and down again."""
    db = Database(url)
    problems: list[str] = []
    try:
        await migrations.upgrade_to_head(db)
        if (current := await migrations.current_revision(db)) != migrations.HEAD:
            problems.append(f"at {current} after upgrade, expected {migrations.HEAD}")
        problems += [f"differs from the ORM: {d}" for d in await runner.schema_differences(db)]
        await migrations.downgrade(db, "base")
        async with db.read_engine.connect() as conn:
            left = await conn.run_sync(lambda c: set(sa.inspect(c).get_table_names()))
        if left - {migrations.VERSION_TABLE}:
            problems.append(f"tables left after downgrade to base: {sorted(left)}")
    finally:
        await db.dispose()
    return problems


async def check_postgres(admin_url: str) -> list[str]:
    import asyncpg  # type: ignore[import-untyped]

    url = sa.engine.make_url(admin_url)
    name = f"fy_migrations_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(
        host=url.host,
        port=url.port or 5432,
        user=url.username,
        password=url.password,
        database=url.database,
    )
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        return await check(url.set(database=name).render_as_string(hide_password=False))
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    parser.add_argument("--no-postgres", action="store_true", help="check on SQLite only")
    args = parser.parse_args()

    path = regenerate()
    print(f"wrote {path}")
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        targets: list[tuple[str, Callable[[], Coroutine[None, None, list[str]]]]] = [
            ("sqlite", lambda: check(f"sqlite+aiosqlite:///{Path(tmp) / 'check.db'}"))
        ]
        if not args.no_postgres:
            targets.append(("postgresql", lambda: check_postgres(args.postgres_url)))
        for dialect, checking in targets:
            problems = asyncio.run(checking())
            for problem in problems:
                print(f"{dialect}: {problem}")
            print(f"{dialect}: {'FAILED' if problems else 'ok'}")
            failed = failed or bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
