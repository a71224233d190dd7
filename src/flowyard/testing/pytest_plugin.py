"""Pytest fixtures for code that uses Flowyard.

Enable them in a ``conftest.py``::

    pytest_plugins = ["flowyard.testing.pytest_plugin"]

then ask for ``flowyard_harness`` (the settings of a throwaway home, see
:func:`flowyard.testing.flowyard_test_harness`) or ``flowyard_client`` (a blocking client
on it). Both are plain fixtures: no async plugin is needed.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from flowyard.client import SyncFlowyardClient, get_sync_client
from flowyard.settings import Settings
from flowyard.testing.harness import flowyard_test_harness


@pytest.fixture
def flowyard_harness() -> Iterator[Settings]:
    """Each test runs in embedded mode on its own temporary Flowyard home."""
    with flowyard_test_harness() as settings:
        yield settings


@pytest.fixture
def flowyard_client(flowyard_harness: Settings) -> Iterator[SyncFlowyardClient]:
    """A blocking client on the test's own embedded server."""
    with get_sync_client(flowyard_harness) as client:
        yield client
