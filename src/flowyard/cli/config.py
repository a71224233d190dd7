"""``flowyard config set|unset|view``: settings of the active profile.

Profiles live in ``$FLOWYARD_HOME/profiles.toml``; the environment wins over them (see
:mod:`flowyard.settings`), which ``view`` shows and ``set`` warns about.
"""

from __future__ import annotations

import os
from typing import Annotated, Any

import typer

from flowyard.cli.output import display_setting, fail, note, success

config_app = typer.Typer(
    help="View and change settings of the active profile.", no_args_is_help=True
)

HOW_TO_LIST = "Run 'flowyard config view --show-defaults' to see every setting name."
# FLOWYARD_HOME says where profiles.toml is, so it cannot come from profiles.toml.
ENVIRONMENT_ONLY = frozenset({"FLOWYARD_HOME"})


def setting_name(raw: str) -> str:
    """The canonical ``FLOWYARD_*`` name for ``raw``, or a one-line error."""
    from flowyard.settings import SETTING_NAMES

    name = raw.strip().upper()
    if name in ENVIRONMENT_ONLY:
        fail(f"{name} cannot be stored in a profile; set it in the environment instead.")
    if name not in SETTING_NAMES:
        fail(f"Unknown setting {raw.strip()!r}. {HOW_TO_LIST}")
    return name


def validate(name: str, value: str) -> None:
    """Refuse a value the setting's type cannot take (e.g. a port that is not a number)."""
    from pydantic import TypeAdapter, ValidationError

    from flowyard.settings import Settings

    field = Settings.model_fields[name.removeprefix("FLOWYARD_").lower()]
    try:
        TypeAdapter(field.annotation or str).validate_python(value)
    except ValidationError as exc:
        fail(f"Invalid value {value!r} for {name}: {exc.errors()[0]['msg']}.")


@config_app.command("set")
def set_(
    settings: Annotated[
        list[str], typer.Argument(metavar="KEY=VALUE...", help="Settings to store.")
    ],
) -> None:
    """Store settings in the active profile, e.g. FLOWYARD_API_URL=http://127.0.0.1:4200/api."""
    from flowyard.settings import active_profile_name, load_profiles, save_profiles

    parsed: dict[str, str] = {}
    for item in settings:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            fail(f"Expected KEY=VALUE, got {item!r}.")
        name = setting_name(key)
        validate(name, value)
        parsed[name] = value

    data = load_profiles()
    profile = active_profile_name()
    if profile not in data["profiles"]:
        fail(f"Profile {profile!r} does not exist.")
    data["profiles"][profile].update(parsed)
    save_profiles(data)
    for name, value in parsed.items():
        success(f"Set {name}={display_setting(name, value)} in profile {profile!r}.")
        if name in os.environ:
            note(f"{name} is also set in the environment, which takes precedence.")


@config_app.command()
def unset(
    names: Annotated[list[str], typer.Argument(metavar="KEY...", help="Settings to remove.")],
) -> None:
    """Remove settings from the active profile (they fall back to their defaults)."""
    from flowyard.settings import active_profile_name, load_profiles, save_profiles

    data = load_profiles()
    profile = active_profile_name()
    values: dict[str, Any] = data["profiles"].get(profile, {})
    keys = [setting_name(raw) for raw in names]
    for name in keys:
        if name not in values:
            fail(f"{name} is not set in profile {profile!r}.")
    for name in keys:
        del values[name]
    save_profiles(data)
    for name in keys:
        success(f"Unset {name} in profile {profile!r}.")


@config_app.command()
def view(
    show_defaults: Annotated[
        bool, typer.Option("--show-defaults", help="Also list settings left at their default.")
    ] = False,
) -> None:
    """Show the settings in effect and where each comes from. Secrets are masked."""
    from flowyard.settings import SETTING_NAMES, Settings, active_profile_name, profile_values

    profile = active_profile_name()
    stored = profile_values(profile)
    typer.echo(f"PROFILE: {profile!r}")
    for name in sorted(SETTING_NAMES):
        if name in os.environ:
            value, source = os.environ[name], "environment"
        elif name in stored:
            value, source = stored[name], "profile"
        elif show_defaults:
            field = Settings.model_fields[name.removeprefix("FLOWYARD_").lower()]
            default = field.get_default(call_default_factory=True)
            value, source = ("" if default is None else str(default)), "default"
        else:
            continue
        typer.echo(f"{name}='{display_setting(name, value)}' (from {source})")
    for name in sorted(set(stored) - SETTING_NAMES):
        typer.echo(f"{name}='{display_setting(name, stored[name])}' (unknown setting, ignored)")
