"""Every route of the API resolves its request context: the one dependency where the
workspace is read from the URL and, in multi-user mode, the caller's credentials and role.
Operations then check the permission they declare (tests/server/operations/test_context.py),
and routers reach data only through operations (import-linter contracts in pyproject.toml)."""

import importlib

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, APIWebSocketRoute

from flowyard.server.api.dependencies import workspace_context
from flowyard.server.app import API_MODULES

# Answers that must work before anyone is known: liveness, version, the CSRF probe of the
# official client. They read nothing of any workspace.
OPEN = {"/health", "/ready", "/hello", "/version", "/admin/version", "/csrf-token"}


def _calls(dependant: Dependant, target: object) -> bool:
    return dependant.call is target or any(_calls(d, target) for d in dependant.dependencies)


def _routes() -> list[tuple[str, str, Dependant]]:
    found = []
    for name in API_MODULES:
        router = importlib.import_module(f"flowyard.server.api.{name}").router
        for route in router.routes:
            if isinstance(route, APIRoute | APIWebSocketRoute):
                methods = ",".join(sorted(getattr(route, "methods", None) or {"WS"}))
                found.append((methods, route.path, route.dependant))
    return found


def test_every_route_resolves_the_request_context() -> None:
    routes = _routes()
    assert len(routes) >= 150
    unguarded = [
        f"{methods} {path}"
        for methods, path, dependant in routes
        if path not in OPEN and not _calls(dependant, workspace_context)
    ]
    assert unguarded == []


def test_the_open_list_names_routes_that_exist() -> None:
    # A renamed probe must not leave a stale exemption behind.
    paths = {path for _, path, _ in _routes()}
    assert paths >= OPEN
