"""The dashboard: "what is the health of my system?" for a time range and tags.

Flow runs by state (a stacked chart and counts, each linked to the runs it counts), the
success rate, late and failed runs called out, task runs by state, the next scheduled runs
and the work pools. One operation (``operations.dashboard.read_dashboard``) reads it all.
"""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter
from starlette.responses import HTMLResponse

from flowyard.schemas.states import StateType
from flowyard.server.errors import Invalid
from flowyard.server.operations.dashboard import read_dashboard
from flowyard.server.operations.flow_run_pages import FlowRunOrder
from flowyard.ui.charts import stacked_history_svg, state_totals
from flowyard.ui.context import Page, PageDep
from flowyard.ui.formatting import utcnow
from flowyard.ui.routing import PageRoute
from flowyard.ui.run_query import CUSTOM, LATE, RANGES, RunListQuery
from flowyard.ui.states import CHART_ORDER
from flowyard.ui.templating import render

router = APIRouter(route_class=PageRoute)

DASHBOARD_RANGES = ["1h", "24h", "7d"]
MAX_WINDOW = dt.timedelta(days=366)
# Runs that ended and did not succeed: the success rate's denominator with Completed.
UNSUCCESSFUL = [StateType.FAILED.value, StateType.CRASHED.value]


def _window(query: RunListQuery, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    if query.range == CUSTOM:
        if query.start is None or query.end is None:
            raise Invalid("A custom range needs both start and end.")
        start, end = query.start, query.end
    elif query.range in DASHBOARD_RANGES:
        span = RANGES[query.range][1]
        assert span is not None
        start, end = now - span, now
    else:
        raise Invalid(f"range: one of {', '.join([*DASHBOARD_RANGES, CUSTOM])} on the dashboard.")
    if end - start > MAX_WINDOW:
        raise Invalid("The dashboard covers at most a year at a time.")
    return start, end


class RunLinks:
    """Links from the dashboard's numbers to the flow-run list showing exactly those runs:
    the same window (as a custom range) and tags, and the state counted."""

    def __init__(self, page: Page, query: RunListQuery, start: dt.datetime, end: dt.datetime):
        self.page, self.query, self.start, self.end = page, query, start, end

    def runs(self, *states: str, start: dt.datetime | None = None,
             end: dt.datetime | None = None) -> str:  # fmt: skip
        params = self.query.params(
            range=CUSTOM, start=start or self.start, end=end or self.end, state=list(states)
        )
        return self.page.urls.page("runs", params)

    def interval(self, start: dt.datetime, end: dt.datetime) -> str:
        return self.runs(start=start, end=end)

    def pool(self, name: str) -> str:
        return self.page.urls.page("runs", self.query.params(
            range=CUSTOM, start=self.start, end=self.end, state=[], pool=[name]))  # fmt: skip

    def upcoming(self, now: dt.datetime) -> str:
        params = self.query.params(range=CUSTOM, start=now, end=None,
                                   state=[StateType.SCHEDULED.value],
                                   sort=FlowRunOrder.EXPECTED_START_ASC)  # fmt: skip
        return self.page.urls.page("runs", params)


@router.get("/", response_class=HTMLResponse)
async def dashboard_page(page: PageDep) -> HTMLResponse:
    query = RunListQuery.parse(page.request.query_params.multi_items(), default_range="24h")
    now = utcnow()
    start, end = _window(query, now)
    board = await read_dashboard(page.ctx, query.tags, start, end, now)
    totals = state_totals(board.history)
    links = RunLinks(page, query, start, end)
    completed = totals.get(StateType.COMPLETED.value, 0)
    finished = completed + sum(totals.get(s, 0) for s in UNSUCCESSFUL)
    context = {
        "query": query, "start": start, "end": end, "now": now, "board": board,
        "links": links, "totals": totals, "total": sum(totals.values()),
        "completed": completed, "finished": finished,
        "failed_count": sum(totals.get(s, 0) for s in UNSUCCESSFUL),
        "late_count": totals.get(LATE, 0),
        "count_order": [*CHART_ORDER[:-1], LATE, CHART_ORDER[-1]],
        "chart": stacked_history_svg(board.history, links.interval),
        "ranges": [(key, RANGES[key][0]) for key in DASHBOARD_RANGES],
        "task_run_order": CHART_ORDER,
    }  # fmt: skip
    return render(page, "dashboard.html", context, nav="dashboard")
