"""Embedded mode: with no ``FLOWYARD_API_URL``, the server app runs inside this process.

The app is built once per database (lazily, on the first request, so that importing the
client never imports the server), its lifespan startup runs once (migrations, the default
workspace), and it serves requests through ``httpx.ASGITransport``: no port, no
subprocess. It writes to the same database ``flowyard server start`` uses (SQLite under
``FLOWYARD_HOME`` by default), so runs recorded here show up there later.

The app lives on the background loop of :mod:`flowyard.client._loop`, because its
database connections belong to the loop that opened them, while callers come from any
loop (each ``asyncio.run`` makes a new one) or from plain threads (the sync client).
:class:`EmbeddedTransport` carries each request over to that loop and the response back.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import TYPE_CHECKING

from flowyard.client._gc import freeze_long_lived_objects
from flowyard.client._httpx import httpx
from flowyard.client._loop import (
    add_finalizer,
    background_loop,
    in_background_thread,
    run_in_background,
)
from flowyard.exceptions import ServerUnavailable
from flowyard.settings import Settings

if TYPE_CHECKING:
    from fastapi import FastAPI

    from flowyard.schemas.task_run_reports import TaskRunReport

# The URL embedded clients use; nothing listens on it, the transport never opens a socket.
EMBEDDED_API_URL = "http://embedded.flowyard/api"

# Keyed by database URL; only ever touched on the background loop, so no lock is needed.
_servers: dict[str, asyncio.Task[EmbeddedServer]] = {}


class EmbeddedServer:
    """The server app of one database, started in this process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.app: FastAPI | None = None
        self._transport: httpx.ASGITransport | None = None
        self._stack = contextlib.AsyncExitStack()

    async def start(self) -> None:
        from flowyard.server.app import create_app

        # in_process: nothing but this process can reach this app, so no key or Host
        # check (a server key in the user's profile is for the server's clients, not this).
        app = create_app(self.settings, services=False, in_process=True)
        await self._stack.enter_async_context(app.router.lifespan_context(app))
        await _settle_runs_of_dead_processes(app)
        self.app = app
        freeze_long_lived_objects("embedded server")
        # Unexpected server errors become 500 responses (and ClientErrors), as over HTTP,
        # instead of surfacing the server's own exception in the caller.
        self._transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)

    async def stop(self) -> None:
        self._transport = None
        await self._stack.aclose()

    async def handle(self, request: httpx.Request) -> httpx.Response:
        if self._transport is None:
            raise ServerUnavailable("The embedded Flowyard server has been shut down.")
        response = await self._transport.handle_async_request(request)
        content = await response.aread()
        return httpx.Response(response.status_code, headers=response.headers, content=content)

    async def record_task_run_reports(self, reports: Sequence[TaskRunReport]) -> None:
        """Record validated reports in the default workspace, as ``POST /task_runs/reports``
        would, minus the JSON and HTTP round trip."""
        from flowyard.server.events.task_run_reports import record_reports

        app = self.app
        if app is None or self._transport is None:
            raise ServerUnavailable("The embedded Flowyard server has been shut down.")
        async with app.state.db.write() as session:
            await record_reports(session, app.state.default_workspace_id, reports)


async def _settle_runs_of_dead_processes(app: FastAPI) -> None:
    # Embedded mode runs no background services, and a process killed while it ran flows
    # here can renew nothing: its runs are settled (Crashed, their concurrency slots given
    # back) the next time Flowyard starts on this database, before the first request is
    # served. A run whose process lives holds an unexpired lease and is left alone. One
    # indexed read when nothing expired.
    from flowyard.server.services.run_leases import settle_expired_leases

    await settle_expired_leases(app.state.db)


class EmbeddedTransport(httpx.AsyncBaseTransport):
    """An httpx transport that hands requests to the embedded server of ``settings``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()  # the body crosses threads as bytes, not as a stream
        coro = _handle(self.settings, request)
        if in_background_thread():
            return await coro
        future = asyncio.run_coroutine_threadsafe(coro, background_loop())
        return await asyncio.wrap_future(future)


async def record_task_run_reports(settings: Settings, reports: Sequence[TaskRunReport]) -> None:
    """Hand a batch of task-run reports straight to the embedded server's recorder.

    The reporter's batches are the bulk of what embedded mode writes; serializing them to
    JSON only for the in-process app to parse them back was most of their cost. Runs on the
    background loop (where the database connections live), from whichever caller.
    """

    async def record() -> None:
        server = await _server_for(settings)
        await server.record_task_run_reports(reports)

    if in_background_thread():
        await record()
        return
    future = asyncio.run_coroutine_threadsafe(record(), background_loop())
    await asyncio.wrap_future(future)


async def _handle(settings: Settings, request: httpx.Request) -> httpx.Response:
    server = await _server_for(settings)
    return await server.handle(request)


async def _server_for(settings: Settings) -> EmbeddedServer:
    key = settings.resolved_database_url
    task = _servers.get(key)
    if task is None:
        task = _servers[key] = asyncio.ensure_future(_start(settings))
        add_finalizer(stop_all, last=True)
    try:
        # Shielded: a caller giving up must not cancel a startup other callers wait on.
        return await asyncio.shield(task)
    except BaseException:
        if task.done() and _servers.get(key) is task:
            del _servers[key]  # a failed startup is retried by the next request
        raise


async def _start(settings: Settings) -> EmbeddedServer:
    server = EmbeddedServer(settings)
    try:
        await server.start()
    except Exception as exc:
        await server.stop()
        raise ServerUnavailable(
            f"Could not start the embedded Flowyard server on {_describe(settings)}: {exc}"
        ) from exc
    return server


async def stop_all() -> None:
    """Stop every embedded server of this process (on the background loop)."""
    tasks = list(_servers.values())
    _servers.clear()
    for task in tasks:
        with contextlib.suppress(Exception):
            server = await task
            await server.stop()


def shutdown_embedded() -> None:
    """Stop the embedded servers now, closing their database connections.

    They restart on the next request. Called automatically when the process exits; call
    it yourself to release the database file sooner (tests do, between test cases).
    """
    if in_background_thread():
        raise RuntimeError("shutdown_embedded() cannot be called from the client's own loop.")
    if _servers:
        run_in_background(stop_all())


def _describe(settings: Settings) -> str:
    url = settings.resolved_database_url
    # Never show a password that may be part of the URL.
    scheme, sep, rest = url.partition("://")
    if sep and "@" in rest:
        credentials, _, host = rest.rpartition("@")
        user = credentials.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}"
    return url
