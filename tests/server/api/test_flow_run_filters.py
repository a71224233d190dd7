"""POST /flow_runs/filter, /count, /paginate, /history and /lateness."""

import datetime as dt
import uuid
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from run_helpers import at, make_flow, make_run, names, scheduled

from flowyard.server.database.engine import Database
from flowyard.server.database.prepared import sqlite_handle


@pytest.fixture
async def runs(client: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    """Five runs of two flows, scheduled a minute apart, in assorted states."""
    etl = await make_flow(client, "etl", tags=["prod"])
    report = await make_flow(client, "report")
    made = {
        "alpha": await make_run(client, etl, name="alpha", tags=["a", "b"], state=scheduled(0)),
        "beta": await make_run(client, etl, name="beta", tags=["b"], state=scheduled(1),
                               work_queue_name="fast"),
        "gamma": await make_run(client, etl, name="gamma-ETL", state=scheduled(2),
                                idempotency_key="once"),
        "delta": await make_run(client, report, name="delta", state=scheduled(3)),
        "epsilon": await make_run(client, report, name="epsilon", tags=["a"], state=scheduled(4)),
    }
    # Forced: these runs are scheduled in the future, which the normal rules would wait for.
    for name, state in (("gamma", "RUNNING"), ("delta", "RUNNING"), ("delta", "COMPLETED")):
        url = f"/flow_runs/{made[name]['id']}/set_state"
        response = await client.post(url, json={"state": {"type": state}, "force": True})
        assert response.status_code == 201, response.text
    return made


def by_expected_start() -> dict[str, Any]:
    return {"sort": "EXPECTED_START_TIME_ASC"}


async def test_filter_by_id_and_name(client: httpx.AsyncClient, runs: dict[str, Any]) -> None:
    ids = [runs["alpha"]["id"], runs["delta"]["id"]]
    assert await names(client, {"flow_runs": {"id": {"any_": ids}}, **by_expected_start()}) == [
        "alpha", "delta"
    ]
    excluded = await names(client, {"flow_runs": {"id": {"not_any_": ids}}, **by_expected_start()})
    assert excluded == ["beta", "gamma-ETL", "epsilon"]
    assert await names(client, {"flow_runs": {"name": {"like_": "etl"}}}) == ["gamma-ETL"]
    assert await names(client, {"flow_runs": {"name": {"like_": "%"}}}) == []
    assert await names(client, {"flow_runs": {"name": {"any_": ["beta"]}}}) == ["beta"]


async def test_filter_by_tags(client: httpx.AsyncClient, runs: dict[str, Any]) -> None:
    order = by_expected_start()
    assert await names(client, {"flow_runs": {"tags": {"all_": ["a", "b"]}}, **order}) == ["alpha"]
    assert await names(client, {"flow_runs": {"tags": {"any_": ["a", "b"]}}, **order}) == [
        "alpha", "beta", "epsilon"
    ]
    untagged = await names(client, {"flow_runs": {"tags": {"is_null_": True}}, **order})
    assert untagged == ["gamma-ETL", "delta"]


async def test_filter_by_state(client: httpx.AsyncClient, runs: dict[str, Any]) -> None:
    order = by_expected_start()
    running = {"flow_runs": {"state": {"type": {"any_": ["RUNNING"]}}}, **order}
    assert await names(client, running) == ["gamma-ETL"]
    not_scheduled = {"flow_runs": {"state": {"type": {"not_any_": ["SCHEDULED"]}}}, **order}
    assert await names(client, not_scheduled) == ["gamma-ETL", "delta"]
    by_name = {"flow_runs": {"state": {"name": {"any_": ["Completed", "Running"]}}}, **order}
    assert await names(client, by_name) == ["gamma-ETL", "delta"]
    either = {
        "flow_runs": {"state": {"operator": "or_", "type": {"any_": ["COMPLETED"]},
                                "name": {"any_": ["Running"]}}},
        **order,
    }
    assert await names(client, either) == ["gamma-ETL", "delta"]


async def test_filter_by_times(client: httpx.AsyncClient, runs: dict[str, Any]) -> None:
    order = by_expected_start()
    window = {"expected_start_time": {"after_": at(1), "before_": at(3)}}
    assert await names(client, {"flow_runs": window, **order}) == ["beta", "gamma-ETL", "delta"]
    started = {"flow_runs": {"start_time": {"is_null_": False}}, **order}
    assert await names(client, started) == ["gamma-ETL", "delta"]
    upcoming = {"flow_runs": {"next_scheduled_start_time": {"before_": at(1)}}, **order}
    assert await names(client, upcoming) == ["alpha", "beta"]
    ended = {"flow_runs": {"end_time": {"after_": at(-60 * 24 * 365 * 20)}}}
    assert await names(client, ended) == ["delta"]


async def test_filter_operator_or(client: httpx.AsyncClient, runs: dict[str, Any]) -> None:
    body = {
        "flow_runs": {"operator": "or_", "name": {"any_": ["alpha"]},
                      "tags": {"all_": ["a"]}, "work_queue_name": {"any_": ["fast"]}},
        **by_expected_start(),
    }
    assert await names(client, body) == ["alpha", "beta", "epsilon"]


async def test_filter_by_other_columns(client: httpx.AsyncClient, runs: dict[str, Any]) -> None:
    assert await names(client, {"flow_runs": {"work_queue_name": {"any_": ["fast"]}}}) == ["beta"]
    keyed = {"flow_runs": {"idempotency_key": {"any_": ["once"]}}}
    assert await names(client, keyed) == ["gamma-ETL"]
    no_deployment = {"flow_runs": {"deployment_id": {"is_null_": True}}}
    assert len(await names(client, no_deployment)) == 5
    assert await names(client, {"flow_runs": {"flow_id": {"any_": [runs["delta"]["flow_id"]]}},
                                **by_expected_start()}) == ["delta", "epsilon"]
    assert await names(client, {"work_pools": {"name": {"any_": ["pool"]}}}) == []
    assert await names(client, {"deployments": {"name": {"any_": ["d"]}}}) == []


async def test_filter_by_flow(client: httpx.AsyncClient, runs: dict[str, Any]) -> None:
    order = by_expected_start()
    assert await names(client, {"flows": {"name": {"any_": ["report"]}}, **order}) == [
        "delta", "epsilon"
    ]
    both = {"flows": {"tags": {"all_": ["prod"]}}, "flow_runs": {"tags": {"any_": ["a"]}}}
    assert await names(client, both) == ["alpha"]


async def test_subflow_lookup_of_the_official_client(
    client: httpx.AsyncClient, runs: dict[str, Any]
) -> None:
    parent = runs["gamma"]
    wrapper = await client.post(
        "/task_runs/", json={"flow_run_id": parent["id"], "task_key": "child", "dynamic_key": "0"}
    )
    wrapper_id = wrapper.json()["id"]
    body = {
        "flows": None, "flow_runs": {"parent_task_run_id": {"any_": [wrapper_id]}},
        "task_runs": None, "deployments": None, "work_pools": None, "work_pool_queues": None,
        "sort": "EXPECTED_START_TIME_DESC", "limit": 1, "offset": 0,
    }
    assert await names(client, body) == []
    child_flow = await make_flow(client, "child")
    child = await make_run(client, child_flow, name="child", parent_task_run_id=wrapper_id)
    found = (await client.post("/flow_runs/filter", json=body)).json()
    assert [run["id"] for run in found] == [child["id"]]
    # The same run, found from its parent flow run, and roots only.
    by_parent = {"flow_runs": {"parent_flow_run_id": {"any_": [parent["id"]]}}}
    assert await names(client, by_parent) == ["child"]
    roots = {"flow_runs": {"parent_task_run_id": {"is_null_": True}}}
    assert "child" not in await names(client, roots)
    with_subflow = {"task_runs": {"subflow_runs": {"exists_": True}}}
    assert await names(client, with_subflow) == ["gamma-ETL"]


async def test_filter_by_task_runs(client: httpx.AsyncClient, runs: dict[str, Any]) -> None:
    for name, key in (("alpha", "extract"), ("beta", "load")):
        await client.post(
            "/task_runs/",
            json={"flow_run_id": runs[name]["id"], "task_key": key, "dynamic_key": "0",
                  "name": key, "tags": [key]},
        )
    body = {"task_runs": {"name": {"any_": ["load"]}}}
    assert await names(client, body) == ["beta"]
    tagged = {"task_runs": {"tags": {"all_": ["extract"]}}}
    assert await names(client, tagged) == ["alpha"]


async def test_sorts_are_stable_and_complete(
    client: httpx.AsyncClient, runs: dict[str, Any]
) -> None:
    assert await names(client, {"sort": "NAME_ASC"}) == [
        "alpha", "beta", "delta", "epsilon", "gamma-ETL"
    ]
    assert await names(client, {"sort": "NAME_DESC", "limit": 2}) == ["gamma-ETL", "epsilon"]
    assert await names(client, {"sort": "EXPECTED_START_TIME_DESC", "limit": 2}) == [
        "epsilon", "delta"
    ]
    # Runs that have started sort by when they started, the others by when they should.
    start_desc = await names(client, {"sort": "START_TIME_DESC"})
    assert start_desc == ["epsilon", "beta", "alpha", "delta", "gamma-ETL"]
    assert await names(client, {"sort": "START_TIME_ASC"}) == start_desc[::-1]
    assert (await names(client, {"sort": "END_TIME_DESC"}))[0] == "delta"
    next_up = await names(client, {"sort": "NEXT_SCHEDULED_START_TIME_ASC"})
    assert next_up[:3] == ["alpha", "beta", "epsilon"]
    assert set(await names(client, {"sort": "ID_DESC"})) == set(await names(client, {}))
    pages = [await names(client, {"sort": "NAME_ASC", "limit": 2, "offset": o}) for o in (0, 2, 4)]
    assert sum(pages, []) == await names(client, {"sort": "NAME_ASC"})


async def test_count_and_paginate(client: httpx.AsyncClient, runs: dict[str, Any]) -> None:
    assert (await client.post("/flow_runs/count")).json() == 5
    count = await client.post("/flow_runs/count", json={"flows": {"name": {"any_": ["etl"]}}})
    assert count.json() == 3
    page = await client.post(
        "/flow_runs/paginate", json={"page": 2, "limit": 2, "sort": "NAME_ASC"}
    )
    assert page.status_code == 200
    body = page.json()
    assert (body["count"], body["limit"], body["pages"], body["page"]) == (5, 2, 3, 2)
    assert [run["name"] for run in body["results"]] == ["delta", "epsilon"]
    assert body["results"][0]["state"]["type"] == "COMPLETED"
    assert (await client.post("/flow_runs/paginate", json={"page": 0})).status_code == 422


async def test_filter_refuses_bad_bodies(client: httpx.AsyncClient) -> None:
    too_many = await client.post("/flow_runs/filter", json={"limit": 201})
    assert too_many.status_code == 422 and "limit" in too_many.json()["detail"]
    typo = await client.post("/flow_runs/filter", json={"flow_runs": {"nmae": {"any_": ["x"]}}})
    assert typo.status_code == 422 and "nmae" in typo.json()["detail"]
    bad_sort = await client.post("/flow_runs/filter", json={"sort": "SIDEWAYS"})
    assert bad_sort.status_code == 422 and "sort" in bad_sort.json()["detail"]
    bad_type = await client.post(
        "/flow_runs/count", json={"flow_runs": {"state": {"type": {"any_": ["NOPE"]}}}}
    )
    assert bad_type.status_code == 422
    # Every key the official clients send is understood, including nulls and `operator`s.
    full = {
        "flows": None, "flow_runs": {"operator": "and_", "id": {"operator": "and_", "any_": None},
                                     "parent_task_run_id": {"operator": "and_", "any_": None,
                                                            "is_null_": None},
                                     "created_by": None},
        "task_runs": None, "deployments": None, "work_pools": None, "work_pool_queues": None,
        "work_queues": None, "sort": None, "limit": None, "offset": 0,
    }
    assert (await client.post("/flow_runs/filter", json=full)).status_code == 200


# --- history and lateness -----------------------------------------------------------------


async def test_history_counts_runs_per_interval_and_state(
    client: httpx.AsyncClient, runs: dict[str, Any]
) -> None:
    response = await client.post(
        "/flow_runs/history",
        json={"history_start": at(0), "history_end": at(4), "history_interval_seconds": 120},
    )
    assert response.status_code == 200, response.text
    intervals = response.json()
    assert [i["interval_start"] for i in intervals] == [
        at(0).replace("+00:00", "Z"), at(2).replace("+00:00", "Z"), at(4).replace("+00:00", "Z")
    ]
    assert intervals[0]["interval_end"] == at(2).replace("+00:00", "Z")

    def summary(interval: dict[str, Any]) -> list[tuple[str, str, int]]:
        return [(s["state_type"], s["state_name"], s["count_runs"]) for s in interval["states"]]

    assert summary(intervals[0]) == [("SCHEDULED", "Scheduled", 2)]
    assert summary(intervals[1]) == [("COMPLETED", "Completed", 1), ("RUNNING", "Running", 1)]
    assert summary(intervals[2]) == [("SCHEDULED", "Scheduled", 1)]
    running = intervals[1]["states"][1]
    assert running["sum_estimated_run_time"] >= 0.0
    # Scheduled in 2030: nobody is late yet.
    assert intervals[0]["states"][0]["sum_estimated_lateness"] == 0.0

    filtered = await client.post(
        "/flow_runs/history",
        json={"history_start": at(0), "history_end": at(4), "history_interval_seconds": 120,
              "flows": {"name": {"any_": ["report"]}}},
    )
    assert [sum(s["count_runs"] for s in i["states"]) for i in filtered.json()] == [0, 1, 1]


async def test_history_of_an_empty_window(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/flow_runs/history",
        json={"history_start": "2020-01-01T00:00:00", "history_end": "2020-01-01T00:10:00",
              "history_interval_seconds": 300},
    )
    assert response.status_code == 200
    assert [i["states"] for i in response.json()] == [[], [], []]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"history_interval_seconds": 0}, "history_interval_seconds"),
        ({"history_interval_seconds": 1}, "history_interval_seconds"),  # 86401 intervals
        ({"history_end": "2019-12-31T00:00:00Z"}, "history_end"),
        ({"history_start": None}, "history_start"),
    ],
)
async def test_history_refuses_bad_windows(
    client: httpx.AsyncClient, change: dict[str, Any], field: str
) -> None:
    body = {"history_start": "2020-01-01T00:00:00Z", "history_end": "2020-01-02T00:00:00Z",
            "history_interval_seconds": 3600, **change}
    response = await client.post("/flow_runs/history", json=body)
    assert response.status_code == 422
    assert field in response.json()["detail"]


async def test_lateness(client: httpx.AsyncClient) -> None:
    assert (await client.post("/flow_runs/lateness")).json() is None
    flow_id = await make_flow(client)
    past = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)).isoformat()
    await make_run(client, flow_id, state={"type": "SCHEDULED",
                                           "state_details": {"scheduled_time": past}})
    lateness = (await client.post("/flow_runs/lateness", json={})).json()
    assert 590 < lateness < 700
    run = (await client.post("/flow_runs/filter", json={})).json()[0]
    assert 590 < run["estimated_start_time_delta"] < 700


async def test_tags_needing_escapes_are_matched_exactly(client: httpx.AsyncClient) -> None:
    flow = await make_flow(client, "tagged")
    tags = ['say "hi"', "back\\slash", "naïve", "plain", "50%_off"]
    for tag in tags:
        await make_run(client, flow, name=tag, tags=[tag, "common"])
    await make_run(client, flow, name="decoy", tags=["plainly", 'say "hi" again'])
    for tag in tags:
        assert await names(client, {"flow_runs": {"tags": {"all_": [tag]}}}) == [tag]
    assert len(await names(client, {"flow_runs": {"tags": {"all_": ["common"]}}})) == 5


async def test_a_subflow_lookup_uses_the_parent_index(
    client: httpx.AsyncClient, db: Database
) -> None:
    # Most runs are not subflows: the index on parent_task_run_id holds only those that are,
    # so that SQLite, once it has statistics, sees a lookup in it is selective instead of
    # scanning every run of the workspace.
    if not db.is_sqlite:
        pytest.skip("SQLite query plans")
    flow = await make_flow(client, "parent")
    await make_run(client, flow, name="top-level")
    async with db.write() as session:  # two thousand more top-level runs, copies of it
        handle = await sqlite_handle(session)
        assert handle is not None
        columns = [c for (_, c, *_) in handle.execute("PRAGMA table_info(flow_run)")]
        copied = ", ".join("lower(hex(randomblob(16)))" if c == "id" else c for c in columns)
        handle.execute(
            f"INSERT INTO flow_run ({', '.join(columns)}) "
            f"WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 2000) "
            f"SELECT {copied} FROM flow_run, n"
        )
    await db.optimize()
    seen: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        if "parent_task_run_id IN" in statement:
            seen.append((statement, parameters))

    sa.event.listen(db.read_engine.sync_engine, "before_cursor_execute", record)
    try:
        body = {"flow_runs": {"parent_task_run_id": {"any_": [str(uuid.uuid4())]}}}
        assert await names(client, body) == []
    finally:
        sa.event.remove(db.read_engine.sync_engine, "before_cursor_execute", record)
    (statement, parameters), *_ = seen
    async with db.read() as session:
        handle = await sqlite_handle(session)
        assert handle is not None
        rows = handle.execute(f"EXPLAIN QUERY PLAN {statement}", parameters)
        plan = " ".join(row[-1] for row in rows)
    assert "ix_flow_run__parent_task_run_id" in plan, plan


async def test_tag_filters_follow_tag_updates_and_deletes(client: httpx.AsyncClient) -> None:
    flow = await make_flow(client, "retagged")
    run = await make_run(client, flow, name="retagged", tags=["before", "kept"])
    other = await make_run(client, flow, name="other", tags=["kept"])
    response = await client.patch(f"/flow_runs/{run['id']}", json={"tags": ["after", "kept"]})
    assert response.status_code == 204, response.text
    assert await names(client, {"flow_runs": {"tags": {"all_": ["before"]}}}) == []
    assert await names(client, {"flow_runs": {"tags": {"all_": ["after", "kept"]}}}) == [
        "retagged"
    ]
    assert sorted(await names(client, {"flow_runs": {"tags": {"any_": ["after", "kept"]}}})) == [
        "other",
        "retagged",
    ]
    assert (await client.delete(f"/flow_runs/{other['id']}")).status_code == 204
    assert await names(client, {"flow_runs": {"tags": {"any_": ["kept"]}}}) == ["retagged"]
