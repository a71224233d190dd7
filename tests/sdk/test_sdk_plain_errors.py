"""What a user of the SDK sees is the point, not Flowyard's insides: a bad cron is a
ValueError naming the cron, raised at the user's own line; so is a refused source URL;
``deploy()`` says what it made and how to run it; a run stopped by its worker (a cancel)
ends without a traceback in the worker's output."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path

import pytest

from flowyard import Flow, flow
from flowyard.client import get_sync_client
from flowyard.schemas.states import StateCreate, StateType
from flowyard.sdk.pull_steps import PullStepError


@flow
def tiny() -> None: ...


def _frames(exc: BaseException) -> list[str]:
    return [f"{Path(f.filename).name}:{f.name}" for f in traceback.extract_tb(exc.__traceback__)]


def test_a_bad_cron_is_a_value_error_naming_it_at_the_callers_line() -> None:
    with pytest.raises(ValueError) as caught:
        tiny.to_deployment("bad", cron="61 * * * *")
    assert str(caught.value) == (
        "Invalid cron '61 * * * *': [61 * * * *] is not acceptable, out of range"
    )
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    # The test's line, then the public method that re-raised it: nothing from inside.
    assert _frames(caught.value)[1:] == ["flows.py:to_deployment"], _frames(caught.value)
    with pytest.raises(ValueError, match=r"^Invalid timezone 'Nowhere/Land': unknown timezone"):
        tiny.to_deployment("bad", interval=60, timezone="Nowhere/Land")


def test_a_refused_source_url_is_one_message_at_the_callers_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("FLOWYARD_ALLOW_PRIVATE_ADDRESSES", raising=False)
    with pytest.raises(PullStepError, match="non-public address") as caught:
        Flow.from_source("https://127.0.0.1/team/flows.git", "etl.py:etl")
    assert _frames(caught.value)[1:] == ["flows.py:from_source"], _frames(caught.value)


def test_deploy_says_what_it_made_and_how_to_run_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with get_sync_client() as client:
        client.create_work_pool("local", type="process")
    deployment_id = tiny.deploy("nightly", work_pool_name="local", cron="0 2 * * *")
    said = capsys.readouterr().out
    assert f"Created deployment 'tiny/nightly' ({deployment_id}) in work pool 'local'." in said
    assert "flowyard worker start --pool local" in said
    assert "flowyard deployment run tiny/nightly" in said
    tiny.deploy("nightly", work_pool_name="local")
    assert "Updated deployment 'tiny/nightly'" in capsys.readouterr().out


SLOW_FLOW = """
import pathlib, sys, time
from flowyard import flow

@flow
def slow():
    (pathlib.Path(__file__).parent / "started").touch()
    time.sleep(120)
"""


def test_a_cancelled_run_ends_without_a_traceback(flowyard_home: Path, tmp_path: Path) -> None:
    (tmp_path / "slow.py").write_text(SLOW_FLOW)
    with get_sync_client() as client:
        made = client.create_flow("slow")
        deployment = client.create_deployment(
            made.id, "d", entrypoint=f"{tmp_path / 'slow.py'}:slow", path=str(tmp_path)
        )
        run = client.create_flow_run_from_deployment(deployment.id)
    env = {**os.environ, "FLOWYARD_HOME": str(flowyard_home), "FLOWYARD_FLOW_RUN_ID": str(run.id)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "flowyard.sdk.execute"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        with get_sync_client() as client:
            deadline = time.monotonic() + 120
            while not (tmp_path / "started").exists():  # the flow's own code is running
                assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
                time.sleep(0.2)
            # What a worker does on a cancel: Cancelling, then SIGTERM to the process.
            client.set_flow_run_state(run.id, StateCreate(type=StateType.CANCELLING))
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=120)
            ended = client.read_flow_run(run.id)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "Traceback" not in err and "TerminationSignal" not in err, err
    assert ended.state_type == StateType.CANCELLED, (ended.state, err, proc.returncode)
    assert proc.returncode == 128 + signal.SIGTERM
