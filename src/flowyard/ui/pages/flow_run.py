"""The flow run page: a header (state, timings, actions, the state timeline and, for a run
that waits, why) and one section at a time behind tabs in the URL (``?tab=``): the
dependency graph, task runs, subflow runs, logs, artifacts, parameters.

One section per load keeps a run with 2,000 task runs or 100,000 log lines as quick to open
as a small one, and each tab is a link. The logs' live tail is an htmx poll of
``…/logs/tail`` that answers the lines after the last one shown (and polls again only
while the run is active).
"""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter
from starlette.responses import HTMLResponse

from flowyard.schemas.graph import Node
from flowyard.schemas.states import TERMINAL_STATES
from flowyard.server.errors import Invalid
from flowyard.server.operations import flow_run_graph, flow_runs, run_pages
from flowyard.ui.context import Page, PageDep
from flowyard.ui.graph import draw_run_graph
from flowyard.ui.log_query import (
    LOG_LEVELS,
    earlier_url,
    filter_params,
    level_name,
    parse_log_query,
    tail_url,
)
from flowyard.ui.routing import PageRoute
from flowyard.ui.run_actions import actions_for, settable_state_names
from flowyard.ui.templating import render

router = APIRouter(route_class=PageRoute)

TABS = {
    "graph": "Graph",
    "task-runs": "Task runs",
    "subflows": "Subflow runs",
    "logs": "Logs",
    "artifacts": "Artifacts",
    "parameters": "Parameters",
}
# Polling stops by itself once the run has ended: each answer says whether to go on.
TAIL_EVERY_SECONDS = 2


@router.get("/runs/flow-run/{flow_run_id}", response_class=HTMLResponse)
async def flow_run_page(page: PageDep, flow_run_id: uuid.UUID) -> HTMLResponse:
    params = page.request.query_params
    tab = params.get("tab", "graph")
    if tab not in TABS:
        tab = "graph"
    detail = await run_pages.read_flow_run_detail(page.ctx, flow_run_id)
    context: dict[str, Any] = {
        "detail": detail,
        "run": detail.run,
        "tab": tab,
        "tabs": TABS,
        "active": _active(detail.run.state_type),
        "actions": actions_for(detail.run.state_type, detail.run.deployment_id is not None),
        "settable_states": settable_state_names(),
        "logs_download": _api_url(page, f"flow_runs/{flow_run_id}/logs/download"),
        "pretty_json": pretty_json,
        "level_name": level_name,
    }
    context.update(await _section(page, flow_run_id, tab, context["active"]))
    return render(page, "flow_run.html", context, nav="flow_runs")


async def _section(page: Page, flow_run_id: uuid.UUID, tab: str, active: bool) -> dict[str, Any]:
    ctx = page.ctx
    if tab == "graph":
        try:
            graph = await flow_run_graph.read_flow_run_graph(ctx, flow_run_id)
        except flow_run_graph.GraphTooLarge as exc:
            # The rest of the page still works: the task runs tab lists them all.
            return {"graph": None, "graph_problem": exc.message}
        return {"graph": draw_run_graph(graph, lambda node: _node_url(page, node))}
    if tab == "task-runs":
        number = _page_number(page.request.query_params.get("page", "1"))
        return {"task_runs": await run_pages.read_task_runs_of_flow_run(ctx, flow_run_id, number)}
    if tab == "subflows":
        return {"subflows": await run_pages.read_subflow_runs(ctx, flow_run_id)}
    if tab == "artifacts":
        return {"artifacts": await run_pages.read_artifacts_of_flow_run(ctx, flow_run_id)}
    if tab == "logs":
        query = parse_log_query(page.request.query_params)
        window = await run_pages.read_run_logs(ctx, flow_run_id, query)
        base = page.urls.flow_run(flow_run_id)
        # The live tail follows only the newest lines, not an earlier page.
        following = active and query.before is None
        filters = filter_params(query)
        return {
            "log_query": query,
            "log_levels": LOG_LEVELS,
            "window": window,
            "tail_url": tail_url(f"{base}/logs/tail", query, window.last) if following else None,
            "tail_every": TAIL_EVERY_SECONDS,
            "earlier_url": earlier_url(base, query, window.earlier) if window.earlier else None,
            "filter_query": "".join(f"&{k}={quote(v)}" for k, v in filters.items()),
        }
    return {}


@router.get("/runs/flow-run/{flow_run_id}/logs/tail", response_class=HTMLResponse)
async def flow_run_log_tail(page: PageDep, flow_run_id: uuid.UUID) -> HTMLResponse:
    """The lines after ``after``, and a poller for the next ones while the run is active."""
    query = parse_log_query(page.request.query_params)
    if query.after is None:
        raise Invalid("after: the live tail needs the position of the last line shown.")
    run = await flow_runs.read_flow_run(page.ctx, flow_run_id)
    window = await run_pages.read_run_logs(page.ctx, flow_run_id, query)
    active = _active(run.state_type)
    base = page.urls.flow_run(flow_run_id)
    context = {
        "window": window,
        "tail_url": tail_url(f"{base}/logs/tail", query, window.last) if active else None,
        "tail_every": TAIL_EVERY_SECONDS,
        "level_name": level_name,
    }
    return render(page, "_log_tail.html", context)


def pretty_json(value: Any) -> str:
    """Parameters and artifact data as indented JSON text (escaped by the template)."""
    return json.dumps(value, indent=2, default=str, ensure_ascii=False)


def _active(state_type: Any) -> bool:
    return state_type is not None and state_type not in TERMINAL_STATES


def _node_url(page: Page, node: Node) -> str:
    if node.kind == "flow-run":
        return page.urls.flow_run(node.id)
    return page.urls.page(f"runs/task-run/{node.id}")


def _api_url(page: Page, path: str) -> str:
    # The API lives under /api, with the same workspace prefix as the pages.
    return f"/api{page.urls.prefix}/{path}"


def _page_number(value: str) -> int:
    try:
        return max(1, min(int(value), 10_000))
    except ValueError:
        return 1
