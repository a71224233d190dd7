"""An unexpected error is logged once, with its traceback once, and answered as a plain 500.

Under uvicorn, an exception that leaves the app is logged again by the server ("Exception in
ASGI application"): the app must answer it and keep it, not pass it on after logging it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
import uvicorn
from fastapi import FastAPI

SECRET_DETAIL = "the failing route's private detail"


class Boom(RuntimeError):
    pass


def _add_failing_route(app: FastAPI) -> None:
    async def fail() -> None:
        raise Boom(SECRET_DETAIL)

    app.add_api_route("/api/test-only/boom", fail, methods=["GET"])


@pytest_asyncio.fixture
async def served(app: FastAPI) -> AsyncIterator[str]:
    """The app behind a real uvicorn server on a loopback port; yields its base URL."""
    _add_failing_route(app)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="off", log_config=None)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await task


def _tracebacks(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.exc_info and r.exc_info[0] is Boom]


async def test_an_unexpected_error_is_logged_once_under_uvicorn(
    served: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR):
        async with httpx.AsyncClient(base_url=served) as client:
            response = await client.get("/api/test-only/boom")
    assert response.status_code == 500
    assert response.json() == {"exception_message": "Internal Server Error"}
    assert SECRET_DETAIL not in response.text
    [record] = _tracebacks(caplog)
    assert record.name == "flowyard.server"
    assert "GET /api/test-only/boom" in record.getMessage()
    assert not [r for r in caplog.records if "Exception in ASGI application" in r.getMessage()]


async def test_in_process_the_error_is_answered_not_raised(
    app: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    _add_failing_route(app)
    # raise_app_exceptions (httpx's default): an exception leaving the app would raise here.
    transport = httpx.ASGITransport(app=app)
    with caplog.at_level(logging.ERROR):
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            response = await client.get("/api/test-only/boom")
    assert response.status_code == 500
    assert len(_tracebacks(caplog)) == 1
