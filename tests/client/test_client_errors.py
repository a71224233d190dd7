"""How HTTP failures become Flowyard exceptions, retries, and what every request carries."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Callable

import httpx
import pytest

from flowyard.client import FlowyardClient, _http
from flowyard.exceptions import (
    ClientError,
    InvalidRequest,
    ObjectAlreadyExists,
    ObjectNotFound,
    ServerUnavailable,
)


def mock_client(
    handler: Callable[[httpx.Request], httpx.Response],
    *,
    api_key: str | None = None,
    max_retries: int = 5,
    timeout: float = 60.0,
) -> FlowyardClient:
    """A client whose requests are answered by ``handler``, without any network."""
    return FlowyardClient(
        "http://mock/api",
        transport=httpx.MockTransport(handler),
        api_key=api_key,
        max_retries=max_retries,
        timeout=timeout,
    )


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record retry delays instead of sleeping them."""
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr(_http.asyncio, "sleep", fake_sleep)
    return slept


async def test_404_is_object_not_found_with_the_server_message() -> None:
    client = mock_client(lambda r: httpx.Response(404, json={"detail": "Flow not found."}))
    with pytest.raises(ObjectNotFound, match="Flow not found.") as info:
        await client.read_flow(uuid.uuid4())
    assert info.value.status_code == 404


async def test_409_is_object_already_exists() -> None:
    client = mock_client(lambda r: httpx.Response(409, json={"detail": "Name taken."}))
    with pytest.raises(ObjectAlreadyExists, match="Name taken."):
        await client.create_variable("x", 1)


async def test_422_is_invalid_request_naming_the_fields() -> None:
    body = {
        "exception_message": "Invalid request received.",
        "exception_detail": [{"loc": ["body", "limit"], "msg": "too big", "type": "x"}],
        "request_body": {},
    }
    client = mock_client(lambda r: httpx.Response(422, json=body))
    with pytest.raises(InvalidRequest, match="limit: too big") as info:
        await client.read_flows(limit=5)
    assert info.value.status_code == 422


async def test_other_4xx_is_invalid_request_and_text_bodies_are_kept() -> None:
    client = mock_client(lambda r: httpx.Response(400, text="bad header"))
    with pytest.raises(InvalidRequest, match="bad header"):
        await client.api_version()


async def test_5xx_is_a_client_error_naming_the_route() -> None:
    client = mock_client(
        lambda r: httpx.Response(500, json={"exception_message": "Internal Server Error"})
    )
    with pytest.raises(ClientError, match=r"GET /api/version \(500\): Internal Server Error"):
        await client.api_version()


async def test_client_side_validation_is_invalid_request_before_any_request() -> None:
    calls: list[httpx.Request] = []
    client = mock_client(lambda r: calls.append(r) or httpx.Response(200))
    with pytest.raises(InvalidRequest, match="name"):
        await client.create_flow("a/b")
    assert calls == []


@pytest.mark.parametrize("status", [408, 429, 502, 503])
async def test_retryable_statuses_are_retried(status: int, no_sleep: list[float]) -> None:
    answers = [httpx.Response(status), httpx.Response(status), httpx.Response(200, json="0.8.4")]
    client = mock_client(lambda r: answers.pop(0))
    assert await client.api_version() == "0.8.4"
    assert len(no_sleep) == 2
    assert no_sleep[1] > no_sleep[0]  # backoff grows


async def test_retry_after_is_honoured_and_bounded(no_sleep: list[float]) -> None:
    answers = [
        httpx.Response(429, headers={"Retry-After": "1.5"}),
        httpx.Response(503, headers={"Retry-After": "3600"}),
        httpx.Response(200, json="ok"),
    ]
    client = mock_client(lambda r: answers.pop(0))
    assert await client.api_version() == "ok"
    assert no_sleep == [1.5, _http.MAX_RETRY_DELAY]


async def test_retries_stop_after_max_retries(no_sleep: list[float]) -> None:
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(503, json={"exception_message": "Service Unavailable"})

    client = mock_client(handler, max_retries=2)
    with pytest.raises(ClientError, match="Service Unavailable") as info:
        await client.api_version()
    assert info.value.status_code == 503
    assert len(calls) == 3


async def test_404_is_not_retried() -> None:
    calls: list[httpx.Request] = []
    client = mock_client(lambda r: calls.append(r) or httpx.Response(404))
    with pytest.raises(ObjectNotFound):
        await client.read_flow(uuid.uuid4())
    assert len(calls) == 1


async def test_headers_carry_api_version_user_agent_and_bearer_key() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=True)

    client = mock_client(handler, api_key="secret-key")
    await client.api_healthcheck()
    headers = seen[0].headers
    assert headers["Authorization"] == "Bearer secret-key"
    assert headers["X-PREFECT-API-VERSION"] == _http.API_VERSION
    assert headers["User-Agent"].startswith("flowyard/")
    assert str(seen[0].url) == "http://mock/api/health"


async def test_no_authorization_header_without_a_key() -> None:
    seen: list[httpx.Request] = []
    client = mock_client(lambda r: seen.append(r) or httpx.Response(200, json=True))
    await client.api_healthcheck()
    assert "Authorization" not in seen[0].headers


async def test_unhealthy_answer_is_a_client_error() -> None:
    client = mock_client(lambda r: httpx.Response(200, json=False))
    with pytest.raises(ClientError, match="not healthy"):
        await client.api_healthcheck()


async def test_unexpected_body_is_a_client_error() -> None:
    client = mock_client(lambda r: httpx.Response(200, json={"nope": 1}))
    with pytest.raises(ClientError, match="Unexpected answer from GET"):
        await client.read_flow(uuid.uuid4())


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_connection_refused_is_server_unavailable_naming_the_url() -> None:
    url = f"http://127.0.0.1:{_closed_port()}/api"
    async with FlowyardClient(url) as client:
        with pytest.raises(ServerUnavailable, match=f"Cannot reach the Flowyard API at {url}"):
            await client.api_healthcheck()


async def test_timeout_is_server_unavailable() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    client = mock_client(handler, timeout=2.5)
    with pytest.raises(ServerUnavailable, match="did not answer within 2.5s"):
        await client.api_version()


def test_client_api_version_matches_the_server() -> None:
    from flowyard.server.api.admin import API_VERSION

    assert _http.API_VERSION == API_VERSION


def test_retry_after_as_http_date() -> None:
    response = httpx.Response(429, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})
    assert _http.retry_delay(response, 0) == 0.0  # a date in the past: retry at once
