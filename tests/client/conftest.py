"""Fixtures for client tests: a client on the test app, and clean embedded servers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from fastapi import FastAPI

from flowyard.client import FlowyardClient, shutdown_embedded


@pytest.fixture
async def api_client(app: FastAPI) -> AsyncIterator[FlowyardClient]:
    """A FlowyardClient talking to the test app in-process."""
    transport = httpx.ASGITransport(app=app)
    async with FlowyardClient("http://test/api", transport=transport) as client:
        yield client


@pytest.fixture(autouse=True)
def _stop_embedded_servers() -> Iterator[None]:
    # Each test has its own FLOWYARD_HOME, hence its own embedded database: close it.
    yield
    shutdown_embedded()
