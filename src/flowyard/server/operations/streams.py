"""Live streams: the committed events and logs of a workspace, handed to whoever listens.

``/events/out`` and ``/logs/out`` subscribe here. Each subscription has a filter (matched
in memory, :mod:`.live_filters`) and a bounded queue: publishing never waits, so a slow
subscriber cannot hold up the writers. One that falls more than ``QUEUE_SIZE`` items
behind is cut off (``overflowed``); its client reconnects and catches up from storage
(both streams backfill), which costs one query instead of unbounded memory here.

Events reach the stream from the event pipeline's listeners, which see every event once it
is committed -- those ingested from clients and those that writers store with their
changes (the outbox). Logs reach it when the transaction that stored them commits
(:func:`publish_after_commit`): a rolled-back batch is never shown.
"""

from __future__ import annotations

import asyncio
import uuid
import weakref
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from sqlalchemy import event as sa_event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from flowyard.schemas import core
from flowyard.server.database.engine import Database

T = TypeVar("T")
Published = tuple[uuid.UUID, core.Event]
QUEUE_SIZE = 10_000
PENDING_LOGS = "flowyard.live.logs"


class EventSource(Protocol):
    """What the event pipeline offers the live stream: its committed batches."""

    def add_listener(self, listener: Callable[[Sequence[Published]], Awaitable[None]]) -> None:
        """Call ``listener`` with every batch once it is committed."""


@dataclass(eq=False)
class Subscription(Generic[T]):
    """One listener: what it wants, and what it has not read yet."""

    workspace_id: uuid.UUID
    matches: Callable[[T], bool]
    queue: asyncio.Queue[T] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))
    overflowed: bool = False

    async def next(self) -> T:
        return await self.queue.get()


class LiveStream(Generic[T]):
    """The subscriptions to one kind of item (events or logs) of one database."""

    def __init__(self) -> None:
        self._subscriptions: set[Subscription[T]] = set()

    def subscribe(self, workspace_id: uuid.UUID, matches: Callable[[T], bool]) -> Subscription[T]:
        subscription = Subscription(workspace_id, matches)
        self._subscriptions.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription[T]) -> None:
        self._subscriptions.discard(subscription)

    def publish(self, items: Sequence[tuple[uuid.UUID, T]]) -> None:
        """Hand each item to the subscriptions of its workspace that want it; never waits."""
        for subscription in list(self._subscriptions):
            if subscription.overflowed:
                continue
            for workspace_id, item in items:
                if workspace_id != subscription.workspace_id or not subscription.matches(item):
                    continue
                try:
                    subscription.queue.put_nowait(item)
                except asyncio.QueueFull:
                    subscription.overflowed = True
                    break

    @property
    def subscribers(self) -> int:
        return len(self._subscriptions)


@dataclass
class Streams:
    events: LiveStream[core.Event] = field(default_factory=LiveStream)
    logs: LiveStream[core.Log] = field(default_factory=LiveStream)
    sources: weakref.WeakSet[Any] = field(default_factory=weakref.WeakSet)


_STREAMS: weakref.WeakKeyDictionary[Database, Streams] = weakref.WeakKeyDictionary()


def streams_of(db: Database) -> Streams:
    found = _STREAMS.get(db)
    if found is None:
        found = _STREAMS[db] = Streams()
    return found


def connect_event_source(db: Database, source: EventSource) -> LiveStream[core.Event]:
    """The live event stream of ``db``, fed by ``source`` (connected once)."""
    streams = streams_of(db)
    if source not in streams.sources:
        live = streams.events

        async def listener(batch: Sequence[Published]) -> None:
            if live.subscribers:
                live.publish(batch)

        source.add_listener(listener)
        streams.sources.add(source)
    return streams.events


def publish_after_commit(
    session: AsyncSession,
    live: LiveStream[core.Log],
    workspace_id: uuid.UUID,
    logs: Sequence[core.Log],
) -> None:
    """Show ``logs`` on ``live`` once ``session``'s transaction commits."""
    if logs:
        pending = session.sync_session.info.setdefault(PENDING_LOGS, [])
        pending.append((live, [(workspace_id, log) for log in logs]))


@sa_event.listens_for(Session, "after_commit")
def _publish_committed_logs(session: Session) -> None:
    for live, items in session.info.pop(PENDING_LOGS, ()):
        live.publish(items)


@sa_event.listens_for(Session, "after_soft_rollback")
def _discard_logs(session: Session, previous: Any) -> None:
    if not previous.nested:
        session.info.pop(PENDING_LOGS, None)


class StreamLagging(Exception):
    """The subscriber fell too far behind and was cut off; it should reconnect."""


class Feed(Generic[T]):
    """What a subscriber reads: the backfill first, then live items, each once (an item
    both backfilled and published live is sent only the first time)."""

    def __init__(
        self, backfill: Sequence[T], subscription: Subscription[T], key: Callable[[T], Any]
    ) -> None:
        self._backfill = list(backfill)
        self._subscription = subscription
        self._key = key
        self._seen = {key(item) for item in self._backfill}

    def __aiter__(self) -> Feed[T]:
        return self

    async def __anext__(self) -> T:
        if self._backfill:
            return self._backfill.pop(0)
        subscription = self._subscription
        while True:
            if subscription.overflowed and subscription.queue.empty():
                raise StreamLagging("The subscriber fell behind the live stream.")
            item = await subscription.next()
            if self._seen:
                key = self._key(item)
                if key in self._seen:
                    self._seen.discard(key)
                    continue
            return item
