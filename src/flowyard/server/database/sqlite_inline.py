"""SQLite for SQLAlchemy's asyncio engine, run on the event loop's own thread.

aiosqlite gives every connection a thread and hands each call (cursor, execute, fetch,
close, commit) over to it and back: about 170 µs per statement on a small machine, where
SQLite itself answers an indexed read or a one-row insert in a few microseconds. A request
that runs six statements spent most of its time crossing threads. This module is the
driver-level connection SQLAlchemy's aiosqlite dialect wraps (given to the engine as its
``async_creator``), doing the same work inline: the awaitables it returns complete at once.

The one thing a thread bought was waiting: a statement that finds the file locked by
another process (embedded mode beside a server) sleeps in SQLite's busy handler, which
here would stall the whole loop. So the connection's own busy timeout is short, and a
statement that may safely be tried again (one outside a transaction, such as
``BEGIN IMMEDIATE``, or a ``COMMIT``) is retried after an ``asyncio.sleep`` until the
configured busy timeout has passed: other requests keep being served while it waits.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

# How long SQLite itself may block the loop before a locked statement comes back to us.
INLINE_BUSY_TIMEOUT_MS = 20
# How long to wait between retries of a statement that found the database locked.
RETRY_SLEEP_MIN = 0.002
RETRY_SLEEP_MAX = 0.1

SQLITE_BUSY = 5
SQLITE_BUSY_SNAPSHOT = 517  # a stale read snapshot: trying again cannot help


def is_busy(exc: BaseException) -> bool:
    """True for SQLite's "database is locked" (SQLITE_BUSY), however it was raised."""
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF == SQLITE_BUSY and code != SQLITE_BUSY_SNAPSHOT
    text = str(exc).lower()
    return "database is locked" in text or "database is busy" in text


async def retry_busy(attempt: Callable[[], Any], timeout: float) -> Any:
    """``attempt()``, tried again after a non-blocking sleep while the file is locked."""
    deadline: float | None = None
    delay = RETRY_SLEEP_MIN
    while True:
        try:
            return attempt()
        except sqlite3.OperationalError as exc:
            if not is_busy(exc):
                raise
            now = time.monotonic()
            if deadline is None:
                deadline = now + timeout
            elif now >= deadline:
                raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_SLEEP_MAX)


def _retryable(conn: sqlite3.Connection, sql: str) -> bool:
    # SQLite's advice on SQLITE_BUSY: retry a COMMIT or a statement outside an explicit
    # transaction; inside one, the transaction is to be rolled back instead.
    if not conn.in_transaction:
        return True
    return sql.lstrip()[:6].upper() in ("COMMIT", "END")


class InlineCursor:
    """An aiosqlite-shaped cursor whose coroutines run the sqlite3 call directly."""

    __slots__ = ("_owner", "_cursor")

    def __init__(self, owner: InlineConnection) -> None:
        self._owner = owner
        self._cursor = owner.raw.cursor()

    async def __aenter__(self) -> InlineCursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._cursor.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value

    async def execute(self, sql: str, parameters: Any = ()) -> InlineCursor:
        if parameters is None:
            parameters = ()
        try:
            self._cursor.execute(sql, parameters)
        except sqlite3.OperationalError as exc:
            if not is_busy(exc) or not _retryable(self._owner.raw, sql):
                raise
            await retry_busy(lambda: self._cursor.execute(sql, parameters), self._owner.timeout)
        return self

    async def executemany(self, sql: str, parameters: Iterable[Any]) -> InlineCursor:
        # Not retried: the parameters may be a one-shot iterator.
        self._cursor.executemany(sql, parameters)
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        if size is None:
            return self._cursor.fetchmany()
        return self._cursor.fetchmany(size)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()

    async def setinputsizes(self, *sizes: Any) -> None:
        return None

    async def nextset(self) -> None:
        return None

    def __aiter__(self) -> InlineCursor:
        return self

    async def __anext__(self) -> Any:
        row = self._cursor.fetchone()
        if row is None:
            raise StopAsyncIteration
        return row


class _RunNow:
    """Stands in for aiosqlite's queue of calls for its thread: runs each call at once."""

    def put_nowait(self, item: tuple[asyncio.Future[Any], Callable[[], Any]]) -> None:
        future, function = item
        try:
            future.set_result(function())
        except Exception as exc:
            future.set_exception(exc)


class InlineConnection:
    """The aiosqlite ``Connection`` surface SQLAlchemy uses, over a plain sqlite3 one."""

    def __init__(self, raw: sqlite3.Connection, timeout: float) -> None:
        self.raw = raw
        self.timeout = timeout
        self.closed = False
        # SQLAlchemy's adapter changes the isolation level by queueing a call for
        # aiosqlite's thread (``_tx``) on the sqlite3 connection (``_conn``).
        self._conn = raw
        self._tx = _RunNow()

    @property
    def isolation_level(self) -> str | None:
        return self.raw.isolation_level

    @property
    def _connection(self) -> sqlite3.Connection | None:
        # What SQLAlchemy's adapter checks before a commit or rollback: None once closed.
        return None if self.closed else self.raw

    def cursor(self) -> InlineCursor:
        return InlineCursor(self)

    async def execute(self, sql: str, parameters: Any = ()) -> InlineCursor:
        cursor = InlineCursor(self)
        return await cursor.execute(sql, parameters)

    async def commit(self) -> None:
        try:
            self.raw.commit()
        except sqlite3.OperationalError as exc:
            if not is_busy(exc):
                raise
            await retry_busy(self.raw.commit, self.timeout)

    async def rollback(self) -> None:
        self.raw.rollback()

    async def close(self) -> None:
        self.closed = True
        self.raw.close()

    def stop(self) -> None:
        # Called when SQLAlchemy terminates a connection outside the loop (garbage
        # collection of a connection that was never returned).
        self.closed = True
        self.raw.close()

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self.raw.create_function(*args, **kwargs)


def connector(
    connect_args: Sequence[Any],
    connect_kwargs: Mapping[str, Any],
    *,
    busy_timeout_ms: int,
    setup: Callable[[sqlite3.Connection], Awaitable[None]],
) -> Callable[[], Awaitable[InlineConnection]]:
    """An ``async_creator`` for ``create_async_engine``.

    ``connect_args``/``connect_kwargs`` are what the dialect would pass to
    ``sqlite3.connect`` (from ``dialect.create_connect_args(url)``); ``setup`` runs once on
    each new connection (pragmas) before SQLAlchemy sees it.
    """
    kwargs = dict(connect_kwargs)
    kwargs.pop("timeout", None)
    kwargs["check_same_thread"] = False  # the pool may close it from a GC callback
    kwargs["isolation_level"] = None  # BEGIN is issued by the engine's begin hook
    kwargs.setdefault("cached_statements", 256)

    async def create() -> InlineConnection:
        raw: sqlite3.Connection = sqlite3.connect(  # type: ignore[call-overload]
            *connect_args, timeout=INLINE_BUSY_TIMEOUT_MS / 1000, **kwargs
        )
        try:
            await setup(raw)
        except BaseException:
            raw.close()
            raise
        return InlineConnection(raw, busy_timeout_ms / 1000)

    return create
