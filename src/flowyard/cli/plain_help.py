"""``--help`` in plain words: ``--limit N`` and ``NAME``, not ``<int range>`` and ``{NAME}``.

Typer shows each parameter's Python type (``<list[str]>``, ``<int range>``, ``<FileText>``)
where click shows a metavar, and writes required arguments as ``{NAME}`` in the usage line.
:func:`plain_help` walks the command tree once, before anything is parsed, and gives every
option a metavar named after it and every argument a usage of the usual ``NAME``,
``[NAME]``, ``NAME...`` form.
"""

from __future__ import annotations

from typing import Any

from typer._click.core import Command, Context
from typer.core import TyperArgument, TyperGroup, TyperOption


class PlainArgument(TyperArgument):
    """An argument shown as ``NAME`` (required), ``[NAME]`` or ``NAME...``."""

    def _usage_display_name(self) -> str:
        name = self.metavar or (self.name or "").upper()
        if self.nargs != 1 and not name.endswith("..."):
            name += "..."
        return name if self.required else f"[{name}]"

    def get_help_record(self, ctx: Context) -> tuple[str, str] | None:
        record = super().get_help_record(ctx)
        if record is None:
            return None
        return self._usage_display_name().strip("[]"), record[1]

    def display_type_rich(self, ctx: Context) -> str | None:
        return None


class PlainOption(TyperOption):
    """An option whose range reads ``at least 1`` rather than ``x>=1``."""

    def _get_number_range_help_str(self) -> str | None:
        low, high = self.min, self.max
        if low is not None and high is not None:
            return f"{low} to {high}"
        if low is not None:
            return f"at least {low}"
        if high is not None:
            return f"at most {high}"
        return None


def _metavar(option: TyperOption) -> str:
    kind = option.type_descriptor
    if kind.is_file:
        return "FILE"
    if kind.is_path:
        return "PATH"
    annotation = kind.annotation
    if annotation is int:
        return "N"
    if annotation is float:
        return "NUMBER"
    # Otherwise the option's own name says what the value is: --pool POOL.
    return (option.name or "value").upper()


def plain_help(command: Command) -> None:
    """Give ``command`` and all its subcommands plain metavars (idempotent)."""
    for param in command.params:
        if isinstance(param, TyperArgument):
            param.__class__ = PlainArgument
        elif isinstance(param, TyperOption):
            param.__class__ = PlainOption
            if param.metavar is None and not (param.is_flag or param.count):
                param.metavar = _metavar(param)
    if isinstance(command, TyperGroup):
        for sub in command.commands.values():
            plain_help(sub)


def walk(command: Command, path: tuple[str, ...] = ()) -> Any:
    """Every ``(path, command)`` of the tree, the root first (for the help test)."""
    yield path, command
    if isinstance(command, TyperGroup):
        for name, sub in sorted(command.commands.items()):
            yield from walk(sub, (*path, name))
