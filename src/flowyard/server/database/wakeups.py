"""Waking workers' long-polls when work may have arrived.

A worker's ``get_scheduled_flow_runs`` can wait for work (``wait_seconds``). It sleeps until
the earliest known run is due, or until this module says runs changed: after a transaction
that created or rescheduled a queued run commits, :func:`notify_runs_changed` wakes every
waiter of this process, which then looks again. Waking is only a shortcut: the poll also
looks again every ``RECHECK_SECONDS``, so runs created by another server process (several
replicas on one PostgreSQL, or an embedded client writing the SQLite file) are found too.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

RECHECK_SECONDS = 0.5
_SESSION_FLAG = "flowyard.notify_runs"

_waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()


_closing = False


def closing() -> bool:
    """Whether the server is shutting down (long-polls then answer at once)."""
    return _closing


def end_long_polls() -> None:
    """The server is shutting down: answer every long-poll now rather than keep the
    shutdown waiting for them. Safe to call from a signal handler."""
    global _closing
    _closing = True
    for loop, waiter in list(_waiters):
        if not loop.is_closed():
            loop.call_soon_threadsafe(waiter.set)


def end_long_polls_on_exit(server: Any) -> None:
    """Make a ``uvicorn.Server`` end the long-polls as soon as it is told to exit."""
    original = server.handle_exit

    def handle_exit(sig: int, frame: Any) -> None:
        original(sig, frame)
        end_long_polls()

    server.handle_exit = handle_exit


def notify_runs_changed() -> None:
    """Wake every long-poll waiting in this process (safe from any thread)."""
    for loop, waiter in list(_waiters):
        if loop.is_closed():
            _waiters.discard((loop, waiter))
            continue
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            waiter.set()
        else:
            loop.call_soon_threadsafe(waiter.set)


async def wait_for_runs(timeout: float) -> bool:
    """Sleep up to ``timeout`` seconds; True when woken by :func:`notify_runs_changed`."""
    if timeout <= 0:
        return False
    key = (asyncio.get_running_loop(), asyncio.Event())
    _waiters.add(key)
    try:
        await asyncio.wait_for(key[1].wait(), timeout)
        return True
    except TimeoutError:
        return False
    finally:
        _waiters.discard(key)


def notify_after_commit(session: AsyncSession) -> None:
    """Wake the waiters once this session's transaction commits (not before: a waiter woken
    early would look, find nothing, and sleep again)."""
    session.sync_session.info[_SESSION_FLAG] = True


# One listener for every session (a flag test per commit), rather than listeners added and
# removed per transaction.
@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    if session.info.pop(_SESSION_FLAG, None):
        notify_runs_changed()


@event.listens_for(Session, "after_rollback")
def _rolled_back(session: Session) -> None:
    session.info.pop(_SESSION_FLAG, None)
