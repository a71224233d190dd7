"""Runs of Flowyard's SDK leave the same events as the official client's: every state a
flow run or task run enters is a ``prefect.flow-run.*`` / ``prefect.task-run.*`` event."""

from flowyard import flow, task
from flowyard.client import get_sync_client
from flowyard.schemas.filters import EventFilter, EventNameFilter
from flowyard.sdk.engine import api


@task
def double(x: int) -> int:
    return 2 * x


@flow
def pipeline() -> int:
    return double(1) + double(2)


def test_a_flow_of_two_tasks_leaves_an_event_per_state() -> None:
    assert pipeline() == 6
    reporter = api.current_reporter()
    assert reporter is not None and reporter.flush(timeout=60)
    client = get_sync_client()
    flow_events = client.read_events(
        EventFilter(event=EventNameFilter(prefix=["prefect.flow-run."])), limit=50
    )
    assert sorted(e.event for e in flow_events) == sorted(
        ["prefect.flow-run.Pending", "prefect.flow-run.Running", "prefect.flow-run.Completed"]
    )
    task_events = client.read_events(
        EventFilter(event=EventNameFilter(prefix=["prefect.task-run."])), limit=50
    )
    names = sorted(e.event for e in task_events)
    assert names.count("prefect.task-run.Completed") == 2
    assert names.count("prefect.task-run.Running") == 2
    run_ids = {e.resource["prefect.resource.id"] for e in task_events}
    assert len(run_ids) == 2
    flow_run_id = flow_events[0].resource["prefect.resource.id"]
    for event in task_events:
        assert {"prefect.resource.id": flow_run_id, "prefect.resource.role": "flow-run"} in (
            event.related
        )
