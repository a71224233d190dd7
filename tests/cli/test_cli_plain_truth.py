"""The CLI tells the truth, plainly: ``flow-run ls`` shows what just ran first, ``inspect``
is prose (JSON only when asked, and then nothing else), ``logs`` has the engine's own
lines and a failed start's reason, a busy worker and a pool's unfinished runs are named,
and a closed pipe (``| head``) is not an error."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from cli_helpers import Flowyard, one_error_line

from flowyard import flow
from flowyard.client import get_sync_client
from flowyard.schemas.states import State, StateType

FLOWYARD = [sys.executable, "-m", "flowyard.cli.main"]


@flow
def report(day: str = "mon") -> str:
    return day


def _completed_run(name: str) -> str:
    with get_sync_client() as client:
        made = client.create_flow("etl")
        run = client.create_flow_run(made.id, name=name)
        client.set_flow_run_state(run.id, State(type=StateType.RUNNING))
        client.set_flow_run_state(run.id, State(type=StateType.COMPLETED))
    return str(run.id)


def test_ls_shows_what_just_ran_first_not_next_years_runs(flowyard: Flowyard) -> None:
    report.to_deployment("yearly", cron="0 0 1 1 *").apply()  # a year of scheduled runs
    done = _completed_run("just-finished")
    listed = flowyard("flow-run", "ls", "--limit", "1", "--json")
    assert [run["id"] for run in json.loads(listed.stdout)] == [done]
    table = flowyard("flow-run", "ls")
    assert "just-finished" in table.stdout and "Scheduled" not in table.stdout
    assert "flowyard flow-run ls --upcoming" in table.output  # says where the others are
    upcoming = json.loads(flowyard("flow-run", "ls", "--upcoming", "--json").stdout)
    assert upcoming and {run["state_type"] for run in upcoming} == {"SCHEDULED"}
    starts = [run["expected_start_time"] for run in upcoming]
    assert starts == sorted(starts) and starts[0] > dt.datetime.now(dt.UTC).isoformat()


def test_inspect_is_prose_and_json_only_when_asked(flowyard: Flowyard) -> None:
    done = _completed_run("done-run")
    prose = flowyard("flow-run", "inspect", done)
    assert prose.exit_code == 0, prose.output
    assert prose.stdout.startswith("Flow run 'done-run'\n")
    assert "  Flow:       etl\n" in prose.stdout and "  State:      Completed\n" in prose.stdout
    assert "{" not in prose.stdout
    for flag in (["--json"], ["-o", "json"]):
        shown = flowyard("flow-run", "inspect", done, *flag)
        assert shown.exit_code == 0, shown.output
        assert json.loads(shown.stdout)["id"] == done  # all of stdout is the JSON
    assert "json" in one_error_line(flowyard("flow-run", "inspect", done, "-o", "yaml"))


def test_inspect_names_the_deployment_with_its_flow(flowyard: Flowyard) -> None:
    report.to_deployment("daily", paused=True).apply()
    ran = flowyard("deployment", "run", "report/daily")
    assert ran.exit_code == 0, ran.output
    with get_sync_client() as client:
        (run,) = client.read_flow_runs(limit=5)
    shown = flowyard("flow-run", "inspect", str(run.id)).stdout
    assert "  Deployment: report/daily\n" in shown
    # A paused deployment does not hold a requested run (as on the official server, only
    # its schedules stop): the explainer does not name it, the dispatcher hands the run out.
    assert "is paused" not in shown and "Nothing holds it" in shown, shown


def test_inspect_names_the_busy_worker_when_nothing_else_holds_a_run(
    flowyard: Flowyard,
) -> None:
    assert flowyard("work-pool", "create", "local").exit_code == 0
    report.to_deployment("queued", work_pool_name="local").apply()
    with get_sync_client() as client:
        client.send_worker_heartbeat("local", "worker-1", 30)
        deployment = client.read_deployment_by_name("report/queued")
        busy = client.create_flow_run_from_deployment(deployment.id)
        client.set_flow_run_state(busy.id, State(type=StateType.PENDING))
        client.set_flow_run_state(busy.id, State(type=StateType.RUNNING))
        waiting = client.create_flow_run_from_deployment(deployment.id)
    shown = flowyard("flow-run", "inspect", str(waiting.id)).stdout
    assert "Nothing holds it" not in shown, shown
    assert "only worker, 'worker-1', is running 1 run" in shown, shown
    assert "--limit 1" in shown


def test_work_pool_delete_names_the_unfinished_runs(flowyard: Flowyard) -> None:
    assert flowyard("work-pool", "create", "busy").exit_code == 0
    report.to_deployment("busy-one", work_pool_name="busy").apply()
    with get_sync_client() as client:
        deployment = client.read_deployment_by_name("report/busy-one")
        run = client.create_flow_run_from_deployment(deployment.id)
    line = one_error_line(flowyard("work-pool", "delete", "busy"))
    assert f"1 flow run that is not finished: {run.name!r} (Scheduled, {run.id})" in line


def _script(home: Path, body: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FLOWYARD_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(body), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_logs_of_an_sdk_run_have_the_engine_lines(flowyard: Flowyard, flowyard_home: Path) -> None:
    ran = _script(
        flowyard_home,
        """
        from flowyard import flow, task

        @task
        def double(x):
            return 2 * x

        @flow
        def pipeline():
            return double(1) + double(2)

        state = pipeline(return_state=True)
        print(state.state_details.flow_run_id if state.state_details else "")
        """,
    )
    assert ran.returncode == 0, ran.stderr
    (run,) = json.loads(flowyard("flow-run", "ls", "--json").stdout)
    logs = flowyard("flow-run", "logs", run["id"]).stdout.splitlines()
    messages = [line.split(" - ", 1)[1] for line in logs]
    assert messages[0] == f"Beginning flow run {run['name']!r} for flow 'pipeline'", logs
    tasks = [line for line in logs if "flowyard.task_runs - Finished in state Completed()" in line]
    assert len(tasks) == 2, logs
    assert messages[-1].startswith("Finished in state Completed()"), logs


def test_a_run_that_failed_to_start_says_why_in_its_logs(
    flowyard: Flowyard, flowyard_home: Path, tmp_path: Path
) -> None:
    code = tmp_path / "flows.py"
    code.write_text("from flowyard import flow\n\n@flow\ndef gone():\n    pass\n")
    with get_sync_client() as client:
        made = client.create_flow("gone")
        deployment = client.create_deployment(
            made.id, "broken", entrypoint=f"{tmp_path / 'missing.py'}:gone", path=str(tmp_path)
        )
        run = client.create_flow_run_from_deployment(deployment.id)
    env = {**os.environ, "FLOWYARD_HOME": str(flowyard_home), "FLOWYARD_FLOW_RUN_ID": str(run.id)}
    started = subprocess.run(
        [sys.executable, "-m", "flowyard.sdk.execute"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert started.returncode == 1, started.stderr
    logs = flowyard("flow-run", "logs", str(run.id)).stdout
    assert "| ERROR    |" in logs and "Flow run could not start: EntrypointError" in logs, logs
    assert "missing.py" in logs


@pytest.mark.parametrize(
    "command", [["version"], ["flow-run", "ls"], ["config", "view", "--show-defaults"]]
)
def test_a_closed_pipe_is_not_an_error(flowyard_home: Path, command: list[str]) -> None:
    """``flowyard ... | head -1``: the reader is gone before the command writes."""
    env = {**os.environ, "FLOWYARD_HOME": str(flowyard_home), "COLUMNS": "80"}
    read, write = os.pipe()
    os.close(read)  # nobody will read: the first write meets a broken pipe
    try:
        done = subprocess.run(
            [*FLOWYARD, *command],
            env=env,
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            timeout=180,
        )
    finally:
        os.close(write)
    assert done.stderr == "", done.stderr
    assert done.returncode in (0, 141)
