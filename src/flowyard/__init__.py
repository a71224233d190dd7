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
    "DaskTaskRunner": "flowyard.sdk.task_runners_dask",
    "CachePolicy": "flowyard.sdk.caching",
    "INPUTS": "flowyard.sdk.caching",
    "TASK_SOURCE": "flowyard.sdk.caching",
    "FLOW_PARAMETERS": "flowyard.sdk.caching",
    "RUN_ID": "flowyard.sdk.caching",
    "NO_CACHE": "flowyard.sdk.caching",
    "load_result": "flowyard.sdk.results",
    "LocalFileSystem": "flowyard.sdk.storage",
    "JSONSerializer": "flowyard.sdk.serializers",
    "PickleSerializer": "flowyard.sdk.serializers",
    "create_markdown_artifact": "flowyard.sdk.artifacts",
    "create_table_artifact": "flowyard.sdk.artifacts",
    "create_link_artifact": "flowyard.sdk.artifacts",
    "Variable": "flowyard.sdk.variables",
    "concurrency": "flowyard.sdk.concurrency",
    "rate_limit": "flowyard.sdk.concurrency",
    "pause_flow_run": "flowyard.sdk.pause",
    "resume_flow_run": "flowyard.sdk.pause",
    "serve": "flowyard.sdk.serve",
    "run_deployment": "flowyard.sdk.deployments",
}

__all__ = [
    "FLOW_PARAMETERS",
    "INPUTS",
    "NO_CACHE",
    "RUN_ID",
    "TASK_SOURCE",
    "CachePolicy",
    "DaskTaskRunner",
    "Flow",
    "JSONSerializer",
    "LocalFileSystem",
    "PickleSerializer",
    "ProcessPoolTaskRunner",
    "State",
    "Task",
    "TaskFuture",
    "ThreadPoolTaskRunner",
    "Variable",
    "__version__",
    "allow_failure",
    "as_completed",
    "concurrency",
    "create_link_artifact",
    "create_markdown_artifact",
    "create_table_artifact",
    "exponential_backoff",
    "flow",
    "get_run_context",
    "get_run_logger",
    "load_result",
    "pause_flow_run",
    "rate_limit",
    "resume_flow_run",
    "run_deployment",
    "serve",
    "task",
    "unmapped",
    "wait",
]

if TYPE_CHECKING:
    from flowyard.sdk.artifacts import (
        create_link_artifact,
        create_markdown_artifact,
        create_table_artifact,
    )
    from flowyard.sdk.caching import (
        FLOW_PARAMETERS,
        INPUTS,
        NO_CACHE,
        RUN_ID,
        TASK_SOURCE,
        CachePolicy,
    )
    from flowyard.sdk.concurrency import concurrency, rate_limit
    from flowyard.sdk.context import get_run_context
    from flowyard.sdk.deployments import run_deployment
    from flowyard.sdk.flows import Flow, flow
    from flowyard.sdk.futures import TaskFuture, as_completed, wait
    from flowyard.sdk.logging import get_run_logger
    from flowyard.sdk.pause import pause_flow_run, resume_flow_run
    from flowyard.sdk.results import load_result
    from flowyard.sdk.serializers import JSONSerializer, PickleSerializer
    from flowyard.sdk.serve import serve
    from flowyard.sdk.states import State
    from flowyard.sdk.storage import LocalFileSystem
    from flowyard.sdk.task_runners import ProcessPoolTaskRunner, ThreadPoolTaskRunner
    from flowyard.sdk.task_runners_dask import DaskTaskRunner
    from flowyard.sdk.tasks import Task, allow_failure, exponential_backoff, task, unmapped
    from flowyard.sdk.variables import Variable


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'flowyard' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
