"""``flowyard deployment ls|inspect|run|pause|resume|delete``.

A deployment is named ``flow-name/deployment-name`` (as ``run_deployment`` takes it) or by id.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from flowyard.cli.output import (
    ID,
    Column,
    JsonOption,
    OutputOption,
    console,
    fail,
    print_json,
    print_models,
    print_table,
    short_id,
    state_markup,
    wants_json,
    when,
)

if TYPE_CHECKING:
    from flowyard.client import SyncFlowyardClient
    from flowyard.schemas.deployments import Deployment

deployment_app = typer.Typer(help="List, run, pause and delete deployments.", no_args_is_help=True)

NameArg = Annotated[
    str, typer.Argument(metavar="NAME", help="'flow-name/deployment-name', or the id.")
]


def _find(client: SyncFlowyardClient, name: str) -> Deployment:
    import uuid

    try:
        deployment_id = uuid.UUID(name)
    except ValueError:
        if "/" not in name:
            fail(f"Deployment {name!r}: give it as 'flow-name/deployment-name' or as an id.")
        found: Deployment = client.read_deployment_by_name(name)
        return found
    by_id: Deployment = client.read_deployment(deployment_id)
    return by_id


def _schedule_text(schedule: Any) -> str:
    spec = schedule.schedule
    text = getattr(spec, "cron", None) or getattr(spec, "rrule", None)
    if text is None:
        text = f"every {spec.interval.total_seconds():g}s"
    tz = getattr(spec, "timezone", None)
    return f"{text} ({tz})" if tz else str(text)


STATUS_COLOURS = {"READY": "green", "NOT_READY": "yellow", "PAUSED": "grey62"}


def _status(deployment: Deployment) -> str:
    status = "PAUSED" if deployment.paused else str(deployment.status or "")
    return f"[{STATUS_COLOURS.get(status, 'white')}]{status}[/]" if status else ""


def _parse_param(item: str) -> tuple[str, Any]:
    key, sep, raw = item.partition("=")
    if not sep or not key:
        fail(f"--param {item!r}: expected key=value.")
    try:
        value = json.loads(raw)  # numbers, booleans, lists, objects; else the plain text
    except ValueError:
        value = raw
    return key, value


@deployment_app.command("ls")
def ls(
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many.")] = 50,
    as_json: JsonOption = False,
    output: OutputOption = None,
) -> None:
    """List deployments with their flow, schedules and status."""
    from flowyard.client import get_sync_client
    from flowyard.schemas import filters
    from flowyard.schemas.limits import MAX_FILTER_ITEMS

    with get_sync_client() as client:
        deployments = client.read_deployments(limit=limit)
        flow_ids = list({d.flow_id for d in deployments})
        flows = []
        # A filter names at most MAX_FILTER_ITEMS ids: ask in slices of that.
        for start in range(0, len(flow_ids), MAX_FILTER_ITEMS):
            chunk = flow_ids[start : start + MAX_FILTER_ITEMS]
            flows += client.read_flows(
                flow_filter=filters.FlowFilter(id=filters.IdFilter(any_=chunk)), limit=len(chunk)
            )
    if wants_json(as_json, output):
        print_models(deployments)
        return
    names = {flow.id: flow.name for flow in flows}
    print_table(
        "Deployments",
        [
            Column("Name", flex=True),
            ID,
            Column("Schedules", flex=True),
            Column("Work pool", flex=True),
            Column("Status", markup=True),
        ],
        (
            [
                f"{names.get(d.flow_id, '?')}/{d.name}",
                short_id(d.id),
                ", ".join(_schedule_text(s) for s in d.schedules if s.active) or "-",
                d.work_pool_name or "-",
                _status(d),
            ]
            for d in deployments
        ),
    )


@deployment_app.command()
def inspect(name: NameArg) -> None:
    """Show a deployment as JSON."""
    from flowyard.client import get_sync_client

    with get_sync_client() as client:
        deployment = _find(client, name)
    print_json(deployment.model_dump_json())


@deployment_app.command()
def run(
    name: NameArg,
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", help="A parameter as key=value (JSON values); repeatable."),
    ] = None,
    params: Annotated[
        str | None, typer.Option("--params", help="All parameters as one JSON object.")
    ] = None,
) -> None:
    """Create a run of a deployment, due now; a worker or serve() process starts it."""
    from flowyard.cli.output import success
    from flowyard.client import get_sync_client

    parameters: dict[str, Any] = {}
    if params:
        try:
            loaded = json.loads(params)
        except ValueError as exc:
            fail(f"--params: not JSON: {exc}")
        if not isinstance(loaded, dict):
            fail("--params: must be a JSON object.")
        parameters.update(loaded)
    parameters.update(_parse_param(item) for item in param or [])
    with get_sync_client() as client:
        deployment = _find(client, name)
        flow_run = client.create_flow_run_from_deployment(deployment.id, parameters=parameters)
    success(f"Created flow run {flow_run.name!r} ({flow_run.id}) of {name}.")
    out = console()
    out.print(f"State: {state_markup(flow_run.state_type, flow_run.state_name)}")
    out.print(f"Scheduled for: {when(flow_run.expected_start_time)}")


@deployment_app.command()
def pause(name: NameArg) -> None:
    """Pause a deployment: its scheduled runs are removed until it is resumed."""
    from flowyard.cli.output import success
    from flowyard.client import get_sync_client

    with get_sync_client() as client:
        deployment = _find(client, name)
        client.pause_deployment(deployment.id)
    success(f"Paused deployment {name}.")


@deployment_app.command()
def resume(name: NameArg) -> None:
    """Resume a paused deployment: its schedules make runs again."""
    from flowyard.cli.output import success
    from flowyard.client import get_sync_client

    with get_sync_client() as client:
        deployment = _find(client, name)
        client.resume_deployment(deployment.id)
    success(f"Resumed deployment {name}.")


@deployment_app.command()
def delete(name: NameArg) -> None:
    """Delete a deployment, its schedules and its runs that have not started."""
    from flowyard.cli.output import success
    from flowyard.client import get_sync_client

    with get_sync_client() as client:
        deployment = _find(client, name)
        client.delete_deployment(deployment.id)
    success(f"Deleted deployment {name}.")
