"""Pausing a running flow until someone resumes it, optionally waiting for typed input.

``pause_flow_run()`` moves the current flow run to Paused (the server's pause rules decide)
and blocks the flow, polling the run, until it is resumed -- by ``resume_flow_run()``, the
API's ``POST /flow_runs/{id}/resume``, the CLI or the UI. With ``wait_for_input=Model`` (a
pydantic model) the model's JSON Schema is stored on the run first; the resume must supply
input matching it (the server refuses anything else, naming the field) and the pause
returns that input as a ``Model``. A pause nobody resumes within ``timeout`` seconds fails
the run.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from typing import TYPE_CHECKING, Any, TypeVar, overload

from flowyard.exceptions import Abort, FlowPauseTimeout, OrchestrationError
from flowyard.sdk import states

if TYPE_CHECKING:
    from pydantic import BaseModel

    from flowyard.schemas.states import OrchestrationResult

M = TypeVar("M", bound="BaseModel")

# Margin past the pause timeout so that the server's clock agrees it has passed.
TIMEOUT_MARGIN_SECONDS = 1.0


@overload
def pause_flow_run(
    wait_for_input: None = None,
    timeout: float = 300,
    poll_interval: float = 10,
    key: str | None = None,
) -> None: ...


@overload
def pause_flow_run(
    wait_for_input: type[M],
    timeout: float = 300,
    poll_interval: float = 10,
    key: str | None = None,
) -> M: ...


def pause_flow_run(
    wait_for_input: type[M] | None = None,
    timeout: float = 300,
    poll_interval: float = 10,
    key: str | None = None,
) -> M | None:
    """Pause the current flow run until it is resumed; call it from inside a flow.

    Args:
        wait_for_input: a pydantic model; the resume must supply input matching it, and
            the pause returns that input as an instance of the model.
        timeout: seconds to wait for a resume; past it the flow run fails.
        poll_interval: seconds between checks of the run's state.
        key: names this pause point, so that it fires only once per attempt of the run.

    Returns:
        The input given on resume (a ``wait_for_input`` instance), or None.

    Raises:
        RuntimeError: called outside a flow run, or inside a task.
        FlowPauseTimeout: nobody resumed the run within ``timeout``.
        OrchestrationError: the server would not pause the run.
    """
    from flowyard.sdk.context import FLOW_RUN, TASK_RUN
    from flowyard.sdk.engine.api import get_api

    ctx = FLOW_RUN.get()
    if ctx is None or TASK_RUN.get() is not None:
        raise RuntimeError("pause_flow_run() must be called from a flow, not outside or in a task.")
    api = get_api()
    run_id = ctx.flow_run.id
    keyset: dict[str, str] | None = None
    if wait_for_input is not None:
        base = f"paused-{key or uuid.uuid4().hex[:12]}"
        keyset = {name: f"{base}-{name}" for name in ("description", "response", "schema")}
        schema = json.dumps(wait_for_input.model_json_schema())
        api.client.create_flow_run_input(run_id, keyset["schema"], schema)
    until = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=timeout)
    details: dict[str, Any] = {
        "pause_timeout": until.isoformat(),
        "pause_key": key or str(uuid.uuid4()),
        "run_input_keyset": keyset,
    }
    status, answered, reply = api.set_flow_run_state(run_id, states.Paused(state_details=details))
    if status != "ACCEPT":
        reason = getattr(reply, "reason", None) or "no reason given"
        raise OrchestrationError(f"The server would not pause flow run {run_id}: {reason}")
    ctx.flow_run.state = answered
    _wait_for_resume(api, run_id, timeout, poll_interval)
    if wait_for_input is None or keyset is None:
        return None
    value = api.client.read_flow_run_input(run_id, keyset["response"])
    return wait_for_input.model_validate_json(value)


def _wait_for_resume(api: Any, run_id: uuid.UUID, timeout: float, poll_interval: float) -> None:
    deadline = time.monotonic() + timeout + TIMEOUT_MARGIN_SECONDS
    while True:
        remaining = deadline - time.monotonic()
        time.sleep(max(0.0, min(poll_interval, remaining)))
        state = api.read_flow_run(run_id).state
        kind = None if state is None else str(state.type)
        if kind == states.RUNNING:
            return
        timed_out = FlowPauseTimeout(
            f"Flow run {run_id} was paused for {timeout:g}s and never resumed."
        )
        if kind == states.PAUSED:
            if time.monotonic() >= deadline:
                raise timed_out
            continue
        if kind == states.FAILED and time.monotonic() >= deadline - TIMEOUT_MARGIN_SECONDS:
            raise timed_out  # the server's pause-timeout sweep got there first
        if kind in (states.CANCELLING, states.CANCELLED):
            from flowyard.sdk.engine import heartbeat

            heartbeat.stop_cancelled_run(run_id)
            raise Abort(f"Flow run {run_id} was cancelled while paused.")
        raise Abort(f"Flow run {run_id} left its pause for {kind}; it will not continue here.")


def resume_flow_run(
    flow_run_id: uuid.UUID | str, run_input: dict[str, Any] | None = None
) -> OrchestrationResult:
    """Resume a paused flow run, giving it ``run_input`` if it waits for input.

    Args:
        flow_run_id: the paused run.
        run_input: the input; it must match the schema the paused flow asked for.

    Returns:
        The server's decision (ACCEPT when the run is running again).

    Raises:
        InvalidRequest: ``run_input`` does not match the schema (the message names the
            field at fault).
    """
    from flowyard.sdk.engine.api import get_api

    run_id = flow_run_id if isinstance(flow_run_id, uuid.UUID) else uuid.UUID(flow_run_id)
    return get_api().client.resume_flow_run(run_id, run_input)
