"""Health, versions, CSRF and admin endpoints the official client checks before it works."""

from __future__ import annotations

from fastapi import APIRouter, Request

from flowyard.schemas.responses import CsrfToken, ServerDefaultResultStorage, ServerSettings
from flowyard.server.api.responses import JSONResponse

router = APIRouter(tags=["Admin"])

# The Prefect API version we speak and the Prefect release we are compatible with. The
# official client refuses another major version and warns on an older minor one.
API_VERSION = "0.8.4"
COMPATIBLE_PREFECT_VERSION = "3.9.1"


@router.get("/health", response_model=bool)
async def health() -> JSONResponse:
    return JSONResponse(True)


@router.get("/ready")
async def ready(request: Request) -> JSONResponse:
    import sqlalchemy as sa

    try:
        async with request.app.state.db.read() as session:
            await session.execute(sa.text("SELECT 1"))
    except Exception:  # noqa: BLE001 - any database failure means "not ready"
        return JSONResponse({"message": "Database is not ready."}, status_code=503)
    return JSONResponse({"message": "OK"})


@router.get("/version", response_model=str)
async def api_version() -> JSONResponse:
    return JSONResponse(API_VERSION)


@router.get("/hello", response_model=str)
async def hello() -> JSONResponse:
    return JSONResponse("👋")


@router.get("/admin/version", response_model=str)
async def server_version() -> JSONResponse:
    return JSONResponse(COMPATIBLE_PREFECT_VERSION)


@router.get("/admin/settings", response_model=ServerSettings)
async def server_settings(request: Request) -> JSONResponse:
    settings = request.app.state.settings
    # Never echo secrets or the database URL (it may hold a password).
    return JSONResponse(
        {"api_default_limit": settings.api_default_limit, "logging_level": settings.logging_level}
    )


@router.get("/admin/storage", response_model=ServerDefaultResultStorage)
async def storage() -> JSONResponse:
    return JSONResponse({"default_result_storage_block_id": None})


@router.get("/csrf-token", response_model=CsrfToken)
async def csrf_token() -> JSONResponse:
    # Single-user mode has no CSRF protection; this exact answer tells the official client
    # to stop asking for tokens.
    return JSONResponse({"detail": "CSRF protection is disabled."}, status_code=422)
