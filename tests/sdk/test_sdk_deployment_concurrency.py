"""A deployment's concurrency limit from the SDK, embedded: the run a worker claims takes
the slot, the process running it keeps renewing the slot's lease while the flow runs, and
the slot is free again once the run ends."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

from flowyard import Flow
from flowyard.client import get_sync_client
from flowyard.schemas.states import StateCreate, StateType

FLOW_SOURCE = """
import json
import os
from flowyard import flow
from flowyard.sdk.concurrency import RENEWER

@flow
def limited() -> None:
    with open(os.environ["OUT"], "w") as f:
        json.dump([str(lease) for lease in RENEWER.held()], f)
"""


def test_a_deployment_run_holds_and_renews_its_slot_while_it_runs(tmp_path: Path) -> None:
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "limited.py").write_text(FLOW_SOURCE)
    with get_sync_client() as client:
        client.create_work_pool("local", type="process")
    limited = Flow.from_source(tmp_path, "flows/limited.py:limited")
    assert isinstance(limited, Flow)
    deployment_id = limited.deploy("one-at-a-time", work_pool_name="local", concurrency_limit=1)
    with get_sync_client() as client:
        first = client.create_flow_run_from_deployment(deployment_id)
        second = client.create_flow_run_from_deployment(deployment_id)
        claimed = client.set_flow_run_state(first.id, StateCreate(type=StateType.PENDING))
        lease_id = claimed.state.state_details.deployment_concurrency_lease_id  # type: ignore[union-attr]
        assert lease_id is not None
        refused = client.set_flow_run_state(second.id, StateCreate(type=StateType.PENDING))
        assert refused.state is not None and refused.state.name == "AwaitingConcurrencySlot"

    out = tmp_path / "held.json"
    env = {**os.environ, "FLOWYARD_FLOW_RUN_ID": str(first.id), "OUT": str(out)}
    done = subprocess.run(
        [sys.executable, "-m", "flowyard.sdk.execute"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert uuid.UUID(out.read_text().strip('[]"\n')) == lease_id

    with get_sync_client() as client:
        assert client.read_flow_run(first.id).state_type == StateType.COMPLETED
        limit = client.read_concurrency_limit(f"deployment:{deployment_id}")
        assert limit.active_slots == 0
        again = client.set_flow_run_state(second.id, StateCreate(type=StateType.PENDING))
        assert again.status.value == "ACCEPT"
