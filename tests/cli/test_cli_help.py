"""Every command's ``--help`` is plain text: metavars a person reads (``--limit N``,
``NAME``), no Python types (``<list[str]>``, ``<int range>``), no ``{NAME}`` and no
reStructuredText markup from docstrings."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import typer
from cli_helpers import Flowyard

from flowyard.cli.main import app


def walk(command: object, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield path
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from walk(sub, (*path, name))


COMMANDS = [" ".join(path) for path in walk(typer.main.get_command(app))]
RAW = [
    (re.compile(r"<[a-zA-Z_][\w\[\], |.]*>"), "a Python type as metavar"),
    (re.compile(r"\{[A-Z_.=]+\}"), "a {NAME} argument"),
    (re.compile(r"``|:(class|func|meth|mod|data|attr):`|^\s*\.\. ", re.M), "RST markup"),
    (re.compile(r"x[<>]=?-?\d"), "a range written as code"),
]


def test_the_walk_finds_every_command() -> None:
    assert {"", "flow-run ls", "worker start", "server database reset"} <= set(COMMANDS)
    assert len(COMMANDS) > 50


@pytest.mark.parametrize("command", COMMANDS)
def test_help_is_plain(flowyard: Flowyard, command: str) -> None:
    result = flowyard(*command.split(), "--help")
    assert result.exit_code == 0, result.output
    for pattern, what in RAW:
        found = pattern.search(result.output)
        assert found is None, f"{what} in `flowyard {command} --help`: {found}\n{result.output}"


def test_options_are_named_for_what_they_take(flowyard: Flowyard) -> None:
    shown = flowyard("flow-run", "ls", "--help").output
    assert "--limit N " in shown and "--state STATE " in shown and "at least 1" in shown
    usage = flowyard("work-pool", "create", "--help").output.splitlines()[0]
    assert usage == "Usage: flowyard work-pool create [OPTIONS] NAME"
    assert "KEY=VALUE..." in flowyard("config", "set", "--help").output.splitlines()[0]
