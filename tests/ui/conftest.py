"""Fixtures of the UI's tests.

In process (most tests): ``ui`` is an httpx client on the app at ``http://test`` that keeps
the CSRF cookie like a browser; ``seed`` makes flows and runs through the API.

In a browser (``test_browser_*.py``): ``ui_server`` is a real ``flowyard server start``
process on a free port (its own FLOWYARD_HOME; PostgreSQL when FLOWYARD_TEST_DATABASE_URL
is set), ``browser`` Debian's Chromium driven by Playwright. Tests skip when Chromium or
Playwright is missing (``apt-get install chromium``; ``pip install -e '.[dev]'``).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from ui_helpers import QueryLog, Seeder

from flowyard.testing.databases import fresh_postgres_database

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture
async def ui(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


@pytest.fixture
def seed(ui: httpx.AsyncClient) -> Seeder:
    return Seeder(ui)


@pytest.fixture
def query_log(app: FastAPI) -> Iterator[QueryLog]:
    """Every SQL statement the app sends while the test runs (both engines)."""
    log = QueryLog()
    db = app.state.db
    engines = {id(e): e.sync_engine for e in (db.write_engine, db.read_engine)}.values()

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "INSERT", "UPDATE", "DELETE", "WITH")):
            log.statements.append(statement)

    for engine in engines:
        sa.event.listen(engine, "before_cursor_execute", record)
    yield log
    for engine in engines:
        sa.event.remove(engine, "before_cursor_execute", record)


# --- a real server and a real browser -----------------------------------------------------


@contextlib.contextmanager
def _server_database() -> Iterator[str | None]:
    """A fresh PostgreSQL database when the suite runs on PostgreSQL, else None (SQLite in
    the server's home). Sync: the browser tests run outside any event loop."""
    server_url = os.environ.get("FLOWYARD_TEST_DATABASE_URL")
    if not server_url:
        yield None
        return
    with fresh_postgres_database(server_url, "fy_ui") as url:
        yield url


@pytest.fixture(scope="module")
def ui_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL of a real server process (the UI at ``/``, the API at ``/api``)."""
    from flowyard.testing.server_process import server_process

    home = tmp_path_factory.mktemp("ui-server")
    with _server_database() as database_url, server_process(home, database_url) as api:
        yield api.removesuffix("/api")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        # A failure, not a skip: a skipped browser suite would hide a broken UI (.ci/run
        # installs it).
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class PageWatch:
    """Console errors, failed requests and 4xx/5xx answers seen while a page is open."""

    def __init__(self, page: Any) -> None:
        self.problems: list[str] = []
        note = self.problems.append
        page.on("console", lambda m: m.type == "error" and note(f"console: {m.text}"))
        page.on("pageerror", lambda e: note(f"page error: {e}"))
        page.on("requestfailed", lambda r: note(f"failed: {r.url} {r.failure}"))
        page.on("response", lambda r: r.status >= 400 and note(f"{r.status}: {r.url}"))


def _open_tab(browser: Any, scheme: str) -> tuple[Any, Any]:
    context = browser.new_context(color_scheme=scheme, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.watch = PageWatch(page)
    return context, page


@pytest.fixture(params=["light", "dark"])
def page(request: pytest.FixtureRequest, browser: Any) -> Iterator[Any]:
    """A tab in each theme, its problems in ``page.watch``: the test runs once per theme."""
    context, page = _open_tab(browser, request.param)
    yield page
    context.close()


@pytest.fixture
def tab(browser: Any) -> Iterator[Any]:
    """One light tab, for the journeys that change data (they run once)."""
    context, page = _open_tab(browser, "light")
    yield page
    context.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # The browser tests start processes: e2e, like tests/e2e.
    for item in items:
        if "test_browser" in item.nodeid:
            item.add_marker(pytest.mark.e2e)

