"""Job configurations from a pool's base job template and job variables."""

from __future__ import annotations

import uuid

import pytest

from flowyard.server.queries.job_templates import PROCESS_BASE_JOB_TEMPLATE
from flowyard.workers.process import run_environment
from flowyard.workers.templates import command_argv, job_configuration, render


def test_process_template_fills_from_deployment_then_run_variables() -> None:
    config = job_configuration(
        PROCESS_BASE_JOB_TEMPLATE,
        {"env": {"A": "deployment"}, "working_dir": "/srv/flows"},
        {"env": {"A": "run", "B": "2"}},
    )
    assert config["env"] == {"A": "run", "B": "2"}  # the run's dict replaces the deployment's
    assert config["working_dir"] == "/srv/flows"
    assert config["stream_output"] is True  # the variable's default
    assert config["command"] is None


def test_placeholders_inside_text_and_nested_values() -> None:
    template = {
        "job_configuration": {"command": "python {{ script }} --n {{ n }}", "x": ["{{ n }}"]},
        "variables": {"properties": {"script": {}, "n": {"default": 3}}},
    }
    config = job_configuration(template, {"script": "main.py"})
    assert config == {"command": "python main.py --n 3", "x": [3]}
    assert render("{{ missing }}", {}) is None and render("a{{ missing }}b", {}) == "ab"
    assert job_configuration({}, {"a": 1}) == {}


@pytest.mark.parametrize(
    ("command", "argv"),
    [
        (None, []),
        ("", []),
        ("python -m flows.run 'two words'", ["python", "-m", "flows.run", "two words"]),
        (["python", "x; rm -rf /"], ["python", "x; rm -rf /"]),
    ],
)
def test_command_is_an_argv_list(command: object, argv: list[str]) -> None:
    assert command_argv(command) == argv


def test_run_environment_names_the_run_and_the_api() -> None:
    run_id = uuid.uuid4()
    env = run_environment(run_id, "http://127.0.0.1:1/api", {"X": 1, "PATH": None})
    assert env["FLOWYARD_FLOW_RUN_ID"] == env["PREFECT__FLOW_RUN_ID"] == str(run_id)
    assert env["FLOWYARD_API_URL"] == "http://127.0.0.1:1/api"
    assert env["X"] == "1" and "PATH" not in env
