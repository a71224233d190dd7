"""``flowyard flow-run ls|inspect|cancel|resume|logs|delete``."""

from __future__ import annotations

import uuid
from typing import Annotated

import typer

from flowyard.cli.output import (
    ID,
    STATE,
    Column,
    JsonOption,
    OutputOption,
    fail,
    note,
    parse_uuid,
    print_json,
    print_models,
    print_table,
    short_id,
    state_markup,
    wants_json,
    when,
)

flow_run_app = typer.Typer(
    help="Inspect, cancel, resume and delete flow runs.", no_args_is_help=True
)

IdArg = Annotated[str, typer.Argument(metavar="ID", help="The flow run's id.")]
LOG_PAGE = 200
LEVEL_NAMES = {10: "DEBUG", 20: "INFO", 30: "WARNING", 40: "ERROR", 50: "CRITICAL"}


def _state_types(values: list[str]) -> list[str]:
    from flowyard.schemas.states import StateType

    valid = [t.value for t in StateType]
    chosen = []
    for value in values:
        if value.upper() not in valid:
            fail(f"Unknown state type {value!r}; choose from {', '.join(valid)}.")
        chosen.append(value.upper())
    return chosen


@flow_run_app.command("ls")
def ls(
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many runs.")] = 15,
    state: Annotated[
        list[str] | None,
        typer.Option(
            metavar="STATE", help="Only runs in this state type (COMPLETED, FAILED...); repeatable."
        ),
    ] = None,
    flow_name: Annotated[
        list[str] | None,
        typer.Option(metavar="FLOW", help="Only runs of this flow; repeatable."),
    ] = None,
    upcoming: Annotated[
        bool, typer.Option("--upcoming", help="Runs scheduled to start later, soonest first.")
    ] = False,
    as_json: JsonOption = False,
    output: OutputOption = None,
) -> None:
    """List flow runs, most recent first: by when they started (or were due to start).
    Runs scheduled for later are left out; --upcoming lists them."""
    import datetime as dt

    from flowyard.client import get_sync_client
    from flowyard.schemas import filters
    from flowyard.schemas.sorting import FlowRunSort
    from flowyard.schemas.states import StateType

    json_out = wants_json(as_json, output)
    now = dt.datetime.now(dt.UTC)
    conditions: dict[str, object] = {}
    if state:
        types = [StateType(t) for t in _state_types(state)]
        conditions["state"] = filters.StateFilter(type=filters.StateTypeFilter(any_=types))
    flow_filter = None
    if flow_name:
        flow_filter = filters.FlowFilter(name=filters.NameFilter(any_=flow_name))
    # Past and due runs, or (--upcoming) the runs still to come: never both in one list,
    # or a year of scheduled runs would push what just happened off the first page.
    if upcoming:
        conditions["expected_start_time"] = filters.TimeFilter(after_=now)
        conditions.setdefault(
            "state",
            filters.StateFilter(type=filters.StateTypeFilter(any_=[StateType.SCHEDULED])),
        )
        sort = FlowRunSort.EXPECTED_START_TIME_ASC
    else:
        conditions["expected_start_time"] = filters.TimeFilter(before_=now)
        sort = FlowRunSort.START_TIME_DESC
    run_filter = filters.FlowRunFilter.model_validate(conditions)

    with get_sync_client() as client:
        runs = client.read_flow_runs(
            flow_filter=flow_filter, flow_run_filter=run_filter, sort=sort, limit=limit
        )
        flow_ids = list({run.flow_id for run in runs})
        flows = client.read_flows(
            flow_filter=filters.FlowFilter(id=filters.IdFilter(any_=flow_ids)),
            limit=len(flow_ids) or None,
        )
        later = 0
        if not upcoming and not json_out:
            conditions["expected_start_time"] = filters.TimeFilter(after_=now)
            later = client.count_flow_runs(
                flow_filter=flow_filter,
                flow_run_filter=filters.FlowRunFilter.model_validate(conditions),
            )
    if json_out:
        print_models(runs)
        return
    names = {flow.id: flow.name for flow in flows}
    print_table(
        "Upcoming flow runs" if upcoming else "Flow runs",
        [ID, Column("Flow", flex=True), Column("Name", flex=True), STATE, Column("When")],
        (
            [
                short_id(run.id),
                names.get(run.flow_id, ""),
                run.name,
                state_markup(run.state_type, run.state_name),
                when(run.start_time or run.expected_start_time or run.created),
            ]
            for run in runs
        ),
    )
    if later:
        note(f"{later} more scheduled to start later: flowyard flow-run ls --upcoming")


@flow_run_app.command()
def inspect(flow_run_id: IdArg, as_json: JsonOption = False, output: OutputOption = None) -> None:
    """Show one flow run: its flow, deployment, state, times and parameters; for a run
    waiting to start, what holds it. --json prints it as JSON (with its blockers)."""
    import json

    from flowyard.client import get_sync_client

    run_id = parse_uuid(flow_run_id, "flow run")
    json_out = wants_json(as_json, output)
    with get_sync_client() as client:
        run = client.read_flow_run(run_id)
        waiting = run.state_type in ("SCHEDULED", "PENDING")
        blockers = client.read_flow_run_blockers(run_id).blockers if waiting else []
        if json_out:
            data = run.model_dump(mode="json")
            if waiting:
                data["blockers"] = [blocker.model_dump(mode="json") for blocker in blockers]
            print_json(json.dumps(data))
            return
        from flowyard.cli.run_details import describe_run, idle_pool_hint

        lines = describe_run(client, run)
        hint = idle_pool_hint(client, run) if waiting and not blockers else None
    for line in lines:
        typer.echo(line)
    if waiting:
        typer.echo("")
        typer.echo("Why isn't it running?")
        for blocker in blockers:
            typer.echo(f"  - {blocker.message}")
        if not blockers:
            typer.echo(f"  {hint or 'Nothing holds it: it is due and a worker may pick it up.'}")


@flow_run_app.command()
def cancel(flow_run_id: IdArg) -> None:
    """Cancel a flow run: it moves to Cancelling (Cancelled at once when it has no process
    to stop), and whatever executes it stops it."""
    from flowyard.cli.output import success
    from flowyard.client import get_sync_client

    run_id = parse_uuid(flow_run_id, "flow run")
    with get_sync_client() as client:
        result = client.cancel_flow_run(run_id, message="Cancelled from the CLI.")
    state = result.state
    if result.status.value != "ACCEPT" and (state is None or state.type.value != "CANCELLED"):
        reason = getattr(result.details, "reason", None) or result.status.value
        fail(f"Flow run {run_id} was not cancelled: {reason}")
    shown = state.name if state is not None else "Cancelling"
    success(f"Flow run {run_id} is {shown}.")


@flow_run_app.command()
def resume(
    flow_run_id: IdArg,
    run_input: Annotated[
        str | None,
        typer.Option("--input", metavar="JSON", help="Input for a run that waits for it, as JSON."),
    ] = None,
) -> None:
    """Resume a paused flow run, giving it the input it waits for, if any."""
    import json

    from flowyard.cli.output import success
    from flowyard.client import get_sync_client

    run_id = parse_uuid(flow_run_id, "flow run")
    payload = None
    if run_input is not None:
        try:
            payload = json.loads(run_input)
        except json.JSONDecodeError as exc:
            fail(f"--input is not valid JSON: {exc.msg} (column {exc.colno}).")
        if not isinstance(payload, dict):
            fail("--input must be a JSON object, such as '{\"approved\": true}'.")
    with get_sync_client() as client:
        result = client.resume_flow_run(run_id, payload)
    if result.status.value != "ACCEPT":
        reason = getattr(result.details, "reason", None) or result.status.value
        fail(f"Flow run {run_id} was not resumed: {reason}")
    success(f"Flow run {run_id} is running again.")


@flow_run_app.command()
def logs(flow_run_id: IdArg) -> None:
    """Print the logs of a flow run, oldest first."""
    from flowyard.client import get_sync_client
    from flowyard.schemas.filters import IdFilter, LogFilter

    run_id = parse_uuid(flow_run_id, "flow run")
    log_filter = LogFilter(flow_run_id=IdFilter(any_=[run_id]))
    with get_sync_client() as client:
        client.read_flow_run(run_id)  # a missing run is an error, not an empty listing
        offset = 0
        while True:
            page = client.read_logs(log_filter, limit=LOG_PAGE, offset=offset)
            for log in page:
                level = LEVEL_NAMES.get(log.level, str(log.level))
                stamp = log.timestamp.astimezone().strftime("%H:%M:%S.%f")[:-3]
                typer.echo(f"{stamp} | {level:<8} | {log.name} - {log.message}")
            if len(page) < LOG_PAGE:
                break
            offset += LOG_PAGE


@flow_run_app.command()
def delete(flow_run_id: IdArg) -> None:
    """Delete a flow run and its logs."""
    from flowyard.cli.output import success
    from flowyard.client import get_sync_client

    run_id: uuid.UUID = parse_uuid(flow_run_id, "flow run")
    with get_sync_client() as client:
        client.delete_flow_run(run_id)
    success(f"Deleted flow run {run_id}.")
