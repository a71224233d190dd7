"""A deployment made with Flowyard's SDK carries the command of Flowyard's engine in its job
variables, so that any worker honouring its pool's job template (the official one too)
runs it with our engine; a command the user gives is kept instead."""

from __future__ import annotations

from pathlib import Path

from flowyard import Flow
from flowyard.client import get_sync_client
from flowyard.sdk.deployments import ENGINE_COMMAND

FLOW_SOURCE = """
from flowyard import flow

@flow
def hello() -> str:
    return "hello"
"""


def test_deploy_carries_flowyards_engine_command_unless_given_one(tmp_path: Path) -> None:
    (tmp_path / "hello.py").write_text(FLOW_SOURCE)
    with get_sync_client() as client:
        client.create_work_pool("local", type="process")
    hello = Flow.from_source(tmp_path, "hello.py:hello")
    ours = hello.deploy("ours", work_pool_name="local", job_variables={"env": {"A": "1"}})
    mine = hello.deploy("mine", work_pool_name="local", job_variables={"command": "run-it"})
    with get_sync_client() as client:
        assert client.read_deployment(ours).job_variables == {
            "command": ENGINE_COMMAND,
            "env": {"A": "1"},
        }
        assert client.read_deployment(mine).job_variables == {"command": "run-it"}
