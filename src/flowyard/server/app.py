"""The server application: routers under both API prefixes, error shapes, lifespan."""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from flowyard.private_files import private_home
from flowyard.server.api.docs import install_docs
from flowyard.server.api.responses import JSONResponse
from flowyard.server.auth.guard import RequestGuard, guard_options
from flowyard.server.database.engine import Database
from flowyard.server.errors import DomainError, Unavailable
from flowyard.server.unexpected_errors import AnswerUnexpectedErrors, internal_error
from flowyard.settings import Settings, get_settings

# One module per resource in flowyard.server.api, each exposing `router`. The router tries
# routes in this order, one by one, for every request: the routes a running flow calls most
# come first.
API_MODULES = [
    "flow_runs",
    "flow_run_graph",
    "logs",
    "events",
    "task_runs",
    "task_run_reports",
    "admin",
    "flows",
    "states",
    "concurrency_limits_v2",
    "variables",
    "artifacts",
    "deployments",
    "work_pools",
    "work_queues",
    "worker_channel",
    "concurrency_status",
    "collections",
    "concurrency_limits",
    "block_types",
    "block_schemas",
    "block_documents",
    "block_capabilities",
    "saved_searches",
    "flow_run_control",
    "automations",
    "ui",
]
WORKSPACE_PREFIX = "/api/accounts/{account_id}/workspaces/{workspace_id}"
GC_FIRST_THRESHOLD = 10_000


def api_routers() -> list[APIRouter]:
    routers = []
    for name in API_MODULES:
        try:
            module = importlib.import_module(f"flowyard.server.api.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"flowyard.server.api.{name}":
                raise
            continue  # a resource not written yet
        routers.append(module.router)
    return routers


def _field_message(errors: list[Any]) -> str:
    parts = []
    for err in errors[:5]:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        parts.append(f"{loc}: {err.get('msg')}" if loc else str(err.get("msg")))
    return "; ".join(parts)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    detail = [
        {k: v for k, v in err.items() if k in ("loc", "msg", "type")} for err in errors
    ]
    return JSONResponse(
        {
            "exception_message": "Invalid request received.",
            "exception_detail": detail,
            "detail": _field_message(errors),
            # The contract's key, but never the body itself: a refused block document or
            # variable would have its secret values repeated in the answer (and in any log
            # or proxy that keeps answers). ``detail`` names the fields, which is what helps.
            "request_body": None,
        },
        status_code=422,
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    # The one place domain errors become HTTP answers (see ``server.errors``).
    assert isinstance(exc, DomainError)
    headers = None
    if isinstance(exc, Unavailable):
        headers = {"Retry-After": str(max(1, round(exc.retry_after)))}
    return JSONResponse({"detail": exc.message}, status_code=exc.status_code, headers=headers)


async def _error_in_a_middleware(request: Request, exc: Exception) -> JSONResponse:
    # Errors of the routes are logged and answered by AnswerUnexpectedErrors. One raised in a
    # middleware outside it gets this answer, then Starlette raises it on and the server
    # logs it, once (logging it here too made every such error two tracebacks).
    return internal_error()


async def startup(app: FastAPI, db: Database, *, migrate: bool) -> None:
    from flowyard.server.queries import tenancy

    if migrate:
        from flowyard.server.database.migrations import upgrade_to_head

        await upgrade_to_head(db)
    await db.sync_sqlite_schema()
    async with db.write() as session:
        workspace = await tenancy.ensure_default_workspace(session)
    # In the background: on a database that grew since the last start, ANALYZE would hold
    # up the first answer for no benefit to it.
    db.optimize_soon()
    app.state.default_workspace_id = workspace.id
    app.state.default_account_id = workspace.account_id


def create_app(
    settings: Settings | None = None,
    *,
    database: Database | None = None,
    migrate: bool = True,
    services: bool = True,
    tune_gc: bool = False,
    in_process: bool = False,
) -> FastAPI:
    """Build the app. ``services=False`` leaves background loops off (tests, embedded mode).

    ``in_process=True`` (embedded mode): the app is never served on a socket, so the
    server API key and the Host check are left off (see ``server/auth/guard.py``).

    ``tune_gc=True`` (the ``flowyard server start`` process, which owns its interpreter) sets
    the garbage collector up for a long-running server once startup is done: see
    :func:`tune_garbage_collector`.
    """
    settings = settings or get_settings()
    db = database or Database(
        settings.resolved_database_url,
        echo=settings.database_echo,
        sqlite_synchronous=settings.database_sqlite_synchronous,
        write_wait_seconds=settings.database_write_wait_seconds,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        private_home(settings.home)  # 0700, or tightened with a warning: see private_files
        await startup(app, db, migrate=migrate)
        from flowyard.server.events.pipeline import event_pipeline
        from flowyard.server.services import start_services

        # The event pipeline runs even without services: task runs arrive only as events.
        async with event_pipeline(app), start_services(app, enabled=services):
            if tune_gc:
                tune_garbage_collector()
            yield
        if database is None:
            await db.dispose()

    app = FastAPI(
        title="Flowyard",
        version=_version(),
        lifespan=lifespan,
        default_response_class=JSONResponse,
        docs_url=None,  # served by install_docs, with its assets: /docs works offline
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    app.state.settings = settings
    app.state.db = db
    app.state.known_workspaces = set()
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(Exception, _error_in_a_middleware)
    # Added first, so innermost: just outside the routes (see server/unexpected_errors.py).
    app.add_middleware(AnswerUnexpectedErrors)
    # Host, API key, body size and type: checked before routing, for the API and the UI.
    app.add_middleware(RequestGuard, **guard_options(settings, in_process=in_process))
    # Each resource's router straight under the app (not one router nesting them all): one
    # level less to walk on every request.
    routers = api_routers()
    for prefix in ("/api", WORKSPACE_PREFIX):
        for router in routers:
            app.include_router(router, prefix=prefix)
    _hoist_body_definitions(app)
    install_docs(app)
    # The web UI at "/" (after the API: its routes never shadow one).
    from flowyard.ui.mount import install_ui

    install_ui(app)
    return app


def _hoist_body_definitions(app: FastAPI) -> None:
    from flowyard.server.openapi import finish_document

    build = app.openapi

    def openapi() -> dict[str, Any]:
        return finish_document(build())

    app.openapi = openapi  # type: ignore[method-assign]


def tune_garbage_collector() -> None:
    """Everything alive after startup (modules, the ORM and pydantic schemas, routes) lives
    as long as the process: ``gc.freeze`` takes it out of every future collection, which
    otherwise walks those hundred thousand objects again on each full collection. A higher
    first threshold lets the objects a request allocates die young in fewer, cheaper passes.
    """
    import gc

    gc.collect()
    gc.freeze()
    _, second, third = gc.get_threshold()
    gc.set_threshold(GC_FIRST_THRESHOLD, second, third)


def _version() -> str:
    from flowyard import __version__

    return __version__
