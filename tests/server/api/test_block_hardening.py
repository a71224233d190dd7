"""Blocks against hostile input: schemas that would hang or crash the check, a schema swap
that would unmask a stored secret, and 422 answers that would repeat secret values."""

from __future__ import annotations

from typing import Any

import httpx

from flowyard.settings import Settings


async def make_type(client: httpx.AsyncClient, slug: str) -> str:
    created = await client.post("/block_types/", json={"name": slug.title(), "slug": slug})
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


async def make_schema(
    client: httpx.AsyncClient, type_id: str, fields: dict[str, Any], version: str = "1"
) -> httpx.Response:
    return await client.post(
        "/block_schemas/", json={"fields": fields, "block_type_id": type_id, "version": version}
    )


async def test_hostile_schemas_are_refused_with_422(client: httpx.AsyncClient) -> None:
    type_id = await make_type(client, "hostile")
    cases = [
        # 2^33 checks before: each anyOf branch refers back to A.
        (
            {
                "type": "object",
                "properties": {"x": {"$ref": "#/definitions/A"}},
                "definitions": {
                    "A": {"anyOf": [{"$ref": "#/definitions/A"}, {"$ref": "#/definitions/A"}]}
                },
            },
            "cyclic",
        ),
        (
            {"type": "object", "properties": {"x": {"type": "string", "pattern": "(a"}}},
            "not a valid regular expression",
        ),
        (
            {"type": "object", "properties": {"x": {"type": "string", "minLength": "many"}}},
            "minLength",
        ),
        (
            {"type": "object", "properties": {"x": {"$ref": "#/definitions/Nowhere"}}},
            "does not resolve",
        ),
    ]
    for number, (fields, reason) in enumerate(cases):
        schema = await make_schema(client, type_id, fields, version=str(number))
        assert schema.status_code == 201, schema.text
        ids = {"block_type_id": type_id, "block_schema_id": schema.json()["id"]}
        refused = await client.post(
            "/block_documents/", json={"name": f"d{number}", "data": {"x": "aaa"}, **ids}
        )
        assert refused.status_code == 422, refused.text
        detail = refused.json()["detail"]
        assert "data.x" in detail and reason in detail, detail
    listed = await client.post("/block_documents/filter", json={})
    assert all(d["block_type"]["slug"] != "hostile" for d in listed.json())


async def secret_type_and_schema(client: httpx.AsyncClient) -> tuple[str, str]:
    block_type = (await client.get("/block_types/slug/secret")).json()
    schemas = await client.post(
        "/block_schemas/filter",
        json={"block_schemas": {"block_type_id": {"any_": [block_type["id"]]}}},
    )
    return block_type["id"], schemas.json()[0]["id"]


async def test_a_schema_swap_does_not_unmask_a_secret(client: httpx.AsyncClient) -> None:
    type_id, schema_id = await secret_type_and_schema(client)
    created = await client.post(
        "/block_documents/",
        json={
            "name": "token",
            "data": {"value": "hunter2"},
            "block_type_id": type_id,
            "block_schema_id": schema_id,
        },
    )
    assert created.status_code == 201, created.text
    document_id = created.json()["id"]
    # The attack: a schema of the protected Secret type that marks nothing secret...
    bare = {"type": "object", "properties": {"value": {}}, "secret_fields": []}
    refused = await make_schema(client, type_id, bare, version="9.9.9")
    assert refused.status_code == 403, refused.text
    assert "'value'" in refused.json()["detail"]
    # ...so the document cannot be moved under it, and a plain read stays masked.
    read = await client.get(f"/block_documents/{document_id}")
    assert read.json()["data"] == {"value": "********"}
    assert "hunter2" not in read.text

    # What the official client registers (its own version of Secret, same secret fields)
    # is still accepted, and a document may move to it.
    official = dict(bare, secret_fields=["value", "value"])
    accepted = await make_schema(client, type_id, official, version="3.9.1")
    assert accepted.status_code == 201, accepted.text
    moved = await client.patch(
        f"/block_documents/{document_id}",
        json={"block_schema_id": accepted.json()["id"], "data": {}},
    )
    assert moved.status_code == 204, moved.text
    read = await client.get(f"/block_documents/{document_id}")
    assert read.json()["data"] == {"value": "********"}


async def test_a_document_cannot_move_to_a_schema_that_masks_less(
    client: httpx.AsyncClient,
) -> None:
    # A user's own type: anyone may add schemas to it, so the guard is on the document.
    type_id = await make_type(client, "vault")
    fields = {"type": "object", "properties": {"key": {"type": "string"}}}
    guarded = await make_schema(client, type_id, dict(fields, secret_fields=["key"]), "1")
    open_ = await make_schema(client, type_id, dict(fields, secret_fields=[]), "2")
    created = await client.post(
        "/block_documents/",
        json={
            "name": "v",
            "data": {"key": "s3cr3t"},
            "block_type_id": type_id,
            "block_schema_id": guarded.json()["id"],
        },
    )
    assert created.status_code == 201, created.text
    document_id = created.json()["id"]
    for merge in (True, False):
        swap = await client.patch(
            f"/block_documents/{document_id}",
            json={
                "block_schema_id": open_.json()["id"],
                "data": {} if merge else {"key": "********"},
                "merge_existing_data": merge,
            },
        )
        assert swap.status_code == 422, swap.text
        assert "block_schema_id" in swap.json()["detail"] and "'key'" in swap.json()["detail"]
    read = await client.get(f"/block_documents/{document_id}")
    assert read.json()["data"] == {"key": "********"}
    assert read.json()["block_schema_id"] == guarded.json()["id"]


async def test_a_refused_request_does_not_repeat_its_secret_values(
    client: httpx.AsyncClient,
) -> None:
    type_id, schema_id = await secret_type_and_schema(client)
    body = {
        "name": "token",
        "data": {"value": "hunter2-create"},
        "block_type_id": type_id,
        "block_schema_id": schema_id,
        "unexpected": True,  # action models forbid extra keys: a 422 from validation
    }
    refused = await client.post("/block_documents/", json=body)
    assert refused.status_code == 422
    assert "unexpected" in refused.json()["detail"]
    assert "hunter2" not in refused.text
    assert refused.json()["request_body"] is None  # the contract's key, without the body

    del body["unexpected"]
    document_id = (await client.post("/block_documents/", json=body)).json()["id"]
    patched = await client.patch(
        f"/block_documents/{document_id}",
        json={"data": {"value": "hunter2-update"}, "merge_existing_data": "not a bool"},
    )
    assert patched.status_code == 422
    assert "merge_existing_data" in patched.json()["detail"]
    assert "hunter2" not in patched.text


def test_settings_never_show_the_encryption_key() -> None:
    key = "c2VjcmV0LWtleS1mb3ItdGVzdHMtb25seS0wMDAwMDA="
    settings = Settings(server_encryption_key=key)
    assert key not in repr(settings) and key not in str(settings)
    assert settings.server_encryption_key is not None
    assert settings.server_encryption_key.get_secret_value() == key
