"""Deployments from the SDK: ``flow.to_deployment``, ``flow.deploy``,
``Flow.from_source(...)`` and ``run_deployment``.

A deployment records where the flow's code is (pull steps + entrypoint), its default
parameters with their JSON Schema, its schedules, and, with ``deploy``, the work pool whose
workers run it. Pull steps are written under the official step names
(``prefect.deployments.steps.…``) so that both Flowyard's and the official workers run them,
and the job variables carry the command of Flowyard's engine (:data:`ENGINE_COMMAND`): any
worker that honours its pool's job template (the official one does) starts the run with our
engine, not the official one, which cannot run a Flowyard flow.
"""

from __future__ import annotations

import datetime as dt
import inspect
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowyard.exceptions import FlowyardError, InvalidRequest

if TYPE_CHECKING:
    from flowyard.client import SyncFlowyardClient
    from flowyard.schemas.core import FlowRun
    from flowyard.schemas.deployments import DeploymentScheduleCreate
    from flowyard.sdk.flows import Flow

STEP_PREFIX = "prefect.deployments.steps."
# ``python`` as found where the run starts (the official worker resolves it on its PATH: an
# activated venv with Flowyard); Flowyard's worker reads this as "Flowyard's engine".
ENGINE_COMMAND = "python -m flowyard.sdk.execute"
TERMINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


def make_schedules(
    cron: str | list[str] | None = None,
    interval: float | dt.timedelta | list[float | dt.timedelta] | None = None,
    rrule: str | list[str] | None = None,
    *,
    timezone: str | None = None,
    anchor_date: dt.datetime | None = None,
    schedules: list[Any] | None = None,
) -> list[DeploymentScheduleCreate]:
    """Schedules from the shorthand arguments; a bad cron/rrule/timezone raises
    ``InvalidRequest`` naming it, before anything is sent."""
    from pydantic import ValidationError

    from flowyard.schemas.deployments import DeploymentScheduleCreate

    def many(value: Any) -> list[Any]:
        return [] if value is None else value if isinstance(value, list) else [value]

    bodies: list[dict[str, Any]] = []
    bodies += [{"cron": c, "timezone": timezone} for c in many(cron)]
    for every in many(interval):
        body: dict[str, Any] = {"interval": every, "timezone": timezone}
        if anchor_date is not None:
            body["anchor_date"] = anchor_date
        bodies.append(body)
    bodies += [{"rrule": r, "timezone": timezone or "UTC"} for r in many(rrule)]
    out: list[DeploymentScheduleCreate] = []
    try:
        out += [DeploymentScheduleCreate.model_validate({"schedule": b}) for b in bodies]
        for item in schedules or []:
            if isinstance(item, DeploymentScheduleCreate):
                out.append(item)
            elif isinstance(item, dict) and "schedule" in item:
                out.append(DeploymentScheduleCreate.model_validate(item))
            else:
                out.append(DeploymentScheduleCreate(schedule=item))
    except ValidationError as exc:
        raise InvalidSchedule(_schedule_problem(exc)) from None
    return out


class InvalidSchedule(InvalidRequest, ValueError):
    """A schedule argument (``cron=``, ``interval=``, ``rrule=``, ``timezone=``) that is not
    valid: the message names the argument and the value given."""


def _schedule_problem(exc: Any) -> str:
    """``Invalid cron '61 * * * *': [61 * * * *] is not acceptable, out of range``."""
    first = exc.errors()[0]
    loc = [str(part) for part in first["loc"]]
    if len(loc) > 2 and loc[1] in ("cron", "interval", "rrule"):
        del loc[1]  # the union's tag, not a field
    field_name = loc[-1] if loc else "schedule"
    reason = str(first["msg"]).removeprefix("Value error, ")
    value = first.get("input")
    if isinstance(value, dict | list):  # a whole schedule: its own message says enough
        return f"Invalid schedule ({'.'.join(loc)}): {reason}"
    shown = repr(value)
    # The validator's message repeats the value ("invalid cron string 'x': why"): keep why.
    if f"{shown}: " in reason:
        reason = reason.split(f"{shown}: ", 1)[1]
    elif reason.endswith(f" {shown}"):
        reason = reason[: -len(shown) - 1]
    return f"Invalid {field_name} {shown}: {reason}"


def entrypoint_of(flow: Flow[..., Any], root: Path) -> str:
    """``file.py:function`` of a flow defined in a file, relative to ``root`` if inside it."""
    source = inspect.getsourcefile(flow.fn)
    if source is None:
        raise FlowyardError(f"Flow {flow.name!r} is not defined in a file: it cannot be deployed.")
    path = Path(source).resolve()
    try:
        shown = str(path.relative_to(root.resolve()))
    except ValueError:
        shown = str(path)
    return f"{shown}:{flow.fn.__name__}"


@dataclass
class RunnerDeployment:
    """A deployment described in code, not stored yet (see :meth:`apply`)."""

    flow: Flow[..., Any]
    name: str
    entrypoint: str
    pull_steps: list[dict[str, Any]] | None = None
    path: str | None = None
    schedules: list[DeploymentScheduleCreate] = field(default_factory=list)
    parameters: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    description: str | None = None
    version: str | None = None
    paused: bool = False
    work_pool_name: str | None = None
    work_queue_name: str | None = None
    job_variables: dict[str, Any] = field(default_factory=dict)
    enforce_parameter_schema: bool = True
    concurrency_limit: int | None = None

    def apply(self, client: SyncFlowyardClient | None = None) -> uuid.UUID:
        """Create the deployment, or update the flow's deployment of this name. Its id."""
        from flowyard.client import get_sync_client
        from flowyard.sdk.parameter_schema import parameter_schema

        if client is None:
            with get_sync_client() as own:
                return self.apply(own)
        flow_id = client.create_flow(self.flow.name).id
        deployment = client.create_deployment(
            flow_id,
            self.name,
            entrypoint=self.entrypoint,
            pull_steps=self.pull_steps,
            path=self.path,
            schedules=self.schedules,
            parameters=self.parameters,
            parameter_openapi_schema=parameter_schema(self.flow.fn),
            enforce_parameter_schema=self.enforce_parameter_schema,
            tags=self.tags,
            description=self.description or self.flow.description,
            version=self.version or self.flow.version,
            paused=self.paused,
            work_pool_name=self.work_pool_name,
            work_queue_name=self.work_queue_name,
            # The user's own command, if any, wins.
            job_variables={"command": ENGINE_COMMAND, **self.job_variables},
            concurrency_limit=self.concurrency_limit,
        )
        deployment_id: uuid.UUID = deployment.id
        return deployment_id


def to_deployment(
    flow: Flow[..., Any],
    name: str,
    *,
    cron: str | list[str] | None = None,
    interval: float | dt.timedelta | list[float | dt.timedelta] | None = None,
    rrule: str | list[str] | None = None,
    timezone: str | None = None,
    anchor_date: dt.datetime | None = None,
    schedules: list[Any] | None = None,
    parameters: dict[str, Any] | None = None,
    **options: Any,
) -> RunnerDeployment:
    """Describe a deployment of ``flow`` (see :meth:`Flow.to_deployment`)."""
    source = getattr(flow, "_deployment_source", None)
    if source is not None:
        entrypoint, pull_steps, path = source
    else:
        root = Path.cwd()
        entrypoint, pull_steps, path = entrypoint_of(flow, root), None, str(root)
    if pull_steps is None and options.get("work_pool_name"):
        pull_steps = [{STEP_PREFIX + "set_working_directory": {"directory": path}}]
    return RunnerDeployment(
        flow=flow,
        name=name,
        entrypoint=entrypoint,
        pull_steps=pull_steps,
        path=path,
        schedules=make_schedules(
            cron, interval, rrule, timezone=timezone, anchor_date=anchor_date, schedules=schedules
        ),
        parameters=dict(parameters or {}),
        **options,
    )


def _named_credential(value: Any) -> Any:
    """A saved block as the ``{{ prefect.blocks.<slug>.<name> }}`` placeholder that names
    it (the deployment stores the name, never the secret); other values as they are."""
    from flowyard.sdk.blocks.core import Block

    if not isinstance(value, Block):
        return value
    name = value._block_document_name
    if name is None:
        raise ValueError(
            "Save the credentials block first (block.save('name')): the deployment names "
            "it rather than storing its secret."
        )
    return f"{{{{ prefect.blocks.{value.get_block_type_slug()}.{name} }}}}"


def from_source(
    source: str | Path, entrypoint: str, *, access_token: Any = None, credentials: Any = None
) -> Flow[..., Any]:
    """The flow at ``entrypoint`` inside ``source`` (a directory, or a git URL cloned into a
    temporary directory to read it), remembering where it came from for ``deploy``.

    A private repository's ``access_token`` (or ``credentials``) is a saved block (a
    Secret), a ``{{ prefect.blocks.secret.<name> }}`` reference or a token: it is used for
    this clone and recorded in the ``git_clone`` pull step, a block by its name only."""
    from flowyard.sdk.execute import load_flow
    from flowyard.sdk.pull_steps import git_clone

    access_token = _named_credential(access_token)
    credentials = _named_credential(credentials)
    text = str(source)
    local = Path(text).expanduser()
    if local.is_dir():
        if access_token is not None or credentials is not None:
            raise ValueError("access_token and credentials are for a git repository source.")
        directory = local.resolve()
        pull_steps = [{STEP_PREFIX + "set_working_directory": {"directory": str(directory)}}]
        path: str | None = str(directory)
    else:
        branch = None
        if "@" in text.rsplit("/", 1)[-1]:  # repository@branch
            text, branch = text.rsplit("@", 1)
        scratch = tempfile.mkdtemp(prefix="flowyard-source-")
        import os

        here = os.getcwd()
        try:
            os.chdir(scratch)
            cloned = git_clone(text, branch, access_token=access_token, credentials=credentials)
            directory = Path(cloned["directory"])
        finally:
            os.chdir(here)
        clone: dict[str, Any] = {"repository": text, "branch": branch}
        if access_token is not None:
            clone["access_token"] = access_token
        if credentials is not None:
            clone["credentials"] = credentials
        pull_steps = [{STEP_PREFIX + "git_clone": clone}]
        path = None
    flow: Flow[..., Any] = load_flow(str(directory / entrypoint))
    # Read by to_deployment: where the code lives, instead of where it was imported from.
    setattr(flow, "_deployment_source", (entrypoint, pull_steps, path))  # noqa: B010
    return flow


def deploy(flow: Flow[..., Any], name: str, *, work_pool_name: str, **options: Any) -> uuid.UUID:
    """Create or update a deployment of ``flow`` run by the workers of ``work_pool_name``,
    and say on stdout what was done and how to run it."""
    from flowyard.client import get_sync_client
    from flowyard.exceptions import ObjectNotFound

    deployment = to_deployment(flow, name, work_pool_name=work_pool_name, **options)
    full_name = f"{flow.name}/{name}"
    with get_sync_client() as client:
        try:
            client.read_deployment_by_name(full_name)
            done = "Updated"
        except ObjectNotFound:
            done = "Created"
        deployment_id = deployment.apply(client)
    _announce(done, full_name, deployment_id, work_pool_name, deployment)
    return deployment_id


def _announce(
    done: str, full_name: str, deployment_id: uuid.UUID, pool: str, deployment: RunnerDeployment
) -> None:
    import shlex

    lines = [f"{done} deployment {full_name!r} ({deployment_id}) in work pool {pool!r}."]
    if deployment.schedules:
        lines.append(f"Its {len(deployment.schedules)} schedule(s) make runs for the workers.")
    lines += [
        f"Start a worker for it:  flowyard worker start --pool {shlex.quote(pool)}",
        f"Run it now:             flowyard deployment run {shlex.quote(full_name)}",
    ]
    print("\n".join(lines), flush=True)


def run_deployment(
    name: str | uuid.UUID,
    parameters: dict[str, Any] | None = None,
    *,
    timeout: float | None = None,
    poll_interval: float = 0.5,
    as_subflow: bool = True,
    tags: list[str] | None = None,
    idempotency_key: str | None = None,
    job_variables: dict[str, Any] | None = None,
    scheduled_time: dt.datetime | None = None,
) -> FlowRun:
    """Create a run of a deployment and wait for it to end; the flow run (read last).

    Args:
        name: ``"flow-name/deployment-name"`` or the deployment's id.
        parameters: over the deployment's; checked against its parameter schema.
        timeout: seconds to wait; ``0`` returns at once, ``None`` waits for the end.
        poll_interval: seconds between two reads of the run.
        as_subflow: inside a flow run, link the new run to it as a subflow.
        tags: tags of the new run, with the deployment's.
        idempotency_key: a second call with the same key returns the same run.
        job_variables: over the deployment's, for the worker.
        scheduled_time: when it should start (now if not given).
    """
    from flowyard.client import get_sync_client
    from flowyard.schemas.states import StateCreate, StateDetails, StateType

    parent_task_run_id = None
    with get_sync_client() as client:
        try:
            deployment = client.read_deployment(uuid.UUID(str(name)))
        except ValueError:
            deployment = client.read_deployment_by_name(str(name))
        if as_subflow:
            parent_task_run_id = _tracking_task_run(deployment.name)
        state = StateCreate(
            type=StateType.SCHEDULED,
            state_details=StateDetails(scheduled_time=scheduled_time or dt.datetime.now(dt.UTC)),
        )
        run = client.create_flow_run_from_deployment(
            deployment.id,
            parameters=parameters,
            state=state,
            tags=tags,
            idempotency_key=idempotency_key,
            parent_task_run_id=parent_task_run_id,
            job_variables=job_variables,
        )
        deadline = None if timeout is None else time.monotonic() + timeout
        while run.state_type is None or run.state_type.value not in TERMINAL:
            if deadline is not None and time.monotonic() >= deadline:
                break
            time.sleep(poll_interval)
            run = client.read_flow_run(run.id)
    final: FlowRun = run
    return final


def _tracking_task_run(deployment_name: str) -> uuid.UUID | None:
    """Inside a flow run: the task run standing for the deployment's run in the parent."""
    from flowyard.sdk.context import FLOW_RUN
    from flowyard.sdk.engine.api import get_api

    parent = FLOW_RUN.get()
    if parent is None:
        return None
    key = f"run_deployment-{deployment_name}"
    dynamic_key = parent.next_dynamic_key(key)
    return get_api().create_tracking_task_run(
        parent.flow_run.id, key, str(dynamic_key), f"{deployment_name}-{dynamic_key}", {}
    )
