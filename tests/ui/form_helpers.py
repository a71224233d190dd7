"""Helpers of the resource pages' tests: posting a form as a browser does (with the CSRF
token the page handed out), and counting statements."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from ui_helpers import QueryLog


def csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found is not None, html[:500]
    return found.group(1)


class Browser:
    """Posts forms from a page already seen, like a person clicking through."""

    def __init__(self, ui: httpx.AsyncClient) -> None:
        self.ui = ui
        self.token = ""

    async def post(self, path: str, form: dict[str, Any], status: int = 303) -> httpx.Response:
        if not self.token:
            self.token = csrf((await self.ui.get("/variables/new")).text)
        response = await self.ui.post(path, data={"csrf_token": self.token, **form})
        assert response.status_code == status, (path, response.status_code, response.text[:800])
        return response

    async def api(self, method: str, path: str, body: Any = None, status: int = 200) -> Any:
        response = await self.ui.request(method, f"/api{path}", json=body)
        assert response.status_code == status, (path, response.text)
        return response.json() if response.content else None


def field_error(html: str, field: str) -> str:
    """The error shown beside ``field`` (empty when none)."""
    found = re.search(rf'<p class="field-error" id="{field}-error" role="alert">([^<]*)</p>', html)
    return found.group(1) if found else ""


async def statement_count(
    query_log: QueryLog, fetch: Callable[[], Awaitable[httpx.Response]]
) -> int:
    query_log.statements.clear()
    response = await fetch()
    assert response.status_code == 200, response.text[:500]
    return len(query_log)
