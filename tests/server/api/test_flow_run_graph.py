"""GET /flow_runs/{id}/graph-v2 and /graph: nodes, edges, subflows, artifacts, states."""

from typing import Any

import httpx
from run_helpers import make_flow, make_run


async def _task_run(client: httpx.AsyncClient, flow_run_id: str, key: str, **inputs: Any) -> str:
    body = {"flow_run_id": flow_run_id, "task_key": key, "dynamic_key": "0", "name": key,
            "task_inputs": inputs}  # fmt: skip
    response = await client.post("/task_runs/", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _ref(task_run_id: str) -> list[dict[str, str]]:
    return [{"input_type": "task_run", "id": task_run_id}]


async def _graph(client: httpx.AsyncClient, run_id: str, **params: str) -> dict[str, Any]:
    response = await client.get(f"/flow_runs/{run_id}/graph-v2", params=params)
    assert response.status_code == 200, response.text
    graph: dict[str, Any] = response.json()
    return graph


async def test_graph_links_inputs_encapsulation_and_subflows(client: httpx.AsyncClient) -> None:
    flow_id = await make_flow(client)
    run = await make_run(client, flow_id, name="parent")
    await client.post(f"/flow_runs/{run['id']}/set_state", json={"state": {"type": "RUNNING"}})
    extract = await _task_run(client, run["id"], "extract")
    transform = await _task_run(client, run["id"], "transform", rows=_ref(extract))
    inner = await _task_run(client, run["id"], "inner", __parents__=_ref(transform))
    tracker = await _task_run(client, run["id"], "sub", data=_ref(transform))
    sub = await make_run(client, flow_id, name="the-subflow", parent_task_run_id=tracker)
    await client.post(
        "/artifacts/", json={"key": "report", "type": "markdown", "data": "# hi",
                             "flow_run_id": run["id"], "task_run_id": transform},
    )  # fmt: skip
    await client.post("/artifacts/", json={"type": "table", "data": [], "flow_run_id": run["id"]})

    graph = await _graph(client, run["id"])
    nodes = {node_id: node for node_id, node in graph["nodes"]}
    # The tracking task run is drawn as its subflow, and edges to it lead there.
    assert set(nodes) == {extract, transform, inner, sub["id"]}
    assert nodes[sub["id"]]["kind"] == "flow-run"
    assert nodes[sub["id"]]["label"] == "the-subflow"
    assert [e["id"] for e in nodes[transform]["parents"]] == [extract]
    assert sorted(e["id"] for e in nodes[transform]["children"]) == sorted([sub["id"]])
    assert [e["id"] for e in nodes[inner]["encapsulating"]] == [transform]
    assert nodes[inner]["parents"] == []
    assert sorted(graph["root_node_ids"]) == sorted([extract, inner])
    assert [a["key"] for a in nodes[transform]["artifacts"]] == ["report"]
    assert nodes[transform]["artifacts"][0]["is_latest"] is True
    assert [a["type"] for a in graph["artifacts"]] == ["table"]
    assert [s["type"] for s in graph["states"]] == ["PENDING", "RUNNING"]
    assert graph["start_time"] is not None and graph["end_time"] is None


async def test_since_leaves_out_runs_that_ended_before(client: httpx.AsyncClient) -> None:
    run = await make_run(client, await make_flow(client))
    await client.post(f"/flow_runs/{run['id']}/set_state", json={"state": {"type": "RUNNING"}})
    done = await _task_run(client, run["id"], "done")
    running = await _task_run(client, run["id"], "running")
    for task_run_id, state in ((done, "RUNNING"), (done, "COMPLETED"), (running, "RUNNING")):
        response = await client.post(
            f"/task_runs/{task_run_id}/set_state", json={"state": {"type": state}}
        )
        assert response.status_code == 201, response.text
    ended = (await client.get(f"/task_runs/{done}")).json()["end_time"]
    assert {n for n, _ in (await _graph(client, run["id"]))["nodes"]} == {done, running}
    later = await _graph(client, run["id"], since="2999-01-01T00:00:00+00:00")
    assert [n for n, _ in later["nodes"]] == [running]
    assert {n for n, _ in (await _graph(client, run["id"], since=ended))["nodes"]} == {
        done, running
    }  # fmt: skip


async def test_dependency_list_and_unknown_runs(client: httpx.AsyncClient) -> None:
    run = await make_run(client, await make_flow(client))
    first = await _task_run(client, run["id"], "first")
    second = await _task_run(client, run["id"], "second", x=_ref(first))
    response = await client.get(f"/flow_runs/{run['id']}/graph")
    assert response.status_code == 200, response.text
    by_id = {item["id"]: item for item in response.json()}
    assert by_id[second]["upstream_dependencies"] == [{"input_type": "task_run", "id": first}]
    assert by_id[first]["upstream_dependencies"] == []
    assert by_id[first]["state"]["type"] == "PENDING"
    missing = "00000000-0000-0000-0000-000000000000"
    for path in (f"/flow_runs/{missing}/graph", f"/flow_runs/{missing}/graph-v2"):
        answer = await client.get(path)
        assert answer.status_code == 404 and answer.json()["detail"] == "Flow run not found."
