"""Request sizes are bounded at validation: a clear 422 naming the field, never a stall or
a 500 from the database.

What issue 9 found: a filter of 50,000 tags held the server 78 s and answered 500; strings
longer than their VARCHAR(255) column answered 500 on PostgreSQL; a datetime whose UTC value
falls outside years 1-9999 (``0001-01-01T00:00:00+05:00``) answered 500 on both databases;
an event with a NUL character answered 500 on PostgreSQL.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from flowyard.schemas.limits import (
    MAX_EVENT_BYTES,
    MAX_EVENT_LABELS,
    MAX_EVENT_RELATED,
    MAX_FILTER_ITEMS,
    MAX_LOG_MESSAGE_LENGTH,
    MAX_NAME_LENGTH,
    MAX_TEXT_LENGTH,
)


def too_many(item: Any) -> list[Any]:
    return [item] * (MAX_FILTER_ITEMS + 1)


@pytest.mark.parametrize(
    ("path", "body", "where"),
    [
        ("/flow_runs/filter", {"flow_runs": {"tags": {"all_": too_many("t")}}}, "all_"),
        ("/flow_runs/count", {"flows": {"id": {"any_": too_many(str(uuid.uuid4()))}}}, "any_"),
        ("/task_runs/filter", {"task_runs": {"name": {"not_any_": too_many("n")}}}, "not_any_"),
        ("/deployments/filter", {"deployments": {"tags": {"any_": too_many("t")}}}, "any_"),
        ("/logs/filter", {"logs": {"flow_run_id": {"any_": too_many(str(uuid.uuid4()))}}}, "any_"),
        ("/block_types/filter", {"block_types": {"slug": {"any_": too_many("s")}}}, "any_"),
        ("/events/filter", {"filter": {"event": {"prefix": too_many("p")}}}, "prefix"),
        (
            "/flow_runs/filter",
            {"flow_runs": {"state": {"type": {"any_": too_many("RUNNING")}}}},
            "any_",
        ),
    ],
)
async def test_a_filter_list_longer_than_the_bound_is_a_422_naming_it(
    client: httpx.AsyncClient, path: str, body: dict[str, Any], where: str
) -> None:
    refused = await client.post(path, json=body)
    assert refused.status_code == 422, refused.text
    assert where in refused.json()["detail"]
    assert f"at most {MAX_FILTER_ITEMS} items" in refused.json()["detail"]


async def test_a_filter_list_at_the_bound_is_served(client: httpx.AsyncClient) -> None:
    # The operators that compile to an OR (or AND) of one term per item: SQLite refuses an
    # expression deeper than 1,000 (the contract test found it with 500 deployment tags).
    items = [f"t{i}" for i in range(MAX_FILTER_ITEMS)]
    for path, body in [
        ("/flow_runs/filter", {"flow_runs": {"tags": {"any_": items}}}),
        ("/flow_runs/filter", {"flow_runs": {"tags": {"all_": items}}}),
        ("/flow_runs/filter", {"deployments": {"tags": {"any_": items}}}),
        ("/flow_runs/filter", {"flows": {"tags": {"all_": items}}}),
        ("/flow_runs/filter", {"flow_runs": {"name": {"startswith_": items}}}),
        ("/flow_runs/filter", {"flow_runs": {"work_queue_name": {"not_any_": items}}}),
        ("/events/filter", {"filter": {"event": {"prefix": items}}}),
        ("/events/filter", {"filter": {"resource": {"id_prefix": items}}}),
    ]:
        served = await client.post(path, json=body)
        assert served.status_code == 200, (body, served.text[:300])


async def test_a_string_longer_than_its_column_is_a_422_on_every_database(
    client: httpx.AsyncClient,
) -> None:
    # Each answered 500 on PostgreSQL (value too long for type character varying(255)).
    flow = (await client.post("/flows/", json={"name": "f"})).json()
    long = "x" * (MAX_NAME_LENGTH + 1)
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("/flow_runs/", {"flow_id": flow["id"], "work_queue_name": long}, "work_queue_name"),
        ("/flow_runs/", {"flow_id": flow["id"], "flow_version": long}, "flow_version"),
        ("/deployments/", {"name": "d", "flow_id": flow["id"], "version": long}, "version"),
        ("/artifacts/", {"key": "a" * (MAX_NAME_LENGTH + 1), "data": 1}, "key"),
        ("/work_pools/", {"name": "p", "type": long}, "type"),
    ]
    for path, body, field in cases:
        refused = await client.post(path, json=body)
        assert refused.status_code == 422, (path, refused.text)
        assert field in refused.json()["detail"]
    # The widest value the column holds is stored.
    fits = {"flow_id": flow["id"], "flow_version": "v" * MAX_NAME_LENGTH}
    assert (await client.post("/flow_runs/", json=fits)).status_code == 201


async def test_a_log_message_is_bounded_generously(client: httpx.AsyncClient) -> None:
    def log(message: str) -> dict[str, Any]:
        return {"name": "n", "level": 20, "message": message, "timestamp": "2026-01-01T00:00:00Z"}

    refused = await client.post("/logs/", json=[log("m" * (MAX_LOG_MESSAGE_LENGTH + 1))])
    assert refused.status_code == 422 and "message" in refused.json()["detail"]
    assert (await client.post("/logs/filter", json={})).json() == []
    stored = await client.post("/logs/", json=[log("m" * MAX_LOG_MESSAGE_LENGTH)])
    assert stored.status_code == 201


async def test_free_text_without_its_own_bound_has_the_general_one(
    client: httpx.AsyncClient,
) -> None:
    flow = (await client.post("/flows/", json={"name": "f"})).json()
    body = {"name": "d", "flow_id": flow["id"], "description": "d" * (MAX_TEXT_LENGTH + 1)}
    refused = await client.post("/deployments/", json=body)
    assert refused.status_code == 422 and "description" in refused.json()["detail"]


def event(**fields: Any) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "occurred": "2026-01-01T00:00:00Z",
        "event": "x.happened",
        "resource": {"prefect.resource.id": "x.1"},
        **fields,
    }


async def test_events_are_bounded_as_in_the_contract(client: httpx.AsyncClient) -> None:
    refusals = {
        "event": event(event="e" * (MAX_NAME_LENGTH + 1)),
        "prefect.resource.id": event(resource={"prefect.resource.id": "r" * 1000}),
        "labels": event(
            resource={"prefect.resource.id": "x", **{f"l{i}": "v" for i in range(MAX_EVENT_LABELS)}}
        ),
        "related": event(
            related=[
                {"prefect.resource.id": f"r{i}", "prefect.resource.role": "tag"}
                for i in range(MAX_EVENT_RELATED + 1)
            ]
        ),
        "bytes": event(payload={"big": "b" * MAX_EVENT_BYTES}),
    }
    for what, refused_event in refusals.items():
        refused = await client.post("/events", json=[event(), refused_event])
        assert refused.status_code == 422, (what, refused.text[:300])
        assert what in refused.json()["detail"], what
    stored = await client.post("/events/filter", json={"filter": {"event": {"prefix": ["x."]}}})
    assert stored.json()["events"] == []
    assert (await client.post("/events", json=[event()])).status_code == 204


async def test_a_nul_in_an_event_is_a_422_on_every_database(client: httpx.AsyncClient) -> None:
    for bad in (
        event(event="x\u0000"),
        event(resource={"prefect.resource.id": "x\u0000"}),
        event(payload={"k\u0000": "v"}),
        event(payload={"k": ["v\u0000"]}),
    ):
        refused = await client.post("/events", json=[bad])
        assert refused.status_code == 422, refused.text[:300]
        assert "NUL" in refused.text or "\\u0000" in refused.text


OVERFLOWING = ["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00"]
EDGES = ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z"]


@pytest.mark.parametrize("when", OVERFLOWING)
async def test_a_datetime_beyond_the_representable_years_is_a_422(
    client: httpx.AsyncClient, when: str
) -> None:
    flow = (await client.post("/flows/", json={"name": "f"})).json()
    run = (await client.post("/flow_runs/", json={"flow_id": flow["id"]})).json()
    log = {"name": "n", "level": 20, "message": "m", "timestamp": when}
    history = {"history_start": when, "history_end": when, "history_interval_seconds": 3600}
    task = {"flow_run_id": run["id"], "task_key": "k", "dynamic_key": "0", "cache_expiration": when}
    scheduled = {"type": "SCHEDULED", "state_details": {"scheduled_time": when}}
    for path, body in [
        ("/logs/", [log]),
        ("/flow_runs/filter", {"flow_runs": {"start_time": {"before_": when}}}),
        ("/flow_runs/history", history),
        ("/task_runs/", task),
        (f"/flow_runs/{run['id']}/set_state", {"state": scheduled, "force": True}),
        ("/events", [event(occurred=when)]),
        ("/events/filter", {"filter": {"occurred": {"since": when}}}),
    ]:
        refused = await client.post(path, json=body)
        assert refused.status_code == 422, (path, refused.text[:300])
        assert "year" in refused.json()["detail"], path


@pytest.mark.parametrize("when", EDGES)
async def test_the_first_and_last_representable_instants_are_stored(
    client: httpx.AsyncClient, when: str
) -> None:
    log = {"name": "n", "level": 20, "message": "m", "timestamp": when}
    assert (await client.post("/logs/", json=[log])).status_code == 201
    stored = (await client.post("/logs/filter", json={})).json()
    assert [entry["timestamp"][:10] for entry in stored] == [when[:10]]
    assert (await client.post("/events", json=[event(occurred=when)])).status_code == 204
    window = {"since": "0001-01-01T00:00:00Z", "until": "9999-12-31T23:59:59Z"}
    found = await client.post("/events/filter", json={"filter": {"occurred": window}})
    assert found.status_code == 200


async def test_a_nul_or_infinity_inside_a_nested_object_is_a_422(
    client: httpx.AsyncClient,
) -> None:
    # Run policies, state details and task inputs are read models nested in a request:
    # a NUL in them reached PostgreSQL's JSONB (500); 1e400 was stored as infinity.
    flow = (await client.post("/flows/", json={"name": "f"})).json()
    run = (await client.post("/flow_runs/", json={"flow_id": flow["id"]})).json()
    task = {"flow_run_id": run["id"], "task_key": "k", "dynamic_key": "0"}
    pending = {"type": "PENDING", "state_details": {"cache_key": "k\u0000"}}
    for path, body in [
        ("/flow_runs/", {"flow_id": flow["id"], "empirical_policy": {"pause_keys": ["a\u0000"]}}),
        (
            "/task_runs/",
            {**task, "task_inputs": {"x": [{"input_type": "parameter", "name": "\u0000"}]}},
        ),
        (f"/flow_runs/{run['id']}/set_state", {"state": pending, "force": True}),
    ]:
        refused = await client.post(path, json=body)
        assert refused.status_code == 422, (path, refused.text[:300])
        assert "NUL" in refused.json()["detail"], path
    infinite = (
        b'{"flow_id": "%s", "empirical_policy": {"retry_delay": 1e400}}' % flow["id"].encode()
    )
    refused = await client.post(
        "/flow_runs/", content=infinite, headers={"content-type": "application/json"}
    )
    assert refused.status_code == 422 and "finite" in refused.json()["detail"]
