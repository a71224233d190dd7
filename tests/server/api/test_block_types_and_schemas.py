"""/block_types, /block_schemas and /block_capabilities in the Prefect 3 wire shapes."""

from __future__ import annotations

import uuid

import httpx

from flowyard.schemas.blocks import schema_checksum

BUILT_IN_SLUGS = {
    "secret",
    "json",
    "string",
    "date-time",
    "local-file-system",
    "webhook",
    "email-server-credentials",
}

FIELDS = {
    "title": "Warehouse",
    "type": "object",
    "properties": {
        "host": {"title": "Host", "type": "string"},
        "port": {"title": "Port", "type": "integer", "default": 5432},
        "password": {
            "title": "Password",
            "type": "string",
            "format": "password",
            "writeOnly": True,
        },
    },
    "required": ["host", "password"],
    "secret_fields": ["password"],
    "block_type_slug": "warehouse",
    "block_schema_references": {},
}


async def make_type(client: httpx.AsyncClient, slug: str = "warehouse") -> dict:
    response = await client.post(
        "/block_types/", json={"name": slug.title(), "slug": slug, "description": "A db."}
    )
    assert response.status_code == 201, response.text
    return response.json()


async def test_built_ins_are_registered_protected_with_marked_secret_fields(
    client: httpx.AsyncClient,
) -> None:
    types = (await client.post("/block_types/filter", json={})).json()
    assert {t["slug"] for t in types} >= BUILT_IN_SLUGS
    assert all(t["is_protected"] for t in types if t["slug"] in BUILT_IN_SLUGS)
    secret = (await client.get("/block_types/slug/secret")).json()
    schemas = (
        await client.post(
            "/block_schemas/filter",
            json={"block_schemas": {"block_type_id": {"any_": [secret["id"]]}}},
        )
    ).json()
    assert len(schemas) == 1
    fields = schemas[0]["fields"]
    assert "value" in fields["secret_fields"]
    assert {"format": "password", "type": "string", "writeOnly": True} in fields["properties"][
        "value"
    ]["anyOf"]
    webhook = (await client.get("/block_types/slug/webhook")).json()
    hook_schema = (
        await client.post(
            "/block_schemas/filter",
            json={"block_schemas": {"block_type_id": {"any_": [webhook["id"]]}}},
        )
    ).json()[0]
    assert hook_schema["fields"]["secret_fields"] == ["url", "headers.*"]
    assert hook_schema["fields"]["properties"]["url"]["writeOnly"] is True
    # Registration is idempotent: asking again adds nothing.
    assert (await client.post("/block_types/install_system_block_types")).status_code == 200
    again = (await client.post("/block_types/filter", json={})).json()
    assert len(again) == len(types)


async def test_block_type_crud_by_id_and_slug(client: httpx.AsyncClient) -> None:
    created = await make_type(client)
    assert created["is_protected"] is False and created["description"] == "A db."
    assert (await client.get(f"/block_types/{created['id']}")).json()["slug"] == "warehouse"
    assert (await client.get("/block_types/slug/warehouse")).json()["id"] == created["id"]
    duplicate = await client.post("/block_types/", json={"name": "Other", "slug": "warehouse"})
    assert duplicate.status_code == 409
    patched = await client.patch(
        f"/block_types/{created['id']}", json={"description": "Our warehouse."}
    )
    assert patched.status_code == 204
    assert (await client.get("/block_types/slug/warehouse")).json()["description"] == (
        "Our warehouse."
    )
    found = await client.post(
        "/block_types/filter", json={"block_types": {"name": {"like_": "wareh"}}}
    )
    assert [t["slug"] for t in found.json()] == ["warehouse"]
    by_slug = await client.post(
        "/block_types/filter", json={"block_types": {"slug": {"any_": ["secret", "warehouse"]}}}
    )
    assert {t["slug"] for t in by_slug.json()} == {"secret", "warehouse"}
    assert (await client.delete(f"/block_types/{created['id']}")).status_code == 204
    assert (await client.get("/block_types/slug/warehouse")).status_code == 404
    assert (await client.get(f"/block_types/{uuid.uuid4()}")).status_code == 404


async def test_protected_types_cannot_be_deleted_or_changed(client: httpx.AsyncClient) -> None:
    secret = (await client.get("/block_types/slug/secret")).json()
    refused = await client.delete(f"/block_types/{secret['id']}")
    assert refused.status_code == 403 and "secret" in refused.json()["detail"]
    # A PATCH is answered (the official client sends one on every save) but changes nothing.
    patch = await client.patch(f"/block_types/{secret['id']}", json={"description": "hacked"})
    assert patch.status_code == 204
    assert (await client.get("/block_types/slug/secret")).json() == secret
    schema = (await client.get("/block_types/slug/secret")).json()
    schemas = (
        await client.post(
            "/block_schemas/filter",
            json={"block_schemas": {"block_type_id": {"any_": [schema["id"]]}}},
        )
    ).json()
    assert (await client.delete(f"/block_schemas/{schemas[0]['id']}")).status_code == 403


async def test_block_type_bad_input_names_the_field(client: httpx.AsyncClient) -> None:
    bad_name = await client.post("/block_types/", json={"name": "a/b", "slug": "ab"})
    assert bad_name.status_code == 422 and "name" in bad_name.json()["detail"]
    no_slug = await client.post("/block_types/", json={"name": "X"})
    assert no_slug.status_code == 422 and "slug" in no_slug.json()["detail"]
    assert (await client.get("/block_types/slug/no-such-type")).status_code == 404


async def test_block_schema_checksum_create_read_and_delete(client: httpx.AsyncClient) -> None:
    block_type = await make_type(client)
    body = {"fields": FIELDS, "block_type_id": block_type["id"], "capabilities": ["read-db"]}
    created = await client.post("/block_schemas/", json=body)
    assert created.status_code == 201, created.text
    schema = created.json()
    assert schema["checksum"] == schema_checksum(FIELDS)
    assert schema["checksum"].startswith("sha256:") and len(schema["checksum"]) == 71
    assert schema["version"] == "non-versioned" and schema["block_type"]["slug"] == "warehouse"
    # The checksum ignores secret_fields, and the same fields again is the same schema (200).
    same = await client.post("/block_schemas/", json=body)
    assert same.status_code == 200 and same.json()["id"] == schema["id"]
    relabelled = dict(FIELDS, secret_fields=[])
    assert schema_checksum(relabelled) == schema["checksum"]
    assert (await client.get(f"/block_schemas/{schema['id']}")).json()["fields"] == FIELDS
    by_checksum = await client.get(f"/block_schemas/checksum/{schema['checksum']}")
    assert by_checksum.json()["id"] == schema["id"]
    versioned = await client.get(
        f"/block_schemas/checksum/{schema['checksum']}", params={"version": "9.9"}
    )
    assert versioned.status_code == 404
    v2 = await client.post("/block_schemas/", json=dict(body, version="2.0"))
    assert v2.status_code == 201 and v2.json()["id"] != schema["id"]
    capable = await client.post(
        "/block_schemas/filter",
        json={"block_schemas": {"block_capabilities": {"all_": ["read-db"]}}},
    )
    assert {s["id"] for s in capable.json()} == {schema["id"], v2.json()["id"]}
    versions = await client.post(
        "/block_schemas/filter", json={"block_schemas": {"version": {"any_": ["2.0"]}}}
    )
    assert [s["id"] for s in versions.json()] == [v2.json()["id"]]
    assert "read-db" in (await client.get("/block_capabilities/")).json()
    types = await client.post(
        "/block_types/filter",
        json={"block_schemas": {"block_capabilities": {"all_": ["read-db"]}}},
    )
    assert [t["slug"] for t in types.json()] == ["warehouse"]
    assert (await client.delete(f"/block_schemas/{v2.json()['id']}")).status_code == 204
    assert (await client.get(f"/block_schemas/{v2.json()['id']}")).status_code == 404


async def test_block_schema_for_unknown_type_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/block_schemas/", json={"fields": FIELDS, "block_type_id": str(uuid.uuid4())}
    )
    assert response.status_code == 404 and "block_type_id" in response.json()["detail"]
    count = await client.post("/block_schemas/filter", json={})
    assert all(s["fields"].get("title") != "Warehouse" for s in count.json())


async def test_schema_with_documents_cannot_be_deleted(client: httpx.AsyncClient) -> None:
    block_type = await make_type(client)
    schema = (
        await client.post(
            "/block_schemas/", json={"fields": FIELDS, "block_type_id": block_type["id"]}
        )
    ).json()
    document = await client.post(
        "/block_documents/",
        json={
            "name": "prod",
            "data": {"host": "db", "password": "pw"},
            "block_schema_id": schema["id"],
            "block_type_id": block_type["id"],
        },
    )
    assert document.status_code == 201, document.text
    refused = await client.delete(f"/block_schemas/{schema['id']}")
    assert refused.status_code == 409 and "prod" in refused.json()["detail"]
    assert (await client.get(f"/block_schemas/{schema['id']}")).status_code == 200
