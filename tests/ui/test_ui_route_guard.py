"""Every UI route resolves the request context (the workspace and, in multi-user mode, the
caller and their permissions) and runs inside ``PageRoute`` (security headers, CSRF on
POST): a page added without them fails here."""

from __future__ import annotations

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from flowyard.server.api.dependencies import workspace_context
from flowyard.ui.pages import PAGE_MODULES, page_routers
from flowyard.ui.routing import PageRoute


def _calls(dependant: Dependant, target: object) -> bool:
    return dependant.call is target or any(_calls(d, target) for d in dependant.dependencies)


def test_every_page_route_is_guarded() -> None:
    routes = [route for router in page_routers() for route in router.routes]
    assert len(routes) >= 3
    assert len(page_routers()) == len(PAGE_MODULES)  # every listed module exists
    for route in routes:
        assert isinstance(route, PageRoute), route
        assert isinstance(route, APIRoute)
        assert _calls(route.dependant, workspace_context), route.path
