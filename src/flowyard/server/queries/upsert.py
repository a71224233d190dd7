"""Dialect-aware INSERT … ON CONFLICT helpers (SQLite and PostgreSQL share the syntax)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


def _insert(session: AsyncSession, table: Any) -> Any:
    assert session.bind is not None, "sessions here are always bound to an engine"
    dialect = session.bind.dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


def dialect_insert(session: AsyncSession, table: Any) -> Any:
    """The dialect's INSERT (it has ``on_conflict_do_*``), for statements executed with a
    list of rows (executemany), which compile once however many rows there are."""
    return _insert(session, table)


def insert_ignore(
    session: AsyncSession,
    table: Any,
    values: dict[str, Any] | list[dict[str, Any]],
    conflict: Sequence[str],
) -> Any:
    """INSERT that silently keeps the existing row when ``conflict`` columns collide."""
    return _insert(session, table).values(values).on_conflict_do_nothing(index_elements=conflict)


def insert_or_update(
    session: AsyncSession,
    table: Any,
    values: dict[str, Any] | list[dict[str, Any]],
    conflict: Sequence[str],
    update: Sequence[str],
) -> Any:
    """INSERT that overwrites the ``update`` columns of an existing row."""
    stmt = _insert(session, table).values(values)
    return stmt.on_conflict_do_update(
        index_elements=conflict, set_={col: stmt.excluded[col] for col in update}
    )
