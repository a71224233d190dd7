"""`flowyard version` and `flowyard server database upgrade|downgrade|reset`."""

from __future__ import annotations

import platform
from pathlib import Path

import pytest
from cli_helpers import Flowyard, one_error_line

from flowyard import __version__
from flowyard.client import get_sync_client, shutdown_embedded


def test_version_embedded(flowyard: Flowyard, flowyard_home: Path) -> None:
    result = flowyard("version")
    assert result.exit_code == 0, result.output
    assert f"Version:      {__version__}" in result.output
    assert "API version:  0.8.4 (Prefect 3." in result.output
    assert f"Python:       {platform.python_version()}" in result.output
    assert "Profile:      default" in result.output
    assert f"{flowyard_home / 'flowyard.db'} (embedded)" in result.output


def test_version_with_api_url_hides_nothing_secret(
    flowyard: Flowyard, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOWYARD_API_URL", "http://10.0.0.5:4200/api")
    monkeypatch.setenv("FLOWYARD_API_KEY", "very-secret-key")
    output = flowyard("version").output
    assert "API URL:      http://10.0.0.5:4200/api" in output
    assert "very-secret-key" not in output


def test_upgrade_creates_the_database(flowyard: Flowyard, flowyard_home: Path) -> None:
    result = flowyard("server", "database", "upgrade")
    assert result.exit_code == 0, result.output
    assert "is up to date" in result.output
    assert (flowyard_home / "flowyard.db").exists()


def _flow_count() -> int:
    with get_sync_client() as client:
        count = client.count_flows()
    shutdown_embedded()  # release the file before the CLI changes the schema
    return count


def test_reset_asks_first(flowyard: Flowyard) -> None:
    with get_sync_client() as client:
        client.create_flow("keep-me")
    shutdown_embedded()

    result = flowyard("server", "database", "reset", input="n\n")
    assert result.exit_code == 1
    assert "Reset the database at" in result.output
    assert result.output.strip().splitlines()[-1] == "Error: Aborted; nothing was changed."
    assert _flow_count() == 1

    result = flowyard("server", "database", "reset", input="y\n")
    assert result.exit_code == 0, result.output
    assert _flow_count() == 0


def test_reset_with_yes_does_not_ask(flowyard: Flowyard) -> None:
    with get_sync_client() as client:
        client.create_flow("gone")
    shutdown_embedded()
    result = flowyard("server", "database", "reset", "--yes")
    assert result.exit_code == 0, result.output
    assert "was reset" in result.output and "[y/N]" not in result.output
    assert _flow_count() == 0


def test_downgrade_to_base_then_upgrade(flowyard: Flowyard) -> None:
    assert flowyard("server", "database", "upgrade").exit_code == 0
    result = flowyard("server", "database", "downgrade", "--yes")
    assert result.exit_code == 0, result.output
    assert "downgraded to 'base'" in result.output
    assert flowyard("server", "database", "upgrade").exit_code == 0
    assert _flow_count() == 0


def test_downgrade_declined_is_one_error_line(flowyard: Flowyard) -> None:
    result = flowyard("server", "database", "downgrade", input="\n")
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == "Error: Aborted; nothing was changed."


def test_server_start_on_a_taken_port_is_one_line(flowyard: Flowyard) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        line = one_error_line(flowyard("server", "start", "--port", str(port)))
    assert line.startswith(f"Error: Cannot listen on 127.0.0.1:{port}:")
