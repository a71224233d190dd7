"""Logs and events through the client, against the real app in-process."""

from __future__ import annotations

import datetime as dt
import uuid

import httpx

from flowyard.client import FlowyardClient
from flowyard.schemas.actions import LogCreate
from flowyard.schemas.core import Event
from flowyard.schemas.filters import IdFilter, IntFilter, LogFilter
from flowyard.schemas.sorting import LogSort


async def test_create_and_read_logs(api_client: FlowyardClient) -> None:
    flow = await api_client.create_flow("etl")
    run = await api_client.create_flow_run(flow.id)
    start = dt.datetime.now(dt.UTC)
    await api_client.create_logs(
        [
            LogCreate(
                name="flowyard.flow_runs",
                level=20 + 10 * (i % 2),
                message=f"line {i}",
                timestamp=start + dt.timedelta(seconds=i),
                flow_run_id=run.id,
            )
            for i in range(4)
        ]
        + [  # a plain dict works too, as the hot path sends
            {
                "name": "other",
                "level": 20,
                "message": "elsewhere",
                "timestamp": start,
                "flow_run_id": str(uuid.uuid4()),
            }
        ]
    )
    mine = LogFilter(flow_run_id=IdFilter(any_=[run.id]))
    logs = await api_client.read_logs(mine)
    assert [log.message for log in logs] == ["line 0", "line 1", "line 2", "line 3"]
    newest = await api_client.read_logs(mine, sort=LogSort.TIMESTAMP_DESC, limit=1)
    assert [log.message for log in newest] == ["line 3"]
    warnings = LogFilter(flow_run_id=IdFilter(any_=[run.id]), level=IntFilter(ge_=30))
    assert [log.message for log in await api_client.read_logs(warnings)] == ["line 1", "line 3"]


async def test_empty_batches_send_nothing(api_client: FlowyardClient) -> None:
    await api_client.create_logs([])
    await api_client.emit_events([])


async def test_emit_events_stores_them(
    api_client: FlowyardClient, client: httpx.AsyncClient
) -> None:
    event = Event(
        id=uuid.uuid4(),
        occurred=dt.datetime.now(dt.UTC),
        event="flowyard.test.happened",
        resource={"prefect.resource.id": "test.thing.1"},
        payload={"n": 1},
    )
    await api_client.emit_events([event])
    response = await client.post(
        "/events/filter", json={"filter": {"event": {"name": ["flowyard.test.happened"]}}}
    )
    assert response.status_code == 200
    assert [e["id"] for e in response.json()["events"]] == [str(event.id)]
