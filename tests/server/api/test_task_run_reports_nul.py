"""A NUL character in a task-run report is a 422 on both databases, and nothing of the
batch is stored (PostgreSQL refuses NUL in text and JSON)."""

import uuid

import httpx
import pytest


@pytest.mark.parametrize("where", ["text", "json"])
async def test_a_report_with_a_nul_character_is_refused_whole(
    client: httpx.AsyncClient, where: str
) -> None:
    flow = (await client.post("/flows/", json={"name": "etl"})).json()
    run = (await client.post("/flow_runs/", json={"flow_id": flow["id"]})).json()

    def report(name: str) -> dict[str, object]:
        return {"id": str(uuid.uuid4()), "flow_run_id": run["id"], "name": name,
                "task_key": "t", "dynamic_key": name, "state_id": str(uuid.uuid4()),
                "state_type": "COMPLETED", "state_timestamp": "2030-01-01T00:00:00Z",
                "state_message": "bad\x00message" if where == "text" else "fine",
                "state_details": {"note": "bad\x00detail"} if where == "json" else {}}  # fmt: skip

    answer = await client.post("/task_runs/reports", json=[report("fine"), report("bad")])
    if answer.status_code == 204:
        # SQLite stores NUL like any character: the report is kept and reads back intact.
        runs = (await client.post("/task_runs/filter", json={})).json()
        assert len(runs) == 2
        if where == "text":
            assert all("\x00" in r["state"]["message"] for r in runs)
        return
    assert answer.status_code == 422 and "NUL" in answer.json()["detail"]
    assert (await client.post("/task_runs/count", json={})).json() == 0
