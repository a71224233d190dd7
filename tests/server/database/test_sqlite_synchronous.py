"""FLOWYARD_DATABASE_SQLITE_SYNCHRONOUS: SQLite's ``PRAGMA synchronous`` on every connection
the server opens, NORMAL by default, FULL on request; nothing else is accepted."""

from __future__ import annotations

from pathlib import Path

import pydantic
import pytest
import sqlalchemy as sa

from flowyard.server.app import create_app
from flowyard.settings import Settings

PRAGMA_VALUES = {"NORMAL": 1, "FULL": 2}


@pytest.mark.parametrize(("setting", "expected"), [(None, "NORMAL"), ("full", "FULL"),
                                                   ("NORMAL", "NORMAL")])  # fmt: skip
async def test_every_connection_runs_with_the_configured_synchronous_mode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, setting: str | None, expected: str
) -> None:
    if setting is not None:
        monkeypatch.setenv("FLOWYARD_DATABASE_SQLITE_SYNCHRONOUS", setting)
    app = create_app(Settings(home=tmp_path), services=False)
    db = app.state.db
    async with app.router.lifespan_context(app):
        async with db.write() as session:
            written = await session.scalar(sa.text("PRAGMA synchronous"))
        async with db.read() as session:
            read = await session.scalar(sa.text("PRAGMA synchronous"))
    assert written == read == PRAGMA_VALUES[expected]


def test_another_mode_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWYARD_DATABASE_SQLITE_SYNCHRONOUS", "OFF")
    with pytest.raises(pydantic.ValidationError, match="database_sqlite_synchronous"):
        Settings()
