"""Leases on the flow runs this process executes, renewed by a heartbeat thread.

A process started by a worker or ``serve()`` (``FLOWYARD_FLOW_RUN_ID`` in its environment),
or any process with ``FLOWYARD_RUNNER_LEASES=true``, takes a lease on each flow run when it
starts Running and renews it every third of ``FLOWYARD_RUNNER_LEASE_SECONDS``; the lease is
released when the run ends. If the process dies, nobody renews it and the server's
``run_leases`` service marks the run Crashed.

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
import uuid
from typing import TYPE_CHECKING

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


class Heartbeat:
    """One daemon thread renewing the leases of every flow run this process holds."""

    def __init__(self, api: EngineAPI, lease_seconds: float) -> None:
        self.api = api
        self.lease_seconds = lease_seconds
        self.holder = {"type": "process", "hostname": socket.gethostname(), "pid": os.getpid()}
        self.runs: set[uuid.UUID] = set()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="flowyard-heartbeat", daemon=True)
        self._thread.start()

    def beat(self, run_id: uuid.UUID) -> None:
        """Renew one lease now and act on the state the server answers with."""
        lease = self.api.client.heartbeat_flow_run(run_id, self.lease_seconds, holder=self.holder)
        if lease.state_type in _STOPPING:
            stop_cancelled_run(run_id)
        elif lease.expiration is None:
            self.runs.discard(run_id)  # finished: the server keeps no lease for it

    def _loop(self) -> None:
        interval = self.lease_seconds / 3
        while True:
            self._wake.wait(interval)
            self._wake.clear()
            for run_id in list(self.runs):
                try:
                    self.beat(run_id)
                except Exception as exc:  # noqa: BLE001 - keep beating; the next may pass
                    logger.warning("Could not renew the lease of flow run %s: %s", run_id, exc)


def hold(api: EngineAPI, run_id: uuid.UUID) -> None:
    """Take the run's lease (now, before any user code runs) and keep it renewed."""
    global _heartbeat
    if not leases_enabled():
        return
    with _lock:
        if _heartbeat is None or _heartbeat.api is not api:
            from flowyard.settings import cached_settings

            _heartbeat = Heartbeat(api, cached_settings().runner_lease_seconds)
        heartbeat = _heartbeat
    heartbeat.runs.add(run_id)
    try:
        heartbeat.beat(run_id)
    except Exception as exc:  # noqa: BLE001 - the run goes on; the thread retries
        logger.warning("Could not take the lease of flow run %s: %s", run_id, exc)


def release(run_id: uuid.UUID) -> None:
    """Stop renewing the run's lease and give it back."""
    heartbeat = _heartbeat
    if heartbeat is None or run_id not in heartbeat.runs:
        return
    heartbeat.runs.discard(run_id)
    try:
        heartbeat.api.client.release_flow_run_lease(run_id)
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
        release(run_id)


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
