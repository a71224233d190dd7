"""Leases on the flow runs this process executes, renewed by a heartbeat thread.

Every flow run this process executes holds a lease while it is Running, whoever started
the process (a plain ``python my_flow.py``, a worker, ``serve()``): the lease is declared
with the Running proposal the engine sends anyway, and the server takes it in the same
transaction (no request of its own before the flow body starts). A daemon thread renews
it every third of ``FLOWYARD_RUNNER_LEASE_SECONDS``, off the main thread; the server drops
it with the run's final state (no request after it either). If the process dies, nobody
renews it and the server's ``run_leases`` service marks the run Crashed; in embedded mode,
the next start of Flowyard on that database does (``client._embedded``).
``FLOWYARD_RUNNER_LEASES=false`` turns leases off for processes a worker or ``serve()``
did not start (their runs can then be left Running forever by a ``kill -9``).

Each renewal answers with the run's state. When a run has been cancelled (Cancelling), the
heartbeat stops it: it sends SIGTERM to the main thread, where the engine's handler turns
it into an exception that ends the run, and :func:`settle_interrupted` records Cancelled
rather than Crashed. A worker's SIGTERM for a cancelled run lands the same way.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any

from flowyard.sdk import states

if TYPE_CHECKING:
    from flowyard.sdk.engine.api import EngineAPI

logger = logging.getLogger("flowyard.heartbeat")

FLOW_RUN_ID_ENV = "FLOWYARD_FLOW_RUN_ID"
CANCELLED_MESSAGE = "The flow run was cancelled."
_STOPPING = frozenset({states.CANCELLING, states.CANCELLED})

_lock = threading.Lock()
_heartbeat: Heartbeat | None = None
_cancel_requested: set[uuid.UUID] = set()


def leases_enabled() -> bool:
    """Whether flow runs of this process hold leases (see the module docstring)."""
    if os.environ.get(FLOW_RUN_ID_ENV):
        return True
    from flowyard.settings import cached_settings

    return cached_settings().runner_leases


def lease_seconds() -> float:
    from flowyard.settings import cached_settings

    return cached_settings().runner_lease_seconds


def _holder() -> dict[str, Any]:
    return {"type": "process", "hostname": socket.gethostname(), "pid": os.getpid()}


def declared_lease() -> tuple[float, dict[str, Any]] | None:
    """The lease to declare with a Running proposal: (seconds, holder), or None when this
    process holds no leases."""
    if not leases_enabled():
        return None
    return lease_seconds(), _holder()


class Heartbeat:
    """One daemon thread renewing the leases of every flow run this process holds. It
    stops when no run is left and is started again by the next :func:`hold`."""

    def __init__(self, lease_seconds: float) -> None:
        self.lease_seconds = lease_seconds
        self.holder = _holder()
        self.runs: dict[uuid.UUID, EngineAPI] = {}
        self._thread: threading.Thread | None = None

    def add(self, api: EngineAPI, run_id: uuid.UUID) -> None:
        """Renew the run's lease from now on (call with ``_lock`` held)."""
        self.runs[run_id] = api
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._loop, name="flowyard-heartbeat", daemon=True
            )
            self._thread.start()

    def beat(self, run_id: uuid.UUID, api: EngineAPI) -> None:
        """Renew one lease now and act on the state the server answers with."""
        lease = api.client.heartbeat_flow_run(run_id, self.lease_seconds, holder=self.holder)
        if lease.state_type in _STOPPING:
            stop_cancelled_run(run_id)
        elif lease.expiration is None:
            self.runs.pop(run_id, None)  # finished: the server keeps no lease for it

    def _loop(self) -> None:
        interval = self.lease_seconds / 3
        while True:
            time.sleep(interval)
            with _lock:
                if not self.runs:
                    self._thread = None
                    return
                held = list(self.runs.items())
            for run_id, api in held:
                if run_id not in self.runs:
                    continue  # released while the others were renewed
                try:
                    self.beat(run_id, api)
                except Exception as exc:  # noqa: BLE001 - keep beating; the next may pass
                    logger.warning("Could not renew the lease of flow run %s: %s", run_id, exc)


def _current() -> Heartbeat:
    global _heartbeat
    seconds = lease_seconds()
    if _heartbeat is None or _heartbeat.lease_seconds != seconds:
        _heartbeat = Heartbeat(seconds)
    return _heartbeat


def hold(api: EngineAPI, run_id: uuid.UUID) -> None:
    """Keep the lease of a run that has just entered Running renewed.

    The server took the lease with the Running transition. Only from a server too old to
    take it there (``api.declares_leases`` False) is it taken now, by a request of its own.
    """
    if not leases_enabled():
        return
    with _lock:
        heartbeat = _current()
        heartbeat.add(api, run_id)
    if api.declares_leases:
        return
    try:
        heartbeat.beat(run_id, api)
    except Exception as exc:  # noqa: BLE001 - the run goes on; the thread retries
        logger.warning("Could not take the lease of flow run %s: %s", run_id, exc)


def release(run_id: uuid.UUID) -> None:
    """Stop renewing the run's lease: its final state, just recorded, dropped it."""
    heartbeat = _heartbeat
    if heartbeat is not None:
        with _lock:
            heartbeat.runs.pop(run_id, None)


def give_back(run_id: uuid.UUID) -> None:
    """Stop renewing the run's lease and drop it on the server now (the run is not over)."""
    heartbeat = _heartbeat
    if heartbeat is None:
        return
    with _lock:
        api = heartbeat.runs.pop(run_id, None)
    if api is None:
        return
    try:
        api.client.release_flow_run_lease(run_id)
    except Exception as exc:  # noqa: BLE001 - it expires on its own
        logger.debug("Could not release the lease of flow run %s: %s", run_id, exc)


def stop_cancelled_run(run_id: uuid.UUID) -> None:
    """Stop this process's run of a cancelled flow run (see the module docstring)."""
    if run_id in _cancel_requested:
        return
    _cancel_requested.add(run_id)
    logger.warning("Flow run %s was cancelled; stopping it.", run_id)
    main = threading.main_thread()
    if callable(signal.getsignal(signal.SIGTERM)) and main.ident is not None:
        # The engine's handler: the run ends with an exception in the main thread.
        signal.pthread_kill(main.ident, signal.SIGTERM)
    elif os.environ.get(FLOW_RUN_ID_ENV):
        # This process exists only to run the flow: end it. The lease expires and the
        # server finishes the cancellation.
        os.kill(os.getpid(), signal.SIGTERM)
    else:
        # Nothing here may be interrupted: give the lease back, so that the server's
        # cancellation service sees no process and marks the run Cancelled.
        give_back(run_id)


def settle_interrupted(api: EngineAPI, run_id: uuid.UUID, state: states.State) -> states.State:
    """Record the end of a run interrupted by a signal. A run being cancelled ends
    Cancelled (never Crashed), whether its heartbeat or its worker stopped it."""
    # The signal the heartbeat sent for a cancelled run unwinds every run on the stack (a
    # subflow first): all of them are being cancelled.
    if _cancel_requested and state.type == states.CRASHED:
        state = states.Cancelled(message=CANCELLED_MESSAGE)
    _, answered, _ = api.set_flow_run_state(run_id, state)
    if answered is not None and answered.type == states.CANCELLING:
        state = states.Cancelled(message=CANCELLED_MESSAGE)
        api.set_flow_run_state(run_id, state)
    return state
