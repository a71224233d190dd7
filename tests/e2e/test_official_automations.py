"""The official ``prefect==3.9.1`` client's automations against Flowyard: a deployment served
with ``triggers=[DeploymentEventTrigger(...)]`` gets its automation (owned by the
deployment, replaced when served again), the automation fires when the upstream flow's
run completes and runs the downstream deployment with its templated parameters, and
``prefect automation ls|inspect|pause|resume|delete`` work on it."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_serve_official_client import prefect, wait_for

pytestmark = pytest.mark.e2e

def _readme_example() -> str:
    """The README's automations example: this test runs it as it is written there."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("### Automations", 1)[1]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


FLOWS = _readme_example()


def serve(python: Path, env: dict[str, str], cwd: Path, log: str) -> subprocess.Popen[bytes]:
    with (cwd / log).open("wb") as out:
        return subprocess.Popen(
            [str(python), "flows.py"], env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=15)


def test_served_trigger_fires_and_the_cli_manages_it(
    tmp_path: Path, prefect_python: Path, prefect_client_env: dict[str, str], api: httpx.Client
) -> None:
    (tmp_path / "flows.py").write_text(FLOWS)
    env = prefect_client_env
    proc = serve(prefect_python, env, tmp_path, "serve.log")
    try:

        def deployment(name: str) -> dict[str, Any] | None:
            response = api.get(f"/deployments/name/{name}")
            return response.json() if response.status_code == 200 else None

        down = wait_for("the served deployments", lambda: deployment("downstream/down"))
        owner = f"prefect.deployment.{down['id']}"

        def owned() -> list[dict[str, Any]]:
            found: list[dict[str, Any]] = api.get(f"/automations/related-to/{owner}").json()
            return found

        [automation] = wait_for("the deployment's automation", owned)
        assert automation["owner_resource"] == owner
        assert automation["actions"][0]["type"] == "run-deployment"

        prefect(prefect_python, env, tmp_path, "deployment", "run", "upstream/up")
        body = {"flow_runs": {"deployment_id": {"any_": [down["id"]]}}}

        def downstream_completed() -> list[dict[str, Any]]:
            runs = api.post("/flow_runs/filter", json=body).json()
            return [r for r in runs if r["state_type"] == "COMPLETED"]

        [run] = wait_for("the triggered downstream run to complete", downstream_completed)
        assert run["parameters"]["who"].startswith("prefect.flow-run.") is False
        assert run["parameters"]["who"] != "nobody"

        # Served again: the deployment's automations are replaced, not added to.
        stop(proc)
        proc = serve(prefect_python, env, tmp_path, "serve2.log")
        wait_for(
            "the automation replaced", lambda: [a for a in owned() if a["id"] != automation["id"]]
        )
        [current] = owned()
        name = current["name"]

        listed = prefect(prefect_python, env, tmp_path, "automation", "ls")
        assert name in listed
        inspected = prefect(prefect_python, env, tmp_path, "automation", "inspect", name)
        assert current["id"] in inspected
        prefect(prefect_python, env, tmp_path, "automation", "pause", name)
        assert api.get(f"/automations/{current['id']}").json()["enabled"] is False
        prefect(prefect_python, env, tmp_path, "automation", "resume", name)
        assert api.get(f"/automations/{current['id']}").json()["enabled"] is True
        prefect(prefect_python, env, tmp_path, "automation", "delete", "--id", current["id"])
        assert api.get(f"/automations/{current['id']}").status_code == 404
    finally:
        stop(proc)
    log_text = (tmp_path / "serve.log").read_text()
    assert "Traceback" not in log_text, log_text


DEPLOY = """
import sys
from prefect import flow
from prefect.events import DeploymentEventTrigger


@flow
def nightly() -> None:
    pass


if __name__ == "__main__":
    trigger = DeploymentEventTrigger(
        name=sys.argv[2], expect={"prefect.flow-run.Failed"},
        match_related={"prefect.resource.role": "flow", "prefect.resource.name": "etl"},
    )
    flow.from_source(".", "nightly.py:nightly").deploy(
        "nightly", work_pool_name=sys.argv[1], build=False, push=False, triggers=[trigger],
    )
"""


def test_deploy_with_triggers_owns_its_automation(
    tmp_path: Path, prefect_python: Path, prefect_client_env: dict[str, str], api: httpx.Client
) -> None:
    (tmp_path / "nightly.py").write_text(DEPLOY)
    env = prefect_client_env
    prefect(prefect_python, env, tmp_path, "work-pool", "create", "auto-pool", "--type", "process")
    for name in ("first", "second"):  # deployed twice: the automation is replaced
        done = subprocess.run(
            [str(prefect_python), "nightly.py", "auto-pool", name],
            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=180,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
    deployment = api.get("/deployments/name/nightly/nightly").json()
    owner = f"prefect.deployment.{deployment['id']}"
    [automation] = api.get(f"/automations/related-to/{owner}").json()
    assert automation["name"] == "second"
    assert automation["owner_resource"] == owner
    assert automation["trigger"]["expect"] == ["prefect.flow-run.Failed"]
    assert automation["actions"] == [
        {"type": "run-deployment", "source": "selected", "deployment_id": deployment["id"],
         "parameters": None, "job_variables": None, "schedule_after": 0.0}
    ]  # fmt: skip
