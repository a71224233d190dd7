"""The trigger engine: reactive and proactive event triggers, compound and sequence
triggers, the throttle, and state that survives a restart."""

from __future__ import annotations

import datetime as dt
import uuid

import httpx
from automation_helpers import (
    create_automation,
    engine_for,
    event,
    names,
    reactive,
    send,
    stored_events,
)
from fastapi import FastAPI
from task_run_events import make_flow_run, task_run_event

from flowyard.schemas import core
from flowyard.server.queries import tenancy

RUN_A = f"prefect.flow-run.{uuid.uuid4()}"
RUN_B = f"prefect.flow-run.{uuid.uuid4()}"
COMPLETED = "prefect.flow-run.Completed"
RUNNING = "prefect.flow-run.Running"
FIRED_ONCE = ["prefect.automation.triggered", "prefect.automation.action.triggered",
              "prefect.automation.action.executed"]  # fmt: skip


async def test_reactive_threshold_counts_per_for_each_value(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    engine = await engine_for(app)
    trigger = reactive([COMPLETED], threshold=2, within=60, for_each=["prefect.resource.id"])
    automation = await create_automation(client, trigger)
    await send(app, engine, event(COMPLETED, RUN_A), event(COMPLETED, RUN_B))
    assert await names(app.state.db) == []
    fourth = event(COMPLETED, RUN_A)
    await send(app, engine, fourth)
    assert await names(app.state.db) == FIRED_ONCE
    [triggered] = [e for e in await stored_events(app.state.db)
                   if e.event == "prefect.automation.triggered"]  # fmt: skip
    assert triggered.resource["prefect.resource.id"] == f"prefect.automation.{automation['id']}"
    assert triggered.payload["triggering_event"]["id"] == str(fourth.id)
    await engine.stop()


async def test_events_of_other_names_and_resources_are_not_counted(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    engine = await engine_for(app)
    await create_automation(client, reactive([COMPLETED], match={"prefect.resource.id": RUN_A}))
    await send(app, engine, event("prefect.flow-run.Failed", RUN_A), event(COMPLETED, RUN_B))
    assert await names(app.state.db) == []
    await send(app, engine, event(COMPLETED, RUN_A))
    assert await names(app.state.db) == FIRED_ONCE
    await engine.stop()


async def test_match_related(app: FastAPI, client: httpx.AsyncClient) -> None:
    engine = await engine_for(app)
    deployment = f"prefect.deployment.{uuid.uuid4()}"
    related = {"prefect.resource.id": deployment, "prefect.resource.role": "deployment"}
    await create_automation(client, reactive([COMPLETED], match_related=related))
    await send(app, engine, event(COMPLETED, RUN_A))
    assert await names(app.state.db) == []
    await send(app, engine, event(COMPLETED, RUN_A, related=[related]))
    assert await names(app.state.db) == FIRED_ONCE
    await engine.stop()


async def test_window_that_ended_starts_over(app: FastAPI, client: httpx.AsyncClient) -> None:
    engine = await engine_for(app)
    await create_automation(client, reactive([COMPLETED], threshold=2, within=10))
    start = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    await send(app, engine, event(COMPLETED, RUN_A, occurred=start),
               event(COMPLETED, RUN_A, occurred=start + dt.timedelta(seconds=20)))  # fmt: skip
    assert await names(app.state.db) == []
    await send(app, engine, event(COMPLETED, RUN_A, occurred=start + dt.timedelta(seconds=25)))
    assert await names(app.state.db) == FIRED_ONCE
    await engine.stop()


async def test_after_arms_the_trigger(app: FastAPI, client: httpx.AsyncClient) -> None:
    engine = await engine_for(app)
    trigger = reactive([COMPLETED], after=[RUNNING], for_each=["prefect.resource.id"])
    await create_automation(client, trigger)
    await send(app, engine, event(COMPLETED, RUN_A))  # never Running: not armed
    await send(app, engine, event(RUNNING, RUN_B))  # armed for B only
    await send(app, engine, event(COMPLETED, RUN_A))
    assert await names(app.state.db) == []
    await send(app, engine, event(COMPLETED, RUN_B))
    assert await names(app.state.db) == FIRED_ONCE
    await engine.stop()


async def test_proactive_fires_when_the_expected_event_does_not_come(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    engine = await engine_for(app)
    trigger = {"type": "event", "posture": "Proactive", "after": [RUNNING], "within": 30,
               "expect": [COMPLETED], "for_each": ["prefect.resource.id"]}  # fmt: skip
    await create_automation(client, trigger)
    now = dt.datetime.now(dt.UTC)
    await send(app, engine, event(RUNNING, RUN_A), event(RUNNING, RUN_B))
    await send(app, engine, event(COMPLETED, RUN_B))  # B completed in time
    assert await engine.check_deadlines(now + dt.timedelta(seconds=10)) == 0
    assert await engine.check_deadlines(now + dt.timedelta(seconds=31)) == 1
    fired = [e for e in await stored_events(app.state.db)
             if e.event == "prefect.automation.triggered"]  # fmt: skip
    assert [e.payload["triggering_event"]["resource"]["prefect.resource.id"]
            for e in fired] == [RUN_A]  # fmt: skip
    assert fired[0].resource["prefect.posture"] == "Proactive"
    # The wait is over: a later check fires nothing more.
    assert await engine.check_deadlines(now + dt.timedelta(seconds=120)) == 0
    await engine.stop()


async def test_proactive_heartbeat_fires_then_resolves(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    engine = await engine_for(app)
    trigger = {"type": "event", "posture": "Proactive", "expect": ["test.heartbeat"],
               "match": {"prefect.resource.id": "test.worker.*"}, "within": 60}  # fmt: skip
    await create_automation(client, trigger, actions_on_resolve=[{"type": "do-nothing"}])
    await engine.refresh()  # opens the window (creating it, the change also queued one)
    await engine.drain()
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=61)
    assert await engine.check_deadlines(later) == 1
    await send(app, engine, event("test.heartbeat", "test.worker.1"))
    assert await names(app.state.db) == [*FIRED_ONCE, "prefect.automation.resolved",
                                         "prefect.automation.action.triggered",
                                         "prefect.automation.action.executed"]  # fmt: skip
    await engine.stop()


async def test_compound_all_and_any(app: FastAPI, client: httpx.AsyncClient) -> None:
    engine = await engine_for(app)
    both = {"type": "compound", "require": "all", "within": 60,
            "triggers": [reactive(["test.x"]), reactive(["test.y"])]}  # fmt: skip
    await create_automation(client, both, name="both")
    await send(app, engine, event("test.x", "test.r.1"), event("test.x", "test.r.1"))
    assert await names(app.state.db) == []
    await send(app, engine, event("test.y", "test.r.1"))
    assert await names(app.state.db) == FIRED_ONCE
    await send(app, engine, event("test.y", "test.r.1"))  # starts over: x is needed again
    assert await names(app.state.db) == FIRED_ONCE
    await engine.stop()


async def test_compound_within_drops_old_children(app: FastAPI, client: httpx.AsyncClient) -> None:
    engine = await engine_for(app)
    children = [reactive(["test.x"]), reactive(["test.y"]), reactive(["test.z"])]
    both = {"type": "compound", "require": 2, "within": 30, "triggers": children}
    await create_automation(client, both)
    old = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=2)
    await send(app, engine, event("test.x", "test.r.1", occurred=old), event("test.z", "test.r.1"))
    assert await names(app.state.db) == []
    await send(app, engine, event("test.y", "test.r.1"))
    assert await names(app.state.db) == FIRED_ONCE
    await engine.stop()


async def test_sequence_fires_only_in_order(app: FastAPI, client: httpx.AsyncClient) -> None:
    engine = await engine_for(app)
    sequence = {"type": "sequence", "within": 60,
                "triggers": [reactive(["test.first"]), reactive(["test.second"])]}  # fmt: skip
    await create_automation(client, sequence)
    await send(app, engine, event("test.second", "test.r.1"), event("test.first", "test.r.1"))
    assert await names(app.state.db) == []
    await send(app, engine, event("test.second", "test.r.1"))
    assert await names(app.state.db) == FIRED_ONCE
    await engine.stop()


async def test_an_automation_firing_too_fast_is_throttled(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    engine = await engine_for(app, server_automations_max_firings_per_minute=2)
    await create_automation(client, reactive([COMPLETED]))
    await send(app, engine, *[event(COMPLETED, RUN_A) for _ in range(5)])
    fired = await names(app.state.db)
    assert fired.count("prefect.automation.triggered") == 2
    assert fired.count("prefect.automation.action.executed") == 2
    assert fired.count("prefect.automation.throttled") == 1
    [throttled] = [e for e in await stored_events(app.state.db)
                   if e.event == "prefect.automation.throttled"]  # fmt: skip
    assert "more than 2 times in the last minute" in throttled.payload["reason"]
    await engine.stop()


async def test_counts_survive_a_restart(app: FastAPI, client: httpx.AsyncClient) -> None:
    engine = await engine_for(app)
    await create_automation(client, reactive([COMPLETED], threshold=2, within=600))
    await send(app, engine, event(COMPLETED, RUN_A))
    await engine.stop()
    restarted = await engine_for(app)
    await send(app, restarted, event(COMPLETED, RUN_A))
    assert await names(app.state.db) == FIRED_ONCE
    await restarted.stop()


async def test_paused_automation_does_not_fire(app: FastAPI, client: httpx.AsyncClient) -> None:
    engine = await engine_for(app)
    created = await create_automation(client, reactive([COMPLETED]))
    await client.patch(f"/automations/{created['id']}", json={"enabled": False})
    await engine.drain()
    await send(app, engine, event(COMPLETED, RUN_A))
    assert await names(app.state.db) == []
    await client.patch(f"/automations/{created['id']}", json={"enabled": True})
    await send(app, engine, event(COMPLETED, RUN_A))
    assert await names(app.state.db) == FIRED_ONCE
    await engine.stop()


async def test_events_of_another_workspace_do_not_fire(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    engine = await engine_for(app)
    await create_automation(client, reactive([COMPLETED]))
    async with app.state.db.write() as session:
        other = await tenancy.create_workspace(
            session, app.state.default_account_id, "other", "other"
        )
    await send(app, engine, event(COMPLETED, RUN_A), workspace_id=other.id)
    assert await names(app.state.db) == []
    await engine.stop()


async def test_task_run_states_reach_triggers_that_name_them(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    # Task-run states are stored as state rows and announced to listeners that ask for
    # them; the engine asks only while a trigger may want one (they cost the hot path).
    engine = await engine_for(app)
    db = app.state.db
    run_id = await make_flow_run(db, app.state.default_workspace_id)
    task_id = uuid.uuid4()
    completed = core.Event.model_validate(
        task_run_event(task_id, run_id, "Completed", "COMPLETED", dt.datetime.now(dt.UTC))
    )
    await send(app, engine, completed)
    assert await names(db) == []
    await create_automation(client, reactive(["prefect.task-run.Completed"]))
    await engine.drain()
    again = core.Event.model_validate(
        task_run_event(uuid.uuid4(), run_id, "Completed", "COMPLETED", dt.datetime.now(dt.UTC))
    )
    await send(app, engine, again)
    assert await names(db) == FIRED_ONCE
    await engine.stop()
