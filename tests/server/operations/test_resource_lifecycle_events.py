"""Variables, flows and artifacts tell of every change in the transaction that makes it,
with the contract's event names and resources; a rolled-back change stores no event."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from lifecycle_event_helpers import names, only, payload, related_ids, stored

from flowyard.schemas import actions
from flowyard.server.database.engine import Database
from flowyard.server.operations import artifacts, flows, variables
from flowyard.server.operations.context import RequestContext, Tx


class Boom(Exception):
    """Raised inside a transaction to roll it back."""


def _context(app: FastAPI, db: Database) -> RequestContext:
    return RequestContext(db, app.state.default_workspace_id, app.state.default_account_id)


async def _ok(response: httpx.Response) -> Any:
    assert response.is_success, f"{response.request.url}: {response.status_code} {response.text}"
    return response.json() if response.content else None


# --- variables ---------------------------------------------------------------------------


async def test_a_variable_tells_of_creation_update_and_deletion(
    client: httpx.AsyncClient, db: Database
) -> None:
    variable = await _ok(
        await client.post("/variables/", json={"name": "region", "value": "eu", "tags": ["a"]})
    )
    created = await only(db, "prefect.variable.created")
    assert created.resource == {
        "prefect.resource.id": f"prefect.variable.{variable['id']}",
        "prefect.resource.name": "region",
    }
    assert payload(created) == {"name": "region", "value": "eu", "tags": ["a"]}

    await _ok(await client.patch(f"/variables/{variable['id']}", json={"value": "us"}))
    await _ok(await client.patch("/variables/name/region", json={"value": "us"}))  # no change
    await _ok(await client.patch("/variables/name/region", json={"name": "zone"}))
    updates = await stored(db, "prefect.variable.updated")
    assert [payload(e) for e in updates] == [
        {"name": "region", "value": "us", "tags": ["a"], "updated_fields": ["value"]},
        {"name": "zone", "value": "us", "tags": ["a"], "updated_fields": ["name"]},
    ]
    assert updates[1].resource["prefect.resource.name"] == "zone"

    second = await _ok(await client.post("/variables/", json={"name": "other", "value": 1}))
    await _ok(await client.delete("/variables/name/zone"))
    await _ok(await client.delete(f"/variables/{second['id']}"))
    deleted = await stored(db, "prefect.variable.deleted")
    assert [e.resource["prefect.resource.id"] for e in deleted] == [
        f"prefect.variable.{variable['id']}",
        f"prefect.variable.{second['id']}",
    ]
    # A refused change (a taken name, a missing variable) tells nothing.
    assert (await client.post("/variables/", json={"name": "other", "value": 2})).status_code == 201
    assert (await client.post("/variables/", json={"name": "other", "value": 3})).status_code == 409
    assert (await client.delete("/variables/name/missing")).status_code == 404
    assert await names(db, "prefect.variable.") == [
        "prefect.variable.created", "prefect.variable.updated", "prefect.variable.updated",
        "prefect.variable.created", "prefect.variable.deleted", "prefect.variable.deleted",
        "prefect.variable.created",
    ]  # fmt: skip


async def test_a_rolled_back_variable_change_stores_no_event(
    app: FastAPI, client: httpx.AsyncClient, db: Database
) -> None:
    ctx = _context(app, db)
    with pytest.raises(Boom):
        async with db.write() as session:
            await variables.create_variable(
                Tx(ctx, session, True), actions.VariableCreate(name="doomed", value=1)
            )
            raise Boom
    assert await names(db, "prefect.variable.") == []
    assert (await client.get("/variables/name/doomed")).status_code == 404


# --- flows -------------------------------------------------------------------------------


async def test_a_flow_tells_of_creation_update_and_deletion_but_not_of_a_found_upsert(
    client: httpx.AsyncClient, db: Database
) -> None:
    flow = await _ok(await client.post("/flows/", json={"name": "etl", "tags": ["t"]}))
    again = await client.post("/flows/", json={"name": "etl"})
    assert again.status_code == 200  # found, not created: nothing to tell
    created = await only(db, "prefect.flow.created")
    assert created.resource == {
        "prefect.resource.id": f"prefect.flow.{flow['id']}",
        "prefect.resource.name": "etl",
    }
    assert payload(created) == {"name": "etl", "tags": ["t"], "labels": {}}

    await _ok(await client.patch(f"/flows/{flow['id']}", json={"tags": ["u"]}))
    updated = await only(db, "prefect.flow.updated")
    assert payload(updated) == {
        "name": "etl", "tags": ["u"], "labels": {}, "updated_fields": ["tags"],
    }  # fmt: skip

    await _ok(await client.delete(f"/flows/{flow['id']}"))
    deleted = await only(db, "prefect.flow.deleted")
    assert deleted.resource["prefect.resource.id"] == f"prefect.flow.{flow['id']}"
    assert await names(db, "prefect.flow.") == [
        "prefect.flow.created", "prefect.flow.updated", "prefect.flow.deleted",
    ]  # fmt: skip


async def test_bulk_delete_tells_of_each_flow_and_of_the_deployments_that_go_with_them(
    client: httpx.AsyncClient, db: Database
) -> None:
    doomed = [await _ok(await client.post("/flows/", json={"name": f"old-{i}"})) for i in range(3)]
    kept = await _ok(await client.post("/flows/", json={"name": "keep"}))
    deployment = await _ok(
        await client.post("/deployments/", json={"name": "nightly", "flow_id": doomed[0]["id"]})
    )
    body = {"flows": {"name": {"like_": "old-"}}, "limit": 2}
    first = await _ok(await client.post("/flows/bulk_delete", json=body))
    assert len(first["deleted"]) == 2
    second = await _ok(await client.post("/flows/bulk_delete", json=body))
    assert len(second["deleted"]) == 1
    assert sorted(first["deleted"] + second["deleted"]) == sorted(f["id"] for f in doomed)
    assert (await _ok(await client.post("/flows/bulk_delete", json=body)))["deleted"] == []

    deleted = await stored(db, "prefect.flow.deleted")
    assert sorted(e.resource["prefect.resource.id"] for e in deleted) == sorted(
        f"prefect.flow.{f['id']}" for f in doomed
    )
    gone = await only(db, "prefect.deployment.deleted")
    assert gone.resource["prefect.resource.id"] == f"prefect.deployment.{deployment['id']}"
    assert related_ids(gone) == {"flow": f"prefect.flow.{doomed[0]['id']}"}
    assert (await client.get(f"/deployments/{deployment['id']}")).status_code == 404
    assert (await client.get(f"/flows/{kept['id']}")).status_code == 200


async def test_a_rolled_back_flow_change_stores_no_event(
    app: FastAPI, client: httpx.AsyncClient, db: Database
) -> None:
    ctx = _context(app, db)
    flow = await _ok(await client.post("/flows/", json={"name": "kept"}))
    with pytest.raises(Boom):
        async with db.write() as session:
            tx = Tx(ctx, session, True)
            await flows.create_flow(tx, actions.FlowCreate(name="doomed"))
            await flows.delete_flow(tx, uuid.UUID(flow["id"]))
            raise Boom
    assert await names(db, "prefect.flow.") == ["prefect.flow.created"]
    assert (await client.get(f"/flows/{flow['id']}")).status_code == 200
    assert (await client.get("/flows/name/doomed")).status_code == 404


# --- artifacts ---------------------------------------------------------------------------


async def _artifact(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    artifact: dict[str, Any] = await _ok(await client.post("/artifacts/", json=fields))
    await asyncio.sleep(0.002)  # distinct creation times, so "latest" is well defined
    return artifact


async def test_artifacts_and_their_collections_tell_of_their_changes(
    client: httpx.AsyncClient, db: Database
) -> None:
    first = await _artifact(
        client, key="report", type="markdown", data="v1", description="d",
        flow_run_id="00000000-0000-0000-0000-000000000001",
    )  # fmt: skip
    created = await only(db, "prefect.artifact.created")
    assert created.resource == {
        "prefect.resource.id": f"prefect.artifact.{first['id']}",
        "prefect.resource.name": "report",
    }
    assert related_ids(created) == {
        "flow-run": "prefect.flow-run.00000000-0000-0000-0000-000000000001"
    }
    collection = await only(db, "prefect.artifact-collection.created")
    collection_id = collection.resource["prefect.resource.id"]
    assert collection.resource["prefect.resource.name"] == "report"
    assert related_ids(collection)["latest"] == f"prefect.artifact.{first['id']}"
    assert payload(collection) == {
        "key": "report", "type": "markdown", "data": "v1", "description": "d",
    }  # fmt: skip
    # The collection's id is the one the API shows, and it stays when the latest changes.
    listed = await _ok(await client.post("/artifacts/latest/filter", json={}))
    assert collection_id == f"prefect.artifact-collection.{listed[0]['id']}"

    second = await _artifact(client, key="report", type="markdown", data="v2")
    (newer,) = await stored(db, "prefect.artifact-collection.updated")
    assert newer.resource["prefect.resource.id"] == collection_id
    assert related_ids(newer)["latest"] == f"prefect.artifact.{second['id']}"
    assert payload(newer)["data"] == "v2"

    # Changing the latest changes the collection; changing an older one does not.
    await _ok(await client.patch(f"/artifacts/{second['id']}", json={"data": "v2b"}))
    await _ok(await client.patch(f"/artifacts/{first['id']}", json={"data": "v1b"}))
    changed = await stored(db, "prefect.artifact.updated")
    assert [(e.resource["prefect.resource.id"], payload(e)["updated_fields"]) for e in changed] == [
        (f"prefect.artifact.{second['id']}", ["data"]),
        (f"prefect.artifact.{first['id']}", ["data"]),
    ]
    collection_updates = await stored(db, "prefect.artifact-collection.updated")
    assert [payload(e)["data"] for e in collection_updates] == ["v2", "v2b"]

    # Deleting the latest makes the previous one the latest; deleting the last, none.
    await _ok(await client.delete(f"/artifacts/{second['id']}"))
    repointed = (await stored(db, "prefect.artifact-collection.updated"))[-1]
    assert related_ids(repointed)["latest"] == f"prefect.artifact.{first['id']}"
    assert payload(repointed)["data"] == "v1b"
    await _ok(await client.delete(f"/artifacts/{first['id']}"))
    gone = await only(db, "prefect.artifact-collection.deleted")
    assert gone.resource["prefect.resource.id"] == collection_id
    assert payload(gone) == {"key": "report", "type": "markdown"}

    # An artifact without a key has no collection.
    plain = await _artifact(client, type="markdown", data="x")
    assert (await stored(db, "prefect.artifact.created"))[-1].resource == {
        "prefect.resource.id": f"prefect.artifact.{plain['id']}"
    }
    await _ok(await client.delete(f"/artifacts/{plain['id']}"))
    assert await names(db, "prefect.artifact-collection.") == [
        "prefect.artifact-collection.created",
        "prefect.artifact-collection.updated",
        "prefect.artifact-collection.updated",
        "prefect.artifact-collection.updated",
        "prefect.artifact-collection.deleted",
    ]


async def test_a_rolled_back_artifact_stores_no_event(
    app: FastAPI, client: httpx.AsyncClient, db: Database
) -> None:
    ctx = _context(app, db)
    with pytest.raises(Boom):
        async with db.write() as session:
            await artifacts.create_artifact(
                Tx(ctx, session, True), actions.ArtifactCreate(key="doomed", data=1)
            )
            raise Boom
    assert await names(db, "prefect.artifact") == []
    assert (await client.get("/artifacts/doomed/latest")).status_code == 404
