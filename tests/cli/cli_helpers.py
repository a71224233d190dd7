"""Helpers for CLI tests (imported by name: pytest puts this folder on sys.path)."""

from __future__ import annotations

from typer.testing import CliRunner, Result

from flowyard.cli.main import app


class Flowyard:
    """Runs ``flowyard ARGS...`` in this process and returns click's result."""

    def __init__(self) -> None:
        self.runner = CliRunner()

    def __call__(self, *args: str, input: str | None = None) -> Result:
        return self.runner.invoke(app, list(args), input=input)


def one_error_line(result: Result) -> str:
    """Assert the command failed with exactly one ``Error: ...`` line; return it."""
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("Error: ")
    return lines[0]
