"""``serve()``: a long-running process that runs the scheduled and requested runs of one
or more deployments, each in its own subprocess.

It stores the deployments (upsert), then polls ``/deployments/get_scheduled_flow_runs``
every ``poll_seconds`` for due runs. It claims a run by proposing Pending (the server lets
exactly one claimer have it) and starts ``python -m flowyard.sdk.execute`` for it through
the workers' launcher. A run moved to Cancelling is terminated (TERM, then KILL after a
grace period) and marked Cancelled; a process that dies without reporting an end leaves
its run Crashed. Ctrl-C (or SIGTERM) stops it; with ``pause_on_shutdown`` the deployments
are paused, so their schedules stop making runs nobody will execute.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import signal
import sys
import time
import uuid
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flowyard.client import FlowyardClient
    from flowyard.sdk.deployments import RunnerDeployment
    from flowyard.workers.launcher import FlowRunProcess

logger = logging.getLogger("flowyard.serve")

FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
TOP_UP_SECONDS = 10.0


class Runner:
    """The loop behind :func:`serve`; usable directly with ``await runner.run()``."""

    def __init__(
        self,
        deployments: list[RunnerDeployment],
        *,
        limit: int | None = None,
        pause_on_shutdown: bool = True,
        poll_seconds: float = 0.5,
        grace_seconds: float = 10.0,
    ) -> None:
        self.deployments = deployments
        self.limit = limit
        self.pause_on_shutdown = pause_on_shutdown
        self.poll_seconds = poll_seconds
        self.grace_seconds = grace_seconds
        self.deployment_ids: list[uuid.UUID] = []
        self.paths: dict[uuid.UUID, str | None] = {}
        self.running: dict[uuid.UUID, FlowRunProcess] = {}
        self.watchers: set[asyncio.Task[None]] = set()
        self.stopping = asyncio.Event()
        self.next_top_up = 0.0

    async def run(self) -> None:
        """Store the deployments, then execute their runs until :meth:`stop`."""
        from flowyard.client import get_client, get_sync_client

        def register() -> list[uuid.UUID]:
            with get_sync_client() as sync:
                return [d.apply(sync) for d in self.deployments]

        self.deployment_ids = await asyncio.to_thread(register)
        self.paths = {i: d.path for i, d in zip(self.deployment_ids, self.deployments, strict=True)}
        names = ", ".join(f"{d.flow.name}/{d.name}" for d in self.deployments)
        print(f"Serving {names}. Run one with: flowyard deployment run '<flow>/<name>'", flush=True)
        async with get_client() as client:
            try:
                while not self.stopping.is_set():
                    try:
                        await self._poll(client)
                        await self._watch_cancellations(client)
                    except Exception as exc:  # noqa: BLE001 - keep serving through API hiccups
                        logger.warning("serve: polling failed: %s", exc)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.stopping.wait(), self.poll_seconds)
            finally:
                await self._shutdown(client)

    def stop(self) -> None:
        """Ask the loop to end (from a signal handler or another task)."""
        self.stopping.set()

    async def _poll(self, client: FlowyardClient) -> None:
        if client.embedded and time.monotonic() >= self.next_top_up:
            # No server process, hence no scheduler service: keep the schedules topped up.
            self.next_top_up = time.monotonic() + TOP_UP_SECONDS
            for deployment_id in self.deployment_ids:
                await client.schedule_deployment(deployment_id)
        room = None if self.limit is None else self.limit - len(self.running)
        if room is not None and room <= 0:
            return
        runs = await client.get_scheduled_flow_runs_for_deployments(
            self.deployment_ids, scheduled_before=dt.datetime.now(dt.UTC), limit=room
        )
        for run in runs:
            if run.id not in self.running and not self.stopping.is_set():
                await self._claim_and_start(client, run)

    async def _claim_and_start(self, client: FlowyardClient, run: Any) -> None:
        from flowyard.schemas.states import StateCreate, StateType
        from flowyard.workers.launcher import FlowRunProcess, default_command, infrastructure_pid

        claim = await client.set_flow_run_state(run.id, StateCreate(type=StateType.PENDING))
        if claim.status.value != "ACCEPT":
            return  # another runner or worker has it
        env = dict(os.environ)
        env["FLOWYARD_FLOW_RUN_ID"] = str(run.id)
        if client.api_url and not client.embedded:
            env["FLOWYARD_API_URL"] = client.api_url
        cwd = self.paths.get(run.deployment_id) if run.deployment_id else None
        try:
            process = await FlowRunProcess.start(
                run.id,
                command=default_command(),
                env=env,
                cwd=cwd if cwd and os.path.isdir(cwd) else None,
            )
        except OSError as exc:
            await self._end(client, run.id, StateType.CRASHED, f"Could not start: {exc}")
            return
        self.running[run.id] = process
        print(f"Flow run {run.name!r} ({run.id}) started, pid {process.pid}", flush=True)
        with contextlib.suppress(Exception):
            await client.update_flow_run(run.id, infrastructure_pid=infrastructure_pid(process.pid))
        task = asyncio.create_task(self._see_to_end(client, run.id, process))
        self.watchers.add(task)
        task.add_done_callback(self.watchers.discard)

    async def _see_to_end(
        self, client: FlowyardClient, run_id: uuid.UUID, process: FlowRunProcess
    ) -> None:
        from flowyard.schemas.states import StateType

        code = await process.wait()
        self.running.pop(run_id, None)
        print(f"Flow run {run_id} exited with code {code}", flush=True)
        try:
            run = await client.read_flow_run(run_id)
        except Exception:  # noqa: BLE001 - the run may be gone (deleted)
            return
        state = run.state_type.value if run.state_type else None
        if state in FINAL:
            return
        if state == "CANCELLING" or process.terminated:
            await self._end(
                client, run_id, StateType.CANCELLED, "Cancelled: its process was stopped."
            )
        else:
            await self._end(
                client, run_id, StateType.CRASHED, f"Its process exited with code {code}."
            )

    async def _end(
        self, client: FlowyardClient, run_id: uuid.UUID, kind: Any, message: str
    ) -> None:
        from flowyard.schemas.states import StateCreate

        with contextlib.suppress(Exception):
            await client.set_flow_run_state(
                run_id, StateCreate(type=kind, message=message), force=True
            )

    async def _watch_cancellations(self, client: FlowyardClient) -> None:
        if not self.running:
            return
        from flowyard.schemas.filters import FlowRunFilter, IdFilter, StateFilter, StateTypeFilter
        from flowyard.schemas.limits import MAX_FILTER_ITEMS
        from flowyard.schemas.states import StateType

        running = list(self.running)
        cancelling = []
        # A filter names at most MAX_FILTER_ITEMS ids: ask in slices of that.
        for start in range(0, len(running), MAX_FILTER_ITEMS):
            flt = FlowRunFilter(
                id=IdFilter(any_=running[start : start + MAX_FILTER_ITEMS]),
                state=StateFilter(type=StateTypeFilter(any_=[StateType.CANCELLING])),
            )
            cancelling += await client.read_flow_runs(flow_run_filter=flt)
        for run in cancelling:
            process = self.running.get(run.id)
            if process is not None and not process.terminated:
                print(f"Flow run {run.id} is being cancelled: stopping its process", flush=True)
                task = asyncio.create_task(self._terminate(process))
                self.watchers.add(task)
                task.add_done_callback(self.watchers.discard)

    async def _terminate(self, process: FlowRunProcess) -> None:
        await process.terminate(self.grace_seconds)

    async def _shutdown(self, client: FlowyardClient) -> None:
        for process in list(self.running.values()):
            await process.terminate(self.grace_seconds)
        if self.watchers:
            await asyncio.wait(list(self.watchers), timeout=self.grace_seconds + 5)
        if self.pause_on_shutdown:
            for deployment_id in self.deployment_ids:
                with contextlib.suppress(Exception):
                    await client.update_deployment(deployment_id, paused=True)
            names = ", ".join(f"{d.flow.name}/{d.name}" for d in self.deployments)
            print(
                f"Stopped serving. Paused {names}: their scheduled runs are removed until they "
                "are served again (or resumed: flowyard deployment resume <flow>/<name>).",
                flush=True,
            )
            return
        print("Stopped serving.", flush=True)


async def aserve(*deployments: RunnerDeployment, **options: Any) -> None:
    """:func:`serve` for a running event loop."""
    runner = Runner(list(deployments), **options)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, runner.stop)
    await runner.run()


def serve(
    *deployments: RunnerDeployment,
    limit: int | None = None,
    pause_on_shutdown: bool = True,
    poll_seconds: float = 0.5,
) -> None:
    """Serve several deployments in this process until Ctrl-C:
    ``serve(etl.to_deployment("nightly", cron="0 2 * * *"), report.to_deployment("hourly",
    interval=3600))``.

    Args:
        deployments: made with ``flow.to_deployment(...)``.
        limit: at most this many runs at once.
        pause_on_shutdown: pause the deployments when stopping.
        poll_seconds: how often to look for due runs.
    """
    if not deployments:
        raise ValueError("serve() needs at least one deployment (flow.to_deployment(...)).")
    try:
        asyncio.run(
            aserve(
                *deployments,
                limit=limit,
                pause_on_shutdown=pause_on_shutdown,
                poll_seconds=poll_seconds,
            )
        )
    except KeyboardInterrupt:
        sys.stderr.write("Interrupted.\n")
