"""``flowyard concurrency-limit`` (tag limits) and ``flowyard global-concurrency-limit``.

Tag limits cap how many task runs with a tag run at once; global limits are what
``concurrency()`` and ``rate_limit()`` use. Both show who holds their slots, and an admin
can free slots by hand: ``reset`` frees them all, ``revoke`` frees one lease.
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
    is_short_id,
    parse_uuid,
    print_json,
    print_models,
    print_table,
    short_id,
    success,
    wants_json,
    when,
)

if TYPE_CHECKING:
    from flowyard.client import SyncFlowyardClient

tag_limit_app = typer.Typer(
    help="Limit how many task runs with a tag run at once.", no_args_is_help=True
)
global_limit_app = typer.Typer(
    help="Global concurrency and rate limits, and the leases holding their slots.",
    no_args_is_help=True,
)

TagArg = Annotated[str, typer.Argument(metavar="TAG", help="The task tag.")]
NameArg = Annotated[str, typer.Argument(metavar="NAME", help="The limit's name or id.")]


def _client() -> SyncFlowyardClient:
    from flowyard.client import get_sync_client

    return get_sync_client()


# -- tag limits -----------------------------------------------------------------------------


@tag_limit_app.command("ls")
def tag_ls(
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many limits.")] = 200,
    as_json: JsonOption = False,
    output: OutputOption = None,
) -> None:
    """List tag limits and how many of their slots are taken."""
    with _client() as client:
        limits = client.read_tag_concurrency_limits(limit=limit)
    if wants_json(as_json, output):
        print_models(limits)
        return
    print_table(
        "Tag concurrency limits",
        [Column("Tag", flex=True), Column("Limit"), Column("Active"), ID],
        (
            [item.tag, str(item.concurrency_limit), str(len(item.active_slots)), short_id(item.id)]
            for item in limits
        ),
    )


@tag_limit_app.command("create")
def tag_create(
    tag: TagArg,
    limit: Annotated[int, typer.Argument(metavar="LIMIT", help="How many may run at once.")],
) -> None:
    """Create the limit on TAG (or change its size if it exists)."""
    if limit < 0:
        fail("LIMIT must be 0 or more.")
    with _client() as client:
        created = client.create_tag_concurrency_limit(tag, limit)
    success(f"Tag {created.tag!r} is limited to {created.concurrency_limit} (id {created.id}).")


@tag_limit_app.command("inspect")
def tag_inspect(tag: TagArg) -> None:
    """Show the limit on TAG, with the task runs holding its slots, as JSON."""
    with _client() as client:
        item = client.read_tag_concurrency_limit(tag)
    print_json(json.dumps(item.model_dump(mode="json")))


@tag_limit_app.command("reset")
def tag_reset(tag: TagArg) -> None:
    """Free every slot of the limit on TAG (the runs holding them lose them)."""
    with _client() as client:
        client.reset_tag_concurrency_limit(tag)
    success(f"Every slot of the limit on tag {tag!r} is free.")


@tag_limit_app.command("delete")
def tag_delete(tag: TagArg) -> None:
    """Delete the limit on TAG."""
    with _client() as client:
        client.delete_tag_concurrency_limit(tag)
    success(f"Deleted the limit on tag {tag!r}.")


# -- global limits --------------------------------------------------------------------------


def _ref(value: str) -> object:
    import uuid

    try:
        return uuid.UUID(value)
    except ValueError:
        return value


@global_limit_app.command("ls")
def global_ls(
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many limits.")] = 200,
    as_json: JsonOption = False,
    output: OutputOption = None,
) -> None:
    """List global limits (tag limits appear as 'tag:TAG')."""
    with _client() as client:
        limits = client.read_concurrency_limits(limit=limit)
    if wants_json(as_json, output):
        print_models(limits)
        return
    print_table(
        "Global concurrency limits",
        [
            Column("Name", flex=True),
            Column("Limit"),
            Column("Active"),
            Column("Decay/s"),
            Column("On"),
            ID,
        ],
        (
            [
                item.name,
                str(item.limit),
                str(item.active_slots),
                f"{item.slot_decay_per_second:g}",
                "yes" if item.active else "no",
                short_id(item.id),
            ]
            for item in limits
        ),
    )


@global_limit_app.command("create")
def global_create(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The new limit's name.")],
    limit: Annotated[int, typer.Option(min=0, help="How many slots.")],
    slot_decay_per_second: Annotated[
        float, typer.Option(min=0, help="Above 0: a rate limit whose slots free at this rate.")
    ] = 0.0,
    disable: Annotated[bool, typer.Option("--disable", help="Create it inactive.")] = False,
) -> None:
    """Create a global concurrency (or rate) limit."""
    with _client() as client:
        created = client.create_concurrency_limit(
            name, limit, active=not disable, slot_decay_per_second=slot_decay_per_second
        )
    success(f"Created global concurrency limit {created.name!r} (id {created.id}).")


@global_limit_app.command("inspect")
def global_inspect(name: NameArg) -> None:
    """Show a limit and the leases holding its slots, as JSON."""
    with _client() as client:
        item = client.read_concurrency_limit(_ref(name))  # type: ignore[arg-type]
        leases = client.read_concurrency_leases(item.id)
    data = item.model_dump(mode="json")
    data["leases"] = [lease.model_dump(mode="json") for lease in leases]
    print_json(json.dumps(data))


@global_limit_app.command("update")
def global_update(
    name: NameArg,
    limit: Annotated[int | None, typer.Option(min=0, help="New number of slots.")] = None,
    slot_decay_per_second: Annotated[
        float | None, typer.Option(min=0, help="New slot decay rate.")
    ] = None,
    enable: Annotated[
        bool | None, typer.Option("--enable/--disable", help="Turn the limit on or off.")
    ] = None,
    new_name: Annotated[str | None, typer.Option("--name", help="Rename it.")] = None,
) -> None:
    """Change a limit's size, decay, name or whether it is enabled."""
    if limit is None and slot_decay_per_second is None and enable is None and new_name is None:
        fail("Nothing to update: give --limit, --slot-decay-per-second, --enable or --name.")
    with _client() as client:
        client.update_concurrency_limit(
            _ref(name),  # type: ignore[arg-type]
            limit=limit,
            active=enable,
            name=new_name,
            slot_decay_per_second=slot_decay_per_second,
        )
    success(f"Updated global concurrency limit {name!r}.")


@global_limit_app.command("delete")
def global_delete(name: NameArg) -> None:
    """Delete a limit (the leases holding it are revoked)."""
    with _client() as client:
        client.delete_concurrency_limit(_ref(name))  # type: ignore[arg-type]
    success(f"Deleted global concurrency limit {name!r}.")


@global_limit_app.command("leases")
def global_leases(name: NameArg, as_json: JsonOption = False, output: OutputOption = None) -> None:
    """List who holds a limit's slots: one lease per holder, until its expiration. The
    lease ids to revoke are in --json."""
    with _client() as client:
        leases = client.read_concurrency_leases(_ref(name))  # type: ignore[arg-type]
    if wants_json(as_json, output):
        print_models(leases)
        return
    print_table(
        f"Leases on {name}",
        [
            Column("Lease"),
            Column("Slots"),
            Column("Holder", flex=True),
            Column("Expires"),
            Column("Since"),
        ],
        (
            [
                short_id(lease.id),
                str(lease.slots),
                _holder(lease.holder),
                when(lease.expiration),
                when(lease.created),
            ]
            for lease in leases
        ),
    )


def _holder(holder: dict[str, object] | None) -> str:
    if not holder:
        return ""
    found = holder.get("id")
    return f"{holder.get('type')} {short_id(found) if found else ''}".strip()


def _lease_id(client: SyncFlowyardClient, given: str) -> uuid.UUID:
    """A full lease id, or the one lease (of any limit) whose id ends with a short id."""
    if not is_short_id(given):
        return parse_uuid(given, "lease")
    found = [
        lease.id
        for item in client.read_concurrency_limits(limit=200)
        for lease in client.read_concurrency_leases(item.id)
        if short_id(lease.id) == given.lower()
    ]
    if len(found) != 1:
        fail(f"No single lease has the short id {given!r}; give its full id (leases --json).")
    return found[0]


@global_limit_app.command("revoke")
def global_revoke(
    lease_id: Annotated[
        str,
        typer.Argument(
            metavar="LEASE_ID", help="The lease to revoke: its id, or the short id 'leases' shows."
        ),
    ],
) -> None:
    """Revoke one lease: its slots are free at once."""
    with _client() as client:
        lease = _lease_id(client, lease_id)
        client.revoke_concurrency_lease(lease)
    success(f"Revoked lease {lease}; its slots are free.")


@global_limit_app.command("reset")
def global_reset(
    name: NameArg,
    active_slots: Annotated[
        int, typer.Option(min=0, help="Slots to leave taken (default: none).")
    ] = 0,
) -> None:
    """Revoke every lease on a limit and free its slots."""
    with _client() as client:
        client.reset_concurrency_limit(_ref(name), active_slots)  # type: ignore[arg-type]
    success(f"Reset global concurrency limit {name!r}: {active_slots} slot(s) taken.")
