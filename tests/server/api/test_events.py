import uuid
from typing import Any

import httpx

SINCE = {"occurred": {"since": "2026-01-01T00:00:00Z", "until": "2027-01-01T00:00:00Z"}}


def _event(name: str, resource_id: str, minute: int, **extra: Any) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "occurred": f"2026-11-28T11:{minute:02d}:00Z",
        "event": name,
        "resource": {"prefect.resource.id": resource_id, "prefect.resource.name": f"n-{minute}"},
        **extra,
    }


async def _filter(client: httpx.AsyncClient, **flt: Any) -> list[str]:
    response = await client.post("/events/filter", json={"filter": {**SINCE, **flt}})
    assert response.status_code == 200, response.text
    return [e["event"] for e in response.json()["events"]]


async def test_posted_events_are_stored_once_and_read_back(client: httpx.AsyncClient) -> None:
    flow_run = f"prefect.flow-run.{uuid.uuid4()}"
    related = [{"prefect.resource.id": "prefect.flow.1", "prefect.resource.role": "flow"}]
    first = _event("prefect.flow-run.heartbeat", flow_run, 1, related=related, payload={"a": 1})
    assert (await client.post("/events", json=[first, first])).status_code == 204
    assert (await client.post("/events", json=[first])).status_code == 204
    page = (await client.post("/events/filter", json={"filter": SINCE})).json()
    assert page["total"] == 1 and page["next_page"] is None
    (stored,) = page["events"]
    assert stored["id"] == first["id"] and stored["payload"] == {"a": 1}
    assert stored["related"] == related and stored["received"] is not None
    assert stored["occurred"].startswith("2026-11-28T11:01:00")


async def test_filter_events_by_name_resource_and_related(client: httpx.AsyncClient) -> None:
    run = f"prefect.flow-run.{uuid.uuid4()}"
    flow = {"prefect.resource.id": "prefect.flow.etl", "prefect.resource.role": "flow"}
    tag = {"prefect.resource.id": "prefect.tag.db", "prefect.resource.role": "tag"}
    await client.post(
        "/events",
        json=[
            _event("prefect.flow-run.Running", run, 1, related=[flow]),
            _event("prefect.flow-run.Completed", run, 2, related=[flow, tag]),
            _event("prefect.worker.started", "prefect.worker.w1", 3),
            _event("prefect.flow-run.heartbeat", "prefect.flow-run.other", 4, related=[tag]),
        ],
    )
    assert await _filter(client, event={"prefix": ["prefect.worker."]}) == [
        "prefect.worker.started"
    ]
    assert await _filter(client, event={"name": ["prefect.flow-run.Running"]}) == [
        "prefect.flow-run.Running"
    ]
    assert await _filter(client, event={"exclude_prefix": ["prefect.flow-run."]}) == [
        "prefect.worker.started"
    ]
    assert await _filter(client, resource={"id": [run]}) == [
        "prefect.flow-run.Completed",
        "prefect.flow-run.Running",
    ]  # fmt: skip  (newest first)
    assert await _filter(client, resource={"labels": {"prefect.resource.name": "n-3"}}) == [
        "prefect.worker.started"
    ]
    assert await _filter(client, related={"role": ["tag"]}) == [
        "prefect.flow-run.heartbeat", "prefect.flow-run.Completed"
    ]  # fmt: skip
    # Id and role must match the same related entry.
    both = {"resources_in_roles": [["prefect.tag.db", "flow"]]}
    assert await _filter(client, related=both) == []
    assert await _filter(client, any_resource={"id": ["prefect.flow.etl"]}) == [
        "prefect.flow-run.Completed", "prefect.flow-run.Running"
    ]  # fmt: skip
    assert await _filter(client, any_resource={"id_prefix": ["prefect.worker."]}) == [
        "prefect.worker.started"
    ]
    oldest = await client.post("/events/filter", json={"filter": {**SINCE, "order": "ASC"}})
    assert oldest.json()["events"][0]["event"] == "prefect.flow-run.Running"
    window = {"since": "2026-11-28T11:02:00Z", "until": "2026-11-28T11:03:00Z"}
    assert await _filter(client, occurred=window) == [
        "prefect.worker.started", "prefect.flow-run.Completed"
    ]  # fmt: skip


async def test_events_page_through_next_page(client: httpx.AsyncClient) -> None:
    events = [_event("test.tick", f"test.thing.{i}", i) for i in range(7)]
    await client.post("/events", json=events)
    page = (await client.post("/events/filter", json={"filter": SINCE, "limit": 3})).json()
    seen = [e["id"] for e in page["events"]]
    assert page["total"] == 7
    while page["next_page"]:
        page = (await client.get(page["next_page"])).json()
        seen.extend(e["id"] for e in page["events"])
    assert seen == [e["id"] for e in reversed(events)]
    bad = await client.get("/events/filter/next", params={"page-token": "garbage"})
    assert bad.status_code == 403


async def test_invalid_events_are_refused_whole(client: httpx.AsyncClient) -> None:
    good = _event("test.ok", "test.thing.1", 1)
    bad = {**_event("test.bad", "test.thing.2", 2), "resource": {"no": "id"}}
    response = await client.post("/events", json=[good, bad])
    assert response.status_code == 422 and "1.resource" in response.json()["detail"]
    assert (await client.post("/events/filter", json={"filter": SINCE})).json()["total"] == 0
    too_big = await client.post("/events/filter", json={"limit": 201})
    assert too_big.status_code == 422 and "limit" in too_big.json()["detail"]


async def test_a_page_of_the_official_clients_default_size(client: httpx.AsyncClient) -> None:
    # ``read_events()`` asks for 100 (the contract's own maximum is 50, which the official
    # server enforces against its own client); the page holds them all.
    events = [_event("test.tick", f"test.thing.{i}", i % 60) for i in range(120)]
    assert (await client.post("/events", json=events)).status_code == 204
    response = await client.post("/events/filter", json={"filter": SINCE, "limit": 100})
    assert response.status_code == 200, response.text
    page = response.json()
    assert page["total"] == 120 and len(page["events"]) == 100 and page["next_page"]
    rest = (await client.get(page["next_page"])).json()
    assert len(rest["events"]) == 20 and rest["next_page"] is None
    default = (await client.post("/events/filter", json={"filter": SINCE})).json()
    assert len(default["events"]) == 50
