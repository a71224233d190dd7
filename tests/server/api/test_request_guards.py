"""The per-request checks in front of the API (``server/auth/guard.py``): the server API key,
JSON-only bodies, trusted Host names and the body size limit -- each refusal a clear 4xx,
and nothing written behind it."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from flowyard.client import FlowyardClient
from flowyard.exceptions import InvalidRequest
from flowyard.server.app import create_app
from flowyard.server.database.engine import Database
from flowyard.settings import Settings, get_settings

KEY = "s3cret-key-for-tests"


@asynccontextmanager
async def guarded(settings: Settings, **overrides: Any) -> AsyncIterator[Any]:
    """The app on the test's database with ``overrides`` as its settings, started."""
    changed = Settings(home=settings.home, database_url=settings.database_url, **overrides)
    db = Database(changed.resolved_database_url)
    app = create_app(changed, database=db, services=False)
    try:
        async with app.router.lifespan_context(app):
            yield app
    finally:
        await db.dispose()


def http(app: Any, base_url: str = "http://127.0.0.1:4200", **headers: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=base_url, headers=headers
    )


def basic(credentials: str) -> str:
    return "Basic " + base64.b64encode(credentials.encode()).decode()


# -- the server API key ------------------------------------------------------------------


async def test_with_a_key_set_api_requests_without_it_are_refused(settings: Settings) -> None:
    async with guarded(settings, server_api_key=KEY) as app, http(app) as client:
        workspace = (
            f"/api/accounts/{app.state.default_account_id}"
            f"/workspaces/{app.state.default_workspace_id}"
        )
        for method, path in [
            ("GET", "/api/admin/version"),
            ("POST", "/api/flows/filter"),
            ("POST", f"{workspace}/flows/filter"),
            ("GET", f"/api/flow_runs/{uuid.uuid4()}"),
        ]:
            response = await client.request(method, path, json={} if method == "POST" else None)
            assert response.status_code == 401, (method, path)
            assert response.json()["detail"].startswith("Missing API key")
            assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "authorization",
    [f"Bearer {KEY}", f"bearer {KEY}", basic(f"anyone:{KEY}"), basic(KEY)],
    ids=["bearer", "bearer-lowercase", "basic-user-key", "basic-key-alone"],
)
async def test_the_key_opens_the_api_as_bearer_or_basic(
    settings: Settings, authorization: str
) -> None:
    async with (
        guarded(settings, server_api_key=KEY) as app,
        http(app, Authorization=authorization) as client,
    ):
        created = await client.post("/api/flows/", json={"name": "keyed"})
        assert created.status_code == 201, created.text
        workspace = (
            f"/api/accounts/{app.state.default_account_id}"
            f"/workspaces/{app.state.default_workspace_id}"
        )
        found = await client.post(f"{workspace}/flows/filter", json={})
        assert [flow["name"] for flow in found.json()] == ["keyed"]


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer wrong",
        f"Bearer {KEY}x",
        basic("anyone:wrong"),
        basic(f"{KEY}:anyone"),
        "Basic !!not-base64!!",
        f"Token {KEY}",
        "Bearer",
    ],
)
async def test_a_wrong_key_is_refused_and_writes_nothing(
    settings: Settings, authorization: str
) -> None:
    async with guarded(settings, server_api_key=KEY) as app:
        async with http(app, Authorization=authorization) as client:
            response = await client.post("/api/flows/", json={"name": "intruder"})
            assert response.status_code == 401
            assert response.json() == {"detail": "Invalid API key."}
        async with http(app, Authorization=f"Bearer {KEY}") as client:
            assert (await client.post("/api/flows/count", json={})).json() == 0


async def test_health_readiness_and_docs_stay_open_without_the_key(settings: Settings) -> None:
    async with guarded(settings, server_api_key=KEY) as app, http(app) as client:
        assert (await client.get("/api/health")).json() is True
        assert (await client.get("/api/ready")).status_code == 200
        assert (await client.get("/api/openapi.json")).status_code == 200
        assert (await client.get("/docs")).status_code == 200
        # Open means these exact paths read, nothing that merely ends like them.
        refused = await client.get(f"/api/variables/name/{'health'}")
        assert refused.status_code == 401


async def test_without_a_key_set_the_api_is_open(settings: Settings) -> None:
    async with guarded(settings) as app, http(app) as client:
        assert (await client.post("/api/flows/count", json={})).status_code == 200


async def test_our_client_sends_flowyard_api_key(settings: Settings) -> None:
    async with guarded(settings, server_api_key=KEY) as app:
        transport = httpx.ASGITransport(app=app)
        async with FlowyardClient(
            "http://127.0.0.1/api", api_key=KEY, transport=transport
        ) as client:
            assert (await client.create_flow("from-sdk")).name == "from-sdk"
        async with FlowyardClient("http://127.0.0.1/api", transport=transport) as client:
            with pytest.raises(InvalidRequest, match="Missing API key") as refused:
                await client.create_flow("no-key")
            assert refused.value.status_code == 401


# -- JSON bodies only --------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded", None],
)
async def test_a_body_that_is_not_declared_json_is_refused_and_creates_nothing(
    settings: Settings, content_type: str | None
) -> None:
    async with guarded(settings) as app, http(app) as client:
        flow = (await client.post("/api/flows/", json={"name": "target"})).json()
        body = f'{{"flow_id": "{flow["id"]}", "name": "cross-site"}}'.encode()
        headers = {} if content_type is None else {"Content-Type": content_type}
        # What a web page's form or fetch() can send to any site without a CORS preflight.
        response = await client.post("/api/flow_runs/", content=body, headers=headers)
        assert response.status_code == 415
        assert "application/json" in response.json()["detail"]
        assert (await client.post("/api/flow_runs/count", json={})).json() == 0
        # The very same bytes, declared JSON, are a valid request: only the type was wrong.
        accepted = await client.post(
            "/api/flow_runs/", content=body, headers={"Content-Type": "application/json"}
        )
        assert accepted.status_code == 201


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "application/json; charset=utf-8", "application/merge-patch+json"],
)
async def test_json_media_types_are_accepted(settings: Settings, content_type: str) -> None:
    async with guarded(settings) as app, http(app) as client:
        response = await client.post(
            "/api/flows/", content=b'{"name": "typed"}', headers={"Content-Type": content_type}
        )
        assert response.status_code == 201


async def test_requests_without_a_body_need_no_content_type(settings: Settings) -> None:
    async with guarded(settings) as app, http(app) as client:
        assert (await client.post("/api/flow_runs/count")).status_code == 200


# -- trusted Host names ------------------------------------------------------------------


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "127.0.0.1:4200", "localhost:4200", "LOCALHOST", "[::1]:4200", "[::1]"]
)
async def test_loopback_host_names_are_served(settings: Settings, host: str) -> None:
    async with guarded(settings, server_allowed_hosts=[]) as app, http(app) as client:
        response = await client.get("/api/health", headers={"Host": host})
        assert response.status_code == 200


@pytest.mark.parametrize("path", ["/api/health", "/api/flows/filter", "/docs"])
async def test_an_untrusted_host_is_refused_everywhere(settings: Settings, path: str) -> None:
    async with guarded(settings, server_allowed_hosts=[]) as app, http(app) as client:
        # A page of attacker.example whose name now resolves to this machine (DNS rebinding).
        response = await client.request(
            "POST" if "filter" in path else "GET",
            path,
            headers={"Host": "attacker.example:4200"},
            json={} if "filter" in path else None,
        )
        assert response.status_code == 400
        detail = response.json()["detail"]
        assert "attacker.example" in detail and "FLOWYARD_SERVER_ALLOWED_HOSTS" in detail


async def test_an_untrusted_host_is_refused_before_the_key_is_checked(settings: Settings) -> None:
    async with (
        guarded(settings, server_api_key=KEY, server_allowed_hosts=[]) as app,
        http(app, "http://attacker.example", Authorization=f"Bearer {KEY}") as client,
    ):
        assert (await client.post("/api/flows/", json={"name": "x"})).status_code == 400
    async with guarded(settings) as app, http(app) as client:
        assert (await client.post("/api/flows/count", json={})).json() == 0


@pytest.mark.parametrize(
    ("allowed", "server_host", "host", "served"),
    [
        (["flowyard.example.com"], "127.0.0.1", "flowyard.example.com:4200", True),
        (["flowyard.example.com"], "127.0.0.1", "other.example.com", False),
        (["*.example.com"], "127.0.0.1", "a.b.example.com", True),
        (["*.example.com"], "127.0.0.1", "example.com.attacker.net", False),
        (["*"], "127.0.0.1", "anything.example", True),
        ([], "10.1.2.3", "10.1.2.3:4200", True),
        ([], "flowyard.lan", "FLOWYARD.lan.", True),
        ([], "0.0.0.0", "0.0.0.0", False),
    ],
)
async def test_configured_hosts_and_the_listening_address_are_served(
    settings: Settings, allowed: list[str], server_host: str, host: str, served: bool
) -> None:
    async with (
        guarded(settings, server_allowed_hosts=allowed, server_host=server_host) as app,
        http(app) as client,
    ):
        response = await client.get("/api/health", headers={"Host": host})
        assert response.status_code == (200 if served else 400)


def test_allowed_hosts_are_read_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWYARD_SERVER_ALLOWED_HOSTS", "flowyard.example.com, Other.Example ,")
    assert get_settings().server_allowed_hosts == ["flowyard.example.com", "other.example"]


def test_an_empty_server_key_is_no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWYARD_SERVER_API_KEY", " ")
    assert get_settings().server_api_key is None


# -- body size ---------------------------------------------------------------------------

LIMIT = 2_000


def big_log_batch(flow_run_id: str | None = None) -> bytes:
    log = {"name": "big", "level": 20, "message": "x" * 500, "timestamp": "2026-01-01T00:00:00Z"}
    if flow_run_id:
        log["flow_run_id"] = flow_run_id
    return json.dumps([log] * 10).encode()


async def test_a_declared_body_over_the_limit_is_refused_at_once(settings: Settings) -> None:
    async with guarded(settings, server_max_body_bytes=LIMIT) as app, http(app) as client:
        body = big_log_batch()
        assert len(body) > LIMIT
        response = await client.post(
            "/api/logs/", content=body, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 413
        assert f"larger than {LIMIT} bytes" in response.json()["detail"]
        assert (await client.post("/api/logs/filter", json={})).json() == []


async def test_a_streamed_body_is_counted_as_it_arrives(settings: Settings) -> None:
    chunks_sent = 0

    async def stream(body: bytes) -> AsyncIterator[bytes]:
        nonlocal chunks_sent
        for start in range(0, len(body), 500):
            chunks_sent += 1
            yield body[start : start + 500]

    async with guarded(settings, server_max_body_bytes=LIMIT) as app, http(app) as client:
        body = big_log_batch()
        # No Content-Length: httpx sends a generator chunked, as a client streaming would.
        response = await client.post(
            "/api/logs/", content=stream(body), headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 413, response.text
        assert f"larger than {LIMIT} bytes" in response.json()["detail"]
        assert (await client.post("/api/logs/filter", json={})).json() == []
        small = b'[{"name": "s", "level": 20, "message": "m", "timestamp": "2026-01-01T00:00:00Z"}]'
        chunks_sent = 0
        accepted = await client.post(
            "/api/logs/", content=stream(small), headers={"Content-Type": "application/json"}
        )
        assert accepted.status_code == 201, accepted.text
        assert chunks_sent == 1


async def test_an_invalid_content_length_is_a_400(settings: Settings) -> None:
    async with guarded(settings) as app:
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"{}", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "method": "POST", "scheme": "http", "path": "/api/flows/filter",
            "raw_path": b"/api/flows/filter", "root_path": "", "query_string": b"",
            "headers": [(b"host", b"127.0.0.1"), (b"content-length", b"12abc"),
                        (b"content-type", b"application/json")],
            "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 4200), "state": {},
        }  # fmt: skip
        await app(scope, receive, send)
        assert sent[0]["status"] == 400


# -- embedded mode ------------------------------------------------------------------------


@pytest.fixture
def _embedded_stopped() -> Iterator[None]:
    from flowyard.client import shutdown_embedded

    yield
    shutdown_embedded()


@pytest.mark.usefixtures("_embedded_stopped")
async def test_embedded_mode_needs_no_key_even_with_one_configured(
    settings: Settings,
) -> None:
    from flowyard.client import get_client

    # A profile holding the server's key (for `flowyard server start`) and no API URL.
    local = Settings(home=settings.home, database_url=settings.database_url, server_api_key=KEY)
    async with get_client(local) as client:
        assert client.embedded
        assert (await client.create_flow("embedded")).name == "embedded"
