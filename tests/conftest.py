"""Shared fixtures. The suite runs on SQLite unless FLOWYARD_TEST_DATABASE_URL names a
PostgreSQL database, in which case every test gets a fresh schema there."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from flowyard.server.app import create_app
from flowyard.server.database.engine import Database
from flowyard.settings import Settings
from flowyard.testing.databases import fresh_database_url

TEST_DATABASE_URL = os.environ.get("FLOWYARD_TEST_DATABASE_URL")


@pytest.fixture(autouse=True)
def flowyard_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "flowyard-home"
    monkeypatch.setenv("FLOWYARD_HOME", str(home))
    for name in ("FLOWYARD_API_URL", "FLOWYARD_PROFILE", "FLOWYARD_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    return home


@pytest.fixture
async def database_url(tmp_path: Path) -> AsyncIterator[str]:
    # A fresh database per test (on the shared PostgreSQL server when one is named).
    async with fresh_database_url(tmp_path, TEST_DATABASE_URL) as url:
        yield url


@pytest.fixture
def settings(flowyard_home: Path, database_url: str) -> Settings:
    # The suite's clients call the app "test" (http://test/api): a host name the app
    # answers to only because it is configured, as any name but loopback must be.
    return Settings(home=flowyard_home, database_url=database_url, server_allowed_hosts=["test"])


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    db = Database(settings.resolved_database_url)
    app = create_app(settings, database=db, services=False)
    async with app.router.lifespan_context(app):
        yield app
    await db.dispose()


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test/api") as client:
        yield client


@pytest.fixture
def db(app: FastAPI) -> Database:
    database: Database = app.state.db
    return database
