"""Short full garbage collections in a process that runs flows.

The client stack (pydantic schemas, httpx) and, in embedded mode, the server app (the ORM,
the routes) bring a few hundred thousand objects into a flow's process that live as long as
it does. Python's full collections walk every one of them again: 45 ms with the client,
about 0.1 s with the embedded server, once every few thousand task runs, in the middle of
someone's flow. ``gc.freeze`` (what ``flowyard server start`` does for its own process)
spares them. Objects freed by reference counting are freed as before; only reference cycles
among what was alive at the time are never collected. The thresholds stay as they were.
"""

from __future__ import annotations

import gc
import threading

_lock = threading.Lock()
_done: set[str] = set()


def freeze_long_lived_objects(stage: str) -> None:
    """Collect the young generations, then freeze everything alive; once per ``stage`` of
    the process's life (the client set up, the embedded server started), so a restart
    costs nothing."""
    with _lock:
        if stage in _done:
            return
        _done.add(stage)
        # The young generations only: that is where start-up leaves its few garbage cycles
        # (26 objects after the client's imports). A full collection walks every object
        # alive to find them, 40-80 ms on a flow's critical path for nothing.
        gc.collect(1)
        gc.freeze()
