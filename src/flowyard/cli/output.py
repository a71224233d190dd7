"""What the CLI prints: one-line errors, rich tables, masked secrets, coloured states.

Rich is imported only when a table is printed, so that ``flowyard --help`` and the
server's startup do not pay for it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, NoReturn

import typer

from flowyard.exceptions import FlowyardError

if TYPE_CHECKING:
    from rich.console import Console

# Setting names whose values are secrets: never printed in full.
SECRET_MARKERS = ("KEY", "SECRET", "PASSWORD", "TOKEN")
STATE_COLOURS = {
    "SCHEDULED": "yellow",
    "PENDING": "grey50",
    "RUNNING": "blue",
    "COMPLETED": "green",
    "FAILED": "red",
    "CANCELLED": "grey62",
    "CANCELLING": "grey62",
    "CRASHED": "bright_red",
    "PAUSED": "grey62",
}


class CliError(FlowyardError):
    """Bad input to a command: printed as one line, exit code 1."""


def fail(message: str) -> NoReturn:
    raise CliError(message)


def error_line(message: str) -> None:
    # click's echo, not rich: rich would wrap a long message over several lines.
    typer.secho(f"Error: {message}", fg="red", err=True)


def note(message: str) -> None:
    typer.secho(message, fg="yellow", err=True)


def success(message: str) -> None:
    typer.secho(message, fg="green")


def console() -> Console:
    from rich.console import Console

    return Console(highlight=False)


# Columns whose values must stay on one line: ids are copied into the next command.
UNWRAPPED_COLUMNS = frozenset({"ID", "State"})


def print_table(title: str, columns: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    """A rich table; cells may use rich markup (state colours)."""
    from rich.box import SIMPLE_HEAD
    from rich.table import Table

    table = Table(title=title, title_justify="left", box=SIMPLE_HEAD)
    for name in columns:
        unwrapped = name in UNWRAPPED_COLUMNS
        # min_width: on a narrow terminal, fold names rather than drop their column.
        table.add_column(
            name, no_wrap=unwrapped, overflow="fold", min_width=None if unwrapped else 6
        )
    for row in rows:
        table.add_row(*row)
    console().print(table)


def print_json(data: str) -> None:
    console().print_json(data)


def state_markup(state_type: str | None, state_name: str | None) -> str:
    if not state_type:
        return ""
    colour = STATE_COLOURS.get(str(state_type), "white")
    return f"[{colour}]{state_name or str(state_type).capitalize()}[/]"


def when(value: dt.datetime | None) -> str:
    if value is None:
        return ""
    return value.astimezone().strftime("%Y-%m-%d %H:%M")


def parse_uuid(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        fail(f"{value!r} is not a valid {what} id (expected a UUID).")


def is_secret(name: str) -> bool:
    return any(marker in name.upper() for marker in SECRET_MARKERS)


def mask(value: str) -> str:
    """Enough of a secret to recognise it, not to use it."""
    if len(value) <= 8:
        return "********"
    return f"{value[:4]}********"


def mask_url_password(url: str) -> str:
    """``scheme://user:password@host/...`` with the password hidden."""
    scheme, sep, rest = url.partition("://")
    authority, slash, path = rest.partition("/")
    if not sep or "@" not in authority:
        return url
    credentials, _, host = authority.rpartition("@")
    user, has_password, _ = credentials.partition(":")
    if not has_password:
        return url
    return f"{scheme}://{user}:********@{host}{slash}{path}"


def display_setting(name: str, value: str) -> str:
    """A setting's value as ``config view`` shows it: secrets masked."""
    if is_secret(name):
        return mask(value)
    if name.endswith("_URL"):
        return mask_url_password(value)
    return value
