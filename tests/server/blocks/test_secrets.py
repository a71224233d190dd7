"""Secret fields on a read-modify-write (``server/blocks/secrets.py``, through the API).

A client that reads a document gets every secret as ``********``; when it saves the data
back, each ``********`` must become the stored secret *of that same place* in the data,
never another secret's value. Wildcards make that easy to get wrong: ``headers.*`` names
every key of ``headers``, ``servers.*.password`` the password of every server, and a path
through a list names that field in every item. (Planted bug "a wildcard secret restored from
the wrong key": :func:`test_a_masked_save_restores_each_secret_from_its_own_place` fails.)
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

FIELDS = {
    "title": "Gateway",
    "type": "object",
    "properties": {
        "headers": {"type": "object"},
        "servers": {"type": "object"},
        "replicas": {"type": "array", "items": {"type": "object"}},
        "label": {"type": "string"},
    },
    "secret_fields": ["headers.*", "servers.*.password", "replicas.password"],
}
DATA = {
    "headers": {"authorization": "Bearer one", "x-api-key": "key-two"},
    "servers": {
        "east": {"host": "e.example", "password": "east-secret"},
        "west": {"host": "w.example", "password": "west-secret"},
    },
    "replicas": [{"password": "replica-0"}, {"password": "replica-1"}],
    "label": "gw",
}
MASK = "********"


async def _document(client: httpx.AsyncClient) -> str:
    block_type = (await client.post("/block_types/", json={"name": "Gw", "slug": "gw"})).json()
    schema = await client.post(
        "/block_schemas/", json={"fields": FIELDS, "block_type_id": block_type["id"]}
    )
    created = await client.post(
        "/block_documents/",
        json={
            "name": "gw",
            "data": DATA,
            "block_type_id": block_type["id"],
            "block_schema_id": schema.json()["id"],
        },
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


async def _stored(client: httpx.AsyncClient, document_id: str) -> dict[str, Any]:
    answer = await client.get(f"/block_documents/{document_id}", params={"include_secrets": "true"})
    data: dict[str, Any] = answer.json()["data"]
    return data


async def test_every_wildcard_secret_is_masked_on_read(client: httpx.AsyncClient) -> None:
    document_id = await _document(client)
    masked = (await client.get(f"/block_documents/{document_id}")).json()["data"]
    assert masked == {
        "headers": {"authorization": MASK, "x-api-key": MASK},
        "servers": {
            "east": {"host": "e.example", "password": MASK},
            "west": {"host": "w.example", "password": MASK},
        },
        "replicas": [{"password": MASK}, {"password": MASK}],
        "label": "gw",
    }


@pytest.mark.parametrize("merge_existing_data", [False, True])
async def test_a_masked_save_restores_each_secret_from_its_own_place(
    client: httpx.AsyncClient, merge_existing_data: bool
) -> None:
    document_id = await _document(client)
    masked = (await client.get(f"/block_documents/{document_id}")).json()["data"]
    masked["label"] = "renamed"  # the edit the client made
    saved = await client.patch(
        f"/block_documents/{document_id}",
        json={"data": masked, "merge_existing_data": merge_existing_data},
    )
    assert saved.status_code == 204, saved.text
    assert await _stored(client, document_id) == {**DATA, "label": "renamed"}


async def test_a_new_value_beside_masked_ones_is_kept(client: httpx.AsyncClient) -> None:
    document_id = await _document(client)
    masked = (await client.get(f"/block_documents/{document_id}")).json()["data"]
    masked["servers"]["west"]["password"] = "new-west"
    masked["headers"]["x-api-key"] = "new-key"
    masked["headers"]["x-new"] = MASK  # masked, but nothing was stored there: kept as sent
    saved = await client.patch(
        f"/block_documents/{document_id}", json={"data": masked, "merge_existing_data": False}
    )
    assert saved.status_code == 204, saved.text
    stored = await _stored(client, document_id)
    assert stored["servers"]["west"]["password"] == "new-west"
    assert stored["servers"]["east"]["password"] == "east-secret"
    assert stored["headers"] == {
        "authorization": "Bearer one",
        "x-api-key": "new-key",
        "x-new": MASK,
    }
    assert stored["replicas"] == DATA["replicas"]


# Secrets inside lists: each is restored from its own index, at any depth. ``tokens.*`` over
# a list names every item; a list on the way is walked item by item.
LISTED_FIELDS = {
    "title": "Listed",
    "type": "object",
    "properties": {"xs": {"type": "array"}, "tokens": {"type": "array"},
                   "groups": {"type": "array"}, "note": {"type": "string"}},
    "secret_fields": ["xs", "tokens.*", "groups.keys.*", "groups.vault.*.pin"],
}  # fmt: skip
LISTED_DATA = {
    "xs": ["first", "second"],
    "tokens": ["t-0", "t-1", "t-2"],
    "groups": [
        {"keys": ["g0-a", "g0-b"], "vault": {"x": {"pin": "g0-x"}, "y": {"pin": "g0-y"}}},
        {"keys": ["g1-a"], "vault": {"x": {"pin": "g1-x"}}},
    ],
    "note": "n",
}


async def _listed_document(client: httpx.AsyncClient) -> str:
    block_type = (await client.post("/block_types/", json={"name": "L", "slug": "l"})).json()
    schema = await client.post(
        "/block_schemas/", json={"fields": LISTED_FIELDS, "block_type_id": block_type["id"]}
    )
    created = await client.post(
        "/block_documents/",
        json={"name": "l", "data": LISTED_DATA, "block_type_id": block_type["id"],
              "block_schema_id": schema.json()["id"]},
    )  # fmt: skip
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


async def test_secrets_in_lists_are_masked_item_by_item(client: httpx.AsyncClient) -> None:
    document_id = await _listed_document(client)
    masked = (await client.get(f"/block_documents/{document_id}")).json()["data"]
    assert masked == {
        "xs": MASK,
        "tokens": [MASK, MASK, MASK],
        "groups": [
            {"keys": [MASK, MASK], "vault": {"x": {"pin": MASK}, "y": {"pin": MASK}}},
            {"keys": [MASK], "vault": {"x": {"pin": MASK}}},
        ],
        "note": "n",
    }


@pytest.mark.parametrize("merge_existing_data", [False, True])
async def test_a_masked_save_restores_each_listed_secret_from_its_own_index(
    client: httpx.AsyncClient, merge_existing_data: bool
) -> None:
    document_id = await _listed_document(client)
    masked = (await client.get(f"/block_documents/{document_id}")).json()["data"]
    masked["note"] = "edited"
    masked["tokens"][1] = "t-new"  # one item changed, its neighbours sent back masked
    saved = await client.patch(
        f"/block_documents/{document_id}",
        json={"data": masked, "merge_existing_data": merge_existing_data},
    )
    assert saved.status_code == 204, saved.text
    stored = await _stored(client, document_id)
    assert stored == {**LISTED_DATA, "note": "edited", "tokens": ["t-0", "t-new", "t-2"]}
