"""The automations service: the trigger engine on the committed-event stream, and the
periodic pass that checks proactive deadlines and notices automations another server
process changed."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from flowyard.server.database.engine import Database
from flowyard.server.events.actions import ActionRunner
from flowyard.server.events.triggers import TriggerEngine
from flowyard.server.services.registry import Stop

logger = logging.getLogger("flowyard.server.services.automations")


def build_engine(db: Database, settings: Any) -> TriggerEngine:
    return TriggerEngine(
        db, ActionRunner(db),
        max_firings_per_minute=settings.server_automations_max_firings_per_minute,
    )  # fmt: skip


async def start(app: Any) -> Stop:
    db: Database = app.state.db
    settings = app.state.settings
    engine = build_engine(db, settings)
    app.state.trigger_engine = engine
    await engine.start()
    interval: float = settings.server_services_automations_loop_seconds

    async def loop() -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await engine.refresh_if_changed_elsewhere()
                await engine.check_deadlines()
            except Exception:
                logger.exception("Checking proactive automations failed")

    task = asyncio.create_task(loop(), name="flowyard-automations")

    async def stop() -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await engine.stop()

    return stop
