"""Flowyard: workflow orchestration for Python.

::

    from flowyard import flow, task

    @task(retries=2)
    def double(x: int) -> int:
        return 2 * x

    @flow(log_prints=True)
    def pipeline(n: int = 3) -> int:
        total = sum(double.map(range(n)).result())
        print(f"total: {total}")
        return total

    pipeline()

Names are imported on first use (``__getattr__``), so ``import flowyard`` stays cheap
and never loads the server, the database layer or the HTTP client.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# Public name -> module that defines it.
_EXPORTS: dict[str, str] = {
    "flow": "flowyard.sdk.flows",
    "Flow": "flowyard.sdk.flows",
    "task": "flowyard.sdk.tasks",
    "Task": "flowyard.sdk.tasks",
    "unmapped": "flowyard.sdk.tasks",
    "allow_failure": "flowyard.sdk.tasks",
    "exponential_backoff": "flowyard.sdk.tasks",
    "TaskFuture": "flowyard.sdk.futures",
    "wait": "flowyard.sdk.futures",
    "as_completed": "flowyard.sdk.futures",
    "get_run_logger": "flowyard.sdk.logging",
    "get_run_context": "flowyard.sdk.context",
    "State": "flowyard.sdk.states",
    "ThreadPoolTaskRunner": "flowyard.sdk.task_runners",
    "ProcessPoolTaskRunner": "flowyard.sdk.task_runners",
}

__all__ = [
    "Flow",
    "ProcessPoolTaskRunner",
    "State",
    "Task",
    "TaskFuture",
    "ThreadPoolTaskRunner",
    "__version__",
    "allow_failure",
    "as_completed",
    "exponential_backoff",
    "flow",
    "get_run_context",
    "get_run_logger",
    "task",
    "unmapped",
    "wait",
]

if TYPE_CHECKING:
    from flowyard.sdk.context import get_run_context
    from flowyard.sdk.flows import Flow, flow
    from flowyard.sdk.futures import TaskFuture, as_completed, wait
    from flowyard.sdk.logging import get_run_logger
    from flowyard.sdk.states import State
    from flowyard.sdk.task_runners import ProcessPoolTaskRunner, ThreadPoolTaskRunner
    from flowyard.sdk.tasks import Task, allow_failure, exponential_backoff, task, unmapped


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'flowyard' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
