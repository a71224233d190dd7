"""Fast JSON responses: serialize once with orjson, never re-validate our own models.

``JSONResponse`` subclasses Starlette's so that FastAPI documents each route's
``response_model`` as the JSON schema of its answer (for any other response class the
OpenAPI document says ``{"type": "string"}``); only the rendering is ours.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

import orjson
from fastapi.responses import Response
from pydantic import BaseModel
from starlette.responses import JSONResponse as StarletteJSONResponse


def _other_uuid(value: Any) -> str:
    # asyncpg answers UUID columns selected as plain rows with its own UUID subclass, which
    # orjson (exact types only) refuses: an answer built from such rows was a 500 on PostgreSQL.
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"Type is not JSON serializable: {type(value).__name__}")


class JSONResponse(StarletteJSONResponse):
    def render(self, content: Any) -> bytes:
        return orjson.dumps(
            content, default=_other_uuid, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_UTC_Z
        )


def respond(model: BaseModel | None, status_code: int = 200) -> JSONResponse:
    content = None if model is None else model.model_dump(mode="json")
    return JSONResponse(content, status_code=status_code)


def respond_many(models: Iterable[BaseModel], status_code: int = 200) -> JSONResponse:
    return JSONResponse([m.model_dump(mode="json") for m in models], status_code=status_code)


def no_content() -> Response:
    return Response(status_code=204)


def also(status_code: int, model: Any, description: str) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route that answers a second 2xx status with the same model (201
    when it created something, 200 when it found it already there), so that the document
    declares every status the route really answers."""
    return {status_code: {"model": model, "description": description}}
