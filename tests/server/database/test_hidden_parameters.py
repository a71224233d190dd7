"""Bound values are users' data (run parameters, variable values, block data): a failed
statement's error -- which the server logs with its traceback -- and an echoed statement's
log line never show them, whichever path ran the statement (the session, or the prepared
fast path of ``database/prepared.py``)."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from typing import Any, cast

import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from flowyard.server.database import orm
from flowyard.server.database.engine import Database
from flowyard.server.database.prepared import Prepared, insert_statement

SECRET = "hunter2-do-not-log"
VARIABLES = cast(sa.Table, orm.Variable.__table__)


def _variable(workspace_id: uuid.UUID) -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC)
    return {"id": uuid.uuid4(), "workspace_id": workspace_id, "name": "same-name",
            "value": {"password": SECRET}, "tags": [], "created": now, "updated": now}  # fmt: skip


@pytest.mark.parametrize("path", ["session", "prepared"])
async def test_a_failed_statement_does_not_show_its_values(
    app: FastAPI, db: Database, path: str
) -> None:
    workspace_id = app.state.default_workspace_id
    async with db.write() as session:
        await session.execute(sa.insert(VARIABLES), _variable(workspace_id))
    with pytest.raises(sa.exc.IntegrityError) as raised:
        async with db.write() as session:  # the same name again: a unique violation
            if path == "session":
                await session.execute(sa.insert(VARIABLES), _variable(workspace_id))
            else:
                await Prepared(insert_statement(VARIABLES)).run(session, _variable(workspace_id))
    assert SECRET not in str(raised.value)
    assert "parameters hidden" in str(raised.value)


async def test_an_echoed_statement_does_not_log_its_values(
    app: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    echoing = Database(app.state.db.url, echo=True)
    try:
        with caplog.at_level(logging.INFO, logger="sqlalchemy.engine"):
            async with echoing.read() as session:
                await session.execute(sa.select(VARIABLES.c.id).where(VARIABLES.c.name == SECRET))
    finally:
        await echoing.dispose()
    assert "variable" in caplog.text  # the statement was logged...
    assert SECRET not in caplog.text  # ...without its values
