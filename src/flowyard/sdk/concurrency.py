"""Concurrency and rate limits in user code, and the slots of tag-limited tasks.

``with concurrency("db", occupy=2):`` takes two slots of the global limit ``db`` (waiting
while it is full), holds them with a lease that a background thread renews, and gives
them back when the block exits, also on an exception. A process that dies while holding
slots stops renewing, so its lease expires and the server frees them.

``rate_limit("api")`` takes slots of a limit with ``slot_decay_per_second``: they are never
given back, they decay, which spaces the callers out.

Tasks tagged ``db`` take one slot of the tag limit ``tag:db`` for the whole run. Which tags
have a limit is looked up once per flow run (and every ``TAG_CACHE_SECONDS``), so a tagged
task whose tags have no limit makes no request at all.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
import weakref
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from flowyard.exceptions import ConcurrencySlotTimeout, InvalidRequest, ObjectNotFound

if TYPE_CHECKING:
    from types import TracebackType

    from flowyard.client import SyncFlowyardClient
    from flowyard.schemas.actions import ConcurrencyLeaseHolder
    from flowyard.sdk.engine.api import EngineAPI
    from flowyard.sdk.engine.task_engine import TaskRunEngine
    from flowyard.sdk.states import State

logger = logging.getLogger("flowyard.concurrency")

DEFAULT_LEASE_SECONDS = 300.0
# Tag slots are held for a task run; a shorter lease frees them sooner if the process dies.
TASK_LEASE_SECONDS = 60.0
TAG_CACHE_SECONDS = 10.0
TAG_PREFIX = "tag:"


# -- the lease renewer ---------------------------------------------------------------------


class LeaseRenewer:
    """One daemon thread that renews every lease this process holds, each at a third of
    its duration, so a held slot never expires while its holder is alive."""

    def __init__(self) -> None:
        self._leases: dict[uuid.UUID, tuple[SyncFlowyardClient, float, float]] = {}
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None

    def add(self, client: SyncFlowyardClient, lease_id: uuid.UUID, duration: float) -> None:
        """Start renewing ``lease_id`` (of ``duration`` seconds) until :meth:`remove`."""
        with self._wake:
            self._leases[lease_id] = (client, duration, time.monotonic() + duration / 3)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._loop, name="flowyard-lease-renewer", daemon=True
                )
                self._thread.start()
            self._wake.notify()

    def remove(self, lease_id: uuid.UUID) -> None:
        """Stop renewing ``lease_id`` (it is being released)."""
        with self._wake:
            self._leases.pop(lease_id, None)

    def held(self) -> list[uuid.UUID]:
        """The leases being renewed now."""
        with self._wake:
            return list(self._leases)

    def _loop(self) -> None:
        while True:
            with self._wake:
                now = time.monotonic()
                due = [(i, c, d) for i, (c, d, at) in self._leases.items() if at <= now]
                if not due:
                    waits = [at - now for _, _, at in self._leases.values()]
                    self._wake.wait(min(waits, default=60.0))
                    continue
                for lease_id, client, duration in due:
                    self._leases[lease_id] = (client, duration, now + duration / 3)
            for lease_id, client, duration in due:
                self._renew(lease_id, client, duration)

    def _renew(self, lease_id: uuid.UUID, client: SyncFlowyardClient, duration: float) -> None:
        try:
            client.renew_lease(lease_id, lease_duration=duration)
        except ObjectNotFound:
            with self._wake:
                lost = self._leases.pop(lease_id, None) is not None
            if lost:
                logger.warning(
                    "Concurrency lease %s expired or was revoked: its slots are no longer "
                    "reserved for this process.",
                    lease_id,
                )
        except Exception as exc:  # noqa: BLE001 - retried at the next third of the lease
            logger.warning("Renewing concurrency lease %s failed: %s", lease_id, exc)


RENEWER = LeaseRenewer()


# -- concurrency() and rate_limit() --------------------------------------------------------


def _names(names: str | Iterable[str]) -> list[str]:
    listed = [names] if isinstance(names, str) else list(names)
    if not listed:
        raise ValueError("concurrency: give at least one limit name")
    return listed


def _client() -> SyncFlowyardClient:
    from flowyard.sdk._client_calls import sync_client

    return sync_client()


def _current_holder() -> ConcurrencyLeaseHolder | None:
    # Naming the run lets the server's run monitors free the slots of a run found dead.
    from flowyard.schemas.actions import ConcurrencyLeaseHolder
    from flowyard.sdk.context import FLOW_RUN, TASK_RUN

    task_ctx = TASK_RUN.get()
    if task_ctx is not None:
        return ConcurrencyLeaseHolder(type="task_run", id=task_ctx.task_run.id)
    flow_ctx = FLOW_RUN.get()
    if flow_ctx is not None:
        return ConcurrencyLeaseHolder(type="flow_run", id=flow_ctx.flow_run.id)
    return None


def _check_found(
    client: SyncFlowyardClient, names: list[str], found: Iterable[str], strict: bool
) -> None:
    missing = [name for name in names if name not in set(found)]
    if not missing:
        return
    if strict:
        # An inactive limit grants nothing but exists; only absent ones are an error.
        absent = []
        for name in missing:
            try:
                client.read_concurrency_limit(name)
            except ObjectNotFound:
                absent.append(name)
        if absent:
            raise ObjectNotFound(
                f"Concurrency limit(s) {', '.join(map(repr, absent))} do not exist (strict=True).",
                404,
            )
        return
    logger.warning(
        "Concurrency limit(s) %s do not exist or are inactive: nothing to wait for.",
        ", ".join(map(repr, missing)),
    )


class concurrency:  # noqa: N801 - used like a function, as in the field
    """Hold slots of one or more global concurrency limits for the duration of a block.

    Use ``with concurrency("db", occupy=2): ...`` in sync code and ``async with`` in async
    code. Entering waits (with backoff, as long as ``timeout_seconds`` allows) until every
    named limit has ``occupy`` free slots, and takes them all at once; the slots are held by
    a lease renewed in the background and given back when the block exits, even on an
    exception. Inside a flow or task run, the run is recorded as the holder.

    Args:
        names: a limit name, or several (all are taken, or none).
        occupy: slots to take on each limit.
        timeout_seconds: give up waiting after this long (``None``: wait as long as needed).
        strict: raise ``ObjectNotFound`` when a named limit does not exist, instead of
            running the block unlimited with a warning.
        lease_duration: seconds the lease lives between renewals; if this process dies,
            its slots come back about this long after.

    Raises:
        ConcurrencySlotTimeout: the slots were not free within ``timeout_seconds``.
        InvalidRequest: ``occupy`` is larger than a limit.
    """

    def __init__(
        self,
        names: str | Iterable[str],
        occupy: int = 1,
        timeout_seconds: float | None = None,
        strict: bool = False,
        lease_duration: float = DEFAULT_LEASE_SECONDS,
    ) -> None:
        if occupy < 1:
            raise ValueError("occupy must be at least 1")
        self.names = _names(names)
        self.occupy = occupy
        self.timeout_seconds = timeout_seconds
        self.strict = strict
        self.lease_duration = lease_duration
        self.lease_id: uuid.UUID | None = None
        self._client: SyncFlowyardClient | None = None

    def _acquire(self, holder: ConcurrencyLeaseHolder | None) -> None:
        client = self._client = _client()
        lease = client.increment_with_lease(
            self.names,
            self.occupy,
            lease_duration=self.lease_duration,
            holder=holder,
            timeout_seconds=self.timeout_seconds,
        )
        if not lease.limits:
            _check_found(client, self.names, (), self.strict)
            return
        self.lease_id = lease.lease_id
        RENEWER.add(client, lease.lease_id, self.lease_duration)
        try:
            _check_found(client, self.names, (limit.name for limit in lease.limits), self.strict)
        except BaseException:
            self._release()
            raise

    def _release(self) -> None:
        lease_id, self.lease_id = self.lease_id, None
        if lease_id is None or self._client is None:
            return
        RENEWER.remove(lease_id)
        self._client.decrement_with_lease(lease_id)

    def __enter__(self) -> concurrency:
        self._acquire(_current_holder())
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._release()

    async def __aenter__(self) -> concurrency:
        # The wait happens in a worker thread: the event loop keeps running other tasks.
        await asyncio.to_thread(self._acquire, _current_holder())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self._release)


def rate_limit(
    names: str | Iterable[str],
    occupy: int = 1,
    timeout_seconds: float | None = None,
    strict: bool = False,
) -> None:
    """Wait until ``occupy`` slots of each named rate limit are free, and take them.

    A rate limit is a global limit with ``slot_decay_per_second`` above zero: its slots
    are never released, they decay at that rate, so at most ``limit`` calls pass at once
    and then one per ``1 / slot_decay_per_second`` seconds.

    Raises:
        ConcurrencySlotTimeout: the slots were not free within ``timeout_seconds``.
        InvalidRequest: a named limit has no slot decay.
        ObjectNotFound: with ``strict=True``, a named limit does not exist.
    """
    listed = _names(names)
    client = _client()
    taken = client.increment_slots(
        listed, occupy, mode="rate_limit", timeout_seconds=timeout_seconds
    )
    _check_found(client, listed, (limit.name for limit in taken), strict)


async def arate_limit(
    names: str | Iterable[str],
    occupy: int = 1,
    timeout_seconds: float | None = None,
    strict: bool = False,
) -> None:
    """:func:`rate_limit` for async code: waits without blocking the event loop."""
    await asyncio.to_thread(rate_limit, names, occupy, timeout_seconds, strict)


# -- tag limits of task runs ---------------------------------------------------------------


class _TagLimits:
    """The tags that have a limit, as last read from the API."""

    __slots__ = ("tags", "fetched", "flow_runs", "lock")

    def __init__(self) -> None:
        self.tags: frozenset[str] = frozenset()
        self.fetched = float("-inf")
        self.flow_runs: set[Any] = set()
        self.lock = threading.Lock()


_tag_limits: weakref.WeakKeyDictionary[EngineAPI, _TagLimits] = weakref.WeakKeyDictionary()
# Task run id -> the lease holding its tag slots (set before Running, popped at the end).
_held: dict[uuid.UUID, uuid.UUID] = {}


def limited_tags(tags: Iterable[str], flow_run_id: Any) -> list[str]:
    """The limit names (``tag:<tag>``) of those ``tags`` that have a limit.

    Read from the API at most once per flow run and every ``TAG_CACHE_SECONDS``.
    """
    from flowyard.sdk.engine.api import get_api

    api = get_api()
    cache = _tag_limits.get(api)
    if cache is None:
        cache = _tag_limits.setdefault(api, _TagLimits())
    now = time.monotonic()
    if now - cache.fetched > TAG_CACHE_SECONDS or flow_run_id not in cache.flow_runs:
        with cache.lock:
            now = time.monotonic()
            expired = now - cache.fetched > TAG_CACHE_SECONDS
            if expired or flow_run_id not in cache.flow_runs:
                cache.tags = _read_limited_tags(api.client)
                cache.fetched = now
                if expired or len(cache.flow_runs) > 1000:
                    cache.flow_runs.clear()
                cache.flow_runs.add(flow_run_id)
    limited = cache.tags
    return [TAG_PREFIX + tag for tag in tags if tag in limited]


def _read_limited_tags(client: SyncFlowyardClient) -> frozenset[str]:
    tags: set[str] = set()
    while True:
        page = client.read_tag_concurrency_limits(limit=200, offset=len(tags))
        tags.update(limit.tag for limit in page)
        if len(page) < 200:
            return frozenset(tags)


def take_tag_slots(engine: TaskRunEngine) -> State | None:
    """Before a tagged task run starts: take a slot of each of its tags' limits.

    While a limit is full the run is AwaitingConcurrencySlot. Returns None once the run
    may start, or a Failed state when it never can (a limit of 0 slots).
    """
    from flowyard.schemas.actions import ConcurrencyLeaseHolder
    from flowyard.sdk import states

    run = engine.run
    names = limited_tags(run.tags, run.flow_run_id)
    if not names:
        return None
    client = _client()
    holder = ConcurrencyLeaseHolder(type="task_run", id=run.id)

    def take(timeout: float | None) -> Any:
        return client.increment_with_lease(
            names, 1, lease_duration=TASK_LEASE_SECONDS, holder=holder, timeout_seconds=timeout
        )

    try:
        try:
            lease = take(0)
        except ConcurrencySlotTimeout:
            waiting = states.Scheduled(
                name="AwaitingConcurrencySlot",
                message=f"Waiting for a slot of {', '.join(names)}.",
            )
            engine._set(waiting)
            # Sent now, so that the wait shows in the run's states even if the slot frees
            # before the next batch would have gone out.
            engine.reporter.flush(timeout=30)
            lease = take(None)
    except InvalidRequest as exc:
        return states.Failed(message=f"Task run cannot take a concurrency slot: {exc}")
    if lease.limits:
        _held[run.id] = lease.lease_id
        RENEWER.add(client, lease.lease_id, TASK_LEASE_SECONDS)
    return None


def release_tag_slots(run_id: uuid.UUID) -> None:
    """After a tagged task run ends: give its tag slots back (if it held any)."""
    lease_id = _held.pop(run_id, None)
    if lease_id is None:
        return
    RENEWER.remove(lease_id)
    try:
        _client().decrement_with_lease(lease_id)
    except Exception as exc:  # noqa: BLE001 - the lease expires by itself if this fails
        logger.warning("Releasing the concurrency slots of task run %s failed: %s", run_id, exc)
