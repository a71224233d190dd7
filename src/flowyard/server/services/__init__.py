"""Background services (loops) the server runs beside the API."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any


@contextlib.asynccontextmanager
async def start_services(app: Any, *, enabled: bool) -> AsyncIterator[None]:
    """Start every registered service; stop them all on exit. A service module exposes
    ``start(app) -> stop coroutine``."""
    stops = []
    if enabled:
        from flowyard.server.services.registry import services

        for start in services():
            stops.append(await start(app))
    try:
        yield
    finally:
        for stop in reversed(stops):
            await stop()
