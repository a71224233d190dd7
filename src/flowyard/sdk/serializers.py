"""Serializers: how a persisted result becomes bytes in storage, and back.

Both produce UTF-8 text (JSON, or base64 of a cloudpickle), so a stored result record is
one JSON document that a person can open. :class:`PickleSerializer` (the default) takes
any Python object; :class:`JSONSerializer` takes JSON values only but reads back
anywhere.

Unpickling runs code: Flowyard only ever unpickles bytes it reads from the user's own
result storage, never anything an API response carried.
"""

from __future__ import annotations

import base64
import json
from typing import Any


class Serializer:
    """Turns a result into text bytes and back; ``type`` names it in result metadata."""

    type: str = ""

    def dumps(self, value: Any) -> bytes:
        """``value`` as UTF-8 text bytes."""
        raise NotImplementedError

    def loads(self, blob: bytes) -> Any:
        """The value that :meth:`dumps` turned into ``blob``."""
        raise NotImplementedError

    def to_metadata(self) -> dict[str, Any]:
        """The serializer as result metadata records it: ``{"type": ...}``."""
        return {"type": self.type}

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and vars(other) == vars(self)

    def __hash__(self) -> int:
        return hash(self.type)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class PickleSerializer(Serializer):
    """Any picklable Python object, with cloudpickle (the default serializer).

    Stored as base64 text. Functions, closures and classes defined in ``__main__`` work.
    """

    type = "pickle"

    def dumps(self, value: Any) -> bytes:
        """The cloudpickle of ``value``, base64-encoded."""
        import cloudpickle  # type: ignore[import-untyped]

        return base64.b64encode(cloudpickle.dumps(value))

    def loads(self, blob: bytes) -> Any:
        """Unpickle: only ever called on bytes read from the user's own storage."""
        import cloudpickle

        return cloudpickle.loads(base64.b64decode(blob))

    def to_metadata(self) -> dict[str, Any]:
        """``{"type": "pickle", "picklelib": "cloudpickle"}``, as the Prefect client writes."""
        return {"type": self.type, "picklelib": "cloudpickle"}


class JSONSerializer(Serializer):
    """JSON values only (dicts, lists, strings, numbers, booleans, None).

    Tuples come back as lists. Dates, UUIDs, paths, sets and pydantic models are
    written in their JSON form and come back in that form.
    """

    type = "json"

    def dumps(self, value: Any) -> bytes:
        """``value`` as JSON text.

        Raises:
            TypeError: ``value`` is not representable in JSON.
        """
        return json.dumps(value, default=json_default).encode()

    def loads(self, blob: bytes) -> Any:
        """Parse the JSON text."""
        return json.loads(blob)


def json_default(value: Any) -> Any:
    """JSON forms of common non-JSON values (used by the JSON serializer and cache keys).

    Raises:
        TypeError: no JSON form is known for ``value``'s type.
    """
    import dataclasses
    import datetime as dt
    import decimal
    import enum
    import pathlib
    import uuid

    if isinstance(value, set | frozenset):
        # Sorted by their JSON text: set order changes between processes.
        return sorted(json.dumps(v, default=json_default, sort_keys=True) for v in value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, uuid.UUID | decimal.Decimal | pathlib.PurePath):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, enum.Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    dump = getattr(value, "model_dump", None)
    if callable(dump):  # a pydantic model
        return dump(mode="json")
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


SERIALIZERS: dict[str, type[Serializer]] = {
    "pickle": PickleSerializer,
    "cloudpickle": PickleSerializer,
    "json": JSONSerializer,
}


def resolve_serializer(value: Serializer | str | None) -> Serializer:
    """A serializer from an option value: an instance, a name, or None (the default).

    Raises:
        ValueError: an unknown serializer name.
    """
    if value is None:
        return PickleSerializer()
    if isinstance(value, Serializer):
        return value
    kind = SERIALIZERS.get(str(value).lower())
    if kind is None:
        known = ", ".join(sorted(SERIALIZERS))
        raise ValueError(f"Unknown result serializer {value!r}; use one of: {known}")
    return kind()


def serializer_from_metadata(metadata: dict[str, Any]) -> Serializer:
    """The serializer a stored record names (``{"type": "json"}`` ...).

    Raises:
        ValueError: the record names a serializer this version does not know.
    """
    return resolve_serializer(str(metadata.get("type") or "pickle"))
