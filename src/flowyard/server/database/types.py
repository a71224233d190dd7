"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import os
import time
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect


class Timestamp(sa.TypeDecorator[dt.datetime]):
    """A timezone-aware UTC datetime on both dialects.

    SQLite has no timezone type, so values are stored as naive UTC and made aware again on
    the way out; PostgreSQL uses TIMESTAMPTZ. Naive values coming in are taken to be UTC.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        value = value.astimezone(dt.UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)

    # SQLite keeps datetimes as text. SQLAlchemy's own conversion (a format string one way,
    # a regular expression the other) is several times slower than the datetime methods
    # below, which read and write exactly the same text: "YYYY-MM-DD HH:MM:SS.ffffff".

    def bind_processor(self, dialect: Dialect) -> Any:
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)
        utc = dt.UTC

        def process(value: dt.datetime | None) -> str | None:
            if value is None:
                return None
            zone = value.tzinfo
            if zone is None:
                return value.isoformat(" ", "microseconds")
            # Any zone at offset zero (dt.UTC, or the UTC zone pydantic parses "Z" or
            # "+00:00" into) needs no conversion: only the offset is cut off the text,
            # "YYYY-MM-DD HH:MM:SS.ffffff+00:00".
            if zone is not utc and value.utcoffset():
                value = value.astimezone(utc)
            return value.isoformat(" ", "microseconds")[:26]

        return process

    def result_processor(self, dialect: Dialect, coltype: Any) -> Any:
        if dialect.name != "sqlite":
            return super().result_processor(dialect, coltype)
        utc = dt.UTC
        parse = dt.datetime.fromisoformat

        def process(value: str | None) -> dt.datetime | None:
            if value is None:
                return None
            parsed = parse(value)
            if parsed.tzinfo is None:
                return parsed.replace(tzinfo=utc)
            return parsed.astimezone(utc)

        return process


def JSONColumn() -> sa.types.TypeEngine[Any]:  # noqa: N802 - reads like a type
    """JSON on SQLite, JSONB on PostgreSQL (indexable, compact)."""
    return sa.JSON().with_variant(postgresql.JSONB(none_as_null=True), "postgresql")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


_VERSION_BITS = 0x7 << 76
_VARIANT_BITS = 0x2 << 62
_RANDOM_MASK = ~((0xF << 76) | (0x3 << 62)) & ((1 << 80) - 1)


def new_id() -> uuid.UUID:
    """A new primary key: a UUID whose leading 48 bits are the time in milliseconds, the
    rest random (the version 7 layout).

    Rows the server creates (runs, states, logs) land at the end of their primary-key index
    in creation order instead of at a random place in it: an insert dirties one or two pages
    of the index rather than one per row, which halves the cost of a commit once a table
    is large. The ids are as unique and as unguessable as random ones.
    """
    random = int.from_bytes(os.urandom(10), "big") & _RANDOM_MASK
    stamp = (time.time_ns() // 1_000_000) << 80
    return uuid.UUID(int=stamp | _VERSION_BITS | _VARIANT_BITS | random)
