import asyncio
import uuid
from typing import Any

import httpx


async def _create(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    response = await client.post("/artifacts/", json=fields)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    await asyncio.sleep(0.002)  # distinct creation times, so "latest" is well defined
    return body


async def test_create_read_update_delete(client: httpx.AsyncClient) -> None:
    flow_run_id = str(uuid.uuid4())
    artifact = await _create(
        client, key="report", type="markdown", data="# Hello", description="d",
        metadata_={"rows": "3"}, flow_run_id=flow_run_id,
    )  # fmt: skip
    assert artifact["metadata_"] == {"rows": "3"} and artifact["flow_run_id"] == flow_run_id
    assert (await client.get(f"/artifacts/{artifact['id']}")).json()["data"] == "# Hello"
    patched = await client.patch(f"/artifacts/{artifact['id']}", json={"data": {"progress": 50}})
    assert patched.status_code == 204
    read = (await client.get(f"/artifacts/{artifact['id']}")).json()
    assert read["data"] == {"progress": 50} and read["description"] == "d"
    assert (await client.delete(f"/artifacts/{artifact['id']}")).status_code == 204
    assert (await client.get(f"/artifacts/{artifact['id']}")).status_code == 404
    assert (await client.delete(f"/artifacts/{artifact['id']}")).status_code == 404


async def test_bad_input_names_the_field(client: httpx.AsyncClient) -> None:
    bad_key = await client.post("/artifacts/", json={"key": "Not A Key", "data": 1})
    assert bad_key.status_code == 422 and "key" in bad_key.json()["detail"]
    joins = await client.post("/artifacts/filter", json={"flow_runs": {"surprise": {}}})
    assert joins.status_code == 422 and "flow_runs" in joins.json()["detail"]
    assert (await client.post("/artifacts/count", json={"flow_runs": None})).json() == 0


async def test_latest_artifact_per_key(client: httpx.AsyncClient) -> None:
    await _create(client, key="sales", type="table", data=[1])
    newest_sales = await _create(client, key="sales", type="table", data=[2])
    only_metrics = await _create(client, key="metrics", type="markdown", data="m")
    await _create(client, type="markdown", data="no key")

    latest = await client.get("/artifacts/sales/latest")
    assert latest.json()["id"] == newest_sales["id"]
    assert (await client.get("/artifacts/nothing/latest")).status_code == 404

    collections = (await client.post("/artifacts/latest/filter", json={"sort": "KEY_ASC"})).json()
    assert [(c["key"], c["latest_id"], c["data"]) for c in collections] == [
        ("metrics", only_metrics["id"], "m"),
        ("sales", newest_sales["id"], [2]),
    ]
    tables = {"artifacts": {"type": {"any_": ["table"]}}}
    assert (await client.post("/artifacts/latest/count", json=tables)).json() == 1
    by_id = {"artifacts": {"latest_id": {"any_": [newest_sales["id"]]}}}
    assert [
        c["key"] for c in (await client.post("/artifacts/latest/filter", json=by_id)).json()
    ] == ["sales"]

    # Deleting the newest makes the previous one the latest again.
    await client.delete(f"/artifacts/{newest_sales['id']}")
    assert (await client.get("/artifacts/sales/latest")).json()["data"] == [1]


async def test_filter_sort_and_count(client: httpx.AsyncClient) -> None:
    task_run_id = str(uuid.uuid4())
    a = await _create(client, key="a", type="markdown", data=1, task_run_id=task_run_id)
    b = await _create(client, key="b", type="table", data=2)
    c = await _create(client, type="link", data=3)

    async def ids(body: dict[str, Any]) -> list[str]:
        response = await client.post("/artifacts/filter", json=body)
        assert response.status_code == 200, response.text
        return [x["id"] for x in response.json()]

    assert await ids({"sort": "CREATED_DESC"}) == [c["id"], b["id"], a["id"]]
    assert await ids({"sort": "KEY_ASC", "limit": 2}) == [a["id"], b["id"]]
    assert await ids({"artifacts": {"key": {"exists_": False}}}) == [c["id"]]
    assert await ids({"artifacts": {"task_run_id": {"any_": [task_run_id]}}}) == [a["id"]]
    assert set(await ids({"artifacts": {"type": {"not_any_": ["link"]}}})) == {a["id"], b["id"]}
    assert (
        await client.post("/artifacts/count", json={"artifacts": {"key": {"like_": "b"}}})
    ).json() == 1


async def test_filter_by_the_runs_an_artifact_belongs_to(client: httpx.AsyncClient) -> None:
    flow = (await client.post("/flows/", json={"name": "reports"})).json()
    other_flow = (await client.post("/flows/", json={"name": "other"})).json()
    run = await client.post("/flow_runs/", json={"flow_id": flow["id"], "tags": ["nightly"]})
    other_run = await client.post("/flow_runs/", json={"flow_id": other_flow["id"]})
    run_id, other_run_id = run.json()["id"], other_run.json()["id"]
    task = await client.post(
        "/task_runs/",
        json={"flow_run_id": run_id, "task_key": "t", "dynamic_key": "0", "name": "t"},
    )
    task_id = task.json()["id"]
    mine = await _create(client, key="r", data=1, flow_run_id=run_id, task_run_id=task_id)
    theirs = await _create(client, key="o", data=2, flow_run_id=other_run_id)
    await _create(client, data=3)  # no run at all

    async def ids(path: str, body: dict[str, Any]) -> list[str]:
        response = await client.post(path, json=body)
        assert response.status_code == 200, response.text
        return [a.get("latest_id", a["id"]) for a in response.json()]

    for body in (
        {"flows": {"id": {"any_": [flow["id"]]}}},
        {"flow_runs": {"tags": {"all_": ["nightly"]}}},
        {"task_runs": {"id": {"any_": [task_id]}}},
        {"flows": {"name": {"any_": ["reports"]}}, "flow_runs": {"id": {"any_": [run_id]}}},
    ):
        assert await ids("/artifacts/filter", body) == [mine["id"]], body
        assert await ids("/artifacts/latest/filter", body) == [mine["id"]], body
        assert (await client.post("/artifacts/count", json=body)).json() == 1
        assert (await client.post("/artifacts/latest/count", json=body)).json() == 1
    # Filters on two sides are ANDed: no artifact of that flow with the other's run.
    both = {"flows": {"id": {"any_": [flow["id"]]}}, "flow_runs": {"id": {"any_": [other_run_id]}}}
    assert await ids("/artifacts/filter", both) == []
    # A deployments filter keeps artifacts of runs of such deployments: none here.
    assert await ids("/artifacts/filter", {"deployments": {}}) == []
    assert theirs["id"] in await ids("/artifacts/filter", {"flow_runs": {}})
