"""Test helpers for code that uses Flowyard: a throwaway home, or a server in this loop.

Two ways to keep tests off the real ``~/.flowyard``:

- :func:`flowyard_test_harness` points Flowyard (settings, embedded mode, the CLI) at a
  temporary home for the duration of a ``with`` block, so everything a test records goes
  to a fresh SQLite database and disappears afterwards;
- :func:`in_process_client` builds the server app on a temporary database in the
  *current* event loop and yields an async client wired to it, for async tests that want
  their own server without touching the environment.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

from flowyard.client import FlowyardClient, shutdown_embedded
from flowyard.settings import Settings, cached_settings, get_settings

# Settings that would send a test's records somewhere other than the throwaway home.
CLEARED_VARIABLES = (
    "FLOWYARD_API_URL",
    "FLOWYARD_API_KEY",
    "FLOWYARD_PROFILE",
    "FLOWYARD_DATABASE_URL",
)


@contextlib.contextmanager
def flowyard_test_harness(home: Path | None = None) -> Iterator[Settings]:
    """Run the block against a fresh, temporary Flowyard home, in embedded mode.

    Sets ``FLOWYARD_HOME`` to a new temporary folder (or ``home``) and clears the settings
    that would point elsewhere (``FLOWYARD_API_URL``, ``FLOWYARD_API_KEY``,
    ``FLOWYARD_PROFILE``, ``FLOWYARD_DATABASE_URL``). Flows, clients and CLI commands in the
    block record into a SQLite database there; afterwards the embedded server is shut down,
    the environment restored and the temporary folder removed. Not thread-safe: it changes
    ``os.environ``.

    Args:
        home: use this folder instead of a temporary one (it is kept afterwards).

    Yields:
        The settings in effect inside the block.

    Example::

        with flowyard_test_harness():
            my_flow()
            with get_sync_client() as client:
                assert client.count_flow_runs() == 1
    """
    saved = {name: os.environ.get(name) for name in ("FLOWYARD_HOME", *CLEARED_VARIABLES)}
    with contextlib.ExitStack() as stack:
        if home is None:
            home = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="flowyard-")))
        os.environ["FLOWYARD_HOME"] = str(home)
        for name in CLEARED_VARIABLES:
            os.environ.pop(name, None)
        cached_settings.cache_clear()
        try:
            yield get_settings()
        finally:
            # Close the database before its folder is removed.
            shutdown_embedded()
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
            cached_settings.cache_clear()


@contextlib.asynccontextmanager
async def in_process_client(database_url: str | None = None) -> AsyncIterator[FlowyardClient]:
    """An async client on a server app running in the current event loop.

    The app gets a fresh SQLite database in a temporary folder (or ``database_url``), runs
    its startup (migrations, default workspace) and is shut down on exit. Nothing in the
    environment changes, so several can run side by side.

    Args:
        database_url: a database to use instead of a temporary SQLite file.

    Example::

        async with in_process_client() as client:
            flow = await client.create_flow("etl")
    """
    import httpx

    from flowyard.server.app import create_app

    with tempfile.TemporaryDirectory(prefix="flowyard-") as folder:
        settings = Settings(home=Path(folder), database_url=database_url)
        app = create_app(settings, services=False, in_process=True)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with FlowyardClient("http://flowyard.test/api", transport=transport) as client:
                yield client
