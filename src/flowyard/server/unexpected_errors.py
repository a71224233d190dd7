"""Unexpected errors: logged once, with their traceback, and answered as a plain 500.

Starlette answers an exception that no handler took in its outermost middleware, and then
raises it on, so that the server logs it: under uvicorn a handler that logged it too made two
tracebacks per error ("Exception in ASGI application" being the second), and in process
(embedded mode, tests) the exception reached the caller after its 500 had been sent.

This middleware sits just outside the routes (inside every other middleware): it logs the
error and answers it, and nothing goes further. An error in a middleware outside it is left
to Starlette and the server, which log it once.
"""

from __future__ import annotations

import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from flowyard.server.api.responses import JSONResponse

logger = logging.getLogger("flowyard.server")


def internal_error() -> JSONResponse:
    """The answer to an unexpected error: nothing of the error itself (it is in the log)."""
    return JSONResponse({"exception_message": "Internal Server Error"}, status_code=500)


class AnswerUnexpectedErrors:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watched(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except Exception:
            if started:
                raise  # too late to answer: the server logs it (once) and drops the connection
            logger.exception("Unexpected error handling %s %s", scope["method"], scope["path"])
            await internal_error()(scope, receive, send)
