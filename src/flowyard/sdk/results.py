"""Persisted results: task and flow return values kept in result storage.

A result is persisted when the run asks for it -- ``persist_result=True``, a cache
policy or ``cache_key_fn``, a ``result_storage`` or ``result_serializer`` on the task, or
``persist_result=True`` on the enclosing flow. It is written as one JSON record::

    {"metadata": {"storage_key": "/home/me/.flowyard/storage/3f2a...",
                  "expiration": "2025-01-01T12:00:00+00:00" | null,
                  "serializer": {"type": "pickle", "picklelib": "cloudpickle"},
                  "storage_block_id": null},
     "result": "<the serialized value, as text>"}

and the run's final state carries the metadata to the API as its ``data`` (the value
stays local). :func:`load_result` reads the value back later, in any process that shares
the storage -- from a state read from the API, for instance.

Safety: the serialized value is only ever read from a file inside the user's own result
storage; what the API returns is used as a *path*, checked to lie inside that storage,
and the serializer is the one named in the stored file, not in the API response.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
import uuid
from typing import TYPE_CHECKING, Any

from flowyard.exceptions import MissingResult
from flowyard.sdk import states
from flowyard.sdk.caching import DEFAULT, NO_CACHE, CachePolicy, hash_objects
from flowyard.sdk.serializers import Serializer, resolve_serializer, serializer_from_metadata
from flowyard.sdk.storage import LocalFileSystem, ResultStorage, resolve_storage

if TYPE_CHECKING:
    from flowyard.sdk.context import FlowRunContext
    from flowyard.sdk.flows import Flow
    from flowyard.sdk.tasks import Task, TaskRun

logger = logging.getLogger("flowyard.results")


class PersistedState(states.State):
    """A Completed (or Cached) state whose value is also in result storage.

    ``data`` is the value when it is in memory. A state rebuilt from the API has only
    the metadata; :meth:`result` then reads the value from storage.
    """

    __slots__ = ("_metadata", "_storage", "_loaded")

    def __init__(
        self,
        type: str,
        name: str | None = None,
        message: str | None = None,
        data: Any = None,
        timestamp: float | None = None,
        state_details: dict[str, Any] | None = None,
        id: uuid.UUID | None = None,
        *,
        metadata: dict[str, Any],
        storage: ResultStorage | None = None,
        loaded: bool = True,
    ) -> None:
        super().__init__(type, name, message, data, timestamp, state_details, id)
        self._metadata = metadata
        self._storage = storage
        self._loaded = loaded

    @property
    def result_metadata(self) -> dict[str, Any] | None:
        """``{storage_key, expiration, serializer, storage_block_id}`` of the record."""
        return self._metadata

    def result(self, raise_on_failure: bool = True) -> Any:
        """The value: from memory, else read from result storage (then kept)."""
        if self.type == states.COMPLETED and not self._loaded:
            self.data = load_metadata(self._metadata, self._storage)
            self._loaded = True
        return super().result(raise_on_failure)

    def to_wire(self) -> dict[str, Any]:
        """The API form: the record's metadata (never the value) is the state's data."""
        wire = super().to_wire()
        wire["data"] = dict(self._metadata)
        return wire

    def copy(self, **changes: Any) -> states.State:
        """A copy that still refers to the stored record (``data=None`` drops the value
        from memory, not the record)."""
        dropped = "data" in changes and changes["data"] is None
        return PersistedState(
            changes.get("type", self.type),
            changes.get("name", self.name),
            changes.get("message", self.message),
            None if dropped else changes.get("data", self.data),
            changes.get("timestamp", self.ts),
            changes.get("state_details", self.state_details),
            metadata=self._metadata,
            storage=self._storage,
            loaded=self._loaded and not dropped,
        )


# -- records -------------------------------------------------------------------------------


def _iso(ts: float | None) -> str | None:
    return None if ts is None else dt.datetime.fromtimestamp(ts, dt.UTC).isoformat()


def _timestamp(value: Any) -> float | None:
    if value is None:
        return None
    when = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.timestamp()


def write_record(
    storage: ResultStorage,
    path: str,
    value: Any,
    serializer: Serializer,
    expiration: float | None = None,
) -> dict[str, Any]:
    """Serialize ``value`` and store it at ``path`` (atomically); returns the metadata.

    Raises:
        Exception: whatever the serializer or the storage raised.
    """
    metadata = {
        "storage_key": storage.key_for(path),
        "expiration": _iso(expiration),
        "serializer": serializer.to_metadata(),
        "storage_block_id": None,
    }
    body = serializer.dumps(value).decode()
    storage.write_path(path, json.dumps({"metadata": metadata, "result": body}).encode())
    return metadata


def read_record(storage: ResultStorage, path: str) -> tuple[dict[str, Any], Any]:
    """The metadata and value stored at ``path``.

    Raises:
        FileNotFoundError: no record there.
        ValueError: the record is not one Flowyard wrote, or ``path`` is outside storage.
    """
    record = json.loads(storage.read_path(path))
    if not isinstance(record, dict) or not isinstance(record.get("metadata"), dict):
        raise ValueError(f"{path} is not a result record.")
    metadata: dict[str, Any] = record["metadata"]
    # The serializer named in the stored file decides how to read it.
    serializer = serializer_from_metadata(metadata.get("serializer") or {})
    return metadata, serializer.loads(str(record.get("result", "")).encode())


def load_metadata(metadata: dict[str, Any], storage: ResultStorage | None = None) -> Any:
    """The value of the record that ``metadata`` (a state's API ``data``) points to.

    Raises:
        MissingResult: the record is not in ``storage`` (default: the local storage).
    """
    key = metadata.get("storage_key")
    if not key:
        raise MissingResult("The state's data does not name a stored result.")
    if metadata.get("storage_block_id") is not None:
        raise MissingResult("Results in remote storage blocks cannot be read by this client.")
    storage = storage or LocalFileSystem()
    try:
        return read_record(storage, str(key))[1]
    except FileNotFoundError:
        raise MissingResult(f"The stored result {key} no longer exists.") from None
    except ValueError as exc:
        raise MissingResult(f"The stored result {key} cannot be read: {exc}") from None


def is_result_metadata(data: Any) -> bool:
    """Whether an API state's ``data`` is a result record's metadata."""
    return isinstance(data, dict) and isinstance(data.get("storage_key"), str)


def load_result(state: Any, storage: ResultStorage | None = None) -> Any:
    """The value of a run's final state, from memory or from result storage.

    Works on the SDK's own states (``return_state=True``), on states read from the API
    (``client.read_flow_run(id).state``) and on their JSON form, in any process that
    shares the result storage.

    Args:
        state: a :class:`~flowyard.sdk.states.State`, an API state, or its dict.
        storage: the storage the result was written to (default: the local one under
            ``$FLOWYARD_HOME/storage``); the record must lie inside it.

    Raises:
        MissingResult: the state has no persisted result, or it can no longer be read.
        Exception: the run's own exception, for a failed state.
    """
    if isinstance(state, PersistedState):
        if storage is not None and not state._loaded:
            state._storage = storage
        return state.result()
    if isinstance(state, states.State):
        return state.result()  # an SDK state holds its value in memory
    rebuilt = states.State.from_wire(state)
    if isinstance(rebuilt, PersistedState):
        return load_result(rebuilt, storage)
    if rebuilt.is_completed():
        raise MissingResult(f"{rebuilt!r} has no persisted result (persist_result=False?).")
    return rebuilt.result()


# -- the task seam ---------------------------------------------------------------------------


class TaskResults:
    """A task's caching and persistence: the engine's ``result_seam`` (see
    :class:`flowyard.sdk.engine.task_engine.ResultSeam`).

    ``storage`` and ``serializer`` of None mean: the enclosing flow's, else the
    defaults. Never raises into the engine: a key that cannot be computed or a result
    that cannot be written is logged, and the run goes on without the cache.
    """

    __slots__ = ("policy", "expiration", "refresh", "storage", "serializer")

    def __init__(
        self,
        policy: CachePolicy | None = DEFAULT,
        expiration: dt.timedelta | None = None,
        refresh: bool = False,
        storage: ResultStorage | None = None,
        serializer: Serializer | None = None,
    ) -> None:
        self.policy = policy
        self.expiration = expiration
        self.refresh = refresh
        self.storage = storage
        self.serializer = serializer

    def __repr__(self) -> str:
        return f"TaskResults(policy={self.policy!r}, storage={self.storage!r})"

    def __getstate__(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for name, value in state.items():
            setattr(self, name, value)

    def _storage(self, flow_ctx: FlowRunContext | None) -> ResultStorage:
        if self.storage is not None:
            return self.storage
        flow_storage = getattr(flow_ctx.flow, "result_storage", None) if flow_ctx else None
        return resolve_storage(flow_storage)

    def _serializer(self, flow_ctx: FlowRunContext | None) -> Serializer:
        if self.serializer is not None:
            return self.serializer
        flow_serializer = getattr(flow_ctx.flow, "result_serializer", None) if flow_ctx else None
        return resolve_serializer(flow_serializer)

    def cache_key(
        self, task: Task[..., Any], run: TaskRun, parameters: dict[str, Any]
    ) -> str | None:
        """The call's cache key under this policy (None: not cached)."""
        policy = self.policy
        if policy is None or policy is NO_CACHE:
            return None
        from flowyard.sdk.context import FLOW_RUN, TaskRunContext

        flow_ctx = FLOW_RUN.get()
        reporter: Any = flow_ctx.reporter if flow_ctx is not None else None
        task_ctx = TaskRunContext(task, run, parameters, False, reporter)
        flow_parameters = flow_ctx.parameters if flow_ctx is not None else {}
        extra = {}
        if flow_ctx is not None and flow_ctx.parameters_key is not None:
            extra["flow_parameters_key"] = flow_ctx.parameters_key
        return policy.compute_key(task_ctx, parameters, flow_parameters, **extra)

    def lookup(
        self, task: Task[..., Any], run: TaskRun, parameters: dict[str, Any]
    ) -> states.State | None:
        """A Cached state when the call's key has an unexpired record in storage."""
        try:
            key = self.cache_key(task, run, parameters)
        except Exception as exc:  # noqa: BLE001 - a key that cannot be made means no cache
            logger.warning(
                "Task run %r is not cached: its cache key could not be computed (%s).",
                run.name,
                exc,
            )
            key = None
        run.cache_key = key
        if key is None or self.refresh:
            return None
        from flowyard.sdk.context import FLOW_RUN

        storage = self._storage(FLOW_RUN.get())
        try:
            metadata, value = read_record(storage, key)
        except FileNotFoundError:
            return None
        except Exception as exc:  # noqa: BLE001 - an unreadable record is a miss, not a failure
            logger.warning("Ignoring the unreadable cache record %r: %s", key, exc)
            return None
        expiration = _timestamp(metadata.get("expiration"))
        if expiration is not None and expiration <= time.time():
            return None
        return PersistedState(
            states.COMPLETED,
            "Cached",
            data=value,
            state_details={"cache_key": key, "cache_expiration": expiration},
            metadata=metadata,
            storage=storage,
        )

    def persist(
        self, task: Task[..., Any], run: TaskRun, parameters: dict[str, Any], state: states.State
    ) -> states.State:
        """Write the result (under the cache key, or a fresh one); the state to finish in."""
        if isinstance(state, PersistedState):
            return state  # returned by the body, already stored
        from flowyard.sdk.context import FLOW_RUN

        flow_ctx = FLOW_RUN.get()
        key: str | None = getattr(run, "cache_key", None)
        expiration = (
            time.time() + self.expiration.total_seconds()
            if key is not None and self.expiration is not None
            else None
        )
        storage = self._storage(flow_ctx)
        try:
            metadata = write_record(
                storage, key or uuid.uuid4().hex, state.data, self._serializer(flow_ctx), expiration
            )
        except Exception as exc:  # noqa: BLE001 - the run succeeded; only persistence failed
            logger.warning("The result of task run %r was not persisted: %s", run.name, exc)
            return state
        details = dict(state.state_details or {})
        if key is not None:
            details["cache_key"] = key
            details["cache_expiration"] = expiration
        return PersistedState(
            state.type,
            state.name,
            state.message,
            state.data,
            state.ts,
            details or None,
            metadata=metadata,
            storage=storage,
        )


# The seam of tasks that name no result options, inside a flow that persists results.
INHERITED = TaskResults(DEFAULT)


def task_results(
    *,
    cache_policy: Any,
    cache_key_fn: Any,
    cache_expiration: Any,
    refresh_cache: bool,
    persist_result: bool | None,
    result_storage: Any,
    result_serializer: Any,
    task_name: str,
) -> TaskResults | None:
    """The seam for a task's options (None: nothing to cache or persist: the fast path).

    Raises:
        TypeError: an option of the wrong type.
        ValueError: an unknown serializer name.
    """
    from flowyard.sdk.caching import CacheKeyFnPolicy

    policy: CachePolicy | None = cache_policy
    if cache_key_fn is not None:
        if cache_policy is not None:
            logger.warning(
                "Task %r sets both cache_policy and cache_key_fn; cache_key_fn is used.",
                task_name,
            )
        policy = CacheKeyFnPolicy(cache_key_fn)
    if policy is not None and not isinstance(policy, CachePolicy):
        raise TypeError(f"cache_policy must be a CachePolicy, not {type(policy).__name__}")
    if isinstance(cache_expiration, int | float):
        cache_expiration = dt.timedelta(seconds=cache_expiration)
    if cache_expiration is not None and not isinstance(cache_expiration, dt.timedelta):
        raise TypeError("cache_expiration must be a timedelta (or a number of seconds)")
    wants_cache = policy is not None and policy is not NO_CACHE
    if persist_result is None:
        persist_result = bool(
            wants_cache or result_storage is not None or result_serializer is not None
        )
    if not persist_result:
        return None
    return TaskResults(
        DEFAULT if policy is None else policy,
        cache_expiration,
        refresh_cache,
        None if result_storage is None else resolve_storage(result_storage),
        None if result_serializer is None else resolve_serializer(result_serializer),
    )


# -- flows -----------------------------------------------------------------------------------


def flow_persists(flow: Flow[..., Any], parent: FlowRunContext | None) -> bool:
    """Whether ``flow`` persists results: its own option, else implied by a storage or
    serializer, else inherited from the parent flow run."""
    option = flow.persist_result
    if option is not None:
        return bool(option)
    if flow.result_storage is not None or flow.result_serializer is not None:
        return True
    return parent is not None and parent.task_result_seam is not None


def persist_flow_result(flow: Flow[..., Any], state: states.State) -> states.State:
    """Store a flow run's Completed result; the state to propose (with the metadata)."""
    if isinstance(state, PersistedState) or not state.is_completed():
        return state
    storage = resolve_storage(flow.result_storage)
    try:
        metadata = write_record(
            storage, uuid.uuid4().hex, state.data, resolve_serializer(flow.result_serializer)
        )
    except Exception as exc:  # noqa: BLE001 - the run succeeded; only persistence failed
        logger.warning("The result of flow %r was not persisted: %s", flow.name, exc)
        return state
    return PersistedState(
        state.type,
        state.name,
        state.message,
        state.data,
        state.ts,
        state.state_details,
        metadata=metadata,
        storage=storage,
    )


def flow_parameters_key(flow_ctx: FlowRunContext) -> str | None:
    """A hash of the flow run's parameters, computed once per run (None: unhashable)."""
    if flow_ctx.parameters_key is None and flow_ctx.parameters:
        try:
            flow_ctx.parameters_key = hash_objects(flow_ctx.parameters)
        except ValueError:
            return None
    return flow_ctx.parameters_key
