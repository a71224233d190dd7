import uuid

import httpx


async def test_create_flow_is_an_upsert_by_name(client: httpx.AsyncClient) -> None:
    first = await client.post("/flows/", json={"name": "etl", "tags": ["a"]})
    assert first.status_code == 201
    again = await client.post("/flows/", json={"name": "etl"})
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["tags"] == ["a"]


async def test_read_flow_by_id_and_name(client: httpx.AsyncClient) -> None:
    flow = (await client.post("/flows/", json={"name": "reader"})).json()
    assert (await client.get(f"/flows/{flow['id']}")).json()["name"] == "reader"
    assert (await client.get("/flows/name/reader")).json()["id"] == flow["id"]
    missing = await client.get(f"/flows/{uuid.uuid4()}")
    assert missing.status_code == 404
    assert missing.json()["detail"] == "Flow not found."


async def test_filter_count_and_paginate_flows(client: httpx.AsyncClient) -> None:
    for name in ("alpha", "beta", "gamma-etl", "delta-etl"):
        await client.post("/flows/", json={"name": name, "tags": ["etl"] if "etl" in name else []})
    like = await client.post("/flows/filter", json={"flows": {"name": {"like_": "ETL"}}})
    assert sorted(f["name"] for f in like.json()) == ["delta-etl", "gamma-etl"]
    tagged = await client.post("/flows/count", json={"flows": {"tags": {"all_": ["etl"]}}})
    assert tagged.json() == 2
    page = await client.post("/flows/paginate", json={"page": 2, "limit": 3, "sort": "NAME_ASC"})
    assert page.json()["count"] == 4 and page.json()["pages"] == 2
    assert [f["name"] for f in page.json()["results"]] == ["gamma-etl"]


async def test_bad_input_names_the_field_and_stores_nothing(client: httpx.AsyncClient) -> None:
    response = await client.post("/flows/", json={"name": "a/b"})
    assert response.status_code == 422
    assert "name" in response.json()["detail"]
    extra = await client.post("/flows/", json={"name": "ok", "surprise": 1})
    assert extra.status_code == 422 and "surprise" in extra.json()["detail"]
    assert (await client.post("/flows/count", json={})).json() == 0
    too_many = await client.post("/flows/filter", json={"limit": 5000})
    assert too_many.status_code == 422 and "limit" in too_many.json()["detail"]


async def test_update_and_delete_flow(client: httpx.AsyncClient) -> None:
    flow = (await client.post("/flows/", json={"name": "gone"})).json()
    assert (await client.patch(f"/flows/{flow['id']}", json={"tags": ["x"]})).status_code == 204
    assert (await client.get(f"/flows/{flow['id']}")).json()["tags"] == ["x"]
    assert (await client.delete(f"/flows/{flow['id']}")).status_code == 204
    assert (await client.delete(f"/flows/{flow['id']}")).status_code == 404


async def test_workspace_prefix_serves_the_same_routes(client: httpx.AsyncClient, app) -> None:  # type: ignore[no-untyped-def]
    account, workspace = app.state.default_account_id, app.state.default_workspace_id
    prefix = f"/accounts/{account}/workspaces/{workspace}"
    created = await client.post(f"{prefix}/flows/", json={"name": "scoped"})
    assert created.status_code == 201
    assert (await client.get("/flows/name/scoped")).status_code == 200
    unknown = await client.get(f"/accounts/{account}/workspaces/{uuid.uuid4()}/flows/name/scoped")
    assert unknown.status_code == 404


async def test_admin_endpoints_the_official_client_needs(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health")).json() is True
    assert (await client.get("/admin/version")).json().startswith("3.")
    csrf = await client.get("/csrf-token", params={"client": "x"})
    assert csrf.status_code == 422 and csrf.json()["detail"] == "CSRF protection is disabled."
    assert (await client.get("/admin/storage")).json() == {"default_result_storage_block_id": None}


async def test_flow_filter_accepts_the_official_cli_body(client: httpx.AsyncClient) -> None:
    flow = (await client.post("/flows/", json={"name": "cli-listed"})).json()
    other = (await client.post("/flows/", json={"name": "no-runs"})).json()
    await client.post("/flow_runs/", json={"flow_id": flow["id"]})
    body = {
        "flows": {"operator": "and_", "id": {"any_": [flow["id"], other["id"]]}, "name": None,
                  "tags": None},
        "flow_runs": None, "task_runs": None, "deployments": None, "work_pools": None,
        "work_queues": None, "sort": None, "limit": 200, "offset": 0,
    }
    listed = await client.post("/flows/filter", json=body)
    assert listed.status_code == 200, listed.text
    assert {f["name"] for f in listed.json()} == {"cli-listed", "no-runs"}
    with_runs = await client.post(
        "/flows/filter", json={"flow_runs": {"state": {"type": {"any_": ["PENDING"]}}}}
    )
    assert [f["name"] for f in with_runs.json()] == ["cli-listed"]


async def test_bulk_delete_takes_its_deployments_and_runs_along(
    client: httpx.AsyncClient,
) -> None:
    flows = [(await client.post("/flows/", json={"name": f"bulk-{i}"})).json() for i in range(3)]
    kept = (await client.post("/flows/", json={"name": "kept"})).json()
    run = (await client.post("/flow_runs/", json={"flow_id": flows[0]["id"]})).json()
    deployment = (
        await client.post("/deployments/", json={"name": "d", "flow_id": flows[1]["id"]})
    ).json()
    by_name = {"flows": {"name": {"like_": "bulk-"}}}
    one = await client.post("/flows/bulk_delete", json={**by_name, "limit": 1})
    assert one.status_code == 200 and len(one.json()["deleted"]) == 1
    rest = await client.post("/flows/bulk_delete", json=by_name)
    assert sorted(one.json()["deleted"] + rest.json()["deleted"]) == sorted(f["id"] for f in flows)
    assert (await client.get(f"/flow_runs/{run['id']}")).status_code == 404
    assert (await client.get(f"/deployments/{deployment['id']}")).status_code == 404
    assert (await client.get(f"/flows/{kept['id']}")).status_code == 200
    # No filter: every flow, up to the limit (50 at most, as in the contract).
    assert (await client.post("/flows/bulk_delete")).json() == {"deleted": [kept["id"]]}
    too_many = await client.post("/flows/bulk_delete", json={"limit": 51})
    assert too_many.status_code == 422 and "limit" in too_many.json()["detail"]
