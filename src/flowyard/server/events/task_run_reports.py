"""Task-run reports, recorded by orchestration's bulk path
(:mod:`flowyard.server.orchestration.task_run_reports`); kept under this name for the
embedded client, which hands its batches straight to the recorder."""

from __future__ import annotations

from flowyard.server.orchestration.task_run_reports import (
    record_from_report,
    record_reports,
    report_events,
)

__all__ = ["record_from_report", "record_reports", "report_events"]
