"""``flowyard work-pool ls|create|inspect|pause|resume|delete``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from flowyard.cli.output import (
    Column,
    JsonOption,
    OutputOption,
    fail,
    print_json,
    print_models,
    print_table,
    success,
    wants_json,
    when,
)

if TYPE_CHECKING:
    from flowyard.client import SyncFlowyardClient

work_pool_app = typer.Typer(
    help="Create, inspect, pause and delete work pools.", no_args_is_help=True
)

UNFINISHED_SHOWN = 3
NameArg = Annotated[str, typer.Argument(metavar="NAME", help="The work pool's name.")]
STATUS_COLOURS = {"READY": "green", "NOT_READY": "yellow", "PAUSED": "grey62"}


def _status(status: str | None) -> str:
    colour = STATUS_COLOURS.get(status or "", "white")
    return f"[{colour}]{status or ''}[/{colour}]"


@work_pool_app.command("ls")
def ls(as_json: JsonOption = False, output: OutputOption = None) -> None:
    """List work pools with their status (READY when a worker is polling)."""
    from flowyard.client import get_sync_client

    with get_sync_client() as client:
        pools = client.read_work_pools()
    if wants_json(as_json, output):
        print_models(pools)
        return
    print_table(
        "Work pools",
        [
            Column("Name", flex=True),
            Column("Type", flex=True),
            Column("Status", markup=True),
            Column("Limit"),
            Column("Created"),
        ],
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
    from flowyard.exceptions import ObjectAlreadyExists

    with get_sync_client() as client:
        try:
            client.delete_work_pool(name)
        except ObjectAlreadyExists:  # 409: runs of it are not finished
            unfinished = _unfinished_runs(client, name)
            if not unfinished:
                raise
            fail(f"Work pool {name!r} has {unfinished}. Cancel or delete them first.")
    success(f"Deleted work pool {name!r}.")


def _unfinished_runs(client: SyncFlowyardClient, pool: str) -> str:
    """``2 flow runs that are not finished: 'a' (Running, <id>), ...``, or empty."""
    from flowyard.schemas import filters

    finished = ["COMPLETED", "FAILED", "CANCELLED", "CRASHED"]
    runs = client.read_flow_runs(
        work_pool_filter=filters.WorkPoolFilter(name=filters.NameFilter(any_=[pool])),
        flow_run_filter=filters.FlowRunFilter.model_validate(
            {"state": {"type": {"not_any_": finished}}}
        ),
        limit=UNFINISHED_SHOWN + 1,
    )
    if not runs:
        return ""
    shown = ", ".join(
        f"{run.name!r} ({run.state_name or 'no state'}, {run.id})"
        for run in runs[:UNFINISHED_SHOWN]
    )
    if len(runs) > UNFINISHED_SHOWN:
        return f"more than {UNFINISHED_SHOWN} flow runs that are not finished, such as {shown}"
    plural = "flow run that is" if len(runs) == 1 else "flow runs that are"
    return f"{len(runs)} {plural} not finished: {shown}"
