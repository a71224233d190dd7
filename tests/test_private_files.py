"""FLOWYARD_HOME is 0700 and what Flowyard keeps in it 0600, whoever writes it: the server
(database, its -wal and -shm, the block encryption key), the CLI (profiles) and the SDK
(result files) -- whatever the umask, which is set to the usual 022 here."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from flowyard.sdk.storage import LocalFileSystem
from flowyard.server.app import create_app
from flowyard.server.blocks.encryption import cipher_for, key_path
from flowyard.server.database.engine import Database
from flowyard.settings import Settings, profiles_path, save_profiles


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    previous = os.umask(0o022)
    yield
    os.umask(previous)


async def _run_server(home: Path) -> None:
    settings = Settings(home=home)
    db = Database(settings.resolved_database_url)
    app = create_app(settings, database=db, services=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        base_url = "http://127.0.0.1/api"
        async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
            created = await client.post("/flows/", json={"name": "private"})
            assert created.status_code == 201, created.text
        cipher_for(settings)  # the block encryption key, as the first block document makes it
        database = home / "flowyard.db"
        for path in (database, Path(f"{database}-wal"), Path(f"{database}-shm")):
            assert mode(path) == 0o600, f"{path.name}: {oct(mode(path))}"
    await db.dispose()
    assert mode(home) == 0o700
    assert mode(key_path(settings)) == 0o600


async def test_the_server_makes_a_private_home_and_private_database_files(
    tmp_path: Path,
) -> None:
    await _run_server(tmp_path / "nested" / "home")
    assert mode(tmp_path / "nested") == 0o700  # a parent it had to create, too


async def test_an_open_home_of_ours_is_tightened_on_start_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o755)
    (home / "flowyard.db").touch(mode=0o644)  # made by an older version
    with caplog.at_level(logging.WARNING, logger="flowyard.private_files"):
        await _run_server(home)
    assert any("changed to 0700" in r.getMessage() for r in caplog.records)


async def test_a_shared_folder_is_left_as_it_is_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)  # like /tmp: tightening it would lock its other users out
    settings = Settings(home=shared)
    db = Database(settings.resolved_database_url)
    app = create_app(settings, database=db, services=False)
    with caplog.at_level(logging.WARNING, logger="flowyard.private_files"):
        async with app.router.lifespan_context(app):
            pass
    await db.dispose()
    assert mode(shared) == 0o1777
    assert mode(shared / "flowyard.db") == 0o600
    assert any("left as it is" in r.getMessage() for r in caplog.records)


def test_profiles_are_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWYARD_HOME", str(tmp_path / "home"))
    save_profiles({"active": "default", "profiles": {"default": {"FLOWYARD_API_KEY": "k"}}})
    assert mode(profiles_path()) == 0o600
    assert mode(tmp_path / "home") == 0o700


def test_result_files_are_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWYARD_HOME", str(tmp_path / "home"))
    written = Path(LocalFileSystem().write_path("results/abc", b"payload"))
    assert mode(written) == 0o600
    assert mode(written.parent) == 0o700
    assert mode(tmp_path / "home") == 0o700
