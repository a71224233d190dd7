"""The process worker: each flow run in its own local subprocess.

The pool's base job template decides how: its ``job_configuration`` (``command``, ``env``,
``working_dir``) filled with the template's variables, the deployment's ``job_variables``
and the run's. With no command, the run is executed by ``python -m flowyard.sdk.execute``.
The process is told which run it is (``FLOWYARD_FLOW_RUN_ID``, and ``PREFECT__FLOW_RUN_ID``
for the official runtime) and which API to report to.

To start runs on time, the worker keeps one spare interpreter that has already imported the
flow-run machinery (``flowyard.workers.warm``); a run with the default command is handed to
it, which saves the interpreter start and imports. A run whose environment changes how
Python itself starts (``PYTHON*``, ``LD_*`` variables) gets a fresh process instead.
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
    flow_run_id: uuid.UUID | None, api_url: str | None, configured: dict[str, Any] | None
) -> dict[str, str]:
    """The environment of a run's process: ours, the template's ``env``, and the run's
    identity and API (for both our SDK and the official one)."""
    env = dict(os.environ)
    for key, value in (configured or {}).items():
        if value is None:
            env.pop(str(key), None)
        else:
            env[str(key)] = str(value)
    if flow_run_id is not None:
        env["FLOWYARD_FLOW_RUN_ID"] = str(flow_run_id)
        env["PREFECT__FLOW_RUN_ID"] = str(flow_run_id)
    if api_url:
        env["FLOWYARD_API_URL"] = api_url
        env.setdefault("PREFECT_API_URL", api_url)
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

    async def setup(self) -> None:
        await super().setup()
        await self._base_job_template()
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
        command = command_argv(configuration.get("command"))
        env = run_environment(run.id, self._api_url(), configuration.get("env"))
        cwd = str(configuration["working_dir"]) if configuration.get("working_dir") else None
        if cwd is None:
            # As the official process worker does: a scratch folder of the run's own, so that
            # what its pull steps fetch (a git clone) lands there, not in the worker's folder.
            cwd = self._scratch[run.id] = tempfile.mkdtemp(prefix="flowyard-run-")
        try:
            process = await self._take_spare(run.id, env, cwd) if not command else None
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
            env = run_environment(None, self._api_url(), None)
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
