"""The task engine: one task run, orchestrated in this process.

Every decision is local -- whether to retry, after how long, whether the run timed out
-- and every state change is handed to the reporter as a tuple; no HTTP, no pydantic,
no logging setup per call. That keeps a task call within tens of microseconds of a
plain function call.

:class:`TaskRunEngine` holds the steps shared by the sync and async paths; the two
``run_*`` methods are the loops around the user's function. ``ResultSeam`` is where
caching and result persistence plug in.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import logging
import random
import threading
import time
from typing import TYPE_CHECKING, Any, Protocol

from flowyard.exceptions import FlowTimeout, TaskTimeout, UpstreamTaskError
from flowyard.sdk import states
from flowyard.sdk.context import FLOW_RUN, TASK_RUN, FlowRunContext, TaskRunContext
from flowyard.sdk.engine import inputs
from flowyard.sdk.engine.errors import crash_message, exception_message
from flowyard.sdk.futures import TaskFuture
from flowyard.sdk.logging import TASK_LOGGER, install_print_capture, setup_logging
from flowyard.sdk.states import new_id
from flowyard.sdk.tasks import Task, TaskRun

if TYPE_CHECKING:
    from flowyard.sdk.engine.api import FlowRunInfo
    from flowyard.sdk.reporting import ReporterLike

_standalone_counter: dict[str, itertools.count[int]] = {}
_standalone_lock = threading.Lock()


class ResultSeam(Protocol):
    """Caching and result persistence for a task (``Task.result_seam``).

    ``lookup`` runs before the body: returning a (Completed/Cached) state skips the body.
    ``persist`` runs after a successful body and returns the state to finish in (for
    example with result metadata in ``state_details``).
    """

    def lookup(
        self, task: Task[..., Any], run: TaskRun, parameters: dict[str, Any]
    ) -> states.State | None:
        """A final state to finish in without running the body, or None to run it."""

    def persist(
        self, task: Task[..., Any], run: TaskRun, parameters: dict[str, Any], state: states.State
    ) -> states.State:
        """Store the result of a completed run; return the state to finish in."""


def inherited_seam(task: Task[..., Any], flow_ctx: FlowRunContext | None) -> Any:
    """The task's own result seam, else the flow's for tasks that name no result options
    (``persist_result=False`` on the task opts out)."""
    seam = task.result_seam
    if seam is None and flow_ctx is not None and task.persist_result is None:
        seam = flow_ctx.task_result_seam
    return seam


def _next_standalone_key(task_key: str) -> int:
    with _standalone_lock:
        counter = _standalone_counter.setdefault(task_key, itertools.count())
    return next(counter)


def _run_name(task: Task[..., Any], dynamic_key: int, parameters: dict[str, Any]) -> str:
    template = task.task_run_name
    if template is None:
        return f"{task.name}-{dynamic_key}"
    if callable(template):
        wanted = inspect.signature(template).parameters
        return str(template(**{k: v for k, v in parameters.items() if k in wanted}))
    return template.format(**parameters)


class TaskRunEngine:
    """Runs one task run: upstream resolution, retries, timeout, hooks, reporting."""

    __slots__ = (
        "task", "run", "parameters", "reporter", "ctx", "has_futures", "wait_for", "seam",
    )  # fmt: skip

    def __init__(
        self,
        task: Task[..., Any],
        parameters: dict[str, Any],
        wait_for: Any = None,
        flow_ctx: FlowRunContext | None = None,
        reporter: ReporterLike | None = None,
    ) -> None:
        self.task = task
        self.parameters = parameters
        self.wait_for = wait_for
        parent = TASK_RUN.get()
        seam = task.result_seam
        if flow_ctx is not None:
            if seam is None and flow_ctx.task_result_seam is not None:
                seam = inherited_seam(task, flow_ctx)
            dynamic_key = flow_ctx.next_dynamic_key(task.task_key)
            flow_run: FlowRunInfo | None = flow_ctx.flow_run
            log_prints = flow_ctx.log_prints if task.log_prints is None else task.log_prints
            self.reporter = reporter or flow_ctx.reporter
        else:
            dynamic_key = _next_standalone_key(task.task_key)
            flow_run = None
            log_prints = bool(task.log_prints)
            if reporter is None:
                from flowyard.sdk.engine.api import get_api

                setup_logging()
                reporter = get_api().reporter
            self.reporter = reporter
        self.seam = seam
        task_inputs, self.has_futures = inputs.task_inputs(
            parameters, wait_for, parent.task_run.id if parent is not None else None
        )
        self.run = TaskRun(
            id=new_id(),
            name=_run_name(task, dynamic_key, parameters),
            task_key=task.task_key,
            dynamic_key=str(dynamic_key),
            flow_run_id=flow_run.id if flow_run else None,
            flow_run_name=flow_run.name if flow_run else None,
            flow_id=flow_run.flow_id if flow_run else None,
            flow_name=flow_run.flow_name if flow_run else None,
            flow_run_run_count=flow_run.run_count if flow_run else 0,
            tags=task.tags,
            task_inputs=task_inputs,
            retries=task.retries,
            retry_delay=task.policy_retry_delay,
            retry_jitter_factor=task.retry_jitter_factor,
            task_version=task.version,
            expected_start_time=time.time(),
        )
        if log_prints:
            install_print_capture()
        self.ctx = TaskRunContext(task, self.run, parameters, log_prints, self.reporter)

    @classmethod
    def for_run(
        cls,
        task: Task[..., Any],
        run: TaskRun,
        parameters: dict[str, Any],
        reporter: ReporterLike,
        log_prints: bool,
    ) -> TaskRunEngine:
        """An engine for a run created elsewhere (a process-pool worker's copy)."""
        engine = cls.__new__(cls)
        engine.task, engine.run, engine.parameters = task, run, parameters
        engine.reporter, engine.wait_for, engine.has_futures = reporter, None, False
        engine.seam = inherited_seam(task, FLOW_RUN.get())
        if log_prints:
            install_print_capture()
        engine.ctx = TaskRunContext(task, run, parameters, log_prints, reporter)
        return engine

    # -- steps ---------------------------------------------------------------------------

    def report_pending(self) -> None:
        """Record the run as Pending (a submitted run waiting for a worker or upstreams)."""
        state = self.run.state = states.State(states.PENDING)
        self.reporter.report_task_run(self.run, state)

    def resolve_inputs(self) -> states.State | None:
        """Wait for upstream runs; a NotReady state if one did not complete."""
        try:
            if self.wait_for:
                inputs.wait_for_all(self.wait_for)
            if self.has_futures:
                self.parameters = {k: inputs.resolve(v) for k, v in self.parameters.items()}
                self.ctx.parameters = self.parameters
        except UpstreamTaskError as exc:
            state = states.Pending(name="NotReady", message=str(exc), data=exc)
            self._set(state)
            TASK_LOGGER.info("Not run: %s", exc, extra=_extra(self.run))
            return state
        return None

    def begin(self) -> states.State | None:
        """Enter Running (or Retrying); a cached final state if the result seam has one."""
        run = self.run
        seam = self.seam
        if seam is not None and run.run_count == 0:
            cached: states.State | None = seam.lookup(self.task, run, self.parameters)
            if cached is not None:
                return cached
        run.run_count += 1
        now = time.time()
        if run.start_time is None:
            run.start_time = now
        state = (
            states.Retrying(timestamp=now) if run.run_count > 1 else states.Running(timestamp=now)
        )
        self._set(state)
        if self.task.on_running:
            self._hooks(self.task.on_running, state)
        return None

    def succeeded(self, result: Any) -> states.State:
        """The final state for a body that returned ``result``."""
        if isinstance(result, states.State):
            state = result
        elif type(result) is TaskFuture:
            result.wait()
            state = result.state
        else:
            state = states.Completed(data=result)
        seam = self.seam
        if seam is not None and state.is_completed():
            state = seam.persist(self.task, self.run, self.parameters, state)
        return state

    def failed(self, exc: Exception) -> tuple[states.State, float | None]:
        """The state after ``exc``, and the delay before a retry (None: no retry)."""
        run, task = self.run, self.task
        if isinstance(exc, TaskTimeout):
            state = states.TimedOut(message=str(exc), data=exc)
        elif isinstance(exc, FlowTimeout):
            # The *flow* ran out of time while this task ran: never retried.
            return states.Failed(message=str(exc), data=exc), None
        else:
            state = states.Failed(message=exception_message("Task run", exc), data=exc)
        if run.run_count > task.retries:
            return state, None
        if task.retry_condition_fn is not None:
            try:
                if not task.retry_condition_fn(task, run, state):
                    return state, None
            except Exception as hook_error:  # noqa: BLE001 - a bad condition means no retry
                TASK_LOGGER.error(
                    "retry_condition_fn raised %r; not retrying", hook_error, extra=_extra(run)
                )
                return state, None
        delay = retry_delay(task, run.run_count - 1)
        TASK_LOGGER.info(
            "Task run failed with exception %r - retry %d/%d in %gs",
            exc, run.run_count, task.retries, delay, extra=_extra(run),
        )  # fmt: skip
        self._set(states.AwaitingRetry(time.time() + delay, message=state.message))
        return state, delay

    def crashed(self, exc: BaseException) -> states.State:
        """The state for an interpreter-level exit: Cancelled for Ctrl-C, else Crashed."""
        if isinstance(exc, KeyboardInterrupt):
            return states.Cancelled(message=crash_message(exc), data=exc)
        return states.Crashed(message=crash_message(exc), data=exc)

    def finish(self, state: states.State) -> states.State:
        """Record the final state, run the completion/failure hooks, log the outcome."""
        run, task = self.run, self.task
        if run.tags:
            _release_tag_slots(run.id)
        run.end_time = end = time.time()
        if run.start_time is not None:
            run.total_run_time = end - run.start_time
        self._set(state)
        if state.type == states.COMPLETED:
            if task.on_completion:
                self._hooks(task.on_completion, state)
            level = _completion_log_level(FLOW_RUN.get())
            if TASK_LOGGER.isEnabledFor(level):
                TASK_LOGGER.log(
                    level,
                    "Finished in state %r in %s",
                    state,
                    _duration(run),
                    # Recorded with the flow run's logs too, as the official client does;
                    # past COMPLETIONS_AT_INFO a big flow's completions are DEBUG, so the
                    # API stores at most that many of these lines per flow run.
                    extra=_extra(run),
                )
        else:
            if task.on_failure and state.type in (states.FAILED, states.CRASHED):
                self._hooks(task.on_failure, state)
            TASK_LOGGER.error(
                "Finished in state %s in %s", state.name, _duration(run),
                extra={**_extra(run), "state_message": state.message},
            )  # fmt: skip
        return state

    def _set(self, state: states.State) -> None:
        self.run.state = state
        self.reporter.report_task_run(self.run, state)

    def _hooks(self, hooks: list[Any], state: states.State) -> None:
        for hook in hooks:
            try:
                outcome = hook(self.task, self.run, state)
                if inspect.isawaitable(outcome):
                    run_coroutine_sync(outcome)
            except Exception:  # noqa: BLE001 - a failing hook never changes the run's state
                TASK_LOGGER.exception(
                    "Hook %r failed", getattr(hook, "__name__", hook), extra=_extra(self.run)
                )

    # -- loops ---------------------------------------------------------------------------

    def run_sync(self) -> states.State:
        """Run the task to a final state in this thread."""
        if (self.has_futures or self.wait_for) and (not_ready := self.resolve_inputs()):
            return not_ready
        if self.run.tags and (refused := _take_tag_slots(self)) is not None:
            return self.finish(refused)
        cached = self.begin()
        if cached is not None:
            return self.finish(cached)
        task, params = self.task, self.parameters
        token = TASK_RUN.set(self.ctx)
        try:
            while True:
                try:
                    if task.timeout_seconds is None:
                        result = task.call_fn(params)
                    else:
                        result = _call_with_timeout(task, params)
                except Exception as exc:
                    state, delay = self.failed(exc)
                    if delay is None:
                        break
                    if delay > 0:
                        time.sleep(delay)
                    self.begin()
                    continue
                state = self.succeeded(result)
                break
        except BaseException as exc:
            self.finish(self.crashed(exc))
            raise
        finally:
            TASK_RUN.reset(token)
        return self.finish(state)

    async def run_async(self) -> states.State:
        """Run the (async) task to a final state on the running event loop."""
        if self.has_futures or self.wait_for:
            await _await_upstreams(self.parameters, self.wait_for)
            not_ready = self.resolve_inputs()
            if not_ready:
                return not_ready
        if self.run.tags and (refused := await asyncio.to_thread(_take_tag_slots, self)):
            return self.finish(refused)
        cached = self.begin()
        if cached is not None:
            return self.finish(cached)
        task, params = self.task, self.parameters
        token = TASK_RUN.set(self.ctx)
        try:
            while True:
                try:
                    result = task.call_fn(params)
                    if inspect.isawaitable(result):
                        if task.timeout_seconds is None:
                            result = await result
                        else:
                            result = await _await_with_timeout(task, result)
                except Exception as exc:
                    state, delay = self.failed(exc)
                    if delay is None:
                        break
                    if delay > 0:
                        await asyncio.sleep(delay)
                    self.begin()
                    continue
                state = self.succeeded(result)
                break
        except BaseException as exc:
            self.finish(self.crashed(exc))
            raise
        finally:
            TASK_RUN.reset(token)
        return self.finish(state)


def _take_tag_slots(engine: TaskRunEngine) -> states.State | None:
    # Tag concurrency limits (imported here: untagged tasks never load the module).
    from flowyard.sdk.concurrency import take_tag_slots

    return take_tag_slots(engine)


def _release_tag_slots(run_id: Any) -> None:
    from flowyard.sdk.concurrency import release_tag_slots

    release_tag_slots(run_id)


def _call_with_timeout(task: Task[..., Any], params: dict[str, Any]) -> Any:
    from flowyard.sdk.engine.timeouts import call_with_timeout

    seconds = float(task.timeout_seconds or 0)
    return call_with_timeout(
        lambda: task.call_fn(params),
        seconds,
        lambda: TaskTimeout(f"Task run exceeded its timeout of {seconds:g} second(s)."),
    )


async def _await_with_timeout(task: Task[..., Any], awaitable: Any) -> Any:
    seconds = float(task.timeout_seconds or 0)
    try:
        return await asyncio.wait_for(awaitable, seconds)
    except TimeoutError:
        raise TaskTimeout(f"Task run exceeded its timeout of {seconds:g} second(s).") from None


async def _await_upstreams(parameters: dict[str, Any], wait_for: Any) -> None:
    # Block the event loop on no future: wait for each upstream in a worker thread.
    found: list[Any] = []
    for value in parameters.values():
        inputs.find_upstreams(value, found)
    if wait_for:
        inputs.find_upstreams(list(wait_for), found)
    for item in found:
        future = getattr(item, "value", item)
        if isinstance(future, TaskFuture) and not future.done():
            await asyncio.wrap_future(future._future)


def retry_delay(task: Task[..., Any], retry_index: int) -> float:
    """Seconds to wait before retry number ``retry_index`` (0-based), jitter included."""
    setting = task.retry_delay_seconds
    if callable(setting):
        setting = setting(task.retries)
    if isinstance(setting, list | tuple):
        delay = float(setting[min(retry_index, len(setting) - 1)]) if setting else 0.0
    else:
        delay = float(setting or 0)
    jitter = task.retry_jitter_factor
    if jitter and delay > 0:
        # Spread evenly within +/- jitter of the delay so that runs failing together do
        # not retry together.
        delay = max(0.0, delay * (1 + random.uniform(-jitter, jitter)))
    return delay


# A flow of thousands of tiny tasks must not flood the console (nor spend more time
# printing than computing): past this many completions per flow run, they log at DEBUG.
COMPLETIONS_AT_INFO = 100
_standalone_completions = itertools.count()


def _completion_log_level(flow_ctx: FlowRunContext | None) -> int:
    seen = next(flow_ctx.completions if flow_ctx is not None else _standalone_completions)
    if seen < COMPLETIONS_AT_INFO:
        return logging.INFO
    if seen == COMPLETIONS_AT_INFO:
        TASK_LOGGER.info(
            "More than %d task runs completed; further completions are logged at DEBUG level.",
            COMPLETIONS_AT_INFO,
            extra={
                "console_only": True,
                "flow_run_name": flow_ctx.flow_run.name if flow_ctx is not None else None,
            },
        )
    return logging.DEBUG


def _extra(run: TaskRun) -> dict[str, Any]:
    return {
        "flow_run_id": run.flow_run_id,
        "flow_run_name": run.flow_run_name,
        "task_run_id": run.id,
        "task_run_name": run.name,
    }


def _duration(run: TaskRun) -> str:
    seconds = run.total_run_time
    return f"{seconds * 1000:.2f}ms" if seconds < 1 else f"{seconds:.2f}s"


def run_coroutine_sync(awaitable: Any) -> Any:
    """Run an awaitable to completion from sync code (in a fresh thread if a loop runs here)."""

    async def wrapper() -> Any:
        return await awaitable

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(wrapper())
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(wrapper())
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target, name="flowyard-hook")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box.get("value")


# -- entry points used by Task ---------------------------------------------------------------


def run_task_sync(
    task: Task[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    *,
    wait_for: Any = None,
    return_state: bool = False,
) -> Any:
    """Call a sync task now, in this thread."""
    engine = TaskRunEngine(task, task.bind(args, kwargs), wait_for, FLOW_RUN.get())
    state = engine.run_sync()
    return state if return_state else state.result()


async def run_task_async(
    task: Task[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    *,
    wait_for: Any = None,
    return_state: bool = False,
) -> Any:
    """Call an async task now, on the running loop."""
    engine = TaskRunEngine(task, task.bind(args, kwargs), wait_for, FLOW_RUN.get())
    state = await engine.run_async()
    return state if return_state else state.result()


def submit_task(
    task: Task[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], wait_for: Any
) -> TaskFuture[Any]:
    """Hand a task run to the current flow's task runner (or a process-wide one)."""
    flow_ctx = FLOW_RUN.get()
    if flow_ctx is not None:
        runner = flow_ctx.task_runner
    else:
        from flowyard.sdk.task_runners import default_runner

        runner = default_runner()
    engine = TaskRunEngine(task, task.bind(args, kwargs), wait_for, flow_ctx)
    engine.report_pending()
    return runner.submit(engine)
