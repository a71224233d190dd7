"""The one place requests are sent: base URL, headers, retries, errors, parsing.

Every route method of the client builds a body, calls :meth:`BaseClient._request`, and
parses the answer with the same pydantic models the server validated it with
(``flowyard.schemas``). Failures become the exceptions of :mod:`flowyard.exceptions`, so
callers never see an ``httpx`` exception:

- the API cannot be reached (refused, DNS, timeout) -> ``ServerUnavailable`` naming the URL
- 404 -> ``ObjectNotFound``; 409 -> ``ObjectAlreadyExists``; other 4xx -> ``InvalidRequest``
- 5xx -> ``ClientError``

408, 429, 502 and 503 are retried with exponential backoff, honouring ``Retry-After``, a
bounded number of times.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import ssl
import time
import urllib.parse
import urllib.request
from collections.abc import Collection
from typing import Any, Self, TypeVar

import orjson
from pydantic import BaseModel, TypeAdapter, ValidationError

from flowyard import __version__
from flowyard.client._httpx import httpx
from flowyard.client._versions import API_VERSION as API_VERSION
from flowyard.exceptions import (
    ClientError,
    InvalidRequest,
    ObjectAlreadyExists,
    ObjectNotFound,
    ServerUnavailable,
)
from flowyard.schemas.states import State, StateCreate

RETRY_STATUSES = frozenset({408, 429, 502, 503})
DEFAULT_MAX_RETRIES = 5
# A server asking for a longer Retry-After than this is waited for this long at most, so a
# misbehaving proxy cannot park a caller for an hour.
MAX_RETRY_DELAY = 10.0
BASE_RETRY_DELAY = 0.2

M = TypeVar("M", bound=BaseModel)
_NO_BODY: Any = object()


class _Unset:
    """Marks an argument the caller did not give, where ``None`` is a real value."""

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()
_LIST_ADAPTERS: dict[type[BaseModel], TypeAdapter[Any]] = {}


def tls_verification(api_url: str) -> ssl.SSLContext | bool:
    """How the client verifies TLS: as httpx does by default (``True``: certifi's CA
    bundle), except for a plain ``http://`` API reached without a proxy. No connection of
    that client is TLS (it follows no redirect), and loading the CA bundle would cost every
    script and CLI command 30-60 ms for nothing; it gets a context that trusts no
    certificate instead, so that should TLS ever happen, it fails closed."""
    if urllib.parse.urlsplit(api_url).scheme != "http" or urllib.request.getproxies():
        return True
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies hostnames, has no trusted CA


class BaseClient:
    """Connection to one Flowyard API: wraps an ``httpx.AsyncClient``.

    Args:
        api_url: the API root, e.g. ``http://127.0.0.1:4200/api`` or a workspace URL
            ``…/api/accounts/{account_id}/workspaces/{workspace_id}``.
        api_key: sent as ``Authorization: Bearer <api_key>`` when given.
        timeout: seconds to wait for each request.
        transport: an httpx transport to use instead of the network (tests, embedded mode).
        max_retries: how many times a 408/429/502/503 answer is retried.
        headers: extra headers sent with every request.
    """

    def __init__(
        self,
        api_url: str,
        *,
        api_key: str | None = None,
        timeout: float = 60.0,
        transport: httpx.AsyncBaseTransport | None = None,
        max_retries: int = DEFAULT_MAX_RETRIES,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self._timeout = timeout
        self._max_retries = max_retries
        self._transport = transport
        default_headers = {
            "User-Agent": f"flowyard/{__version__} (API {API_VERSION})",
            "X-PREFECT-API-VERSION": API_VERSION,
        }
        if api_key:
            default_headers["Authorization"] = f"Bearer {api_key}"
        default_headers.update(headers or {})
        self._http = httpx.AsyncClient(
            base_url=self.api_url + "/",
            headers=default_headers,
            timeout=timeout,
            transport=transport,
            verify=tls_verification(self.api_url),
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connections this client holds. The client cannot be used afterwards."""
        await self._http.aclose()

    async def _request(
        self,
        method: str,
        path: str,
        *,
        json: Any = _NO_BODY,
        params: dict[str, Any] | None = None,
        accept: Collection[int] = (),
    ) -> httpx.Response:
        """Send one request; return a 2xx response (or one whose status is in ``accept``)."""
        content = None if json is _NO_BODY else orjson.dumps(json)
        headers = None if content is None else {"Content-Type": "application/json"}
        attempt = 0
        while True:
            response = await self._send(method, path, content, headers, params)
            status = response.status_code
            if status in RETRY_STATUSES and status not in accept and attempt < self._max_retries:
                await asyncio.sleep(retry_delay(response, attempt))
                attempt += 1
                continue
            if response.is_success or status in accept:
                return response
            raise error_for(response)

    async def _send(
        self,
        method: str,
        path: str,
        content: bytes | None,
        headers: dict[str, str] | None,
        params: dict[str, Any] | None,
    ) -> httpx.Response:
        try:
            return await self._http.request(
                method, path, content=content, headers=headers, params=params
            )
        except httpx.TimeoutException as exc:
            raise ServerUnavailable(
                f"The Flowyard API at {self.api_url} did not answer within "
                f"{self._timeout:g}s ({type(exc).__name__})."
            ) from exc
        except httpx.TransportError as exc:
            reason = str(exc) or type(exc).__name__
            raise ServerUnavailable(
                f"Cannot reach the Flowyard API at {self.api_url}: {reason}"
            ) from exc


def retry_delay(response: httpx.Response, attempt: int) -> float:
    """Seconds to wait before retrying: the server's Retry-After, else exponential backoff."""
    header = response.headers.get("Retry-After")
    if header:
        delay = _parse_retry_after(header)
        if delay is not None:
            return min(max(delay, 0.0), MAX_RETRY_DELAY)
    backoff = min(BASE_RETRY_DELAY * 2.0**attempt, MAX_RETRY_DELAY)
    # Jitter so that many clients turned away together do not come back together.
    return backoff * (1 + random.random() * 0.2)  # noqa: S311 - not for security


def _parse_retry_after(value: str) -> float | None:
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return when.timestamp() - time.time()


def error_for(response: httpx.Response) -> ClientError:
    """The exception for a failed response, carrying the server's own message."""
    status = response.status_code
    message = error_message(response)
    if status == 404:
        return ObjectNotFound(message, status)
    if status == 409:
        return ObjectAlreadyExists(message, status)
    if 400 <= status < 500:
        return InvalidRequest(message, status)
    request = response.request
    return ClientError(
        f"The Flowyard API failed on {request.method} {request.url.path} ({status}): {message}",
        status,
    )


def error_message(response: httpx.Response) -> str:
    """The human part of an error body: ``detail``, else ``exception_message``, else text."""
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        body = None
    if isinstance(body, dict):
        detail = body.get("detail")
        if isinstance(detail, str) and detail:
            return detail
        if isinstance(detail, list) and detail:
            return "; ".join(_validation_item(item) for item in detail)
        # A Prefect-style 422 carries its field errors in exception_detail.
        exception_detail = body.get("exception_detail")
        if isinstance(exception_detail, list) and exception_detail:
            return "; ".join(_validation_item(item) for item in exception_detail)
        if body.get("exception_message"):
            return str(body["exception_message"])
    text = response.text.strip()
    return text[:300] if text else f"{response.status_code} {response.reason_phrase}"


def _validation_item(item: Any) -> str:
    if not isinstance(item, dict):
        return str(item)
    loc = ".".join(str(p) for p in item.get("loc", ()) if p != "body")
    return f"{loc}: {item.get('msg')}" if loc else str(item.get("msg"))


def segment(value: str) -> str:
    """``value`` escaped for use as one path segment (names may hold ``?``, ``#``, spaces)."""
    return urllib.parse.quote(value, safe="")


def state_body(state: State | StateCreate) -> dict[str, Any]:
    """A state as a request body: a full ``State`` is sent whole, a ``StateCreate`` as set."""
    if isinstance(state, State):
        return state.model_dump(mode="json")
    return state.model_dump(mode="json", exclude_unset=True)


def build(model: type[M], **fields: Any) -> M:
    """Validate a request body before sending it; bad input is an ``InvalidRequest``."""
    try:
        return model(**fields)
    except ValidationError as exc:
        raise InvalidRequest(validation_message(exc)) from None


def validation_message(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err["loc"])
        parts.append(f"{loc}: {err['msg']}" if loc else err["msg"])
    return "; ".join(parts)


def dump(model: BaseModel | None) -> Any:
    """JSON-ready body of a model, leaving out what the caller did not set."""
    if model is None:
        return None
    return model.model_dump(mode="json", exclude_unset=True)


def compose(**parts: Any) -> dict[str, Any]:
    """A request body from keyword parts: models are dumped, ``None`` parts are left out."""
    body: dict[str, Any] = {}
    for key, value in parts.items():
        if value is None:
            continue
        body[key] = dump(value) if isinstance(value, BaseModel) else value
    return body


def parse(model: type[M], response: httpx.Response) -> M:
    """The response body as ``model``; a body that does not fit is a ``ClientError``."""
    try:
        return model.model_validate_json(response.content)
    except ValidationError as exc:
        raise _unexpected(response, exc) from None


def parse_list(model: type[M], response: httpx.Response) -> list[M]:
    """The response body as a list of ``model``."""
    adapter = _LIST_ADAPTERS.get(model)
    if adapter is None:
        adapter = _LIST_ADAPTERS[model] = TypeAdapter(list[model])  # type: ignore[valid-type]
    try:
        result: list[M] = adapter.validate_json(response.content)
    except ValidationError as exc:
        raise _unexpected(response, exc) from None
    return result


def parse_json(response: httpx.Response) -> Any:
    """The response body as plain JSON."""
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError as exc:
        raise _unexpected(response, exc) from None


def _unexpected(response: httpx.Response, exc: Exception) -> ClientError:
    request = response.request
    return ClientError(
        f"Unexpected answer from {request.method} {request.url.path}: {exc}",
        response.status_code,
    )
