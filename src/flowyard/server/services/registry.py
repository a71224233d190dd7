"""The services the server starts, in order.

One module per service in ``flowyard.server.services``, each exposing
``async def start(app) -> Stop``; a module not written yet is left out.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from typing import Any

Stop = Callable[[], Awaitable[None]]
Start = Callable[[Any], Awaitable[Stop]]

SERVICE_MODULES = [
    "concurrency_leases",
    "scheduler",
    "late_runs",
    "run_leases",
    "cancellation",
    "automations",
]


def services() -> list[Start]:
    found: list[Start] = []
    for name in SERVICE_MODULES:
        try:
            module = importlib.import_module(f"flowyard.server.services.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"flowyard.server.services.{name}":
                raise
            continue
        found.append(module.start)
    return found
