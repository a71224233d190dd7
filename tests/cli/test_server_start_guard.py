"""`flowyard server start` off loopback needs a server API key: without one it says so in
one line and exits 1, before binding anything."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from cli_helpers import Flowyard, one_error_line

# TEST-NET-1 (RFC 5737): never an address of this machine, so binding it fails -- which
# proves the command got past the key check without ever serving.
NOT_HERE = "192.0.2.10"


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.fixture
def port_taken_everywhere() -> Iterator[int]:
    # Were the check gone, the command would fail to bind instead of serving (and hanging).
    with socket.socket() as sock:
        sock.bind(("0.0.0.0", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.mark.parametrize("host", ["0.0.0.0", "::", NOT_HERE, "flowyard.example.com"])
def test_a_non_loopback_host_without_a_key_is_refused(
    flowyard: Flowyard, host: str, port_taken_everywhere: int
) -> None:
    port = str(port_taken_everywhere)
    line = one_error_line(flowyard("server", "start", "--host", host, "--port", port))
    assert f"Refusing to listen on {host} without a server API key" in line
    assert "FLOWYARD_SERVER_API_KEY" in line


def test_a_key_lets_it_listen_off_loopback(
    flowyard: Flowyard, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOWYARD_SERVER_API_KEY", "a-key")
    line = one_error_line(flowyard("server", "start", "--host", NOT_HERE, "--port", "0"))
    assert line.startswith(f"Error: Cannot listen on {NOT_HERE}:0")


def test_a_key_from_the_profile_counts(flowyard: Flowyard) -> None:
    assert flowyard("config", "set", "FLOWYARD_SERVER_API_KEY=from-profile").exit_code == 0
    line = one_error_line(flowyard("server", "start", "--host", NOT_HERE, "--port", "0"))
    assert "Cannot listen" in line


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_loopback_needs_no_key(flowyard: Flowyard, taken_port: int, host: str) -> None:
    # The port is taken: the command goes as far as binding, and stops there.
    line = one_error_line(flowyard("server", "start", "--host", host, "--port", str(taken_port)))
    assert line.startswith(f"Error: Cannot listen on {host}:{taken_port}")
