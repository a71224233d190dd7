"""Database access: one object that hands out read sessions and write transactions.

SQLite allows one writer at a time. Rather than letting concurrent requests race for the
file lock (and surface "database is locked"), every write in this process goes through a
single connection guarded by an asyncio lock, and that connection begins with
``BEGIN IMMEDIATE`` so a read-then-write transaction can never be overtaken by another
process. When another process on the same file holds the lock, the BEGIN is retried after
non-blocking sleeps for up to the busy timeout, and a write that still finds the file locked
is retried here, so the error never reaches a user. Reads use a pool of connections that
see WAL snapshots. SQLite connections run on the event loop's thread (``sqlite_inline``): a
statement costs microseconds instead of two thread hops.

PostgreSQL needs none of that: both kinds of session come from one pool, and row locks
(``SELECT ... FOR UPDATE``) serialise what must be serialised.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, Literal

import orjson
import pydantic_core
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine

from flowyard.server.database import sqlite_inline
from flowyard.server.database.prepared import sqlite_handle
from flowyard.server.errors import Unavailable

SQLITE_BUSY_TIMEOUT_MS = 60_000
# FLOWYARD_DATABASE_SQLITE_SYNCHRONOUS: each value's pragma text (never the setting's own).
SqliteSynchronous = Literal["NORMAL", "FULL"]
SQLITE_SYNCHRONOUS_MODES: dict[str, str] = {"NORMAL": "NORMAL", "FULL": "FULL"}
LOCKED_RETRIES = 20
# How long a write waits for this process's writer (SQLite: the one writer connection;
# PostgreSQL: a pooled connection, then each row lock) before it is refused with
# ``Unavailable`` (503 with Retry-After): a client told to retry beats a request queued
# behind a stalled one for as long as it stalls. FLOWYARD_DATABASE_WRITE_WAIT_SECONDS.
DEFAULT_WRITE_WAIT_SECONDS = 10.0
# PostgreSQL's code for a lock wait that reached lock_timeout.
LOCK_NOT_AVAILABLE = "55P03"
# Opening a brand-new file from several connections at once: the losers of the race to
# switch it to WAL are told "database is locked" at once, without any busy wait.
WAL_SWITCH_RETRIES = 50
# Planner statistics (see Database.optimize): how often to check whether tables outgrew
# theirs, by how much a table must have grown, from what size on, and how many index rows
# ANALYZE samples per index (approximate statistics, a few milliseconds per table).
ANALYZE_CHECK_EVERY = 1000
ANALYZE_GROWTH = 2.0
ANALYZE_MIN_ROWS = 1000
ANALYSIS_LIMIT = 1000

logger = logging.getLogger("flowyard.server.database")

# Where a committed transaction leaves the events it stored (see ``queries.outbox``), for
# :meth:`Database.write` to hand to the listeners once the commit is done.
COMMITTED_EVENTS = "flowyard.outbox.committed"
CommitListener = Callable[[Sequence[Any]], Awaitable[None]]


def is_locked_error(exc: BaseException) -> bool:
    """True when SQLite said the database is locked or busy (wrapped or not)."""
    text = str(exc).lower()
    return "database is locked" in text or "database is busy" in text


def json_dumps(value: Any) -> str:
    """JSON columns: orjson, several times faster than the standard library."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        # Integers beyond 64 bits, and anything else orjson declines: the slow way.
        return json.dumps(value)


def json_loads(text: str | bytes) -> Any:
    # pydantic-core's parser: as fast as orjson, and keeps big integers and NaN exact.
    return pydantic_core.from_json(text, allow_inf_nan=True)


class Database:
    """Sessions for one database URL. Create one per app; share it between requests."""

    def __init__(
        self,
        url: str,
        *,
        echo: bool = False,
        sqlite_synchronous: SqliteSynchronous = "NORMAL",
        write_wait_seconds: float = DEFAULT_WRITE_WAIT_SECONDS,
    ) -> None:
        self.url = url
        self.write_wait_seconds = write_wait_seconds
        self.dialect = sa.engine.make_url(url).get_backend_name()
        self._write_lock = asyncio.Lock()
        self._writes = 0
        self._analyzed_rows: dict[str, int] | None = None
        self._optimizer: asyncio.Task[None] | None = None
        # Called with the events of every committed write transaction (in commit order);
        # see add_commit_listener.
        self.commit_listeners: list[tuple[CommitListener, bool]] = []
        json_options: dict[str, Any] = {
            "json_serializer": json_dumps,
            "json_deserializer": json_loads,
            # Bound values are users' data (run parameters, variable values, block data):
            # never in an error message nor in an echoed statement's log line.
            "hide_parameters": True,
        }
        if self.is_sqlite:
            self._ensure_sqlite_folder()
            sync = sqlite_synchronous
            self.write_engine = _sqlite_engine(
                url, sync, echo=echo, pool_size=1, max_overflow=0, pool_timeout=300, **json_options
            )
            # LIFO: sequential requests keep reusing the connection whose page cache is warm.
            self.read_engine = _sqlite_engine(
                url, sync, echo=echo, pool_size=4, max_overflow=4, pool_use_lifo=True,
                **json_options,
            )  # fmt: skip
            _configure_sqlite(self.write_engine, immediate=True)
            _configure_sqlite(self.read_engine, immediate=False)
        else:
            self.write_engine = create_async_engine(
                url, echo=echo, pool_size=10, max_overflow=10, pool_pre_ping=True,
                pool_timeout=write_wait_seconds,
                connect_args=_postgresql_connect_args(url, write_wait_seconds),
                **json_options,
            )  # fmt: skip
            self.read_engine = self.write_engine

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    def _ensure_sqlite_folder(self) -> None:
        from pathlib import Path

        from flowyard.private_files import private_database

        database = sa.engine.make_url(self.url).database
        if database and database != ":memory:":
            # Created 0600 before SQLite opens it: its -wal and -shm files take its mode.
            private_database(Path(database).expanduser())

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session for reads. Never commits."""
        async with AsyncSession(self.read_engine, expire_on_commit=False) as session:
            yield session

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """One write transaction: committed when the block exits, rolled back on error.

        On SQLite the block holds this process's single writer; keep it short and do
        no network I/O inside it.
        """
        if not self.is_sqlite:
            async with AsyncSession(self.write_engine, expire_on_commit=False) as session:
                try:
                    async with session.begin():
                        await session.connection()  # from the pool, within the bound
                        yield session
                except sa.exc.TimeoutError:
                    raise self._unavailable("no database connection was free") from None
                except sa.exc.DBAPIError as exc:
                    if _sqlstate(exc) == LOCK_NOT_AVAILABLE:
                        raise self._unavailable("a row it changes stayed locked") from None
                    raise
                await self._committed(session)
            return
        try:
            await asyncio.wait_for(self._write_lock.acquire(), self.write_wait_seconds)
        except TimeoutError:
            raise self._unavailable("other writes held the writer") from None
        try:
            for attempt in range(LOCKED_RETRIES):
                session = AsyncSession(self.write_engine, expire_on_commit=False)
                try:
                    await session.begin()
                    # Take the connection now: this is where BEGIN IMMEDIATE runs, and where
                    # the file may turn out to be locked by another process.
                    await sqlite_handle(session)
                except OperationalError as exc:
                    # Another process held the file past the busy timeout: wait and retry
                    # the BEGIN; nothing has run yet, so retrying is safe.
                    await session.close()
                    if not is_locked_error(exc) or attempt == LOCKED_RETRIES - 1:
                        raise
                    await asyncio.sleep(min(0.05 * 2**attempt, 2.0))
                    continue
                try:
                    yield session
                    await session.commit()
                except BaseException:
                    await session.rollback()
                    raise
                finally:
                    await session.close()
                break
        finally:
            self._write_lock.release()
        # Outside the write lock: listeners may write in turn.
        await self._committed(session)
        self._writes += 1
        if self._writes % ANALYZE_CHECK_EVERY == 0:
            self.optimize_soon()

    def _unavailable(self, why: str) -> Unavailable:
        return Unavailable(
            f"The database is busy: {why} for {self.write_wait_seconds:g} s. "
            "Nothing was written; try again shortly."
        )

    def add_commit_listener(self, listener: CommitListener, *, announced: bool = True) -> None:
        """Call ``listener`` with the events of each committed write transaction.

        ``announced=False``: only the events stored in the ``event`` table, not those
        announced without a copy there (task-run states: thousands per flow, built only for
        listeners that want them).
        """
        if all(existing is not listener for existing, _ in self.commit_listeners):
            self.commit_listeners.append((listener, announced))

    def remove_commit_listener(self, listener: CommitListener) -> None:
        self.commit_listeners = [e for e in self.commit_listeners if e[0] is not listener]

    async def _committed(self, session: AsyncSession) -> None:
        items = session.sync_session.info.pop(COMMITTED_EVENTS, None)
        if not items or not self.commit_listeners:
            return
        # An item is an event, or a callable making events that are announced but stored
        # as other rows (built only if a listener wants them).
        stored = [item for item in items if not callable(item)]
        everything: list[Any] | None = None
        for listener, announced in self.commit_listeners:
            if announced and everything is None:
                everything = []
                for item in items:
                    everything.extend(item() if callable(item) else (item,))
            batch = everything if announced and everything is not None else stored
            if not batch:
                continue
            try:
                await listener(batch)
            except Exception:
                logger.exception("Commit listener %r failed", listener)

    def optimize_soon(self) -> None:
        """Run :meth:`optimize` in the background (unless it is running already)."""
        if self._optimizer is None:
            self._optimizer = asyncio.get_running_loop().create_task(self._optimize_later())

    async def _optimize_later(self) -> None:
        try:
            await self.optimize()
        except Exception:
            logger.warning("Refreshing the query planner's statistics failed", exc_info=True)
        finally:
            self._optimizer = None

    async def optimize(self) -> None:
        """Refresh SQLite's query-planner statistics (ANALYZE) for the tables that grew.

        Without statistics SQLite guesses that an equality on any indexed column picks a
        handful of rows; on a workspace of many runs that guess makes it sort every run to
        show the newest 200 instead of walking the primary key. Statistics go stale as tables
        grow, so: at server start, then after every ``ANALYZE_CHECK_EVERY`` write
        transactions, each table at least ``ANALYZE_MIN_ROWS`` long that has grown
        ``ANALYZE_GROWTH`` times since it was last analysed is analysed again. The check is
        one indexed ``max(rowid)`` per table. PostgreSQL keeps its own statistics.
        """
        if not self.is_sqlite:
            return
        async with self.write() as session:
            handle = await sqlite_handle(session)
            if handle is None:
                return
            if self._analyzed_rows is None:
                self._analyzed_rows = _analyzed_rows(handle)
            stale = []
            for table in _tables(handle):
                rows = handle.execute(f'SELECT max(rowid) FROM "{table}"').fetchone()[0] or 0
                if rows >= ANALYZE_MIN_ROWS and rows >= ANALYZE_GROWTH * self._analyzed_rows.get(
                    table, 0
                ):
                    stale.append((table, rows))
            if stale:
                handle.execute(f"PRAGMA analysis_limit = {ANALYSIS_LIMIT}")
                for table, rows in stale:
                    handle.execute(f'ANALYZE "{table}"')
                    self._analyzed_rows[table] = rows
                logger.debug("Analysed %s", ", ".join(table for table, _ in stale))

    async def create_all(self) -> None:
        """Create tables straight from the ORM (tests only; servers run migrations)."""
        from flowyard.server.database.orm import Base
        from flowyard.server.database.sqlite_schema import sync_sqlite_schema

        async with self.write_engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
            await conn.run_sync(sync_sqlite_schema)

    async def sync_sqlite_schema(self) -> None:
        """Make sure the SQLite-only schema (``sqlite_schema``) is in place: a database
        migrated before it existed gets it at the next start."""
        if not self.is_sqlite:
            return
        from flowyard.server.database.sqlite_schema import sync_sqlite_schema

        async with self.write() as session:
            connection = await session.connection()
            await connection.run_sync(sync_sqlite_schema)

    async def dispose(self) -> None:
        if self._optimizer is not None:
            self._optimizer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._optimizer
        await self.write_engine.dispose()
        if self.read_engine is not self.write_engine:
            await self.read_engine.dispose()


def _postgresql_connect_args(url: str, lock_wait_seconds: float) -> dict[str, Any]:
    """Every connection's ``lock_timeout``: a statement waiting longer for a row lock fails
    (and its write answers 503) rather than waiting as long as the holder holds it."""
    if sa.engine.make_url(url).get_driver_name() != "asyncpg":
        return {}
    milliseconds = max(1, round(lock_wait_seconds * 1000))
    return {"server_settings": {"lock_timeout": str(milliseconds)}}


def _sqlstate(exc: sa.exc.DBAPIError) -> str | None:
    for error in (exc.orig, getattr(exc.orig, "__cause__", None)):
        code = getattr(error, "sqlstate", None)
        if code:
            return str(code)
    return None


def _tables(handle: sqlite3.Connection) -> list[str]:
    """The tables whose size ``max(rowid)`` tells (WITHOUT ROWID tables have none)."""
    rows = handle.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    ).fetchall()
    return [name for name, sql in rows if "WITHOUT ROWID" not in (sql or "").upper()]


def _analyzed_rows(handle: sqlite3.Connection) -> dict[str, int]:
    """Each analysed table's row count as its statistics record it."""
    try:
        rows = handle.execute("SELECT tbl, stat FROM sqlite_stat1").fetchall()
    except sqlite3.OperationalError:  # never analysed: no sqlite_stat1 table yet
        return {}
    counts: dict[str, int] = {}
    for table, stat in rows:
        first = str(stat or "").split(" ", 1)[0]
        if first.isdigit():
            counts[table] = max(counts.get(table, 0), int(first))
    return counts


def _sqlite_engine(url: str, synchronous: SqliteSynchronous, **options: Any) -> AsyncEngine:
    """An engine on the inline SQLite driver, with the URL's connect arguments."""
    sa_url = sa.engine.make_url(url)
    dialect = sa_url.get_dialect()()
    args, kwargs = dialect.create_connect_args(sa_url)
    setup = functools.partial(_sqlite_setup, synchronous=synchronous)
    creator = sqlite_inline.connector(
        args, kwargs, busy_timeout_ms=SQLITE_BUSY_TIMEOUT_MS, setup=setup
    )
    return create_async_engine(url, async_creator=creator, **options)


async def _sqlite_setup(raw: sqlite3.Connection, *, synchronous: SqliteSynchronous) -> None:
    """Pragmas for every new SQLite connection (transaction control is already ours:
    the connection is in autocommit mode and the engine's begin hook issues BEGIN)."""
    for attempt in range(WAL_SWITCH_RETRIES):
        try:
            raw.execute("PRAGMA journal_mode = WAL")
            break
        except sqlite3.OperationalError as exc:
            if not is_locked_error(exc) or attempt == WAL_SWITCH_RETRIES - 1:
                raise
            await asyncio.sleep(min(0.005 * 2**attempt, 0.2))
    # NORMAL: in WAL mode a commit survives the process being killed, not a power cut or
    # an OS crash (the last commits may roll back); FULL syncs the WAL on every commit.
    # See FLOWYARD_DATABASE_SQLITE_SYNCHRONOUS in the README.
    raw.execute(f"PRAGMA synchronous = {SQLITE_SYNCHRONOUS_MODES[synchronous]}")
    raw.execute("PRAGMA foreign_keys = ON")
    raw.execute("PRAGMA cache_size = -16000")


def _configure_sqlite(engine: AsyncEngine, *, immediate: bool) -> None:
    statement = "BEGIN IMMEDIATE" if immediate else "BEGIN"

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # On the driver's cursor: a whole SQLAlchemy execution for BEGIN costs more than
        # most of the statements the transaction runs.
        cursor = conn.connection.dbapi_connection.cursor()
        try:
            cursor.execute(statement)
        except sqlite3.Error as exc:
            raise sa.exc.DBAPIError.instance(statement, (), exc, sqlite3.Error) from exc
        finally:
            cursor.close()
