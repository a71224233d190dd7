"""``python -m flowyard.sdk.execute``: run one existing flow run of a deployment.

Workers and ``serve()`` start it with ``FLOWYARD_FLOW_RUN_ID`` (or the official name
``PREFECT__FLOW_RUN_ID``) and ``FLOWYARD_API_URL``; the official worker, running the command
a Flowyard deployment carries, names them only the official way (``PREFECT__FLOW_RUN_ID``,
``PREFECT_API_URL``, ``PREFECT_API_KEY``). It reads the run and its deployment, runs the
deployment's pull steps, imports the entrypoint (``path/file.py:function``) and runs the
flow on that run: the engine proposes Running on it, so if another process has
already taken the run, the server refuses and no user code runs here.

Exit code 0 when the run ends Completed, 1 otherwise.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import signal
import sys
import uuid
from pathlib import Path
from typing import Any

from flowyard.exceptions import FlowyardError
from flowyard.sdk._addresses import redact_userinfo

RUN_ID_VARIABLES = ("FLOWYARD_FLOW_RUN_ID", "PREFECT__FLOW_RUN_ID")
FINISHED = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


class EntrypointError(FlowyardError):
    """The entrypoint cannot be imported or names no flow."""


def load_entrypoint(entrypoint: str) -> Any:
    """The object ``path/file.py:name`` names, the file imported as a fresh module (its
    folder on ``sys.path``, so that it can import its neighbours)."""
    path_text, sep, attribute = entrypoint.rpartition(":")
    if not sep or not path_text or not attribute:
        raise EntrypointError(f"entrypoint {entrypoint!r}: expected 'path/to/file.py:function'.")
    path = Path(path_text).expanduser().resolve()
    if not path.is_file():
        raise EntrypointError(f"entrypoint {entrypoint!r}: no file {str(path)!r}.")
    folder = str(path.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    module_name = f"__flowyard_entrypoint_{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise EntrypointError(f"entrypoint {entrypoint!r}: cannot import {str(path)!r}.")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    target: Any = module
    for part in attribute.split("."):
        target = getattr(target, part, None)
        if target is None:
            raise EntrypointError(f"entrypoint {entrypoint!r}: {path.name} has no {attribute!r}.")
    return target


def load_flow(entrypoint: str) -> Any:
    """The :class:`~flowyard.sdk.flows.Flow` at ``entrypoint`` (a plain function is wrapped)."""
    from flowyard.sdk.flows import Flow, flow

    target = load_entrypoint(entrypoint)
    if isinstance(target, Flow):
        return target
    fn = getattr(target, "fn", target)  # a flow object of another library: its function
    if not callable(fn):
        raise EntrypointError(f"entrypoint {entrypoint!r} is not a flow or a function.")
    name = getattr(target, "name", None) or fn.__name__
    return flow(name=str(name))(fn)


def flow_run_id_from_env() -> uuid.UUID:
    for name in RUN_ID_VARIABLES:
        value = os.environ.get(name)
        if value:
            try:
                return uuid.UUID(value)
            except ValueError:
                raise FlowyardError(f"{name}: {value!r} is not a flow run id.") from None
    raise FlowyardError(f"Set {RUN_ID_VARIABLES[0]} to the id of the flow run to execute.")


def _fail_run(client: Any, run_id: uuid.UUID, message: str) -> None:
    """The run could not start (pull steps, import, parameters): it ends Failed with why,
    and why is in its logs too (``flowyard flow-run logs``), where one looks first."""
    import datetime as dt
    import logging

    from flowyard.schemas.actions import LogCreate
    from flowyard.schemas.states import StateCreate, StateType

    log = LogCreate(
        name="flowyard.flow_runs",
        level=logging.ERROR,
        message=message,
        timestamp=dt.datetime.now(dt.UTC),
        flow_run_id=run_id,
    )
    try:
        client.create_logs([log])
        client.set_flow_run_state(run_id, StateCreate(type=StateType.FAILED, message=message))
    except FlowyardError as exc:
        print(f"Could not record the failure of flow run {run_id}: {exc}", file=sys.stderr)


def execute(run_id: uuid.UUID) -> int:
    """Run flow run ``run_id`` in this process; the exit code."""
    from flowyard.client import get_sync_client
    from flowyard.sdk.engine.flow_engine import (
        FlowRunEngine,
        TerminationSignal,
        _terminate_on_sigterm,
    )
    from flowyard.sdk.pull_steps import run_pull_steps

    with get_sync_client() as client:
        run = client.read_flow_run(run_id)
        if run.deployment_id is None:
            raise FlowyardError(f"Flow run {run_id} belongs to no deployment: nothing to run.")
        current = run.state_type.value if run.state_type else None
        if current in FINISHED:
            # The server would let a deployment's finished run go again (a manual re-run
            # re-schedules it first); a process started for it is a duplicate: stop here.
            raise FlowyardError(f"Flow run {run_id} has already finished ({run.state_name}).")
        deployment = client.read_deployment(run.deployment_id)
        try:
            if deployment.pull_steps:
                run_pull_steps(deployment.pull_steps)
            elif deployment.path and Path(deployment.path).is_dir():
                os.chdir(deployment.path)
            if not deployment.entrypoint:
                raise EntrypointError(f"Deployment {deployment.name!r} has no entrypoint.")
            flow = load_flow(deployment.entrypoint)
            # Bound against the signature: defaults filled in, in the function's order.
            parameters = flow.bind((), dict(run.parameters))
            if flow.should_validate_parameters:
                parameters = flow.validate_parameters(parameters)
        except Exception as exc:  # noqa: BLE001 - any failure to start is the run's failure
            # The state message is served by the API: no ``user:token@`` from a URL in it.
            message = redact_userinfo(f"Flow run could not start: {type(exc).__name__}: {exc}")
            print(message, file=sys.stderr)
            _fail_run(client, run_id, message)
            return 1
    engine = FlowRunEngine.adopt(flow, run, parameters)
    try:
        with _terminate_on_sigterm(engine):
            state = asyncio.run(engine.run_async()) if flow.is_async else engine.run_sync()
    except TerminationSignal:
        # A worker stopping the run (a cancellation, or its own shutdown): the engine has
        # recorded how it ended and logged it; a traceback would only alarm whoever reads
        # the worker's output. The exit code is the one the signal itself would give.
        return 128 + signal.SIGTERM
    return 0 if state.is_completed() else 1


def adopt_official_worker_settings() -> None:
    """Started by the official worker (the run named only as ``PREFECT__FLOW_RUN_ID``): run
    as under ours. The run is on that worker's server, so its ``PREFECT_API_URL`` and
    ``PREFECT_API_KEY`` (or the key in ``PREFECT_API_AUTH_STRING``, which the official
    client needs for its websockets) are the ones to use, over ours (an empty key, not an
    absent one, so that a key of the active profile, meant for the profile's server, is not
    sent to this one); ``FLOWYARD_FLOW_RUN_ID`` makes the run hold a lease, as a worker's
    runs do."""
    env = os.environ
    official_id, url = env.get(RUN_ID_VARIABLES[1]), env.get("PREFECT_API_URL")
    if env.get(RUN_ID_VARIABLES[0]) or not official_id or not url:
        return
    env[RUN_ID_VARIABLES[0]] = official_id
    env["FLOWYARD_API_URL"] = url
    env["FLOWYARD_API_KEY"] = env.get("PREFECT_API_KEY") or _key_of_auth_string(
        env.get("PREFECT_API_AUTH_STRING", "")
    )
    from flowyard.settings import cached_settings

    cached_settings.cache_clear()


def _key_of_auth_string(auth_string: str) -> str:
    """The key in an official worker's ``PREFECT_API_AUTH_STRING`` (``user:key`` or the key
    alone): a Flowyard server takes either as its key, our client sends it as a bearer."""
    _, colon, password = auth_string.partition(":")
    return password if colon else auth_string


def main() -> int:
    try:
        adopt_official_worker_settings()
        return execute(flow_run_id_from_env())
    except FlowyardError as exc:
        print(redact_userinfo(f"Error: {exc}"), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
