"""`flowyard automation ls|inspect|pause|resume|delete`, embedded."""

from __future__ import annotations

import json

from cli_helpers import Flowyard, one_error_line

from flowyard.client import get_sync_client
from flowyard.schemas.automations import AutomationCreate


def _create(name: str) -> str:
    body = AutomationCreate.model_validate({
        "name": name,
        "trigger": {"type": "event", "posture": "Reactive",
                    "expect": ["prefect.flow-run.Failed"]},
        "actions": [{"type": "do-nothing"}],
    })  # fmt: skip
    with get_sync_client() as client:
        return str(client.create_automation(body).id)


def test_ls_inspect_pause_resume_delete(flowyard: Flowyard) -> None:
    automation_id = _create("on-failure")
    listed = flowyard("automation", "ls")
    assert listed.exit_code == 0, listed.output
    row = next(line for line in listed.output.splitlines() if "on-failure" in line)
    assert row.split()[:4] == ["on-failure", "event", "do-nothing", "yes"]

    shown = flowyard("automation", "inspect", "on-failure")
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)["id"] == automation_id

    assert flowyard("automation", "pause", "on-failure").exit_code == 0
    assert json.loads(flowyard("automation", "inspect", automation_id).output)["enabled"] is False
    assert flowyard("automation", "resume", automation_id).exit_code == 0
    assert json.loads(flowyard("automation", "inspect", automation_id).output)["enabled"] is True

    deleted = flowyard("automation", "delete", "on-failure")
    assert deleted.exit_code == 0, deleted.output
    assert "No automation named" in one_error_line(flowyard("automation", "inspect", "on-failure"))


def test_a_shared_name_is_refused_with_the_ids(flowyard: Flowyard) -> None:
    first, second = _create("twin"), _create("twin")
    refused = one_error_line(flowyard("automation", "delete", "twin"))
    assert "2 automations are named 'twin'" in refused
    assert first in refused and second in refused
    assert (
        "not found"
        in one_error_line(
            flowyard("automation", "inspect", "00000000-0000-0000-0000-000000000000")
        ).lower()
    )
