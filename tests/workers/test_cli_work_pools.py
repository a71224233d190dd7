"""`flowyard work-pool ls|create|inspect|pause|resume|delete` and `flowyard worker start`
argument checks, in embedded mode (the CLI talks to an in-process server)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from flowyard.cli.main import app
from flowyard.client import get_sync_client, shutdown_embedded
from flowyard.client._loop import run_in_background


def flowyard(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


@pytest.fixture(autouse=True)
def _quiet_and_wide(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setattr(logging.getLogger("flowyard"), "handlers", [])
    yield
    shutdown_embedded()


def one_error_line(result: Result) -> str:
    assert result.exit_code != 0, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    return lines[0]


def test_create_ls_inspect_pause_resume_delete() -> None:
    created = flowyard("work-pool", "create", "local", "--concurrency-limit", "2")
    assert created.exit_code == 0, created.output
    assert "Created work pool 'local'" in created.output
    listed = flowyard("work-pool", "ls")
    assert "local" in listed.output and "process" in listed.output
    assert "NOT_READY" in listed.output

    shown = json.loads(flowyard("work-pool", "inspect", "local").output)
    assert shown["name"] == "local" and shown["concurrency_limit"] == 2
    assert [q["name"] for q in shown["queues"]] == ["default"] and shown["workers"] == []
    assert "job_configuration" in shown["base_job_template"]

    assert flowyard("work-pool", "pause", "local").exit_code == 0
    assert "PAUSED" in flowyard("work-pool", "ls").output
    assert flowyard("work-pool", "resume", "local").exit_code == 0
    with get_sync_client() as client:
        assert client.read_work_pool("local").status == "NOT_READY"
    deleted = flowyard("work-pool", "delete", "local")
    assert deleted.exit_code == 0 and "Deleted" in deleted.output
    assert "local" not in flowyard("work-pool", "ls").output


def test_errors_are_one_line(tmp_path: Path) -> None:
    assert "not found" in one_error_line(flowyard("work-pool", "inspect", "missing"))
    assert flowyard("work-pool", "create", "dup").exit_code == 0
    assert "already exists" in one_error_line(flowyard("work-pool", "create", "dup"))
    assert "name" in one_error_line(flowyard("work-pool", "create", "bad/name"))
    template = tmp_path / "template.json"
    template.write_text('{"job_configuration": {}}')
    refused = flowyard("work-pool", "create", "t", "--base-job-template", str(template))
    assert "variables" in one_error_line(refused)
    template.write_text("{not json")
    refused = flowyard("work-pool", "create", "t", "--base-job-template", str(template))
    assert "not JSON" in one_error_line(refused)
    unknown_type = flowyard("worker", "start", "--pool", "dup", "--type", "kubernetes")
    assert "--type" in one_error_line(unknown_type)


def test_a_pool_with_unfinished_runs_is_not_deleted() -> None:
    assert flowyard("work-pool", "create", "busy").exit_code == 0
    with get_sync_client() as client:
        flow = client.create_flow("f")
        body = {"flow_id": str(flow.id), "work_pool_name": "busy"}
        # The client has no work-pool argument on create_flow_run: the raw route.
        run_in_background(client.async_client._request("POST", "/flow_runs/", json=body))
    refused = one_error_line(flowyard("work-pool", "delete", "busy"))
    assert "1 flow run" in refused
    assert "busy" in flowyard("work-pool", "ls").output
