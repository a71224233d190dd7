"""The task run page: its state history, inputs (with the runs they came from), where its
result is stored, its cache key and expiry, retries, and its logs (the newest page, with
earlier pages behind a link)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter
from starlette.responses import HTMLResponse

from flowyard.server.operations import run_pages
from flowyard.ui.context import PageDep
from flowyard.ui.log_query import LOG_LEVELS, earlier_url, level_name, parse_log_query
from flowyard.ui.pages.flow_run import pretty_json
from flowyard.ui.routing import PageRoute
from flowyard.ui.templating import render

router = APIRouter(route_class=PageRoute)


@router.get("/runs/task-run/{task_run_id}", response_class=HTMLResponse)
async def task_run_page(page: PageDep, task_run_id: uuid.UUID) -> HTMLResponse:
    detail = await run_pages.read_task_run_detail(page.ctx, task_run_id)
    task_run = detail.task_run
    query = parse_log_query(page.request.query_params, task_run_id=task_run_id)
    window = None
    if task_run.flow_run_id is not None:
        window = await run_pages.read_run_logs(page.ctx, task_run.flow_run_id, query)
    base = page.urls.page(f"runs/task-run/{task_run_id}")
    state = task_run.state
    context: dict[str, Any] = {
        "detail": detail,
        "task_run": task_run,
        "result": state.data if state is not None else None,
        "log_query": query,
        "log_levels": LOG_LEVELS,
        "window": window,
        "run_url": base,
        "earlier_url": earlier_url(base, query, window.earlier)
        if window and window.earlier
        else None,
        "level_name": level_name,
        "pretty_json": pretty_json,
    }
    return render(page, "task_run.html", context, nav="flow_runs")
