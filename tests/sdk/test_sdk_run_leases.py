"""Every flow run the SDK executes holds a lease while Running (issue 9, point 3): declared
with the Running proposal (no request of its own before the flow body), renewed off the
main thread, dropped by the server with the final state (no request after it)."""

from __future__ import annotations

import json
import os
import sqlite3
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from flowyard import flow, get_run_context, task
from flowyard.sdk.engine.api import get_api
from flowyard.settings import Settings


def leases() -> dict[uuid.UUID, tuple[str, Any]]:
    """The flow-run leases in the embedded database: run id -> (expiration, holder)."""
    url = Settings().resolved_database_url
    path = url.split(":///", 1)[1]
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT flow_run_id, expiration, holder FROM flow_run_lease")
        return {
            uuid.UUID(str(run_id)): (expiration, json.loads(holder) if holder else None)
            for run_id, expiration, holder in rows
        }


@pytest.fixture
def requests() -> Iterator[list[httpx.Request]]:
    """Every request the engine's client sends during the test, in order."""
    sent: list[httpx.Request] = []

    async def record(request: httpx.Request) -> None:
        sent.append(request)

    http = get_api().client.async_client._http
    http.event_hooks["request"].append(record)
    yield sent
    http.event_hooks["request"].remove(record)


def test_a_flow_run_holds_a_lease_from_its_running_request_and_no_other(
    requests: list[httpx.Request],
) -> None:
    seen: dict[str, Any] = {}

    @task
    def double(x: int) -> int:
        return 2 * x

    @flow
    def ten_tasks() -> int:
        seen["requests before the body"] = list(requests)
        run_id = get_run_context().flow_run.id
        seen["run"] = run_id
        seen["leases"] = leases()
        return sum(double(i) for i in range(10))

    assert ten_tasks() == 90
    run_id = seen["run"]
    expiration, holder = seen["leases"][run_id]
    assert holder == {"type": "process", "hostname": holder["hostname"], "pid": os.getpid()}

    before = [(r.method, r.url.path.rsplit("/api", 1)[1]) for r in seen["requests before the body"]]
    # What a flow run sent before the lease existed: nothing more.
    assert before == [
        ("POST", "/flows/"),
        ("POST", "/flow_runs/"),
        ("POST", f"/flow_runs/{run_id}/set_state"),
    ]
    running = json.loads(seen["requests before the body"][-1].content)
    assert running["state"]["type"] == "RUNNING"
    assert running["lease"]["lease_seconds"] == 30.0 and running["lease"]["holder"] == holder
    # Neither renewed (the run was shorter than a third of the lease) nor released by a
    # request of its own: the final state dropped it.
    assert not [r for r in requests if r.url.path.endswith("/lease")]
    assert run_id not in leases()


def test_a_subflow_holds_its_own_lease_beside_its_parent() -> None:
    seen: dict[str, Any] = {}

    @flow
    def child() -> None:
        seen["child"] = get_run_context().flow_run.id
        seen["leases"] = leases()

    @flow
    def parent() -> None:
        seen["parent"] = get_run_context().flow_run.id
        child()

    parent()
    assert {seen["parent"], seen["child"]} <= set(seen["leases"])
    assert not {seen["parent"], seen["child"]} & set(leases())


def test_the_heartbeat_renews_a_long_run_off_the_main_thread(
    requests: list[httpx.Request], monkeypatch: pytest.MonkeyPatch
) -> None:
    from flowyard.settings import cached_settings

    monkeypatch.setenv("FLOWYARD_RUNNER_LEASE_SECONDS", "0.6")
    cached_settings.cache_clear()
    seen: dict[str, Any] = {}

    @flow
    def long_run() -> None:
        run_id = get_run_context().flow_run.id
        first = leases()[run_id][0]
        # Busy in the main thread, holding the GIL most of the time, until renewed (or
        # given up on: a generous bound that only keeps a broken heartbeat from hanging).
        give_up = time.monotonic() + 60
        while leases()[run_id][0] == first and time.monotonic() < give_up:
            sum(range(10_000))
        seen["renewed"] = leases()[run_id][0] > first

    try:
        long_run()
    finally:
        cached_settings.cache_clear()
    assert seen["renewed"]
    assert [r for r in requests if r.url.path.endswith("/lease") and r.method == "POST"]


def test_runner_leases_off_declares_none(
    requests: list[httpx.Request], monkeypatch: pytest.MonkeyPatch
) -> None:
    from flowyard.settings import cached_settings

    monkeypatch.setenv("FLOWYARD_RUNNER_LEASES", "false")
    cached_settings.cache_clear()
    seen: dict[str, Any] = {}

    @flow
    def unleased() -> None:
        seen["leases"] = leases()

    try:
        unleased()
    finally:
        cached_settings.cache_clear()
    assert seen["leases"] == {}
    running = [json.loads(r.content) for r in requests if r.url.path.endswith("/set_state")]
    assert all("lease" not in body for body in running)


def test_a_server_that_refuses_the_declared_lease_gets_the_lease_by_its_own_request(
    requests: list[httpx.Request], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A server from before leases rode on Running refuses the unknown key (422): the
    # engine proposes Running again without it and takes the lease by a request of its own.
    from pydantic import TypeAdapter

    from flowyard.schemas.states import SetStateRequest
    from flowyard.server.api import flow_runs as router

    class OldSetStateRequest(SetStateRequest):
        @property
        def lease(self) -> None:
            return None  # what the route reads; the body may not carry it

    monkeypatch.setattr(router, "SET_STATE_BODY", TypeAdapter(OldSetStateRequest))
    seen: dict[str, Any] = {}

    @flow
    def on_an_old_server() -> None:
        seen["run"] = get_run_context().flow_run.id
        seen["leases"] = leases()
        seen["sent"] = [(r.method, r.url.path.rsplit("/", 1)[1]) for r in requests]

    on_an_old_server()
    assert seen["run"] in seen["leases"]
    assert seen["sent"][-3:] == [("POST", "set_state"), ("POST", "set_state"), ("POST", "lease")]
    assert not get_api().declares_leases
