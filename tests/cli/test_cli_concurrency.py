"""`flowyard concurrency-limit ...` and `flowyard global-concurrency-limit ...`, embedded."""

from __future__ import annotations

import json
import uuid

from cli_helpers import Flowyard, one_error_line

from flowyard.client import get_sync_client
from flowyard.schemas.actions import ConcurrencyLeaseHolder


def test_tag_limits_create_ls_inspect_reset_delete(flowyard: Flowyard) -> None:
    created = flowyard("concurrency-limit", "create", "db", "2")
    assert created.exit_code == 0, created.output
    assert "'db' is limited to 2" in created.output
    resized = flowyard("concurrency-limit", "create", "db", "3")
    assert resized.exit_code == 0 and "limited to 3" in resized.output

    holder = uuid.uuid4()
    with get_sync_client() as client:
        holding = ConcurrencyLeaseHolder(type="task_run", id=holder)
        client.increment_with_lease(["tag:db"], 1, lease_duration=60, holder=holding)

    listed = flowyard("concurrency-limit", "ls")
    assert listed.exit_code == 0, listed.output
    row = next(line for line in listed.output.splitlines() if line.strip().startswith("db"))
    assert row.split()[:3] == ["db", "3", "1"]

    shown = flowyard("concurrency-limit", "inspect", "db")
    assert shown.exit_code == 0, shown.output
    data = json.loads(shown.output)
    assert data["concurrency_limit"] == 3 and data["active_slots"] == [str(holder)]

    reset = flowyard("concurrency-limit", "reset", "db")
    assert reset.exit_code == 0 and "free" in reset.output
    assert json.loads(flowyard("concurrency-limit", "inspect", "db").output)["active_slots"] == []

    deleted = flowyard("concurrency-limit", "delete", "db")
    assert deleted.exit_code == 0, deleted.output
    assert "db" not in flowyard("concurrency-limit", "ls").output.split("ID")[-1]


def test_tag_limit_errors_are_one_line(flowyard: Flowyard) -> None:
    assert "not found" in one_error_line(flowyard("concurrency-limit", "inspect", "nope"))
    assert "not found" in one_error_line(flowyard("concurrency-limit", "delete", "nope"))
    assert "not found" in one_error_line(flowyard("concurrency-limit", "reset", "nope"))
    assert "LIMIT" in one_error_line(flowyard("concurrency-limit", "create", "--", "db", "-1"))
    assert "tag" in one_error_line(flowyard("concurrency-limit", "create", "a/b", "1"))
    assert "db" not in flowyard("concurrency-limit", "ls").output.split("ID")[-1]


def test_global_limits_and_their_leases(flowyard: Flowyard) -> None:
    created = flowyard("global-concurrency-limit", "create", "gcl", "--limit", "2")
    assert created.exit_code == 0 and "Created" in created.output, created.output
    rate = flowyard(
        "global-concurrency-limit", "create", "api", "--limit", "5", "--slot-decay-per-second", "2"
    )
    assert rate.exit_code == 0, rate.output

    holder = uuid.uuid4()
    with get_sync_client() as client:
        holding = ConcurrencyLeaseHolder(type="flow_run", id=holder)
        lease = client.increment_with_lease(["gcl"], 2, lease_duration=60, holder=holding)

    listed = flowyard("global-concurrency-limit", "ls")
    assert listed.exit_code == 0, listed.output
    rows = {line.split()[0]: line.split() for line in listed.output.splitlines() if line.strip()}
    assert rows["gcl"][1:3] == ["2", "2"] and rows["api"][3] == "2"

    shown = json.loads(flowyard("global-concurrency-limit", "inspect", "gcl").output)
    assert shown["active_slots"] == 2
    assert [item["id"] for item in shown["leases"]] == [str(lease.lease_id)]

    leases = flowyard("global-concurrency-limit", "leases", "gcl")
    assert leases.exit_code == 0, leases.output
    short = str(lease.lease_id).replace("-", "")[-8:]  # the table's short ids
    assert short in leases.output and f"flow_run {holder.hex[-8:]}" in leases.output
    listed = json.loads(flowyard("global-concurrency-limit", "leases", "gcl", "--json").output)
    assert [item["id"] for item in listed] == [str(lease.lease_id)]

    revoked = flowyard("global-concurrency-limit", "revoke", short)  # as the table shows it
    assert revoked.exit_code == 0 and "free" in revoked.output, revoked.output
    shown = json.loads(flowyard("global-concurrency-limit", "inspect", "gcl").output)
    assert shown["active_slots"] == 0 and shown["leases"] == []
    gone = one_error_line(flowyard("global-concurrency-limit", "revoke", str(lease.lease_id)))
    assert "Lease not found" in gone

    with get_sync_client() as client:
        client.increment_with_lease(["gcl"], 2, lease_duration=60)
    reset = flowyard("global-concurrency-limit", "reset", shown["id"])
    assert reset.exit_code == 0, reset.output
    assert json.loads(flowyard("global-concurrency-limit", "inspect", "gcl").output)["leases"] == []

    updated = flowyard(
        "global-concurrency-limit", "update", "gcl", "--limit", "7", "--disable", "--name", "g2"
    )
    assert updated.exit_code == 0, updated.output
    shown = json.loads(flowyard("global-concurrency-limit", "inspect", "g2").output)
    assert (shown["limit"], shown["active"]) == (7, False)

    deleted = flowyard("global-concurrency-limit", "delete", "g2")
    assert deleted.exit_code == 0, deleted.output
    assert "g2" not in flowyard("global-concurrency-limit", "ls").output


def test_global_limit_errors_are_one_line(flowyard: Flowyard) -> None:
    assert "not found" in one_error_line(flowyard("global-concurrency-limit", "inspect", "nope"))
    assert "not found" in one_error_line(flowyard("global-concurrency-limit", "delete", "nope"))
    assert "UUID" in one_error_line(flowyard("global-concurrency-limit", "revoke", "not-a-uuid"))
    assert "Nothing to update" in one_error_line(
        flowyard("global-concurrency-limit", "update", "nope")
    )
    flowyard("global-concurrency-limit", "create", "gcl", "--limit", "1")
    duplicate = one_error_line(
        flowyard("global-concurrency-limit", "create", "gcl", "--limit", "3")
    )
    assert "already exists" in duplicate
    too_many = one_error_line(
        flowyard("global-concurrency-limit", "reset", "gcl", "--active-slots", "5")
    )
    assert "active_slots" in too_many
    assert json.loads(flowyard("global-concurrency-limit", "inspect", "gcl").output)["limit"] == 1
