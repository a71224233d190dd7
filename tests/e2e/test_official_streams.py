"""The official client's stream subscribers work against the server: ``get_events_subscriber``
(``/api/events/out``, which ``serve()`` subscribes to for cancellations instead of polling)
and ``get_logs_subscriber`` (``/api/logs/out``), each in a process of the official client's
own venv, as a user would run them."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import textwrap
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.e2e

READY_TIMEOUT = 60.0
DONE_TIMEOUT = 60.0

SUBSCRIBER = textwrap.dedent(
    """
    import asyncio
    import json
    import sys

    from prefect.events.clients import get_events_subscriber
    from prefect.events.filters import EventFilter, EventNameFilter
    from prefect.logging.clients import get_logs_subscriber
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    KIND, KEY, WANTED = sys.argv[1], sys.argv[2], int(sys.argv[3])


    async def events() -> list[str]:
        flt = EventFilter(event=EventNameFilter(prefix=[KEY]))
        got = []
        async with get_events_subscriber(filter=flt) as subscriber:
            print("ready", flush=True)
            async for event in subscriber:
                got.append(event.event)
                if len(got) == WANTED:
                    return got
        return got


    async def logs() -> list[str]:
        flt = LogFilter(flow_run_id=LogFilterFlowRunId(any_=[KEY]))
        got = []
        async with get_logs_subscriber(filter=flt) as subscriber:
            print("ready", flush=True)
            async for log in subscriber:
                got.append(log.message)
                if len(got) == WANTED:
                    return got
        return got


    found = asyncio.run(asyncio.wait_for(events() if KIND == "events" else logs(), 60))
    print(json.dumps(found), flush=True)
    """
)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


def _start(python: Path, env: dict[str, str], tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    script = tmp_path / "subscriber.py"
    script.write_text(SUBSCRIBER)
    proc = subprocess.Popen(
        [str(python), str(script), *args],
        env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    end = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < end:
        line = proc.stdout.readline()
        if line.strip() == "ready":
            return proc
        if not line and proc.poll() is not None:
            break
    proc.kill()
    pytest.fail(f"the subscriber never became ready:\n{proc.communicate()[1][-3000:]}")


def _result(proc: subprocess.Popen[str]) -> Any:
    try:
        out, err = proc.communicate(timeout=DONE_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    assert proc.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


def test_official_events_subscriber_backfills_and_follows(
    prefect_python: Path, prefect_client_env: dict[str, str], api: httpx.Client, tmp_path: Path
) -> None:
    key = f"test.official.{uuid.uuid4().hex[:8]}."

    def event(name: str) -> dict[str, Any]:
        return {"id": str(uuid.uuid4()), "occurred": _now(), "event": key + name,
                "resource": {"prefect.resource.id": "test.resource"}}  # fmt: skip

    # Sent before the subscriber connects: it asks for the last minute (the backfill).
    assert api.post("/events", json=[event("before")]).status_code == 204
    proc = _start(prefect_python, prefect_client_env, tmp_path, "events", key, "2")
    other = {**event("x"), "event": "test.someone-else"}
    assert api.post("/events", json=[other, event("after")]).status_code == 204
    assert _result(proc) == [key + "before", key + "after"]


def test_official_logs_subscriber_follows_a_flow_run(
    prefect_python: Path, prefect_client_env: dict[str, str], api: httpx.Client, tmp_path: Path
) -> None:
    flow_id = api.post("/flows/", json={"name": "streamed-logs"}).json()["id"]
    run_id = api.post("/flow_runs/", json={"flow_id": flow_id}).json()["id"]
    proc = _start(prefect_python, prefect_client_env, tmp_path, "logs", run_id, "1")
    logs = [
        {"name": "x", "level": 20, "message": "not this run", "timestamp": _now()},
        {"name": "x", "level": 20, "message": "hello", "timestamp": _now(),
         "flow_run_id": run_id},
    ]  # fmt: skip
    # The subscriber may be ready before the server has taken its filter (Prefect's server
    # does not backfill logs): send until it has its one log.
    end = time.monotonic() + DONE_TIMEOUT
    while proc.poll() is None and time.monotonic() < end:
        assert api.post("/logs/", json=logs).status_code == 201
        time.sleep(0.5)
    assert _result(proc) == ["hello"]
