"""Which engine runs a flow run, and what its process is told.

Flowyard's worker runs a Flowyard deployment (its job variables carry ``ENGINE_COMMAND``)
with Flowyard's engine in its own interpreter, a run with no command (an official
deployment) with ``python -m prefect.engine`` when it has the official engine, and any other
command as given. The official engine reports to the worker's server, whatever the worker's
shell says; ``flowyard.sdk.execute`` started by the official worker reports to that worker's.
"""

from __future__ import annotations

import os
import shlex
import sys
import uuid

import pytest

from flowyard.sdk.deployments import ENGINE_COMMAND
from flowyard.sdk.execute import adopt_official_worker_settings
from flowyard.settings import get_settings
from flowyard.workers.engines import engine_command, is_flowyard_engine
from flowyard.workers.process import run_environment

URL = "http://127.0.0.1:1/api"


def test_the_command_a_flowyard_deployment_carries_runs_flowyards_engine_here() -> None:
    argv = shlex.split(ENGINE_COMMAND)
    assert is_flowyard_engine(argv)
    assert engine_command(argv, official_engine=True) is None
    assert engine_command(argv, official_engine=False) is None
    assert engine_command(["python3", "-m", "flowyard.sdk.execute"], official_engine=True) is None


def test_no_command_runs_the_official_engine_when_this_worker_has_it() -> None:
    official = [sys.executable, "-m", "prefect.engine"]
    assert engine_command([], official_engine=True) == official
    assert engine_command([], official_engine=False) is None  # Flowyard's engine, no other


@pytest.mark.parametrize(
    "argv",
    [
        ["/opt/other-venv/bin/python", "-m", "flowyard.sdk.execute"],  # an interpreter named
        ["python", "-m", "prefect.engine"],
        ["python", "-m", "flowyard.sdk.execute", "--extra"],
        ["sh", "-c", "run.sh"],
    ],
)
def test_any_other_command_runs_as_given(argv: list[str]) -> None:
    assert engine_command(argv, official_engine=True) == argv
    assert engine_command(argv, official_engine=False) == argv


def test_the_run_reports_to_the_workers_server_under_both_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The worker's shell points the official client at another server, with its key.
    monkeypatch.setenv("PREFECT_API_URL", "https://elsewhere.example/api")
    monkeypatch.setenv("PREFECT_API_KEY", "a-key-for-elsewhere")
    run_id = uuid.uuid4()
    related = {"PREFECT__WORKER_NAME": "w1"}
    env = run_environment(run_id, URL, None, related=related)
    assert env["PREFECT_API_URL"] == env["FLOWYARD_API_URL"] == URL
    assert "PREFECT_API_KEY" not in env
    assert env["PREFECT__FLOW_RUN_ID"] == env["FLOWYARD_FLOW_RUN_ID"] == str(run_id)
    assert env["PREFECT__WORKER_NAME"] == "w1"
    assert run_environment(run_id, URL, None, api_key="ours")["PREFECT_API_KEY"] == "ours"
    # The template's env may name another address; never another run.
    configured = {"PREFECT_API_URL": "http://proxy:4200/api", "PREFECT__FLOW_RUN_ID": "x"}
    env = run_environment(run_id, URL, configured)
    assert env["PREFECT_API_URL"] == "http://proxy:4200/api"
    assert env["PREFECT__FLOW_RUN_ID"] == str(run_id)


def _official_worker_env(monkeypatch: pytest.MonkeyPatch, run_id: uuid.UUID) -> None:
    # What the official worker gives the command it runs, in a shell with our own settings.
    monkeypatch.delenv("FLOWYARD_FLOW_RUN_ID", raising=False)
    monkeypatch.setenv("PREFECT__FLOW_RUN_ID", str(run_id))
    monkeypatch.setenv("PREFECT_API_URL", URL)
    monkeypatch.setenv("FLOWYARD_API_URL", "https://elsewhere.example/api")
    monkeypatch.setenv("FLOWYARD_API_KEY", "a-key-for-elsewhere")


def test_execute_started_by_the_official_worker_reports_to_its_server(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run_id = uuid.uuid4()
    _official_worker_env(monkeypatch, run_id)
    monkeypatch.delenv("PREFECT_API_KEY", raising=False)
    adopt_official_worker_settings()
    settings = get_settings()
    assert settings.api_url == URL and not settings.api_key  # no key meant for elsewhere
    assert os.environ["FLOWYARD_FLOW_RUN_ID"] == str(run_id)  # it holds a lease, as ours do

    monkeypatch.setenv("PREFECT_API_KEY", "their-key")
    monkeypatch.delenv("FLOWYARD_FLOW_RUN_ID")
    adopt_official_worker_settings()
    key = get_settings().api_key
    assert key is not None and key.get_secret_value() == "their-key"


def test_execute_started_by_flowyards_worker_keeps_its_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run_id = uuid.uuid4()
    _official_worker_env(monkeypatch, run_id)
    monkeypatch.setenv("FLOWYARD_FLOW_RUN_ID", str(run_id))
    adopt_official_worker_settings()
    assert os.environ["FLOWYARD_API_URL"] == "https://elsewhere.example/api"
    assert os.environ["FLOWYARD_API_KEY"] == "a-key-for-elsewhere"
