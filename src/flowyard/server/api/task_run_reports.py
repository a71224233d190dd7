"""/task_runs/reports: task runs a client orchestrated itself, recorded in batches.

A Flowyard extension (the official client reports the same facts as events on /events).
Like ``POST /events``, a 204 means stored: the batch is written before the answer.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from flowyard.schemas.task_run_reports import TASK_RUN_REPORTS
from flowyard.server.api.dependencies import Ctx
from flowyard.server.api.responses import no_content
from flowyard.server.api.validation import documented_body, parse_body
from flowyard.server.operations.task_runs import record_task_run_reports

router = APIRouter(prefix="/task_runs", tags=["Task Runs"])


@router.post("/reports", status_code=204, openapi_extra=documented_body(TASK_RUN_REPORTS))
async def create_task_run_reports(request: Request, ctx: Ctx) -> Response:
    # Parsed from raw bytes in one pass: this carries every task run of our SDK's flows.
    reports = await parse_body(request, TASK_RUN_REPORTS)
    await record_task_run_reports(ctx, reports)
    return no_content()
