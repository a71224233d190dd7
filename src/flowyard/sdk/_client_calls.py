"""How SDK helpers (artifacts, variables) reach the API, from sync and async code.

Both share the engine's client for the current settings (one per process and API
target), so an artifact created inside a flow goes to the same server -- or the same
embedded database -- as the flow run itself. Async callers await the request on the
client's background loop without blocking their own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from flowyard.client import FlowyardClient, SyncFlowyardClient

T = TypeVar("T")


def sync_client() -> SyncFlowyardClient:
    """The blocking client the engine uses for the current settings."""
    from flowyard.sdk.engine.api import get_api

    return get_api().client


async def call_async(request: Callable[[FlowyardClient], Coroutine[Any, Any, T]]) -> T:
    """Run ``request(async_client)`` on the client's loop and await its result."""
    from flowyard.client._loop import background_loop, in_background_thread

    client = (await asyncio.to_thread(sync_client)).async_client
    if in_background_thread():
        return await request(client)
    future = asyncio.run_coroutine_threadsafe(request(client), background_loop())
    return await asyncio.wrap_future(future)
