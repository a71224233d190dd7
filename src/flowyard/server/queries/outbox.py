"""The transactional outbox: events written in the same transaction as the change they tell.

Any writer holding a session (an operation, an orchestration rule, the recorder, a service)
calls :func:`emit`; nothing is written then. Just before the transaction commits, every event
emitted in it is inserted in one statement, so a committed change is never without its
event and a rolled-back one leaves none. After the commit, the events are kept on the
session (:data:`COMMITTED`) for ``Database.write`` to hand to the in-process listeners
(automations, live streams, heartbeats), which therefore only ever see committed events.
Events whose stored form is another row (task-run states) are only announced: see
:func:`announce`.

The hooks are SQLAlchemy session events, registered once for every session, so no writer can
forget to flush its events: the rule holds even for code that opens ``db.write()`` itself.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

from flowyard.schemas import core
from flowyard.server.database.engine import COMMITTED_EVENTS
from flowyard.server.database.types import utcnow
from flowyard.server.queries.events import EVENT_TABLE, event_row

PENDING = "flowyard.outbox"
SAVEPOINTS = "flowyard.outbox.savepoints"
COMMITTED = COMMITTED_EVENTS

Published = tuple[uuid.UUID, core.Event]


def emit(session: AsyncSession | Session, workspace_id: uuid.UUID, item: core.Event) -> None:
    """Queue ``item`` to be stored when ``session``'s transaction commits."""
    sync = session.sync_session if isinstance(session, AsyncSession) else session
    sync.info.setdefault(PENDING, []).append((workspace_id, item))


def announce(
    session: AsyncSession | Session, build: Callable[[], Sequence[Published]]
) -> None:
    """Hand the events ``build()`` makes to the listeners once the transaction commits,
    without storing them: for events whose stored form is another row (task-run states,
    see ``queries.task_run_events``). ``build`` runs only if someone listens."""
    sync = session.sync_session if isinstance(session, AsyncSession) else session
    sync.info.setdefault(PENDING, []).append(build)


@event.listens_for(Session, "before_commit")
def _store_pending(session: Session) -> None:
    # Runs inside the commit's greenlet: synchronous execution on the async connection is
    # allowed here, and it is still the transaction being committed.
    items: list[Published | Callable[[], Sequence[Published]]] | None = session.info.pop(
        PENDING, None
    )
    if not items:
        return
    received = utcnow()
    rows: list[dict[str, Any]] = [
        event_row(item[0], item[1], received) for item in items if isinstance(item, tuple)
    ]
    if rows:
        dialect = session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        session.execute(insert(EVENT_TABLE).on_conflict_do_nothing(index_elements=["id"]), rows)
    # Stored events and announcements alike, in the order they were made.
    session.info.setdefault(COMMITTED, []).extend(items)


@event.listens_for(Session, "after_transaction_create")
def _mark_savepoint(session: Session, transaction: SessionTransaction) -> None:
    # A savepoint that rolls back (a lost insert race answered with the winner's row) takes
    # back only what was emitted inside it.
    if transaction.nested:
        session.info.setdefault(SAVEPOINTS, {})[id(transaction)] = len(
            session.info.get(PENDING, ())
        )


@event.listens_for(Session, "after_soft_rollback")
def _discard_pending(session: Session, previous: SessionTransaction) -> None:
    if previous.nested:
        mark = session.info.get(SAVEPOINTS, {}).pop(id(previous), None)
        if mark is not None and PENDING in session.info:
            del session.info[PENDING][mark:]
        return
    for key in (PENDING, COMMITTED, SAVEPOINTS):
        session.info.pop(key, None)
