"""How running code finds its run: two context variables, one for flow runs, one for tasks.

``contextvars`` make the lookup O(1), thread-safe, and correct across ``asyncio`` tasks:
the task runner copies the submitting context into worker threads, so a task submitted
from a flow sees that flow's run.
"""

from __future__ import annotations

import itertools
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flowyard.sdk.engine.api import FlowRunInfo
    from flowyard.sdk.flows import Flow
    from flowyard.sdk.reporting import ReporterLike
    from flowyard.sdk.task_runners import TaskRunner
    from flowyard.sdk.tasks import Task, TaskRun


@dataclass(eq=False)
class FlowRunContext:
    """What a flow run's code (and the tasks it calls) can see about the run.

    Attributes:
        flow: the :class:`~flowyard.sdk.flows.Flow` being run.
        flow_run: id, name, flow id and run count of the run.
        parameters: the bound (and validated) arguments.
        task_runner: the runner ``.submit()`` and ``.map()`` use.
        reporter: where task-run state changes and logs go.
        log_prints: whether ``print`` is captured as a log line.
        task_result_seam: how tasks that name no result options persist results here
            (set when the flow persists results; None: they do not).
        parameters_key: a hash of ``parameters`` for the FLOW_PARAMETERS cache policy,
            computed once per run on first use.
    """

    flow: Flow[..., Any]
    flow_run: FlowRunInfo
    parameters: dict[str, Any]
    task_runner: TaskRunner
    reporter: ReporterLike
    log_prints: bool = False
    task_result_seam: Any = None
    parameters_key: str | None = None
    # Per task key, the next dynamic key: tasks called twice get distinct runs.
    _counters: dict[str, itertools.count[int]] = field(default_factory=dict, repr=False)
    # Task runs completed so far (the engine logs the first ones at INFO, then DEBUG).
    completions: itertools.count[int] = field(default_factory=itertools.count, repr=False)

    @property
    def has_task_runs(self) -> bool:
        """Whether any task run (or subflow) was started in this flow run."""
        return bool(self._counters)

    def next_dynamic_key(self, task_key: str) -> int:
        """The call index of a task within this flow run (0, 1, 2, ...)."""
        counter = self._counters.get(task_key)
        if counter is None:
            # setdefault: two threads creating the first counter agree on one of them.
            counter = self._counters.setdefault(task_key, itertools.count())
        return next(counter)


@dataclass(eq=False)
class TaskRunContext:
    """What a running task can see about its run.

    Attributes:
        task: the :class:`~flowyard.sdk.tasks.Task` being run.
        task_run: the run's id, name, run count and current state.
        parameters: the bound arguments, with futures resolved to values.
        log_prints: whether ``print`` is captured as a log line.
        reporter: where state changes and logs go.
    """

    task: Task[..., Any]
    task_run: TaskRun
    parameters: dict[str, Any]
    log_prints: bool
    reporter: ReporterLike


FLOW_RUN: ContextVar[FlowRunContext | None] = ContextVar("flowyard_flow_run", default=None)
TASK_RUN: ContextVar[TaskRunContext | None] = ContextVar("flowyard_task_run", default=None)


def get_run_context() -> TaskRunContext | FlowRunContext:
    """The innermost run context: the task run if inside a task, else the flow run.

    Raises:
        RuntimeError: when called outside of any flow or task run.
    """
    task_ctx = TASK_RUN.get()
    if task_ctx is not None:
        return task_ctx
    flow_ctx = FLOW_RUN.get()
    if flow_ctx is not None:
        return flow_ctx
    raise RuntimeError("No run context: call this from inside a flow or a task.")
