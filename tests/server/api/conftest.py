"""Fixtures of the API tests."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator

import pytest
import uvicorn
from fastapi import FastAPI
from race_helpers import RACING, Contention


@pytest.fixture(params=["race" if RACING else "serialised"])
def contention(request: pytest.FixtureRequest) -> Iterator[Contention]:
    """Requests sent at once: ``[race]`` on PostgreSQL, ``[serialised]`` on SQLite."""
    contention = Contention(request.param == "race")
    yield contention
    contention.release()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
async def base_url(app: FastAPI) -> AsyncIterator[str]:
    """``ws://…/api`` of the test app, served by uvicorn (the app's lifespan already ran)."""
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield f"ws://127.0.0.1:{port}/api"
    finally:
        server.should_exit = True
        await task
