"""Every field of the contract's filter objects is accepted wherever that object appears, and
applied: a deployments filter means the same in ``/flow_runs/filter`` as in
``/deployments/filter``, and so do the flows and work-pools filters.

The official client sends these objects whole (``DeploymentFilter(tags=...)`` inside a
flow-run query), so a field known to one endpoint and refused by another is a 422 in a
user's ordinary call.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest


async def _post(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> Any:
    response = await client.post(path, json=body)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
async def world(client: httpx.AsyncClient) -> dict[str, Any]:
    """Two pools of different types; flows etl (two deployments) and report (none); one
    run of each deployment and one run without a deployment."""
    for name, kind in (("k8s", "kubernetes"), ("local", "process")):
        response = await client.post("/work_pools/", json={"name": name, "type": kind})
        assert response.status_code == 201, response.text
    response = await client.post("/work_pools/k8s/queues", json={"name": "fast"})
    assert response.status_code == 201, response.text
    etl = (await client.post("/flows/", json={"name": "etl"})).json()["id"]
    report = (await client.post("/flows/", json={"name": "report"})).json()["id"]
    deployments = {}
    for name, fields in (
        ("nightly", {"tags": ["prod", "db"], "paused": True, "work_pool_name": "k8s",
                     "work_queue_name": "fast", "concurrency_limit": 2}),
        ("adhoc", {"tags": ["dev"], "work_pool_name": "local"}),
    ):
        response = await client.post(
            "/deployments/", json={"name": name, "flow_id": etl, **fields}
        )
        assert response.status_code == 201, response.text
        deployments[name] = response.json()
    runs = {}
    for name, deployment in deployments.items():
        response = await client.post(
            f"/deployments/{deployment['id']}/create_flow_run", json={"name": f"run-{name}"}
        )
        assert response.status_code == 201, response.text
        runs[name] = response.json()
    response = await client.post("/flow_runs/", json={"flow_id": report, "name": "run-plain"})
    assert response.status_code == 201, response.text
    return {"deployments": deployments, "runs": runs, "flows": {"etl": etl, "report": report}}


DEPLOYMENT_FILTERS: list[tuple[dict[str, Any], list[str]]] = [
    ({"tags": {"all_": ["prod", "db"]}}, ["nightly"]),
    ({"tags": {"any_": ["dev", "nope"]}}, ["adhoc"]),
    ({"tags": {"is_null_": True}}, []),
    ({"work_queue_name": {"any_": ["fast"]}}, ["nightly"]),
    ({"paused": {"eq_": False}}, ["adhoc"]),
    ({"flow_or_deployment_name": {"like_": "NIGHT"}}, ["nightly"]),
    ({"flow_or_deployment_name": {"like_": "etl"}}, ["adhoc", "nightly"]),
    # Deprecated in the contract and ignored there: accepted, and it filters nothing out.
    ({"concurrency_limit": {"ge_": 5, "le_": 9, "is_null_": False}}, ["adhoc", "nightly"]),
    ({"operator": "or_", "paused": {"eq_": True}, "tags": {"any_": ["dev"]}},
     ["adhoc", "nightly"]),
]


@pytest.mark.parametrize(("flt", "expected"), DEPLOYMENT_FILTERS)
async def test_the_deployments_filter_means_the_same_on_every_endpoint(
    client: httpx.AsyncClient, world: dict[str, Any], flt: dict[str, Any], expected: list[str]
) -> None:
    deployments = await _post(client, "/deployments/filter", {"deployments": flt})
    assert sorted(d["name"] for d in deployments) == expected
    count = await _post(client, "/deployments/count", {"deployments": flt})
    assert count == len(expected)

    runs = await _post(client, "/flow_runs/filter", {"deployments": flt})
    assert sorted(r["name"] for r in runs) == [f"run-{name}" for name in expected]
    assert await _post(client, "/flow_runs/count", {"deployments": flt}) == len(expected)

    flows = await _post(client, "/flows/filter", {"deployments": flt})
    assert [f["name"] for f in flows] == (["etl"] if expected else [])
    tasks = await _post(client, "/task_runs/filter", {"deployments": flt})
    assert tasks == []


@pytest.mark.parametrize(
    ("is_null", "flows", "runs"),
    [(True, ["report"], ["run-plain"]), (False, ["etl"], ["run-adhoc", "run-nightly"])],
)
async def test_flows_filter_by_having_a_deployment(
    client: httpx.AsyncClient,
    world: dict[str, Any],
    is_null: bool,
    flows: list[str],
    runs: list[str],
) -> None:
    flt = {"flows": {"deployment": {"operator": "and_", "is_null_": is_null}}}
    assert [f["name"] for f in await _post(client, "/flows/filter", flt)] == flows
    assert await _post(client, "/flows/count", flt) == len(flows)
    found = await _post(client, "/flow_runs/filter", flt)
    assert sorted(r["name"] for r in found) == runs
    by_flow = await _post(client, "/deployments/filter", flt)
    assert sorted(d["name"] for d in by_flow) == (["adhoc", "nightly"] if not is_null else [])


@pytest.mark.parametrize(
    ("flt", "runs", "deployments"),
    [
        ({"type": {"any_": ["kubernetes"]}}, ["run-nightly"], ["nightly"]),
        ({"type": {"any_": ["process", "docker"]}}, ["run-adhoc"], ["adhoc"]),
        ({"name": {"any_": ["k8s"]}, "type": {"any_": ["process"]}}, [], []),
    ],
)
async def test_work_pools_filter_by_type_on_runs_and_deployments(
    client: httpx.AsyncClient,
    world: dict[str, Any],
    flt: dict[str, Any],
    runs: list[str],
    deployments: list[str],
) -> None:
    found = await _post(client, "/flow_runs/filter", {"work_pools": flt})
    assert sorted(r["name"] for r in found) == runs
    found = await _post(client, "/deployments/filter", {"work_pools": flt})
    assert sorted(d["name"] for d in found) == deployments
    pools = await _post(client, "/work_pools/filter", {"work_pools": flt})
    assert len(pools) == len(deployments)


async def test_deployments_filter_by_work_pool_id(
    client: httpx.AsyncClient, world: dict[str, Any]
) -> None:
    pool = (await client.get("/work_pools/k8s")).json()
    flt = {"work_pools": {"id": {"any_": [pool["id"]]}}}
    assert [d["name"] for d in await _post(client, "/deployments/filter", flt)] == ["nightly"]
    assert [r["name"] for r in await _post(client, "/flow_runs/filter", flt)] == ["run-nightly"]


async def test_an_unknown_filter_field_is_refused_naming_it(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/flow_runs/filter", json={"deployments": {"tags": {"any_": ["a"]}, "colour": {}}}
    )
    assert response.status_code == 422
    locs = [e["loc"] for e in response.json()["exception_detail"]]
    assert locs == [["body", "deployments", "colour"]]


async def test_work_queue_names_by_any_of_several_prefixes(client: httpx.AsyncClient) -> None:
    # The contract's work-queue name filter takes a list of prefixes (any matches, case
    # aside): ``match_work_queues(["queue"])`` sends ``{"startswith_": ["queue"]}``.
    await client.post("/work_pools/", json={"name": "pool", "type": "process"})
    for name in ("Queue-a", "queue-b", "other", "late"):
        response = await client.post("/work_pools/pool/queues", json={"name": name})
        assert response.status_code == 201, response.text
    body = {"work_queues": {"name": {"startswith_": ["queue", "LA"]}}}
    found = await _post(client, "/work_pools/pool/queues/filter", body)
    assert sorted(q["name"] for q in found) == ["Queue-a", "late", "queue-b"]
    found = await _post(client, "/work_queues/filter", body)
    assert sorted(q["name"] for q in found) == ["Queue-a", "late", "queue-b"]
    # Wildcards in a prefix are literal.
    none = {"work_queues": {"name": {"startswith_": ["%", "_ueue"]}}}
    assert await _post(client, "/work_queues/filter", none) == []
    single = {"work_queues": {"name": {"startswith_": "oth"}}}
    one = await _post(client, "/work_queues/filter", single)
    assert [q["name"] for q in one] == ["other"]


async def test_the_sorts_the_official_client_names(client: httpx.AsyncClient) -> None:
    # prefect==3.9.1's client enums have two sorts its own server lacks; both are served.
    flow_id = (await client.post("/flows/", json={"name": "etl"})).json()["id"]
    for name, limit in (("none", None), ("two", 2), ("five", 5)):
        body = {"name": name, "flow_id": flow_id, "concurrency_limit": limit}
        assert (await client.post("/deployments/", json=body)).status_code == 201
    ascending = await _post(client, "/deployments/filter", {"sort": "CONCURRENCY_LIMIT_ASC"})
    assert [d["name"] for d in ascending] == ["two", "five", "none"]
    descending = await _post(client, "/deployments/filter", {"sort": "CONCURRENCY_LIMIT_DESC"})
    assert [d["name"] for d in descending] == ["five", "two", "none"]

    run = await client.post("/flow_runs/", json={"flow_id": flow_id})
    # Task runs as a client that orchestrates them reports them, run times included.
    reports = [
        {
            "id": str(uuid.uuid4()), "flow_run_id": run.json()["id"], "name": name,
            "task_key": name, "dynamic_key": "0", "state_id": str(uuid.uuid4()),
            "state_type": state, "state_timestamp": "2030-01-01T00:01:00Z",
            "total_run_time": seconds,
        }
        for name, state, seconds in (
            ("short", "COMPLETED", 1.0), ("long", "COMPLETED", 30.0), ("unfinished", "RUNNING", 0.0)
        )
    ]  # fmt: skip
    response = await client.post("/task_runs/reports", json=reports)
    assert response.status_code == 204, response.text
    longest = await _post(client, "/task_runs/filter", {"sort": "DURATION_DESC"})
    assert [t["name"] for t in longest] == ["long", "short", "unfinished"]
    shortest = await _post(client, "/task_runs/filter", {"sort": "DURATION_ASC"})
    assert [t["name"] for t in shortest] == ["unfinished", "short", "long"]


async def test_a_worker_status_outside_the_contract_is_refused_naming_it(
    client: httpx.AsyncClient,
) -> None:
    await client.post("/work_pools/", json={"name": "pool", "type": "process"})
    ok = {"workers": {"status": {"any_": ["ONLINE"], "not_any_": ["OFFLINE"]}}}
    assert await _post(client, "/work_pools/pool/workers/filter", ok) == []
    bad = {"workers": {"status": {"any_": ["online"]}}}
    response = await client.post("/work_pools/pool/workers/filter", json=bad)
    assert response.status_code == 422
    assert response.json()["exception_detail"][0]["loc"] == [
        "body", "workers", "status", "any_", 0
    ]
