"""The UI's page modules, each exposing ``router`` (an ``APIRouter(route_class=PageRoute)``).

Add a page module's name to ``PAGE_MODULES``; :func:`page_routers` imports each, skipping a
name whose module is not written yet (so the list can name a page another change adds).
Routes are declared relative to the workspace (``"/runs"``); ``flowyard.ui.mount``
includes every router under ``""`` and under the workspace prefix.
"""

from __future__ import annotations

import importlib

from fastapi import APIRouter

# Order matters only where paths overlap: the more specific first.
PAGE_MODULES = [
    "flow_run",
    "flow_run_commands",
    "task_run",
    "flow_run_actions",
    "flow_runs",
    "dashboard",
    "work_pools",
    "variables",
    "concurrency",
]


def page_routers() -> list[APIRouter]:
    routers = []
    for name in PAGE_MODULES:
        try:
            module = importlib.import_module(f"flowyard.ui.pages.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"flowyard.ui.pages.{name}":
                raise
            continue  # a page not written yet
        routers.append(module.router)
    return routers
