"""``flowyard automation``: list, inspect, pause, resume and delete automations.

An automation is named by its id or its name; a name several automations share is refused
with their ids, so that a command never acts on more than the one meant.
"""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Annotated

import typer

from flowyard.cli.output import (
    ID,
    Column,
    JsonOption,
    OutputOption,
    fail,
    print_json,
    print_models,
    print_table,
    short_id,
    success,
    wants_json,
)

if TYPE_CHECKING:
    from flowyard.client import SyncFlowyardClient
    from flowyard.schemas.automations import Automation

automation_app = typer.Typer(
    help="Automations: triggers on the event stream and the actions they take.",
    no_args_is_help=True,
)
RefArg = Annotated[str, typer.Argument(metavar="NAME_OR_ID", help="The automation's name or id.")]


def _client() -> SyncFlowyardClient:
    from flowyard.client import get_sync_client

    return get_sync_client()


def _find(client: SyncFlowyardClient, ref: str) -> Automation:
    try:
        return client.read_automation(uuid.UUID(ref))
    except ValueError:
        pass
    found = client.read_automations_by_name(ref)
    if not found:
        fail(f"No automation named {ref!r}.")
    if len(found) > 1:
        ids = ", ".join(str(a.id) for a in found)
        fail(f"{len(found)} automations are named {ref!r}; name one by id: {ids}")
    return found[0]


@automation_app.command("ls")
def ls(
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many.")] = 200,
    as_json: JsonOption = False,
    output: OutputOption = None,
) -> None:
    """List automations, by name."""
    with _client() as client:
        automations = client.read_automations(limit=limit)
    if wants_json(as_json, output):
        print_models(automations)
        return
    print_table(
        "Automations",
        [Column("Name", flex=True), Column("Trigger"), Column("Actions"), Column("Enabled"), ID],
        (
            [a.name, a.trigger.type, ", ".join(x.type for x in a.actions),
             "yes" if a.enabled else "paused", short_id(a.id)]
            for a in automations
        ),
    )  # fmt: skip


@automation_app.command("inspect")
def inspect(ref: RefArg) -> None:
    """Show an automation, its trigger and actions, as JSON."""
    with _client() as client:
        automation = _find(client, ref)
    print_json(json.dumps(automation.model_dump(mode="json")))


@automation_app.command("pause")
def pause(ref: RefArg) -> None:
    """Pause an automation: its trigger is not evaluated until it is resumed."""
    with _client() as client:
        automation = _find(client, ref)
        client.set_automation_enabled(automation.id, False)
    success(f"Paused automation {automation.name!r} ({automation.id}).")


@automation_app.command("resume")
def resume(ref: RefArg) -> None:
    """Resume a paused automation."""
    with _client() as client:
        automation = _find(client, ref)
        client.set_automation_enabled(automation.id, True)
    success(f"Resumed automation {automation.name!r} ({automation.id}).")


@automation_app.command("delete")
def delete(ref: RefArg) -> None:
    """Delete an automation."""
    with _client() as client:
        automation = _find(client, ref)
        client.delete_automation(automation.id)
    success(f"Deleted automation {automation.name!r} ({automation.id}).")
