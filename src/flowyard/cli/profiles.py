"""``flowyard profile ls|create|use|delete``: named sets of settings in profiles.toml."""

from __future__ import annotations

import os
import re
from typing import Annotated

import typer

from flowyard.cli.output import fail, note, success

profile_app = typer.Typer(help="Manage settings profiles.", no_args_is_help=True)

# Names become TOML table keys and appear in messages: keep them plain.
PROFILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
NameArg = Annotated[str, typer.Argument(metavar="NAME", help="The profile's name.")]


def _existing(name: str) -> None:
    from flowyard.settings import load_profiles

    if name not in load_profiles()["profiles"]:
        fail(f"Profile {name!r} does not exist. See 'flowyard profile ls'.")


@profile_app.command("ls")
def ls() -> None:
    """List profiles; the active one is marked with *."""
    from flowyard.settings import active_profile_name, load_profiles

    active = active_profile_name()
    for name in sorted(load_profiles()["profiles"]):
        typer.echo(f"* {name}" if name == active else f"  {name}")


@profile_app.command()
def create(name: NameArg) -> None:
    """Create an empty profile."""
    from flowyard.settings import load_profiles, save_profiles

    if not PROFILE_NAME.match(name):
        fail(
            f"Invalid profile name {name!r}: use letters, digits, '.', '_' and '-' "
            "(at most 64 characters)."
        )
    data = load_profiles()
    if name in data["profiles"]:
        fail(f"Profile {name!r} already exists.")
    data["profiles"][name] = {}
    save_profiles(data)
    success(f"Created profile {name!r}. Switch to it with: flowyard profile use {name}")


@profile_app.command()
def use(name: NameArg) -> None:
    """Make a profile the active one."""
    from flowyard.settings import load_profiles, save_profiles

    _existing(name)
    data = load_profiles()
    data["active"] = name
    save_profiles(data)
    success(f"Profile {name!r} is now active.")
    env = os.environ.get("FLOWYARD_PROFILE")
    if env and env != name:
        note(f"FLOWYARD_PROFILE={env} is set in the environment and takes precedence.")


@profile_app.command()
def delete(name: NameArg) -> None:
    """Delete a profile (not the active one)."""
    from flowyard.settings import active_profile_name, load_profiles, save_profiles

    _existing(name)
    if name == active_profile_name():
        fail(
            f"Profile {name!r} is active; switch to another one first "
            "(flowyard profile use NAME)."
        )
    data = load_profiles()
    del data["profiles"][name]
    save_profiles(data)
    success(f"Deleted profile {name!r}.")
