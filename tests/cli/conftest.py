"""Fixtures for CLI tests: a runner that invokes `flowyard` in-process."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from cli_helpers import Flowyard

from flowyard.client import shutdown_embedded


@pytest.fixture
def flowyard() -> Flowyard:
    return Flowyard()


@pytest.fixture(autouse=True)
def _wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    # Tables are as wide as the terminal; make it wide enough that no cell wraps.
    monkeypatch.setenv("COLUMNS", "200")


@pytest.fixture(autouse=True)
def _no_sdk_console_logging(monkeypatch: pytest.MonkeyPatch) -> None:
    # SDK tests configure, once per process, a console handler on the "flowyard" logger
    # that writes to whatever sys.stderr is -- the runner's capture, here. A real
    # `flowyard` process never sets it up; keep it out of the output we assert on.
    monkeypatch.setattr(logging.getLogger("flowyard"), "handlers", [])


@pytest.fixture(autouse=True)
def _stop_embedded_servers() -> Iterator[None]:
    yield
    shutdown_embedded()
