"""A run's log windows (``operations/run_pages.read_run_logs`` over ``queries/log_windows``):
keyset pages back to the first line and the live tail forward, exact even when many lines
share one timestamp, filtered by level, text and task run."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx
from fastapi import FastAPI

from flowyard.server.database.engine import Database
from flowyard.server.operations.context import RequestContext
from flowyard.server.operations.run_pages import LogQuery, read_run_logs

T0 = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)


def _ctx(app: FastAPI, db: Database) -> RequestContext:
    return RequestContext(db, app.state.default_workspace_id, app.state.default_account_id)


async def _run(client: httpx.AsyncClient) -> str:
    flow = (await client.post("/flows/", json={"name": "f"})).json()["id"]
    return str((await client.post("/flow_runs/", json={"flow_id": flow})).json()["id"])


async def _write(client: httpx.AsyncClient, lines: list[dict[str, Any]]) -> None:
    response = await client.post("/logs/", json=lines)
    assert response.status_code == 201, response.text


def _line(run: str, message: str, second: int, level: int = 20, **extra: Any) -> dict[str, Any]:
    return {"name": "t", "level": level, "message": message, "flow_run_id": run,
            "timestamp": (T0 + dt.timedelta(seconds=second)).isoformat(), **extra}  # fmt: skip


async def test_pages_back_and_tail_forward_cover_every_line_once_despite_equal_timestamps(
    client: httpx.AsyncClient, app: FastAPI, db: Database
) -> None:
    run = await _run(client)
    # Seven lines in one second, three in the next: only the id orders equals.
    await _write(client, [_line(run, f"a{i}", 0) for i in range(7)] +
                 [_line(run, f"b{i}", 1) for i in range(3)])  # fmt: skip
    ctx = _ctx(app, db)
    window = await read_run_logs(ctx, uuid.UUID(run), LogQuery(limit=3))
    pages = [[log.message for log in window.logs]]
    while window.earlier is not None:
        window = await read_run_logs(ctx, uuid.UUID(run), LogQuery(limit=3, before=window.earlier))
        pages.insert(0, [log.message for log in window.logs])
    everything = [m for page in pages for m in page]
    assert len(everything) == 10 and len(set(everything)) == 10
    assert set(everything[-3:]) == {"b0", "b1", "b2"}
    # Forward from the first line, three at a time: the same lines in the same order.
    oldest = (await read_run_logs(ctx, uuid.UUID(run), LogQuery(limit=10))).logs[0]
    forward = [oldest.message]
    last = (oldest.timestamp, oldest.id)
    while True:
        tail = await read_run_logs(ctx, uuid.UUID(run), LogQuery(limit=3, after=last))
        if not tail.logs:
            assert tail.last == last  # nothing new: the cursor stays where it was
            break
        forward += [log.message for log in tail.logs]
        last = tail.last  # type: ignore[assignment]
    assert forward == everything


async def test_filters_by_level_text_and_task_run(
    client: httpx.AsyncClient, app: FastAPI, db: Database
) -> None:
    run = await _run(client)
    other = await _run(client)
    body = {"flow_run_id": run, "task_key": "k", "dynamic_key": "0", "name": "k"}
    task = (await client.post("/task_runs/", json=body)).json()["id"]
    await _write(client, [
        _line(run, "disk 100% full", 0, level=40),
        _line(run, "disk ok", 1, level=20, task_run_id=task),
        _line(run, "50_percent", 2, level=30),
        _line(other, "disk elsewhere", 3, level=40),
    ])  # fmt: skip
    ctx = _ctx(app, db)

    async def messages(**query: Any) -> list[str]:
        window = await read_run_logs(ctx, uuid.UUID(run), LogQuery(**query))
        return [log.message for log in window.logs]

    assert await messages() == ["disk 100% full", "disk ok", "50_percent"]
    assert await messages(min_level=30) == ["disk 100% full", "50_percent"]
    assert await messages(text="DISK") == ["disk 100% full", "disk ok"]
    # Wildcards are text: "%" and "_" match themselves only.
    assert await messages(text="100%") == ["disk 100% full"]
    assert await messages(text="0_p") == ["50_percent"]
    assert await messages(task_run_id=uuid.UUID(task)) == ["disk ok"]
