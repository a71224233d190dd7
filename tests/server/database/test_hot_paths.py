"""The machinery behind the fast paths: the inline SQLite driver waits for a lock held by
another process without stalling the event loop, prepared statements store exactly what
the ORM stores, time-ordered ids and planner statistics."""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
import uuid
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from flowyard.server.database import engine as engine_module
from flowyard.server.database import orm
from flowyard.server.database.engine import Database, is_locked_error
from flowyard.server.database.migrations import upgrade_to_head
from flowyard.server.database.prepared import Prepared, insert_statement, sqlite_handle
from flowyard.server.database.types import new_id, utcnow
from flowyard.server.queries import tenancy


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'hot.db'}"


async def test_a_write_waits_for_another_process_without_blocking_the_loop(
    sqlite_url: str, tmp_path: Path
) -> None:
    db = Database(sqlite_url)
    try:
        await db.create_all()
        other = sqlite3.connect(tmp_path / "hot.db", isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock

        async def write() -> None:
            async with db.write() as session:
                await session.execute(sa.text("SELECT 1"))

        writer = asyncio.create_task(write())
        ticks = 0
        for _ in range(20):  # the loop keeps running while the writer waits
            await asyncio.sleep(0.01)
            ticks += 1
        assert ticks == 20 and not writer.done()
        other.execute("COMMIT")
        await asyncio.wait_for(writer, 5)
        other.close()
    finally:
        await db.dispose()


async def test_new_file_opened_by_many_connections_at_once(sqlite_url: str) -> None:
    # Several processes starting on a brand-new file race to switch it to WAL; the
    # losers are told "locked" at once and retry.
    databases = [Database(sqlite_url) for _ in range(4)]
    try:

        async def touch(db: Database) -> None:
            async with db.read() as session:
                await session.execute(sa.text("SELECT 1"))

        await asyncio.gather(*(touch(db) for db in databases))
    finally:
        for db in databases:
            await db.dispose()


def test_locked_errors_are_recognised_wrapped_or_not() -> None:
    raw = sqlite3.OperationalError("database is locked")
    assert is_locked_error(raw)
    assert is_locked_error(sa.exc.OperationalError("BEGIN", (), raw))
    assert not is_locked_error(sqlite3.OperationalError("no such table: x"))


async def test_prepared_statements_store_what_the_orm_stores(database_url: str) -> None:
    db = Database(database_url)
    try:
        await upgrade_to_head(db)
        async with db.write() as session:
            workspace = await tenancy.ensure_default_workspace(session)
        table = orm.Log.__table__
        assert isinstance(table, sa.Table)
        now = utcnow()
        row: dict[str, Any] = {
            "id": new_id(),
            "workspace_id": workspace.id,
            "created": now,
            "updated": now,
            "name": "a.logger",
            "level": 20,
            "message": 'naïve "quoted" line',
            "timestamp": now,
            "flow_run_id": uuid.uuid4(),
            "task_run_id": None,
            "worker_id": None,
        }
        async with db.write() as session:
            await Prepared(insert_statement(table)).run_many(session, [row])
            session.add(orm.Log(**{**row, "id": new_id(), "message": "via the ORM"}))
        async with db.read() as session:
            stored = (await session.scalars(sa.select(orm.Log).order_by(orm.Log.id))).all()
            raw = (await session.execute(sa.text("SELECT created, timestamp FROM log"))).all()
        assert [log.message for log in stored] == [row["message"], "via the ORM"]
        assert stored[0].timestamp == now and stored[0].flow_run_id == row["flow_run_id"]
        assert raw[0] == raw[1]  # byte-identical timestamps either way
    finally:
        await db.dispose()


def test_new_ids_are_time_ordered_version_7_uuids() -> None:
    ids = [new_id() for _ in range(50)]
    assert {i.version for i in ids} == {7}
    assert len(set(ids)) == 50
    # Millisecond prefix: never decreasing.
    assert [i.int >> 80 for i in ids] == sorted(i.int >> 80 for i in ids)


async def test_statistics_are_gathered_once_tables_grow(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine_module, "ANALYZE_MIN_ROWS", 10)
    monkeypatch.setattr(engine_module, "ANALYZE_CHECK_EVERY", 5)
    db = Database(sqlite_url)
    try:
        await upgrade_to_head(db)
        async with db.write() as session:
            workspace = await tenancy.ensure_default_workspace(session)

        async def stats() -> set[str]:
            async with db.read() as session:
                handle = await sqlite_handle(session)
                assert handle is not None
                try:
                    return {t for (t,) in handle.execute("SELECT tbl FROM sqlite_stat1")}
                except sqlite3.OperationalError:
                    return set()

        await db.optimize()
        assert "variable" not in await stats()
        for number in range(12):  # 12 writes: a check runs after the 5th and the 10th
            async with db.write() as session:
                session.add(
                    orm.Variable(workspace_id=workspace.id, name=f"v{number}", value=number)
                )
        while db._optimizer is not None:
            await asyncio.sleep(0.01)
        assert "variable" in await stats()
    finally:
        await db.dispose()


def test_sqlite_timestamps_are_utc_text_with_microseconds() -> None:
    # The fast path cuts the "+00:00" off an aware UTC ISO string, whichever UTC zone
    # object it carries; other zones are converted first, naive values taken as UTC.
    from pydantic import TypeAdapter
    from sqlalchemy.dialects import sqlite

    from flowyard.server.database.types import Timestamp

    process = Timestamp().bind_processor(sqlite.dialect())
    at = dt.datetime(2026, 11, 28, 11, 22, 7, 169006, tzinfo=dt.UTC)
    paris = dt.timezone(dt.timedelta(hours=1))
    parsed = TypeAdapter(dt.datetime).validate_python("2026-11-28T11:22:07.169006Z")
    for value in (at, at.astimezone(paris), parsed, at.replace(tzinfo=None)):
        assert process(value) == "2026-11-28 11:22:07.169006"
    assert process(at.replace(microsecond=0)) == "2026-11-28 11:22:07.000000"
    assert process(None) is None
