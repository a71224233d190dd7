"""Automation actions: each acts through the application layer in the automation's own
workspace, renders its templates in a sandbox, and reports executed or failed."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from automation_helpers import create_automation, engine_for, event, names, send, stored_events
from fastapi import FastAPI

from flowyard.server.app import WORKSPACE_PREFIX
from flowyard.server.queries import tenancy

POKE = "test.poke"


def on_poke(**extra: Any) -> dict[str, Any]:
    return {"type": "event", "posture": "Reactive", "expect": [POKE], **extra}


async def ok(response: httpx.Response) -> Any:
    assert response.is_success, response.text
    return response.json() if response.content else None


async def deployment(client: httpx.AsyncClient, name: str) -> dict[str, Any]:
    flow = await ok(await client.post("/flows/", json={"name": f"{name}-flow"}))
    created: dict[str, Any] = await ok(
        await client.post("/deployments/", json={"name": name, "flow_id": flow["id"]})
    )
    return created


async def running_run(client: httpx.AsyncClient, deployment: dict[str, Any]) -> dict[str, Any]:
    run: dict[str, Any] = await ok(
        await client.post(
            f"/deployments/{deployment['id']}/create_flow_run",
            json={"name": "first-run", "state": {"type": "RUNNING"}},
        )
    )
    return run


async def runs_of(client: httpx.AsyncClient, deployment_id: str) -> list[dict[str, Any]]:
    body = {"deployments": {"id": {"any_": [deployment_id]}}}
    found: list[dict[str, Any]] = await ok(await client.post("/flow_runs/filter", json=body))
    return found


async def test_run_deployment_on_completion_with_templated_parameters(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    engine = await engine_for(app)
    upstream = await deployment(client, "upstream")
    downstream = await deployment(client, "downstream")
    of_upstream = {"prefect.resource.role": "deployment",
                   "prefect.resource.id": f"prefect.deployment.{upstream['id']}"}  # fmt: skip
    trigger = {"type": "event", "posture": "Reactive", "expect": ["prefect.flow-run.Completed"],
               "match_related": of_upstream}  # fmt: skip
    action = {"type": "run-deployment", "deployment_id": downstream["id"],
              "parameters": {"after": "{{ flow_run.name }} of {{ flow.name }}",
                             "via": "{{ deployment.name }}", "count": 3},
              "job_variables": {"env": {"WHY": "{{ event.event }}"}}}  # fmt: skip
    await create_automation(client, trigger, [action])
    run = await running_run(client, upstream)
    await ok(await client.post(f"/flow_runs/{run['id']}/set_state",
                               json={"state": {"type": "COMPLETED"}}))  # fmt: skip
    await engine.drain()
    [started] = await runs_of(client, downstream["id"])
    assert started["parameters"] == {"after": "first-run of upstream-flow", "via": "upstream",
                                     "count": 3}  # fmt: skip
    assert started["job_variables"] == {"env": {"WHY": "prefect.flow-run.Completed"}}
    [executed] = [e for e in await stored_events(app.state.db)
                  if e.event == "prefect.automation.action.executed"]  # fmt: skip
    assert {"prefect.resource.id": f"prefect.flow-run.{started['id']}",
            "prefect.resource.role": "flow-run",
            "prefect.resource.name": started["name"]} in executed.related  # fmt: skip
    await engine.stop()


async def test_sandbox_refuses_reaching_python_internals(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    engine = await engine_for(app)
    target = await deployment(client, "target")
    action = {"type": "run-deployment", "deployment_id": target["id"],
              "parameters": {"x": "{{ event.__class__.__mro__[1].__subclasses__() }}"}}  # fmt: skip
    await create_automation(client, on_poke(), [action])
    await send(app, engine, event(POKE, "test.thing.1"))
    assert await runs_of(client, target["id"]) == []
    [failed] = [e for e in await stored_events(app.state.db)
                if e.event == "prefect.automation.action.failed"]  # fmt: skip
    assert "template failed to render" in failed.payload["reason"]
    await engine.stop()


async def test_pause_and_resume_deployment_inferred_from_the_event(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    engine = await engine_for(app)
    target = await deployment(client, "target")
    await create_automation(client, on_poke(), [{"type": "pause-deployment", "source": "inferred"}])
    related = [{"prefect.resource.id": f"prefect.deployment.{target['id']}",
                "prefect.resource.role": "deployment"}]  # fmt: skip
    await send(app, engine, event(POKE, "test.thing.1", related=related))
    assert (await ok(await client.get(f"/deployments/{target['id']}")))["paused"] is True
    await engine.stop()


async def test_flow_run_actions(app: FastAPI, client: httpx.AsyncClient) -> None:
    engine = await engine_for(app)
    target = await deployment(client, "target")
    change = {"type": "change-flow-run-state", "state": "FAILED", "name": "Failed by automation",
              "message": "{{ event.event }} said so"}  # fmt: skip
    await create_automation(client, on_poke(), [change], name="change")
    await create_automation(client, on_poke(expect=["test.cancel"]),
                            [{"type": "cancel-flow-run"}], name="cancel")  # fmt: skip
    failing, cancelled = await running_run(client, target), await running_run(client, target)
    await send(app, engine, event(POKE, f"prefect.flow-run.{failing['id']}"),
               event("test.cancel", f"prefect.flow-run.{cancelled['id']}"))  # fmt: skip
    state = (await ok(await client.get(f"/flow_runs/{failing['id']}")))["state"]
    assert (state["type"], state["name"], state["message"]) == (
        "FAILED",
        "Failed by automation",
        "test.poke said so",
    )
    state = (await ok(await client.get(f"/flow_runs/{cancelled['id']}")))["state"]
    assert state["type"] == "CANCELLING"
    await engine.stop()


async def test_pause_work_pool_queue_and_automation(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    engine = await engine_for(app)
    pool = await ok(await client.post("/work_pools/", json={"name": "pool", "type": "process"}))
    queue = await ok(await client.post("/work_pools/pool/queues", json={"name": "q"}))
    other = await create_automation(client, on_poke(expect=["test.other"]), name="other")
    actions = [{"type": "pause-work-pool", "work_pool_id": pool["id"]},
               {"type": "pause-work-queue", "work_queue_id": queue["id"]},
               {"type": "pause-automation", "automation_id": other["id"]}]  # fmt: skip
    await create_automation(client, on_poke(), actions)
    await send(app, engine, event(POKE, "test.thing.1"))
    assert (await ok(await client.get("/work_pools/pool")))["is_paused"] is True
    assert (await ok(await client.get(f"/work_queues/{queue['id']}")))["is_paused"] is True
    assert (await ok(await client.get(f"/automations/{other['id']}")))["enabled"] is False
    assert (await names(app.state.db)).count("prefect.automation.action.executed") == 3
    await engine.stop()


async def test_a_failed_action_says_why_and_the_next_still_runs(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    engine = await engine_for(app)
    actions = [{"type": "run-deployment", "deployment_id": str(uuid.uuid4())},
               {"type": "cancel-flow-run"},
               {"type": "do-nothing"}]  # fmt: skip
    await create_automation(client, on_poke(), actions)
    await send(app, engine, event(POKE, "test.thing.1"))
    outcomes = [(e.event, e.payload.get("action_index"), e.payload.get("reason"))
                for e in await stored_events(app.state.db, "prefect.automation.action.")
                if e.event != "prefect.automation.action.triggered"]  # fmt: skip
    assert sorted(outcomes, key=lambda o: o[1]) == [
        ("prefect.automation.action.failed", 0, "Deployment not found."),
        ("prefect.automation.action.failed", 1,
         "No prefect.flow-run resource on the triggering event."),
        ("prefect.automation.action.executed", 2, None),
    ]  # fmt: skip
    await engine.stop()


async def test_actions_never_reach_another_workspace(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    engine = await engine_for(app)
    async with app.state.db.write() as session:
        other = await tenancy.create_workspace(session, app.state.default_account_id, "b", "b")
    prefix = WORKSPACE_PREFIX.format(account_id=app.state.default_account_id, workspace_id=other.id)
    other_client = httpx.AsyncClient(transport=client._transport, base_url=f"http://test{prefix}")
    async with other_client:
        theirs = await deployment(other_client, "theirs")
        # An automation of the default workspace naming the other workspace's deployment.
        action = {"type": "run-deployment", "deployment_id": theirs["id"]}
        await create_automation(client, on_poke(), [action])
        await send(app, engine, event(POKE, "test.thing.1"))
        assert await runs_of(other_client, theirs["id"]) == []
    [failed] = [e for e in await stored_events(app.state.db)
                if e.event == "prefect.automation.action.failed"]  # fmt: skip
    assert failed.payload["reason"] == "Deployment not found."
    await engine.stop()
