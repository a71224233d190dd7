"""Helpers shared by the flow-run, task-run and state API tests."""

import datetime as dt
from typing import Any

import httpx

T0 = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)


def at(minutes: float) -> str:
    return (T0 + dt.timedelta(minutes=minutes)).isoformat()


async def make_flow(client: httpx.AsyncClient, name: str = "etl", **fields: Any) -> str:
    response = await client.post("/flows/", json={"name": name, **fields})
    return str(response.json()["id"])


async def make_run(client: httpx.AsyncClient, flow_id: str, **fields: Any) -> dict[str, Any]:
    response = await client.post("/flow_runs/", json={"flow_id": flow_id, **fields})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def scheduled(minutes: float) -> dict[str, Any]:
    return {"type": "SCHEDULED", "state_details": {"scheduled_time": at(minutes)}}


async def names(client: httpx.AsyncClient, body: dict[str, Any]) -> list[str]:
    response = await client.post("/flow_runs/filter", json=body)
    assert response.status_code == 200, response.text
    return [run["name"] for run in response.json()]
