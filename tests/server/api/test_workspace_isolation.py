"""Two workspaces, one of every resource in each, and a table of every operation that names
an object: run from workspace B against A's objects, nothing of A is visible (404, or absent
from lists and counts) or changeable (A reads back the same afterwards).

How the matrix reads:

* Both workspaces are populated the same way (:func:`populate`), A's objects named
  ``alpha-…`` and B's ``beta-…``. A's *tokens* are every id A can read back plus the word
  ``alpha``: no successful answer to B may contain one.
* Each :class:`Probe` is one request. ``T(key)`` is the target's object (A's in the probe),
  ``O(key)`` the caller's own (B's). The probe runs from B with ``T`` = A and must be
  refused (404 unless it says otherwise); then the same request runs as a *control* with
  ``T`` = B and must succeed -- so a probe cannot pass by naming nothing at all.
* A :class:`Listing` is a list/count/paginate request run from both workspaces: B's answer
  holds none of A's tokens, and (the worlds being mirror images) B counts what A counts.
* :func:`test_every_workspace_route_naming_an_object_is_in_the_matrix` walks ``app.routes``:
  a new route with a path parameter, or a new list/count route, fails it until it has a row
  here.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import os
import re
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI

from flowyard.server.app import WORKSPACE_PREFIX, create_app
from flowyard.server.database.engine import Database
from flowyard.server.queries import tenancy
from flowyard.settings import Settings
from flowyard.testing.databases import fresh_database_url

# --- the two worlds -------------------------------------------------------------------------

VAULT = {
    "type": "object",
    "properties": {
        "user": {"type": "string"},
        "password": {"type": "string", "format": "password", "writeOnly": True},
    },
    "required": ["user"],
    "secret_fields": ["password"],
}


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


async def _ok(response: httpx.Response) -> Any:
    request = response.request
    assert response.is_success, (
        f"{request.method} {request.url}: {response.status_code} {response.text}"
    )
    return response.json() if response.content else None


def _automation(name: str, w: dict[str, Any], suffix: str = "") -> dict[str, Any]:
    """An automation acting on the world's deployment; the third is owned by it."""
    return {
        "name": name,
        "trigger": {"type": "event", "posture": "Reactive",
                    "expect": ["prefect.flow-run.Completed"]},
        "actions": [{"type": "run-deployment", "deployment_id": w["deployment"]}],
        "owner_resource": w["automation_owner"] if suffix == "_3" else None,
    }  # fmt: skip


async def populate(client: httpx.AsyncClient, tag: str) -> dict[str, Any]:
    """One of every resource, named after ``tag``; returns the ids and names, by key."""
    w: dict[str, Any] = {"word": tag}

    async def post(path: str, body: Any = None) -> Any:
        return await _ok(await client.post(path, json=body))

    w["flow_name"] = f"{tag}-flow"
    w["flow"] = (await post("/flows/", {"name": w["flow_name"], "tags": [tag]}))["id"]
    w["flow_2"] = (await post("/flows/", {"name": f"{tag}-flow-2"}))["id"]  # for bulk_delete
    search = {"name": f"{tag}-search", "filters": []}
    w["saved_search"] = (await _ok(await client.put("/saved_searches/", json=search)))["id"]
    w["pool"] = f"{tag}-pool"
    w["pool_id"] = (await post("/work_pools/", {"name": w["pool"], "type": "process"}))["id"]
    # What a group's controls delete is B's own and used by no other group (so that any
    # subset of the groups, in order, may run: pytest-xdist splits them): a second pool with
    # nothing in it, queues besides the one the deployment uses, and so on. Objects deleted
    # twice (by id and by name, or through another's path) come in twos for the same reason.
    w["empty_pool"] = f"{tag}-empty-pool"
    await post("/work_pools/", {"name": w["empty_pool"], "type": "process"})
    for suffix in ("", "_2", "_3"):
        queue = w[f"queue{suffix}"] = f"{tag}-queue{suffix}"
        w[f"queue_id{suffix}"] = (await post(f"/work_pools/{w['pool']}/queues", {"name": queue}))[
            "id"
        ]
    for suffix in ("", "_2"):
        worker = w[f"worker{suffix}"] = f"{tag}-worker{suffix}"
        await post(f"/work_pools/{w['pool']}/workers/heartbeat", {"name": worker})
    w["deployment_name"] = f"{tag}-deployment"
    deployment = await post(
        "/deployments/",
        {
            "name": w["deployment_name"],
            "flow_id": w["flow"],
            "work_pool_name": w["pool"],
            "work_queue_name": w["queue"],
            "tags": [tag],
            "schedules": [
                {"schedule": {"interval": 3600}},
                {"schedule": {"interval": 7200}},
            ],
        },
    )
    w["deployment"] = deployment["id"]
    w["schedule"], w["schedule_2"] = sorted(s["id"] for s in deployment["schedules"])
    w["automation_owner"] = f"prefect.deployment.{w['deployment']}"
    for suffix in ("", "_2", "_3"):
        w[f"automation{suffix}"] = (
            await post("/automations/", _automation(f"{tag}-automation{suffix}", w, suffix))
        )["id"]
    w["deployment_2"] = (
        await post("/deployments/", {"name": f"{tag}-deployment-2", "flow_id": w["flow"]})
    )["id"]
    w["scheduled_run"] = (
        await post(f"/deployments/{w['deployment']}/create_flow_run", {"tags": [tag]})
    )["id"]
    run = await post(
        "/flow_runs/",
        {
            "flow_id": w["flow"],
            "name": f"{tag}-run",
            "tags": [tag],
            "state": {"type": "RUNNING"},
            "idempotency_key": f"{tag}-key",
        },
    )
    w["flow_run"] = run["id"]
    w["flow_run_state"] = run["state"]["id"]
    # A paused run, for /resume.
    paused = await post("/flow_runs/", {"flow_id": w["flow"], "state": {"type": "RUNNING"}})
    w["paused_run"] = paused["id"]
    await post(f"/flow_runs/{w['paused_run']}/set_state", {"state": {"type": "PAUSED"}})
    task = await post(
        "/task_runs/",
        {
            "flow_run_id": w["flow_run"],
            "task_key": f"{tag}-task",
            "dynamic_key": "0",
            "name": f"{tag}-task",
            "tags": [tag],
            "state": {"type": "RUNNING"},
        },
    )
    w["task_run"] = task["id"]
    w["task_run_state"] = task["state"]["id"]
    await post(f"/flow_runs/{w['flow_run']}/lease", {"lease_seconds": 600})
    w["input_key"] = f"{tag}-input"
    await _ok(
        await client.post(
            f"/flow_runs/{w['flow_run']}/input", json={"key": w["input_key"], "value": '"x"'}
        )
    )
    log = {"name": tag, "level": 20, "message": f"{tag}-log", "timestamp": _now()}
    await post("/logs/", [{**log, "flow_run_id": w["flow_run"]}])
    w["artifact_key"] = f"{tag}-artifact"
    w["artifact"] = (
        await post(
            "/artifacts/",
            {"key": w["artifact_key"], "type": "markdown", "data": tag, "flow_run_id": run["id"]},
        )
    )["id"]
    for suffix in ("", "_2"):  # one to delete by id, one by name
        w[f"variable_name{suffix}"] = f"{tag}_variable{suffix}"
        w[f"variable{suffix}"] = (
            await post("/variables/", {"name": f"{tag}_variable{suffix}", "value": tag})
        )["id"]
    for suffix in ("", "_2"):  # the second set is deleted: document, schema, type
        slug = w[f"block_type_slug{suffix}"] = f"{tag}-vault{suffix.replace('_', '-')}"
        w[f"block_type{suffix}"] = (
            await post("/block_types/", {"name": f"{tag} vault{suffix}", "slug": slug})
        )["id"]
        schema = await post(
            "/block_schemas/",
            {
                "fields": {**VAULT, "title": f"{tag} vault{suffix}"},
                "block_type_id": w[f"block_type{suffix}"],
            },
        )
        w[f"block_schema{suffix}"] = schema["id"]
        w[f"block_schema_checksum{suffix}"] = schema["checksum"]
        name = w[f"block_document_name{suffix}"] = f"{tag}-doc{suffix.replace('_', '-')}"
        w[f"block_document{suffix}"] = (
            await post(
                "/block_documents/",
                {
                    "name": name,
                    "data": {"user": tag, "password": f"{tag}-secret"},
                    "block_type_id": w[f"block_type{suffix}"],
                    "block_schema_id": w[f"block_schema{suffix}"],
                },
            )
        )["id"]
    for suffix in ("", "_2"):  # one to delete by id, one by name (or tag)
        tag_name = w[f"tag{suffix}"] = f"{tag}-tag{suffix}"
        w[f"tag_limit{suffix}"] = (
            await post("/concurrency_limits/", {"tag": tag_name, "concurrency_limit": 3})
        )["id"]
        await post(
            "/concurrency_limits/increment", {"names": [tag_name], "task_run_id": task["id"]}
        )
        name = w[f"limit_name{suffix}"] = f"{tag}-limit{suffix}"
        w[f"limit{suffix}"] = (await post("/v2/concurrency_limits/", {"name": name, "limit": 3}))[
            "id"
        ]
        w[f"limit_lease{suffix}"] = (
            await post(
                "/v2/concurrency_limits/increment-with-lease",
                {"names": [name], "slots": 1, "lease_duration": 600},
            )
        )["lease_id"]
    w["event"] = str(uuid.uuid4())
    w["event_resource"] = f"prefect.flow-run.{w['flow_run']}"
    event = {
        "id": w["event"],
        "occurred": _now(),
        "event": f"{tag}.happened",
        "resource": {"prefect.resource.id": w["event_resource"]},
    }
    assert (await client.post("/events", json=[event])).status_code == 204
    return w


@dataclass
class Worlds:
    app: FastAPI
    a: httpx.AsyncClient
    b: httpx.AsyncClient
    alpha: dict[str, Any]
    beta: dict[str, Any]
    # What A reads of itself (every read and listing of the table): compared after each
    # group's rows, then replaced, so that a failure is reported by the group that caused it.
    baseline: dict[str, Any] = field(default_factory=dict)
    # (listing, workspace) -> how much that workspace's own listing showed, populated.
    own_sizes: dict[tuple[str, str], int] = field(default_factory=dict)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def worlds(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Worlds]:
    """A, the default workspace (``/api``), and B, a second workspace of the same account
    (``/api/accounts/…/workspaces/…``), populated alike. One pair for the module: the rows
    of a group leave A as it was (that is the test) and change only B's own objects, in
    the controls, never ones another group needs (see :func:`populate`)."""
    home = tmp_path_factory.mktemp("isolation")
    async with fresh_database_url(home, os.environ.get("FLOWYARD_TEST_DATABASE_URL")) as url:
        db = Database(url)
        # "test": the host name these clients use (tests/conftest.py's settings trust it too).
        settings = Settings(home=home, database_url=url, server_allowed_hosts=["test"])
        app = create_app(settings, database=db, services=False)
        async with app.router.lifespan_context(app):
            async with db.write() as session:
                second = await tenancy.create_workspace(
                    session, app.state.default_account_id, "Second", "second"
                )
            transport = httpx.ASGITransport(app=app)
            prefix = f"/api/accounts/{second.account_id}/workspaces/{second.id}"
            async with (
                httpx.AsyncClient(transport=transport, base_url="http://test/api") as a,
                httpx.AsyncClient(transport=transport, base_url=f"http://test{prefix}") as b,
            ):
                worlds = Worlds(app, a, b, await populate(a, "alpha"), await populate(b, "beta"))
                for _, listing in _every(Listing):
                    for side, client, world in (("A", a, worlds.alpha), ("B", b, worlds.beta)):
                        response = await _listing(client, listing, world)
                        assert response.is_success, f"{listing}: {response.text}"
                        worlds.own_sizes[(str(listing), side)] = _size(response)
                worlds.baseline = await snapshot(a, worlds.alpha)
                yield worlds
        await db.dispose()


# --- the table ------------------------------------------------------------------------------


@dataclass(frozen=True)
class T:
    """The target's object: A's in the probe, B's own in the control."""

    key: str


@dataclass(frozen=True)
class O:  # noqa: E742 - short on purpose, it reads as "own" in the table
    """The caller's (B's) own object, in the probe and in the control."""

    key: str


def _resolve(value: Any, target: dict[str, Any], own: dict[str, Any]) -> Any:
    if isinstance(value, T):
        return target[value.key]
    if isinstance(value, O):
        return own[value.key]
    if isinstance(value, dict):
        return {k: _resolve(v, target, own) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, target, own) for v in value]
    return value


def _empty(response: httpx.Response) -> bool:
    """A success that shows nothing."""
    if not response.is_success:
        return False
    if not response.content:
        return True
    body = response.json()
    if isinstance(body, dict):
        return all(not v for k, v in body.items() if k in ("results", "deleted", "events"))
    return body in ([], 0, None)


NOT_FOUND: Callable[[httpx.Response], bool] = lambda r: r.status_code == 404  # noqa: E731


@dataclass(frozen=True)
class Probe:
    route: str  # "METHOD /path/{param}", as the app declares it
    params: dict[str, T | O] = field(default_factory=dict)
    body: Any = None
    query: dict[str, Any] | None = None
    refused: Callable[[httpx.Response], bool] = NOT_FOUND
    # The control's expected answer, when not just "a success".
    control: Callable[[httpx.Response], bool] = lambda r: r.is_success  # noqa: E731
    note: str = ""

    @property
    def method(self) -> str:
        return self.route.split(" ", 1)[0]

    @property
    def template(self) -> str:
        return self.route.split(" ", 1)[1]

    def request(self, target: dict[str, Any], own: dict[str, Any]) -> tuple[str, str, Any]:
        path = self.template.format(**_resolve(self.params, target, own))
        return self.method, path, _resolve(self.body, target, own)

    def __str__(self) -> str:
        args = ", ".join(f"{k}={type(v).__name__}({v.key})" for k, v in self.params.items())
        return f"{self.route} [{args}]{' ' + self.note if self.note else ''}"


@dataclass(frozen=True)
class Listing:
    """A list/count/paginate request, run from both sides with the target's filter values."""

    route: str
    body: Any = None
    query: dict[str, Any] | None = None
    params: dict[str, str] = field(default_factory=dict)  # literal path parameters

    @property
    def method(self) -> str:
        return self.route.split(" ", 1)[0]

    @property
    def path(self) -> str:
        return self.route.split(" ", 1)[1].format(**self.params)


FR = "POST /flow_runs/{id}/set_state"
STATE_COMPLETED = {"state": {"type": "COMPLETED"}}
LEASE = {"lease_seconds": 60}
INPUT_FILTER = {"prefix": "", "limit": 10}


def _ids(key: str) -> dict[str, Any]:
    return {"id": {"any_": [T(key)]}}


def _page_token(**page: int) -> str:
    """The token of ``/events/filter/next``: it names a page, never a workspace."""
    return base64.urlsafe_b64encode(json.dumps({"filter": {}, **page}).encode()).decode()


def _run_by_id() -> dict[str, Any]:
    return {"flow_runs": _ids("flow_run")}


# Each group is a resource: its probes (B against A's objects, by id and by name) and its
# listings. Within a group, probes run in order and their controls after them, in order:
# reads first, then changes, deletes last (children before parents).
MATRIX: dict[str, tuple[list[Probe], list[Listing]]] = {
    "flows": (
        [
            Probe("GET /flows/{id}", {"id": T("flow")}),
            Probe("GET /flows/name/{name}", {"name": T("flow_name")}),
            Probe("PATCH /flows/{id}", {"id": T("flow")}, {"tags": ["changed"]}),
            Probe(
                "POST /flow_runs/",
                body={"flow_id": T("flow")},
                control=lambda r: r.status_code == 201,
                note="a run of A's flow",
            ),
            Probe(
                "POST /deployments/",
                body={"name": "reference-of-flow", "flow_id": T("flow")},
                refused=lambda r: r.status_code in (404, 409, 422),
                note="a deployment of A's flow",
            ),
            Probe(
                "POST /flows/bulk_delete",
                body={"flows": _ids("flow_2")},
                refused=_empty,
                control=lambda r: r.is_success and len(r.json()["deleted"]) == 1,
            ),
            Probe("DELETE /flows/{id}", {"id": T("flow")}),
        ],
        [
            Listing("POST /flows/filter", {}),
            Listing("POST /flows/filter", {"flows": _ids("flow")}),
            Listing("POST /flows/filter", {"flows": {"name": {"any_": [T("flow_name")]}}}),
            Listing("POST /flows/count", {}),
            Listing("POST /flows/count", {"flows": _ids("flow")}),
            Listing("POST /flows/paginate", {}),
            Listing("POST /flows/paginate", {"flow_runs": _ids("flow_run")}),
        ],
    ),
    "flow_runs": (
        [
            Probe("GET /flow_runs/{id}", {"id": T("flow_run")}),
            Probe("GET /flow_run_states/{id}", {"id": T("flow_run_state")}),
            Probe(
                "GET /flow_run_states/",
                query={"flow_run_id": T("flow_run")},
                refused=_empty,
                control=lambda r: r.is_success and len(r.json()) == 1,
            ),
            Probe("GET /flow_runs/{id}/blockers", {"id": T("scheduled_run")}),
            Probe("GET /flow_runs/{id}/graph", {"id": T("flow_run")}),
            Probe("GET /flow_runs/{id}/graph-v2", {"id": T("flow_run")}),
            Probe("GET /flow_runs/{id}/logs/download", {"id": T("flow_run")}),
            Probe(
                "POST /ui/flow_runs/count-task-runs",
                body={"flow_run_ids": [T("flow_run")]},
                refused=lambda r: r.is_success and not any(r.json().values()),
                control=lambda r: r.is_success and sum(r.json().values()) == 1,
            ),
            Probe("GET /flow_runs/{id}/input/{key}", {"id": T("flow_run"), "key": T("input_key")}),
            Probe(
                "GET /flow_runs/{id}/input/{key}",
                {"id": O("flow_run"), "key": T("input_key")},
                note="B's run, A's input key",
            ),
            Probe(
                "POST /flow_runs/{id}/input/filter",
                {"id": T("flow_run")},
                INPUT_FILTER,
                refused=_empty,
                control=lambda r: r.is_success and len(r.json()) == 1,
            ),
            Probe(
                "POST /flow_runs/",
                body={"flow_id": O("flow"), "deployment_id": T("deployment")},
                control=lambda r: r.status_code == 201,
                note="B's flow, A's deployment",
            ),
            Probe("POST /flow_runs/{id}/input", {"id": T("flow_run")}, {"key": "k", "value": "1"}),
            Probe("POST /flow_runs/{id}/lease", {"id": T("flow_run")}, LEASE),
            Probe("DELETE /flow_runs/{id}/lease", {"id": T("flow_run")}),
            Probe("PATCH /flow_runs/{id}", {"id": T("flow_run")}, {"name": "changed"}),
            Probe("PATCH /flow_runs/{id}/labels", {"id": T("flow_run")}, {"changed": True}),
            Probe(FR, {"id": T("flow_run")}, STATE_COMPLETED),
            Probe(FR, {"id": T("scheduled_run")}, {"state": {"type": "CANCELLED"}, "force": True}),
            Probe("POST /flow_runs/{id}/resume", {"id": T("paused_run")}),
            Probe(
                "DELETE /flow_runs/{id}/input/{key}", {"id": T("flow_run"), "key": T("input_key")}
            ),
            Probe(
                "POST /flow_runs/bulk_set_state",
                body={
                    "flow_runs": _ids("paused_run"),
                    "state": {"type": "CANCELLED"},
                    "force": True,
                },
                refused=_empty,
                control=lambda r: (
                    r.is_success and [x["status"] for x in r.json()["results"]] == ["ACCEPT"]
                ),
            ),
            Probe(
                "POST /flow_runs/bulk_delete",
                body={"flow_runs": _ids("paused_run")},
                refused=_empty,
                control=lambda r: r.is_success and len(r.json()["deleted"]) == 1,
            ),
            Probe("DELETE /flow_runs/{id}", {"id": T("flow_run")}),
        ],
        [
            Listing("POST /flow_runs/filter", {}),
            Listing("POST /flow_runs/filter", _run_by_id()),
            Listing("POST /flow_runs/filter", {"flows": _ids("flow")}),
            Listing("POST /flow_runs/filter", {"deployments": _ids("deployment")}),
            Listing("POST /flow_runs/filter", {"work_pools": {"name": {"any_": [T("pool")]}}}),
            Listing("POST /flow_runs/filter", {"flow_runs": {"tags": {"all_": [T("word")]}}}),
            Listing("POST /flow_runs/count", {}),
            Listing("POST /flow_runs/count", _run_by_id()),
            Listing("POST /flow_runs/paginate", {}),
            Listing(
                "POST /flow_runs/history",
                {
                    "history_start": "2020-01-01T00:00:00Z",
                    "history_end": "2030-01-01T00:00:00Z",
                    "history_interval_seconds": 86400 * 3650,
                },
            ),
            Listing("POST /flow_runs/lateness", {}),
            Listing("POST /ui/flow_runs/history", {}),
            Listing("POST /ui/flow_runs/history", _run_by_id()),
            Listing(
                "POST /deployments/get_scheduled_flow_runs",
                {"deployment_ids": [T("deployment")], "scheduled_before": "2100-01-01T00:00:00Z"},
            ),
        ],
    ),
    "task_runs": (
        [
            Probe("GET /task_runs/{id}", {"id": T("task_run")}),
            Probe("GET /ui/task_runs/{id}", {"id": T("task_run")}),
            Probe("GET /task_run_states/{id}", {"id": T("task_run_state")}),
            Probe(
                "GET /task_run_states/",
                query={"task_run_id": T("task_run")},
                refused=_empty,
                control=lambda r: r.is_success and len(r.json()) == 1,
            ),
            Probe(
                "POST /task_runs/",
                body={"flow_run_id": T("flow_run"), "task_key": "k", "dynamic_key": "1"},
                control=lambda r: r.status_code == 201,
                note="a task run in A's flow run",
            ),
            Probe(
                "POST /task_runs/",
                body={
                    "id": T("task_run"),
                    "flow_run_id": O("flow_run"),
                    "task_key": "other",
                    "dynamic_key": "0",
                },
                refused=lambda r: r.status_code in (404, 409),
                control=lambda r: r.status_code == 200,  # its own run: found, not created
                note="A's task-run id reused in B",
            ),
            Probe("PATCH /task_runs/{id}", {"id": T("task_run")}, {"name": "changed"}),
            Probe("POST /task_runs/{id}/set_state", {"id": T("task_run")}, STATE_COMPLETED),
            Probe("DELETE /task_runs/{id}", {"id": T("task_run")}),
        ],
        [
            Listing("POST /task_runs/filter", {}),
            Listing("POST /task_runs/filter", {"task_runs": _ids("task_run")}),
            Listing("POST /task_runs/filter", _run_by_id()),
            Listing("POST /task_runs/count", {}),
            Listing("POST /task_runs/count", {"task_runs": _ids("task_run")}),
            Listing("POST /task_runs/paginate", {}),
            Listing("POST /ui/task_runs/count", {}),
            Listing("POST /ui/task_runs/count", {"task_runs": _ids("task_run")}),
            Listing(
                "POST /ui/task_runs/dashboard/counts",
                {"task_runs": {"start_time": {"after_": "2020-01-01T00:00:00Z"}}},
            ),
            Listing(
                "POST /task_runs/history",
                {
                    "history_start": "2020-01-01T00:00:00Z",
                    "history_end": "2030-01-01T00:00:00Z",
                    "history_interval_seconds": 86400 * 3650,
                },
            ),
        ],
    ),
    "logs": (
        [],
        [
            Listing("POST /logs/filter", {}),
            Listing("POST /logs/filter", {"logs": {"flow_run_id": {"any_": [T("flow_run")]}}}),
        ],
    ),
    "deployments": (
        [
            Probe("GET /deployments/{id}", {"id": T("deployment")}),
            Probe(
                "POST /ui/flows/count-deployments",
                body={"flow_ids": [T("flow")]},
                refused=lambda r: r.is_success and not any(r.json().values()),
                control=lambda r: r.is_success and sum(r.json().values()) == 2,
            ),
            Probe(
                "POST /ui/flows/next-runs",
                body={"flow_ids": [T("flow")]},
                refused=lambda r: r.is_success and not any(r.json().values()),
                control=lambda r: r.is_success and any(r.json().values()),
            ),
            Probe(
                "GET /deployments/name/{flow_name}/{deployment_name}",
                {"flow_name": T("flow_name"), "deployment_name": T("deployment_name")},
            ),
            Probe("GET /deployments/{id}/schedules", {"id": T("deployment")}),
            Probe("GET /deployments/{id}/work_queue_check", {"id": T("deployment")}),
            Probe(
                "POST /deployments/",
                body={
                    "name": "reference",
                    "flow_id": O("flow"),
                    "work_pool_name": T("pool"),
                    "work_queue_name": T("queue"),
                },
                refused=lambda r: r.status_code in (404, 422),
                control=lambda r: r.status_code == 201,
                note="B's flow in A's pool",
            ),
            Probe("PATCH /deployments/{id}", {"id": T("deployment")}, {"tags": ["changed"]}),
            Probe("POST /deployments/{id}/pause_deployment", {"id": T("deployment")}),
            Probe("POST /deployments/{id}/resume_deployment", {"id": T("deployment")}),
            Probe("POST /deployments/{id}/schedule", {"id": T("deployment")}),
            Probe("POST /deployments/{id}/create_flow_run", {"id": T("deployment")}, {}),
            Probe("POST /deployments/{id}/create_flow_run/bulk", {"id": T("deployment")}, [{}]),
            Probe(
                "POST /deployments/{id}/schedules",
                {"id": T("deployment")},
                [{"schedule": {"interval": 7200}}],
            ),
            Probe(
                "PATCH /deployments/{id}/schedules/{schedule_id}",
                {"id": T("deployment"), "schedule_id": T("schedule")},
                {"active": False},
            ),
            Probe(
                "PATCH /deployments/{id}/schedules/{schedule_id}",
                {"id": O("deployment"), "schedule_id": T("schedule")},
                {"active": False},
                note="B's deployment, A's schedule",
            ),
            Probe(
                "DELETE /deployments/{id}/schedules/{schedule_id}",
                {"id": O("deployment"), "schedule_id": T("schedule_2")},
                note="B's deployment, A's schedule",
            ),
            Probe(
                "DELETE /deployments/{id}/schedules/{schedule_id}",
                {"id": T("deployment"), "schedule_id": T("schedule")},
            ),
            Probe(
                "POST /deployments/bulk_delete",
                body={"deployments": _ids("deployment_2")},
                refused=_empty,
                control=lambda r: r.is_success and len(r.json()["deleted"]) == 1,
            ),
            Probe("DELETE /deployments/{id}", {"id": T("deployment")}),
        ],
        [
            Listing("POST /deployments/filter", {}),
            Listing("POST /deployments/filter", {"deployments": _ids("deployment")}),
            Listing("POST /deployments/filter", {"flows": _ids("flow")}),
            Listing("POST /deployments/count", {}),
            Listing("POST /deployments/count", {"deployments": _ids("deployment")}),
            Listing("POST /deployments/paginate", {}),
        ],
    ),
    "work_pools": (
        [
            Probe("GET /work_pools/{name}", {"name": T("pool")}),
            Probe(
                "POST /work_pools/{name}/get_scheduled_flow_runs",
                {"name": T("pool")},
                {"scheduled_before": "2100-01-01T00:00:00Z"},
            ),
            Probe(
                "POST /work_queues/",
                body={"name": "reference-by-pool-name", "work_pool_name": T("pool")},
                control=lambda r: r.status_code == 201,
                note="a queue in A's pool",
            ),
            Probe("POST /work_pools/{name}/concurrency_status", {"name": T("pool")}, {}),
            Probe("PATCH /work_pools/{name}", {"name": T("pool")}, {"description": "changed"}),
            # An empty pool: nothing would stop its deletion but the workspace.
            Probe("DELETE /work_pools/{name}", {"name": T("empty_pool")}),
        ],
        [
            Listing("POST /work_pools/filter", {}),
            Listing("POST /work_pools/filter", {"work_pools": _ids("pool_id")}),
            Listing("POST /work_pools/count", {}),
            Listing("POST /work_pools/count", {"work_pools": {"name": {"any_": [T("pool")]}}}),
            Listing("GET /collections/views/aggregate-worker-metadata"),
            Listing("POST /task_workers/filter", {}),
        ],
    ),
    "work_queues": (
        [
            Probe("GET /work_queues/{id}", {"id": T("queue_id")}),
            Probe("GET /work_queues/name/{name}", {"name": T("queue")}),
            Probe("GET /work_queues/{id}/status", {"id": T("queue_id")}),
            Probe("POST /work_queues/{id}/concurrency_status", {"id": T("queue_id")}, {}),
            Probe(
                "POST /work_queues/{id}/get_runs",
                {"id": T("queue_id")},
                {"scheduled_before": "2100-01-01T00:00:00Z"},
            ),
            Probe(
                "GET /work_pools/{work_pool_name}/queues/{name}",
                {"work_pool_name": T("pool"), "name": T("queue")},
            ),
            Probe(
                "GET /work_pools/{work_pool_name}/queues/{name}",
                {"work_pool_name": O("pool"), "name": T("queue")},
                note="B's pool, A's queue",
            ),
            Probe("POST /work_pools/{work_pool_name}/queues/filter", {"work_pool_name": T("pool")}),
            Probe(
                "POST /work_pools/{work_pool_name}/queues",
                {"work_pool_name": T("pool")},
                {"name": "reference"},
                control=lambda r: r.status_code == 201,
            ),
            Probe("PATCH /work_queues/{id}", {"id": T("queue_id")}, {"description": "changed"}),
            Probe(
                "PATCH /work_pools/{work_pool_name}/queues/{name}",
                {"work_pool_name": T("pool"), "name": T("queue")},
                {"description": "changed"},
            ),
            Probe(
                "POST /work_pools/{name}/get_scheduled_flow_runs",
                {"name": O("pool")},
                {"work_queue_names": [T("queue")], "scheduled_before": "2100-01-01T00:00:00Z"},
                refused=lambda r: r.status_code == 404 or _empty(r),
                note="B's pool, A's queue name",
            ),
            Probe(
                "DELETE /work_pools/{work_pool_name}/queues/{name}",
                {"work_pool_name": T("pool"), "name": T("queue_2")},
                refused=lambda r: r.status_code in (404, 409),
            ),
            Probe("DELETE /work_queues/{id}", {"id": T("queue_id_3")}),
        ],
        [
            Listing("POST /work_queues/filter", {}),
            Listing("POST /work_queues/filter", {"work_queues": _ids("queue_id")}),
        ],
    ),
    "workers": (
        [
            Probe(
                "POST /work_pools/{work_pool_name}/workers/filter", {"work_pool_name": T("pool")}
            ),
            Probe(
                "POST /work_pools/{work_pool_name}/workers/heartbeat",
                {"work_pool_name": T("pool")},
                {"name": T("worker")},
            ),
            Probe(
                "DELETE /work_pools/{work_pool_name}/workers/{name}",
                {"work_pool_name": O("pool"), "name": T("worker_2")},
                note="B's pool, A's worker",
            ),
            Probe(
                "DELETE /work_pools/{work_pool_name}/workers/{name}",
                {"work_pool_name": T("pool"), "name": T("worker")},
            ),
        ],
        [],
    ),
    "block_types": (
        [
            Probe("GET /block_types/{id}", {"id": T("block_type")}),
            Probe("GET /block_types/slug/{slug}", {"slug": T("block_type_slug")}),
            Probe("GET /block_types/slug/{slug}/block_documents", {"slug": T("block_type_slug")}),
            Probe(
                "POST /block_schemas/",
                body={"fields": {"title": "Reference"}, "block_type_id": T("block_type")},
                refused=lambda r: r.status_code in (404, 422),
                control=lambda r: r.status_code == 201,
                note="a schema for A's block type",
            ),
            Probe("PATCH /block_types/{id}", {"id": T("block_type")}, {"description": "changed"}),
        ],
        [
            Listing("POST /block_types/filter", {}),
            Listing(
                "POST /block_types/filter",
                {"block_types": {"slug": {"any_": [T("block_type_slug")]}}},
            ),
        ],
    ),
    "block_schemas": (
        [
            Probe("GET /block_schemas/{id}", {"id": T("block_schema")}),
            Probe(
                "GET /block_schemas/checksum/{checksum}", {"checksum": T("block_schema_checksum")}
            ),
        ],
        [
            Listing("POST /block_schemas/filter", {}),
            Listing("POST /block_schemas/filter", {"block_schemas": _ids("block_schema")}),
        ],
    ),
    "block_documents": (
        [
            Probe("GET /block_documents/{id}", {"id": T("block_document")}),
            Probe(
                "GET /block_documents/{id}",
                {"id": T("block_document")},
                query={"include_secrets": "true"},
                note="with secrets",
            ),
            Probe(
                "GET /block_types/slug/{slug}/block_documents/name/{block_document_name}",
                {"slug": T("block_type_slug"), "block_document_name": T("block_document_name")},
            ),
            Probe(
                "GET /block_types/slug/{slug}/block_documents/name/{block_document_name}",
                {"slug": O("block_type_slug"), "block_document_name": T("block_document_name")},
                note="B's type, A's document name",
            ),
            Probe(
                "POST /block_documents/",
                body={
                    "name": "reference",
                    "data": {"user": "u"},
                    "block_type_id": T("block_type"),
                    "block_schema_id": T("block_schema"),
                },
                refused=lambda r: r.status_code in (404, 422),
                control=lambda r: r.status_code == 201,
                note="a document of A's type and schema",
            ),
            Probe(
                "POST /block_documents/",
                body={
                    "name": "reference-two",
                    "data": {
                        "user": "u",
                        "inner": {"$ref": {"block_document_id": T("block_document")}},
                    },
                    "block_type_id": O("block_type"),
                    "block_schema_id": O("block_schema"),
                },
                refused=lambda r: r.status_code in (404, 409, 422),
                note="a document referencing A's document",
            ),
            Probe(
                "PATCH /block_documents/{id}",
                {"id": T("block_document")},
                {"data": {"user": "changed"}},
            ),
            Probe(
                "PATCH /block_documents/{id}",
                {"id": O("block_document")},
                {"block_schema_id": T("block_schema"), "data": {}},
                refused=lambda r: r.status_code in (404, 409, 422),
                note="B's document onto A's schema",
            ),
            Probe("DELETE /block_documents/{id}", {"id": T("block_document_2")}),
            # Its only document is gone (in the control): the type and schema may go too.
            Probe("DELETE /block_schemas/{id}", {"id": T("block_schema_2")}),
            Probe("DELETE /block_types/{id}", {"id": T("block_type_2")}),
        ],
        [
            Listing("POST /block_documents/filter", {}),
            Listing("POST /block_documents/filter", {"include_secrets": True}),
            Listing("POST /block_documents/filter", {"block_documents": _ids("block_document")}),
            Listing("POST /block_documents/count", {}),
            Listing(
                "POST /block_documents/count",
                {"block_documents": {"block_type_id": {"any_": [T("block_type")]}}},
            ),
        ],
    ),
    "automations": (
        [
            Probe("GET /automations/{id}", {"id": T("automation")}),
            Probe("GET /automations/{id}", {"id": T("automation_3")}),
            Probe(
                "GET /automations/related-to/{resource_id}",
                {"resource_id": T("automation_owner")},
                refused=_empty,
                control=lambda r: r.is_success and len(r.json()) == 3,
            ),
            Probe(
                "PUT /automations/{id}",
                {"id": T("automation")},
                {
                    "name": "changed",
                    "actions": [{"type": "do-nothing"}],
                    "trigger": {
                        "type": "event",
                        "posture": "Reactive",
                        "expect": ["prefect.flow-run.Failed"],
                    },
                },
            ),  # fmt: skip
            Probe("PATCH /automations/{id}", {"id": T("automation")}, {"enabled": False}),
            Probe("DELETE /automations/{id}", {"id": T("automation_2")}),
            # A's automation owned by A's deployment stays (the GET above reads it back).
            Probe(
                "DELETE /automations/owned-by/{resource_id}",
                {"resource_id": T("automation_owner")},
                refused=lambda r: r.status_code == 202,
                control=lambda r: r.status_code == 202,
            ),
        ],
        [
            Listing("POST /automations/filter", {}),
            Listing("POST /automations/count", {}),
        ],
    ),
    "saved_searches": (
        [
            Probe("GET /saved_searches/{id}", {"id": T("saved_search")}),
            Probe("DELETE /saved_searches/{id}", {"id": T("saved_search")}),
        ],
        [Listing("POST /saved_searches/filter", {})],
    ),
    "variables": (
        [
            Probe("GET /variables/{id}", {"id": T("variable")}),
            Probe("GET /variables/name/{name}", {"name": T("variable_name")}),
            Probe("PATCH /variables/{id}", {"id": T("variable")}, {"value": "changed"}),
            Probe("PATCH /variables/name/{name}", {"name": T("variable_name")}, {"value": "x"}),
            Probe("DELETE /variables/{id}", {"id": T("variable")}),
            Probe("DELETE /variables/name/{name}", {"name": T("variable_name_2")}),
        ],
        [
            Listing("POST /variables/filter", {}),
            Listing(
                "POST /variables/filter", {"variables": {"name": {"any_": [T("variable_name")]}}}
            ),
            Listing("POST /variables/count", {}),
            Listing("POST /variables/count", {"variables": _ids("variable")}),
        ],
    ),
    "artifacts": (
        [
            Probe("GET /artifacts/{id}", {"id": T("artifact")}),
            Probe("GET /artifacts/{key}/latest", {"key": T("artifact_key")}),
            Probe("PATCH /artifacts/{id}", {"id": T("artifact")}, {"description": "changed"}),
            Probe("DELETE /artifacts/{id}", {"id": T("artifact")}),
        ],
        [
            Listing("POST /artifacts/filter", {}),
            Listing(
                "POST /artifacts/filter", {"artifacts": {"key": {"any_": [T("artifact_key")]}}}
            ),
            Listing("POST /artifacts/count", {}),
            Listing("POST /artifacts/count", {"artifacts": _ids("artifact")}),
            Listing("POST /artifacts/latest/filter", {}),
            Listing("POST /artifacts/latest/count", {}),
        ],
    ),
    "events": (
        [],
        [
            Listing("POST /events/filter", {}),
            Listing("POST /events/filter", {"filter": {"id": {"id": [T("event")]}}}),
            Listing("POST /events/filter", {"filter": {"resource": {"id": [T("event_resource")]}}}),
            Listing("POST /events/filter", {"limit": 1}),
            Listing(
                "POST /events/count-by/{countable}", {"filter": {}}, params={"countable": "event"}
            ),
            Listing(
                "POST /events/count-by/{countable}",
                {"filter": {"resource": {"id": [T("event_resource")]}}},
                params={"countable": "resource"},
            ),
            Listing(
                "POST /events/count-by/{countable}", {"filter": {}}, params={"countable": "day"}
            ),
            Listing(
                "GET /events/filter/next", query={"page-token": _page_token(limit=1, offset=1)}
            ),
        ],
    ),
    "concurrency_limits": (
        [
            Probe("GET /concurrency_limits/{id}", {"id": T("tag_limit")}),
            Probe("GET /concurrency_limits/tag/{tag}", {"tag": T("tag")}),
            Probe(
                "POST /concurrency_limits/increment",
                body={"names": [T("tag")], "task_run_id": O("task_run")},
                refused=_empty,
                control=lambda r: r.is_success and len(r.json()) == 1,
                note="a slot on A's tag",
            ),
            Probe(
                "POST /concurrency_limits/decrement",
                body={"names": [T("tag")], "task_run_id": T("task_run")},
                refused=_empty,
                control=lambda r: r.is_success and len(r.json()) == 1,
                note="A's task run's slot on A's tag",
            ),
            Probe("POST /concurrency_limits/tag/{tag}/reset", {"tag": T("tag")}, {}),
            Probe("DELETE /concurrency_limits/tag/{tag}", {"tag": T("tag")}),
            Probe("DELETE /concurrency_limits/{id}", {"id": T("tag_limit_2")}),
        ],
        [
            Listing("POST /concurrency_limits/filter", {}),
        ],
    ),
    "concurrency_limits_v2": (
        [
            Probe("GET /v2/concurrency_limits/{id_or_name}", {"id_or_name": T("limit")}),
            Probe("GET /v2/concurrency_limits/{id_or_name}", {"id_or_name": T("limit_name")}),
            Probe("GET /v2/concurrency_limits/{id_or_name}/leases", {"id_or_name": T("limit")}),
            Probe(
                "GET /v2/concurrency_limits/{id_or_name}/leases", {"id_or_name": T("limit_name")}
            ),
            Probe(
                "POST /v2/concurrency_limits/increment",
                body={"names": [T("limit_name")], "slots": 1},
                refused=_empty,
                control=lambda r: r.is_success and len(r.json()) == 1,
            ),
            Probe(
                "POST /v2/concurrency_limits/increment-with-lease",
                body={"names": [T("limit_name")], "slots": 1, "lease_duration": 600},
                refused=lambda r: r.is_success and r.json()["limits"] == [],
                control=lambda r: r.is_success and len(r.json()["limits"]) == 1,
            ),
            Probe(
                "POST /v2/concurrency_limits/decrement",
                body={"names": [T("limit_name")], "slots": 1},
                refused=_empty,
                control=lambda r: r.is_success and len(r.json()) == 1,
            ),
            Probe(
                "POST /v2/concurrency_limits/leases/{lease_id}/renew",
                {"lease_id": T("limit_lease")},
                {"lease_duration": 600},
            ),
            Probe(
                "PATCH /v2/concurrency_limits/{id_or_name}",
                {"id_or_name": T("limit")},
                {"limit": 9},
            ),
            Probe(
                "PATCH /v2/concurrency_limits/{id_or_name}",
                {"id_or_name": T("limit_name")},
                {"limit": 8},
            ),
            Probe("POST /v2/concurrency_limits/{id_or_name}/reset", {"id_or_name": T("limit")}, {}),
            Probe(
                "POST /v2/concurrency_limits/{id_or_name}/reset",
                {"id_or_name": T("limit_name")},
                {},
            ),
            Probe(
                "POST /v2/concurrency_limits/decrement-with-lease",
                body={"lease_id": T("limit_lease")},
                refused=lambda r: r.status_code in (204, 404),
                note="releasing a lease that is not B's: nothing happens (A's slot stays held)",
            ),
            Probe(
                "DELETE /v2/concurrency_limits/leases/{lease_id}", {"lease_id": T("limit_lease_2")}
            ),
            Probe("DELETE /v2/concurrency_limits/{id_or_name}", {"id_or_name": T("limit_name")}),
            Probe("DELETE /v2/concurrency_limits/{id_or_name}", {"id_or_name": T("limit_2")}),
        ],
        [
            Listing("POST /v2/concurrency_limits/filter", {}),
        ],
    ),
}


# --- running the table ----------------------------------------------------------------------

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# Read-time values (derived from the clock), not stored state.
VOLATILE = {
    # READY/ONLINE/NOT_READY/OFFLINE: how long ago the last poll or heartbeat was. A change
    # by B of what they derive from (``is_paused``, ``last_polled``, ...) still shows.
    "status",
    "estimated_run_time",
    "estimated_start_time_delta",
    "sum_estimated_run_time",
    "sum_estimated_lateness",
    "duration",  # of a running run, in /ui/flow_runs/history
    "lateness",
    "next_page",  # its token carries the default window, "since a day ago"
}


MAY_BE_EMPTY = {
    "POST /flow_runs/lateness",  # no run is late yet
    "POST /task_workers/filter",  # none connected (they connect by websocket)
}
UNSTABLE_READS = {
    "POST /flow_runs/lateness",  # a running clock: the lateness of waiting runs grows
    "POST /deployments/get_scheduled_flow_runs",  # a poll: marks the deployments polled
    "GET /flow_runs/{id}/blockers",  # "no worker has polled since…" once enough time passed
}


def _stable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_stable(v) for v in value]
    return value


async def _send(
    client: httpx.AsyncClient,
    method: str,
    path: str,
    body: Any,
    query: dict[str, Any] | None,
) -> httpx.Response:
    kwargs: dict[str, Any] = {"params": query} if query else {}
    if body is not None or method in ("POST", "PATCH"):
        kwargs["json"] = body
    return await client.request(method, path, **kwargs)


async def _probe(
    client: httpx.AsyncClient, probe: Probe, target: dict[str, Any], own: dict[str, Any]
) -> httpx.Response:
    method, path, body = probe.request(target, own)
    query = _resolve(probe.query, target, own)
    return await _send(client, method, path, body, query)


async def _listing(
    client: httpx.AsyncClient, listing: Listing, target: dict[str, Any]
) -> httpx.Response:
    body = _resolve(listing.body, target, target)
    query = _resolve(listing.query, target, target)
    return await _send(client, listing.method, listing.path, body, query)


def _size(response: httpx.Response) -> int:
    """How much a list, count or page shows."""
    body = response.json() if response.content else None
    if isinstance(body, list):
        return len(body)
    if isinstance(body, bool) or body is None:
        return 0
    if isinstance(body, int):
        return body
    if isinstance(body, float):
        return 1
    if isinstance(body, dict):
        for key in ("count", "total"):
            if key in body:
                return int(body[key])
        return len(body)
    raise AssertionError(f"no size for {body!r}")


def _every(kind: type) -> Iterator[tuple[str, Any]]:
    for group, (probes, listings) in MATRIX.items():
        for row in probes if kind is Probe else listings:
            yield group, row


async def snapshot(client: httpx.AsyncClient, world: dict[str, Any]) -> dict[str, Any]:
    """What a workspace reads of itself: every read in the table, and every listing."""
    reads: list[Probe | Listing] = [
        p for _, p in _every(Probe) if p.method == "GET" and p.route not in UNSTABLE_READS
    ]
    # Unfiltered listings only: a filtered one shows a part of the same.
    reads += [
        row
        for _, row in _every(Listing)
        if row.route not in UNSTABLE_READS and "T(" not in repr((row.body, row.query))
    ]

    async def read(row: Probe | Listing) -> tuple[str, Any]:
        if isinstance(row, Probe):
            response = await _probe(client, row, world, world)
        else:
            response = await _listing(client, row, world)
        assert response.is_success, f"{row}: {response.status_code} {response.text}"
        if "json" not in response.headers.get("content-type", ""):
            return f"{row} {response.request.url}", response.text  # logs/download: text
        return f"{row} {response.request.url}", _stable(response.json())

    return dict(await asyncio.gather(*(read(row) for row in reads)))


def _changes(before: Any, after: Any, where: str = "") -> Iterator[str]:
    if isinstance(before, dict) and isinstance(after, dict):
        for key in sorted(set(before) | set(after), key=str):
            yield from _changes(before.get(key), after.get(key), f"{where}.{key}")
    elif isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        for i, (one, other) in enumerate(zip(before, after, strict=True)):
            yield from _changes(one, other, f"{where}[{i}]")
    elif before != after:
        yield f"{where}: {json.dumps(before)[:200]} -> {json.dumps(after)[:200]}"


def _diff(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    return [
        f"  {key}: {change}"
        for key in sorted(set(before) | set(after))
        for change in _changes(before.get(key), after.get(key))
    ]


# The order the groups run in: each group's controls change or delete B's own objects, so
# the groups whose objects others hang off (flows, pools, flow runs) come last.
GROUPS = [
    "events",
    "logs",
    "saved_searches",
    "automations",
    "variables",
    "artifacts",
    "concurrency_limits_v2",
    "concurrency_limits",
    "block_types",
    "block_schemas",
    "block_documents",
    "task_runs",
    "flow_runs",
    "deployments",
    "work_queues",
    "workers",
    "work_pools",
    "flows",
]
assert sorted(GROUPS) == sorted(MATRIX)


def _tokens(text: str) -> set[str]:
    return set(UUID.findall(text))


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize("group", GROUPS)
async def test_workspace_b_neither_sees_nor_changes_a(worlds: Worlds, group: str) -> None:
    probes, listings = MATRIX[group]
    a, b, alpha, beta = worlds.a, worlds.b, worlds.alpha, worlds.beta
    # A's tokens: the ids A reads of itself (less the account, which both belong to).
    account = str(worlds.app.state.default_account_id)
    tokens = (_tokens(json.dumps(worlds.baseline)) - {account}) | {"alpha"}

    def leaks(response: httpx.Response) -> list[str]:
        if not response.is_success:
            return []  # an error may name what was asked for; only answers must not
        # What B sent may come back (``{"<id>": 0}``); nothing else of A's may.
        asked = str(response.request.url) + response.request.content.decode()
        return sorted(t for t in tokens if t in response.text and t not in asked)

    failures: list[str] = []
    for listing in listings:
        theirs = await _listing(b, listing, alpha)
        if not theirs.is_success or leaks(theirs):
            failures.append(
                f"{listing} from B shows A's {leaks(theirs)}: "
                f"{theirs.status_code} {theirs.text[:300]}"
            )
        # Mirror images: populated, B saw as much of its own as A of its own, and something.
        own_a, own_b = (worlds.own_sizes[(str(listing), side)] for side in "AB")
        if own_a != own_b or (not own_a and listing.route not in MAY_BE_EMPTY):
            failures.append(f"{listing}: A saw {own_a} of its own, B {own_b} of its own")
    for probe in probes:
        response = await _probe(b, probe, alpha, beta)
        if not probe.refused(response) or leaks(response):
            failures.append(
                f"{probe} from B on A's object: {response.status_code} {response.text[:300]}"
            )
    for probe in probes:
        response = await _probe(b, probe, beta, beta)
        if not probe.control(response):
            failures.append(
                f"{probe} control (B on its own object) did not succeed, so the probe proves "
                f"nothing: {response.status_code} {response.text[:300]}"
            )
    after = await snapshot(a, alpha)
    changes = _diff(worlds.baseline, after)
    if changes:
        shown = "\n".join(changes[:30]) + (f"\n  … {len(changes) - 30} more" * (len(changes) > 30))
        failures.append(f"A changed by the {group} rows:\n{shown}")
    worlds.baseline = after
    assert not failures, f"{len(failures)} isolation failures:\n" + "\n".join(failures)


def _workspace_routes(app: FastAPI) -> Iterator[tuple[str, str]]:
    def walk(routes: Sequence[Any], prefix: str) -> Iterator[tuple[str, str]]:
        for route in routes:
            if hasattr(route, "original_router"):  # an included router, kept as such
                yield from walk(route.original_router.routes, prefix + route.include_context.prefix)
                continue
            path = prefix + getattr(route, "path", "")
            for method in getattr(route, "methods", None) or {"WS"}:
                yield method, path

    api = "/api" + WORKSPACE_PREFIX.removeprefix("/api")
    for method, path in walk(app.routes, ""):
        if path.startswith(api) and method != "HEAD":
            yield method, path.removeprefix(api)


# A route that names an object in its path, or lists, counts or bulk-changes objects by a
# filter, must have a row in the matrix.
LISTS = re.compile(r"/(filter|count|paginate|history|lateness|bulk_\w+|next)$|_states/$")


# Websockets naming an object are probed from two workspaces by their own tests (the
# matrix speaks HTTP).
WEBSOCKETS_COVERED_ELSEWHERE = {
    "WS /work_pools/{name}/workers/connect": (
        "tests/server/api/test_worker_channel.py::"
        "test_the_channel_serves_only_its_workspace_s_pool"
    ),
}


def test_every_workspace_route_naming_an_object_is_in_the_matrix() -> None:
    app = create_app(Settings(), services=False)  # not started: only its routes are read
    covered = {row.route for _, row in _every(Probe)} | {row.route for _, row in _every(Listing)}
    covered |= set(WEBSOCKETS_COVERED_ELSEWHERE)
    routes = {f"{m} {p}" for m, p in _workspace_routes(app)}
    assert len(routes) > 100, "the route walk found too few routes: has FastAPI changed?"
    named = {r for r in routes if "{" in r or LISTS.search(r)}
    missing = sorted(named - covered)
    assert not missing, (
        "Workspace routes with no row in the isolation matrix (add a Probe for each "
        "operation naming an object, a Listing for each list/count): " + ", ".join(missing)
    )
    stale = sorted(covered - routes)
    assert not stale, f"Matrix rows for routes the app does not serve: {stale}"


# --- the same names on both sides -----------------------------------------------------------


async def _create_named(client: httpx.AsyncClient) -> dict[str, tuple[int, str]]:
    """One of each named resource, all called "shared": (status, id) by resource."""
    answers: dict[str, httpx.Response] = {}
    answers["flow"] = await client.post("/flows/", json={"name": "shared"})
    flow_id = answers["flow"].json()["id"]
    answers["pool"] = await client.post("/work_pools/", json={"name": "shared", "type": "process"})
    answers["queue"] = await client.post("/work_pools/shared/queues", json={"name": "shared"})
    answers["deployment"] = await client.post(
        "/deployments/",
        json={"name": "shared", "flow_id": flow_id, "work_pool_name": "shared"},
    )
    answers["variable"] = await client.post("/variables/", json={"name": "shared", "value": 1})
    answers["tag_limit"] = await client.post(
        "/concurrency_limits/", json={"tag": "shared", "concurrency_limit": 1}
    )
    answers["limit"] = await client.post(
        "/v2/concurrency_limits/", json={"name": "shared", "limit": 1}
    )
    answers["block_type"] = await client.post(
        "/block_types/", json={"name": "Shared", "slug": "shared"}
    )
    block_type_id = answers["block_type"].json()["id"]
    # The same fields, so the same checksum on both sides.
    answers["block_schema"] = await client.post(
        "/block_schemas/", json={"fields": VAULT, "block_type_id": block_type_id}
    )
    answers["block_document"] = await client.post(
        "/block_documents/",
        json={
            "name": "shared",
            "data": {"user": "u", "password": "p"},
            "block_type_id": block_type_id,
            "block_schema_id": answers["block_schema"].json()["id"],
        },
    )
    answers["artifact"] = await client.post("/artifacts/", json={"key": "shared", "data": 1})
    answers["saved_search"] = await client.put(
        "/saved_searches/", json={"name": "shared", "filters": []}
    )
    for name, answer in answers.items():
        assert answer.is_success, f"{name}: {answer.status_code} {answer.text}"
    return {name: (answer.status_code, answer.json()["id"]) for name, answer in answers.items()}


async def _read_named(client: httpx.AsyncClient, schema_checksum: str) -> dict[str, str]:
    """Each "shared" object, read back by its name: ids by resource."""
    paths = {
        "flow": "/flows/name/shared",
        "pool": "/work_pools/shared",
        "queue": "/work_pools/shared/queues/shared",
        "deployment": "/deployments/name/shared/shared",
        "variable": "/variables/name/shared",
        "tag_limit": "/concurrency_limits/tag/shared",
        "limit": "/v2/concurrency_limits/shared",
        "block_type": "/block_types/slug/shared",
        "block_schema": f"/block_schemas/checksum/{schema_checksum}",
        "block_document": "/block_types/slug/shared/block_documents/name/shared",
        "artifact": "/artifacts/shared/latest",
    }
    read = {}
    for name, path in paths.items():
        answer = await client.get(path)
        assert answer.status_code == 200, f"{name}: {answer.status_code} {answer.text}"
        read[name] = answer.json()["id"]
    [search] = (await client.post("/saved_searches/filter", json={})).json()
    read["saved_search"] = search["id"]
    return read


B_FILTER = {"object": "flow", "property": "name", "type": "string", "operation": "eq", "value": "b"}


async def test_the_same_names_in_two_workspaces_are_two_objects(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """Every name is unique per workspace, not per server: B creating A's names creates
    B's own objects (201, not "it exists" nor an upsert of A's), each side reads its own by
    name, and B's changes by name leave A's objects as they were."""
    async with app.state.db.write() as session:
        second = await tenancy.create_workspace(
            session, app.state.default_account_id, "Second", "second"
        )
    prefix = f"/api/accounts/{second.account_id}/workspaces/{second.id}"
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=f"http://test{prefix}"
    ) as other:
        created_a = await _create_named(client)
        created_b = await _create_named(other)
        assert {k: s for k, (s, _) in created_b.items()} == {k: 201 for k in created_b}
        ids_a = {k: i for k, (_, i) in created_a.items()}
        ids_b = {k: i for k, (_, i) in created_b.items()}
        assert not set(ids_a.values()) & set(ids_b.values())
        checksum = (await client.get(f"/block_schemas/{ids_a['block_schema']}")).json()["checksum"]
        assert await _read_named(client, checksum) == ids_a
        assert await _read_named(other, checksum) == ids_b

        # B changes its "shared" objects by name; A's stay as they were.
        before = {
            "variable": (await client.get("/variables/name/shared")).json(),
            "tag_limit": (await client.get("/concurrency_limits/tag/shared")).json(),
            "limit": (await client.get("/v2/concurrency_limits/shared")).json(),
            "pool": (await client.get("/work_pools/shared")).json(),
            "queue": (await client.get("/work_pools/shared/queues/shared")).json(),
        }
        changes = [
            other.patch("/variables/name/shared", json={"value": 2}),
            other.post("/concurrency_limits/", json={"tag": "shared", "concurrency_limit": 5}),
            other.patch("/v2/concurrency_limits/shared", json={"limit": 5}),
            other.patch("/work_pools/shared", json={"description": "B's"}),
            other.patch("/work_pools/shared/queues/shared", json={"description": "B's"}),
            other.put("/saved_searches/", json={"name": "shared", "filters": [B_FILTER]}),
        ]
        for change in changes:
            answer = await change
            assert answer.is_success, answer.text
        assert (await other.get("/variables/name/shared")).json()["value"] == 2
        assert before == {
            "variable": (await client.get("/variables/name/shared")).json(),
            "tag_limit": (await client.get("/concurrency_limits/tag/shared")).json(),
            "limit": (await client.get("/v2/concurrency_limits/shared")).json(),
            "pool": (await client.get("/work_pools/shared")).json(),
            "queue": (await client.get("/work_pools/shared/queues/shared")).json(),
        }
        [search] = (await client.post("/saved_searches/filter", json={})).json()
        assert search["filters"] == []
