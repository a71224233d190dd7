"""/block_documents: create, read (masked or with secrets), filter, count, update, delete;
secrets encrypted at rest; nested documents; what depends on a document."""

from __future__ import annotations

import stat
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet
from fastapi import FastAPI

from flowyard.server.app import create_app
from flowyard.server.database.engine import Database
from flowyard.settings import Settings

WAREHOUSE = {
    "title": "Warehouse",
    "type": "object",
    "properties": {
        "host": {"type": "string"},
        "port": {"type": "integer", "default": 5432},
        "password": {"type": "string", "format": "password", "writeOnly": True},
        "options": {"type": "object"},
        "mode": {"enum": ["ro", "rw"], "type": "string"},
    },
    "required": ["host", "password"],
    "secret_fields": ["password", "options.*"],
}
PIPELINE = {
    "title": "Pipeline",
    "type": "object",
    "properties": {"source": {"$ref": "#/definitions/Warehouse"}, "label": {"type": "string"}},
    "definitions": {"Warehouse": {"block_type_slug": "warehouse", "type": "object"}},
    "secret_fields": ["source.password"],
}


async def register(client: httpx.AsyncClient, slug: str, fields: dict[str, Any]) -> dict:
    block_type = (
        await client.post("/block_types/", json={"name": slug.title(), "slug": slug})
    ).json()
    schema = (
        await client.post(
            "/block_schemas/", json={"fields": fields, "block_type_id": block_type["id"]}
        )
    ).json()
    return {"block_type_id": block_type["id"], "block_schema_id": schema["id"]}


async def secret_ids(client: httpx.AsyncClient) -> dict:
    block_type = (await client.get("/block_types/slug/secret")).json()
    schemas = await client.post(
        "/block_schemas/filter",
        json={"block_schemas": {"block_type_id": {"any_": [block_type["id"]]}}},
    )
    return {"block_type_id": block_type["id"], "block_schema_id": schemas.json()[0]["id"]}


async def test_secret_values_are_masked_unless_asked_for(client: httpx.AsyncClient) -> None:
    ids = await register(client, "warehouse", WAREHOUSE)
    data = {"host": "db.internal", "password": "hunter2", "options": {"token": "t0k"}}
    created = await client.post("/block_documents/", json={"name": "prod", "data": data, **ids})
    assert created.status_code == 201, created.text
    document = created.json()
    assert document["data"] == {
        "host": "db.internal",
        "password": "********",
        "options": {"token": "********"},
    }
    assert document["block_type"]["slug"] == "warehouse"
    assert document["block_schema"]["fields"]["secret_fields"] == ["password", "options.*"]
    assert document["block_type_name"] == "Warehouse" and document["is_anonymous"] is False
    masked = (await client.get(f"/block_documents/{document['id']}")).json()
    assert masked["data"]["password"] == "********"
    clear = await client.get(
        f"/block_documents/{document['id']}", params={"include_secrets": "true"}
    )
    assert clear.json()["data"] == data
    by_name = await client.get(
        "/block_types/slug/warehouse/block_documents/name/prod",
        params={"include_secrets": True},
    )
    assert by_name.json()["data"] == data
    listed = (await client.get("/block_types/slug/warehouse/block_documents")).json()
    assert [d["name"] for d in listed] == ["prod"] and listed[0]["data"]["password"] == "********"
    filtered = await client.post("/block_documents/filter", json={"include_secrets": True})
    assert [d["data"] for d in filtered.json()] == [data]


async def test_secrets_are_encrypted_at_rest_with_a_key_outside_the_database(
    client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    ids = await secret_ids(client)
    created = await client.post(
        "/block_documents/", json={"name": "api-key", "data": {"value": "pl41ntext-s3cr3t"}, **ids}
    )
    assert created.status_code == 201, created.text
    async with db.read() as session:
        raw = (await session.execute(sa.text("SELECT data, name FROM block_document"))).all()
        dump = str(raw)
    assert raw and "pl41ntext-s3cr3t" not in dump
    key_file = Path(settings.home) / "encryption.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    stored = Fernet(key_file.read_bytes()).decrypt(raw[0][0].encode())
    assert b"pl41ntext-s3cr3t" in stored
    # The key is not in the database either.
    key = key_file.read_bytes().decode().strip()
    async with db.read() as session:
        for table in ("configuration", "block_document", "block_schema", "block_type"):
            rows = (await session.execute(sa.text(f"SELECT * FROM {table}"))).all()
            assert key not in str(rows)


async def test_encryption_key_setting_overrides_the_key_file(
    settings: Settings, database_url: str
) -> None:
    key = Fernet.generate_key().decode()
    keyed = Settings(home=settings.home, database_url=database_url, server_encryption_key=key)
    db = Database(keyed.resolved_database_url)
    app: FastAPI = create_app(keyed, database=db, services=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        base_url = "http://127.0.0.1/api"
        async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
            ids = await secret_ids(client)
            response = await client.post(
                "/block_documents/", json={"name": "k", "data": {"value": "v"}, **ids}
            )
            assert response.status_code == 201
        async with db.read() as session:
            token = await session.scalar(sa.text("SELECT data FROM block_document"))
    await db.dispose()
    assert Fernet(key.encode()).decrypt(token.encode()) == b'{"value":"v"}'
    assert not (Path(settings.home) / "encryption.key").exists()


async def test_bad_input_names_the_field_and_stores_nothing(client: httpx.AsyncClient) -> None:
    ids = await register(client, "warehouse", WAREHOUSE)
    cases = [
        ({"name": "a", "data": {"host": "h"}, **ids}, 422, "data.password"),
        ({"name": "a", "data": {"host": 5, "password": "p"}, **ids}, 422, "data.host"),
        (
            {"name": "a", "data": {"host": "h", "password": "p", "port": "x"}, **ids},
            422,
            "data.port",
        ),
        (
            {"name": "a", "data": {"host": "h", "password": "p", "mode": "xx"}, **ids},
            422,
            "data.mode",
        ),
        ({"data": {"host": "h", "password": "p"}, **ids}, 422, "name"),
        ({"name": "a/b", "data": {}, **ids}, 422, "name"),
        (
            {"name": "a", "data": {}, **dict(ids, block_type_id=str(uuid.uuid4()))},
            404,
            "block_type_id",
        ),
        (
            {"name": "a", "data": {}, **dict(ids, block_schema_id=str(uuid.uuid4()))},
            404,
            "block_schema_id",
        ),
    ]
    for body, status, field in cases:
        response = await client.post("/block_documents/", json=body)
        assert response.status_code == status, (body, response.text)
        assert field in response.json()["detail"], (field, response.json())
    secret = await secret_ids(client)
    mixed = await client.post(
        "/block_documents/",
        json={
            "name": "x",
            "data": {"value": "v"},
            "block_type_id": ids["block_type_id"],
            "block_schema_id": secret["block_schema_id"],
        },
    )
    assert mixed.status_code == 422 and "block_schema_id" in mixed.json()["detail"]
    assert (await client.post("/block_documents/count", json={})).json() == 0
    good = {"name": "a", "data": {"host": "h", "password": "p"}, **ids}
    assert (await client.post("/block_documents/", json=good)).status_code == 201
    duplicate = await client.post("/block_documents/", json=good)
    assert duplicate.status_code == 409 and "'a'" in duplicate.json()["detail"]
    unknown = await client.get("/block_types/slug/nope/block_documents/name/a")
    assert unknown.status_code == 404 and "nope" in unknown.json()["detail"]
    assert (await client.get("/block_types/slug/nope/block_documents")).status_code == 404
    missing = await client.get("/block_types/slug/warehouse/block_documents/name/zzz")
    assert missing.status_code == 404


async def test_update_merges_or_replaces_and_keeps_masked_secrets(
    client: httpx.AsyncClient,
) -> None:
    ids = await register(client, "warehouse", WAREHOUSE)
    document = (
        await client.post(
            "/block_documents/",
            json={"name": "prod", "data": {"host": "a", "password": "pw", "port": 1}, **ids},
        )
    ).json()
    url = f"/block_documents/{document['id']}"

    async def data() -> dict:
        return (await client.get(url, params={"include_secrets": True})).json()["data"]

    assert (await client.patch(url, json={"data": {"host": "b"}})).status_code == 204
    assert await data() == {"host": "b", "password": "pw", "port": 1}
    # A client echoing the masked value it read keeps the stored secret.
    echoed = {"host": "c", "password": "********"}
    assert (
        await client.patch(url, json={"data": echoed, "merge_existing_data": False})
    ).status_code == 204
    assert await data() == {"host": "c", "password": "pw"}
    bad = await client.patch(url, json={"data": {"port": "nine"}})
    assert bad.status_code == 422 and "data.port" in bad.json()["detail"]
    replaced_without_required = await client.patch(
        url, json={"data": {"host": "d"}, "merge_existing_data": False}
    )
    assert replaced_without_required.status_code == 422
    assert await data() == {"host": "c", "password": "pw"}
    assert (await client.patch(f"/block_documents/{uuid.uuid4()}", json={})).status_code == 404


async def test_anonymous_documents_filter_count_and_sort(client: httpx.AsyncClient) -> None:
    ids = await register(client, "warehouse", WAREHOUSE)
    secret = await secret_ids(client)
    for name in ("b", "a", "c"):
        await client.post(
            "/block_documents/",
            json={"name": name, "data": {"host": name, "password": "p"}, **ids},
        )
    await client.post("/block_documents/", json={"name": "s", "data": {"value": "x"}, **secret})
    anonymous = await client.post(
        "/block_documents/", json={"data": {"value": "y"}, "is_anonymous": True, **secret}
    )
    assert anonymous.status_code == 201 and anonymous.json()["name"].startswith("anonymous-")
    names = [d["name"] for d in (await client.post("/block_documents/filter", json={})).json()]
    assert names == ["a", "b", "c", "s"]
    desc = await client.post("/block_documents/filter", json={"sort": "NAME_DESC", "limit": 2})
    assert [d["name"] for d in desc.json()] == ["s", "c"]
    by_type = await client.post("/block_documents/filter", json={"sort": "BLOCK_TYPE_AND_NAME_ASC"})
    assert [d["name"] for d in by_type.json()] == ["s", "a", "b", "c"]  # Secret < Warehouse
    only_anonymous = await client.post(
        "/block_documents/filter", json={"block_documents": {"is_anonymous": {"eq_": True}}}
    )
    assert [d["id"] for d in only_anonymous.json()] == [anonymous.json()["id"]]
    everything = await client.post(
        "/block_documents/count", json={"block_documents": {"is_anonymous": None}}
    )
    assert everything.json() == 5
    assert (await client.post("/block_documents/count", json={})).json() == 4
    of_type = await client.post(
        "/block_documents/count", json={"block_types": {"slug": {"any_": ["warehouse"]}}}
    )
    assert of_type.json() == 3
    liked = await client.post(
        "/block_documents/filter",
        json={
            "block_documents": {
                "name": {"like_": "b"},
                "block_type_id": {"any_": [ids["block_type_id"]]},
            }
        },
    )
    assert [d["name"] for d in liked.json()] == ["b"]
    # What the official `prefect block ls` sends.
    cli = await client.post(
        "/block_documents/filter",
        json={"block_schema_type": None, "offset": None, "limit": None, "include_secrets": True},
    )
    assert cli.status_code == 200 and len(cli.json()) == 4


async def test_nested_documents_round_trip_and_protect_what_they_use(
    client: httpx.AsyncClient,
) -> None:
    warehouse = await register(client, "warehouse", WAREHOUSE)
    pipeline = await register(client, "pipeline", PIPELINE)
    source = (
        await client.post(
            "/block_documents/",
            json={"name": "src", "data": {"host": "h", "password": "pw"}, **warehouse},
        )
    ).json()
    ref = {"$ref": {"block_document_id": source["id"]}}
    parent = await client.post(
        "/block_documents/",
        json={"name": "etl", "data": {"source": ref, "label": "nightly"}, **pipeline},
    )
    assert parent.status_code == 201, parent.text
    read = await client.get(
        f"/block_documents/{parent.json()['id']}", params={"include_secrets": True}
    )
    body = read.json()
    assert body["data"] == {"source": {"host": "h", "password": "pw"}, "label": "nightly"}
    reference = body["block_document_references"]["source"]["block_document"]
    assert reference["id"] == source["id"] and reference["name"] == "src"
    assert reference["block_type"]["slug"] == "warehouse"
    masked = (await client.get(f"/block_documents/{parent.json()['id']}")).json()
    assert masked["data"]["source"]["password"] == "********"
    refused = await client.delete(f"/block_documents/{source['id']}")
    assert refused.status_code == 409
    assert "pipeline/etl" in refused.json()["detail"]
    assert (await client.get(f"/block_documents/{source['id']}")).status_code == 200
    type_refused = await client.delete(f"/block_types/{warehouse['block_type_id']}")
    assert type_refused.status_code == 409
    missing = await client.post(
        "/block_documents/",
        json={
            "name": "x",
            "data": {"source": {"$ref": {"block_document_id": str(uuid.uuid4())}}},
            **pipeline,
        },
    )
    assert missing.status_code == 422 and "data.source" in missing.json()["detail"]
    # Deleting the parent's whole type takes its references along; then the source is free.
    assert (await client.delete(f"/block_types/{pipeline['block_type_id']}")).status_code == 204
    assert (await client.get(f"/block_documents/{parent.json()['id']}")).status_code == 404
    assert (await client.delete(f"/block_documents/{source['id']}")).status_code == 204
    assert (await client.delete(f"/block_documents/{source['id']}")).status_code == 404


async def test_block_routes_serve_any_workspace(client: httpx.AsyncClient, app: FastAPI) -> None:
    account, workspace = app.state.default_account_id, app.state.default_workspace_id
    prefix = f"/accounts/{account}/workspaces/{workspace}"
    ids = await secret_ids(client)
    await client.post("/block_documents/", json={"name": "w", "data": {"value": "v"}, **ids})
    listed = await client.get(f"{prefix}/block_types/slug/secret/block_documents")
    assert [d["name"] for d in listed.json()] == ["w"]


@pytest.mark.parametrize(
    "slug",
    [
        "secret",
        "json",
        "string",
        "date-time",
        "webhook",
        "local-file-system",
        "email-server-credentials",
    ],
)
async def test_each_built_in_has_one_schema(client: httpx.AsyncClient, slug: str) -> None:
    block_type = (await client.get(f"/block_types/slug/{slug}")).json()
    schemas = await client.post(
        "/block_schemas/filter",
        json={"block_schemas": {"block_type_id": {"any_": [block_type["id"]]}}},
    )
    assert len(schemas.json()) == 1
    assert schemas.json()[0]["fields"]["block_type_slug"] == slug


async def test_a_block_used_by_a_deployment_cannot_be_deleted(
    client: httpx.AsyncClient, db: Database, app: FastAPI
) -> None:
    from flowyard.server.database import orm

    ids = await secret_ids(client)
    storage = (
        await client.post("/block_documents/", json={"name": "st", "data": {"value": "a"}, **ids})
    ).json()
    infra = (
        await client.post("/block_documents/", json={"name": "in", "data": {"value": "b"}, **ids})
    ).json()
    flow = (await client.post("/flows/", json={"name": "etl"})).json()
    deployment = orm.Base.metadata.tables["deployment"]
    async with db.write() as session:
        for name, column, document in (
            ("nightly", "storage_document_id", storage),
            ("hourly", "infrastructure_document_id", infra),
        ):
            await session.execute(
                sa.insert(deployment).values(
                    workspace_id=app.state.default_workspace_id,
                    flow_id=uuid.UUID(flow["id"]),
                    name=name,
                    **{column: uuid.UUID(document["id"])},
                )
            )
    for document, name in ((storage, "nightly"), (infra, "hourly")):
        refused = await client.delete(f"/block_documents/{document['id']}")
        assert refused.status_code == 409, refused.text
        assert f"deployment '{name}'" in refused.json()["detail"]
        assert (await client.get(f"/block_documents/{document['id']}")).status_code == 200
    async with db.write() as session:
        await session.execute(sa.delete(deployment))
    assert (await client.delete(f"/block_documents/{storage['id']}")).status_code == 204


async def test_a_block_named_by_a_deployments_pull_step_cannot_be_deleted(
    client: httpx.AsyncClient,
) -> None:
    ids = await secret_ids(client)
    names = ("gh-token", "gh-token-2", "other")
    documents = {
        name: (
            await client.post(
                "/block_documents/", json={"name": name, "data": {"value": "t"}, **ids}
            )
        ).json()
        for name in names
    }
    flow = (await client.post("/flows/", json={"name": "etl"})).json()
    clone = {
        "prefect.deployments.steps.git_clone": {
            "repository": "https://example.com/private.git",
            "access_token": "{{ prefect.blocks.secret.gh-token }}",
        }
    }
    body = {"name": "private", "flow_id": flow["id"], "pull_steps": [clone]}
    created = await client.post("/deployments/", json=body)
    assert created.status_code in (200, 201), created.text
    refused = await client.delete(f"/block_documents/{documents['gh-token']['id']}")
    assert refused.status_code == 409, refused.text
    assert "deployment 'private'" in refused.json()["detail"]
    # Only the block the placeholder names: a longer name and another block go.
    for name in ("gh-token-2", "other"):
        deleted = await client.delete(f"/block_documents/{documents[name]['id']}")
        assert deleted.status_code == 204, deleted.text
    await client.delete(f"/deployments/{created.json()['id']}")
    assert (await client.delete(f"/block_documents/{documents['gh-token']['id']}")).is_success


async def test_a_bad_or_changed_key_is_a_clear_error(settings: Settings, database_url: str) -> None:
    async def run(key: str, create: bool) -> httpx.Response:
        keyed = Settings(home=settings.home, database_url=database_url, server_encryption_key=key)
        db = Database(keyed.resolved_database_url)
        app: FastAPI = create_app(keyed, database=db, services=False)
        try:
            async with app.router.lifespan_context(app):
                transport = httpx.ASGITransport(app=app)
                base_url = "http://127.0.0.1/api"
                async with httpx.AsyncClient(transport=transport, base_url=base_url) as c:
                    if create:
                        ids = await secret_ids(c)
                        return await c.post(
                            "/block_documents/", json={"name": "k", "data": {"value": "v"}, **ids}
                        )
                    return await c.get("/block_types/slug/secret/block_documents/name/k")
        finally:
            await db.dispose()

    bad = await run("not-a-fernet-key", create=True)
    assert bad.status_code == 500 and "FLOWYARD_SERVER_ENCRYPTION_KEY" in bad.json()["detail"]
    assert (await run(Fernet.generate_key().decode(), create=True)).status_code == 201
    other = await run(Fernet.generate_key().decode(), create=False)
    assert other.status_code == 500 and "cannot be decrypted" in other.json()["detail"]
