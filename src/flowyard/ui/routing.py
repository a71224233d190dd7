"""``PageRoute``: what every UI route does around its handler.

- issue the CSRF cookie to a browser that has none, and refuse a POST whose token does not
  match it (403) before the handler runs;
- turn domain errors (``NotFound``, ``Invalid``, ``Forbidden``...) and malformed requests into
  an HTML error page with the same status the API would give, never a JSON body or a 500;
- add the security headers to every answer.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import parse_qsl

from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

from flowyard.server.errors import DomainError
from flowyard.ui import security
from flowyard.ui.templating import render_error

MAX_FORM_BYTES = 1_000_000
FORM_TYPE = "application/x-www-form-urlencoded"
CSRF_REFUSAL = (
    "This form has expired or did not come from this site. Reload the page and try again."
)


class FormError(Exception):
    """A form the UI cannot read (wrong type, too large): answered 400/413, not 500."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message


async def read_form(request: Request) -> list[tuple[str, str]]:
    """The submitted fields, in order (repeated names kept: checkboxes of a selection).

    Parsed here rather than by Starlette's ``request.form()``: a urlencoded body is all the
    UI's forms send, and it needs no multipart parser dependency.
    """
    cached: list[tuple[str, str]] | None = getattr(request.state, "form_fields", None)
    if cached is not None:
        return cached
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != FORM_TYPE:
        raise FormError(415, f"Forms are sent as {FORM_TYPE}, not {content_type or 'nothing'}.")
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise FormError(413, "The form is too large.")
    try:
        fields = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise FormError(400, "The form is not UTF-8.") from None
    request.state.form_fields = fields
    return fields


async def _csrf_refusal(request: Request, cookie: str | None) -> Response | None:
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return None
    submitted = request.headers.get(security.CSRF_HEADER)
    if submitted is None:
        try:
            fields = await read_form(request)
        except FormError as exc:
            return render_error(request, exc.status_code, exc.message)
        submitted = next((v for k, v in fields if k == security.CSRF_FIELD), None)
    if not security.csrf_token_matches(cookie, submitted):
        return render_error(request, 403, CSRF_REFUSAL)
    return None


class PageRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def page_handler(request: Request) -> Response:
            cookie = request.cookies.get(security.CSRF_COOKIE)
            request.state.csrf_token = cookie or security.new_csrf_token()
            response = await _csrf_refusal(request, cookie)
            if response is None:
                try:
                    response = await handle(request)
                except DomainError as exc:
                    response = render_error(request, exc.status_code, exc.message)
                except FormError as exc:
                    response = render_error(request, exc.status_code, exc.message)
                except RequestValidationError as exc:
                    response = render_error(request, 400, _validation_message(exc))
            if cookie is None:
                response.set_cookie(
                    security.CSRF_COOKIE,
                    request.state.csrf_token,
                    httponly=True,
                    samesite="strict",
                    secure=request.url.scheme == "https",
                    path="/",
                )
            security.add_security_headers(response.headers)
            return response

        return page_handler


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in list(exc.errors())[:5]:
        where = ".".join(str(p) for p in err.get("loc", ())[1:])
        parts.append(f"{where}: {err.get('msg')}" if where else str(err.get("msg")))
    return "Invalid request: " + "; ".join(parts)
