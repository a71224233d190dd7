"""``flowyard server start`` and ``flowyard server database upgrade|downgrade|reset``."""

from __future__ import annotations

import socket
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated

import typer

from flowyard.cli.output import fail, success

if TYPE_CHECKING:
    from flowyard.server.database.engine import Database
    from flowyard.settings import Settings

server_app = typer.Typer(help="Run the Flowyard server.", no_args_is_help=True)
database_app = typer.Typer(help="Manage the server's database.", no_args_is_help=True)
server_app.add_typer(database_app, name="database")

# Hosts that mean "every interface": clients reach them on loopback.
WILDCARD_HOSTS = {"0.0.0.0", "::", ""}


@server_app.command()
def start(
    host: Annotated[
        str | None, typer.Option(help="Interface to listen on [default: FLOWYARD_SERVER_HOST].")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Port to listen on [default: FLOWYARD_SERVER_PORT].")
    ] = None,
    services: Annotated[
        bool, typer.Option("--services/--no-services", help="Run the background services.")
    ] = True,
    access_log: Annotated[bool, typer.Option(help="Log every request.")] = False,
) -> None:
    """Start the API server (and the UI) on the database under FLOWYARD_HOME."""
    from flowyard.settings import get_settings

    settings = get_settings()
    host = settings.server_host if host is None else host
    port = settings.server_port if port is None else port
    _require_key_off_loopback(settings, host)
    # The app trusts the Host name it listens on (see server/auth/hosts.py).
    settings = settings.model_copy(update={"server_host": host})
    # Bound here, before the (slower) app import, so a taken port is one clear line and
    # port 0 can be resolved to the real port for the banner.
    sock = _listen(host, port)
    port = sock.getsockname()[1]
    # Printed before the app is imported: the user learns where to connect at once.
    _banner(settings, host, port)

    import uvicorn

    from flowyard.server.app import create_app

    app = create_app(settings, services=services, tune_gc=True)
    config = uvicorn.Config(
        app,
        log_level=settings.logging_level.lower(),
        access_log=access_log,
        lifespan="on",
        timeout_graceful_shutdown=10,
    )
    server = uvicorn.Server(config)
    from flowyard.server.database.wakeups import end_long_polls_on_exit

    end_long_polls_on_exit(server)  # workers' long-polls must not hold up a shutdown
    server.run(sockets=[sock])


def _require_key_off_loopback(settings: Settings, host: str) -> None:
    """Anyone who can reach the API can run code on the workers: off loopback, not without
    a key."""
    from flowyard.server.auth.hosts import host_name, is_loopback

    if settings.server_api_key is not None or is_loopback(host_name(host)):
        return
    fail(
        f"Refusing to listen on {host or 'every interface'} without a server API key: anyone "
        "who can reach the server could read its runs and start code on its workers. Set "
        "FLOWYARD_SERVER_API_KEY (and give clients the same key as FLOWYARD_API_KEY), or "
        "listen on 127.0.0.1."
    )


def _listen(host: str, port: int) -> socket.socket:
    if not 0 <= port <= 65535:
        fail(f"Invalid port {port}: expected 0-65535.")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio only disables Nagle's algorithm (TCP_NODELAY) on
    # sockets whose protocol is TCP; without it every response waits ~40 ms for an ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        fail(f"Cannot listen on {host}:{port}: {exc.strerror or exc}.")
    sock.set_inheritable(True)
    return sock


def _banner(settings: Settings, host: str, port: int) -> None:
    from flowyard import __version__
    from flowyard.cli.output import mask_url_password

    shown = "127.0.0.1" if host in WILDCARD_HOSTS else host
    if ":" in shown:
        shown = f"[{shown}]"
    base = f"http://{shown}:{port}"
    lines = [
        f"Flowyard server {__version__}",
        f"  API:      {base}/api",
        f"  Docs:     {base}/docs",
        f"  Database: {mask_url_password(settings.resolved_database_url)}",
        "",
        "Point the flowyard client at this server with:",
        f"  {_this_flowyard()} config set FLOWYARD_API_URL={base}/api",
        "(the official prefect client: PREFECT_API_URL=" + base + "/api)",
        "",
    ]
    if settings.server_api_key is not None:
        lines[-1:-1] = [
            "The API needs the server's key (FLOWYARD_SERVER_API_KEY): set it as",
            "FLOWYARD_API_KEY (the official client: PREFECT_API_AUTH_STRING).",
        ]
    typer.echo("\n".join(lines))
    sys.stdout.flush()  # seen at once even when stdout is a pipe


def _this_flowyard() -> str:
    """How to run this very ``flowyard`` from the user's shell: ``flowyard`` when that is
    what the PATH finds, else its path (``.venv/bin/flowyard`` after ``make run``, whose
    venv is not activated), so that the command printed works when pasted."""
    import shutil
    from pathlib import Path

    here = Path(sys.executable).parent / "flowyard"  # not resolved: a venv's python is a link
    found = shutil.which("flowyard")
    if not here.exists() or (found is not None and Path(found).resolve() == here.resolve()):
        return "flowyard"
    try:
        return str(here.relative_to(Path.cwd()))
    except ValueError:
        return str(here)


def _run_on_database(action: Callable[[Database], Awaitable[None]]) -> str:
    import asyncio

    from flowyard.cli.output import mask_url_password
    from flowyard.server.database.engine import Database
    from flowyard.settings import get_settings

    settings = get_settings()

    async def run() -> None:
        db = Database(
            settings.resolved_database_url,
            echo=settings.database_echo,
            sqlite_synchronous=settings.database_sqlite_synchronous,
            write_wait_seconds=settings.database_write_wait_seconds,
        )
        try:
            await action(db)
        finally:
            await db.dispose()

    asyncio.run(run())
    return mask_url_password(settings.resolved_database_url)


def _database_label() -> str:
    from flowyard.cli.output import mask_url_password
    from flowyard.settings import get_settings

    return mask_url_password(get_settings().resolved_database_url)


def _confirm(question: str, yes: bool) -> None:
    if not yes and not typer.confirm(question, default=False):
        fail("Aborted; nothing was changed.")


YesOption = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]


@database_app.command()
def upgrade() -> None:
    """Migrate the database to the latest schema."""
    from flowyard.server.database.migrations import upgrade_to_head

    url = _run_on_database(upgrade_to_head)
    success(f"Database at {url} is up to date.")


@database_app.command()
def downgrade(
    revision: Annotated[
        str, typer.Option(help="Revision to go down to; 'base' drops every table.")
    ] = "base",
    yes: YesOption = False,
) -> None:
    """Migrate the database down to an older schema (may delete data)."""
    from flowyard.server.database.migrations import downgrade as downgrade_to

    _confirm(
        f"Downgrade the database at {_database_label()} to revision {revision!r}? "
        "Data may be lost.",
        yes,
    )
    url = _run_on_database(lambda db: downgrade_to(db, revision))
    success(f"Database at {url} downgraded to {revision!r}.")


@database_app.command()
def reset(yes: YesOption = False) -> None:
    """Drop every table and recreate the schema: ALL DATA IS LOST."""
    from flowyard.server.database.migrations import reset as reset_database

    _confirm(
        f"Reset the database at {_database_label()}? Every table is dropped and all data "
        "is lost.",
        yes,
    )
    url = _run_on_database(reset_database)
    success(f"Database at {url} was reset.")
