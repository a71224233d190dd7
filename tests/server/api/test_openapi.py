"""The published OpenAPI document describes every answer, as the Prefect contract does.

Compared with the contract document (``shared/reference/prefect-openapi.json``, beside the
repository): every operation served under both prefixes declares the JSON schema of its
answer, of the same kind (object with the contract's properties, array of such, string,
boolean, ...), and answers without a body declare none.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import httpx
import pytest

from flowyard.server.app import WORKSPACE_PREFIX

CONTRACT = Path(
    os.environ.get(
        "FLOWYARD_CONTRACT_OPENAPI",
        Path(__file__).resolve().parents[4] / "shared" / "reference" / "prefect-openapi.json",
    )
)
METHODS = ("get", "post", "put", "patch", "delete")
PREFIXES = ("/api", WORKSPACE_PREFIX)

# Operations whose answer is knowingly not the contract's shape, and why. The test fails
# when one of them comes to match, so that this list only ever shrinks.
KNOWN_SHAPE_GAPS = {
    # Prefect answers its whole Settings object; ours answers two harmless values on
    # purpose (no database URL, no secret, nothing about the host).
    ("get", "/admin/settings"),
}


@pytest.fixture(scope="module")
def contract() -> dict[str, Any]:
    assert CONTRACT.is_file(), f"the contract document is not at {CONTRACT}"
    document: dict[str, Any] = json.loads(CONTRACT.read_text())
    return document


@pytest.fixture
async def ours(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method, path): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    }


def success_schemas(operation: dict[str, Any]) -> dict[str, dict[str, Any] | None]:
    """Each 2xx status and its JSON schema (None: the answer has no JSON body)."""
    found: dict[str, dict[str, Any] | None] = {}
    for status, response in operation.get("responses", {}).items():
        if status.startswith("2"):
            content = response.get("content", {})
            found[status] = content["application/json"].get("schema") if content else None
    return found


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def shape(document: dict[str, Any], schema: dict[str, Any]) -> tuple[Any, ...]:
    """What a client relies on: the kind of value, and the properties of objects."""
    schema = resolve(document, schema)
    if not schema:
        return ("any",)
    if "anyOf" in schema:
        alternatives = [s for s in schema["anyOf"] if resolve(document, s).get("type") != "null"]
        if len(alternatives) == 1:
            return ("optional", *shape(document, alternatives[0]))
        return ("union", len(alternatives))
    kind = schema.get("type")
    if kind == "array":
        return ("array", *shape(document, schema.get("items", {})))
    if kind == "object" or "properties" in schema:
        return ("object", frozenset(schema.get("properties", {})))
    return (kind,)


def same_kind(ours: tuple[Any, ...], theirs: tuple[Any, ...]) -> bool:
    """Same kind of value, and at least the contract's properties at each object."""
    if len(ours) != len(theirs):
        return False
    for mine, contract in zip(ours, theirs, strict=True):
        if isinstance(contract, frozenset):
            if not (isinstance(mine, frozenset) and contract <= mine):
                return False
        elif mine != contract:
            return False
    return True


async def test_no_json_answer_is_declared_as_a_bare_string(
    ours: dict[str, Any], contract: dict[str, Any]
) -> None:
    theirs = operations(contract)
    strings = []
    for (method, path), operation in operations(ours).items():
        unprefixed = next((path[len(p) :] for p in PREFIXES if path.startswith(p + "/")), path)
        contract_op = theirs.get((method, unprefixed))
        allowed = contract_op is not None and {"type": "string"} in [
            {k: v for k, v in (s or {}).items() if k == "type"}
            for s in success_schemas(contract_op).values()
        ]
        for status, schema in success_schemas(operation).items():
            if schema == {"type": "string"} and not allowed:
                strings.append(f"{method.upper()} {path} {status}")
    assert strings == []


async def test_every_contract_operation_declares_its_answer(
    ours: dict[str, Any], contract: dict[str, Any]
) -> None:
    served = operations(ours)
    missing, wrong, gaps_closed = [], [], []
    compared = 0
    for (method, path), operation in operations(contract).items():
        contract_schemas = [s for s in success_schemas(operation).values() if s is not None]
        for prefix in PREFIXES:
            mine = served.get((method, prefix + path))
            if mine is None:
                continue  # not served yet: the coverage of the contract is tested elsewhere
            compared += 1
            my_schemas = [s for s in success_schemas(mine).values() if s is not None]
            if not contract_schemas:
                # The contract's answer has no body (204): neither has ours.
                if my_schemas:
                    wrong.append(f"{method.upper()} {prefix}{path}: a body where none is")
                continue
            if not my_schemas or any(resolve(ours, s) == {} for s in my_schemas):
                if resolve(contract, contract_schemas[0]) != {}:
                    missing.append(f"{method.upper()} {prefix}{path}")
                continue
            theirs = shape(contract, contract_schemas[0])
            matches = all(same_kind(shape(ours, s), theirs) for s in my_schemas)
            if (method, path) in KNOWN_SHAPE_GAPS:
                if matches:
                    gaps_closed.append(f"{method.upper()} {path}")
            elif not matches:
                wrong.append(f"{method.upper()} {prefix}{path}: not the contract's shape")
    assert compared > 200  # both prefixes of most of the contract's 179 operations
    assert missing == []
    assert wrong == []
    assert gaps_closed == [], "remove these from KNOWN_SHAPE_GAPS"


async def test_answers_without_a_body_declare_none(ours: dict[str, Any]) -> None:
    declared = [
        f"{method.upper()} {path}"
        for (method, path), operation in operations(ours).items()
        if "content" in operation.get("responses", {}).get("204", {})
    ]
    assert declared == []
    no_content = [
        (method, path)
        for (method, path), operation in operations(ours).items()
        if "204" in operation.get("responses", {})
    ]
    assert len(no_content) > 20


async def test_a_route_documents_both_statuses_it_answers(
    client: httpx.AsyncClient, ours: dict[str, Any]
) -> None:
    # Creating a flow answers 201, creating it again 200: both are declared, same model.
    statuses = {
        (await client.post("/flows/", json={"name": "twice"})).status_code,
        (await client.post("/flows/", json={"name": "twice"})).status_code,
    }
    declared = success_schemas(ours["paths"]["/api/flows/"]["post"])
    assert statuses == {200, 201} == {int(s) for s in declared}
    assert {json.dumps(s) for s in declared.values()} == {
        json.dumps({"$ref": "#/components/schemas/Flow"})
    }
