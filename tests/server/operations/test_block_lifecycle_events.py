"""Blocks tell of every change in the transaction that makes it: ``prefect.block-type.*``
and ``prefect.block-document.*``, with the contract's resources; a rolled-back change stores
no event; and no secret value ever reaches an event."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from lifecycle_event_helpers import everything_stored, names, only, payload, related_ids, stored

from flowyard.schemas import blocks as schemas
from flowyard.server.database.engine import Database
from flowyard.server.database.orm_blocks import BlockDocument
from flowyard.server.operations import block_documents, block_types
from flowyard.server.operations.context import RequestContext, Tx
from flowyard.settings import Settings

SECRET = "hunter2-do-not-leak"
NEW_SECRET = "correct-horse-battery"
FIELDS = {
    "title": "Warehouse",
    "type": "object",
    "properties": {
        "host": {"title": "Host", "type": "string"},
        "port": {"title": "Port", "type": "integer", "default": 5432},
        "password": {"title": "Password", "type": "string", "format": "password"},
        "options": {"title": "Options", "type": "object"},
    },
    "required": ["host", "password"],
    "secret_fields": ["password", "options.token"],
    "block_type_slug": "warehouse",
    "block_schema_references": {},
}


class Boom(Exception):
    """Raised inside a transaction to roll it back."""


async def _warehouse(client: httpx.AsyncClient) -> tuple[dict[str, Any], dict[str, Any]]:
    block_type = (
        await client.post("/block_types/", json={"name": "Warehouse", "slug": "warehouse"})
    ).json()
    schema = (
        await client.post(
            "/block_schemas/",
            json={"fields": FIELDS, "block_type_id": block_type["id"], "capabilities": ["x"]},
        )
    ).json()
    return block_type, schema


async def _document(
    client: httpx.AsyncClient, block_type: dict[str, Any], schema: dict[str, Any]
) -> dict[str, Any]:
    response = await client.post(
        "/block_documents/",
        json={
            "name": "main",
            "data": {
                "host": "db.internal",
                "port": 5433,
                "password": SECRET,
                "options": {"token": SECRET, "mode": "ro"},
            },
            "block_type_id": block_type["id"],
            "block_schema_id": schema["id"],
        },
    )
    assert response.status_code == 201, response.text
    document: dict[str, Any] = response.json()
    return document


async def test_a_document_tells_of_its_creation_update_and_deletion_without_secrets(
    client: httpx.AsyncClient, db: Database
) -> None:
    block_type, schema = await _warehouse(client)
    document = await _document(client, block_type, schema)

    created = await only(db, "prefect.block-document.created")
    assert created.resource == {
        "prefect.resource.id": f"prefect.block-document.{document['id']}",
        "prefect.resource.name": "main",
    }
    assert related_ids(created) == {
        "block-type": f"prefect.block-type.{block_type['id']}",
        "block-schema": f"prefect.block-schema.{schema['id']}",
    }
    # Only the top-level strings no secret path touches: not the port (a number), not the
    # password, not the options object (it holds a secret).
    assert payload(created) == {
        "name": "main",
        "data": {"host": "db.internal"},
        "block_schema": {
            "capabilities": ["x"],
            "block_type": {"id": block_type["id"], "name": "Warehouse"},
        },
    }

    update = {"data": {"host": "db2.internal", "password": NEW_SECRET}, "merge_existing_data": True}
    assert (
        await client.patch(f"/block_documents/{document['id']}", json=update)
    ).status_code == 204
    updated = await only(db, "prefect.block-document.updated")
    assert updated.resource["prefect.resource.id"] == f"prefect.block-document.{document['id']}"
    assert payload(updated)["data"] == {"host": "db2.internal"}
    assert payload(updated)["updated_fields"] == ["data"]

    assert (await client.delete(f"/block_documents/{document['id']}")).status_code == 204
    deleted = await only(db, "prefect.block-document.deleted")
    assert deleted.resource["prefect.resource.id"] == f"prefect.block-document.{document['id']}"
    assert "data" not in payload(deleted)

    text = await everything_stored(db)
    assert SECRET not in text and NEW_SECRET not in text


async def test_secrets_of_built_in_blocks_never_reach_an_event(
    client: httpx.AsyncClient, db: Database
) -> None:
    async def ids(slug: str) -> dict[str, str]:
        block_type = (await client.get(f"/block_types/slug/{slug}")).json()
        schemas_ = await client.post(
            "/block_schemas/filter",
            json={"block_schemas": {"block_type_id": {"any_": [block_type["id"]]}}},
        )
        return {"block_type_id": block_type["id"], "block_schema_id": schemas_.json()[0]["id"]}

    secret_url = f"https://hooks.example.com/{SECRET}"
    bodies = [
        {"name": "plain", "data": {"value": SECRET}, **await ids("secret")},
        {"name": "json", "data": {"value": {"nested": SECRET}}, **await ids("secret")},
        {
            "name": "hook",
            "data": {"url": secret_url, "headers": {"Authorization": f"Bearer {SECRET}"}},
            **await ids("webhook"),
        },
    ]
    for body in bodies:
        response = await client.post("/block_documents/", json=body)
        assert response.status_code == 201, response.text
        document = response.json()
        changed = {**body["data"], **({"value": NEW_SECRET} if "value" in body["data"] else {})}
        response = await client.patch(f"/block_documents/{document['id']}", json={"data": changed})
        assert response.status_code == 204, response.text
        assert (await client.delete(f"/block_documents/{document['id']}")).status_code == 204
    assert await names(db, "prefect.block-document.") == [
        f"prefect.block-document.{action}" for _ in bodies
        for action in ("created", "updated", "deleted")
    ]  # fmt: skip
    text = await everything_stored(db)
    assert SECRET not in text and NEW_SECRET not in text


async def test_a_rolled_back_change_stores_no_event(
    app: FastAPI, client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    block_type, schema = await _warehouse(client)
    ctx = RequestContext(db, app.state.default_workspace_id, app.state.default_account_id)
    body = schemas.BlockDocumentCreate(
        name="doomed",
        data={"host": "h", "password": SECRET},
        block_type_id=uuid.UUID(block_type["id"]),
        block_schema_id=uuid.UUID(schema["id"]),
    )
    with pytest.raises(Boom):
        async with db.write() as session:
            await block_documents.create_block_document(Tx(ctx, session, True), settings, body)
            raise Boom
    with pytest.raises(Boom):
        async with db.write() as session:
            tx = Tx(ctx, session, True)
            await block_types.create_block_type(
                tx, schemas.BlockTypeCreate(name="Doomed", slug="doomed")
            )
            raise Boom
    assert await names(db, "prefect.block-document.") == []
    assert "Doomed" not in {e.resource.get("prefect.resource.name") for e in await stored(db)}
    async with db.read() as session:
        assert await session.scalar(sa.select(sa.func.count()).select_from(BlockDocument)) == 0
    assert (await client.get("/block_types/slug/doomed")).status_code == 404
    # ... and the same change committed stores its event.
    async with db.write() as session:
        await block_documents.create_block_document(Tx(ctx, session, True), settings, body)
    assert (await only(db, "prefect.block-document.created")).resource[
        "prefect.resource.name"
    ] == "doomed"


async def test_block_types_tell_of_creation_update_and_deletion(
    client: httpx.AsyncClient, db: Database
) -> None:
    # The built-ins, registered on the first block request, tell of their creation.
    await client.post("/block_types/filter", json={})
    builtins = {e.resource["prefect.resource.name"] for e in await _type_events(db, "created")}
    assert {"Secret", "JSON", "Webhook"} <= builtins
    before = len(await names(db, "prefect.block-type."))

    block_type, schema = await _warehouse(client)
    created = [e for e in await _type_events(db, "created") if e.resource.get(
        "prefect.resource.name") == "Warehouse"]  # fmt: skip
    assert len(created) == 1
    assert created[0].resource["prefect.resource.id"] == f"prefect.block-type.{block_type['id']}"
    assert payload(created[0])["slug"] == "warehouse"
    assert payload(created[0])["is_protected"] is False

    patch = {"description": "Where the data lives."}
    assert (await client.patch(f"/block_types/{block_type['id']}", json=patch)).status_code == 204
    (updated,) = await _type_events(db, "updated")
    assert payload(updated)["description"] == "Where the data lives."
    assert payload(updated)["updated_fields"] == ["description"]
    # The same values again change nothing, and tell nothing.
    assert (await client.patch(f"/block_types/{block_type['id']}", json=patch)).status_code == 204
    assert len(await _type_events(db, "updated")) == 1
    # A built-in is left as it is (the PATCH succeeds): no event either.
    secret = (await client.get("/block_types/slug/secret")).json()
    assert (await client.patch(f"/block_types/{secret['id']}", json=patch)).status_code == 204
    assert len(await _type_events(db, "updated")) == 1

    # Deleting the type deletes its documents, and each tells of it.
    document = await _document(client, block_type, schema)
    assert (await client.delete(f"/block_types/{block_type['id']}")).status_code == 204
    (deleted,) = await _type_events(db, "deleted")
    assert deleted.resource["prefect.resource.id"] == f"prefect.block-type.{block_type['id']}"
    gone = await only(db, "prefect.block-document.deleted")
    assert gone.resource["prefect.resource.id"] == f"prefect.block-document.{document['id']}"
    assert len(await names(db, "prefect.block-type.")) == before + 3
    assert SECRET not in await everything_stored(db)


async def _type_events(db: Database, action: str) -> list[Any]:
    return [e for e in await stored(db, "prefect.block-type.") if e.event.endswith(action)]
