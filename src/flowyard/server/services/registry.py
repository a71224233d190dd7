"""The services the server starts, in order."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from flowyard.server.services import concurrency_leases

Stop = Callable[[], Awaitable[None]]
SERVICES: list[Callable[[Any], Awaitable[Stop]]] = [concurrency_leases.start]
