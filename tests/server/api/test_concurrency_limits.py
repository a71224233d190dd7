"""Tag (v1) concurrency limits and the lease admin routes.

A tag limit is the v2 limit ``tag:<tag>``: every test that changes one through one API
checks it through the other too.
"""

import asyncio
import uuid
from typing import Any

import httpx
from fastapi import FastAPI
from race_helpers import Contention

from flowyard.server.queries import concurrency_limits as limit_queries

V1 = "/concurrency_limits"
V2 = "/v2/concurrency_limits"


async def _create_tag(client: httpx.AsyncClient, tag: str, limit: int) -> dict[str, Any]:
    response = await client.post(f"{V1}/", json={"tag": tag, "concurrency_limit": limit})
    assert response.status_code in (200, 201), response.text
    body: dict[str, Any] = response.json()
    return body


async def _take(
    client: httpx.AsyncClient, name: str, holder: uuid.UUID | None = None, slots: int = 1
) -> httpx.Response:
    body: dict[str, Any] = {"names": [name], "slots": slots, "lease_duration": 60}
    if holder is not None:
        body["holder"] = {"type": "task_run", "id": str(holder)}
    return await client.post(f"{V2}/increment-with-lease", json=body)


async def test_create_is_an_upsert_backed_by_the_v2_limit(client: httpx.AsyncClient) -> None:
    created = await client.post(f"{V1}/", json={"tag": "db", "concurrency_limit": 1})
    assert created.status_code == 201
    body = created.json()
    assert body["tag"] == "db" and body["concurrency_limit"] == 1 and body["active_slots"] == []
    assert set(body) >= {"id", "created", "updated"}
    v2 = (await client.get(f"{V2}/tag:db")).json()
    assert v2["id"] == body["id"] and v2["limit"] == 1
    resized = await client.post(f"{V1}/", json={"tag": "db", "concurrency_limit": 4})
    assert resized.status_code == 200 and resized.json()["id"] == body["id"]
    assert (await client.get(f"{V2}/tag:db")).json()["limit"] == 4
    assert (await client.get(f"{V1}/tag/db")).json()["concurrency_limit"] == 4
    assert (await client.get(f"{V1}/{body['id']}")).json()["tag"] == "db"
    # Resizing through v2 shows in v1: one row, two views.
    assert (await client.patch(f"{V2}/tag:db", json={"limit": 2})).status_code == 204
    assert (await client.get(f"{V1}/tag/db")).json()["concurrency_limit"] == 2


async def test_filter_lists_only_tag_limits(client: httpx.AsyncClient) -> None:
    await _create_tag(client, "b-tag", 1)
    await _create_tag(client, "a-tag", 2)
    assert (await client.post(f"{V2}/", json={"name": "global", "limit": 1})).status_code == 201
    listed = await client.post(f"{V1}/filter", json={"limit": 15, "offset": 0})
    assert listed.status_code == 200
    assert [limit["tag"] for limit in listed.json()] == ["a-tag", "b-tag"]
    page = (await client.post(f"{V1}/filter", json={"limit": 1, "offset": 1})).json()
    assert [limit["tag"] for limit in page] == ["b-tag"]
    assert (await client.post(f"{V1}/filter")).status_code == 200


async def test_a_global_limit_is_not_a_tag_limit(client: httpx.AsyncClient) -> None:
    limit_id = (await client.post(f"{V2}/", json={"name": "global", "limit": 1})).json()["id"]
    assert (await client.get(f"{V1}/{limit_id}")).status_code == 404
    assert (await client.delete(f"{V1}/{limit_id}")).status_code == 404
    assert (await client.get(f"{V2}/global")).status_code == 200
    assert (await client.get(f"{V1}/tag/global")).status_code == 404


async def test_active_slots_name_the_task_runs_holding_them(client: httpx.AsyncClient) -> None:
    await _create_tag(client, "db", 2)
    runs = [uuid.uuid4(), uuid.uuid4()]
    for run in runs:
        assert (await _take(client, "tag:db", run)).status_code == 200
    assert (await _take(client, "tag:db", uuid.uuid4())).status_code == 423
    limit = (await client.get(f"{V1}/tag/db")).json()
    assert sorted(limit["active_slots"]) == sorted(str(r) for r in runs)
    assert (await client.get(f"{V2}/tag:db")).json()["active_slots"] == 2


async def test_reset_frees_every_slot_or_hands_them_to_the_override(
    client: httpx.AsyncClient,
) -> None:
    await _create_tag(client, "db", 2)
    for _ in range(2):
        assert (await _take(client, "tag:db", uuid.uuid4())).status_code == 200
    reset = await client.post(f"{V1}/tag/db/reset", json={})
    assert reset.status_code == 200
    assert (await client.get(f"{V1}/tag/db")).json()["active_slots"] == []
    assert (await client.get(f"{V2}/tag:db")).json()["active_slots"] == 0
    assert (await client.get(f"{V2}/tag:db/leases")).json() == []

    keeper = uuid.uuid4()
    override = await client.post(f"{V1}/tag/db/reset", json={"slot_override": [str(keeper)]})
    assert override.status_code == 200
    assert (await client.get(f"{V1}/tag/db")).json()["active_slots"] == [str(keeper)]
    assert (await client.get(f"{V2}/tag:db")).json()["active_slots"] == 1
    # The override's holder gives its slot back like any v1 holder.
    body = {"names": ["db"], "task_run_id": str(keeper)}
    assert (await client.post(f"{V1}/decrement", json=body)).status_code == 200
    assert (await client.get(f"{V2}/tag:db")).json()["active_slots"] == 0

    too_many = [str(uuid.uuid4()) for _ in range(3)]
    refused = await client.post(f"{V1}/tag/db/reset", json={"slot_override": too_many})
    assert refused.status_code == 422 and "slot_override" in refused.json()["detail"]
    assert (await client.post(f"{V1}/tag/nope/reset", json={})).status_code == 404


async def test_v1_increment_and_decrement_by_task_run(client: httpx.AsyncClient) -> None:
    limit = await _create_tag(client, "db", 1)
    first, second = uuid.uuid4(), uuid.uuid4()
    taken = await client.post(
        f"{V1}/increment", json={"names": ["db", "unlimited"], "task_run_id": str(first)}
    )
    assert taken.status_code == 200
    assert taken.json() == [{"id": limit["id"], "name": "db", "limit": 1}]
    locked = await client.post(
        f"{V1}/increment", json={"names": ["db"], "task_run_id": str(second)}
    )
    assert locked.status_code == 423 and float(locked.headers["Retry-After"]) > 0
    assert (await client.get(f"{V1}/tag/db")).json()["active_slots"] == [str(first)]
    # Decrementing for a run that holds nothing gives nothing back.
    await client.post(f"{V1}/decrement", json={"names": ["db"], "task_run_id": str(second)})
    assert (await client.get(f"{V2}/tag:db")).json()["active_slots"] == 1
    released = await client.post(
        f"{V1}/decrement", json={"names": ["db"], "task_run_id": str(first)}
    )
    assert released.status_code == 200 and [r["name"] for r in released.json()] == ["db"]
    assert (await client.get(f"{V2}/tag:db")).json()["active_slots"] == 0
    assert (await client.get(f"{V2}/tag:db/leases")).json() == []


async def test_v1_decrement_takes_the_occupancy_the_official_client_sends(
    client: httpx.AsyncClient,
) -> None:
    # ``decrement_v1_concurrency_slots`` adds ``occupancy_seconds``; the contract's body
    # ignores keys it does not name, so this one is accepted (and, as there, unused).
    await _create_tag(client, "db", 1)
    run = str(uuid.uuid4())
    await client.post(f"{V1}/increment", json={"names": ["db"], "task_run_id": run})
    body = {"names": ["db"], "task_run_id": run, "occupancy_seconds": 1.5}
    released = await client.post(f"{V1}/decrement", json=body)
    assert released.status_code == 200, released.text
    assert [r["name"] for r in released.json()] == ["db"]
    assert (await client.get(f"{V2}/tag:db")).json()["active_slots"] == 0
    typo = await client.post(f"{V1}/decrement", json={**body, "occupancy": 1})
    assert typo.status_code == 422 and "occupancy" in typo.json()["detail"]


async def test_delete_by_id_and_by_tag_revokes_the_leases(client: httpx.AsyncClient) -> None:
    one = await _create_tag(client, "one", 1)
    await _create_tag(client, "two", 1)
    await client.post(f"{V2}/", json={"name": "shared", "limit": 5})
    both = {"names": ["tag:one", "shared"], "slots": 1, "lease_duration": 60}
    assert (await client.post(f"{V2}/increment-with-lease", json=both)).status_code == 200
    assert (await client.delete(f"{V1}/{one['id']}")).status_code == 200
    assert (await client.get(f"{V1}/tag/one")).status_code == 404
    assert (await client.get(f"{V2}/tag:one")).status_code == 404
    # The lease held "shared" too: revoking it gave that slot back.
    assert (await client.get(f"{V2}/shared")).json()["active_slots"] == 0
    assert (await client.delete(f"{V1}/tag/two")).status_code == 200
    assert (await client.delete(f"{V1}/tag/two")).status_code == 404
    assert (await client.post(f"{V1}/filter", json={})).json() == []


async def test_bad_input_names_the_field_and_stores_nothing(client: httpx.AsyncClient) -> None:
    negative = await client.post(f"{V1}/", json={"tag": "db", "concurrency_limit": -1})
    assert negative.status_code == 422 and "concurrency_limit" in negative.json()["detail"]
    bad_tag = await client.post(f"{V1}/", json={"tag": "a/b", "concurrency_limit": 1})
    assert bad_tag.status_code == 422 and "tag" in bad_tag.json()["detail"]
    missing = await client.post(f"{V1}/", json={"tag": "db"})
    assert missing.status_code == 422 and "concurrency_limit" in missing.json()["detail"]
    no_run = await client.post(f"{V1}/increment", json={"names": ["db"]})
    assert no_run.status_code == 422 and "task_run_id" in no_run.json()["detail"]
    assert (await client.get(f"{V1}/not-a-uuid")).status_code == 422
    assert (await client.get(f"{V1}/{uuid.uuid4()}")).status_code == 404
    assert (await client.post(f"{V1}/filter", json={})).json() == []
    await _create_tag(client, "zero", 0)
    zero = await client.post(
        f"{V1}/increment", json={"names": ["zero"], "task_run_id": str(uuid.uuid4())}
    )
    assert zero.status_code == 422 and "0 slots" in zero.json()["detail"]


async def test_admin_lists_and_revokes_leases(client: httpx.AsyncClient) -> None:
    await client.post(f"{V2}/", json={"name": "gcl", "limit": 3})
    holder = uuid.uuid4()
    lease_id = (await _take(client, "gcl", holder, slots=2)).json()["lease_id"]
    leases = (await client.get(f"{V2}/gcl/leases")).json()
    assert [(lease["id"], lease["slots"]) for lease in leases] == [(lease_id, 2)]
    assert leases[0]["holder"] == {"type": "task_run", "id": str(holder)}
    assert leases[0]["expiration"]
    assert (await client.delete(f"{V2}/leases/{lease_id}")).status_code == 204
    assert (await client.get(f"{V2}/gcl")).json()["active_slots"] == 0
    assert (await client.get(f"{V2}/gcl/leases")).json() == []
    # The holder learns it lost the lease when it next renews.
    renew = await client.post(f"{V2}/leases/{lease_id}/renew", json={"lease_duration": 60})
    assert renew.status_code == 404
    assert (await client.delete(f"{V2}/leases/{lease_id}")).status_code == 404
    assert (await client.get(f"{V2}/nope/leases")).status_code == 404


async def test_admin_reset_of_a_global_limit(client: httpx.AsyncClient) -> None:
    limit_id = (await client.post(f"{V2}/", json={"name": "gcl", "limit": 3})).json()["id"]
    for _ in range(3):
        assert (await _take(client, "gcl")).status_code == 200
    assert (await _take(client, "gcl")).status_code == 423
    assert (await client.post(f"{V2}/{limit_id}/reset", json={})).status_code == 204
    limit = (await client.get(f"{V2}/gcl")).json()
    assert limit["active_slots"] == 0 and limit["denied_slots"] == 0
    assert (await client.get(f"{V2}/gcl/leases")).json() == []
    assert (await client.post(f"{V2}/gcl/reset", json={"active_slots": 2})).status_code == 204
    assert (await client.get(f"{V2}/gcl")).json()["active_slots"] == 2
    refused = await client.post(f"{V2}/gcl/reset", json={"active_slots": 4})
    assert refused.status_code == 422 and "active_slots" in refused.json()["detail"]
    assert (await client.get(f"{V2}/gcl")).json()["active_slots"] == 2
    assert (await client.post(f"{V2}/nope/reset", json={})).status_code == 404


async def test_workspace_prefix_serves_the_same_routes(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    await _create_tag(client, "db", 1)
    prefix = f"/accounts/{app.state.default_account_id}/workspaces/{app.state.default_workspace_id}"
    listed = (await client.post(f"{prefix}{V1}/filter", json={})).json()
    assert [limit["tag"] for limit in listed] == ["db"]
    assert (await client.get(f"{prefix}{V2}/tag:db/leases")).json() == []


async def test_v1_increments_sent_at_once_never_exceed_the_limit(
    client: httpx.AsyncClient, contention: Contention
) -> None:
    """Racing (PostgreSQL), all eight reach the limit's row together; its lock lets them
    count one at a time."""
    await _create_tag(client, "race", 3)

    async def take() -> int:
        body = {"names": ["race"], "task_run_id": str(uuid.uuid4())}
        return (await client.post(f"{V1}/increment", json=body)).status_code

    gate = contention.hold(limit_queries, "lock_active_limits", 8)
    statuses = await asyncio.gather(*(take() for _ in range(8)))
    assert gate.met is contention.racing
    assert sorted(statuses) == [200] * 3 + [423] * 5
    assert len((await client.get(f"{V1}/tag/race")).json()["active_slots"]) == 3
