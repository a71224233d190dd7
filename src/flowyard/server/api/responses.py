"""Fast JSON responses: serialize once with orjson, never re-validate our own models."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson
from fastapi.responses import Response
from pydantic import BaseModel


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_UTC_Z)


def respond(model: BaseModel | None, status_code: int = 200) -> JSONResponse:
    content = None if model is None else model.model_dump(mode="json")
    return JSONResponse(content, status_code=status_code)


def respond_many(models: Iterable[BaseModel], status_code: int = 200) -> JSONResponse:
    return JSONResponse([m.model_dump(mode="json") for m in models], status_code=status_code)


def no_content() -> Response:
    return Response(status_code=204)
