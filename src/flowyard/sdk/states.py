"""Run states as the SDK sees them: small value objects built on the hot path.

A :class:`State` is what a task or flow run ends in. It carries the return value (or the
exception) in memory, so ``state.result()`` gives the value back or raises. It is a plain
``__slots__`` class, not a pydantic model: a task call creates two or three of them and
must stay near the cost of a function call. The reporter turns them into wire dicts in its
own thread; :meth:`State.to_wire` does it for the rare synchronous call.

State types are plain strings equal to :class:`flowyard.schemas.states.StateType` members
(a ``StrEnum``), so ``state.type == StateType.COMPLETED`` works without importing pydantic.
"""

from __future__ import annotations

import datetime as dt
import random
import time
import uuid
from typing import Any

from flowyard.exceptions import Cancelled as CancelledRun
from flowyard.exceptions import Crashed as CrashedRun
from flowyard.exceptions import FlowyardRunError, UpstreamTaskError

SCHEDULED = "SCHEDULED"
PENDING = "PENDING"
RUNNING = "RUNNING"
COMPLETED = "COMPLETED"
FAILED = "FAILED"
CANCELLED = "CANCELLED"
CRASHED = "CRASHED"
PAUSED = "PAUSED"
CANCELLING = "CANCELLING"

FINAL_TYPES = frozenset({COMPLETED, FAILED, CANCELLED, CRASHED})

_new_object = object.__new__
_set_attr = object.__setattr__


def new_id() -> uuid.UUID:
    """A time-ordered UUID (version 7 layout): ids sort by creation time, like upstream's.

    Built without ``uuid.UUID.__init__`` (which re-validates the integer): a few times
    cheaper, and every task call makes two or three.
    """
    rand = random.getrandbits(74)
    value = (
        ((time.time_ns() // 1_000_000) << 80)
        | (0x7 << 76)
        | ((rand >> 62) << 64)
        | (0b10 << 62)
        | (rand & 0x3FFFFFFFFFFFFFFF)
    )
    new: uuid.UUID = _new_object(uuid.UUID)
    _set_attr(new, "int", value)
    _set_attr(new, "is_safe", uuid.SafeUUID.unknown)
    return new


class State:
    """The state of a run: a type, a display name, a message and, in memory, its data.

    Args:
        type: one of the nine state types (``"COMPLETED"``, ``"FAILED"``, ...).
        name: display name; defaults to the capitalised type ("Completed").
        message: a human-readable explanation (for failures: the exception and traceback).
        data: the run's return value, or the exception it raised.
        timestamp: seconds since the epoch; defaults to now.
        state_details: extra wire fields (``scheduled_time``, ``cache_key``, ...).
    """

    __slots__ = ("type", "name", "message", "data", "ts", "state_details", "_id")

    @property
    def result_metadata(self) -> dict[str, Any] | None:
        """The stored record's metadata of a persisted result (see
        :class:`flowyard.sdk.results.PersistedState`); None: the value is in memory only."""
        return None

    def __init__(
        self,
        type: str,
        name: str | None = None,
        message: str | None = None,
        data: Any = None,
        timestamp: float | None = None,
        state_details: dict[str, Any] | None = None,
        id: uuid.UUID | None = None,
    ) -> None:
        self.type = str(type)
        self.name = name or self.type.capitalize()
        self.message = message
        self.data = data
        self.ts = time.time() if timestamp is None else timestamp
        self.state_details = state_details
        self._id = id

    @property
    def id(self) -> uuid.UUID:
        """The state's id (also the id of the event that reports it), made on first use."""
        if self._id is None:
            self._id = new_id()
        return self._id

    @property
    def timestamp(self) -> dt.datetime:
        """When the run entered this state (UTC)."""
        return dt.datetime.fromtimestamp(self.ts, dt.UTC)

    def is_scheduled(self) -> bool:
        """True for Scheduled, Late and AwaitingRetry states."""
        return self.type == SCHEDULED

    def is_pending(self) -> bool:
        """True for Pending states (including NotReady)."""
        return self.type == PENDING

    def is_running(self) -> bool:
        """True for Running and Retrying states."""
        return self.type == RUNNING

    def is_completed(self) -> bool:
        """True for Completed and Cached states."""
        return self.type == COMPLETED

    def is_failed(self) -> bool:
        """True for Failed and TimedOut states."""
        return self.type == FAILED

    def is_crashed(self) -> bool:
        """True when the run was interrupted by the interpreter or infrastructure."""
        return self.type == CRASHED

    def is_cancelled(self) -> bool:
        """True for Cancelled states."""
        return self.type == CANCELLED

    def is_paused(self) -> bool:
        """True for Paused and Suspended states."""
        return self.type == PAUSED

    def is_final(self) -> bool:
        """True for the terminal types: Completed, Failed, Cancelled, Crashed."""
        return self.type in FINAL_TYPES

    def result(self, raise_on_failure: bool = True) -> Any:
        """The run's return value.

        A failed, crashed or cancelled state raises the run's exception (or an error built
        from the message) unless ``raise_on_failure`` is false, in which case that
        exception is returned instead. A run that never ran because an upstream task failed
        raises :class:`~flowyard.exceptions.UpstreamTaskError`.
        """
        if self.type == COMPLETED:
            return self.data
        error = self.exception()
        if error is None:
            return self.data
        if raise_on_failure:
            raise error
        return error

    def exception(self) -> BaseException | None:
        """The exception a non-completed state stands for, or None."""
        if self.type == COMPLETED:
            return None
        if isinstance(self.data, BaseException):
            return self.data
        message = self.message or f"Run is in {self.name} state."
        if self.type == FAILED:
            return FlowyardRunError(message)
        if self.type == CRASHED:
            return CrashedRun(message)
        if self.type == CANCELLED:
            return CancelledRun(message)
        if self.type == PENDING and self.name == "NotReady":
            return UpstreamTaskError(message)
        return None

    def copy(self, **changes: Any) -> State:
        """A new state with some fields replaced (the id is never copied)."""
        return State(
            changes.get("type", self.type),
            changes.get("name", self.name),
            changes.get("message", self.message),
            changes.get("data", self.data),
            changes.get("timestamp", self.ts),
            changes.get("state_details", self.state_details),
        )

    def to_wire(self) -> dict[str, Any]:
        """The state as the API's ``StateCreate`` JSON (without data: results stay local)."""
        return {
            "type": self.type,
            "name": self.name,
            "message": self.message,
            "state_details": _jsonable_details(self.state_details),
            "data": None,
        }

    @classmethod
    def from_wire(cls, wire: Any, data: Any = None) -> State:
        """Build from an API state (a ``flowyard.schemas.states.State`` or its JSON dict)."""
        if isinstance(wire, dict):
            get = wire.get
            details = get("state_details") or {}
            ts = get("timestamp")
            state_id = get("id")
            kind, name, message = get("type"), get("name"), get("message")
            wire_data = get("data")
        else:
            details = wire.state_details.model_dump(exclude_defaults=True)
            ts, state_id = wire.timestamp, wire.id
            kind, name, message = wire.type, wire.name, wire.message
            wire_data = wire.data
        if isinstance(ts, str):
            ts = dt.datetime.fromisoformat(ts.replace("Z", "+00:00"))
        seconds = ts.timestamp() if isinstance(ts, dt.datetime) else None
        if isinstance(state_id, str):
            state_id = uuid.UUID(state_id)
        if data is None and isinstance(wire_data, dict) and "storage_key" in wire_data:
            # A persisted result: keep the reference; result() reads the value from the
            # local result storage (never from the API response itself).
            from flowyard.sdk.results import PersistedState, is_result_metadata

            if is_result_metadata(wire_data):
                return PersistedState(
                    str(kind), name, message, None, seconds, dict(details) or None, state_id,
                    metadata=dict(wire_data), loaded=False,
                )  # fmt: skip
        return cls(str(kind), name, message, data, seconds, dict(details) or None, state_id)

    def __repr__(self) -> str:
        args = []
        if self.message:
            first = self.message.splitlines()[0]
            args.append(repr(first[:80] + ("..." if len(first) > 80 else "")))
        if self.name != self.type.capitalize():
            args.append(f"type={self.type}")
        return f"{self.name}({', '.join(args)})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, State):
            return NotImplemented
        return (self.type, self.name, self.message, self.ts) == (
            other.type,
            other.name,
            other.message,
            other.ts,
        )

    __hash__ = None  # type: ignore[assignment]  # mutable value object


def _jsonable_details(details: dict[str, Any] | None) -> dict[str, Any]:
    if not details:
        return {}
    out: dict[str, Any] = {}
    for key, value in details.items():
        if isinstance(value, dt.datetime):
            value = value.isoformat()
        elif isinstance(value, float) and key in ("scheduled_time", "cache_expiration"):
            value = dt.datetime.fromtimestamp(value, dt.UTC).isoformat()
        elif isinstance(value, uuid.UUID):
            value = str(value)
        out[key] = value
    return out


def Scheduled(scheduled_time: float | None = None, **kwargs: Any) -> State:  # noqa: N802
    """A Scheduled state; ``scheduled_time`` is seconds since the epoch."""
    return _with_schedule(SCHEDULED, "Scheduled", scheduled_time, kwargs)


def AwaitingRetry(scheduled_time: float | None = None, **kwargs: Any) -> State:  # noqa: N802
    """A Scheduled state named AwaitingRetry: the run will retry at ``scheduled_time``."""
    return _with_schedule(SCHEDULED, "AwaitingRetry", scheduled_time, kwargs)


def _with_schedule(kind: str, name: str, when: float | None, kwargs: dict[str, Any]) -> State:
    details = dict(kwargs.pop("state_details", None) or {})
    details["scheduled_time"] = time.time() if when is None else when
    kwargs.setdefault("name", name)
    return State(kind, state_details=details, **kwargs)


def Pending(**kwargs: Any) -> State:  # noqa: N802
    """A Pending state: the run exists and waits to start."""
    return State(PENDING, **kwargs)


def Running(**kwargs: Any) -> State:  # noqa: N802
    """A Running state."""
    return State(RUNNING, **kwargs)


def Retrying(**kwargs: Any) -> State:  # noqa: N802
    """A Running state named Retrying: a run's second or later attempt."""
    kwargs.setdefault("name", "Retrying")
    return State(RUNNING, **kwargs)


def Completed(**kwargs: Any) -> State:  # noqa: N802
    """A Completed state; ``data`` is the return value."""
    return State(COMPLETED, **kwargs)


def Cached(**kwargs: Any) -> State:  # noqa: N802
    """A Completed state named Cached: the result came from the cache."""
    kwargs.setdefault("name", "Cached")
    return State(COMPLETED, **kwargs)


def Failed(**kwargs: Any) -> State:  # noqa: N802
    """A Failed state; ``data`` is usually the exception."""
    return State(FAILED, **kwargs)


def TimedOut(**kwargs: Any) -> State:  # noqa: N802
    """A Failed state named TimedOut: the run exceeded its timeout."""
    kwargs.setdefault("name", "TimedOut")
    return State(FAILED, **kwargs)


def Crashed(**kwargs: Any) -> State:  # noqa: N802
    """A Crashed state: the interpreter or infrastructure stopped the run."""
    return State(CRASHED, **kwargs)


def Cancelled(**kwargs: Any) -> State:  # noqa: N802
    """A Cancelled state."""
    return State(CANCELLED, **kwargs)


def Paused(**kwargs: Any) -> State:  # noqa: N802
    """A Paused state."""
    return State(PAUSED, **kwargs)
