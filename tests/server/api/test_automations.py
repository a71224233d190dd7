"""/automations: CRUD, filter and count, related-to and owned-by, what is refused, and the
lifecycle events of each change."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

SINCE = {"occurred": {"since": "2000-01-01T00:00:00Z"}}


def automation(name: str = "on-complete", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": name,
        "trigger": {
            "type": "event",
            "posture": "Reactive",
            "expect": ["prefect.flow-run.Completed"],
            "match": {"prefect.resource.id": "prefect.flow-run.*"},
            "threshold": 1,
            "within": 0,
        },
        "actions": [{"type": "do-nothing"}],
    }
    body.update(extra)
    return body


async def create(client: httpx.AsyncClient, **extra: Any) -> dict[str, Any]:
    response = await client.post("/automations/", json=automation(**extra))
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def test_create_read_update_pause_delete(client: httpx.AsyncClient) -> None:
    created = await create(client, tags=["ops"], description="when a run completes")
    assert created["name"] == "on-complete"
    assert created["enabled"] is True
    assert created["trigger"]["expect"] == ["prefect.flow-run.Completed"]
    assert created["actions"] == [{"type": "do-nothing"}]
    url = f"/automations/{created['id']}"
    assert (await client.get(url)).json() == created

    changed = automation("renamed", actions=[{"type": "pause-automation", "source": "inferred"}])
    assert (await client.put(url, json=changed)).status_code == 204
    read = (await client.get(url)).json()
    assert read["name"] == "renamed"
    assert read["actions"][0]["type"] == "pause-automation"

    assert (await client.patch(url, json={"enabled": False})).status_code == 204
    assert (await client.get(url)).json()["enabled"] is False

    assert (await client.delete(url)).status_code == 204
    assert (await client.get(url)).status_code == 404
    assert (await client.delete(url)).status_code == 404


async def test_unknown_automation_is_404(client: httpx.AsyncClient) -> None:
    url = f"/automations/{uuid.uuid4()}"
    assert (await client.get(url)).status_code == 404
    assert (await client.put(url, json=automation())).status_code == 404
    assert (await client.patch(url, json={"enabled": False})).status_code == 404


async def test_filter_and_count(client: httpx.AsyncClient) -> None:
    await create(client, name="b", tags=["ops", "nightly"])
    await create(client, name="a", tags=["ops"])
    await create(client, name="c")

    async def names(body: dict[str, Any]) -> list[str]:
        response = await client.post("/automations/filter", json=body)
        assert response.status_code == 200, response.text
        return [a["name"] for a in response.json()]

    assert await names({}) == ["a", "b", "c"]
    assert await names({"sort": "NAME_DESC", "limit": 2}) == ["c", "b"]
    assert await names({"sort": "NAME_ASC", "offset": 1}) == ["b", "c"]
    assert await names({"automations": {"name": {"any_": ["c", "a"]}}}) == ["a", "c"]
    assert await names({"automations": {"tags": {"all_": ["ops", "nightly"]}}}) == ["b"]
    assert await names({"automations": {"tags": {"is_null_": True}}}) == ["c"]
    # The official client's read_automations_by_name sends every key of its filter.
    official = {"id": None, "name": {"any_": ["b"]}, "created": None, "tags": None}
    assert await names({"sort": "UPDATED_DESC", "automations": official}) == ["b"]
    [first] = (await client.post("/automations/filter", json={})).json()[:1]
    assert await names({"automations": {"id": {"any_": [first["id"]]}}}) == ["a"]
    assert (await client.post("/automations/count")).json() == 3
    body = {"automations": {"tags": {"any_": ["ops"]}}}
    assert (await client.post("/automations/count", json=body)).json() == 2


async def test_related_to_and_owned_by(client: httpx.AsyncClient) -> None:
    deployment = f"prefect.deployment.{uuid.uuid4()}"
    target = str(uuid.uuid4())
    owned = await create(client, name="owned", owner_resource=deployment)
    acting = await create(
        client,
        name="acting",
        actions=[{"type": "run-deployment", "source": "selected", "deployment_id": target}],
    )
    other = await create(client, name="other")

    related = await client.get(f"/automations/related-to/{deployment}")
    assert [a["id"] for a in related.json()] == [owned["id"]]
    related = await client.get(f"/automations/related-to/prefect.deployment.{target}")
    assert [a["id"] for a in related.json()] == [acting["id"]]

    # Owned by: deleted for real. Related but not owned: kept.
    assert (await client.delete(f"/automations/owned-by/{deployment}")).status_code == 202
    assert (await client.get(f"/automations/{owned['id']}")).status_code == 404
    assert (
        await client.delete(f"/automations/owned-by/prefect.deployment.{target}")
    ).status_code == 202
    assert (await client.get(f"/automations/{acting['id']}")).status_code == 200
    assert (await client.get(f"/automations/{other['id']}")).status_code == 200


async def test_a_trigger_matching_every_event_is_refused(client: httpx.AsyncClient) -> None:
    catch_all = [
        {"type": "event", "posture": "Reactive"},
        {"type": "event", "posture": "Reactive", "expect": ["*"],
         "match": {"prefect.resource.id": "*"}},
        {"type": "compound", "require": "any", "within": 60,
         "triggers": [{"type": "event", "posture": "Reactive",
                       "expect": ["prefect.flow-run.Failed"]},
                      {"type": "event", "posture": "Reactive", "match_related": {}}]},
    ]  # fmt: skip
    for trigger in catch_all:
        response = await client.post("/automations/", json=automation(trigger=trigger))
        assert response.status_code == 422, trigger
        assert "would match every event" in response.json()["detail"]
    # Narrowed by a resource alone is fine.
    narrowed = {"type": "event", "posture": "Reactive",
                "match": {"prefect.resource.id": "prefect.flow-run.*"}}  # fmt: skip
    assert (
        await client.post("/automations/", json=automation(trigger=narrowed))
    ).status_code == 201


async def test_notification_actions_are_refused_for_now(client: httpx.AsyncClient) -> None:
    for kind in ("send-notification", "call-webhook"):
        body = automation(actions=[{"type": kind, "block_document_id": str(uuid.uuid4())}])
        response = await client.post("/automations/", json=body)
        assert response.status_code == 422
        assert "not available yet" in response.text


async def test_selected_action_without_its_target_is_refused(client: httpx.AsyncClient) -> None:
    body = automation(actions=[{"type": "pause-deployment", "source": "selected"}])
    response = await client.post("/automations/", json=body)
    assert response.status_code == 422
    assert "needs deployment_id" in response.text


async def test_templates_are_validated(client: httpx.AsyncClient) -> None:
    ok = await client.post("/templates/validate", json="Run {{ flow_run.name }} finished")
    assert ok.status_code == 200
    bad = await client.post("/templates/validate", json="line one\n{{ flow_run.name ")
    assert bad.status_code == 422
    assert "line 2" in bad.json()["detail"]
    # A template that does not parse is refused when the automation is saved.
    action = {"type": "run-deployment", "deployment_id": str(uuid.uuid4()),
              "parameters": {"who": "{% if %}"}}  # fmt: skip
    response = await client.post("/automations/", json=automation(actions=[action]))
    assert response.status_code == 422
    assert "Invalid template" in response.json()["detail"]


async def test_each_change_is_an_event(client: httpx.AsyncClient) -> None:
    created = await create(client)
    url = f"/automations/{created['id']}"
    await client.patch(url, json={"enabled": False})
    await client.delete(url)
    body = {"filter": {**SINCE, "event": {"prefix": ["prefect.automation."]}, "order": "ASC"}}
    events = (await client.post("/events/filter", json=body)).json()["events"]
    assert [e["event"] for e in events] == [
        "prefect.automation.created",
        "prefect.automation.updated",
        "prefect.automation.deleted",
    ]
    assert {e["resource"]["prefect.resource.id"] for e in events} == {
        f"prefect.automation.{created['id']}"
    }
    assert events[1]["payload"]["updated_fields"] == ["enabled"]


async def test_a_trigger_sent_without_its_type_is_told_by_its_shape(
    client: httpx.AsyncClient,
) -> None:
    """The official client leaves ``type`` out of a trigger it built itself."""
    event = {"posture": "Reactive", "expect": ["prefect.flow-run.Failed"],
             "match": {"prefect.resource.id": "prefect.flow-run.*"}}  # fmt: skip
    compound = {"triggers": [event, {**event, "expect": ["prefect.flow-run.Crashed"]}],
                "require": "any", "within": 60}  # fmt: skip
    for trigger, kind in ((event, "event"), (compound, "compound"),
                          ({"triggers": [event], "within": 60}, "sequence")):  # fmt: skip
        response = await client.post("/automations/", json=automation(trigger=trigger))
        assert response.status_code == 201, response.text
        created = response.json()["trigger"]
        assert created["type"] == kind
        assert all(t["type"] == "event" for t in created.get("triggers", []))


async def test_an_action_without_its_type_is_refused_not_guessed(
    client: httpx.AsyncClient,
) -> None:
    created = await create(client)
    url = f"/automations/{created['id']}"
    untyped = automation(actions=[{"source": "selected", "deployment_id": str(uuid.uuid4())}])
    response = await client.put(url, json=untyped)
    assert response.status_code == 422 and "needs its 'type'" in response.text
    assert (await client.get(url)).json()["actions"] == [{"type": "do-nothing"}]


async def test_an_update_may_carry_the_owner_back_and_keeps_it(
    client: httpx.AsyncClient,
) -> None:
    """The official client sends back the ``owner_resource`` of an automation it read."""
    created = await create(client, owner_resource="prefect.deployment.owner")
    url = f"/automations/{created['id']}"
    echoed = automation("renamed", owner_resource="prefect.deployment.someone-else")
    assert (await client.put(url, json=echoed)).status_code == 204
    read = (await client.get(url)).json()
    assert (read["name"], read["owner_resource"]) == ("renamed", "prefect.deployment.owner")


async def test_a_nul_anywhere_in_a_trigger_or_action_is_a_422(client: httpx.AsyncClient) -> None:
    """Found by the contract test on PostgreSQL, which cannot store NUL in JSONB (a 500)."""
    body = automation()
    body["trigger"]["match"] = {"prefect.resource.id": "prefect.flow-run.\x00"}
    response = await client.post("/automations/", json=body)
    assert response.status_code == 422 and "NUL" in response.text
    actions = [{"type": "change-flow-run-state", "state": "FAILED", "message": "a\x00b"}]
    response = await client.post("/automations/", json=automation(actions=actions))
    assert response.status_code == 422 and "NUL" in response.text
    assert (await client.post("/automations/count", json={})).json() == 0
