"""What the CLI prints: one-line errors, rich tables, masked secrets, coloured states.

Rich is imported only when a table is printed, so that ``flowyard --help`` and the
server's startup do not pay for it.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

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

    # soft_wrap: a long line is the terminal's to wrap; rich would break it (and JSON).
    return Console(highlight=False, soft_wrap=True)


@dataclass(frozen=True)
class Column:
    """A table column. ``flex`` columns (names, descriptions) are shortened with an
    ellipsis so that every row stays on one line; the others (ids, states, dates, numbers)
    are short already and shown whole. ``markup``: the cells carry rich markup (state
    colours); any other cell is shown as plain text, brackets and all."""

    header: str
    flex: bool = False
    markup: bool = False
    # A flex column that gives way first (a description): it gets what the others leave.
    secondary: bool = False


ID = Column("ID")
STATE = Column("State", markup=True)

# What rich puts between two columns (padding, separator, padding) with the box used here.
COLUMN_GAP = 3
# A flex column is not made narrower than this, even on a very narrow terminal.
MIN_FLEX_WIDTH = 6
ID_LENGTH = 8


def short_id(value: object) -> str:
    """The last 8 hex digits of an id: enough to tell rows apart (the full id is in
    ``--json``). The last ones, because ids are UUIDv7: their first digits are a
    timestamp, the same for everything made within the same minute."""
    return str(value).replace("-", "")[-ID_LENGTH:]


def fit_widths(
    natural: Sequence[int], flex: Sequence[bool], total: int, secondary: Sequence[bool] = ()
) -> list[int]:
    """Column widths that fit ``total`` cells: fixed columns keep their natural width, flex
    columns share what is left (each at most its natural width, the narrowest first), the
    primary ones before the ``secondary`` ones, which get what they leave."""
    widths = list(natural)
    late = list(secondary) or [False] * len(widths)
    room = (
        total
        - COLUMN_GAP * (len(widths) - 1)
        - sum(w for w, f in zip(widths, flex, strict=True) if not f)
    )
    first = [i for i, f in enumerate(flex) if f and not late[i]]
    then = [i for i, f in enumerate(flex) if f and late[i]]
    room -= MIN_FLEX_WIDTH * len(then)  # kept for the secondary columns
    for group, extra in ((first, MIN_FLEX_WIDTH * len(then)), (then, 0)):
        room += extra
        ordered = sorted(group, key=lambda i: natural[i])
        for position, index in enumerate(ordered):
            share = room // (len(ordered) - position)
            widths[index] = max(MIN_FLEX_WIDTH, min(natural[index], share))
            room -= widths[index]
    return widths


def print_table(title: str, columns: Sequence[Column], rows: Iterable[Sequence[str]]) -> None:
    """A table whose every row is one line as wide as the terminal allows (see
    :class:`Column`); an empty table says so in one line."""
    from rich.box import SIMPLE_HEAD
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text

    out = console()
    cells = [
        [
            Text.from_markup(value) if column.markup else Text(value)
            for column, value in zip(columns, row, strict=True)
        ]
        for row in rows
    ]
    if not cells:
        typer.echo(f"{title}: none.")
        return
    natural = [
        max([len(column.header)] + [row[i].cell_len for row in cells])
        for i, column in enumerate(columns)
    ]
    widths = fit_widths(
        natural, [c.flex for c in columns], out.width, [c.secondary for c in columns]
    )
    if len(title) > out.width:
        title = title[: out.width - 1] + "…"
    table = Table(
        title=escape(title),
        title_justify="left",
        box=SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
    )
    for column, width in zip(columns, widths, strict=True):
        table.add_column(column.header, width=width, no_wrap=True, overflow="ellipsis")
    for row in cells:
        table.add_row(*row)
    out.print(table)


def print_json(data: str) -> None:
    """JSON on stdout, nothing else: pipeable to ``jq`` (coloured on a terminal only)."""
    if sys.stdout.isatty():
        console().print_json(data)
    else:
        typer.echo(json.dumps(json.loads(data), indent=2))


def print_models(items: Iterable[Any]) -> None:
    """A list of pydantic models as one JSON array (``ls --json``)."""
    print_json(json.dumps([item.model_dump(mode="json") for item in items]))


def wants_json(as_json: bool, output: str | None) -> bool:
    """``--json`` or ``-o json``; ``-o`` takes nothing else but ``table`` (or ``text``)."""
    if output is None:
        return as_json
    chosen = output.strip().lower()
    if chosen not in ("json", "table", "text"):
        fail(f"--output {output!r}: expected 'json' or 'table'.")
    return as_json or chosen == "json"


JsonOption = Annotated[
    bool, typer.Option("--json", help="Print JSON instead: every field, ids in full.")
]
OutputOption = Annotated[
    str | None,
    typer.Option("--output", "-o", metavar="FORMAT", help="'json' is the same as --json."),
]


def state_markup(state_type: str | None, state_name: str | None) -> str:
    if not state_type:
        return ""
    colour = STATE_COLOURS.get(str(state_type), "white")
    return f"[{colour}]{state_name or str(state_type).capitalize()}[/]"


def when(value: dt.datetime | None, now: dt.datetime | None = None) -> str:
    """A date as short as it can be told apart: ``14:03:27`` today, ``12-07 14:03`` this
    year, ``2025-12-07`` otherwise (local time)."""
    if value is None:
        return ""
    local = value.astimezone()
    today = (now or dt.datetime.now(dt.UTC)).astimezone()
    if local.date() == today.date():
        return local.strftime("%H:%M:%S")
    if local.year == today.year:
        return local.strftime("%m-%d %H:%M")
    return local.strftime("%Y-%m-%d")


def is_short_id(value: str) -> bool:
    return len(value) == ID_LENGTH and all(c in "0123456789abcdefABCDEF" for c in value)


def parse_uuid(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        if is_short_id(value):
            fail(f"{value!r} is a short id: give the {what}'s full id (in 'ls --json').")
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
