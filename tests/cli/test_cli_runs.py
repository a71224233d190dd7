"""`flowyard flow ls` and `flowyard flow-run ls|inspect|logs|delete`, in embedded mode."""

from __future__ import annotations

import datetime as dt
import json
import socket
import uuid

import pytest
from cli_helpers import Flowyard, one_error_line

from flowyard.client import get_sync_client
from flowyard.schemas.actions import LogCreate
from flowyard.schemas.core import FlowRun
from flowyard.schemas.states import State, StateType


@pytest.fixture
def runs() -> dict[str, FlowRun]:
    """Two flows and three runs, recorded in embedded mode (no server)."""
    with get_sync_client() as client:
        etl = client.create_flow("etl")
        report = client.create_flow("report")
        done = client.create_flow_run(etl.id, name="done-run")
        client.set_flow_run_state(done.id, State(type=StateType.RUNNING))
        client.set_flow_run_state(done.id, State(type=StateType.COMPLETED))
        pending = client.create_flow_run(etl.id, name="pending-run")
        other = client.create_flow_run(report.id, name="report-run")
        start = dt.datetime.now(dt.UTC)
        client.create_logs(
            LogCreate(
                name="flowyard.flow_runs",
                level=20 if i else 40,
                message=f"message {i}",
                timestamp=start + dt.timedelta(milliseconds=i),
                flow_run_id=done.id,
            )
            for i in range(3)
        )
    return {"done": done, "pending": pending, "other": other}


def test_flow_ls(flowyard: Flowyard, runs: dict[str, FlowRun]) -> None:
    result = flowyard("flow", "ls")
    assert result.exit_code == 0, result.output
    assert "etl" in result.output and "report" in result.output


def short(run: FlowRun) -> str:
    return run.id.hex[-8:]


def listed(flowyard: Flowyard, *args: str) -> set[str]:
    result = flowyard("flow-run", "ls", *args, "--json")
    assert result.exit_code == 0, result.output
    return {run["id"] for run in json.loads(result.stdout)}


def test_flow_run_ls(flowyard: Flowyard, runs: dict[str, FlowRun]) -> None:
    result = flowyard("flow-run", "ls")
    assert result.exit_code == 0, result.output
    for run in runs.values():
        assert short(run) in result.output
    assert "Completed" in result.output and "Pending" in result.output
    assert listed(flowyard) == {str(run.id) for run in runs.values()}


def test_flow_run_ls_filters(flowyard: Flowyard, runs: dict[str, FlowRun]) -> None:
    assert listed(flowyard, "--state", "completed") == {str(runs["done"].id)}
    assert listed(flowyard, "--flow-name", "report") == {str(runs["other"].id)}
    assert len(listed(flowyard, "--limit", "1")) == 1


def test_flow_run_ls_unknown_state_is_one_line(flowyard: Flowyard) -> None:
    assert "Unknown state type 'DONE'" in one_error_line(
        flowyard("flow-run", "ls", "--state", "DONE")
    )


def test_flow_run_inspect(flowyard: Flowyard, runs: dict[str, FlowRun]) -> None:
    result = flowyard("flow-run", "inspect", str(runs["done"].id), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["id"] == str(runs["done"].id)
    assert data["state"]["type"] == "COMPLETED"


def test_flow_run_logs(flowyard: Flowyard, runs: dict[str, FlowRun]) -> None:
    result = flowyard("flow-run", "logs", str(runs["done"].id))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert [line.rsplit(" - ", 1)[1] for line in lines] == ["message 0", "message 1", "message 2"]
    assert "| ERROR    | flowyard.flow_runs" in lines[0]


def test_flow_run_delete(flowyard: Flowyard, runs: dict[str, FlowRun]) -> None:
    run_id = str(runs["pending"].id)
    result = flowyard("flow-run", "delete", run_id)
    assert result.exit_code == 0, result.output
    assert f"Deleted flow run {run_id}." in result.output
    assert one_error_line(flowyard("flow-run", "inspect", run_id)) == "Error: Flow run not found."


@pytest.mark.parametrize("command", ["inspect", "logs", "delete"])
def test_bad_and_missing_ids_are_one_line(flowyard: Flowyard, command: str) -> None:
    line = one_error_line(flowyard("flow-run", command, "not-a-uuid"))
    assert line == "Error: 'not-a-uuid' is not a valid flow run id (expected a UUID)."
    line = one_error_line(flowyard("flow-run", command, str(uuid.uuid4())))
    assert line == "Error: Flow run not found."
    line = one_error_line(flowyard("flow-run", command, "0ceb9fd2"))  # a table's short id
    assert line == "Error: '0ceb9fd2' is a short id: give the flow run's full id (in 'ls --json')."


def test_unreachable_server_is_one_line(
    flowyard: Flowyard, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/api"
    monkeypatch.setenv("FLOWYARD_API_URL", url)
    line = one_error_line(flowyard("flow", "ls"))
    assert line.startswith(f"Error: Cannot reach the Flowyard API at {url}")


def test_a_stray_httpx_error_is_still_one_line(
    flowyard: Flowyard, monkeypatch: pytest.MonkeyPatch
) -> None:
    import httpx

    from flowyard import client as client_module

    def broken() -> None:
        raise httpx.ConnectError("boom")

    monkeypatch.setattr(client_module, "get_sync_client", broken)
    assert one_error_line(flowyard("flow", "ls")) == "Error: ConnectError: boom"
