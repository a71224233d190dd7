"""The worker-process side of :class:`~flowyard.sdk.task_runners.ProcessPoolTaskRunner`.

The parent sends a :class:`WorkerCall` (cloudpickled): the task, its resolved arguments,
the run record and what the run context needs. The worker runs the task engine with a
:class:`~flowyard.sdk.reporting.CollectingReporter` -- it never talks to the API -- and
sends back the final state plus every state change and log line, which the parent then
reports as if the run had happened locally.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flowyard.sdk import states

if TYPE_CHECKING:
    from flowyard.sdk.engine.api import FlowRunInfo
    from flowyard.sdk.engine.task_engine import TaskRunEngine
    from flowyard.sdk.flows import Flow
    from flowyard.sdk.tasks import Task, TaskRun


@dataclass
class WorkerCall:
    """Everything a worker process needs to run one task run."""

    task: Task[..., Any]
    parameters: dict[str, Any]
    run: TaskRun
    log_prints: bool
    flow: Flow[..., Any] | None
    flow_run: FlowRunInfo | None
    flow_log_prints: bool
    # The flow's default result seam, and (for the FLOW_PARAMETERS cache policy) a hash of
    # the flow's parameters: the parameters themselves stay in the parent.
    task_result_seam: Any = None
    flow_parameters_key: str | None = None

    @classmethod
    def from_engine(cls, engine: TaskRunEngine) -> WorkerCall:
        from flowyard.sdk.context import FLOW_RUN

        flow_ctx = FLOW_RUN.get()
        parameters_key = None
        if flow_ctx is not None and engine.seam is not None:
            from flowyard.sdk.caching import needs_flow_parameters
            from flowyard.sdk.results import flow_parameters_key

            if needs_flow_parameters(getattr(engine.seam, "policy", None)):
                parameters_key = flow_parameters_key(flow_ctx)
        return cls(
            task=engine.task,
            parameters=engine.parameters,
            run=engine.run,
            log_prints=engine.ctx.log_prints,
            flow=flow_ctx.flow if flow_ctx else None,
            flow_run=flow_ctx.flow_run if flow_ctx else None,
            flow_log_prints=flow_ctx.log_prints if flow_ctx else False,
            task_result_seam=flow_ctx.task_result_seam if flow_ctx else None,
            flow_parameters_key=parameters_key,
        )


def run_call(payload: bytes) -> bytes:
    """Worker entry point: run the call, return the pickled (state, reported items)."""
    import cloudpickle  # type: ignore[import-untyped]

    from flowyard.sdk.context import FLOW_RUN, FlowRunContext
    from flowyard.sdk.engine.task_engine import TaskRunEngine
    from flowyard.sdk.logging import setup_logging
    from flowyard.sdk.reporting import CollectingReporter
    from flowyard.sdk.task_runners import ThreadPoolTaskRunner

    call: WorkerCall = cloudpickle.loads(payload)
    setup_logging()
    collector = CollectingReporter()
    runner = ThreadPoolTaskRunner()
    token = None
    if call.flow is not None and call.flow_run is not None:
        flow_ctx = FlowRunContext(
            flow=call.flow,
            flow_run=call.flow_run,
            parameters={},
            task_runner=runner,
            reporter=collector,
            log_prints=call.flow_log_prints,
            task_result_seam=call.task_result_seam,
            parameters_key=call.flow_parameters_key,
        )
        token = FLOW_RUN.set(flow_ctx)
    try:
        engine = TaskRunEngine.for_run(
            call.task, call.run, call.parameters, collector, call.log_prints
        )
        with runner:
            if call.task.is_async:
                import asyncio

                state = asyncio.run(engine.run_async())
            else:
                state = engine.run_sync()
    finally:
        if token is not None:
            FLOW_RUN.reset(token)
    # Only the final state's data (the return value) is needed in the parent; the states
    # of the reported changes travel without theirs.
    items = [_without_data(item) for item in collector.items]
    try:
        return bytes(cloudpickle.dumps((state, items)))
    except Exception as exc:  # noqa: BLE001 - the result cannot cross back: say so
        failed = states.Failed(message=f"The task's result could not be pickled: {exc!r}")
        engine.finish(failed)
        items.append(_without_data(collector.items[-1]))
        return bytes(cloudpickle.dumps((failed, items)))


def _without_data(item: Any) -> Any:
    if len(item) != 5:
        return item
    run, state, run_count, start, end = item
    run.state = None
    return (run, state.copy(data=None), run_count, start, end)


def report_answer(engine: TaskRunEngine, answer: bytes) -> states.State:
    """Replay a worker's state changes and log lines into the parent's reporter."""
    import cloudpickle

    state, items = cloudpickle.loads(answer)
    parent_run = engine.run
    reporter = engine.reporter
    for item in items:
        if len(item) != 5:
            reporter.report_log(item)
            continue
        run, item_state, run_count, start, end = item
        if run.id == parent_run.id:
            run = parent_run  # keep the parent's record: futures and the reporter hold it
        run.run_count, run.start_time, run.end_time = run_count, start, end
        if start is not None and end is not None:
            run.total_run_time = end - start
        run.state = item_state
        reporter.report_task_run(run, item_state)
    parent_run.state = state
    return state  # type: ignore[no-any-return]
