"""Embedded mode: no API URL, the server app runs in this process on FLOWYARD_HOME's database."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from flowyard.client import get_client, get_sync_client, shutdown_embedded
from flowyard.server.app import create_app
from flowyard.settings import Settings, get_settings


async def test_runs_recorded_embedded_are_visible_to_a_server_on_the_same_file(
    flowyard_home: Path,
) -> None:
    async with get_client() as client:
        assert client.embedded
        flow = await client.create_flow("embedded-flow")
    assert (flowyard_home / "flowyard.db").exists()
    shutdown_embedded()

    # What `flowyard server start` would build on the same home.
    app = create_app(Settings(home=flowyard_home), services=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1/api") as http:
            response = await http.get(f"/flows/{flow.id}")
    assert response.status_code == 200
    assert response.json()["name"] == "embedded-flow"


def test_one_server_serves_many_event_loops_and_the_sync_client() -> None:
    async def create(name: str) -> None:
        async with get_client() as client:
            await client.create_flow(name)

    # Each asyncio.run makes a fresh loop; the embedded app outlives them all.
    asyncio.run(create("first"))
    asyncio.run(create("second"))
    with get_sync_client() as client:
        assert [f.name for f in client.read_flows()] == ["first", "second"]


async def test_concurrent_first_requests_start_one_server() -> None:
    async with get_client() as client:
        flows = await asyncio.gather(*(client.create_flow(f"f{i}") for i in range(10)))
        assert len({f.id for f in flows}) == 10
        assert await client.count_flows() == 10


async def test_server_restarts_after_shutdown() -> None:
    async with get_client() as client:
        await client.create_flow("before")
        shutdown_embedded()
        assert (await client.read_flow_by_name("before")).name == "before"


def test_a_broken_database_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from flowyard.exceptions import ServerUnavailable

    monkeypatch.setenv("FLOWYARD_DATABASE_URL", "postgresql+asyncpg://u:hunter2@127.0.0.1:1/x")
    with get_sync_client() as client, pytest.raises(ServerUnavailable) as info:
        client.api_healthcheck()
    message = str(info.value)
    assert "Could not start the embedded Flowyard server" in message
    assert "hunter2" not in message


def test_api_url_setting_means_http_not_embedded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWYARD_API_URL", "http://127.0.0.1:9/api")
    monkeypatch.setenv("FLOWYARD_API_KEY", "k-123")
    client = get_client()
    assert not client.embedded
    assert client.api_url == "http://127.0.0.1:9/api"
    assert client._http.headers["Authorization"] == "Bearer k-123"


def test_explicit_settings_win(tmp_path: Path) -> None:
    other = Settings(home=tmp_path / "elsewhere")
    with get_sync_client(other) as client:
        client.create_flow("there")
    shutdown_embedded()
    assert (tmp_path / "elsewhere" / "flowyard.db").exists()
    assert not (get_settings().home / "flowyard.db").exists()


def test_importing_the_client_does_not_import_the_server() -> None:
    code = (
        "import sys, flowyard.client; "
        "heavy = [m for m in ('sqlalchemy', 'fastapi', 'flowyard.server') if m in sys.modules]; "
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_process_exits_cleanly_after_embedded_use(flowyard_home: Path) -> None:
    # The SQLite driver's threads are not daemons: if the embedded server were not shut
    # down when the main thread ends, the interpreter would hang here.
    code = "from flowyard.client import get_sync_client; get_sync_client().create_flow('x')"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    assert (flowyard_home / "flowyard.db").exists()


def test_finalizers_may_still_use_the_embedded_server_at_exit(flowyard_home: Path) -> None:
    # Registered before the embedded server starts, yet it runs while the server is up:
    # this is how buffered logs and events get flushed at interpreter exit.
    code = """
from flowyard.client import get_client, get_sync_client
from flowyard.client._loop import add_finalizer

async def flush():
    async with get_client() as client:
        await client.create_flow("flushed-at-exit")

add_finalizer(flush)
get_sync_client().create_flow("during-run")
"""
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    with get_sync_client() as client:
        assert {f.name for f in client.read_flows()} == {"during-run", "flushed-at-exit"}


def test_the_embedded_server_is_spared_by_full_garbage_collections() -> None:
    # Its long-lived objects are frozen once started: a full collection in the middle of a
    # flow no longer walks the whole server (about 0.1 s each time).
    import gc

    with get_sync_client() as client:
        client.api_healthcheck()
    assert gc.get_freeze_count() > 10_000
