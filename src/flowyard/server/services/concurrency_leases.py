"""The lease reaper: gives back the slots of concurrency leases nobody renewed.

A client that dies while holding slots never releases them; its lease expires instead, and
this loop returns the slots. Increments also sweep their own workspace lazily, so a full
limit frees up even between two passes of this loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from flowyard.server.database.engine import Database
from flowyard.server.database.types import utcnow
from flowyard.server.queries.concurrency_limits import release_expired_leases

logger = logging.getLogger("flowyard.server.services.concurrency_leases")

LOOP_SECONDS = 15.0
Stop = Callable[[], Awaitable[None]]
BATCH = 1000


async def reap_expired_leases(db: Database) -> int:
    """One pass: release expired leases in batches until none are left. Returns how many."""
    total = 0
    while True:
        async with db.write() as session:
            released = await release_expired_leases(session, utcnow(), batch=BATCH)
        total += released
        if released < BATCH:
            return total


async def start(app: Any, interval: float | None = None) -> Stop:
    db: Database = app.state.db
    if interval is None:
        settings = getattr(app.state, "settings", None)
        interval = (
            settings.server_services_concurrency_leases_loop_seconds if settings else LOOP_SECONDS
        )
    every: float = interval

    async def loop() -> None:
        while True:
            try:
                released = await reap_expired_leases(db)
                if released:
                    logger.info("Released %d expired concurrency leases", released)
            except Exception:
                logger.exception("Releasing expired concurrency leases failed")
            await asyncio.sleep(every)

    task = asyncio.create_task(loop(), name="flowyard-lease-reaper")

    async def stop() -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return stop
