"""`flowyard deployment ls|inspect|run|pause|resume|delete`, in embedded mode."""

from __future__ import annotations

import json

from cli_helpers import Flowyard, one_error_line

from flowyard import flow
from flowyard.client import get_sync_client


@flow
def report(day: str, rows: int = 10) -> int:
    return rows


def make() -> str:
    deployment = report.to_deployment(
        "daily", cron="0 6 * * *", timezone="Europe/Paris", parameters={"day": "mon"}
    )
    return str(deployment.apply())


def scheduled_count(deployment_id: str) -> int:
    from flowyard.schemas.filters import FlowRunFilter

    flt = FlowRunFilter.model_validate(
        {"deployment_id": {"any_": [deployment_id]}, "state": {"type": {"any_": ["SCHEDULED"]}}}
    )
    with get_sync_client() as client:
        return client.count_flow_runs(flow_run_filter=flt)


def test_ls_inspect_run(flowyard: Flowyard) -> None:
    deployment_id = make()
    listed = flowyard("deployment", "ls")
    assert listed.exit_code == 0, listed.output
    assert "report/daily" in listed.output and "0 6 * * * (Europe/Paris)" in listed.output
    shown = flowyard("deployment", "inspect", "report/daily")
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)["id"] == deployment_id
    assert json.loads(flowyard("deployment", "inspect", deployment_id).output)["name"] == "daily"

    before = scheduled_count(deployment_id)
    ran = flowyard("deployment", "run", "report/daily", "--param", "rows=3", "-p", "day=tue")
    assert ran.exit_code == 0, ran.output
    assert "Created flow run" in ran.output and "Scheduled" in ran.output
    assert scheduled_count(deployment_id) == before + 1
    with get_sync_client() as client:
        runs = client.read_flow_runs(limit=200)
    manual = [r for r in runs if not r.auto_scheduled]
    assert [r.parameters for r in manual] == [{"day": "tue", "rows": 3}]


def test_pause_resume_delete(flowyard: Flowyard) -> None:
    deployment_id = make()
    assert scheduled_count(deployment_id) > 0
    assert flowyard("deployment", "pause", "report/daily").exit_code == 0
    assert scheduled_count(deployment_id) == 0
    assert "PAUSED" in flowyard("deployment", "ls").output
    assert flowyard("deployment", "resume", "report/daily").exit_code == 0
    assert scheduled_count(deployment_id) > 0
    deleted = flowyard("deployment", "delete", "report/daily")
    assert deleted.exit_code == 0 and "Deleted" in deleted.output
    assert scheduled_count(deployment_id) == 0
    assert "not found" in one_error_line(flowyard("deployment", "inspect", "report/daily")).lower()


def test_errors_are_one_line(flowyard: Flowyard) -> None:
    make()
    assert "flow-name/deployment-name" in one_error_line(flowyard("deployment", "inspect", "x"))
    bad_param = one_error_line(flowyard("deployment", "run", "report/daily", "--param", "rows=x"))
    assert "rows" in bad_param
    assert "key=value" in one_error_line(
        flowyard("deployment", "run", "report/daily", "--param", "oops")
    )
    assert "JSON" in one_error_line(flowyard("deployment", "run", "report/daily", "--params", "{"))
