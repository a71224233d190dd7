import uuid

import httpx


def _log(
    message: str, level: int = 20, second: int = 0, micro: int = 0, **extra: object
) -> dict[str, object]:
    return {
        "name": "prefect.flow_runs",
        "level": level,
        "message": message,
        "timestamp": f"2026-11-28T11:22:{second:02d}.{micro:06d}Z",
        **extra,
    }


async def test_a_batch_of_logs_is_stored_and_read_back_in_order(client: httpx.AsyncClient) -> None:
    flow_run_id = str(uuid.uuid4())
    batch = [_log(f"line {i}", micro=1000 - i, flow_run_id=flow_run_id) for i in range(100)]
    response = await client.post("/logs/", json=batch)
    assert response.status_code == 201 and response.json() is None
    logs = (await client.post("/logs/filter", json={})).json()
    assert len(logs) == 100
    assert [log["message"] for log in logs[:2]] == ["line 99", "line 98"]  # TIMESTAMP_ASC
    assert logs[0]["flow_run_id"] == flow_run_id and logs[0]["task_run_id"] is None
    newest = await client.post("/logs/filter", json={"sort": "TIMESTAMP_DESC", "limit": 1})
    assert [log["message"] for log in newest.json()] == ["line 0"]


async def test_filter_logs_by_level_run_time_and_text(client: httpx.AsyncClient) -> None:
    run_a, run_b, task = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    await client.post(
        "/logs/",
        json=[
            _log("Connection TIMEOUT reached", level=40, second=1, flow_run_id=run_a),
            _log("all good", level=20, second=2, flow_run_id=run_a, task_run_id=task),
            _log("50%_done", level=10, second=3, flow_run_id=run_b),
        ],
    )

    async def messages(logs_filter: dict[str, object]) -> list[str]:
        response = await client.post("/logs/filter", json={"logs": logs_filter})
        assert response.status_code == 200, response.text
        return [log["message"] for log in response.json()]

    assert await messages({"level": {"ge_": 20}}) == ["Connection TIMEOUT reached", "all good"]
    assert await messages({"flow_run_id": {"any_": [run_b]}}) == ["50%_done"]
    assert await messages(
        {"task_run_id": {"is_null_": True}, "flow_run_id": {"any_": [run_a]}}
    ) == ["Connection TIMEOUT reached"]
    assert await messages({"text": {"query": "timeout"}}) == ["Connection TIMEOUT reached"]
    assert await messages({"text": {"query": "%_"}}) == ["50%_done"]  # wildcards are literal
    assert await messages({"timestamp": {"after_": "2026-11-28T11:22:02Z"}}) == [
        "all good", "50%_done"
    ]  # fmt: skip
    assert await messages({"operator": "or_", "level": {"le_": 10}, "text": {"query": "good"}}) == [
        "all good", "50%_done"
    ]  # fmt: skip


async def test_a_bad_batch_names_the_field_and_stores_nothing(client: httpx.AsyncClient) -> None:
    bad = await client.post("/logs/", json=[_log("fine"), {**_log("broken"), "level": "loud"}])
    assert bad.status_code == 422
    assert "1.level" in bad.json()["detail"]
    extra = await client.post("/logs/", json=[{**_log("x"), "surprise": True}])
    assert extra.status_code == 422 and "surprise" in extra.json()["detail"]
    not_json = await client.post(
        "/logs/", content=b"[{", headers={"content-type": "application/json"}
    )
    assert not_json.status_code == 422
    assert (await client.post("/logs/filter", json={})).json() == []
    too_many = await client.post("/logs/filter", json={"limit": 201})
    assert too_many.status_code == 422 and "limit" in too_many.json()["detail"]


async def test_read_logs_takes_null_limit_and_offset_as_the_defaults(
    client: httpx.AsyncClient,
) -> None:
    # Exactly what the official client's read_logs() sends without arguments.
    await client.post("/logs/", json=[_log(f"line {i}", second=i) for i in range(3)])
    body = {"logs": None, "limit": None, "offset": None, "sort": "TIMESTAMP_DESC"}
    response = await client.post("/logs/filter", json=body)
    assert response.status_code == 200, response.text
    assert [log["message"] for log in response.json()] == ["line 2", "line 1", "line 0"]
    response = await client.post("/logs/filter", json={**body, "sort": None, "offset": 1})
    assert [log["message"] for log in response.json()] == ["line 1", "line 2"]


async def test_read_logs_refuses_a_negative_offset_naming_it(client: httpx.AsyncClient) -> None:
    response = await client.post("/logs/filter", json={"offset": -1})
    assert response.status_code == 422
    errors = response.json()["exception_detail"]
    assert ["body", "offset"] in [error["loc"] for error in errors]
