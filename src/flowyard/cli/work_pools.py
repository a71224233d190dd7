"""``flowyard work-pool ls|create|inspect|pause|resume|delete``."""

from __future__ import annotations

from typing import Annotated

import typer

from flowyard.cli.output import print_json, print_table, success, when

work_pool_app = typer.Typer(
    help="Create, inspect, pause and delete work pools.", no_args_is_help=True
)

NameArg = Annotated[str, typer.Argument(metavar="NAME", help="The work pool's name.")]
STATUS_COLOURS = {"READY": "green", "NOT_READY": "yellow", "PAUSED": "grey62"}


def _status(status: str | None) -> str:
    colour = STATUS_COLOURS.get(status or "", "white")
    return f"[{colour}]{status or ''}[/{colour}]"


@work_pool_app.command("ls")
def ls() -> None:
    """List work pools with their status (READY when a worker is polling)."""
    from flowyard.client import get_sync_client

    with get_sync_client() as client:
        pools = client.read_work_pools()
    print_table(
        "Work pools",
        ["Name", "Type", "Status", "Concurrency", "Created"],
        (
            [
                pool.name,
                pool.type,
                _status(pool.status),
                "" if pool.concurrency_limit is None else str(pool.concurrency_limit),
                when(pool.created),
            ]
            for pool in pools
        ),
    )


@work_pool_app.command()
def create(
    name: NameArg,
    type: Annotated[str, typer.Option("--type", help="The kind of worker.")] = "process",
    concurrency_limit: Annotated[
        int | None, typer.Option(min=0, help="At most this many runs at once.")
    ] = None,
    paused: Annotated[bool, typer.Option("--paused", help="Create it paused.")] = False,
    base_job_template: Annotated[
        typer.FileText | None,
        typer.Option(help="A JSON file with the base job template (job_configuration, variables)."),
    ] = None,
) -> None:
    """Create a work pool (with its default queue)."""
    import json

    from flowyard.cli.output import fail
    from flowyard.client import get_sync_client

    template = None
    if base_job_template is not None:
        try:
            template = json.load(base_job_template)
        except ValueError as exc:
            fail(f"--base-job-template: not JSON ({exc}).")
    with get_sync_client() as client:
        pool = client.create_work_pool(
            name,
            type=type,
            base_job_template=template,
            is_paused=paused,
            concurrency_limit=concurrency_limit,
        )
    success(f"Created work pool {pool.name!r} ({pool.type}).")


@work_pool_app.command()
def inspect(name: NameArg) -> None:
    """Show a work pool, its queues and workers, as JSON."""
    import json

    from flowyard.client import get_sync_client

    with get_sync_client() as client:
        pool = client.read_work_pool(name)
        queues = client.read_work_queues(name)
        workers = client.read_workers(name)
    data = pool.model_dump(mode="json")
    data["queues"] = [q.model_dump(mode="json") for q in queues]
    data["workers"] = [w.model_dump(mode="json") for w in workers]
    print_json(json.dumps(data))


@work_pool_app.command()
def pause(name: NameArg) -> None:
    """Pause a work pool: no worker is handed its runs until it is resumed."""
    from flowyard.client import get_sync_client

    with get_sync_client() as client:
        client.update_work_pool(name, is_paused=True)
    success(f"Paused work pool {name!r}.")


@work_pool_app.command()
def resume(name: NameArg) -> None:
    """Resume a paused work pool."""
    from flowyard.client import get_sync_client

    with get_sync_client() as client:
        client.update_work_pool(name, is_paused=False)
    success(f"Resumed work pool {name!r}.")


@work_pool_app.command()
def delete(name: NameArg) -> None:
    """Delete a work pool (refused while runs of it are unfinished)."""
    from flowyard.client import get_sync_client

    with get_sync_client() as client:
        client.delete_work_pool(name)
    success(f"Deleted work pool {name!r}.")
