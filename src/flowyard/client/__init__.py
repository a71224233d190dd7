"""The Flowyard API client: the only code in Flowyard that speaks HTTP.

:func:`get_client` returns an async :class:`FlowyardClient`, :func:`get_sync_client` a
blocking :class:`SyncFlowyardClient` with the same methods. With no ``FLOWYARD_API_URL``
both run the server inside this process (embedded mode); :func:`shutdown_embedded`
stops it early.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flowyard.client._client import FlowyardClient, get_client
    from flowyard.client._embedded import shutdown_embedded
    from flowyard.client._sync import SyncFlowyardClient, get_sync_client

# Public name -> module that defines it, imported on first use: the embedded server's
# module is not needed by a client of a remote server.
_EXPORTS = {
    "FlowyardClient": "flowyard.client._client",
    "get_client": "flowyard.client._client",
    "shutdown_embedded": "flowyard.client._embedded",
    "SyncFlowyardClient": "flowyard.client._sync",
    "get_sync_client": "flowyard.client._sync",
}

__all__ = [
    "FlowyardClient",
    "SyncFlowyardClient",
    "get_client",
    "get_sync_client",
    "shutdown_embedded",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'flowyard.client' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value
