"""/saved_searches in the contract's shapes: PUT creates (or replaces the filters of the
search of that name), GET and DELETE by id, POST /filter lists them by name."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from flowyard.server.database.engine import Database
from flowyard.server.queries import tenancy

STATE_FILTER = {
    "object": "flow_run", "property": "state", "type": "state", "operation": "or",
    "value": ["COMPLETED", "FAILED"],
}  # fmt: skip


async def test_put_creates_then_replaces_the_filters_of_a_search_of_that_name(
    client: httpx.AsyncClient,
) -> None:
    created = await client.put("/saved_searches/", json={"name": "failures"})
    assert created.status_code == 201, created.text
    search = created.json()
    assert search["name"] == "failures" and search["filters"] == []
    assert set(search) == {"id", "created", "updated", "name", "filters"}

    replaced = await client.put(
        "/saved_searches/", json={"name": "failures", "filters": [STATE_FILTER]}
    )
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["id"] == search["id"]
    assert replaced.json()["filters"] == [STATE_FILTER]
    read = (await client.get(f"/saved_searches/{search['id']}")).json()
    assert read["filters"] == [STATE_FILTER] and read["created"] == search["created"]


async def test_filter_lists_by_name_with_limit_and_offset(client: httpx.AsyncClient) -> None:
    for name in ("charlie", "alpha", "bravo"):
        assert (await client.put("/saved_searches/", json={"name": name})).status_code == 201
    listed = (await client.post("/saved_searches/filter", json={})).json()
    assert [s["name"] for s in listed] == ["alpha", "bravo", "charlie"]
    page = await client.post("/saved_searches/filter", json={"limit": 1, "offset": 1})
    assert [s["name"] for s in page.json()] == ["bravo"]
    # The official client sends no body at all, or nulls.
    assert len((await client.post("/saved_searches/filter")).json()) == 3
    nulls = await client.post("/saved_searches/filter", json={"limit": None, "offset": None})
    assert len(nulls.json()) == 3


async def test_delete_and_missing_searches(client: httpx.AsyncClient) -> None:
    search = (await client.put("/saved_searches/", json={"name": "gone"})).json()
    assert (await client.delete(f"/saved_searches/{search['id']}")).status_code == 204
    missing = await client.get(f"/saved_searches/{search['id']}")
    assert missing.status_code == 404 and missing.json()["detail"] == "Saved search not found."
    assert (await client.delete(f"/saved_searches/{search['id']}")).status_code == 404


async def test_bad_bodies_name_the_field(client: httpx.AsyncClient) -> None:
    no_name = await client.put("/saved_searches/", json={"filters": []})
    assert no_name.status_code == 422 and "name" in no_name.json()["detail"]
    extra = await client.put("/saved_searches/", json={"name": "x", "surprise": 1})
    assert extra.status_code == 422 and "surprise" in extra.json()["detail"]
    partial = await client.put(
        "/saved_searches/", json={"name": "x", "filters": [{"object": "flow_run"}]}
    )
    assert partial.status_code == 422 and "filters" in partial.json()["detail"]
    assert (await client.post("/saved_searches/filter", json={})).json() == []


async def test_a_search_belongs_to_its_workspace(
    app: FastAPI, client: httpx.AsyncClient, db: Database
) -> None:
    async with db.write() as session:
        other = await tenancy.create_workspace(
            session, app.state.default_account_id, "Other", "other"
        )
    prefix = f"/accounts/{other.account_id}/workspaces/{other.id}"
    mine = (await client.put("/saved_searches/", json={"name": "same"})).json()
    theirs = await client.put(f"{prefix}/saved_searches/", json={"name": "same"})
    assert theirs.status_code == 201 and theirs.json()["id"] != mine["id"]
    assert (await client.get(f"{prefix}/saved_searches/{mine['id']}")).status_code == 404
    assert (await client.delete(f"{prefix}/saved_searches/{mine['id']}")).status_code == 404
    listed = (await client.post(f"{prefix}/saved_searches/filter", json={})).json()
    assert [s["id"] for s in listed] == [theirs.json()["id"]]
    assert (await client.get(f"/saved_searches/{mine['id']}")).status_code == 200
