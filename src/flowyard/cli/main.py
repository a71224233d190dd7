"""The ``flowyard`` command: the root app, error handling, and ``flowyard version``.

Every failure a user can cause or meet (bad input, an unreachable server, a missing run)
is a ``FlowyardError``; the root group turns it into one red ``Error: ...`` line and exit
code 1, never a traceback. Command modules import the client and the server inside their
functions, so ``flowyard --help`` stays fast.
"""

from __future__ import annotations

from typing import Any, NoReturn

import typer

# Typer vendors click since 0.29; its exceptions are what a command line error raises.
from typer._click.core import Context
from typer._click.exceptions import NoArgsIsHelpError, UsageError
from typer.core import TyperGroup

from flowyard.cli import (
    automations,
    blocks,
    concurrency_limits,
    config,
    deployments,
    flow_runs,
    flows,
    profiles,
    server,
    work_pools,
    workers,
)
from flowyard.cli.output import error_line
from flowyard.cli.plain_help import plain_help
from flowyard.exceptions import FlowyardError


class FlowyardGroup(TyperGroup):
    """The root group: every subcommand runs inside its ``invoke``, so errors end here."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        plain_help(self)  # before --help is parsed: plain metavars in every command's help
        try:
            return super().main(*args, **kwargs)
        except BrokenPipeError:
            _reader_went_away()

    def invoke(self, ctx: Context) -> Any:
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            _reader_went_away()
        except FlowyardError as exc:
            error_line(str(exc))
            raise typer.Exit(1) from None
        except NoArgsIsHelpError:
            raise  # `flowyard config` alone: click shows the group's help
        except UsageError as exc:
            # One line instead of click's usage box; exit code 2 as click has it.
            hint = ""
            if exc.ctx is not None:
                hint = f" Try '{exc.ctx.command_path} --help'."
            error_line(f"{exc.format_message()}{hint}")
            raise typer.Exit(2) from None
        except OSError as exc:
            error_line(str(exc))
            raise typer.Exit(1) from None
        except Exception as exc:
            # The client maps httpx errors to ServerUnavailable; should one slip through,
            # it is still one line. Matched by module so that httpx is not imported here.
            if type(exc).__module__.split(".")[0] != "httpx":
                raise
            error_line(f"{type(exc).__name__}: {exc}")
            raise typer.Exit(1) from None


def _reader_went_away() -> NoReturn:
    """Whoever read our output stopped (``flowyard flow-run ls | head -3``): that is not an
    error to report. Later writes, and the flush at exit, go nowhere instead of raising
    again; the exit code is a shell's for a command ended by SIGPIPE. (Not SIGPIPE's default
    action, process-wide: a worker must survive a run's process closing its pipe.)"""
    import os
    import sys

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass  # stdout is not a real file (tests): nothing will flush into the closed pipe
    raise SystemExit(128 + 13)


app = typer.Typer(
    name="flowyard",
    cls=FlowyardGroup,
    help="Flowyard: workflow orchestration for Python.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # locals may hold API keys
    add_completion=False,
    # Plain click help: rendering it with rich costs more than everything else `--help` does.
    rich_markup_mode=None,
)
app.add_typer(config.config_app, name="config")
app.add_typer(profiles.profile_app, name="profile")
app.add_typer(server.server_app, name="server")
app.add_typer(flows.flow_app, name="flow")
app.add_typer(flow_runs.flow_run_app, name="flow-run")
app.add_typer(blocks.block_app, name="block")
app.add_typer(work_pools.work_pool_app, name="work-pool")
app.add_typer(workers.worker_app, name="worker")
app.add_typer(deployments.deployment_app, name="deployment")
app.add_typer(concurrency_limits.tag_limit_app, name="concurrency-limit")
app.add_typer(concurrency_limits.global_limit_app, name="global-concurrency-limit")
app.add_typer(automations.automation_app, name="automation")


@app.command()
def version() -> None:
    """Show the Flowyard version, the API it speaks and where it connects."""
    import platform

    from flowyard import __version__
    from flowyard.cli.output import mask_url_password
    from flowyard.client._versions import API_VERSION, COMPATIBLE_PREFECT_VERSION
    from flowyard.settings import active_profile_name, get_settings

    settings = get_settings()
    if settings.api_url:
        target = ("API URL", settings.api_url)
    else:
        target = ("Database", f"{mask_url_password(settings.resolved_database_url)} (embedded)")
    rows = [
        ("Version", __version__),
        ("API version", f"{API_VERSION} (Prefect {COMPATIBLE_PREFECT_VERSION} compatible)"),
        ("Python", platform.python_version()),
        ("Platform", platform.platform()),
        ("Profile", active_profile_name()),
        target,
    ]
    for label, value in rows:
        typer.echo(f"{label + ':':<14}{value}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
