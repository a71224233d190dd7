"""``flowyard flow ls``."""

from __future__ import annotations

from typing import Annotated

import typer

from flowyard.cli.output import print_table, when

flow_app = typer.Typer(help="Inspect flows.", no_args_is_help=True)


@flow_app.command("ls")
def ls(
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many flows.")] = 15,
) -> None:
    """List flows, newest first."""
    from flowyard.client import get_sync_client
    from flowyard.schemas.sorting import FlowSort

    with get_sync_client() as client:
        flows = client.read_flows(sort=FlowSort.CREATED_DESC, limit=limit)
    print_table(
        "Flows",
        ["ID", "Name", "Created"],
        ([str(f.id), f.name, when(f.created)] for f in flows),
    )
