"""Real-shaped ``prefect.task-run.*`` events, as the official 3.9 client sends them
(see reference/client-traces/s1_sequential.jsonl), and a flow run for them to belong to."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from flowyard.server.database import orm
from flowyard.server.database.engine import Database

T0 = dt.datetime(2026, 11, 28, 11, 22, 7, 169006, tzinfo=dt.UTC)


async def make_flow_run(db: Database, workspace_id: uuid.UUID) -> uuid.UUID:
    async with db.write() as session:
        flow = orm.Flow(workspace_id=workspace_id, name=f"etl-{uuid.uuid4().hex[:6]}")
        session.add(flow)
        await session.flush()
        run = orm.FlowRun(workspace_id=workspace_id, flow_id=flow.id, name="peculiar-impala")
        session.add(run)
        await session.flush()
        return run.id


def task_run_event(
    task_run_id: uuid.UUID,
    flow_run_id: uuid.UUID | None,
    state_name: str,
    state_type: str,
    occurred: dt.datetime,
    *,
    run_count: int = 1,
    task_key: str = "transform-3cceee12",
    dynamic_key: str = "38690574-6889-46d0-8f49-b20f8dee3bf6",
    state_details: dict[str, Any] | None = None,
    data: Any = None,
    start_time: dt.datetime | None = None,
    end_time: dt.datetime | None = None,
    total_run_time: float = 0.0,
    tags: list[str] | None = None,
) -> dict[str, Any]:
    """One event as a JSON-ready dict; its id doubles as the state id."""
    related = [
        {
            "prefect.resource.id": "prefect.flow.bb658ab7-b007-45fd-8de6-1673d1431e2a",
            "prefect.resource.role": "flow",
            "prefect.resource.name": "etl",
        }
    ]
    if flow_run_id is not None:
        related.insert(
            0,
            {
                "prefect.resource.id": f"prefect.flow-run.{flow_run_id}",
                "prefect.resource.role": "flow-run",
                "prefect.resource.name": "peculiar-impala",
            },
        )
    task_run: dict[str, Any] = {
        "name": "transform-386",
        "task_key": task_key,
        "dynamic_key": dynamic_key,
        "empirical_policy": {
            "max_retries": 0,
            "retry_delay_seconds": 0.0,
            "retries": 1,
            "retry_delay": 1,
        },
        "tags": tags or [],
        "labels": {},
        "task_inputs": {"xs": [{"input_type": "task_run", "id": str(uuid.uuid4())}]},
        "run_count": run_count,
        "flow_run_run_count": 1,
        "expected_start_time": T0.isoformat().replace("+00:00", "Z"),
        "total_run_time": total_run_time,
    }
    if start_time:
        task_run["start_time"] = start_time.isoformat()
    if end_time:
        task_run["end_time"] = end_time.isoformat()
    return {
        "occurred": occurred.isoformat().replace("+00:00", "Z"),
        "event": f"prefect.task-run.{state_name}",
        "resource": {
            "prefect.resource.id": f"prefect.task-run.{task_run_id}",
            "prefect.resource.name": "transform-386",
            "prefect.run-count": str(run_count),
            "prefect.state-message": "",
            "prefect.state-name": state_name,
            "prefect.state-timestamp": occurred.isoformat(),
            "prefect.state-type": state_type,
            "prefect.orchestration": "client",
        },
        "related": related,
        "payload": {
            "intended": {"from": None, "to": state_type},
            "initial_state": None,
            "validated_state": {
                "type": state_type,
                "name": state_name,
                "message": "",
                "state_details": state_details or {},
                "data": data,
            },
            "task_run": task_run,
        },
        "id": str(uuid.uuid4()),
        "follows": None,
    }


def retried_task_run(
    task_run_id: uuid.UUID, flow_run_id: uuid.UUID, dynamic_key: str | None = None
) -> list[dict[str, Any]]:
    """Pending -> Running -> AwaitingRetry -> Retrying -> Completed, as in trace s1."""
    key = dynamic_key or str(uuid.uuid4())
    at = [T0 + dt.timedelta(microseconds=us) for us in (0, 359, 1352, 1_001_662, 1_005_098)]
    retry_at = (at[2] + dt.timedelta(seconds=1)).isoformat().replace("+00:00", "Z")
    events = [
        task_run_event(task_run_id, flow_run_id, "Pending", "PENDING", at[0], run_count=0),
        task_run_event(task_run_id, flow_run_id, "Running", "RUNNING", at[1], start_time=at[1]),
        task_run_event(
            task_run_id, flow_run_id, "AwaitingRetry", "SCHEDULED", at[2],
            start_time=at[1], total_run_time=0.000993,
            state_details={"scheduled_time": retry_at},
        ),
        task_run_event(
            task_run_id, flow_run_id, "Retrying", "RUNNING", at[3], run_count=2,
            start_time=at[1], total_run_time=0.000993,
        ),
        task_run_event(
            task_run_id, flow_run_id, "Completed", "COMPLETED", at[4], run_count=2,
            start_time=at[1], end_time=at[4], total_run_time=0.004429,
            state_details={"untrackable_result": True},
        ),
    ]  # fmt: skip
    for event in events:
        event["payload"]["task_run"]["dynamic_key"] = key
    return events
