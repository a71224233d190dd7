"""The task-run recorder, as the event pipeline knows it.

The recorder writes task-run states, so it lives with the other writers of run states in
:mod:`flowyard.server.orchestration.recorder` (its bulk path); the pipeline calls it
through this name.
"""

from __future__ import annotations

from flowyard.server.orchestration.recorder import (
    TaskRunRecord,
    is_task_run_event,
    parse_task_run_event,
    record_runs,
    record_task_runs,
)

__all__ = [
    "TaskRunRecord",
    "is_task_run_event",
    "parse_task_run_event",
    "record_runs",
    "record_task_runs",
]
