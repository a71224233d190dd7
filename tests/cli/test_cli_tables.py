"""Every table of the CLI fits an 80-column terminal, one line per row: short ids (the full
ones in ``--json``), long names cut with an ellipsis, compact dates."""

from __future__ import annotations

import json
import uuid

import pytest
from cli_helpers import Flowyard

from flowyard import flow
from flowyard.client import get_sync_client
from flowyard.schemas.actions import ConcurrencyLeaseHolder
from flowyard.schemas.states import State, StateType

LONG = "a-rather-long-name-that-someone-gave-" + "x" * 40


@flow(name=f"flow-{LONG}")
def long_named(day: str = "mon") -> str:
    return day


@pytest.fixture
def narrow(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")


@pytest.fixture
def everything() -> dict[str, str]:
    """One of each listed thing, every name as long as a careless user makes it."""
    with get_sync_client() as client:
        made = client.create_flow(f"flow-{LONG}")
        ids = {"flow": str(made.id)}
        for i in range(3):
            run = client.create_flow_run(made.id, name=f"run-{i}-{LONG}")
            client.set_flow_run_state(run.id, State(type=StateType.RUNNING))
            client.set_flow_run_state(run.id, State(type=StateType.COMPLETED))
            ids[f"run{i}"] = str(run.id)
        client.create_work_pool(f"pool-{LONG}", type="process", concurrency_limit=4)
        limit = client.create_concurrency_limit(f"gpu-{LONG}", 2, slot_decay_per_second=0.5)
        ids["limit"] = str(limit.id)
        holder = ConcurrencyLeaseHolder(type="flow_run", id=uuid.uuid4())
        client.increment_with_lease([limit.name], 1, lease_duration=60, holder=holder)
        client.create_tag_concurrency_limit(f"tag-{LONG}", 3)
    deployment = long_named.to_deployment(
        f"deployment-{LONG}",
        cron="0 6 * * *",
        timezone="America/Argentina/Buenos_Aires",
        work_pool_name=f"pool-{LONG}",
    )
    ids["deployment"] = str(deployment.apply())
    from flowyard.blocks import Secret

    Secret(value="s3cr3t").save(f"secret-{LONG}"[:60], overwrite=True)
    return ids


COMMANDS = [
    ("flow", "ls"),
    ("flow-run", "ls"),
    ("deployment", "ls"),
    ("block", "ls"),
    ("block", "type", "ls"),
    ("work-pool", "ls"),
    ("concurrency-limit", "ls"),
    ("global-concurrency-limit", "ls"),
    ("global-concurrency-limit", "leases", f"gpu-{LONG}"),
]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_table_fits_80_columns_one_line_per_row(
    flowyard: Flowyard, narrow: None, everything: dict[str, str], command: tuple[str, ...]
) -> None:
    result = flowyard(*command)
    assert result.exit_code == 0, result.output
    assert max(len(line.rstrip()) for line in result.output.splitlines()) <= 80, result.output
    lines = result.stdout.splitlines()
    # title, header, rule, then one line per row: a wrapped row would add lines.
    rule = next(i for i, line in enumerate(lines) if set(line.strip()) == {"─"})
    rows = [line for line in lines[rule + 1 :] if line.strip()]
    listed = json.loads(flowyard(*command, "--json").output)
    assert len(rows) == len(listed), result.output
    if command[1] not in ("type", "leases"):  # those have no user-given long names
        assert "…" in result.output, result.output


def test_ids_are_short_in_the_table_and_whole_in_json(
    flowyard: Flowyard, narrow: None, everything: dict[str, str]
) -> None:
    table = flowyard("flow-run", "ls").stdout
    listed = json.loads(flowyard("flow-run", "ls", "--json").output)
    assert {run["id"] for run in listed} == {everything[f"run{i}"] for i in range(3)}
    for run in listed:
        assert run["id"] not in table
        short = run["id"].replace("-", "")[-8:]
        assert sum(line.startswith(short) for line in table.splitlines()) == 1, table
    # Dates of today are a time only.
    assert "-" not in table.strip().splitlines()[-1].split()[-1]
    assert json.loads(flowyard("flow-run", "ls", "-o", "json").output) == listed


def test_names_that_look_like_markup_are_shown_as_they_are(flowyard: Flowyard) -> None:
    with get_sync_client() as client:
        client.create_flow("etl[bold]x[red]")
    assert "etl[bold]x[red]" in flowyard("flow", "ls").output
