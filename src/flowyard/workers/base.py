"""The worker loop: heartbeat, long-poll, claim, launch, watch, cancel.

A worker polls its pool with ``get_scheduled_flow_runs`` and Flowyard's ``wait_seconds``
(the server holds the request until a run is due), so a run starts within moments of its
scheduled time rather than at the next tick of a poll interval. Each offered run is claimed
by proposing Pending: orchestration accepts one claimer and ABORTs any other, so two workers
on one pool never start the same run. Subclasses say how a claimed run is started
(:meth:`BaseWorker.launch`); this class follows the process to its end: a non-zero exit of a
run that is not finished makes it Crashed, and a run moved to Cancelling is terminated and
made Cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import uuid
from collections.abc import Coroutine
from typing import Any

from flowyard.client import FlowyardClient, get_client
from flowyard.exceptions import (
    ClientError,
    ObjectAlreadyExists,
    ObjectNotFound,
    ServerUnavailable,
)
from flowyard.schemas.filters import FlowRunFilter, IdFilter
from flowyard.schemas.limits import MAX_FILTER_ITEMS
from flowyard.schemas.states import SetStateStatus, StateCreate, StateType
from flowyard.schemas.work_pools import WorkerFlowRunResponse
from flowyard.workers.launcher import FlowRunProcess

logger = logging.getLogger("flowyard.worker")

REFUSED_PAUSE_SECONDS = 0.5
FINAL = {StateType.COMPLETED, StateType.FAILED, StateType.CANCELLED, StateType.CRASHED}


def _retrieve(task: asyncio.Task[Any]) -> None:
    # A preparation dropped because the claim failed: its error does not matter.
    if not task.cancelled():
        task.exception()


class BaseWorker:
    """Takes the due runs of one work pool and runs them, at most ``limit`` at a time.

    Args:
        work_pool_name: the pool to poll (created, as a ``process`` pool, if missing).
        name: this worker's name in the pool (unique per pool).
        limit: at most this many runs at once (no limit when None).
        work_queues: poll only these queues of the pool (all when not given).
        heartbeat_seconds: how often to tell the server this worker is alive.
        poll_wait_seconds: how long one long-poll may wait for a due run.
        cancel_check_seconds: how often to look for this worker's runs being cancelled.
        grace_seconds: after SIGTERM, how long a run's process has before SIGKILL.
        client: the API client to use (one from the settings when not given).
    """

    type = "process"

    def __init__(
        self,
        work_pool_name: str,
        *,
        name: str | None = None,
        limit: int | None = None,
        work_queues: list[str] | None = None,
        heartbeat_seconds: int = 30,
        poll_wait_seconds: float = 20.0,
        cancel_check_seconds: float = 1.0,
        grace_seconds: float = 10.0,
        client: FlowyardClient | None = None,
    ) -> None:
        if limit is not None and limit < 1:
            raise ValueError("limit: must be at least 1")
        self.work_pool_name = work_pool_name
        self.name = name or f"{self.type}-worker-{uuid.uuid4().hex[:8]}"
        self.limit = limit
        self.work_queues = work_queues
        self.heartbeat_seconds = heartbeat_seconds
        self.poll_wait_seconds = poll_wait_seconds
        self.cancel_check_seconds = cancel_check_seconds
        self.grace_seconds = grace_seconds
        self._client = client
        self._owns_client = client is None
        self.running: dict[uuid.UUID, FlowRunProcess] = {}
        self._watchers: set[asyncio.Task[None]] = set()
        self._cancelling: set[uuid.UUID] = set()
        self._stop = asyncio.Event()
        self._slot_freed = asyncio.Event()
        self.started_runs: list[uuid.UUID] = []

    @property
    def client(self) -> FlowyardClient:
        if self._client is None:
            self._client = get_client()
        return self._client

    # --- to be provided by a worker type ---------------------------------------------

    async def prepare(self, offered: WorkerFlowRunResponse) -> Any:
        """Gather what starting the run needs (read while the claim is in flight)."""
        return None

    async def launch(self, offered: WorkerFlowRunResponse, prepared: Any) -> FlowRunProcess:
        """Start the claimed run's process."""
        raise NotImplementedError

    async def teardown(self) -> None:
        """Release what the worker type holds, after the runs are shut down."""

    async def finished(self, run_id: uuid.UUID) -> None:
        """The run's process has ended and its state is settled: clean up after it."""

    async def setup(self) -> None:
        """Make sure the pool exists (subclasses may also read its template)."""
        try:
            await self.client.read_work_pool(self.work_pool_name)
        except ObjectNotFound:
            try:
                await self.client.create_work_pool(self.work_pool_name, type=self.type)
                logger.info("Created work pool %r.", self.work_pool_name)
            except ObjectAlreadyExists:
                # Another worker started on the new pool at the same time and created it
                # first: it exists, which is all we wanted.
                await self.client.read_work_pool(self.work_pool_name)

    # --- the loop --------------------------------------------------------------------

    def stop(self) -> None:
        """Ask :meth:`run` to stop taking runs and shut down."""
        self._stop.set()

    async def run(self) -> None:
        """Run until :meth:`stop` (or cancellation): then stop taking runs, terminate the
        processes still running (their runs end as their engine records, or Crashed) and
        return."""
        try:
            await self.setup()
            await self.heartbeat()
            tasks = [
                asyncio.create_task(self._heartbeat_loop()),
                asyncio.create_task(self._cancel_loop()),
                asyncio.create_task(self._poll_loop()),
            ]
            try:
                await self._stop.wait()
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                await self._shutdown_runs()
                await self.teardown()
        finally:
            if self._owns_client and self._client is not None:
                await self._client.aclose()

    async def heartbeat(self) -> None:
        await self.client.send_worker_heartbeat(
            self.work_pool_name, self.name, self.heartbeat_seconds
        )

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_seconds)
            try:
                await self.heartbeat()
            except ClientError as exc:
                logger.warning("Heartbeat failed: %s", exc)

    def background(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` beside the loop; shutdown waits for it."""
        task = asyncio.create_task(work)
        self._watchers.add(task)
        task.add_done_callback(self._watchers.discard)

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def _free_slots(self) -> int | None:
        return None if self.limit is None else self.limit - len(self.running)

    async def _poll_loop(self) -> None:
        while True:
            free = self._free_slots()
            if free is not None and free <= 0:
                self._slot_freed.clear()
                await self._slot_freed.wait()
                continue
            try:
                offered = await self.client.get_scheduled_flow_runs(
                    self.work_pool_name,
                    work_queue_names=self.work_queues,
                    scheduled_before=dt.datetime.now(dt.UTC),
                    limit=free,
                    wait_seconds=self.poll_wait_seconds,
                )
            except ServerUnavailable as exc:
                logger.warning("Polling work pool %r failed: %s", self.work_pool_name, exc)
                await asyncio.sleep(2.0)
                continue
            except ClientError as exc:
                logger.error("Polling work pool %r failed: %s", self.work_pool_name, exc)
                await asyncio.sleep(5.0)
                continue
            claimed = 0
            for item in offered:
                free = self._free_slots()
                if free is not None and free <= 0:
                    break
                if item.flow_run.id not in self.running:
                    claimed += await self._submit(item)
            if offered and not claimed:
                # Every run offered was refused to us (taken by another worker, or held by
                # orchestration): ask again shortly, not in a tight loop.
                await asyncio.sleep(REFUSED_PAUSE_SECONDS)

    async def _submit(self, offered: WorkerFlowRunResponse) -> bool:
        """Claim and start one run; whether it was ours to start."""
        run_id = offered.flow_run.id
        preparing = asyncio.create_task(self.prepare(offered))
        preparing.add_done_callback(_retrieve)
        try:
            result = await self.client.set_flow_run_state(
                run_id, StateCreate(type=StateType.PENDING)
            )
        except ClientError as exc:
            logger.warning("Could not claim flow run %s: %s", run_id, exc)
            preparing.cancel()
            return False
        if result.status != SetStateStatus.ACCEPT:
            preparing.cancel()
            return False  # another worker took it, or it is not due yet
        try:
            process = await self.launch(offered, await preparing)
        except Exception as exc:
            logger.exception("Could not start flow run %s", run_id)
            await self._propose(run_id, StateType.CRASHED, f"The worker could not start it: {exc}")
            return True
        self.running[run_id] = process
        self.started_runs.append(run_id)
        logger.info("Started flow run %s (pid %s).", run_id, process.pid)
        self.background(self._watch(run_id, process))
        return True

    async def _watch(self, run_id: uuid.UUID, process: FlowRunProcess) -> None:
        try:
            code = await process.wait()
            await self._settle(run_id, code)
            await self.finished(run_id)
        finally:
            self.running.pop(run_id, None)
            self._cancelling.discard(run_id)
            self._slot_freed.set()

    async def _settle(self, run_id: uuid.UUID, code: int) -> None:
        """After the process ended: record what its engine could not."""
        try:
            run = await self.client.read_flow_run(run_id)
        except ClientError as exc:
            logger.warning("Could not read flow run %s after it exited: %s", run_id, exc)
            return
        state = run.state.type if run.state else None
        if state == StateType.CRASHED and run_id in self._cancelling:
            # The official engine records a SIGTERM nobody warned it of as a crash (its own
            # worker warns it over a private channel first): this one was the cancellation.
            await self._propose(
                run_id, StateType.CANCELLED, "The flow run was cancelled.", force=True
            )
            return
        if state in FINAL:
            return
        if run_id in self._cancelling or state == StateType.CANCELLING:
            await self._propose(run_id, StateType.CANCELLED, "The flow run was cancelled.")
        elif code != 0:
            reason = f"signal {-code}" if code < 0 else f"exit code {code}"
            message = f"The flow run's process ended with {reason}."
            if self._stop.is_set():
                message += " The worker was shutting down."
            logger.warning("Flow run %s: %s", run_id, message)
            await self._propose(run_id, StateType.CRASHED, message)

    async def _propose(
        self, run_id: uuid.UUID, state_type: StateType, message: str, *, force: bool = False
    ) -> None:
        try:
            await self.client.set_flow_run_state(
                run_id, StateCreate(type=state_type, message=message), force=force
            )
        except ClientError as exc:
            logger.warning("Could not set flow run %s to %s: %s", run_id, state_type, exc)

    async def _cancel_loop(self) -> None:
        while True:
            await asyncio.sleep(self.cancel_check_seconds)
            ids = [i for i in self.running if i not in self._cancelling]
            if not ids:
                continue
            runs = []
            try:
                # A filter names at most MAX_FILTER_ITEMS ids: ask in slices of that.
                for start in range(0, len(ids), MAX_FILTER_ITEMS):
                    chunk = ids[start : start + MAX_FILTER_ITEMS]
                    runs += await self.client.read_flow_runs(
                        flow_run_filter=FlowRunFilter(id=IdFilter(any_=chunk)), limit=len(chunk)
                    )
            except ClientError as exc:
                logger.warning("Could not check for cancelled runs: %s", exc)
                continue
            for run in runs:
                if run.state is not None and run.state.type == StateType.CANCELLING:
                    self._cancel(run.id)

    def _cancel(self, run_id: uuid.UUID) -> None:
        process = self.running.get(run_id)
        if process is None or run_id in self._cancelling:
            return
        self._cancelling.add(run_id)
        logger.info("Flow run %s was cancelled: stopping its process.", run_id)
        self.background(self._terminate(process))

    async def _terminate(self, process: FlowRunProcess) -> None:
        await process.terminate(self.grace_seconds)

    async def _shutdown_runs(self) -> None:
        for process in list(self.running.values()):
            with contextlib.suppress(Exception):
                await process.terminate(self.grace_seconds)
        # Let the watchers record what the processes left unfinished.
        if self._watchers:
            await asyncio.wait(list(self._watchers), timeout=self.grace_seconds + 10)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "pool": self.work_pool_name, "limit": self.limit}
