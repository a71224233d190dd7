"""Rows read for API responses, without SQLAlchemy's per-value type conversion.

A page of runs is dozens of columns times dozens of rows, and converting every UUID and
timestamp into a Python object (on SQLite: text to ``uuid.UUID``, text to ``datetime``) only
for pydantic to turn it back into text costs more than the query. Such reads select the
columns with their types erased (:func:`untyped_columns`) and :class:`RawDecoder` makes each
row a dict pydantic validates directly, in Rust:

- JSON columns are parsed (the database hands them over as text);
- timestamps stored as naive UTC text on SQLite get their ``Z``; PostgreSQL's are already
  aware datetimes;
- UUIDs stay as the database gives them: hex text on SQLite, UUIDs on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from flowyard.server.database.engine import json_loads
from flowyard.server.database.types import Timestamp


def untyped_columns(table: sa.Table) -> list[ColumnElement[Any]]:
    """The table's columns, selected as they are stored (no result processing). Each is
    labelled ``<table>_<column>`` so that two tables' columns never share a name."""
    return [
        sa.type_coerce(column, sa.types.NullType()).label(f"{table.name}_{column.key}")
        for column in table.c
    ]


def _is_json(column: sa.Column[Any]) -> bool:
    return isinstance(column.type, sa.JSON)


class RawDecoder:
    """Turns one table's untyped values into a dict keyed by column name."""

    __slots__ = ("keys", "json_keys", "time_keys")

    def __init__(self, table: sa.Table) -> None:
        self.keys: tuple[str, ...] = tuple(table.c.keys())
        self.json_keys = tuple(c.key for c in table.c if _is_json(c))
        self.time_keys = tuple(c.key for c in table.c if isinstance(c.type, Timestamp))

    def decode(self, values: Sequence[Any]) -> dict[str, Any]:
        row = dict(zip(self.keys, values, strict=True))
        for key in self.json_keys:
            value = row[key]
            if isinstance(value, str | bytes):
                row[key] = json_loads(value)
        for key in self.time_keys:
            value = row[key]
            if isinstance(value, str) and value[-1:].isdigit():
                row[key] = value + "Z"
        return row
