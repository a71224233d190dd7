"""Schedule slugs, as the official client uses them: ``flow.serve(schedules=[Cron(...,
slug="nightly")])`` stores the slug; serving again updates the schedule of that slug in place
(same id, its runs kept) instead of replacing every schedule; ``replaces`` renames one; a slug
is unique within its deployment. Checked against ``prefect==3.9.1``'s server behaviour.
"""

from __future__ import annotations

from typing import Any

import httpx


async def _deployment(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    flow_id = (await client.post("/flows/", json={"name": "etl"})).json()["id"]
    response = await client.post(
        "/deployments/", json={"name": "nightly", "flow_id": flow_id, **fields}
    )
    assert response.status_code in (200, 201), response.text
    body: dict[str, Any] = response.json()
    return body


def cron(expr: str, slug: str | None, **extra: Any) -> dict[str, Any]:
    body = {"schedule": {"cron": expr, "timezone": "UTC"}, **extra}
    if slug is not None:
        body["slug"] = slug
    return body


async def _schedules(client: httpx.AsyncClient, deployment_id: str) -> dict[str, dict[str, Any]]:
    response = await client.get(f"/deployments/{deployment_id}/schedules")
    assert response.status_code == 200, response.text
    return {s["slug"]: s for s in response.json()}


async def test_slugs_are_stored_and_returned(client: httpx.AsyncClient) -> None:
    deployment = await _deployment(
        client,
        schedules=[
            cron("0 0 * * *", "nightly", active=False, parameters={}, max_scheduled_runs=3),
            cron("0 * * * *", "hourly"),
        ],
    )
    assert sorted(s["slug"] for s in deployment["schedules"]) == ["hourly", "nightly"]
    stored = await _schedules(client, deployment["id"])
    assert stored["nightly"]["active"] is False
    assert stored["nightly"]["max_scheduled_runs"] == 3
    assert stored["hourly"]["schedule"]["cron"] == "0 * * * *"
    read = (await client.get(f"/deployments/{deployment['id']}")).json()
    assert sorted(s["slug"] for s in read["schedules"]) == ["hourly", "nightly"]


async def test_an_update_upserts_by_slug_and_keeps_the_others(client: httpx.AsyncClient) -> None:
    deployment = await _deployment(
        client, schedules=[cron("0 0 * * *", "nightly"), cron("0 * * * *", "hourly")]
    )
    before = await _schedules(client, deployment["id"])
    response = await client.patch(
        f"/deployments/{deployment['id']}",
        json={"schedules": [cron("0 1 * * *", "nightly"), cron("0 12 * * 1", "weekly")]},
    )
    assert response.status_code == 204, response.text
    after = await _schedules(client, deployment["id"])
    # The one named is changed in place, a new slug is added, the one not named stays.
    assert sorted(after) == ["hourly", "nightly", "weekly"]
    assert after["nightly"]["id"] == before["nightly"]["id"]
    assert after["nightly"]["schedule"]["cron"] == "0 1 * * *"
    assert after["hourly"] == before["hourly"]


async def test_replaces_renames_a_schedule_in_place(client: httpx.AsyncClient) -> None:
    deployment = await _deployment(
        client, schedules=[cron("0 0 * * *", "nightly"), cron("0 * * * *", "hourly")]
    )
    before = await _schedules(client, deployment["id"])
    renamed = cron("0 2 * * *", "late-night", replaces="nightly")
    response = await client.patch(
        f"/deployments/{deployment['id']}", json={"schedules": [renamed]}
    )
    assert response.status_code == 204, response.text
    after = await _schedules(client, deployment["id"])
    assert sorted(after) == ["hourly", "late-night"]
    assert after["late-night"]["id"] == before["nightly"]["id"]
    assert after["late-night"]["schedule"]["cron"] == "0 2 * * *"
    # A rename onto a slug that exists and is not itself being renamed is refused.
    clash = cron("0 3 * * *", "hourly", replaces="late-night")
    response = await client.patch(f"/deployments/{deployment['id']}", json={"schedules": [clash]})
    assert response.status_code == 422 and "hourly" in response.json()["detail"]
    twice = [cron("0 3 * * *", "a", replaces="hourly"), cron("0 4 * * *", "b", replaces="hourly")]
    response = await client.patch(f"/deployments/{deployment['id']}", json={"schedules": twice})
    assert response.status_code == 422 and "replaces" in response.json()["detail"]
    assert await _schedules(client, deployment["id"]) == after  # nothing changed


async def test_unslugged_schedules_cannot_replace_slugged_ones(client: httpx.AsyncClient) -> None:
    deployment = await _deployment(client, schedules=[cron("0 0 * * *", "nightly")])
    before = await _schedules(client, deployment["id"])
    response = await client.patch(
        f"/deployments/{deployment['id']}", json={"schedules": [cron("0 5 * * *", None)]}
    )
    assert response.status_code == 422
    assert "slug" in response.json()["detail"]
    assert await _schedules(client, deployment["id"]) == before
    # Without slugs on either side, the list replaces the deployment's schedules.
    plain = await client.post("/flows/", json={"name": "other"})
    body = {"name": "plain", "flow_id": plain.json()["id"], "schedules": [cron("0 0 * * *", None)]}
    created = (await client.post("/deployments/", json=body)).json()
    response = await client.patch(
        f"/deployments/{created['id']}", json={"schedules": [cron("0 6 * * *", None)]}
    )
    assert response.status_code == 204
    [only] = (await client.get(f"/deployments/{created['id']}/schedules")).json()
    assert only["schedule"]["cron"] == "0 6 * * *"


async def test_slugs_are_unique_within_a_deployment(client: httpx.AsyncClient) -> None:
    deployment = await _deployment(client, schedules=[cron("0 0 * * *", "nightly")])
    base = f"/deployments/{deployment['id']}/schedules"
    again = await client.post(base, json=[cron("0 1 * * *", "nightly")])
    assert again.status_code == 409 and "unique" in again.json()["detail"]
    pair = await client.post(base, json=[cron("0 1 * * *", "x"), cron("0 2 * * *", "x")])
    assert pair.status_code == 409
    added = await client.post(base, json=[cron("0 1 * * *", "other", parameters={})])
    assert added.status_code == 201 and added.json()[0]["slug"] == "other"
    onto = await client.patch(f"{base}/{added.json()[0]['id']}", json={"slug": "nightly"})
    assert onto.status_code == 409
    renamed = await client.patch(f"{base}/{added.json()[0]['id']}", json={"slug": "early"})
    assert renamed.status_code == 204
    assert sorted(await _schedules(client, deployment["id"])) == ["early", "nightly"]
    duplicate = [cron("0 0 * * *", "d"), cron("0 1 * * *", "d")]
    flow_id = deployment["flow_id"]
    response = await client.post(
        "/deployments/", json={"name": "dup", "flow_id": flow_id, "schedules": duplicate}
    )
    assert response.status_code == 409
    # The same slug in two deployments is fine.
    response = await client.post(
        "/deployments/",
        json={"name": "second", "flow_id": flow_id, "schedules": [cron("0 0 * * *", "nightly")]},
    )
    assert response.status_code == 201, response.text


async def test_serving_again_keeps_the_schedule_and_its_runs(client: httpx.AsyncClient) -> None:
    # What serve() does on a restart: POST the same deployment (an upsert) with its schedules.
    first = await _deployment(client, schedules=[cron("0 0 * * *", "nightly")])
    runs = await client.post(
        "/flow_runs/filter", json={"flow_runs": {"deployment_id": {"any_": [first["id"]]}}}
    )
    assert runs.json()
    again = await _deployment(client, schedules=[cron("0 0 * * *", "nightly")])
    assert again["id"] == first["id"]
    assert again["schedules"][0]["id"] == first["schedules"][0]["id"]
    runs_after = await client.post(
        "/flow_runs/filter", json={"flow_runs": {"deployment_id": {"any_": [first["id"]]}}}
    )
    assert sorted(r["id"] for r in runs_after.json()) == sorted(r["id"] for r in runs.json())
