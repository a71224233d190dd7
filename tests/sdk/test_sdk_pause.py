"""pause_flow_run / resume_flow_run: a flow in its own process pauses, the test resumes it
through the API of a real server (with typed input), and a pause nobody resumes fails."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import flowyard
from flowyard.exceptions import InvalidRequest
from flowyard.sdk.engine import api as engine_api
from flowyard.testing.server_process import clean_env, server_process

FLOWYARD = Path(sys.executable).parent / "flowyard"
DEADLINE = 90.0

GATED = """
import sys
from pydantic import BaseModel
from flowyard import flow, get_run_context, pause_flow_run

class Approval(BaseModel):
    approved: bool
    reviewer: str

@flow
def gated(mode: str):
    print("PAUSING", get_run_context().flow_run.id, flush=True)
    if mode == "input":
        answer = pause_flow_run(wait_for_input=Approval, timeout=120, poll_interval=0.2)
        print("GOT", answer.model_dump_json(), flush=True)
        return answer.reviewer
    pause_flow_run(timeout=float(mode), poll_interval=0.2)
    print("RESUMED", flush=True)
    return "resumed"

gated(sys.argv[1])
"""


@pytest.fixture(scope="module")
def api_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with server_process(tmp_path_factory.mktemp("pause-server") / "home") as url:
        yield url


@pytest.fixture
def api(api_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api_url, timeout=30) as client:
        yield client


class FlowProcess:
    def __init__(self, proc: subprocess.Popen[str], run_id: str, lines: list[str]) -> None:
        self.proc, self.run_id, self.lines = proc, run_id, lines

    def finish(self) -> str:
        """Wait for the process to exit; its whole output."""
        assert self.proc.stdout is not None
        rest = self.proc.stdout.read()
        self.proc.wait(timeout=DEADLINE)
        self.proc.stdout.close()
        return "".join(self.lines) + rest


@pytest.fixture
def start(api_url: str, tmp_path: Path) -> Iterator[Any]:
    started: list[subprocess.Popen[str]] = []

    def run(mode: str) -> FlowProcess:
        script = tmp_path / "gated.py"
        script.write_text(textwrap.dedent(GATED))
        proc = subprocess.Popen(
            [sys.executable, str(script), mode],
            env=clean_env(FLOWYARD_API_URL=api_url, FLOWYARD_HOME=str(tmp_path / "home")),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        started.append(proc)
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(line)
            found = re.match(r"PAUSING (\S+)", line)
            if found:
                return FlowProcess(proc, found.group(1), lines)
        pytest.fail("the flow never started:\n" + "".join(lines)[-3000:])

    yield run
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None and not proc.stdout.closed:
            proc.stdout.close()


def wait_for(api: httpx.Client, run_id: str, kind: str) -> dict[str, Any]:
    deadline = time.monotonic() + DEADLINE
    while True:
        run: dict[str, Any] = api.get(f"/flow_runs/{run_id}").json()
        if run["state"]["type"] == kind or time.monotonic() > deadline:
            return run
        time.sleep(0.1)


def test_a_paused_flow_resumes_with_typed_input(
    start: Any, api: httpx.Client, api_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    flow = start("input")
    paused = wait_for(api, flow.run_id, "PAUSED")
    assert paused["state"]["type"] == "PAUSED", paused
    keyset = paused["state"]["state_details"]["run_input_keyset"]
    schema = api.get(f"/flow_runs/{flow.run_id}/input/{keyset['schema']}").json()
    assert schema["required"] == ["approved", "reviewer"]

    # The SDK's resume_flow_run, pointed at the server: bad input is refused by name.
    monkeypatch.setenv("FLOWYARD_API_URL", api_url)
    engine_api.reset()
    try:
        with pytest.raises(InvalidRequest, match="run_input.reviewer"):
            flowyard.resume_flow_run(flow.run_id, {"approved": True})
        assert api.get(f"/flow_runs/{flow.run_id}").json()["state"]["type"] == "PAUSED"
        result = flowyard.resume_flow_run(flow.run_id, {"approved": True, "reviewer": "ann"})
        assert result.status.value == "ACCEPT"
    finally:
        engine_api.reset()

    output = flow.finish()
    assert flow.proc.returncode == 0, output
    assert 'GOT {"approved":true,"reviewer":"ann"}' in output
    done = wait_for(api, flow.run_id, "COMPLETED")
    assert done["state"]["type"] == "COMPLETED"
    assert done["run_count"] == 1
    names = [
        s["name"] for s in api.get("/flow_run_states/", params={"flow_run_id": flow.run_id}).json()
    ]
    assert names == ["Pending", "Running", "Paused", "Running", "Completed"]


def test_a_pause_resumed_through_the_api_continues(start: Any, api: httpx.Client) -> None:
    flow = start("120")
    assert wait_for(api, flow.run_id, "PAUSED")["state"]["type"] == "PAUSED"
    resumed = api.post(f"/flow_runs/{flow.run_id}/resume", json={})
    assert resumed.status_code == 201 and resumed.json()["status"] == "ACCEPT"
    output = flow.finish()
    assert flow.proc.returncode == 0 and "RESUMED" in output, output
    assert wait_for(api, flow.run_id, "COMPLETED")["state"]["type"] == "COMPLETED"


def test_a_pause_resumed_from_the_cli_gets_its_input(
    start: Any, api: httpx.Client, api_url: str, tmp_path: Path
) -> None:
    flow = start("input")
    assert wait_for(api, flow.run_id, "PAUSED")["state"]["type"] == "PAUSED"
    env = clean_env(FLOWYARD_API_URL=api_url, FLOWYARD_HOME=str(tmp_path / "cli-home"))

    def resume(*extra: str) -> subprocess.CompletedProcess[str]:
        argv = [str(FLOWYARD), "flow-run", "resume", flow.run_id, *extra]
        return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)

    not_json = resume("--input", "{approved")
    assert not_json.returncode == 1 and "not valid JSON" in not_json.stderr
    missing = resume("--input", '{"approved": true}')
    assert missing.returncode == 1 and "reviewer" in missing.stderr
    assert "Traceback" not in missing.stderr
    assert api.get(f"/flow_runs/{flow.run_id}").json()["state"]["type"] == "PAUSED"

    resumed = resume("--input", '{"approved": true, "reviewer": "bo"}')
    assert resumed.returncode == 0, resumed.stderr
    output = flow.finish()
    assert 'GOT {"approved":true,"reviewer":"bo"}' in output, output
    assert wait_for(api, flow.run_id, "COMPLETED")["state"]["type"] == "COMPLETED"


def test_a_pause_nobody_resumes_fails_the_run(start: Any, api: httpx.Client) -> None:
    flow = start("1")
    output = flow.finish()
    assert "RESUMED" not in output
    failed = wait_for(api, flow.run_id, "FAILED")
    assert failed["state"]["type"] == "FAILED", failed
    assert "never resumed" in failed["state"]["message"]


def test_pause_outside_a_flow_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="from a flow"):
        flowyard.pause_flow_run(timeout=1)
