"""The Flowyard API client: the only code in Flowyard that speaks HTTP.

:func:`get_client` returns an async :class:`FlowyardClient`, :func:`get_sync_client` a
blocking :class:`SyncFlowyardClient` with the same methods. With no ``FLOWYARD_API_URL``
both run the server inside this process (embedded mode); :func:`shutdown_embedded`
stops it early.
"""

from __future__ import annotations

from flowyard.client._client import FlowyardClient, get_client
from flowyard.client._embedded import shutdown_embedded
from flowyard.client._sync import SyncFlowyardClient, get_sync_client

__all__ = [
    "FlowyardClient",
    "SyncFlowyardClient",
    "get_client",
    "get_sync_client",
    "shutdown_embedded",
]
