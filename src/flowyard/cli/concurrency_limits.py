"""``flowyard concurrency-limit`` (tag limits) and ``flowyard global-concurrency-limit``.

Tag limits cap how many task runs with a tag run at once; global limits are what
``concurrency()`` and ``rate_limit()`` use. Both show who holds their slots, and an admin
can free slots by hand: ``reset`` frees them all, ``revoke`` frees one lease.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

from flowyard.cli.output import fail, parse_uuid, print_json, print_table, success, when

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
) -> None:
    """List tag limits and how many of their slots are taken."""
    with _client() as client:
        limits = client.read_tag_concurrency_limits(limit=limit)
    print_table(
        "Tag concurrency limits",
        ["Tag", "Limit", "Active", "ID"],
        (
            [item.tag, str(item.concurrency_limit), str(len(item.active_slots)), str(item.id)]
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
) -> None:
    """List global limits (tag limits appear as ``tag:<tag>``)."""
    with _client() as client:
        limits = client.read_concurrency_limits(limit=limit)
    print_table(
        "Global concurrency limits",
        ["Name", "Limit", "Active", "Slot decay/s", "Enabled", "ID"],
        (
            [
                item.name,
                str(item.limit),
                str(item.active_slots),
                f"{item.slot_decay_per_second:g}",
                "yes" if item.active else "no",
                str(item.id),
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
def global_leases(name: NameArg) -> None:
    """List who holds a limit's slots: one lease per holder, until its expiration."""
    with _client() as client:
        leases = client.read_concurrency_leases(_ref(name))  # type: ignore[arg-type]
    print_table(
        f"Leases on {name}",
        ["Lease", "Slots", "Holder", "Expires", "Since"],
        (
            [
                str(lease.id),
                str(lease.slots),
                f"{lease.holder.get('type')} {lease.holder.get('id')}" if lease.holder else "",
                when(lease.expiration),
                when(lease.created),
            ]
            for lease in leases
        ),
    )


@global_limit_app.command("revoke")
def global_revoke(
    lease_id: Annotated[str, typer.Argument(metavar="LEASE_ID", help="The lease to revoke.")],
) -> None:
    """Revoke one lease: its slots are free at once."""
    lease = parse_uuid(lease_id, "lease")
    with _client() as client:
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
