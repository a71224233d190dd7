"""``flowyard flow ls``."""

from __future__ import annotations

from typing import Annotated

import typer

from flowyard.cli.output import (
    ID,
    Column,
    JsonOption,
    OutputOption,
    print_models,
    print_table,
    short_id,
    wants_json,
    when,
)

flow_app = typer.Typer(help="Inspect flows.", no_args_is_help=True)


@flow_app.command("ls")
def ls(
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many flows.")] = 15,
    as_json: JsonOption = False,
    output: OutputOption = None,
) -> None:
    """List flows, newest first."""
    from flowyard.client import get_sync_client
    from flowyard.schemas.sorting import FlowSort

    with get_sync_client() as client:
        flows = client.read_flows(sort=FlowSort.CREATED_DESC, limit=limit)
    if wants_json(as_json, output):
        print_models(flows)
        return
    print_table(
        "Flows",
        [ID, Column("Name", flex=True), Column("Created")],
        ([short_id(f.id), f.name, when(f.created)] for f in flows),
    )
