"""The trigger engine: a listener of the committed-event stream that fires automations.

Each committed batch is matched in memory against the enabled automations' event triggers
(``trigger_matching``); the events that concern a trigger are counted into its bucket in
the database (``queries.automation_state``), in one write transaction per batch. A bucket
is a trigger's window for one value of its ``for_each`` labels:

- Reactive: ``threshold`` expected events within ``within`` seconds (after an ``after``
  event when it names some) fire the automation; the bucket starts over.
- Proactive: the periodic :meth:`TriggerEngine.check_deadlines` fires when a window ends
  with fewer than ``threshold`` expected events; when they come again, it resolves.
- Compound and sequence triggers keep the firings of their children in a bucket of their
  own, and fire when enough of them (all, any, N; or each in order) fired within ``within``.

Everything a restart must not lose is in the database: counts, windows, proactive deadlines,
the children fired so far. What lives only in memory is the compiled index of the enabled
automations (rebuilt from the database on start, on every ``prefect.automation.*`` change
this process commits, and when the periodic check sees another process changed one) and
the queue of events waiting to be evaluated: events committed but not yet evaluated when
the process dies are not evaluated (the official server loses them too; a durable cursor
over the event table would close that gap).

A firing is a row claimed by a unique key (``claim_firing``): the process whose insert
wins runs the actions, once, after the firing's transaction commits. A process that dies
between that commit and its actions leaves them not run (the firing row and its
``prefect.automation.triggered`` event say it fired; nothing retries it yet). An automation firing
more than ``max_firings_per_minute`` times in the last minute has its firing recorded as
``throttled`` and its actions held back; the first such firing of a minute emits
``prefect.automation.throttled``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from flowyard.schemas import core
from flowyard.schemas.automations import Automation, CompoundTrigger, EventTrigger
from flowyard.server.database.engine import Database
from flowyard.server.database.orm_automations import AutomationBucket
from flowyard.server.database.types import new_id, utcnow
from flowyard.server.events.trigger_matching import Composite, Leaf, LeafIndex
from flowyard.server.queries import automation_state as state
from flowyard.server.queries import automations as automation_queries
from flowyard.server.queries import outbox

logger = logging.getLogger("flowyard.server.events.triggers")

Published = tuple[uuid.UUID, core.Event]
TriggerState = Literal["triggered", "resolved"]
LIFECYCLE = ("prefect.automation.created", "prefect.automation.updated",
             "prefect.automation.deleted")  # fmt: skip
FOREVER = dt.timedelta(days=3660)
THROTTLE_WINDOW = dt.timedelta(minutes=1)


@dataclass(frozen=True)
class Firing:
    """An automation that fired (or resolved), claimed by this process: run its actions."""

    automation: Automation
    workspace_id: uuid.UUID
    state: TriggerState
    triggering_event: core.Event | None
    firing_id: uuid.UUID
    triggered_event_id: uuid.UUID


RunFiring = Callable[[Firing], Awaitable[None]]


def _window(seconds: float | None) -> dt.timedelta:
    return dt.timedelta(seconds=seconds) if seconds else FOREVER


def _event_json(event: core.Event) -> dict[str, Any]:
    return event.model_dump(mode="json")


def _event_from_json(data: dict[str, Any] | None) -> core.Event | None:
    return core.Event.model_validate(data) if data else None


def _fingerprint(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def automation_resource(automation: Automation, trigger: Any = None) -> dict[str, str]:
    """The automation as an event's resource, labelled as the contract's server does."""
    resource = {
        "prefect.resource.id": f"prefect.automation.{automation.id}",
        "prefect.resource.name": automation.name,
    }
    if isinstance(automation.trigger, EventTrigger):
        resource["prefect.posture"] = automation.trigger.posture
    return resource


def _state_event(firing: Firing) -> core.Event:
    event = firing.triggering_event
    related = []
    if event is not None:
        related.append({"prefect.resource.id": f"prefect.event.{event.id}",
                        "prefect.resource.role": "triggering-event"})  # fmt: skip
    return core.Event(
        id=firing.triggered_event_id,
        occurred=utcnow(),
        event=f"prefect.automation.{firing.state}",
        resource=automation_resource(firing.automation),
        related=related,
        payload={
            "triggering_event": _event_json(event) if event is not None else None,
            "firing": str(firing.firing_id),
        },
    )


class TriggerEngine:
    def __init__(
        self,
        db: Database,
        run_firing: RunFiring,
        *,
        max_firings_per_minute: int = 60,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self.db = db
        self.run_firing = run_firing
        self.max_firings_per_minute = max_firings_per_minute
        self.clock = clock
        self.index = LeafIndex()
        self._stale = True
        self._changes = 0
        self._announced = False
        self._listening = False
        self._seen_change: tuple[int, Any] | None = None
        self._queue: asyncio.Queue[Sequence[Published]] = asyncio.Queue()
        self._consumer: asyncio.Task[None] | None = None

    # --- lifecycle --------------------------------------------------------------------

    async def start(self) -> None:
        await self.refresh()
        self._listen()
        self._consumer = asyncio.create_task(self._consume(), name="flowyard-triggers")

    async def stop(self) -> None:
        self.db.remove_commit_listener(self.on_commit)
        self._listening = False
        if self._consumer is not None:
            await self.drain()
            self._consumer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._consumer
            self._consumer = None

    def _listen(self) -> None:
        """Listen to the committed events; to the announced task-run states too (built only
        for listeners that want them: thousands per flow) only while a trigger may want
        one."""
        announced = self.index.wants_prefix("prefect.task-run.")
        if announced == self._announced and self._listening:
            return
        self.db.remove_commit_listener(self.on_commit)
        self.db.add_commit_listener(self.on_commit, announced=announced)
        self._announced, self._listening = announced, True

    async def drain(self) -> None:
        """Return once every batch handed over so far is evaluated and its actions ran."""
        await self._queue.join()

    async def on_commit(self, batch: Sequence[Published]) -> None:
        # Runs in the committing coroutine: only a cheap look at names, then queued.
        wanted = []
        for workspace_id, event in batch:
            if event.event in LIFECYCLE:
                self._stale = True
                self._changes += 1
            if self._stale or self.index.wants(event.event):
                wanted.append((workspace_id, event))
        if wanted:
            self._queue.put_nowait(wanted)

    async def _consume(self) -> None:
        while True:
            batch = await self._queue.get()
            try:
                await self.evaluate(batch)
            except Exception:
                logger.exception("Evaluating automation triggers failed")
            finally:
                self._queue.task_done()

    # --- what is evaluated ------------------------------------------------------------

    async def refresh(self) -> None:
        """Rebuild the index of enabled automations, and open the buckets of proactive
        triggers that wait from the start (no ``after``, no ``for_each``)."""
        # Stale until the new index is in place: events committed meanwhile are queued
        # whatever their name (the old index might not want them), and a change committed
        # meanwhile leaves it stale for the next batch.
        changes = self._changes
        async with self.db.read() as session:
            rows = await automation_queries.read_enabled_automations(session)
            self._seen_change = await automation_queries.latest_change(session)
        automations = [(row.workspace_id, Automation.model_validate(row)) for row in rows]
        self.index = LeafIndex.build(automations)
        if self._listening:
            self._listen()
        if self._changes == changes:
            self._stale = False
        waiting = [
            leaf
            for leaf in self.index.by_trigger.values()
            if leaf.trigger.posture == "Proactive" and not leaf.trigger.after
            and not leaf.trigger.for_each
        ]  # fmt: skip
        if waiting:
            now = self.clock()
            async with self.db.write() as session:
                for leaf in waiting:
                    await state.open_bucket(
                        session, leaf.workspace_id, leaf.automation.id, leaf.trigger.id, "",
                        now, now + _window(leaf.trigger.within),
                    )  # fmt: skip

    async def refresh_if_changed_elsewhere(self) -> None:
        async with self.db.read() as session:
            change = await automation_queries.latest_change(session)
        if self._stale or change != self._seen_change:
            self._stale = True
            await self.refresh()

    # --- evaluation -------------------------------------------------------------------

    async def evaluate(self, batch: Sequence[Published]) -> None:
        if self._stale:
            await self.refresh()
        found = [
            (event, leaf)
            for workspace_id, event in batch
            for leaf in self.index.candidates(workspace_id, event)
        ]
        if not found:
            return
        firings: list[Firing] = []
        async with self.db.write() as session:
            for event, leaf in found:
                firings += await self._count(session, leaf, event)
        for firing in firings:
            await self.run_firing(firing)

    async def _count(self, session: AsyncSession, leaf: Leaf, event: core.Event) -> list[Firing]:
        trigger = leaf.trigger
        key = leaf.bucketing_key(event)
        occurred = event.occurred
        bucket = await state.read_bucket(session, leaf.automation.id, trigger.id, key)
        expired = bucket is not None and bucket.end <= occurred
        if trigger.after and leaf.starts(event):
            if bucket is None or expired:
                if bucket is not None:
                    await state.delete_bucket(session, bucket)
                armed = await self._open(session, leaf, key, occurred)
                # What a proactive firing at the deadline names as its triggering event.
                armed.last_event = _event_json(event)
            return []  # the event that arms a trigger is not one it counts
        if not leaf.expects(event):
            return []
        if bucket is None:
            if trigger.after:
                return []  # not armed
            bucket = await self._open(session, leaf, key, occurred)
        elif expired and trigger.posture == "Reactive":
            if trigger.after:
                await state.delete_bucket(session, bucket)
                return []
            bucket.start, bucket.end, bucket.count = occurred, occurred + _window(trigger.within), 0
        bucket.count += 1
        bucket.last_event = _event_json(event)
        if trigger.posture == "Reactive":
            if bucket.count < trigger.threshold:
                return []
            await state.delete_bucket(session, bucket)
            return await self._fired(
                session, leaf, leaf.parents, trigger.id, event, f"{_fingerprint(key)}:{event.id}"
            )
        if bucket.triggered and bucket.count >= trigger.threshold:
            bucket.triggered = False
            return await self._fire_automation(
                session, leaf, "resolved", event, f"{trigger.id}:{_fingerprint(key)}:{event.id}"
            )
        return []

    async def _open(
        self, session: AsyncSession, leaf: Leaf, key: str, start: dt.datetime
    ) -> AutomationBucket:
        return await state.open_bucket(
            session, leaf.workspace_id, leaf.automation.id, leaf.trigger.id, key,
            start, start + _window(leaf.trigger.within),
        )  # fmt: skip

    async def _fired(
        self,
        session: AsyncSession,
        leaf: Leaf,
        parents: list[Composite],
        child_id: uuid.UUID,
        event: core.Event | None,
        unique: str,
    ) -> list[Firing]:
        """A trigger fired: its automation fires, or its composite parent counts it."""
        if not parents:
            return await self._fire_automation(session, leaf, "triggered", event, unique)
        parent = parents[-1]
        bucket = await state.open_bucket(
            session, leaf.workspace_id, leaf.automation.id, parent.id, "", self.clock(),
            self.clock() + FOREVER,
        )  # fmt: skip
        now = event.occurred if event is not None else self.clock()
        record: list[dict[str, Any]] = list((bucket.last_event or {}).get("fired", []))
        if parent.within:
            oldest = now - dt.timedelta(seconds=parent.within)
            record = [r for r in record if dt.datetime.fromisoformat(r["at"]) >= oldest]
        entry = {"child": str(child_id), "at": now.isoformat(),
                 "event": _event_json(event) if event is not None else None}  # fmt: skip
        if isinstance(parent, CompoundTrigger):
            record = [r for r in record if r["child"] != str(child_id)] + [entry]
            complete = len(record) >= parent.required
        else:
            order = [str(child.id) for child in parent.triggers]
            position = order.index(str(child_id))
            if position == len(record):
                record.append(entry)
            elif position == 0:
                record = [entry]  # the sequence starts over
            complete = len(record) == len(order)
        if not complete:
            bucket.last_event = {"fired": record}
            return []
        await state.delete_bucket(session, bucket)
        return await self._fired(session, leaf, parents[:-1], parent.id, event, unique)

    async def _fire_automation(
        self,
        session: AsyncSession,
        leaf: Leaf,
        trigger_state: TriggerState,
        event: core.Event | None,
        unique: str,
    ) -> list[Firing]:
        automation = leaf.automation
        firing_id = await state.claim_firing(
            session, leaf.workspace_id, automation.id, f"{automation.id}:{unique}",
            trigger_state, event.id if event is not None else None,
        )  # fmt: skip
        if firing_id is None:
            return []  # another process claimed this firing: it runs the actions
        since = self.clock() - THROTTLE_WINDOW
        recent = await state.count_recent_firings(session, automation.id, since, state.FIRED)
        if recent > self.max_firings_per_minute:
            await state.set_firing_state(session, firing_id, "throttled")
            held = await state.count_recent_firings(session, automation.id, since, ["throttled"])
            if held == 1:
                outbox.emit(session, leaf.workspace_id, self._throttled_event(automation))
            return []
        firing = Firing(automation, leaf.workspace_id, trigger_state, event, firing_id, new_id())
        outbox.emit(session, leaf.workspace_id, _state_event(firing))
        return [firing]

    def _throttled_event(self, automation: Automation) -> core.Event:
        return core.Event(
            id=new_id(),
            occurred=utcnow(),
            event="prefect.automation.throttled",
            resource=automation_resource(automation),
            payload={
                "reason": (
                    f"The automation fired more than {self.max_firings_per_minute} times "
                    "in the last minute: its actions are held back until it fires less often."
                ),
                "max_firings_per_minute": self.max_firings_per_minute,
            },
        )

    # --- proactive deadlines ------------------------------------------------------------

    async def check_deadlines(self, now: dt.datetime | None = None) -> int:
        """Fire the proactive triggers whose window ended short of their threshold; start
        their next window. Returns how many fired."""
        if self._stale:
            await self.refresh()
        now = now or self.clock()
        firings: list[Firing] = []
        async with self.db.write() as session:
            for bucket in await state.due_buckets(session, now):
                leaf = self.index.by_trigger.get(bucket.trigger_id)
                if leaf is None or leaf.trigger.posture != "Proactive":
                    # A reactive window that ended (or a trigger gone): nothing to wait for.
                    # Composite triggers' buckets never come due (their window is checked
                    # when a child fires).
                    await state.delete_bucket(session, bucket)
                    continue
                firings += await self._deadline(session, leaf, bucket, now)
        for firing in firings:
            await self.run_firing(firing)
        return len(firings)

    async def _deadline(
        self, session: AsyncSession, leaf: Leaf, bucket: AutomationBucket, now: dt.datetime
    ) -> list[Firing]:
        trigger = leaf.trigger
        fired: list[Firing] = []
        if bucket.count < trigger.threshold:
            unique = f"{trigger.id}:{_fingerprint(bucket.bucketing_key)}:{bucket.end.isoformat()}"
            event = _event_from_json(bucket.last_event)
            if leaf.parents:
                fired = await self._fired(session, leaf, leaf.parents, trigger.id, event, unique)
            else:
                fired = await self._fire_automation(session, leaf, "triggered", event, unique)
            bucket.triggered = True
        if trigger.after:
            await state.delete_bucket(session, bucket)  # this run's wait is over
        else:
            bucket.start, bucket.end, bucket.count = now, now + _window(trigger.within), 0
        return fired
