"""The process worker: each flow run in its own local subprocess.

The pool's base job template decides how: its ``job_configuration`` (``command``, ``env``,
``working_dir``) filled with the template's variables, the deployment's ``job_variables``
and the run's. The command says which engine runs the flow (``flowyard.workers.engines``):
Flowyard's for a deployment made with Flowyard's SDK, the official ``python -m
prefect.engine`` for one made with the official SDK (as the official worker runs it), or
the command as given. The process is told which run it is (``FLOWYARD_FLOW_RUN_ID``, and
``PREFECT__FLOW_RUN_ID`` for the official runtime) and which API to report to, under both
names.

To start runs on time, the worker keeps one spare interpreter that has already imported the
flow-run machinery (``flowyard.workers.warm``); a run for Flowyard's engine is handed to it,
which saves the interpreter start and imports. A run whose environment changes how Python
itself starts (``PYTHON*``, ``LD_*`` variables) gets a fresh process instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass
from typing import Any

from flowyard.exceptions import ClientError
from flowyard.schemas.work_pools import WorkerFlowRunResponse
from flowyard.workers.base import BaseWorker
from flowyard.workers.engines import engine_command, official_engine_installed
from flowyard.workers.launcher import FlowRunProcess, default_command, infrastructure_pid
from flowyard.workers.templates import command_argv, job_configuration

logger = logging.getLogger("flowyard.worker")

TEMPLATE_MAX_AGE_SECONDS = 5.0
# A new spare is started once the run that used the last one has ended, or this long after
# it started: not at the very moment the run starts, when it would compete with the run's
# own start for the CPU.
SPARE_DELAY_SECONDS = 0.5
_STARTUP_PREFIXES = ("PYTHON", "LD_")


def run_environment(
    flow_run_id: uuid.UUID | None,
    api_url: str | None,
    configured: dict[str, Any] | None,
    *,
    api_key: str | None = None,
    related: dict[str, str] | None = None,
) -> dict[str, str]:
    """The environment of a run's process: ours, the worker's API under the official
    client's names, the template's ``env``, then the run's identity and our API
    (``related``: the official worker's ``PREFECT__*`` attribution variables)."""
    env = dict(os.environ)
    if api_url:
        # The run lives on this worker's server: a PREFECT_API_URL inherited from the
        # worker's shell (another server), and that server's key, must not be where the
        # official engine reports it. The template's ``env`` may still say otherwise.
        env["PREFECT_API_URL"] = api_url
        env.pop("PREFECT_API_KEY", None)
        env.pop("PREFECT_API_AUTH_STRING", None)
        if api_key:
            env["PREFECT_API_KEY"] = api_key
            # The official client sends PREFECT_API_KEY over HTTP only; its events
            # websocket authenticates with the auth string (a Flowyard server accepts the
            # key as the whole string), and so does its HTTP when both are set.
            env["PREFECT_API_AUTH_STRING"] = api_key
    for key, value in (configured or {}).items():
        if value is None:
            env.pop(str(key), None)
        else:
            env[str(key)] = str(value)
    if api_url:
        # Our engine reports where this worker does, with the key this worker uses.
        env["FLOWYARD_API_URL"] = api_url
        if api_key:
            env["FLOWYARD_API_KEY"] = api_key
        else:
            env.pop("FLOWYARD_API_KEY", None)
    env.update(related or {})
    if flow_run_id is not None:
        env["FLOWYARD_FLOW_RUN_ID"] = str(flow_run_id)
        env["PREFECT__FLOW_RUN_ID"] = str(flow_run_id)
    return env


def _startup_variables(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k.startswith(_STARTUP_PREFIXES)}


@dataclass
class Prepared:
    template: dict[str, Any]
    deployment_variables: dict[str, Any]


class ProcessWorker(BaseWorker):
    """Runs each claimed flow run as a local subprocess (see the module docstring).

    Args:
        work_pool_name: the pool to take runs from.
        warm: keep a spare interpreter ready for the next run.
        **options: see :class:`~flowyard.workers.base.BaseWorker`.
    """

    type = "process"

    def __init__(self, work_pool_name: str, *, warm: bool = True, **options: Any) -> None:
        super().__init__(work_pool_name, **options)
        self.warm = warm
        self._template: dict[str, Any] = {}
        self._template_read = 0.0
        self._spare: FlowRunProcess | None = None
        self._spare_env: dict[str, str] = {}
        self._spare_lock = asyncio.Lock()
        self._scratch: dict[uuid.UUID, str] = {}
        self._official_engine = False
        self._key: str | None = None

    async def setup(self) -> None:
        await super().setup()
        await self._base_job_template()
        self._key = self._api_key()
        # The official engine reports over HTTP: an embedded server is out of its reach.
        self._official_engine = self._api_url() is not None and official_engine_installed()
        if not self._official_engine:
            logger.info(
                "No official engine here (prefect is not installed, or no server URL): runs "
                "with no command in their job configuration run with Flowyard's engine."
            )
        await self._ensure_spare()

    async def teardown(self) -> None:
        spare, self._spare = self._spare, None
        if spare is not None:
            with contextlib.suppress(Exception):
                await spare.terminate(grace_seconds=2.0)

    async def _base_job_template(self) -> dict[str, Any]:
        if time.monotonic() - self._template_read > TEMPLATE_MAX_AGE_SECONDS:
            pool = await self.client.read_work_pool(self.work_pool_name)
            self._template = pool.base_job_template or {}
            self._template_read = time.monotonic()
        return self._template

    async def _deployment_job_variables(self, deployment_id: uuid.UUID | None) -> dict[str, Any]:
        if deployment_id is None:
            return {}
        try:
            response = await self.client._request("GET", f"/deployments/{deployment_id}")
        except ClientError as exc:
            logger.warning("Could not read deployment %s: %s", deployment_id, exc)
            return {}
        found = response.json().get("job_variables")
        return found if isinstance(found, dict) else {}

    def _api_url(self) -> str | None:
        return None if self.client.embedded else self.client.api_url

    @staticmethod
    def _api_key() -> str | None:
        from flowyard.settings import get_settings

        key = get_settings().api_key
        return key.get_secret_value() if key else None

    def _related(self, run: Any) -> dict[str, str]:
        """What the official worker tells a run's process of its context (attribution)."""
        related = {"PREFECT__WORKER_NAME": self.name, "PREFECT__FLOW_ID": str(run.flow_id)}
        if run.deployment_id is not None:
            related["PREFECT__DEPLOYMENT_ID"] = str(run.deployment_id)
        return related

    async def prepare(self, offered: WorkerFlowRunResponse) -> Prepared:
        template, variables = await asyncio.gather(
            self._base_job_template(),
            self._deployment_job_variables(offered.flow_run.deployment_id),
        )
        return Prepared(template, variables)

    async def launch(self, offered: WorkerFlowRunResponse, prepared: Any) -> FlowRunProcess:
        run = offered.flow_run
        if not isinstance(prepared, Prepared):
            prepared = await self.prepare(offered)
        configuration = job_configuration(
            prepared.template, prepared.deployment_variables, run.job_variables
        )
        command = engine_command(
            command_argv(configuration.get("command")), official_engine=self._official_engine
        )
        env = run_environment(
            run.id,
            self._api_url(),
            configuration.get("env"),
            api_key=self._key,
            related=self._related(run),
        )
        cwd = str(configuration["working_dir"]) if configuration.get("working_dir") else None
        if cwd is None:
            # As the official process worker does: a scratch folder of the run's own, so that
            # what its pull steps fetch (a git clone) lands there, not in the worker's folder.
            cwd = self._scratch[run.id] = tempfile.mkdtemp(prefix="flowyard-run-")
        try:
            process = await self._take_spare(run.id, env, cwd) if command is None else None
            if process is None:
                process = await FlowRunProcess.start(
                    run.id, command=command or default_command(), env=env, cwd=cwd
                )
        except BaseException:
            await self.finished(run.id)
            raise
        self.background(self._record_pid(run.id, process))
        return process

    async def finished(self, run_id: uuid.UUID) -> None:
        scratch = self._scratch.pop(run_id, None)
        if scratch is not None:
            await asyncio.to_thread(shutil.rmtree, scratch, True)

    async def _record_pid(self, run_id: uuid.UUID, process: FlowRunProcess) -> None:
        try:
            await self.client.update_flow_run(
                run_id, infrastructure_pid=infrastructure_pid(process.pid)
            )
        except ClientError as exc:
            logger.warning("Could not record the pid of flow run %s: %s", run_id, exc)

    # --- the spare interpreter ---------------------------------------------------------

    async def _ensure_spare(self) -> None:
        if not self.warm or self.stopping:
            return
        async with self._spare_lock:
            if self._spare is not None and self._spare.returncode is None:
                return
            env = run_environment(None, self._api_url(), None, api_key=self._key)
            try:
                self._spare = await FlowRunProcess.start_spare(env=env)
                self._spare_env = env
            except OSError as exc:
                logger.warning("Could not start a spare interpreter: %s", exc)
                self._spare = None

    async def _take_spare(
        self, run_id: uuid.UUID, env: dict[str, str], cwd: str | None
    ) -> FlowRunProcess | None:
        spare = self._spare
        if spare is None:
            return None
        if spare.returncode is not None:  # it died waiting: have another ready next time
            self.background(self._ensure_spare())
            return None
        if _startup_variables(env) != _startup_variables(self._spare_env):
            return None
        self._spare = None
        try:
            await spare.assign(run_id, env=env, cwd=cwd)
        except (OSError, RuntimeError) as exc:
            logger.warning("The spare interpreter could not take the run: %s", exc)
            with contextlib.suppress(Exception):
                await spare.terminate(grace_seconds=1.0)
            return None
        self.background(self._replace_spare_after(spare))
        return spare

    async def _replace_spare_after(self, used: FlowRunProcess) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(used.wait()), SPARE_DELAY_SECONDS)
        await self._ensure_spare()
