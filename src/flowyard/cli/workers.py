"""``flowyard worker start --pool P [--limit N] [--name NAME] [--queue Q]``."""

from __future__ import annotations

from typing import Annotated

import typer

worker_app = typer.Typer(
    help="Run workers that take flow runs from a work pool.", no_args_is_help=True
)


@worker_app.command()
def start(
    pool: Annotated[str, typer.Option("--pool", "-p", help="The work pool to take runs from.")],
    limit: Annotated[
        int | None, typer.Option(min=1, help="Run at most this many flow runs at once.")
    ] = None,
    name: Annotated[str | None, typer.Option(help="This worker's name in the pool.")] = None,
    queue: Annotated[
        list[str] | None, typer.Option("--queue", "-q", help="Only this queue; repeatable.")
    ] = None,
    type: Annotated[str, typer.Option("--type", "-t", help="The worker type.")] = "process",
    warm: Annotated[
        bool,
        typer.Option(
            "--warm/--no-warm",
            help="Keep an interpreter ready for the next run, so that it starts sooner.",
        ),
    ] = True,
) -> None:
    """Start a worker: it polls the pool, runs each due flow run in a subprocess, and stops
    on Ctrl-C (terminating the runs it started)."""
    import asyncio
    import logging
    import signal

    from flowyard.cli.output import fail
    from flowyard.workers.process import ProcessWorker

    if type != "process":
        fail(f"--type: unknown worker type {type!r}; this worker runs 'process' pools.")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise
    worker = ProcessWorker(pool, name=name, limit=limit, work_queues=queue or None, warm=warm)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, worker.stop)
        typer.echo(f"Worker {worker.name!r} started on work pool {pool!r}.")
        await worker.run()
        typer.echo(f"Worker {worker.name!r} stopped.")

    asyncio.run(main())
