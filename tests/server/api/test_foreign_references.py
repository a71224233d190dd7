"""An object of workspace B may only name B's objects: a create or update whose body names
an id of workspace A (a flow, a deployment, a parent task run, a flow or task run of a log or
an artifact, a block document, a concurrency limit...) is refused -- 404, or 422 for an id
inside a document -- and stores nothing, where the same request naming B's own object works.

The path-named objects are the isolation matrix's (``test_workspace_isolation.py``); this is
the other half, the ids inside request bodies.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI

from flowyard.server.queries import tenancy

VAULT = {
    "type": "object",
    "properties": {"user": {"type": "string"}, "nested": {"type": "object"}},
    "secret_fields": [],
}


async def _ok(response: httpx.Response) -> Any:
    assert response.is_success, f"{response.request.url}: {response.status_code} {response.text}"
    return response.json() if response.content else None


async def _world(client: httpx.AsyncClient, tag: str) -> dict[str, str]:
    """One of each object a body can name, in the client's workspace."""
    w: dict[str, str] = {}
    w["flow"] = (await _ok(await client.post("/flows/", json={"name": f"{tag}-flow"})))["id"]
    w["flow_run"] = (await _ok(await client.post("/flow_runs/", json={"flow_id": w["flow"]})))["id"]
    task_run = {"flow_run_id": w["flow_run"], "task_key": "t", "dynamic_key": "0"}
    w["task_run"] = (await _ok(await client.post("/task_runs/", json=task_run)))["id"]
    deployment = {"name": f"{tag}-deployment", "flow_id": w["flow"]}
    w["deployment"] = (await _ok(await client.post("/deployments/", json=deployment)))["id"]
    block_type = await _ok(
        await client.post("/block_types/", json={"name": f"{tag}-t", "slug": f"{tag}-t"})
    )
    w["block_type"] = block_type["id"]
    # write-path: a document of it may be the default result storage.
    schema = {"fields": VAULT, "block_type_id": w["block_type"], "capabilities": ["write-path"]}
    w["block_schema"] = (await _ok(await client.post("/block_schemas/", json=schema)))["id"]
    document = {"name": f"{tag}-doc", "data": {"user": tag}, "block_type_id": w["block_type"],
                "block_schema_id": w["block_schema"]}  # fmt: skip
    for key in ("block_document", "block_document_2"):
        document = {**document, "name": f"{tag}-{key.replace('_', '-')}"}
        w[key] = (await _ok(await client.post("/block_documents/", json=document)))["id"]
    limit = {"name": f"{tag}-limit", "limit": 2}
    w["limit"] = (await _ok(await client.post("/v2/concurrency_limits/", json=limit)))["id"]
    return w


@dataclass
class Worlds:
    a: httpx.AsyncClient
    b: httpx.AsyncClient
    alpha: dict[str, str]
    beta: dict[str, str]


@pytest_asyncio.fixture
async def worlds(app: FastAPI, client: httpx.AsyncClient) -> AsyncIterator[Worlds]:
    async with app.state.db.write() as session:
        second = await tenancy.create_workspace(
            session, app.state.default_account_id, "Second", "second"
        )
    prefix = f"/api/accounts/{second.account_id}/workspaces/{second.id}"
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=f"http://test{prefix}"
    ) as other:
        yield Worlds(client, other, await _world(client, "alpha"), await _world(other, "beta"))


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


def _uid() -> str:
    return uuid.uuid4().hex[:8]


# Each row: (method, path, body) built from ``named`` -- the workspace whose objects the
# body names (A's in the probe, B's own in the control) -- and ``own``, B's own objects.
Build = Callable[[dict[str, str], dict[str, str]], tuple[str, str, Any]]
ROWS: dict[str, Build] = {
    "flow run: flow_id": lambda n, o: ("POST", "/flow_runs/", {"flow_id": n["flow"]}),
    "flow run: parent_task_run_id": lambda n, o: (
        "POST", "/flow_runs/", {"flow_id": o["flow"], "parent_task_run_id": n["task_run"]}),
    "flow run: deployment_id": lambda n, o: (
        "POST", "/flow_runs/", {"flow_id": o["flow"], "deployment_id": n["deployment"]}),
    "flow run: infrastructure_document_id": lambda n, o: (
        "POST", "/flow_runs/",
        {"flow_id": o["flow"], "infrastructure_document_id": n["block_document"]}),
    "deployment run: parent_task_run_id": lambda n, o: (
        "POST", f"/deployments/{o['deployment']}/create_flow_run",
        {"parent_task_run_id": n["task_run"]}),
    "deployment run: infrastructure_document_id": lambda n, o: (
        "POST", f"/deployments/{o['deployment']}/create_flow_run",
        {"infrastructure_document_id": n["block_document"]}),
    "task run: flow_run_id": lambda n, o: (
        "POST", "/task_runs/", {"flow_run_id": n["flow_run"], "task_key": _uid(),
                                "dynamic_key": "0"}),
    "task run: task_inputs": lambda n, o: (
        "POST", "/task_runs/", {"flow_run_id": o["flow_run"], "task_key": _uid(),
                                "dynamic_key": "0", "task_inputs": {"x": [
                                    {"input_type": "task_run", "id": n["task_run"]}]}}),
    "log: flow_run_id": lambda n, o: (
        "POST", "/logs/", [{"name": "l", "level": 20, "message": "m", "timestamp": _now(),
                            "flow_run_id": n["flow_run"]}]),
    "log: task_run_id": lambda n, o: (
        "POST", "/logs/", [{"name": "l", "level": 20, "message": "m", "timestamp": _now(),
                            "flow_run_id": o["flow_run"], "task_run_id": n["task_run"]}]),
    "artifact: flow_run_id": lambda n, o: (
        "POST", "/artifacts/", {"key": f"k{_uid()}", "type": "markdown", "data": "d",
                                "flow_run_id": n["flow_run"]}),
    "artifact: task_run_id": lambda n, o: (
        "POST", "/artifacts/", {"key": f"k{_uid()}", "type": "markdown", "data": "d",
                                "task_run_id": n["task_run"]}),
    "deployment: flow_id": lambda n, o: (
        "POST", "/deployments/", {"name": _uid(), "flow_id": n["flow"]}),
    "deployment: storage_document_id": lambda n, o: (
        "POST", "/deployments/", {"name": _uid(), "flow_id": o["flow"],
                                  "storage_document_id": n["block_document"]}),
    "deployment: infrastructure_document_id": lambda n, o: (
        "POST", "/deployments/", {"name": _uid(), "flow_id": o["flow"],
                                  "infrastructure_document_id": n["block_document"]}),
    "deployment: global_concurrency_limit_id": lambda n, o: (
        "POST", "/deployments/", {"name": _uid(), "flow_id": o["flow"],
                                  "global_concurrency_limit_id": n["limit"]}),
    "deployment update: storage_document_id": lambda n, o: (
        "PATCH", f"/deployments/{o['deployment']}", {"storage_document_id": n["block_document"]}),
    "deployment update: infrastructure_document_id": lambda n, o: (
        "PATCH", f"/deployments/{o['deployment']}",
        {"infrastructure_document_id": n["block_document"]}),
    "block schema: block_type_id": lambda n, o: (
        "POST", "/block_schemas/", {"fields": {**VAULT, "title": _uid()},
                                    "block_type_id": n["block_type"]}),
    "block document: block_type_id and schema": lambda n, o: (
        "POST", "/block_documents/", {"name": _uid(), "data": {"user": "u"},
                                      "block_type_id": n["block_type"],
                                      "block_schema_id": n["block_schema"]}),
    "block document: reference in data": lambda n, o: (
        "POST", "/block_documents/", {"name": _uid(), "block_type_id": o["block_type"],
                                      "block_schema_id": o["block_schema"],
                                      "data": {"user": "u", "nested": {"$ref": {
                                          "block_document_id": n["block_document"]}}}}),
    "block document update: reference in data": lambda n, o: (
        "PATCH", f"/block_documents/{o['block_document_2']}",
        {"data": {"user": "u", "nested": {"$ref": {"block_document_id": n["block_document"]}}}}),
    "default result storage": lambda n, o: (
        "PUT", "/admin/storage", {"default_result_storage_block_id": n["block_document"]}),
    "work pool: storage configuration": lambda n, o: (
        "POST", "/work_pools/", {"name": _uid(), "storage_configuration": {
            "default_result_storage_block_id": n["block_document"]}}),
}  # fmt: skip


@pytest.mark.parametrize("row", sorted(ROWS))
async def test_a_body_naming_another_workspaces_object_is_refused(worlds: Worlds, row: str) -> None:
    method, path, body = ROWS[row](worlds.alpha, worlds.beta)
    probe = await worlds.b.request(method, path, json=body)
    assert probe.status_code in (404, 422), f"{row}: {probe.status_code} {probe.text}"
    assert "detail" in probe.json()
    # The control: the same request naming B's own object is accepted.
    method, path, body = ROWS[row](worlds.beta, worlds.beta)
    control = await worlds.b.request(method, path, json=body)
    assert control.is_success, f"{row} (control): {control.status_code} {control.text}"
