"""Hot statements, compiled once: on SQLite they run straight on the connection's sqlite3
handle; on PostgreSQL through the session as usual.

SQLAlchemy spends on the order of 100 µs in Python around every execution (cache key,
execution context, result metadata, row objects) whatever the statement; SQLite answers a
one-row insert or an indexed read in a few. The few statements every flow run, state change
and log batch pass through are therefore written as ordinary Core constructs (one source of
truth for both dialects) and wrapped in :class:`Prepared`: compiled for SQLite the first time
they run, then executed with plain positional parameters converted by the very bind and result
processors SQLAlchemy would have used, so the stored bytes are identical either way.

Only the session's own connection is used, inside the session's transaction: statements run
here and through the ORM see each other's writes and commit or roll back together.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession

from flowyard.server.database.sqlite_inline import InlineConnection

Processor = Callable[[Any], Any] | None
Params = Mapping[str, Any]

_HANDLE_KEY = "flowyard.sqlite_handle"
_MISSING = object()
_UNSEEN = object()


async def sqlite_handle(session: AsyncSession) -> sqlite3.Connection | None:
    """The sqlite3 connection under ``session``'s current transaction, or None when the
    session is not on the inline SQLite driver (PostgreSQL, or another driver).

    Asking begins the transaction (``BEGIN IMMEDIATE`` for a write session) if it has not
    begun yet. The handle is remembered for the rest of that transaction only.
    """
    transaction = session.sync_session.get_transaction()
    cached = session.info.get(_HANDLE_KEY)
    if cached is not None and cached[0] is transaction and transaction is not None:
        handle: sqlite3.Connection | None = cached[1]
        return handle
    handle = None
    if session.sync_session.get_bind().dialect.name == "sqlite":
        connection = await session.connection()
        raw = await connection.get_raw_connection()
        driver = raw.driver_connection
        if isinstance(driver, InlineConnection):
            handle = driver.raw
    session.info[_HANDLE_KEY] = (session.sync_session.get_transaction(), handle)
    return handle


@dataclass(frozen=True, slots=True)
class _Bind:
    key: str
    processor: Processor
    default: Any


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    binds: tuple[_Bind, ...]
    results: tuple[Processor, ...] | None  # None: no result processing needed


def _compile(statement: sa.Executable, dialect: Dialect) -> _Compiled:
    compiled = statement.compile(dialect=dialect)  # type: ignore[attr-defined]
    by_name: dict[str, _Bind] = {}
    for bind, name in compiled.bind_names.items():
        if bind.expanding:
            raise ValueError("Prepared statements cannot take expanding (IN) parameters")
        default = _MISSING if bind.required else bind.effective_value
        processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
        by_name[name] = _Bind(bind.key, processor, default)
    order = compiled.positiontup or []
    results: tuple[Processor, ...] | None = None
    if isinstance(statement, sa.Select | sa.TextualSelect):
        processors = tuple(
            column.type.dialect_impl(dialect).result_processor(dialect, None)
            for column in statement.selected_columns
        )
        results = processors if any(processors) else None
    return _Compiled(compiled.string, tuple(by_name[name] for name in order), results)


def _arguments(compiled: _Compiled, params: Params) -> list[Any]:
    arguments = []
    for bind in compiled.binds:
        value = params.get(bind.key, bind.default)
        if value is _MISSING:
            raise KeyError(f"missing parameter {bind.key!r}")
        arguments.append(value if bind.processor is None else bind.processor(value))
    return arguments


def _arguments_many(compiled: _Compiled, many: Sequence[Params]) -> list[tuple[Any, ...]]:
    """``_arguments`` for each parameter set, built a column at a time.

    Column-wise, each column's lookups and conversions run in one tight loop (a batch of
    task runs converts 35 values a row: this was most of the cost of recording them). A batch
    also repeats values -- the workspace, one timestamp for all its rows, shared defaults --
    so each conversion is reused while the same object comes back.
    """
    columns = []
    for bind in compiled.binds:
        key, default, processor = bind.key, bind.default, bind.processor
        if default is _MISSING:
            try:
                values = [params[key] for params in many]
            except KeyError:
                raise KeyError(f"missing parameter {key!r}") from None
        else:
            values = [params.get(key, default) for params in many]
        if processor is not None:
            values = _convert(values, processor)
        columns.append(values)
    return list(zip(*columns, strict=True))


def _convert(values: list[Any], processor: Callable[[Any], Any]) -> list[Any]:
    converted = []
    last_in: Any = _UNSEEN
    last_out: Any = None
    for value in values:
        if value is not last_in:
            last_in, last_out = value, processor(value)
        converted.append(last_out)
    return converted


def _wrap(exc: sqlite3.Error, sql: str, arguments: Any) -> sa.exc.StatementError:
    # The same exception classes SQLAlchemy raises, so callers need not know the path; and,
    # like the engines (``hide_parameters``), without the bound values: they are users' data.
    return sa.exc.DBAPIError.instance(sql, arguments, exc, sqlite3.Error, hide_parameters=True)


def insert_statement(table: sa.Table) -> sa.Insert:
    """``INSERT`` of every column, each from the parameter named after it."""
    return sa.insert(table).values({column.key: sa.bindparam(column.key) for column in table.c})


class Prepared:
    """A Core statement run through the fastest path the session's database allows."""

    __slots__ = ("statement", "_sqlite")

    def __init__(self, statement: sa.Executable) -> None:
        self.statement = statement
        self._sqlite: _Compiled | None = None

    def _compiled(self, session: AsyncSession) -> _Compiled:
        compiled = self._sqlite
        if compiled is None:
            dialect = session.sync_session.get_bind().dialect
            compiled = self._sqlite = _compile(self.statement, dialect)
        return compiled

    async def rows(self, session: AsyncSession, params: Params) -> Sequence[Sequence[Any]]:
        """Every row of a SELECT (or of ``RETURNING``), as tuples in column order."""
        handle = await sqlite_handle(session)
        if handle is None:
            return (await session.execute(self.statement, dict(params))).all()
        compiled = self._compiled(session)
        arguments = _arguments(compiled, params)
        try:
            rows: list[Any] = handle.execute(compiled.sql, arguments).fetchall()
        except sqlite3.Error as exc:
            raise _wrap(exc, compiled.sql, arguments) from exc
        processors = compiled.results
        if processors is None:
            return rows
        return [
            tuple(v if p is None else p(v) for p, v in zip(processors, row, strict=True))
            for row in rows
        ]

    async def first(self, session: AsyncSession, params: Params) -> Sequence[Any] | None:
        rows = await self.rows(session, params)
        return rows[0] if rows else None

    async def run(self, session: AsyncSession, params: Params) -> int:
        """Execute once; returns the number of rows the statement changed."""
        handle = await sqlite_handle(session)
        if handle is None:
            result = await session.execute(self.statement, dict(params))
            return int(result.rowcount)  # type: ignore[attr-defined]
        compiled = self._compiled(session)
        arguments = _arguments(compiled, params)
        try:
            return handle.execute(compiled.sql, arguments).rowcount
        except sqlite3.Error as exc:
            raise _wrap(exc, compiled.sql, arguments) from exc

    async def run_many(self, session: AsyncSession, params: Sequence[Params]) -> None:
        """Execute once per parameter set (an ``executemany``)."""
        if not params:
            return
        handle = await sqlite_handle(session)
        if handle is None:
            await session.execute(self.statement, [dict(p) for p in params])
            return
        compiled = self._compiled(session)
        arguments = _arguments_many(compiled, params)
        try:
            handle.executemany(compiled.sql, arguments)
        except sqlite3.Error as exc:
            raise _wrap(exc, compiled.sql, arguments[:3]) from exc
