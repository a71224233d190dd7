"""Every create, update and delete of a concurrency limit (v2, and tag limits of v1, which
are the same rows) stores its ``prefect.concurrency-limit.<action>`` event with the change;
a change rolled back stores none."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from flowyard.schemas import actions
from flowyard.server.database.engine import Database
from flowyard.server.operations import concurrency_limits_v2 as operations
from flowyard.server.operations.context import RequestContext, Tx

SINCE = {"occurred": {"since": "2000-01-01T00:00:00Z"}}


async def lifecycle(client: httpx.AsyncClient) -> list[tuple[str, str, str, Any]]:
    body = {"filter": {**SINCE, "event": {"prefix": ["prefect.concurrency-limit."]},
                       "order": "ASC"}}  # fmt: skip
    response = await client.post("/events/filter", json=body)
    assert response.status_code == 200, response.text
    return [
        (
            e["event"],
            e["resource"]["prefect.resource.id"],
            e["resource"].get("prefect.resource.name"),
            e["payload"].get("updated_fields"),
        )
        for e in response.json()["events"]
    ]


async def test_v2_limits_emit_created_updated_deleted(client: httpx.AsyncClient) -> None:
    created = await client.post("/v2/concurrency_limits/", json={"name": "db", "limit": 2})
    assert created.status_code == 201, created.text
    resource = f"prefect.concurrency-limit.{created.json()['id']}"
    patched = await client.patch("/v2/concurrency_limits/db", json={"limit": 3, "name": "dbs"})
    assert patched.status_code == 204
    taken = await client.post("/v2/concurrency_limits/", json={"name": "dbs", "limit": 1})
    assert taken.status_code == 409
    assert (await client.delete("/v2/concurrency_limits/dbs")).status_code == 204
    assert await lifecycle(client) == [
        ("prefect.concurrency-limit.created", resource, "db", None),
        ("prefect.concurrency-limit.updated", resource, "dbs", ["limit", "name"]),
        ("prefect.concurrency-limit.deleted", resource, "dbs", None),
    ]


async def test_taking_slots_is_not_a_lifecycle_change(client: httpx.AsyncClient) -> None:
    await client.post("/v2/concurrency_limits/", json={"name": "busy", "limit": 2})
    taken = await client.post(
        "/v2/concurrency_limits/increment", json={"names": ["busy"], "slots": 1}
    )
    assert taken.status_code == 200, taken.text
    assert [e[0] for e in await lifecycle(client)] == ["prefect.concurrency-limit.created"]


async def test_tag_limits_emit_created_updated_deleted(client: httpx.AsyncClient) -> None:
    first = await client.post("/concurrency_limits/", json={"tag": "gpu", "concurrency_limit": 1})
    assert first.status_code == 201, first.text
    resized = await client.post("/concurrency_limits/", json={"tag": "gpu", "concurrency_limit": 4})
    assert resized.status_code == 200
    other = await client.post("/concurrency_limits/", json={"tag": "io", "concurrency_limit": 1})
    assert (await client.delete("/concurrency_limits/tag/gpu")).status_code == 200
    assert (await client.delete(f"/concurrency_limits/{other.json()['id']}")).status_code == 200
    gpu = f"prefect.concurrency-limit.{first.json()['id']}"
    io = f"prefect.concurrency-limit.{other.json()['id']}"
    assert await lifecycle(client) == [
        ("prefect.concurrency-limit.created", gpu, "tag:gpu", None),
        ("prefect.concurrency-limit.updated", gpu, "tag:gpu", ["limit"]),
        ("prefect.concurrency-limit.created", io, "tag:io", None),
        ("prefect.concurrency-limit.deleted", gpu, "tag:gpu", None),
        ("prefect.concurrency-limit.deleted", io, "tag:io", None),
    ]


async def test_a_rolled_back_change_stores_no_event(
    app: FastAPI, client: httpx.AsyncClient, db: Database
) -> None:
    ctx = RequestContext(db, app.state.default_workspace_id, app.state.default_account_id)
    with pytest.raises(RuntimeError):
        async with db.write() as session:
            create = actions.ConcurrencyLimitV2Create(name="doomed", limit=1)
            await operations.create_concurrency_limit(Tx(ctx, session, True), create)
            raise RuntimeError("the enclosing transaction fails")
    assert (await client.get("/v2/concurrency_limits/doomed")).status_code == 404
    assert await lifecycle(client) == []
