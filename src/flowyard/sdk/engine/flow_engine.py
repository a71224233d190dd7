"""The flow engine: one flow run, orchestrated by the server.

The sequence per run: validate the arguments (before anything else, so a bad argument
never creates a run), create the flow run (Pending), propose Running -- honouring WAIT
(sleep and propose again), REJECT (adopt the server's state) and ABORT (stop) -- run the
function with a task runner, wait for the submitted tasks, flush their records, then
propose the final state. If the server rejects a failure into AwaitingRetry, the run
starts over in this process. Hooks run after the final state is known; a top-level flow
flushes its logs before returning, so everything is in the database by then.

:class:`FlowRunEngine` holds the steps; ``run_flow_sync`` / ``run_flow_async`` are the
two loops around the user's function.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

from flowyard.exceptions import (
    Abort,
    FlowTimeout,
    OrchestrationError,
    ParameterValidationError,
    ServerUnavailable,
)
from flowyard.sdk import states
from flowyard.sdk.context import FLOW_RUN, TASK_RUN, FlowRunContext
from flowyard.sdk.engine import heartbeat, inputs
from flowyard.sdk.engine.api import EngineAPI, FlowRunInfo, get_api
from flowyard.sdk.engine.errors import crash_message, exception_message
from flowyard.sdk.engine.task_engine import run_coroutine_sync
from flowyard.sdk.flows import Flow
from flowyard.sdk.futures import collect_states, resolve_futures
from flowyard.sdk.logging import RunLogger, flow_run_logger, install_print_capture, setup_logging
from flowyard.sdk.tasks import _task_key

MAX_PROPOSALS = 100
# The lease of a deployment concurrency slot, renewed at a third of this while the run lives
# (the official engine renews it for as long).
DEPLOYMENT_LEASE_SECONDS = 300.0


class TerminationSignal(BaseException):
    """SIGTERM arrived during a top-level flow run (the run ends Crashed)."""


class Retry:
    """The server sent the run to AwaitingRetry: start over after ``delay`` seconds."""

    __slots__ = ("delay",)

    def __init__(self, delay: float) -> None:
        self.delay = delay


class FlowRunEngine:
    """The steps of one flow run; see the module docstring for the sequence."""

    def __init__(self, flow: Flow[..., Any], parameters: dict[str, Any]) -> None:
        self.flow = flow
        self.parameters = parameters
        self.parent = FLOW_RUN.get()
        self.parent_task = TASK_RUN.get()
        self.api: EngineAPI
        self.info: FlowRunInfo
        self.logger: RunLogger
        self.log_prints = bool(
            flow.log_prints
            if flow.log_prints is not None
            else (self.parent and self.parent.log_prints)
        )
        self.started = 0.0
        self.ctx: FlowRunContext | None = None
        self._deployment_lease: uuid.UUID | None = None

    @classmethod
    def prepare(
        cls, flow: Flow[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> FlowRunEngine:
        """Bind and validate the arguments, then create the run. No user code runs here."""
        parameters = flow.bind(args, kwargs)
        engine = cls(flow, parameters)
        found: list[Any] = []
        for value in parameters.values():
            inputs.find_upstreams(value, found)
        if found:
            engine.parameters = {k: inputs.resolve(v) for k, v in parameters.items()}
        if flow.should_validate_parameters:
            engine.parameters = flow.validate_parameters(engine.parameters)
        engine.create_run(found)
        return engine

    @classmethod
    def adopt(
        cls, flow: Flow[..., Any], run: Any, parameters: dict[str, Any]
    ) -> FlowRunEngine:
        """An engine for an existing run (one a deployment made, started by a worker or
        ``serve()``): it proposes Running on that run instead of creating one. ``run`` is
        the run's :class:`~flowyard.schemas.core.FlowRun`."""
        from flowyard.schemas.core import FlowRunPolicy

        setup_logging()
        engine = cls(flow, parameters)
        api = engine.api = get_api()
        # The flow's retry settings apply to this run (the deployment could not know them).
        policy = FlowRunPolicy(retries=flow.retries, retry_delay=flow.retry_delay_seconds)
        api.client.update_flow_run(run.id, flow_version=flow.version, empirical_policy=policy)
        engine.info = FlowRunInfo(
            id=run.id, name=run.name, flow_id=run.flow_id, flow_name=flow.name,
            run_count=run.run_count, parameters=dict(run.parameters), model=run,
        )  # fmt: skip
        engine.logger = flow_run_logger(run.id, run.name, flow.name)
        if engine.log_prints:
            install_print_capture()
        return engine

    @property
    def is_top_level(self) -> bool:
        """Whether this run is not a subflow (only top-level runs flush at the end)."""
        return self.parent is None

    # -- steps ---------------------------------------------------------------------------

    def create_run(self, upstreams: list[Any]) -> None:
        """Create the flow (once per process) and the Pending flow run."""
        setup_logging()
        api = self.api = get_api()
        flow = self.flow
        flow_id = api.ensure_flow(flow.name)
        parent_task_run_id = None
        if self.parent is not None:
            key = _task_key(flow.fn)
            dynamic_key = self.parent.next_dynamic_key(key)
            task_inputs, _ = inputs.task_inputs(
                {"parameters": upstreams},
                None,
                self.parent_task.task_run.id if self.parent_task else None,
            )
            parent_task_run_id = api.create_tracking_task_run(
                self.parent.flow_run.id, key, str(dynamic_key), f"{flow.name}-{dynamic_key}",
                task_inputs,
            )  # fmt: skip
        self.info = api.create_flow_run(
            flow_id,
            flow.name,
            name=self._run_name(),
            parameters=_jsonable(self.parameters),
            parent_task_run_id=parent_task_run_id,
            retries=flow.retries,
            retry_delay=flow.retry_delay_seconds,
            tags=[],
            version=flow.version,
        )
        self.logger = flow_run_logger(self.info.id, self.info.name, flow.name)
        if self.log_prints:
            install_print_capture()

    def _run_name(self) -> str | None:
        template = self.flow.flow_run_name
        if template is None:
            return None
        if callable(template):
            wanted = inspect.signature(template).parameters
            return str(template(**{k: v for k, v in self.parameters.items() if k in wanted}))
        return template.format(**self.parameters)

    def propose_running(self) -> states.State | float | None:
        """None: go. A float: wait that long, then call again. A state: do not run."""
        # The lease rides on this request: the server takes it if it accepts Running.
        status, answered, details = self.api.set_flow_run_state(
            self.info.id, states.Running(), lease=heartbeat.declared_lease()
        )
        if status == "ACCEPT":
            self.info.run_count += 1
            self.info.state = answered
            heartbeat.hold(self.api, self.info.id)  # renewed off the main thread from now on
            self._hold_deployment_slot(answered)
            self.started = time.monotonic()
            # Started before the first line is logged: the run's log lines reach the API
            # through it (none is found before the run's first task otherwise).
            _ = self.api.reporter
            if self.info.run_count == 1:
                self.logger.info(
                    "Beginning flow run %r for flow %r", self.info.name, self.flow.name
                )
            else:
                self.logger.info("Retrying: attempt %d", self.info.run_count)
            if self.flow.on_running:
                self._hooks(self.flow.on_running, answered or states.Running())
            return None
        if status == "WAIT":
            return float(getattr(details, "delay_seconds", 1) or 0)
        if status == "ABORT":
            raise Abort(f"The server aborted flow run {self.info.name!r}: {_reason(details)}")
        if answered is None:
            raise OrchestrationError(f"Running was rejected: {_reason(details)}")
        if answered.is_final():
            return answered
        if answered.type in (states.SCHEDULED, states.PENDING):
            return _until(answered)
        raise OrchestrationError(
            f"Flow run {self.info.name!r} cannot start: the server moved it to {answered!r}."
        )

    def context(self, runner: Any) -> FlowRunContext:
        """The run context the function and its tasks see (one per attempt)."""
        self.ctx = FlowRunContext(
            flow=self.flow,
            flow_run=self.info,
            parameters=self.parameters,
            task_runner=runner,
            reporter=self.api.reporter,
            log_prints=self.log_prints,
            task_result_seam=self._task_result_seam(),
        )
        return self.ctx

    def _task_result_seam(self) -> Any:
        flow, parent = self.flow, self.parent
        if (
            flow.persist_result is None
            and flow.result_storage is None
            and flow.result_serializer is None
            and (parent is None or parent.task_result_seam is None)
        ):
            return None  # the common case: no result options anywhere
        from flowyard.sdk import results

        return results.INHERITED if results.flow_persists(flow, parent) else None

    def new_runner(self) -> Any:
        """A fresh task runner for one attempt."""
        template = self.flow.task_runner
        if template is None:
            from flowyard.sdk.task_runners import ThreadPoolTaskRunner

            return ThreadPoolTaskRunner()
        return template.duplicate()

    def state_from_result(self, result: Any) -> states.State:
        """The final state for a return value (persisted if the flow persists results)."""
        state = self._state_from_result(result)
        if self.ctx is not None and self.ctx.task_result_seam is not None:
            from flowyard.sdk.results import persist_flow_result

            state = persist_flow_result(self.flow, state)
        return state

    def _state_from_result(self, result: Any) -> states.State:
        """The final state for a return value: failed if any returned future failed."""
        if isinstance(result, states.State):
            return result
        found: list[states.State] = []
        collect_states(result, found)
        if not found:
            return states.Completed(data=result)
        failed = [s for s in found if not s.is_completed()]
        if failed:
            return states.Failed(
                message=f"{len(failed)}/{len(found)} states failed: {failed[0]!r}",
                data=failed[0].exception(),
            )
        return states.Completed(data=resolve_futures(result))

    def state_from_exception(self, exc: Exception) -> states.State:
        """The final state for an exception raised by the function."""
        if isinstance(exc, FlowTimeout):
            return states.TimedOut(message=str(exc), data=exc)
        return states.Failed(message=exception_message("Flow run", exc), data=exc)

    def propose_final(self, state: states.State) -> states.State | Retry | float:
        """Propose the outcome. A state: done. Retry: start over. A float: wait, repropose."""
        # Every task run of this flow run is recorded before the flow run's final state.
        ran_tasks = self.ctx is not None and self.ctx.has_task_runs
        if ran_tasks and not self.api.reporter.flush(timeout=300):
            self.logger.warning("Some task runs were not recorded before the flow run ended.")
        proposal = state
        if state.type == states.COMPLETED and state.result_metadata is None:
            proposal = state.copy(state_details={"untrackable_result": True})
        status, answered, details = self.api.set_flow_run_state(self.info.id, proposal)
        if status == "ACCEPT":
            return state
        if status == "WAIT":
            return float(getattr(details, "delay_seconds", 1) or 0)
        if answered is not None and answered.name == "AwaitingRetry":
            self.logger.info(
                "Flow run failed (%s); retrying in %.3gs", _first_line(state), _until(answered)
            )
            return Retry(_until(answered))
        if status == "REJECT" and answered is not None:
            return answered.copy(data=state.data if answered.type == state.type else None)
        self.logger.warning("The server did not accept %r: %s", state, _reason(details))
        return state

    def interrupted(self, exc: BaseException) -> states.State:
        """Record a Ctrl-C (Cancelled) or an interpreter-level exit (Crashed) and flush."""
        if isinstance(exc, KeyboardInterrupt):
            state = states.Cancelled(message=crash_message(exc), data=exc)
        elif isinstance(exc, TerminationSignal):
            state = states.Crashed(
                message="Execution was aborted by a termination signal (SIGTERM)."
            )
        else:
            state = states.Crashed(message=crash_message(exc), data=exc)
        try:
            self.api.reporter.flush(timeout=30)
            # A run being cancelled ends Cancelled, not Crashed, whoever sent the signal.
            state = heartbeat.settle_interrupted(self.api, self.info.id, state)
        except Exception as error:  # noqa: BLE001 - going down anyway: report, do not mask
            self.logger.error("Could not record the end of the flow run: %s", error)
        return self.finish(state)

    def _hold_deployment_slot(self, running: states.State | None) -> None:
        """Renew the slot of the deployment's concurrency limit that the run took when it
        became Pending (its lease rides in the state), until the run ends."""
        details = (running.state_details if running is not None else None) or {}
        lease = details.get("deployment_concurrency_lease_id")
        if lease:
            from flowyard.sdk._client_calls import sync_client
            from flowyard.sdk.concurrency import RENEWER

            self._deployment_lease = uuid.UUID(str(lease))
            RENEWER.add(sync_client(), self._deployment_lease, DEPLOYMENT_LEASE_SECONDS)

    def finish(self, state: states.State) -> states.State:
        """Run the hooks for the final state, log it, flush (top-level runs)."""
        flow = self.flow
        self.info.state = state
        heartbeat.release(self.info.id)
        if self._deployment_lease is not None:
            from flowyard.sdk.concurrency import RENEWER

            # The server gives the slot back with the final state; renewing stops here.
            RENEWER.remove(self._deployment_lease)
        hooks = {
            states.COMPLETED: flow.on_completion,
            states.FAILED: flow.on_failure,
            states.CRASHED: flow.on_crashed,
            states.CANCELLED: flow.on_cancellation,
        }.get(state.type)
        if hooks:
            self._hooks(hooks, state)
        elapsed = time.monotonic() - self.started if self.started else 0.0
        if state.is_completed():
            self.logger.info("Finished in state %r in %.3fs", state, elapsed)
        else:
            self.logger.error(
                "Finished in state %s in %.3fs: %s", state.name, elapsed, state.message or ""
            )
        if self.is_top_level:
            # Task runs were flushed before the final state was proposed; what is left is
            # log lines. They go out now in the background; the exit hook waits for them.
            self.api.reporter.request_flush()
        return state

    def _hooks(self, hooks: list[Any], state: states.State) -> None:
        for hook in hooks:
            try:
                outcome = hook(self.flow, self.info, state)
                if inspect.isawaitable(outcome):
                    run_coroutine_sync(outcome)
            except Exception:  # noqa: BLE001 - a failing hook never changes the run's state
                self.logger.exception("Hook %r failed", getattr(hook, "__name__", hook))

    # -- loops ---------------------------------------------------------------------------

    def run_sync(self) -> states.State:
        """Run the flow to its final state in this thread."""
        for _ in range(MAX_PROPOSALS):
            step = self.propose_running()
            if isinstance(step, float):
                time.sleep(step)
                continue
            if isinstance(step, states.State):
                return self.finish(step)
            runner = self.new_runner()
            token = FLOW_RUN.set(self.context(runner))
            try:
                try:
                    with runner:
                        result = self._call_sync()
                    state = self.state_from_result(result)
                except Exception as exc:
                    state = self.state_from_exception(exc)
            except BaseException as exc:
                # Queued task runs must not keep the process alive after an interrupt.
                runner.shutdown(wait=False)
                self.interrupted(exc)
                raise
            finally:
                FLOW_RUN.reset(token)
            outcome = self.propose_final(state)
            while isinstance(outcome, float):
                time.sleep(outcome)
                outcome = self.propose_final(state)
            if isinstance(outcome, Retry):
                time.sleep(outcome.delay)
                continue
            return self.finish(outcome)
        raise OrchestrationError(f"Flow run {self.info.name!r} never got to run.")

    def _call_sync(self) -> Any:
        flow = self.flow
        if flow.timeout_seconds is None:
            return flow.call_fn(self.parameters)
        from flowyard.sdk.engine.timeouts import call_with_timeout

        seconds = float(flow.timeout_seconds)
        return call_with_timeout(
            lambda: flow.call_fn(self.parameters),
            seconds,
            lambda: FlowTimeout(f"Flow run exceeded its timeout of {seconds:g} second(s)."),
        )

    async def run_async(self) -> states.State:
        """Run the (async) flow to its final state on the running loop.

        API calls go through a worker thread, so that concurrent async flow runs on one
        loop do not wait for each other's requests.
        """
        for _ in range(MAX_PROPOSALS):
            step = await asyncio.to_thread(self.propose_running)
            if isinstance(step, float):
                await asyncio.sleep(step)
                continue
            if isinstance(step, states.State):
                return await asyncio.to_thread(self.finish, step)
            runner = self.new_runner()
            token = FLOW_RUN.set(self.context(runner))
            try:
                try:
                    with runner:
                        result = await self._call_async()
                    state = await asyncio.to_thread(self.state_from_result, result)
                except Exception as exc:
                    state = self.state_from_exception(exc)
            except BaseException as exc:
                # Queued task runs must not keep the process alive after an interrupt.
                runner.shutdown(wait=False)
                self.interrupted(exc)
                raise
            finally:
                FLOW_RUN.reset(token)
            outcome = await asyncio.to_thread(self.propose_final, state)
            while isinstance(outcome, float):
                await asyncio.sleep(outcome)
                outcome = await asyncio.to_thread(self.propose_final, state)
            if isinstance(outcome, Retry):
                await asyncio.sleep(outcome.delay)
                continue
            return await asyncio.to_thread(self.finish, outcome)
        raise OrchestrationError(f"Flow run {self.info.name!r} never got to run.")

    async def _call_async(self) -> Any:
        flow = self.flow
        awaitable = flow.call_fn(self.parameters)
        if flow.timeout_seconds is None:
            return await awaitable
        seconds = float(flow.timeout_seconds)
        try:
            return await asyncio.wait_for(awaitable, seconds)
        except TimeoutError:
            raise FlowTimeout(f"Flow run exceeded its timeout of {seconds:g} second(s).") from None


def _until(state: states.State) -> float:
    when = (state.state_details or {}).get("scheduled_time")
    if when is None:
        return 0.0
    if isinstance(when, str):
        import datetime as dt

        when = dt.datetime.fromisoformat(when.replace("Z", "+00:00")).timestamp()
    elif hasattr(when, "timestamp"):
        when = when.timestamp()
    return max(0.0, float(when) - time.time())


def _reason(details: Any) -> str:
    return str(getattr(details, "reason", None) or "no reason given")


def _first_line(state: states.State) -> str:
    return (state.message or state.name).splitlines()[0]


def _jsonable(parameters: dict[str, Any]) -> dict[str, Any]:
    from pydantic_core import to_jsonable_python

    def fallback(value: Any) -> Any:
        return f"<{type(value).__name__}>"

    jsonable: dict[str, Any] = to_jsonable_python(parameters, fallback=fallback)
    return jsonable


@contextlib.contextmanager
def _terminate_on_sigterm(engine: FlowRunEngine) -> Iterator[None]:
    """Turn SIGTERM into an exception during a top-level run in the main thread, so the
    run ends Crashed and its records are flushed instead of vanishing with the process."""
    usable = (
        engine.is_top_level
        and threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    )
    if not usable:
        yield
        return

    raised = False

    def on_sigterm(signum: int, frame: Any) -> None:
        # Once: a cancelled run often gets two (its heartbeat's and its worker's), and a
        # second one must not cut short the recording of how the run ended.
        nonlocal raised
        if not raised:
            raised = True
            raise TerminationSignal()

    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def run_flow_sync(
    flow: Flow[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], *, return_state: bool
) -> Any:
    """Call a sync flow: create and run one flow run, return its result (or state)."""
    try:
        engine = FlowRunEngine.prepare(flow, args, kwargs)
    except (ServerUnavailable, ParameterValidationError) as exc:
        # Raised before any user code ran: show the user's call, not the engine's frames.
        raise exc.with_traceback(None) from None
    with _terminate_on_sigterm(engine):
        state = engine.run_sync()
    return state if return_state else state.result()


async def run_flow_async(
    flow: Flow[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], *, return_state: bool
) -> Any:
    """Call an async flow on the running loop."""
    try:
        engine = await asyncio.to_thread(FlowRunEngine.prepare, flow, args, kwargs)
    except (ServerUnavailable, ParameterValidationError) as exc:
        raise exc.with_traceback(None) from None
    # No SIGTERM handler here: raised inside the event loop's own code, it would escape
    # the loop instead of reaching the engine.
    state = await engine.run_async()
    return state if return_state else state.result()
