"""The event pipeline: a bounded queue in front of batched writes.

Events arriving on websockets are not acknowledged one by one, so they can be written in
batches: each connection puts events on one bounded queue (when it is full, ``publish``
waits, the connection stops reading its socket and TCP pushes back on the client -- memory
never grows without bound), and one consumer takes up to ``batch_size`` events at a time and
writes them in a single transaction: the events themselves (duplicates ignored) and the task
runs they describe (:mod:`flowyard.server.events.recorder`).

``drain()`` waits until everything published so far is written; tests and the testing
harness use it to wait for idle, and ``stop()`` drains before it returns, so a clean
shutdown loses nothing. Listeners registered with ``add_listener`` see each batch after it
is committed (live streams, triggers).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from flowyard.schemas import core
from flowyard.server.database.engine import Database
from flowyard.server.database.types import utcnow
from flowyard.server.errors import Unavailable
from flowyard.server.events.recorder import record_task_runs
from flowyard.server.queries import events as event_queries

logger = logging.getLogger("flowyard.server.events")

Published = tuple[uuid.UUID, core.Event]
Listener = Callable[[Sequence[Published]], Awaitable[None]]

DEFAULT_QUEUE_SIZE = 10_000
DEFAULT_BATCH_SIZE = 500
WRITE_ATTEMPTS = 3


async def write_events(session: AsyncSession, batch: Sequence[Published]) -> None:
    """Store a batch of (workspace, event) pairs and record the task runs they describe.

    A task-run state event the recorder takes is kept as its ``task_run_state`` row (same
    id, same state: ``queries.task_run_events`` reads it back as the event) rather than also
    as an ``event`` row, which would double the bytes of every task run. Every other event --
    including a task-run event the recorder could not use -- is stored.
    """
    received = utcnow()
    by_workspace: dict[uuid.UUID, list[core.Event]] = {}
    for workspace_id, event in batch:
        by_workspace.setdefault(workspace_id, []).append(event)
    recorded: set[uuid.UUID] = set()
    for workspace_id, events in by_workspace.items():
        recorded |= await record_task_runs(session, workspace_id, events)
    rows: list[dict[str, Any]] = [
        event_queries.event_row(workspace_id, event, received)
        for workspace_id, event in batch
        if event.id not in recorded
    ]
    await event_queries.create_events(session, rows)


class EventPipeline:
    def __init__(
        self,
        db: Database,
        *,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        self.db = db
        self.batch_size = batch_size
        self._queue: asyncio.Queue[Published] = asyncio.Queue(maxsize=queue_size)
        self._consumer: asyncio.Task[None] | None = None
        self._listeners: list[Listener] = []

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)
        # Events that writers emit with their changes (queries.outbox) reach the same
        # listeners as ingested ones, once committed. Only once someone listens: the
        # announced task-run events are built only for listeners.
        self.db.add_commit_listener(self.notify)

    async def publish(self, workspace_id: uuid.UUID, event: core.Event) -> None:
        """Queue one event; waits while the queue is full (that wait is the backpressure)."""
        await self._queue.put((workspace_id, event))

    async def drain(self) -> None:
        """Return once every event published before this call has been written."""
        await self._queue.join()

    async def start(self) -> None:
        if self._consumer is None:
            self._consumer = asyncio.create_task(self._consume(), name="flowyard-event-pipeline")

    async def stop(self) -> None:
        self.db.remove_commit_listener(self.notify)
        if self._consumer is None:
            return
        await self.drain()
        self._consumer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._consumer
        self._consumer = None

    async def _consume(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self.batch_size:
                try:
                    batch.append(self._queue.get_nowait())
                except asyncio.QueueEmpty:
                    break
            try:
                await self._write_with_retries(batch)
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _write_with_retries(self, batch: list[Published]) -> None:
        for attempt in range(WRITE_ATTEMPTS):
            try:
                await self._write(batch)
            except asyncio.CancelledError:
                raise
            except Exception:
                if attempt == WRITE_ATTEMPTS - 1:
                    break
                # Transient (a lost connection, a unique race with POST /task_runs): retry.
                logger.warning("Event batch write failed; retrying", exc_info=True)
                await asyncio.sleep(0.05 * 2**attempt)
                continue
            await self.notify(batch)
            return
        # Still failing: one bad event must not sink its neighbours. Write them one by one.
        for item in batch:
            try:
                await self._write([item])
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("Dropping event %s that cannot be stored", item[1].id)
                continue
            await self.notify([item])

    async def _write(self, batch: list[Published]) -> None:
        while True:
            try:
                async with self.db.write() as session:
                    await write_events(session, batch)
                return
            except Unavailable:
                # The writer is busy, not the batch bad: wait as long as it takes (the
                # bounded queue in front pushes back on the publishers meanwhile).
                logger.warning("Event batch waiting for the database writer")

    async def notify(self, batch: Sequence[Published]) -> None:
        for listener in self._listeners:
            try:
                await listener(batch)
            except Exception:
                logger.exception("Event listener %r failed", listener)


@contextlib.asynccontextmanager
async def event_pipeline(app: Any) -> AsyncIterator[EventPipeline]:
    """Run the app's pipeline for the lifespan; on exit, drain it so nothing is lost."""
    pipeline = EventPipeline(app.state.db)
    app.state.event_pipeline = pipeline
    await pipeline.start()
    try:
        yield pipeline
    finally:
        await pipeline.stop()
