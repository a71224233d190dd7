"""Migrations: the revisions build exactly the ORM's schema on this dialect (SQLite, or
PostgreSQL when FLOWYARD_TEST_DATABASE_URL is set), go down cleanly, and cost one query at a
server start on an up-to-date database."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext

from flowyard.server.database import migrations
from flowyard.server.database.engine import Database
from flowyard.server.database.migrations import runner
from flowyard.server.database.orm import Base


@pytest.fixture
async def fresh_db(database_url: str) -> AsyncIterator[Database]:
    db = Database(database_url)
    yield db
    await db.dispose()


async def table_names(db: Database) -> set[str]:
    async with db.read_engine.connect() as conn:
        return await conn.run_sync(lambda c: set(sa.inspect(c).get_table_names()))


def run_python(code: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_head_constant_is_the_head_of_the_versions_folder() -> None:
    # HEAD lets a start skip Alembic entirely; a new revision must move it.
    assert runner.script_heads() == (migrations.HEAD,)


async def test_upgrade_builds_exactly_the_orm_schema(fresh_db: Database) -> None:
    assert await migrations.current_revision(fresh_db) is None
    await runner.upgrade(fresh_db)  # every revision, as on a database of an older release
    assert await migrations.current_revision(fresh_db) == migrations.HEAD
    assert await runner.schema_differences(fresh_db) == []
    sqlite_only = {"flow_run_tag"} if fresh_db.is_sqlite else set()
    assert await table_names(fresh_db) == set(Base.metadata.tables) | {"alembic_version"} | (
        sqlite_only
    )


async def schema_of(db: Database) -> dict[str, Any]:
    """Tables with their columns (name, type, nullable), indexes and unique constraints."""

    def reflect(conn: sa.Connection) -> dict[str, Any]:
        inspector = sa.inspect(conn)
        schema: dict[str, Any] = {}
        for table in inspector.get_table_names():
            schema[table] = (
                sorted(
                    (c["name"], str(c["type"]), c["nullable"])
                    for c in inspector.get_columns(table)
                ),
                sorted(
                    (i["name"], tuple(i["column_names"]), bool(i["unique"]))
                    for i in inspector.get_indexes(table)
                ),
                sorted(
                    (u["name"] or "", tuple(u["column_names"]))
                    for u in inspector.get_unique_constraints(table)
                ),
                sorted(
                    (f["referred_table"], tuple(f["constrained_columns"]))
                    for f in inspector.get_foreign_keys(table)
                ),
            )
        return schema

    async with db.read_engine.connect() as conn:
        return await conn.run_sync(reflect)


async def test_an_empty_database_gets_the_head_schema_without_alembic(
    fresh_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def must_not_run(*args: Any) -> None:
        raise AssertionError("Alembic replayed the revisions on an empty database")

    with monkeypatch.context() as patched:
        patched.setattr(runner, "upgrade", must_not_run)
        await migrations.upgrade_to_head(fresh_db)
    assert await migrations.current_revision(fresh_db) == migrations.HEAD
    assert await runner.schema_differences(fresh_db) == []
    from_orm = await schema_of(fresh_db)

    # Alembic can take it down by name, so the revisions' objects are the ones created...
    await migrations.downgrade(fresh_db, "base")
    assert await table_names(fresh_db) <= {"alembic_version"}
    # ... and replaying every revision builds the very same schema.
    await runner.upgrade(fresh_db)
    assert await schema_of(fresh_db) == from_orm


async def test_the_sqlite_tag_table_comes_and_goes_with_flow_run(fresh_db: Database) -> None:
    async def has_tag_table() -> bool:
        # A new connection: a pooled one may answer from the schema it loaded earlier.
        reader = Database(fresh_db.url)
        try:
            async with reader.read_engine.connect() as conn:
                return "flow_run_tag" in await conn.run_sync(
                    lambda c: sa.inspect(c).get_table_names()
                )
        finally:
            await reader.dispose()

    await migrations.upgrade_to_head(fresh_db)
    assert await has_tag_table() == fresh_db.is_sqlite
    await migrations.downgrade(fresh_db, "base")
    assert not await has_tag_table()


async def test_columns_get_the_native_types_on_postgresql(fresh_db: Database) -> None:
    if fresh_db.is_sqlite:
        pytest.skip("PostgreSQL types")
    await migrations.upgrade_to_head(fresh_db)
    async with fresh_db.read_engine.connect() as conn:
        columns = await conn.run_sync(lambda c: sa.inspect(c).get_columns("flow_run"))
    types = {column["name"]: column["type"] for column in columns}
    assert type(types["parameters"]).__name__ == "JSONB"
    assert types["created"].timezone is True
    assert type(types["id"]).__name__ == "UUID"


async def test_downgrade_to_base_leaves_no_tables(fresh_db: Database) -> None:
    await migrations.upgrade_to_head(fresh_db)
    await migrations.downgrade(fresh_db, "base")
    # Alembic keeps its (now empty) bookkeeping table; nothing of ours is left.
    assert await table_names(fresh_db) <= {"alembic_version"}
    assert await migrations.current_revision(fresh_db) is None
    await migrations.upgrade_to_head(fresh_db)
    assert await runner.schema_differences(fresh_db) == []


async def test_upgrade_at_head_is_one_select_and_no_alembic(
    fresh_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    await migrations.upgrade_to_head(fresh_db)

    async def must_not_run(*args: Any) -> None:
        raise AssertionError("Alembic ran on a database already at head")

    monkeypatch.setattr(runner, "upgrade", must_not_run)
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not statement.startswith("BEGIN"):  # SQLite's explicit BEGIN from engine.py
            statements.append(statement)

    engines = {fresh_db.read_engine.sync_engine, fresh_db.write_engine.sync_engine}
    for engine in engines:
        sa.event.listen(engine, "before_cursor_execute", record)
    try:
        await migrations.upgrade_to_head(fresh_db)
        await migrations.upgrade_to_head(fresh_db)
    finally:
        for engine in engines:
            sa.event.remove(engine, "before_cursor_execute", record)
    assert statements == ["SELECT version_num FROM alembic_version"] * 2


async def test_a_start_at_head_never_imports_alembic(fresh_db: Database, database_url: str) -> None:
    await migrations.upgrade_to_head(fresh_db)
    process = run_python(
        """
        import asyncio, sys
        from flowyard.server.database.engine import Database
        from flowyard.server.database.migrations import upgrade_to_head

        db = Database(sys.argv[1])
        asyncio.run(upgrade_to_head(db))
        print(sorted(name for name in sys.modules if name.split(".")[0] == "alembic"))
        """,
        database_url,
    )
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert out.strip() == "[]"


async def test_concurrent_upgrades_of_a_fresh_database_all_succeed(database_url: str) -> None:
    databases = [Database(database_url) for _ in range(3)]
    try:
        await asyncio.gather(*(migrations.upgrade_to_head(db) for db in databases))
        assert await migrations.current_revision(databases[0]) == migrations.HEAD
        assert await runner.schema_differences(databases[0]) == []
    finally:
        for db in databases:
            await db.dispose()


async def test_processes_starting_together_on_a_fresh_database_all_succeed(
    fresh_db: Database, database_url: str
) -> None:
    code = """
        import asyncio, sys
        from flowyard.server.database.engine import Database
        from flowyard.server.database.migrations import upgrade_to_head

        async def main() -> None:
            db = Database(sys.argv[1])
            await upgrade_to_head(db)
            await db.dispose()

        asyncio.run(main())
        """
    processes = [run_python(code, database_url) for _ in range(3)]
    for process in processes:
        _, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
    assert await migrations.current_revision(fresh_db) == migrations.HEAD
    assert await runner.schema_differences(fresh_db) == []


async def test_reset_drops_everything_then_upgrades(fresh_db: Database) -> None:
    await migrations.upgrade_to_head(fresh_db)
    async with fresh_db.write() as session:
        await session.execute(
            sa.insert(Base.metadata.tables["account"]),
            {"id": uuid.uuid4(), "name": "a", "handle": "a"},
        )
        await session.execute(sa.text("CREATE TABLE stray (x INTEGER)"))
    await migrations.reset(fresh_db)
    assert "stray" not in await table_names(fresh_db)
    assert await migrations.current_revision(fresh_db) == migrations.HEAD
    assert await runner.schema_differences(fresh_db) == []
    async with fresh_db.read() as session:
        assert (await session.execute(sa.text("SELECT count(*) FROM account"))).scalar() == 0


async def test_a_failed_migration_changes_nothing(fresh_db: Database) -> None:
    await migrations.upgrade_to_head(fresh_db)

    def half_done(conn: sa.Connection) -> None:
        conn.exec_driver_sql("CREATE TABLE half_done (x INTEGER)")
        conn.exec_driver_sql("DROP TABLE log")
        raise RuntimeError("migration bug")

    with pytest.raises(RuntimeError, match="migration bug"):
        await runner.run_locked(fresh_db, half_done)
    tables = await table_names(fresh_db)
    assert "half_done" not in tables and "log" in tables
    await assert_foreign_keys_enforced(fresh_db)


async def test_rebuilding_a_parent_table_keeps_child_rows(fresh_db: Database) -> None:
    # On SQLite a batch op drops and recreates the table; with foreign keys on, the drop
    # would cascade to every workspace's flows. Migrations run with them off.
    await migrations.upgrade_to_head(fresh_db)
    account, workspace = uuid.uuid4(), uuid.uuid4()
    async with fresh_db.write() as session:
        await session.execute(
            sa.insert(Base.metadata.tables["account"]),
            {"id": account, "name": "a", "handle": "a"},
        )
        await session.execute(
            sa.insert(Base.metadata.tables["workspace"]),
            {"id": workspace, "account_id": account, "name": "w", "handle": "w"},
        )
        await session.execute(
            sa.insert(Base.metadata.tables["flow"]),
            {"id": uuid.uuid4(), "workspace_id": workspace, "name": "f", "tags": [], "labels": {}},
        )

    def rebuild_workspace(conn: sa.Connection) -> None:
        operations = Operations(MigrationContext.configure(conn))
        # PostgreSQL alters in place; forcing a copy there would trip over the foreign keys.
        recreate = "always" if conn.dialect.name == "sqlite" else "auto"
        with operations.batch_alter_table("workspace", recreate=recreate) as batch:
            batch.add_column(sa.Column("extra", sa.Text, nullable=True))

    await runner.run_locked(fresh_db, rebuild_workspace)
    async with fresh_db.read() as session:
        assert (await session.execute(sa.text("SELECT count(*) FROM flow"))).scalar() == 1
        assert (await session.execute(sa.text("SELECT count(*) FROM workspace"))).scalar() == 1
    await assert_foreign_keys_enforced(fresh_db)


async def assert_foreign_keys_enforced(db: Database) -> None:
    if not db.is_sqlite:
        return
    async with db.write() as session:
        assert (await session.execute(sa.text("PRAGMA foreign_keys"))).scalar() == 1


async def test_tables_without_migration_history_are_refused_plainly(fresh_db: Database) -> None:
    await fresh_db.create_all()
    with pytest.raises(runner.UnversionedSchemaError, match="database reset"):
        await migrations.upgrade_to_head(fresh_db)
    await migrations.reset(fresh_db)
    assert await migrations.current_revision(fresh_db) == migrations.HEAD


async def test_0007_keeps_the_first_of_duplicate_slugs_and_makes_them_unique(
    fresh_db: Database,
) -> None:
    import datetime as dt

    await runner.upgrade(fresh_db, "0006")
    account, workspace, flow, deployment = (uuid.uuid4() for _ in range(4))
    older, newer, other = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    t0 = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    stamps = {"created": t0, "updated": t0}
    async with fresh_db.write_engine.begin() as conn:
        # The ORM's tables for their column types: these five are the same at 0006.
        tables = Base.metadata.tables
        rows: list[tuple[str, dict[str, Any]]] = [
            ("account", {"id": account, "name": "a", "handle": "a"}),
            ("workspace", {"id": workspace, "account_id": account, "name": "w", "handle": "w"}),
            ("flow", {"id": flow, "workspace_id": workspace, "name": "f", "tags": [],
                      "labels": {}}),
            ("deployment", {"id": deployment, "workspace_id": workspace, "flow_id": flow,
                            "name": "d", "paused": False, "tags": [], "labels": {},
                            "parameters": {}, "enforce_parameter_schema": True,
                            "job_variables": {}, "status": "NOT_READY"}),
        ]  # fmt: skip
        # The newer duplicate is inserted first: the created time decides, not the order.
        for id_, slug, minutes in ((newer, "s", 5), (older, "s", 1), (other, "t", 3)):
            created = t0 + dt.timedelta(minutes=minutes)
            rows.append(
                ("deployment_schedule", {
                    "id": id_, "workspace_id": workspace, "deployment_id": deployment,
                    "slug": slug, "schedule": {"cron": "0 0 * * *"}, "active": True,
                    "parameters": {}, "created": created, "updated": created,
                })
            )  # fmt: skip
        for table, values in rows:
            await conn.execute(tables[table].insert().values(**{**stamps, **values}))
    await runner.upgrade(fresh_db)
    async with fresh_db.read_engine.connect() as conn:
        found = (await conn.execute(sa.text("SELECT id, slug FROM deployment_schedule"))).all()
    slugs = {uuid.UUID(str(row[0])): row[1] for row in found}
    assert slugs == {older: "s", newer: None, other: "t"}
    assert await runner.schema_differences(fresh_db) == []
